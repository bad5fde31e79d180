import hashlib
import json

import numpy as np
import pytest

import nexus_ir as nx
from nexus_ir import SerializationError


def sample() -> nx.Graph:
    g = nx.Graph("sample")
    x = g.add_input("x", "f32[batch,8]")
    w = g.add_constant("fc.weight", np.arange(32, dtype=np.float32).reshape(4, 8))
    h = g.op("linear", x, w, source="fc")
    y = g.op("gelu", h, approximate="tanh", source="act", name="y")
    lo, hi = g.op("split", y, axis=1, sizes=[1, 3], source="head")
    q = g.op("clip", hi, min=float("-inf"), max=6.0)
    o = g.add_node("opaque", [lo], {"target": "aten::foo.default", "flag": True, "k": [1, 2]},
                   output_types=[nx.TensorType(["batch", 1], "f32")], source="head.foo")
    o.annotations["note"] = {"unmodeled": True, "shape": [1, 2]}
    g.set_outputs(q, o.output)
    return g


# The digest is the documented one: sha1 of the dtype string, the shape tuple and the bytes.
WEIGHT_DIGEST = hashlib.sha1(b"<f4(4, 8)" + np.arange(32, dtype="<f4").tobytes()).hexdigest()[:8]

GOLDEN = """\
graph @sample(%x: f32[batch,8]) {
  %fc.weight = constant : f32[4,8] dense<#WEIGHT>
  %0 = linear(%x, %fc.weight) : f32[batch,4] loc("fc")
  %y = gelu(%0) {approximate = "tanh"} : f32[batch,4] loc("act")
  %1, %2 = split(%y) {axis = 1, sizes = [1, 3]} : f32[batch,1], f32[batch,3] loc("head")
  %3 = clip(%2) {min = -inf, max = 6.0} : f32[batch,3]
  %4 = opaque(%1) {target = "aten::foo.default", flag = true, k = [1, 2]} : f32[batch,1] \
loc("head.foo")
  return %3, %4
}
"""


def test_printer_golden_text():
    assert sample().to_text() == GOLDEN.replace("WEIGHT", WEIGHT_DIGEST)


def test_printer_annotations_and_quoting():
    g = sample()
    line = g.to_text(annotations=True).splitlines()[6]
    assert line.endswith('  // {note = {shape = [1, 2], unmodeled = true}}')
    g2 = nx.Graph()
    v = g2.add_input("odd name", "i8[2]")
    g2.set_outputs(g2.op("neg", v))
    assert g2.to_text().splitlines()[0] == 'graph @main(%"odd name": i8[2]) {'


def test_json_round_trip_is_lossless_and_deterministic():
    g = sample()
    text = g.to_json()
    back = nx.Graph.from_json(text)
    back.verify()
    assert back.to_text(annotations=True) == g.to_text(annotations=True)
    assert back.to_json() == text == sample().to_json()
    np.testing.assert_array_equal(back.constants["fc.weight"].data, g.constants["fc.weight"].data)
    clip = [n for n in back if n.op == "clip"][0]
    assert clip.attributes["min"] == float("-inf")
    doc = json.loads(text)
    assert doc["schema_version"] == 1
    assert doc["nodes"][3]["attributes"]["min"] == {"$t": "float", "v": "-inf"}


def test_json_without_data_keeps_shapes_only():
    back = nx.Graph.from_json(sample().to_json(include_data=False))
    assert back.constants["fc.weight"].data is None
    assert str(back.constants["fc.weight"].type) == "f32[4,8]"


def test_json_of_tree_attributes_round_trips_arrays():
    g = nx.Graph()
    x = g.add_input("x", "f32[n,3]")
    g.set_outputs(g.op("tree_ensemble", x, n_targets=1, tree_roots=np.array([0]),
                       feature_ids=np.array([1, 0, 0], np.int64),
                       thresholds=np.array([0.25, 0, 0]), modes=np.array([2, 0, 0], np.uint8),
                       true_children=np.array([1, -1, -1]), false_children=np.array([2, -1, -1]),
                       leaf_values=np.array([[0.0], [1.5], [-2.0]])))
    back = nx.Graph.from_json(g.to_json())
    back.verify()
    tree = next(iter(back))
    assert tree.attributes["modes"].dtype == np.uint8
    np.testing.assert_array_equal(tree.attributes["leaf_values"], [[0.0], [1.5], [-2.0]])
    assert back.to_text() == g.to_text()


@pytest.mark.parametrize("text,message", [
    ("{not json", "not valid JSON"),
    ("[]", "a NEXUS graph document is a JSON object"),
    ('{"schema_version": 7}', "unsupported schema_version 7: this NEXUS reads 1"),
    ('{"schema_version": 1, "name": "g", "inputs": []}', "lacks the field 'constants'"),
    ('{"schema_version": 1, "name": "g", "inputs": [{"name": "x", "type": {"shape": [2]}}]}',
     "a type must be"),
    ('{"schema_version": 1, "name": "g", "inputs": [], "constants": [{"name": "w", "type": '
     '{"shape": [2], "dtype": "f32"}, "data": {"$t": "array", "dtype": "<f4", "shape": [2], '
     '"data": "!!"}}]}', "malformed tagged value 'array'"),
    ('{"schema_version": 1, "name": "g", "inputs": [{"name": "x", "type": {"shape": [2], '
     '"dtype": "f99"}}]}', "unknown dtype 'f99'"),
])
def test_json_errors_are_one_clear_message(text, message):
    with pytest.raises(SerializationError, match=message):
        nx.Graph.from_json(text)


def test_loaded_graph_with_problems_is_reported_by_verify():
    doc = json.loads(sample().to_json())
    doc["nodes"][1]["inputs"] = ["nowhere"]
    g = nx.Graph.from_json(json.dumps(doc))
    with pytest.raises(nx.VerificationError, match=r"operand 0 %nowhere is not defined in the "
                                                    r"graph \(dangling use\)"):
        g.verify()


def test_unserializable_annotation_is_named():
    g = sample()
    next(iter(g)).annotations["bad"] = object()
    with pytest.raises(SerializationError, match="cannot serialize a value of type object"):
        g.to_json()
