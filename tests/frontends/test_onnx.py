"""ONNX frontend: every mapped op on a tiny hand-built graph, shape arithmetic, symbolic dims,
and one clear error per kind of bad input."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from frontends.onnx import UnmappedOpsWarning, from_onnx  # noqa: E402
from nexus_ir import NexusError  # noqa: E402

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def model(nodes, inputs, outputs, inits=(), opset=17, ml=None):
    """A ModelProto from nodes, (name, elem, shape) inputs/outputs and {name: array} inits."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", ml)]
                                                 if ml else [])
    return helper.make_model(graph, opset_imports=opsets)


def one(op, inputs, out_shape, inits=(), out_type=F, domain="", ml=None, opset=17, n_out=1,
        **attrs):
    """One node reading graph inputs ``inputs`` (name, elem, shape) and initializers."""
    names = [n for n, _, _ in inputs] + list(dict(inits))
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, names, outs, domain=domain, **attrs)
    return model([node], inputs, [(o, out_type, None) for o in outs], inits, opset, ml)


def lowered(proto):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnmappedOpsWarning)
        return from_onnx(proto)


X = ("x", F, ["N", 3, 8, 8])
W = np.ones((4, 3, 3, 3), np.float32)
CASES = {
    # op: (model, IR ops expected, output types)
    "Conv": (one("Conv", [X], None, {"w": W}, pads=[1, 1, 1, 1], strides=[2, 2]),
             {"conv"}, ["f32[N,4,4,4]"]),
    "Conv SAME_UPPER": (one("Conv", [X], None, {"w": W}, auto_pad="SAME_UPPER", strides=[2, 2]),
                        {"conv"}, ["f32[N,4,4,4]"]),
    "ConvTranspose": (one("ConvTranspose", [X], None, {"w": np.ones((3, 2, 2, 2), np.float32)},
                          strides=[2, 2]), {"conv"}, ["f32[N,2,16,16]"]),
    "MaxPool": (one("MaxPool", [X], None, kernel_shape=[2, 2], strides=[2, 2]), {"max_pool"},
                ["f32[N,3,4,4]"]),
    "AveragePool": (one("AveragePool", [X], None, kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                    {"avg_pool"}, ["f32[N,3,8,8]"]),
    "GlobalAveragePool": (one("GlobalAveragePool", [X], None), {"global_avg_pool"},
                          ["f32[N,3,1,1]"]),
    "BatchNormalization": (one("BatchNormalization", [X], None, {
        k: np.ones(3, np.float32) for k in ("s", "b", "m", "v")}), {"batch_norm"},
        ["f32[N,3,8,8]"]),
    "MatMul": (one("MatMul", [("a", F, ["N", 5])], None, {"w": np.ones((5, 2), np.float32)}),
               {"matmul"}, ["f32[N,2]"]),
    "Gemm": (one("Gemm", [("a", F, ["N", 5])], None, {"w": np.ones((2, 5), np.float32),
                                                      "c": np.ones(2, np.float32)}, transB=1),
             {"gemm"}, ["f32[N,2]"]),
    "Relu": (one("Relu", [X], None), {"relu"}, ["f32[N,3,8,8]"]),
    "HardSigmoid": (one("HardSigmoid", [X], None), {"hardsigmoid"}, ["f32[N,3,8,8]"]),
    "LeakyRelu": (one("LeakyRelu", [X], None, alpha=0.2), {"leaky_relu"}, ["f32[N,3,8,8]"]),
    "Gelu": (one("Gelu", [X], None, opset=20), {"gelu"}, ["f32[N,3,8,8]"]),
    "PRelu": (one("PRelu", [X], None, {"s": np.full((3, 1, 1), 0.1, np.float32)}),
              {"where", "lt", "mul"}, ["f32[N,3,8,8]"]),
    "Add broadcast": (one("Add", [X], None, {"b": np.ones((8,), np.float32)}), {"add"},
                      ["f32[N,3,8,8]"]),
    "Mean": (one("Mean", [X, ("x2", F, ["N", 3, 8, 8])], None), {"add", "mul"},
             ["f32[N,3,8,8]"]),
    "Equal": (one("Equal", [("a", I64, ["N"]), ("b", I64, ["N"])], None, out_type=B), {"eq"},
              ["i1[N]"]),
    "Where": (one("Where", [("c", B, ["N"]), ("a", F, ["N"]), ("b", F, ["N"])], None),
              {"where"}, ["f32[N]"]),
    "Clip": (one("Clip", [X], None, {"lo": np.float32(0), "hi": np.float32(6)}), {"clip"},
             ["f32[N,3,8,8]"]),
    "Cast": (one("Cast", [X], None, to=TensorProto.FLOAT16, out_type=TensorProto.FLOAT16),
             {"cast"}, ["f16[N,3,8,8]"]),
    "Softmax": (one("Softmax", [X], None, axis=1), {"softmax"}, ["f32[N,3,8,8]"]),
    "ReduceMean axes input": (one("ReduceMean", [X], None, {"axes": np.array([2, 3])},
                                  opset=18, keepdims=0), {"reduce_mean"}, ["f32[N,3]"]),
    "ReduceL2": (one("ReduceL2", [X], None, {"axes": np.array([1])}, opset=18),
                 {"mul", "reduce_sum", "sqrt"}, ["f32[N,1,8,8]"]),
    "ArgMax": (one("ArgMax", [X], None, axis=1, keepdims=0, out_type=I64), {"argmax"},
               ["i64[N,8,8]"]),
    "CumSum": (one("CumSum", [X], None, {"axis": np.array(1)}), {"cumsum"}, ["f32[N,3,8,8]"]),
    "TopK": (one("TopK", [("a", F, ["N", 10])], None, {"k": np.array([3])}, n_out=2),
             {"topk"}, ["f32[N,3]", "i64[N,3]"]),
    "Flatten": (one("Flatten", [X], None), {"reshape"}, ["f32[N,192]"]),
    "Reshape": (one("Reshape", [X], None, {"s": np.array([0, -1])}), {"reshape"},
                ["f32[N,192]"]),
    "Transpose": (one("Transpose", [X], None, perm=[0, 2, 3, 1]), {"transpose"},
                  ["f32[N,8,8,3]"]),
    "Unsqueeze": (one("Unsqueeze", [X], None, {"a": np.array([1])}), {"unsqueeze"},
                  ["f32[N,1,3,8,8]"]),
    "Squeeze": (one("Squeeze", [("a", F, ["N", 1, 4])], None, {"ax": np.array([1])}),
                {"squeeze"}, ["f32[N,4]"]),
    "Concat": (one("Concat", [X, ("x2", F, ["N", 2, 8, 8])], None, axis=1), {"concat"},
               ["f32[N,5,8,8]"]),
    "Split": (one("Split", [X], None, {"s": np.array([1, 2])}, axis=1, n_out=2), {"split"},
              ["f32[N,1,8,8]", "f32[N,2,8,8]"]),
    "Slice": (one("Slice", [X], None, {"st": np.array([1]), "en": np.array([100]),
                                       "ax": np.array([2])}), {"slice"}, ["f32[N,3,7,8]"]),
    "Pad": (one("Pad", [X], None, {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1])}), {"pad"},
            ["f32[N,3,10,10]"]),
    "Expand": (one("Expand", [("a", F, [3, 1])], None, {"s": np.array([2, 3, 4])}),
               {"expand"}, ["f32[2,3,4]"]),
    "Gather": (one("Gather", [("a", F, [10, 4])], None, {"i": np.array([[1, 2]])}),
               {"gather"}, ["f32[1,2,4]"]),
    "GatherElements": (one("GatherElements", [("a", F, [3, 4]), ("i", I64, [3, 2])], None,
                           axis=1), {"gather_elements"}, ["f32[3,2]"]),
    "Resize": (one("Resize", [X], None, {"roi": np.zeros(0, np.float32),
                                         "sc": np.array([1, 1, 2, 2], np.float32)}),
               {"resize"}, ["f32[N,3,16,16]"]),
    "LayerNormalization": (one("LayerNormalization", [("a", F, ["N", 6])], None,
                               {"g": np.ones(6, np.float32)}), {"layer_norm"}, ["f32[N,6]"]),
    "QuantizeLinear": (one("QuantizeLinear", [X], None, {"s": np.float32(0.1),
                                                         "z": np.int8(0)},
                           out_type=TensorProto.INT8), {"quantize"}, ["i8[N,3,8,8]"]),
    "DequantizeLinear": (one("DequantizeLinear", [("q", TensorProto.INT8, ["N", 4])], None,
                             {"s": np.float32(0.1), "z": np.int8(0)}), {"dequantize"},
                         ["f32[N,4]"]),
    "Trilu": (one("Trilu", [("a", F, [4, 4])], None), {"where"}, ["f32[4,4]"]),
    # ai.onnx.ml
    "Scaler": (one("Scaler", [("a", F, ["N", 3])], None, domain="ai.onnx.ml", ml=3,
                   offset=[1.0, 2.0, 3.0], scale=[0.5, 0.5, 0.5]), {"sub", "mul"}, ["f32[N,3]"]),
    "Normalizer": (one("Normalizer", [("a", F, ["N", 3])], None, domain="ai.onnx.ml", ml=3,
                       norm="L2"), {"mul", "reduce_sum", "sqrt", "div"}, ["f32[N,3]"]),
    "Binarizer": (one("Binarizer", [("a", F, ["N", 3])], None, domain="ai.onnx.ml", ml=3,
                      threshold=0.5), {"gt", "cast"}, ["f32[N,3]"]),
    "OneHotEncoder": (one("OneHotEncoder", [("a", I64, ["N", 2])], None, domain="ai.onnx.ml",
                          ml=3, cats_int64s=[0, 1, 2]), {"unsqueeze", "eq", "cast"},
                      ["f32[N,2,3]"]),
    "ArrayFeatureExtractor": (one("ArrayFeatureExtractor", [("a", F, ["N", 5])], None,
                                  {"i": np.array([0, 3])}, domain="ai.onnx.ml", ml=3),
                              {"gather"}, ["f32[N,2]"]),
    "Imputer": (one("Imputer", [("a", F, ["N", 2])], None, domain="ai.onnx.ml", ml=3,
                    imputed_value_floats=[0.0, 1.0]), {"ne", "where"}, ["f32[N,2]"]),
    "LinearRegressor": (one("LinearRegressor", [("a", F, ["N", 3])], None, domain="ai.onnx.ml",
                            ml=3, coefficients=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], targets=2,
                            intercepts=[0.5, 0.5]), {"linear_regressor"}, ["f32[N,2]"]),
    "SVMRegressor RBF": (one("SVMRegressor", [("a", F, ["N", 2])], None, domain="ai.onnx.ml",
                             ml=3, kernel_type="RBF", kernel_params=[0.5, 0.0, 3.0],
                             support_vectors=[0.0, 1.0, 1.0, 0.0, 1.0, 1.0], n_supports=3,
                             coefficients=[1.0, -1.0, 0.5], rho=[0.1]),
                         {"matmul", "exp", "add"}, ["f32[N,1]"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_mapped_op_lowers_with_the_onnx_shapes(case):
    proto, ops, types = CASES[case]
    graph = lowered(proto)
    assert ops <= {n.op for n in graph.nodes}, {n.op for n in graph.nodes}
    assert [str(v.type) for v in graph.outputs] == types
    # ONNX's own shape inference agrees with the IR's wherever it knows the shape
    inferred = onnx.shape_inference.infer_shapes(proto).graph.output
    for out, ir in zip(inferred, graph.outputs):
        dims_ = [d.dim_value or d.dim_param for d in out.type.tensor_type.shape.dim]
        if dims_:
            assert len(dims_) == ir.type.rank
        for theirs, ours in zip(dims_, ir.type.shape):
            if theirs and not str(theirs).startswith("unk__"):
                assert str(theirs) == str(ours)


def test_shape_arithmetic_is_folded_symbolically():
    """x.view(x.shape[0], -1) as exporters write it: Shape → Gather → Unsqueeze → Concat →
    Reshape, with a symbolic batch. No IR node is spent on the arithmetic."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    graph = lowered(model(nodes, [X], [("y", F, None)], {
        "zero": np.array(0), "axes": np.array([0]), "minus1": np.array([-1])}))
    assert [n.op for n in graph.nodes] == ["reshape"]
    assert str(graph.outputs[0].type) == "f32[N,192]"


def test_unknown_input_dims_become_named_symbols():
    proto = one("Relu", [("x", F, [None, 4, None])], None)
    graph = lowered(proto)
    assert str(graph.inputs[0].type) == "f32[batch,4,x_d2]"


def test_unknown_op_and_domain_become_opaque_and_are_reported(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Frobnicate", ["r"], ["y"], domain="com.example")]
    proto = model(nodes, [("x", F, [2, 3])], [("y", F, [2, 3])])
    proto.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.warns(UnmappedOpsWarning, match=r"com.example::Frobnicate ×1"):
        graph = from_onnx(proto)
    node = list(graph.nodes)[-1]
    assert node.op == "opaque" and node.attributes["target"] == "com.example::Frobnicate"
    assert str(node.outputs[0].type) == "f32[2,3]"
    import nexus_ir as nx
    report = nx.compile(graph)
    assert [u.op for u in report.unmodeled] == ["opaque"]


def test_old_opsets_are_upgraded():
    proto = one("Relu", [("x", F, [2])], None, opset=11)
    assert [n.op for n in lowered(proto).nodes] == ["relu"]


def test_truncated_file_is_one_clear_error(tmp_path):
    proto = one("Conv", [X], None, {"w": W})
    data = proto.SerializeToString()
    path = tmp_path / "m.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NexusError, match="not a valid ONNX model"):
        from_onnx(path)


def test_missing_file_and_missing_initializer(tmp_path):
    with pytest.raises(NexusError, match="does not exist"):
        from_onnx(tmp_path / "absent.onnx")
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    proto = model([node], [("x", F, [2, 3])], [("y", F, None)])
    with pytest.raises(NexusError, match="reads 'w', which is neither a graph input, an "
                                         "initializer"):
        from_onnx(proto)


def test_string_inputs_are_category_codes_with_a_warning_and_complex_ones_refused():
    proto = one("Identity", [("x", TensorProto.STRING, ["N", 1])], None,
                out_type=TensorProto.STRING)
    with pytest.warns(UserWarning, match=r"string input x: costed as one 64-bit category code"):
        graph = from_onnx(proto)
    assert str(graph.inputs[0].type) == "i64[N,1]"
    proto = one("Identity", [("z", TensorProto.COMPLEX64, ["N", 1])], None,
                out_type=TensorProto.COMPLEX64)
    with pytest.raises(NexusError, match="graph input 'z' has ONNX element type 14, which NEXUS "
                                         "cannot type .*; NEXUS costs tensors of numbers"):
        from_onnx(proto)


def _external_model(tmp_path, location: str):
    weights = np.arange(6, dtype=np.float32).reshape(3, 2)
    proto = one("MatMul", [("x", F, ["N", 3])], None, {"w": weights})
    tensor = proto.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": "24"}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    path = folder / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    return path, weights


def test_external_data_inside_the_folder_loads(tmp_path):
    path, weights = _external_model(tmp_path, "weights.bin")
    (path.parent / "weights.bin").write_bytes(weights.tobytes())
    graph = from_onnx(path)
    np.testing.assert_array_equal(next(iter(graph.constants.values())).data, weights)


@pytest.mark.parametrize("location", ["../secret.bin", "sub/../../secret.bin", "/etc/passwd"])
def test_external_data_escaping_the_folder_is_refused(tmp_path, location):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 24)
    path, _ = _external_model(tmp_path, location)
    with pytest.raises(NexusError, match="external data '.*' of initializer 'w' is refused by "
                                         "onnx's loader: .*(outside|absolute)"):
        from_onnx(path)


@pytest.mark.parametrize("link", ["symlink", "link"])
def test_external_data_through_a_link_out_is_refused(tmp_path, link):
    """A symbolic or a hard link beside the model to a file outside its folder."""
    if not hasattr(os, link):
        pytest.skip(f"needs os.{link}")
    (tmp_path / "secret.bin").write_bytes(b"\0" * 24)
    path, _ = _external_model(tmp_path, f"{link}.bin")
    getattr(os, link)(tmp_path / "secret.bin", path.parent / f"{link}.bin")
    with pytest.raises(NexusError, match=f"'{link}.bin' of initializer 'w' is refused by onnx's "
                                         "loader"):
        from_onnx(path)


def test_external_data_past_the_end_of_its_file_is_refused(tmp_path):
    path, _ = _external_model(tmp_path, "short.bin")
    (path.parent / "short.bin").write_bytes(b"\0" * 8)
    with pytest.raises(NexusError, match="'short.bin' of initializer 'w' is refused by onnx's "
                                         "loader: External data length \\(24\\) exceeds"):
        from_onnx(path)


def test_models_exported_by_pytorch_cost_like_the_pytorch_frontend(tmp_path):
    """The same CNN and transformer block through torch.onnx and through torch.export: equal
    MACs, no unmodeled node, module paths from the exporter's node names."""
    torch = pytest.importorskip("torch")
    import nexus_ir as nx
    from bench.torch_models import EncoderBlock, InvertedResidual

    for module, shape in [(InvertedResidual(16, 24, 2, 6), (1, 16, 32, 32)),
                          (EncoderBlock(64, 4), (1, 10, 64))]:
        module.eval()
        example = torch.randn(*shape)
        path = tmp_path / "m.onnx"
        torch.onnx.export(module, (example,), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}})
        graph = from_onnx(path)
        assert str(graph.inputs[0].type).startswith("f32[batch,")
        via_onnx = nx.compile(graph, bindings={"batch": 1})
        via_torch = nx.compile(module, (example,))
        assert via_onnx.unmodeled == []
        assert via_onnx.metrics["macs"] == via_torch.metrics["macs"] > 0
        assert {n.source.split(".")[0] for n in graph.nodes} - {""}


