"""Property tests over random well-formed graphs: they verify, round-trip through JSON and the
printer unchanged, and single mutations are rejected with the matching message."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nexus_ir as nx
from nexus_ir import ShapeError
from nexus_ir.verifier import collect_problems

DIMS = st.sampled_from([1, 2, 3, 4, "b", "s"])
UNARY = ["relu", "gelu", "exp", "neg", "sigmoid", "identity", "tanh", "silu"]
BINARY = ["add", "mul", "sub", "maximum", "div"]


@st.composite
def graphs(draw) -> nx.Graph:
    g = nx.Graph(draw(st.sampled_from(["g", "model", "net"])))
    dtype = draw(st.sampled_from(["f32", "f16", "bf16"]))
    pool = [g.add_input(f"in{i}", nx.TensorType(draw(st.lists(DIMS, min_size=1, max_size=3)),
                                                   dtype))
            for i in range(draw(st.integers(1, 3)))]
    for step in range(draw(st.integers(1, 14))):
        v = draw(st.sampled_from(pool))
        kind = draw(st.sampled_from(["unary", "binary", "reduce", "transpose", "reshape",
                                     "concat", "matmul", "compare", "split", "softmax"]))
        source = f"layer{draw(st.integers(0, 3))}.{kind}" if draw(st.booleans()) else ""
        try:
            out = _apply(draw, g, kind, v, pool, step, source)
        except ShapeError:
            continue                  # that combination is ill-typed: skip it, do not force it
        new = list(out) if isinstance(out, tuple) else [out]
        if draw(st.booleans()):
            new[0].producer.annotations["stat"] = draw(st.one_of(
                st.integers(-10**20, 10**20), st.floats(allow_nan=False),
                st.lists(st.integers(0, 9), max_size=3),
                st.dictionaries(st.sampled_from("abc"), st.booleans(), max_size=2)))
        pool.extend(v for v in new if v.type.dtype.name == dtype)
    if not len(g):                       # every drawn step was ill-typed: still give a node
        pool.append(g.op("relu", pool[0]))
    produced = [v for v in pool if v.producer is not None]
    g.set_outputs(*draw(st.lists(st.sampled_from(produced), min_size=1, max_size=3, unique=True)))
    return g


def _apply(draw, g, kind, v, pool, step, source):
    rank = v.type.rank
    if rank == 0 and kind not in ("unary", "binary", "compare", "reshape"):
        raise ShapeError("needs an axis")
    if kind == "unary":
        op = draw(st.sampled_from(UNARY))
        attrs = {"approximate": draw(st.sampled_from(["none", "tanh"]))} if op == "gelu" else {}
        return g.op(op, v, source=source, **attrs)
    if kind == "binary":
        other = draw(st.sampled_from(pool))
        return g.op(draw(st.sampled_from(BINARY)), v, other, source=source)
    if kind == "reduce":
        return g.op("reduce_sum", v, axes=[draw(st.integers(0, rank - 1))],
                    keepdims=draw(st.booleans()), source=source)
    if kind == "transpose":
        return g.op("transpose", v, perm=draw(st.permutations(range(rank))), source=source)
    if kind == "reshape":
        return g.op("reshape", v, shape=[-1], source=source)
    if kind == "concat":
        return g.op("concat", v, v, axis=draw(st.integers(-rank, rank - 1)), source=source)
    if kind == "matmul":
        k, n = v.type.shape[-1], draw(st.integers(1, 4))
        if not isinstance(k, int):
            raise ShapeError("symbolic contraction")
        data = np.zeros((k, n), dtype=np.float32) if v.type.dtype == nx.f32 and \
            draw(st.booleans()) else None
        w = g.add_constant(f"w{step}", data, nx.TensorType([k, n], v.type.dtype))
        return g.op("matmul", v, w, source=source)
    if kind == "compare":
        cond = g.op("gt", v, v, source=source)
        return g.op("where", cond, v, v, source=source)
    if kind == "split":
        d = v.type.shape[-1]
        if not isinstance(d, int) or d < 2:
            raise ShapeError("needs a static dim of at least 2")
        return g.op("split", v, axis=-1, sizes=[1, d - 1], source=source)
    return g.op("softmax", v, axis=draw(st.integers(-rank, rank - 1)), source=source)


@given(graphs())
def test_random_graphs_verify_and_round_trip(g):
    g.verify()
    text = g.to_json()
    back = nx.Graph.from_json(text)
    assert collect_problems(back) == []
    assert back.to_text(annotations=True) == g.to_text(annotations=True)
    assert back.to_json() == text
    assert g.clone().to_text(annotations=True) == g.to_text(annotations=True)


def _fixed_arity_nodes(g):
    return [n for n in g if n.opdef.min_inputs == n.opdef.max_inputs == len(n.inputs) >= 1]


@given(graphs(), st.data())
def test_dropping_an_input_is_a_wrong_arity(g, data):
    candidates = _fixed_arity_nodes(g)
    if not candidates:
        return
    node = data.draw(st.sampled_from(candidates))
    *kept, dropped = node._inputs
    node._inputs = tuple(kept)
    dropped._users.remove(node)
    want = f"wrong arity: {node.op}: takes exactly {len(node.inputs) + 1} inputs, got " \
           f"{len(node.inputs)}"
    assert any(p.endswith(want) and f"%{node.name} " in p for p in collect_problems(g))


@given(graphs(), st.data())
def test_wrong_dtype_is_a_type_mismatch(g, data):
    node = data.draw(st.sampled_from(g.nodes))
    out = node.outputs[0]
    out.type = out.type.with_dtype("i16" if out.type.dtype != nx.i16 else "f32")
    problems = collect_problems(g)
    assert any(p.startswith(f"node %{node.name} ({node.op}): type mismatch: output 0") for p in
               problems), problems


def _descendants(node):
    seen, stack = [], [node]
    while stack:
        n = stack.pop()
        for out in n.outputs:
            for user in out.users:
                if user not in seen:
                    seen.append(user)
                    stack.append(user)
    return seen


@given(graphs(), st.data())
def test_added_cycle_is_reported(g, data):
    node = data.draw(st.sampled_from(g.nodes))
    later = data.draw(st.sampled_from([node, *_descendants(node)]))
    node.set_input(data.draw(st.integers(0, len(node.inputs) - 1)), later.outputs[0])
    problems = collect_problems(g)
    cycles = [p for p in problems if p.startswith("cycle: ")]
    assert len(cycles) == 1
    ring = cycles[0][len("cycle: "):].split(" -> ")
    assert ring[0] == ring[-1] and f"%{node.name}" in ring


def test_strategy_produces_varied_graphs():
    """Guard against a strategy that silently degenerates to trivial graphs."""
    sizes = []

    @given(graphs())
    def collect(g):
        sizes.append((len(g), len({n.op for n in g})))

    collect()
    assert max(s for s, _ in sizes) >= 6 and max(k for _, k in sizes) >= 4
