import numpy as np
import pytest

import nexus_ir as nx
from passes import RewriteRule, const, op, rewrite, var


def mul_one_rule() -> RewriteRule:
    return RewriteRule("mul-one", op("mul", var("x"), const(1.0), commutative=True),
                       replace=lambda m: m["x"],
                       where=lambda m: m["x"].type == m.root.outputs[0].type)


def test_mul_by_one_is_removed_in_both_operand_orders():
    g = nx.Graph()
    x = g.add_input("x", "f32[4,8]")
    one = g.add_constant("one", np.ones((), np.float32))
    a = g.op("mul", x, one, name="a")
    b = g.op("mul", one, a, name="b")
    g.set_outputs(g.op("relu", b, name="y"))
    assert rewrite(g, [mul_one_rule()]) == {"mul-one": 2}
    g.verify()
    assert [n.op for n in g] == ["relu"] and g.value("y").producer.inputs == (x,)


def test_constraints_decline_a_match():
    g = nx.Graph()
    x = g.add_input("x", "f32[8]")
    two = g.add_constant("two", np.full((), 2.0, np.float32))
    ones = g.add_constant("ones", np.ones((3, 8), np.float32))    # broadcasts x up: keep it
    shape_only = g.add_constant("w", type_="f32[]")               # no data: unknown value
    outs = [g.op("mul", x, two), g.op("mul", x, ones), g.op("mul", x, shape_only)]
    g.set_outputs(*outs)
    before = g.to_text()
    assert rewrite(g, [mul_one_rule()]) == {"mul-one": 0}
    assert g.to_text() == before


def test_nested_pattern_with_attribute_and_single_use_constraints():
    """relu(add(matmul(a, b), c)) with a tanh gelu predicate -> a fused pattern check."""
    g = nx.Graph()
    a = g.add_input("a", "f32[2,4]")
    b = g.add_constant("b", type_="f32[4,3]")
    c = g.add_constant("c", type_="f32[3]")
    mm = g.op("matmul", a, b, name="mm")
    s = g.op("add", mm, c, name="s")
    y = g.op("gelu", s, approximate="tanh", name="y")
    z = g.op("gelu", s, approximate="none", name="z")
    g.set_outputs(y, z)
    pattern = op("gelu", op("add", op("matmul", var("a"), var("b")), var("c"), single_use=False),
                 approximate="tanh")
    rule = RewriteRule("fuse", pattern,
                       replace=lambda m: m.build("relu", m.build("linear", m["a"], m.build(
                           "transpose", m["b"], perm=[1, 0]), m["c"])))
    assert rewrite(g, [rule]) == {"fuse": 1}
    g.verify()
    # only the tanh gelu matched; the add stays because the erf gelu still reads it
    assert [n.op for n in g] == ["matmul", "add", "transpose", "linear", "relu", "gelu"]
    linear = g.outputs[0].producer.inputs[0].producer
    assert linear.op == "linear" and linear.inputs[0] is a and linear.inputs[2] is c
    assert g.outputs[1].producer.attributes["approximate"] == "none"
    # with single_use required on the add (the default) the shared add blocks the match
    g2 = nx.Graph()
    a2 = g2.add_input("a", "f32[2,4]")
    s2 = g2.op("add", g2.op("matmul", a2, g2.add_constant("b", type_="f32[4,3]")),
               g2.add_constant("c", type_="f32[3]"))
    g2.set_outputs(g2.op("gelu", s2, approximate="tanh"), s2)
    strict = op("gelu", op("add", op("matmul", var("a"), var("b")), var("c")))
    assert rewrite(g2, [RewriteRule("strict", strict, replace=lambda m: m["a"])]) == {"strict": 0}


def test_same_capture_name_must_bind_same_value():
    g = nx.Graph()
    x = g.add_input("x", "f32[4]")
    y = g.add_input("y", "f32[4]")
    sq = g.op("mul", x, x, name="sq")
    xy = g.op("mul", x, y, name="xy")
    g.set_outputs(sq, xy)
    rule = RewriteRule("square", op("mul", var("v"), var("v")),
                       replace=lambda m: m.build("pow", m["v"], m["v"]))
    assert rewrite(g, [rule]) == {"square": 1}
    assert [n.op for n in g] == ["pow", "mul"]


def test_replacement_with_wrong_type_is_an_error():
    g = nx.Graph()
    x = g.add_input("x", "f32[4]")
    g.set_outputs(g.op("relu", x))
    bad = RewriteRule("bad", op("relu", var("x")),
                      replace=lambda m: m.build("cast", m["x"], to="f16"))
    with pytest.raises(nx.GraphError, match=r"rule bad: replacement %1 has type f16\[4\] but %0 "
                                            r"has f32\[4\]; guard the rule with where="):
        rewrite(g, [bad])


def test_rewrite_keeps_source_and_reaches_fixpoint():
    g = nx.Graph()
    x = g.add_input("x", "f32[4]")
    y = x
    for i in range(5):
        y = g.op("neg", y, source=f"block{i}")
    g.set_outputs(y)
    double_neg = RewriteRule("neg-neg", op("neg", op("neg", var("x"))), replace=lambda m: m["x"])
    assert rewrite(g, [double_neg]) == {"neg-neg": 2}
    assert [n.source for n in g] == ["block4"]     # an odd count leaves one neg
    swap = RewriteRule("neg-abs", op("neg", var("x")), replace=lambda m: m.build("abs", m["x"]))
    rewrite(g, [swap])
    assert [(n.op, n.source) for n in g] == [("abs", "block4")]
