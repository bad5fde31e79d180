"""Each broken rule gets its own precise message."""

from types import MappingProxyType

import pytest

import nexus_ir as nx
from nexus_ir.verifier import collect_problems


def base() -> tuple[nx.Graph, list[nx.Value]]:
    g = nx.Graph("v")
    x = g.add_input("x", "f32[2,3]")
    a = g.op("relu", x, name="a")
    b = g.op("add", a, x, name="b")
    c = g.op("exp", b, name="c")
    g.set_outputs(c)
    return g, [x, a, b, c]


def test_valid_graph_has_no_problems():
    g, _ = base()
    assert collect_problems(g) == []


def test_unknown_op():
    g, (x, a, b, c) = base()
    a.producer.op = "mystery"
    assert collect_problems(g) == [
        "node %a (mystery): unknown op 'mystery'; register it with nexus_ir.register_op or "
        "represent it as 'opaque'"]


def test_wrong_arity():
    g, (x, a, b, c) = base()
    b.producer._inputs = b.producer._inputs[:-1]
    x._users.remove(b.producer)
    assert collect_problems(g) == ["node %b (add): wrong arity: add: takes exactly 2 inputs, got 1"]


def test_wrong_and_missing_attributes():
    g, (x, a, b, c) = base()
    y = g.op("softmax", c, axis=1, name="y")
    y.producer.attributes = MappingProxyType({"axis": "one"})
    assert collect_problems(g) == [
        "node %y (softmax): wrong attribute: softmax: attribute 'axis' must be int, got 'one'"]
    y.producer.attributes = MappingProxyType({})
    assert collect_problems(g) == [
        "node %y (softmax): attributes are not normalized (missing defaults: axis); build nodes "
        "with Graph.add_node"]


def test_type_mismatch():
    g, (x, a, b, c) = base()
    b.type = b.type.with_dtype("f16")
    # each node is checked against its own operands: b is wrong, and c (declared f32) no longer
    # agrees with its f16 operand either
    assert collect_problems(g) == [
        "node %b (add): type mismatch: output 0 %b is declared f16[2,3] but its operands give "
        "f32[2,3]",
        "node %c (exp): type mismatch: output 0 %c is declared f32[2,3] but its operands give "
        "f16[2,3]"]


def test_dangling_use_and_undefined_output():
    g, (x, a, b, c) = base()
    stranger = nx.Graph("other").add_input("s", "f32[2,3]")
    c.producer.set_input(0, stranger)
    g.outputs.append(stranger)
    assert collect_problems(g) == [
        "node %c (exp): operand 0 %s is not defined in the graph (dangling use)",
        "graph output %s is not defined in the graph"]


def test_use_before_def():
    g, (x, a, b, c) = base()
    a.producer.set_input(0, g.op("neg", x, name="late"))
    assert collect_problems(g) == ["node %a (relu): operand 0 %late is used before its definition"]


def test_cycle_reported_once_with_its_path():
    g, (x, a, b, c) = base()
    a.producer.set_input(0, c)          # a -> b -> c -> a
    assert collect_problems(g) == ["cycle: %a -> %b -> %c -> %a"]
    g2, (x, a, b, c) = base()
    a.producer.set_input(0, a)          # self loop
    assert collect_problems(g2) == ["cycle: %a -> %a"]


def test_use_list_missing_entry():
    g, (x, a, b, c) = base()
    a._users.remove(b.producer)
    assert collect_problems(g) == [
        "node %b (add): use list of %a names this node 0 times but it reads the value 1 times"]


def test_stale_use_list_and_duplicates():
    g, (x, a, b, c) = base()
    a._users.append(c.producer)
    assert collect_problems(g) == [
        "node %c (exp): use list of %a names this node 1 times but it reads the value 0 times"]
    g2, (x, a, b, c) = base()
    c.name = "a"
    assert collect_problems(g2)[0] == "duplicate value name %a (2 definitions)"


def test_verify_raises_with_every_problem():
    g, (x, a, b, c) = base()
    a.producer.op = "mystery"
    b.type = b.type.with_dtype("f16")
    with pytest.raises(nx.VerificationError) as info:
        g.verify()
    assert str(info.value).startswith("graph verification failed with 3 problems: node %a "
                                      "(mystery): unknown op")
    assert len(info.value.problems) == 3 and "\n" not in str(info.value)
    assert str(info.value).count("; ") >= 2