def test_a_missing_optional_package_names_its_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "onnx", None)      # makes `import onnx` fail
    with pytest.raises(NexusError, match=r"pip install 'nexus-ml\[onnx\]'"):
        from_onnx("model.onnx")


def test_tree_ensemble_v5_keeps_every_tree_and_its_one_leaf_trees():
    """ai.onnx.ml 5 TreeEnsemble: tree 0 tests x0 <= 0.5 then x1 < 2 (leaves 0, 1, 2); tree 1 is
    a lone leaf (3), encoded as a node whose two branches reach the same leaf."""
    from lowering.rules import lower
    from passes.trees import path_lengths
    tensor = helper.make_tensor
    node = helper.make_node(
        "TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1, tree_roots=[0, 2],
        nodes_featureids=[0, 1, 0], nodes_modes=tensor("m", TensorProto.UINT8, [3], [0, 1, 0]),
        nodes_splits=tensor("s", F, [3], [0.5, 2.0, 0.0]),
        nodes_truenodeids=[0, 1, 3], nodes_trueleafs=[1, 1, 1],
        nodes_falsenodeids=[1, 2, 3], nodes_falseleafs=[0, 1, 1],
        leaf_targetids=[0, 0, 0, 0], leaf_weights=tensor("w", F, [4], [1.0, 2.0, 3.0, 4.0]),
        aggregate_function=1, post_transform=0)
    graph = lowered(model([node], [("x", F, [4, 2])], [("y", F, None)], opset=21, ml=5))
    tree = next(iter(graph.nodes))
    assert tree.op == "tree_ensemble" and str(tree.outputs[0].type) == "f32[4,1]"
    assert list(tree.attributes["tree_roots"]) == [0, 6]         # the lone leaf is the root
    rows = np.array([[0.1, 0], [0.9, 1], [0.9, 3], [0.5, 9]], np.float32)
    np.testing.assert_array_equal(path_lengths(tree, rows), [[1, 0], [2, 0], [2, 0], [1, 0]])
    assert lower(tree).total("cmp") == 4 * 2                   # depth bound: 2 + 0 per row


