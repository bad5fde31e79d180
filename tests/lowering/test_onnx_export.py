"""IR → ONNX export: models with real weights reproduce their PyTorch outputs in onnxruntime,
each op family round-trips against a numpy reference, and what cannot be exported says so."""

import sys
from pathlib import Path

import numpy as np
import pytest

import nexus_ir as nx
from lowering.onnx_export import to_onnx
from nexus_ir.app.examples import resnet50

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parent.parent.parent / "examples"))


def run(model_proto, feeds):
    session = ort.InferenceSession(model_proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def torch_round_trip(module, inputs):
    from frontends.pytorch import from_torch

    graph = from_torch(module.eval(), inputs)
    outputs = run(to_onnx(graph), {v.name: x.numpy() for v, x in zip(graph.inputs, inputs)})
    with torch.no_grad():
        expected = module(*inputs)
    return np.abs(outputs[0] - expected.numpy()).max()


def test_small_cnn_reproduces_pytorch():
    from cnn import small_cnn

    model, inputs = small_cnn()
    assert torch_round_trip(model, inputs) <= 1e-4


def test_tiny_transformer_reproduces_pytorch():
    from transformer import TinyTransformer

    torch.manual_seed(0)
    assert torch_round_trip(TinyTransformer(), (torch.randint(0, 1000, (2, 16)),)) <= 1e-4


@pytest.mark.parametrize("activation", [torch.nn.GELU(), torch.nn.GELU(approximate="tanh"),
                                        torch.nn.SiLU(), torch.nn.Mish(), torch.nn.Hardswish(),
                                        torch.nn.Hardsigmoid(), torch.nn.LeakyReLU(0.2),
                                        torch.nn.ELU(), torch.nn.Softplus(beta=2.0),
                                        torch.nn.ReLU6(), torch.nn.Tanh()])
def test_mlp_activations_reproduce_pytorch(activation):
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(16, 32), activation, torch.nn.Linear(32, 4),
                              torch.nn.LogSoftmax(-1))
    assert torch_round_trip(mlp, (torch.randn(5, 16),)) <= 1e-4


