"""Graph verification: every structural and typing rule, each broken one reported precisely.

The verifier collects all problems before raising, so one run shows everything wrong. It checks:
unknown ops, arity, attributes (valid, complete), operands defined in the graph (else a dangling
use), operands defined before use, cycles, use lists in sync with operands, stored output types
equal to what inference derives from the operand types (else a type mismatch), duplicate names,
and graph outputs defined in the graph.
"""

from __future__ import annotations

from collections import Counter

from .attrs import attrs_equal
from .errors import NexusError, VerificationError
from .graph import Graph, Node, Value, value_ref
from .registry import get_op, is_registered


def _where(node: Node) -> str:
    name = value_ref(node.outputs[0].name) if node.outputs else "<no outputs>"
    return f"node {name} ({node.op})"


def _find_cycle(nodes: list[Node], position: dict[int, int]) -> list[Node]:
    """Nodes on cycles (Kahn's algorithm leaves them), and one cycle among them, in order."""
    index = {id(n): i for i, n in enumerate(nodes)}
    producers = [[index[id(v.producer)] for v in n._inputs
                  if v.producer is not None and id(v.producer) in index and id(v) in position]
                 for n in nodes]
    consumers: list[list[int]] = [[] for _ in nodes]
    indegree = [0] * len(nodes)
    for i, prods in enumerate(producers):
        for p in prods:
            consumers[p].append(i)
            indegree[i] += 1
    ready = [i for i, d in enumerate(indegree) if d == 0]
    done = 0
    while ready:
        i = ready.pop()
        done += 1
        for c in consumers[i]:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    if done == len(nodes):
        return []
    stuck = {i for i, d in enumerate(indegree) if d > 0}
    # Walk producer edges inside the stuck set until a node repeats: that loop is a cycle.
    start = min(stuck)
    path: list[int] = []
    seen: dict[int, int] = {}
    current = start
    while current not in seen:
        seen[current] = len(path)
        path.append(current)
        current = next(p for p in producers[current] if p in stuck)
    loop = path[seen[current]:][::-1]
    first = loop.index(min(loop))           # start the report at the earliest node
    return [nodes[i] for i in loop[first:] + loop[:first]]


def collect_problems(graph: Graph) -> list[str]:
    """Every problem of ``graph`` as a message; empty for a valid graph."""
    problems: list[str] = []
    nodes = list(graph)
    position: dict[int, int] = {}
    names: Counter[str] = Counter()
    for v in [*graph.inputs, *graph.constants.values()]:
        position[id(v)] = -1
        names[v.name] += 1
    for i, n in enumerate(nodes):
        for o in n.outputs:
            position[id(o)] = i
            names[o.name] += 1
    problems += [f"duplicate value name {value_ref(name)} ({count} definitions)"
                 for name, count in names.items() if count > 1]

    cycle = _find_cycle(nodes, position)
    on_cycle = {id(n) for n in cycle}
    if cycle:
        ring = " -> ".join(value_ref(n.outputs[0].name) for n in [*cycle, cycle[0]])
        problems.append(f"cycle: {ring}")

    for i, node in enumerate(nodes):
        problems += _check_node(node, i, position, on_cycle)

    for v in graph.outputs:
        if id(v) not in position:
            problems.append(f"graph output {value_ref(v.name)} is not defined in the graph")
    for v in [*graph.inputs, *graph.constants.values(), *(o for n in nodes for o in n.outputs)]:
        problems += _check_use_list(v, graph)
    return problems


def _check_use_list(value: Value, graph: Graph) -> list[str]:
    """Users a value lists that do not read it as often as listed (or are not in the graph)."""
    problems = []
    listed = Counter(id(u) for u in value._users)
    for user in {id(u): u for u in value._users}.values():
        if user.graph is not graph:
            problems.append(f"value {value_ref(value.name)} lists a user that is not in the graph "
                            f"({user.op}); its use list is stale")
            continue
        slots = sum(1 for x in user._inputs if x is value)
        if slots != listed[id(user)]:
            problems.append(_use_list_message(user, value, listed[id(user)], slots))
    return problems


def _use_list_message(node: Node, value: Value, listed: int, slots: int) -> str:
    return (f"{_where(node)}: use list of {value_ref(value.name)} names this node {listed} times "
            f"but it reads the value {slots} times")


def _check_node(node: Node, index: int, position: dict[int, int], on_cycle: set[int]) -> list[str]:
    where = _where(node)
    if not node.outputs:
        return [f"{where}: has no outputs"]
    if not is_registered(node.op):
        return [f"{where}: unknown op '{node.op}'; register it with nexus_ir.register_op or "
                "represent it as 'opaque'"]
    opdef = get_op(node.op)
    problems: list[str] = []
    try:
        opdef.check_arity(len(node._inputs))
    except NexusError as err:
        problems.append(f"{where}: wrong arity: {err}")
    try:
        normalized = opdef.normalize_attrs(node.attributes)
        if not attrs_equal(normalized, node.attributes):
            missing = [k for k in normalized if k not in node.attributes]
            problems.append(f"{where}: attributes are not normalized (missing defaults: "
                            f"{', '.join(missing) or 'none'}); build nodes with Graph.add_node")
    except NexusError as err:
        problems.append(f"{where}: wrong attribute: {err}")

    operands_ok = True
    for k, v in enumerate(node._inputs):
        defined_at = position.get(id(v))
        if defined_at is None:
            problems.append(f"{where}: operand {k} {value_ref(v.name)} is not defined in the "
                            "graph (dangling use)")
            operands_ok = False
        elif defined_at >= index and not (id(node) in on_cycle and id(v.producer) in on_cycle):
            problems.append(f"{where}: operand {k} {value_ref(v.name)} is used before its "
                            "definition")
            operands_ok = False
        elif defined_at >= index:
            operands_ok = False
    checked: set[int] = set()
    for value in node._inputs:
        if id(value) in checked:
            continue
        checked.add(id(value))
        if not any(u is node for u in value._users):    # other mismatches: _check_use_list
            slots = sum(1 for x in node._inputs if x is value)
            problems.append(_use_list_message(node, value, 0, slots))
    for k, out in enumerate(node.outputs):
        if out.producer is not node:
            problems.append(f"{where}: output {k} {value_ref(out.name)} does not name this node "
                            "as its producer")
    if problems or not operands_ok or opdef.infer is None:
        return problems
    try:
        inferred = opdef.infer_types([v.type for v in node._inputs], node.attributes)
    except NexusError as err:
        return [f"{where}: {err}"]
    if len(inferred) != len(node.outputs):
        return [f"{where}: has {len(node.outputs)} outputs but its op gives {len(inferred)}"]
    for k, (out, want) in enumerate(zip(node.outputs, inferred)):
        if out.type != want:
            problems.append(f"{where}: type mismatch: output {k} {value_ref(out.name)} is "
                            f"declared {out.type} but its operands give {want}")
    return problems


def verify(graph: Graph) -> None:
    """Raise ``VerificationError`` listing every problem of ``graph``."""
    problems = collect_problems(graph)
    if problems:
        raise VerificationError(problems)

