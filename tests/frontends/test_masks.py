"""Boolean attention masks that mask nothing (``frontends.pytorch.masks``): built from constants
the way transformers builds them under torch.export, they are evaluated and dropped; masks that
mask something, depend on the inputs, or are float (which SDPA runs as masks), are kept."""

import pytest

torch = pytest.importorskip("torch", reason="the PyTorch frontend needs torch (.ci/run installs "
                                             "torch==2.13.0)")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import nexus_ir as nx  # noqa: E402
from frontends.pytorch import from_torch  # noqa: E402
from runtime.torch_graph import run_graph  # noqa: E402

LENGTH = 16


class Attention(nn.Module):
    """SDPA over [batch, 2 heads, LENGTH, 8] with a mask made by ``kind``."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        if kind == "zero-float":
            self.register_buffer("zeros", torch.zeros(1, 1, LENGTH, LENGTH))

    def forward(self, q, k, v):
        if self.kind == "all-true":          # transformers' padding-free mask under tracing
            positions = torch.arange(LENGTH, device=q.device) + 0
            mask = (positions >= 0)[None, None, None, :].expand(q.shape[0], 1, LENGTH, LENGTH)
        elif self.kind == "zero-float":
            mask = self.zeros
        elif self.kind == "causal":          # masks the upper triangle: kept
            positions = torch.arange(LENGTH)
            mask = positions[None, :] <= positions[:, None]
        else:                                # from the input: not known before it runs
            mask = q.sum(-1, keepdim=True) > 0
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _lowered(kind: str):
    torch.manual_seed(0)
    inputs = tuple(torch.randn(2, 2, LENGTH, 8) for _ in range(3))
    model = Attention(kind).eval()
    graph = from_torch(model, inputs)
    graph.verify()
    return model, inputs, graph


def test_an_all_true_mask_is_dropped_with_the_ops_that_built_it():
    model, inputs, graph = _lowered("all-true")
    assert [n.op for n in graph] == ["attention"]
    attention = next(iter(graph))
    assert len(attention.inputs) == 3 and attention.attributes["capture_mask"]
    assert not graph.constants            # the position table went with it
    expected = model(*inputs)
    got = run_graph(graph, {v.name: x for v, x in zip(graph.inputs, inputs)})
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("kind", ["causal", "from-input", "zero-float"])
def test_a_mask_that_masks_something_depends_on_the_input_or_is_float_is_kept(kind):
    model, inputs, graph = _lowered(kind)
    attention, = [n for n in graph if n.op == "attention"]
    assert len(attention.inputs) == 4 and not attention.attributes["capture_mask"]
    expected = model(*inputs)
    got = run_graph(graph, {v.name: x for v, x in zip(graph.inputs, inputs)})
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("execution", ["eager", "cuda-graph", "fused"])
def test_dropping_the_mask_changes_the_cost_to_that_of_plain_attention(execution):
    """The lowered graph costs what SDPA without a mask costs, on a target that times masks
    (an fp32 capture runs fused too: ``lowering.rules.captured_math_path``)."""
    _, _, dropped = _lowered("all-true")
    g = nx.Graph("plain")
    q, k, v = (g.add_input(name, "f32[2,2,16,8]") for name in "qkv")
    g.set_outputs(g.op("attention", q, k, v))
    assert nx.compile(dropped, target="h200", execution=execution).metrics["energy_j"] == \
        nx.compile(g, target="h200", execution=execution).metrics["energy_j"]


def test_a_model_on_the_meta_device_drops_the_same_mask():
    """Its positions are made on the CPU: the graph is the one the model with weights gives."""
    inputs = tuple(torch.empty(2, 2, LENGTH, 8, device="meta") for _ in range(3))
    graph = from_torch(Attention("all-true").to("meta"), inputs)
    assert [(n.op, len(n.inputs)) for n in graph] == [("attention", 3)]