def test_a_shared_initializer_is_one_weight():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"]),
             helper.make_node("MatMul", ["a", "w"], ["y"])]
    graph = lowered(model(nodes, [("x", F, ["N", 4])], [("y", F, None)],
                          {"w": np.eye(4, dtype=np.float32)}))
    assert list(graph.constants) == ["w"]
    first, second = graph.nodes
    assert first.inputs[1] is second.inputs[1]


def _qoperator_model():
    """uint8 activations × int8 weights, ONNX Runtime's QOperator format: QLinearConv (per-
    channel weight scales, int32 bias) → Reshape → QLinearMatMul."""
    rng = np.random.default_rng(0)
    arrays = {"xs": np.array(0.02, np.float32), "xz": np.array(128, np.uint8),
              "w": rng.integers(-5, 5, (4, 3, 3, 3), dtype=np.int8),
              "ws": np.full(4, 0.01, np.float32), "wz": np.zeros(4, np.int8),
              "ys": np.array(0.05, np.float32), "yz": np.array(128, np.uint8),
              "b": np.zeros(4, np.int32), "shape": np.array([1, 144], np.int64),
              "fc": rng.integers(-5, 5, (144, 10), dtype=np.int8),
              "fs": np.array(0.01, np.float32), "fz": np.array(0, np.int8),
              "os": np.array(0.1, np.float32), "oz": np.array(128, np.uint8)}
    nodes = [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                              ["c"], kernel_shape=[3, 3]),
             helper.make_node("Reshape", ["c", "shape"], ["f"]),
             helper.make_node("QLinearMatMul", ["f", "ys", "yz", "fc", "fs", "fz", "os", "oz"],
                              ["y"])]
    return model(nodes, [("x", TensorProto.UINT8, [1, 3, 8, 8])],
                 [("y", TensorProto.UINT8, [1, 10])], arrays)


def test_qoperator_int8_models_are_costed_as_int8():
    """QLinearConv and QLinearMatMul are the IR's conv and matmul on the 8-bit operands (u8 ×
    i8), with the int32 bias and every scale and zero point kept; MACs by hand: 6·6·4·27 +
    144·10."""
    import nexus_ir as nx
    g = from_onnx(_qoperator_model())
    conv, _, matmul = list(g)
    assert (conv.op, matmul.op) == ("conv", "matmul")
    assert [v.type.dtype.name for v in conv.inputs] == ["u8", "i8", "i32"]
    assert g.quantization["w"] == {"scale": [pytest.approx(0.01)] * 4, "zero_point": [0] * 4,
                                   "axis": 0}
    assert g.quantization["x"]["zero_point"] == [128]
    report = nx.compile(g, target="stm32l4r5")
    assert report.metrics["macs"] == 36 * 4 * 27 + 1440 and not report.metrics["unmodeled"]