class Block(torch.nn.Module):
    """Norms, pools, reshapes, slicing, concatenation, reductions in one module."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2)
        self.up = torch.nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.gn = torch.nn.LayerNorm(8)
        self.rms = torch.nn.RMSNorm(8)

    def forward(self, x):
        y = torch.nn.functional.avg_pool2d(torch.relu(self.conv(x)), 2, ceil_mode=True)
        y = torch.nn.functional.max_pool2d(self.up(y), 2)
        z = y.flatten(2).transpose(1, 2)
        z = self.rms(self.gn(torch.cat([z[..., :4], z[..., 4:] * 2], dim=-1)))
        a, b = z.split([3, 5], dim=-1)
        return torch.cat([a.mean(dim=1), b.amax(dim=1), torch.clamp(a.sum(dim=1), -1, 1)],
                         dim=-1)


def test_block_of_movement_norm_and_reduction_ops_reproduces_pytorch():
    torch.manual_seed(0)
    assert torch_round_trip(Block(), (torch.randn(2, 4, 16, 16),)) <= 1e-4


@pytest.mark.parametrize("exclusive,reverse", [(False, False), (True, False), (False, True),
                                               (True, True)])
def test_running_sums_match_numpy_in_onnxruntime_and_in_torch(exclusive, reverse):
    from runtime.torch_graph import run_graph

    g = nx.Graph("cumsum")
    x = g.add_input("x", "f32[3,4]")
    g.set_outputs(g.op("cumsum", x, axis=1, exclusive=exclusive, reverse=reverse))
    data = np.arange(12, dtype=np.float32).reshape(3, 4) ** 2
    ordered = data[:, ::-1] if reverse else data
    sums = np.cumsum(ordered, axis=1) - (ordered if exclusive else 0)
    expected = sums[:, ::-1] if reverse else sums
    np.testing.assert_allclose(run(to_onnx(g), {"x": data})[0], expected)
    np.testing.assert_allclose(run_graph(g, {"x": data}), expected)


def test_position_arithmetic_reproduces_pytorch():
    class Positions(torch.nn.Module):
        def forward(self, ids):
            real = ids.ne(0)
            return real.cumsum(-1) * (real & (torch.diff(ids, prepend=ids[:, :1]) != 0)).long()

    ids = torch.tensor([[5, 7, 0, 0, 9], [3, 0, 4, 4, 1]])
    assert torch_round_trip(Positions(), (ids,)) == 0


@pytest.mark.parametrize("shape,options", [
    ((1, 2, 4, 6), {"scale_factor": 2, "mode": "nearest"}),
    ((2, 2, 4, 6), {"size": (7, 9), "mode": "bilinear", "align_corners": True}),
    ((1, 3, 4, 6), {"size": (7, 9), "mode": "bilinear"}),
    ((1, 2, 4, 6), {"scale_factor": 1.5, "mode": "bicubic"}),
    ((1, 2, 5), {"scale_factor": 2, "mode": "linear"})])
def test_interpolation_reproduces_pytorch(shape, options):
    class Interpolate(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, **options)

    torch.manual_seed(0)
    assert torch_round_trip(Interpolate(), (torch.randn(*shape),)) <= 1e-5


def test_quantize_dequantize_and_symbolic_batch_round_trip():
    g = nx.Graph("qdq")
    x = g.add_input("x", "f32[batch,6]")
    scale = g.add_constant("scale", np.float32(0.05))
    zero = g.add_constant("zero", np.int8(0))
    q = g.op("quantize", x, scale, zero, to="i8")
    y = g.op("dequantize", q, scale, zero)
    g.set_outputs(g.op("where", g.op("gt", y, g.add_constant("zero_f", np.float32(0))), y,
                       g.op("neg", y)))
    model = to_onnx(g)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    data = np.linspace(-1, 1, 18, dtype=np.float32).reshape(3, 6)
    expected = np.abs(np.clip(np.round(data / 0.05), -128, 127) * 0.05)
    np.testing.assert_allclose(run(model, {"x": data})[0], expected, atol=1e-6)


def test_export_writes_a_file_that_onnx_loads(tmp_path):
    from cnn import small_cnn
    from frontends.pytorch import from_torch

    model, inputs = small_cnn()
    path = tmp_path / "cnn.onnx"
    to_onnx(from_torch(model, inputs), path)
    loaded = onnx.load(path)
    onnx.checker.check_model(loaded)
    names = {i.name for i in loaded.graph.initializer}
    assert "features.0.0.weight" in names
    assert not any(n.endswith("num_batches_tracked") for n in names)     # unused buffers


def test_what_cannot_be_exported_is_named():
    with pytest.raises(nx.NexusError, match="constant %conv1.weight has no data: a graph with "
                                            "shape-only weights"):
        to_onnx(resnet50().bind_symbols({"batch": 1}))
    g = nx.Graph("odd")
    x = g.add_input("x", "f32[2]")
    odd = g.add_node("opaque", [x], {"target": "custom::op"},
                     output_types=[nx.TensorType([2], "f32")])
    g.set_outputs(odd.output)
    with pytest.raises(nx.NexusError, match="cannot export to ONNX: no ONNX form for opaque"):
        to_onnx(g)


def test_float8_weights_say_why_they_cannot_be_exported():
    g = nx.Graph("fp8")
    x = g.add_input("x", "f32[2,4]")
    w = g.add_constant("w", np.ones((3, 4), np.float32), nx.TensorType([3, 4], "f8e4m3"))
    s = g.add_constant("s", np.ones(3, np.float32))
    g.set_outputs(g.op("linear", x, g.op("dequantize", w, s, axis=0)))
    with pytest.raises(nx.NexusError, match="constant %w is f8e4m3: ONNX opset 17 has no "
                                            "float8"):
        to_onnx(g)


def test_index_by_several_tensors_matches_numpy_with_negative_indices():
    g = nx.Graph("index")
    x = g.add_input("x", "f32[2,5,6,3]")
    rows = g.add_constant("rows", np.array([[-1], [2]], np.int64))
    cols = g.add_constant("cols", np.array([0, -2, 5], np.int32))
    g.set_outputs(g.op("index", x, rows, cols, axis=1))
    data = np.arange(180, dtype=np.float32).reshape(2, 5, 6, 3)
    expected = data[:, np.array([[-1], [2]]), np.array([0, -2, 5])]
    assert expected.shape == (2, 2, 3, 3)
    np.testing.assert_array_equal(run(to_onnx(g), {"x": data})[0], expected)
