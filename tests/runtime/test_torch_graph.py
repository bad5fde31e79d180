"""Running NEXUS graphs with PyTorch: the same outputs as the modules they came from, rewritten
graphs run, and what cannot run says so."""

import sys
from pathlib import Path

import numpy as np
import pytest

import nexus_ir as nx

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parent.parent.parent / "examples"))
sys.path.insert(0, str(Path(__file__).parent.parent / "lowering"))

from frontends.pytorch import from_torch  # noqa: E402
from runtime.torch_graph import GraphModule, run_graph  # noqa: E402


def same_as_module(module, inputs, atol=1e-5):
    graph = from_torch(module.eval(), inputs)
    with torch.no_grad():
        got, expected = GraphModule(graph)(*inputs), module(*inputs)
    return float((got - expected).abs().max()) <= atol


def test_models_run_as_their_modules():
    from cnn import small_cnn
    from test_onnx_export import Block
    from transformer import TinyTransformer

    model, inputs = small_cnn()
    assert same_as_module(model, inputs)
    torch.manual_seed(0)
    assert same_as_module(TinyTransformer(), (torch.randint(0, 1000, (2, 16)),))
    assert same_as_module(Block(), (torch.randn(2, 4, 16, 16),))


def test_rewritten_graphs_run():
    from cnn import small_cnn
    from passes.rewrites import prune_channels, quantize_weights

    model, (x,) = small_cnn()
    graph = from_torch(model, (x,))
    quantized, _ = quantize_weights(graph, 8)
    with torch.no_grad():
        reference = model(x)
        assert float((GraphModule(quantized)(x) - reference).abs().max()) < 0.02 * float(
            reference.abs().max())
    pruned, _ = prune_channels(graph, 0.5)
    assert run_graph(pruned, {pruned.inputs[0].name: x.numpy()}).shape == (1, 10)


def test_bf16_conversion_keeps_integer_weights():
    from cnn import small_cnn
    from passes.rewrites import quantize_weights

    model, (x,) = small_cnn()
    quantized, _ = quantize_weights(from_torch(model, (x,)), 8)
    module = GraphModule(quantized).to(dtype=torch.bfloat16)
    dtypes = {b.dtype for b in module.buffers()}
    assert torch.int8 in dtypes and torch.bfloat16 in dtypes
    with torch.no_grad():
        assert module(x.bfloat16()).dtype == torch.bfloat16


def test_what_cannot_run_is_named():
    from nexus_ir.app.examples import resnet50

    with pytest.raises(nx.NexusError, match="constant %conv1.weight has no data: running needs "
                                            "real weights"):
        GraphModule(resnet50())
    g = nx.Graph("odd")
    x = g.add_input("x", "f32[2]")
    g.set_outputs(g.add_node("opaque", [x], {"target": "custom::op"},
                             output_types=[nx.TensorType([2], "f32")]).output)
    with pytest.raises(nx.NexusError, match="cannot run with PyTorch: no kernel for opaque"):
        GraphModule(g)
    h = nx.Graph("sym")
    y = h.add_input("y", "f32[batch,4]")
    h.set_outputs(h.op("flatten", h.op("unsqueeze", y, axes=[1])))
    with pytest.raises(nx.NexusError, match="bind symbolic sizes before running the graph"):
        run_graph(h, {"y": np.zeros((2, 4), np.float32)})
