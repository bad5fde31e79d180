import numpy as np
import pytest

import nexus_ir as nx
from nexus_ir import GraphError
from nexus_ir.app.examples import example_cnn


def chain() -> tuple[nx.Graph, list[nx.Value]]:
    g = nx.Graph("chain")
    x = g.add_input("x", "f32[4]")
    a = g.op("relu", x, name="a")
    b = g.op("neg", a, name="b")
    c = g.op("add", b, a, name="c")
    g.set_outputs(c)
    return g, [x, a, b, c]


def test_users_and_producers_are_linked():
    g, (x, a, b, c) = chain()
    assert a.producer.op == "relu" and x.producer is None
    assert [n.name for n in a.users] == ["b", "c"]
    sq = g.op("mul", b, b, name="sq")
    assert [n.name for n in b.users] == ["c", "sq", "sq"]   # one entry per operand slot
    assert [n.name for n in g] == ["a", "b", "c", "sq"]
    g.verify()


def test_insert_before_after_and_insertion_point():
    g, (x, a, b, c) = chain()
    n1 = g.add_node("abs", [x], name="first", before=a.producer)
    n2 = g.add_node("abs", [b], name="after_b", after=b.producer)
    with g.insertion_point(c.producer):
        g.op("exp", b, name="in_point")
    n3 = g.add_node("sign", [c], name="tail", after=c.producer)
    assert [n.name for n in g] == ["first", "a", "b", "after_b", "in_point", "c", "tail"]
    assert len(g) == 7 and n1.output.users == [] and n2.output.type == n3.output.type
    g.verify()


def test_replace_all_uses_covers_nodes_and_outputs():
    g, (x, a, b, c) = chain()
    sq = g.op("mul", a, a, name="sq")
    g.set_outputs(c, a)
    new = g.op("abs", x, name="new")
    g.replace_all_uses(a, new)
    assert a.users == [] and [n.name for n in new.users] == ["b", "c", "sq", "sq"]
    assert sq.producer.inputs == (new, new) and g.outputs == [c, new]
    # the old relu now has no users: it is still a node until erased
    g.erase_node(a.producer)
    # ``new`` is defined after its readers now; the verifier says so
    with pytest.raises(nx.VerificationError, match=r"operand 0 %new is used before its definition"):
        g.verify()
    with pytest.raises(GraphError, match=r"cannot replace %b \(f32\[4\]\) with %s \(f16\[4\]\)"):
        g.replace_all_uses(b, g.add_input("s", "f16[4]"))


def test_erase_rules():
    g, (x, a, b, c) = chain()
    with pytest.raises(GraphError, match=r"cannot erase %a \(relu\): %a is still used by %b"):
        g.erase_node(a.producer)
    with pytest.raises(GraphError, match="is a graph output"):
        g.erase_node(c.producer)
    dead = g.op("exp", x, name="dead")
    g.erase_node(dead.producer)
    assert not g.has_value("dead") and [n.name for n in x.users] == ["a"]
    g.verify()


def test_names_are_unique_and_fresh():
    g = nx.Graph()
    x = g.add_input("x", "f32[2]")
    assert g.op("relu", x, name="x").name == "x_1"            # clash gets a suffix
    assert g.op("relu", x).name == "0"
    with pytest.raises(GraphError, match="already has a value named %x"):
        g.add_input("x", "f32[2]")
    with pytest.raises(GraphError, match="invalid value name '%z': names are non-empty strings"):
        g.add_input("%z", "f32[2]")
    with pytest.raises(GraphError, match="invalid value name ''"):
        g.op("relu", x, name="")
    other = nx.Graph().add_input("y", "f32[2]")
    with pytest.raises(GraphError, match=r"relu: input %y does not belong to graph @main"):
        g.op("relu", other)
    with pytest.raises(nx.UnknownOpError, match="unknown op 'frobnicate': register it"):
        g.op("frobnicate", x)


def test_clone_is_independent_and_identical():
    g = example_cnn()
    copy = g.clone()
    assert copy.to_text() == g.to_text() and copy.to_json() == g.to_json()
    copy.op("relu", copy.outputs[0], name="extra")
    first = next(iter(copy))
    first.annotations["mark"] = 1
    assert not g.has_value("extra") and "mark" not in next(iter(g)).annotations
    assert copy.constants["classifier.weight"].data is g.constants["classifier.weight"].data
    with pytest.raises(ValueError):
        copy.constants["classifier.weight"].data[0, 0] = 1.0     # shared data is read-only


def test_subgraph_by_source_prefix():
    g = example_cnn()
    sub = g.subgraph("features.1")
    assert [n.source for n in sub] == ["features.1.conv", "features.1.bn", "features.1.relu",
                                       "features.1.pool"]
    assert [str(v.type) for v in sub.inputs] == ["f32[batch,16,16,16]"]   # block 0's output
    assert [str(v.type) for v in sub.outputs] == ["f32[batch,32,8,8]"]
    assert sorted(sub.constants) == ["features.1.bn.bias", "features.1.bn.running_mean",
                                     "features.1.bn.running_var", "features.1.bn.weight",
                                     "features.1.conv.weight"]
    sub.verify()
    # a prefix matches whole path components only: "features.1" does not take "features.10"
    assert len(g.subgraph("features")) == 8
    with pytest.raises(GraphError, match="no node of graph @small_cnn has a source under 'feat'"):
        g.subgraph("feat")


def test_bind_symbols_rewrites_every_type():
    g = example_cnn()
    assert g.symbols == {"batch"}
    bound = g.bind_symbols({"batch": 8})
    assert bound.symbols == frozenset() and str(bound.outputs[0].type) == "f32[8,10]"
    bound.verify()
    assert g.symbols == {"batch"}                                      # original untouched


def test_bind_symbols_binds_dims_inside_attributes_too():
    g = nx.Graph()
    x = g.add_input("x", "f32[b,s,64]")
    y = g.op("reshape", x, shape=["b", "s", 4, 16])
    z = g.op("slice", y, axes=[1], starts=[0], ends=["s-1"])
    g.set_outputs(g.op("expand", z, shape=["b", -1, 4, 16]))
    # min(s, s-1) is decidable (s-1); max(0, s-1) is not, as s may be 0
    assert str(g.outputs[0].type) == "f32[b,max(0,s-1),4,16]"
    for bindings, text in (({"s": 10, "b": 2}, "f32[2,9,4,16]"),
                           ({"s": "seq"}, "f32[b,max(0,seq-1),4,16]")):
        bound = g.bind_symbols(bindings)
        bound.verify()
        assert str(bound.outputs[0].type) == text
    assert g.bind_symbols({"s": 10}).nodes[0].attributes["shape"] == ("b", 10, 4, 16)


def test_constants_with_and_without_data():
    g = nx.Graph()
    w = g.add_constant("w", np.arange(6, dtype=np.float32).reshape(2, 3))
    assert str(w.type) == "f32[2,3]" and not w.data.flags.writeable
    m = g.add_constant("m", type_="bf16[4096,4096]")
    assert m.data is None and m.type.nbytes == 4096 * 4096 * 2
    with pytest.raises(nx.ShapeError, match=r"data has shape \[2\] but the type says f32\[3\]"):
        g.add_constant("bad", np.zeros(2, np.float32), "f32[3]")
    with pytest.raises(GraphError, match="give its data or its type"):
        g.add_constant("nothing")
