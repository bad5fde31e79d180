import pytest

import nexus_ir as nx
from passes import (AnalysisPass, PassManager, PatternRewritePass, RewritePass, RewriteRule,
                    analysis_pass, annotations_of, get_pass, op, var)
from passes.base import _PASSES


@pytest.fixture(autouse=True)
def isolated_registry():
    """Passes registered by a test do not leak into others."""
    saved = dict(_PASSES)
    yield
    _PASSES.clear()
    _PASSES.update(saved)


def mlp() -> nx.Graph:
    g = nx.Graph("mlp")
    x = g.add_input("x", "f32[b,8]")
    w1 = g.add_constant("fc1.weight", type_="f32[16,8]")
    w2 = g.add_constant("fc2.weight", type_="f32[4,16]")
    h = g.op("gelu", g.op("linear", x, w1, source="fc1"), source="act")
    g.set_outputs(g.op("linear", h, w2, source="fc2"))
    return g


def test_one_function_one_decorator():
    @analysis_pass("weight_bytes")
    def weight_bytes(node, ctx):
        """Bytes of constant operands."""
        return sum(v.type.nbytes for v in node.inputs if v.is_constant) or None

    g = PassManager(["weight_bytes"]).run(mlp())
    # fc1: 16*8*4 bytes, fc2: 4*16*4 bytes; gelu reads no weight -> no annotation
    assert annotations_of(g, "weight_bytes") == {"0": 512, "2": 256}
    assert weight_bytes.__doc__ == "Bytes of constant operands."


def test_dependencies_run_first_and_once():
    order = []

    @analysis_pass("count")
    def count(node, ctx):
        order.append("count")
        return 1

    @analysis_pass("total", requires=("count",), per="graph")
    def total(graph, ctx):
        order.append("total")
        return sum(n.annotations["count"] for n in graph)

    @analysis_pass("double", requires=("total", "count"), per="graph")
    def double(graph, ctx):
        order.append("double")
        return 2 * ctx.results["total"]

    pm = PassManager(["double"])
    pm.run(mlp())
    assert order == ["count"] * 3 + ["total", "double"]      # count ran once, over 3 nodes
    assert pm.ctx.results == {"total": 3, "double": 6}
    assert [(t.name, t.reason) for t in pm.timings] == [
        ("count", "required by total"), ("total", "required by double"),
        ("double", "pipeline")]
    table = pm.timing_table().splitlines()
    assert table[0].split() == ["pass", "ms", "why"] and len(table) == 4


def test_rewrite_invalidates_and_reruns_analyses():
    runs = {"ops": 0, "kept": 0}

    @analysis_pass("ops")
    def ops(node, ctx):
        runs["ops"] += 1
        return node.op

    @analysis_pass("kept")
    def kept(node, ctx):
        runs["kept"] += 1
        return True

    swap = PatternRewritePass(
        "gelu-to-relu",
        [RewriteRule("gelu-relu", op("gelu", var("x")),
                     replace=lambda m: m.build("relu", m["x"]))],
        preserves=("kept",))
    pm = PassManager(["ops", "kept", swap])
    out = pm.run(mlp())
    assert annotations_of(out, "ops") == {"0": "linear", "3": "relu", "2": "linear"}
    # ops ran on 3 nodes before and 3 after the rewrite; kept was preserved, not rerun
    assert runs == {"ops": 6, "kept": 3}
    assert [t.reason for t in pm.timings] == ["pipeline", "pipeline", "pipeline",
                                              "rerun after gelu-to-relu"]
    assert pm.ctx.results["gelu-to-relu"] == {"gelu-relu": 1}
    # the new relu did not exist when "kept" ran, and "kept" was preserved, so it lacks it
    relu = [n for n in out if n.op == "relu"][0]
    assert "kept" not in relu.annotations and relu.annotations["ops"] == "relu"


def test_requirement_of_a_later_pass_is_rerun_after_a_rewrite():
    calls = []

    @analysis_pass("size")
    def size(node, ctx):
        calls.append(node.op)

    class Identity(RewritePass):
        name = "identity"

        def run(self, graph, ctx):
            return graph.clone()

    @analysis_pass("user", requires=("size",), per="graph")
    def user(graph, ctx):
        return len(graph)

    PassManager(["size", Identity(), "user"]).run(mlp())
    assert calls == ["linear", "gelu", "linear"] * 2


def test_errors_name_the_problem():
    with pytest.raises(nx.NexusError, match="unknown pass 'nope'"):
        PassManager(["nope"])

    @analysis_pass("a", requires=("b",))
    def a(node, ctx):
        return 1

    @analysis_pass("b", requires=("a",))
    def b(node, ctx):
        return 1

    with pytest.raises(nx.NexusError, match="pass dependency cycle: a -> b -> a"):
        PassManager(["a"]).run(mlp())

    class Broken(RewritePass):
        name = "broken"

        def run(self, graph, ctx):
            return None

    with pytest.raises(nx.NexusError, match="RewritePass that returns a Graph"):
        PassManager([Broken()]).run(mlp())
    with pytest.raises(nx.NexusError, match="pass 'a' is already registered"):
        analysis_pass("a")(lambda node, ctx: 0)


def test_class_based_pass_registration():
    class Depth(AnalysisPass):
        name = "depth"

        def run(self, graph, ctx):
            level = {}
            for n in graph:
                d = 1 + max((level.get(v.name, 0) for v in n.inputs), default=0)
                for o in n.outputs:
                    level[o.name] = d
                n.annotations[self.name] = d

    from passes import register_pass
    register_pass(Depth)
    g = PassManager(["depth"]).run(mlp())
    assert list(annotations_of(g, "depth").values()) == [1, 2, 3]
    assert isinstance(get_pass("depth"), Depth)
