"""PyTorch frontend on architectures built here (random weights); MAC counts against formulas
written out from each architecture's sizes."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch frontend needs torch (.ci/run installs "
                                             "torch==2.13.0)")
from torch import nn  # noqa: E402

import nexus_ir as nx  # noqa: E402
from frontends.pytorch import UnmappedOpsWarning, from_torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from torch_models import Bottleneck, EncoderBlock, InvertedResidual  # noqa: E402


def macs(graph: nx.Graph, **bindings: int) -> int:
    return nx.compile(graph, target="h100", bindings=bindings).metrics["macs"]


def test_resnet_bottleneck_macs_and_module_paths():
    model = nn.Sequential(Bottleneck(64, 32, 2), Bottleneck(128, 32, 1)).eval()
    g = from_torch(model, (torch.randn(2, 64, 16, 16),))
    g.verify()
    # block 0 (stride 2 on the 3x3): out 8x8. conv1 1x1 64->32 at 16x16; conv2 3x3 32->32 at
    # 8x8; conv3 1x1 32->128 at 8x8; downsample 1x1 64->128 at 8x8.  block 1 at 8x8: 128->32,
    # 3x3 32->32, 32->128, and an identity shortcut (no downsample).
    n = 2
    block0 = n * (16 * 16 * 64 * 32 + 8 * 8 * 32 * 32 * 9 + 8 * 8 * 32 * 128 + 8 * 8 * 64 * 128)
    block1 = n * (8 * 8 * 128 * 32 + 8 * 8 * 32 * 32 * 9 + 8 * 8 * 32 * 128)
    assert macs(g) == block0 + block1
    sources = {node.source for node in g}
    assert {"0.conv1", "0.conv2", "0.downsample.0", "1.bn3"} <= sources
    assert not any(s.startswith("1.downsample") for s in sources)


def test_mobilenet_depthwise_separable_macs():
    g = from_torch(InvertedResidual(16, 16, 1, 6).eval(), (torch.randn(1, 16, 14, 14),))
    # expand 1x1 16->96, depthwise 3x3 on 96 channels (9 MACs per output), project 96->16
    hw = 14 * 14
    assert macs(g) == hw * 16 * 96 + hw * 96 * 9 + hw * 96 * 16
    assert sum(1 for n in g if n.op == "clip") == 2            # ReLU6 -> clip[0, 6]
    assert [n.source for n in g if n.op == "conv"] == ["conv.0", "conv.3", "conv.6"]


def test_vit_encoder_with_multihead_attention_counts_the_attention_matmuls():
    d, heads, tokens, batch = 64, 4, 17, 2
    g = from_torch(EncoderBlock(d, heads).eval(), (torch.randn(batch, tokens, d),))
    g.verify()
    projections = batch * tokens * (3 * d * d + d * d)          # in_proj (q, k, v) + out_proj
    attention = batch * heads * tokens * tokens * (d // heads) * 2   # QK^T and PV
    mlp = batch * tokens * 2 * d * 4 * d
    assert macs(g) == projections + attention + mlp
    assert any(n.op == "attention" and n.source == "attn" for n in g)


class Decoder(nn.Module):
    def __init__(self, vocab: int, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.embed = nn.Embedding(vocab, d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        x = self.embed(ids)
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm(x)).split(d, dim=-1)
        q, k, v = (t.view(b, s, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, s, d))
        return self.head(x)


def test_gpt_decoder_with_causal_sdpa_and_symbolic_sequence():
    vocab, d, heads = 100, 32, 4
    seq = torch.export.Dim("seq", min=2, max=1024)
    g = from_torch(Decoder(vocab, d, heads).eval(), (torch.randint(0, vocab, (1, 8)),),
                   dynamic_shapes=({1: seq},))
    g.verify()
    symbol = g.inputs[0].type.shape[1]
    assert symbol == "seq"                       # the sequence stays symbolic, under its name
    causal = [n for n in g if n.op == "attention"]
    assert len(causal) == 1 and causal[0].attributes["causal"]
    assert [n.source for n in g if n.op == "linear"] == ["qkv", "proj", "head"]
    assert next(n for n in g if n.op == "embedding").source == "embed"
    s = 48
    expected = s * (3 * d * d + d * d + d * vocab) + heads * s * s * (d // heads) * 2
    assert macs(g, **{symbol: s}) == expected


class UNetUp(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.conv = nn.Conv2d(32, 16, 3, padding=1)

    def forward(self, x, skip):
        return torch.relu(self.conv(torch.cat([self.up(x), skip], dim=1)))


def test_unet_block_with_transposed_conv():
    g = from_torch(UNetUp().eval(), (torch.randn(1, 32, 8, 8), torch.randn(1, 16, 16, 16)))
    g.verify()
    # transposed 2x2 s2: each of 32·8·8 inputs scatters to 16·4 outputs; then 3x3 32->16 at 16x16
    assert macs(g) == 32 * 64 * 16 * 4 + 16 * 256 * 32 * 9
    assert str(g.outputs[0].type) == "f32[1,16,16,16]"
    assert [n.source for n in g if n.op == "conv"] == ["up", "conv"]


def test_weights_attach_when_real_and_stay_absent_on_meta():
    model = nn.Linear(4, 3)
    g = from_torch(model, (torch.randn(2, 4),))
    assert (g.constants["weight"].data == model.weight.detach().numpy()).all()
    assert not g.constants["weight"].data.flags.writeable          # a read-only view, no copy
    assert np.shares_memory(g.constants["weight"].data, model.weight.detach().numpy())
    with torch.device("meta"):
        big = nn.Linear(4096, 4096)
        g = from_torch(big, (torch.empty(1, 4096),))
    assert g.constants["weight"].data is None and str(g.constants["weight"].type) == \
        "f32[4096,4096]"


def test_bf16_model_types_and_unmapped_ops_become_opaque_with_a_warning():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.logcumsumexp(x, dim=1) + 1.0

    with pytest.warns(UnmappedOpsWarning, match=r"ops kept as opaque \(unmodeled\): "
                                                 r"aten.logcumsumexp.default x1"):
        g = from_torch(Odd(), (torch.randn(2, 5, dtype=torch.bfloat16),))
    g.verify()
    opaque = [n for n in g if n.op == "opaque"]
    assert opaque[0].attributes["target"] == "aten.logcumsumexp.default"
    assert str(opaque[0].output.type) == "bf16[2,5]"
    report = nx.compile(g, target="h100")
    assert report.metrics["unmodeled"] == [opaque[0].name]


def test_module_without_example_inputs_is_one_clear_error():
    with pytest.raises(nx.NexusError, match="needs example_inputs"):
        from_torch(nn.Linear(2, 2))
    with pytest.raises(nx.NexusError, match="has symbolic sizes; give sizes"):
        from_torch(nn.Linear(2, 2), ("f32[b,2]",))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_torch(nn.Linear(2, 2), (torch.randn(1, 2),))          # fully mapped: no warning


def test_compile_takes_a_module_directly():
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    report = nx.compile(model, (torch.randn(8, 16),), target="a100")
    assert report.metrics["macs"] == 8 * (16 * 32 + 32 * 4)
    assert [m.module for m in report.per_module()][:2] in (["0", "2"], ["2", "0"])


class Classifier(nn.Module):
    def __init__(self, cell: type, features: int, hidden: int, classes: int):
        super().__init__()
        self.rnn = cell(features, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize("cell,gates", [(nn.LSTM, 4), (nn.GRU, 3)])
def test_lstm_and_gru_classifiers_cost_every_time_step(cell, gates):
    batch, steps, features, hidden, classes = 4, 9, 12, 20, 3
    g = from_torch(Classifier(cell, features, hidden, classes).eval(),
                   (torch.randn(batch, steps, features),))
    g.verify()
    recurrent = [n for n in g if n.op == "recurrent"]
    assert len(recurrent) == 1 and recurrent[0].source == "rnn"
    per_step = gates * hidden * (features + hidden) + gates * hidden * (hidden + hidden)
    assert macs(g) == batch * steps * per_step + batch * hidden * classes


class Int8MLP(nn.Module):
    """An MLP in the form PT2E's convert_pt2e leaves it: int8 per-channel weights dequantized
    for each linear, activations quantized and dequantized per tensor around it."""

    def __init__(self):
        super().__init__()
        import torch.ao.quantization.fx._decomposed  # noqa: F401  (registers the ops)
        self.register_buffer("w1", torch.randint(-127, 127, (16, 8), dtype=torch.int8))
        self.register_buffer("s1", torch.rand(16) / 100)
        self.register_buffer("z1", torch.zeros(16, dtype=torch.int64))
        self.b1 = nn.Parameter(torch.zeros(16))

    def forward(self, x):
        qd = torch.ops.quantized_decomposed
        xq = qd.quantize_per_tensor(x, 0.05, 0, -128, 127, torch.int8)
        xf = qd.dequantize_per_tensor(xq, 0.05, 0, -128, 127, torch.int8)
        w = qd.dequantize_per_channel(self.w1, self.s1, self.z1, 0, -127, 127, torch.int8)
        return torch.relu(nn.functional.linear(xf, w, self.b1))


def test_pt2e_quantize_dequantize_ops_map_to_ir_with_int8_types():
    g = from_torch(Int8MLP().eval(), (torch.randn(4, 8),))
    g.verify()
    ops = [n.op for n in g]
    assert ops[:3] == ["quantize", "dequantize", "dequantize"]
    quantize = next(n for n in g if n.op == "quantize")
    assert str(quantize.output.type) == "i8[4,8]" and quantize.attributes["axis"] is None
    weight = [n for n in g if n.op == "dequantize"][1]
    assert str(weight.inputs[0].type) == "i8[16,8]" and weight.attributes["axis"] == 0
    assert str(weight.output.type) == "f32[16,8]"
    assert macs(g) == 4 * 16 * 8


@pytest.mark.filterwarnings("ignore::FutureWarning")       # raised inside run_decompositions
@pytest.mark.parametrize("build,inputs", [
    (lambda: EncoderBlock(32, 4), lambda: (torch.randn(2, 9, 32),)),
    (lambda: Decoder(50, 32, 4), lambda: (torch.randint(0, 50, (1, 12)),)),
    (lambda: nn.Sequential(Bottleneck(16, 8, 2), nn.GroupNorm(4, 32)), lambda: (
        torch.randn(1, 16, 8, 8),)),
])
def test_decomposed_programs_lower_to_the_same_macs_with_nothing_unmapped(build, inputs):
    from frontends.pytorch import from_exported
    program = torch.export.export(build().eval(), inputs())
    before = macs(from_exported(program))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnmappedOpsWarning)
        graph = from_exported(program.run_decompositions())
    graph.verify()
    assert macs(graph) == before


def test_pt2_files_load_only_when_trusted(tmp_path):
    import subprocess
    model = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 2)).eval()
    path = tmp_path / "mlp.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(3, 6),)), str(path))
    with pytest.raises(nx.NexusError, match=r"mlp.pt2: loading a .pt2 file unpickles its "
                                            r"weights and constants, which can run code"):
        nx.compile(str(path))
    report = nx.compile(str(path), trust_pickle=True)
    assert report.model == "mlp" and report.metrics["macs"] == 3 * (6 * 10 + 10 * 2)
    cli = [sys.executable, "-m", "nexus_ir.app.cli", "compile", str(path), "--format", "json"]
    refused = subprocess.run(cli, capture_output=True, text=True)
    assert refused.returncode == 2 and "pass trust_pickle=True (CLI: --trust-pickle)" in \
        refused.stderr
    trusted = subprocess.run([*cli, "--trust-pickle"], capture_output=True, text=True)
    assert trusted.returncode == 0 and nx.EnergyReport.from_json(trusted.stdout).metrics[
        "macs"] == 3 * (6 * 10 + 10 * 2)


class FastPathAttention(nn.Module):
    """Calls the eval fast path of nn.MultiheadAttention directly, as it appears in programs."""

    def __init__(self, embed: int, heads: int):
        super().__init__()
        self.embed, self.heads = embed, heads
        self.mha = nn.MultiheadAttention(embed, heads, batch_first=True)

    def forward(self, x, memory):
        m = self.mha
        args = (self.embed, self.heads, m.in_proj_weight, m.in_proj_bias, m.out_proj.weight,
                m.out_proj.bias, None, False)
        own = torch._native_multi_head_attention(x, x, x, *args)[0]
        cross = torch._native_multi_head_attention(x, memory, memory, *args)[0]
        return own + cross


def test_native_multi_head_attention_counts_projections_and_attention():
    embed, heads, batch, length, memory_length = 16, 4, 2, 5, 7
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnmappedOpsWarning)
        g = from_torch(FastPathAttention(embed, heads).eval(),
                       (torch.randn(batch, length, embed), torch.randn(batch, memory_length,
                                                                       embed)))
    g.verify()
    head_dim = embed // heads
    self_attention = batch * length * 3 * embed * embed + \
        batch * heads * length * length * head_dim * 2 + batch * length * embed * embed
    cross = batch * length * embed * embed + 2 * batch * memory_length * embed * embed + \
        batch * heads * length * memory_length * head_dim * 2 + batch * length * embed * embed
    assert macs(g) == self_attention + cross


def test_indexing_and_half_precision():
    class Pick(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)
            self.register_buffer("rows", torch.tensor([0, 2, 3]))

        def forward(self, x):
            return self.proj(x[:, self.rows]) * x.select(1, 0).unsqueeze(1)[:, :, :8]

    g = from_torch(Pick().half().eval(), (torch.randn(2, 5, 8, dtype=torch.float16),))
    g.verify()
    gather = next(n for n in g if n.op == "gather")
    assert gather.attributes["axis"] == 1 and str(gather.output.type) == "f16[2,3,8]"
    assert str(g.outputs[0].type) == "f16[2,3,8]" and str(g.constants["proj.weight"].type) == \
        "f16[8,8]"
    assert macs(g) == 2 * 3 * 8 * 8
    assert not any(n.op == "opaque" for n in g)


def test_example_inputs_may_be_types():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    g = from_torch(model, ("f32[1,3,10,10]",))
    assert str(g.outputs[0].type) == "f32[1,4,8,8]"
    g = from_torch(nn.Embedding(10, 4), (nx.TensorType([2, 3], "i64"),))
    assert str(g.outputs[0].type) == "f32[2,3,4]"


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")     # torch's own
def test_string_padding_same_and_valid():
    model = nn.Sequential(nn.Conv2d(3, 4, 4, padding="same"),            # even kernel: 1 + 2
                          nn.Conv2d(4, 4, 3, padding="same", dilation=2),
                          nn.Conv2d(4, 2, 3, padding="valid")).eval()
    g = from_torch(model, (torch.randn(1, 3, 9, 9),))
    assert [n.attributes["padding"] for n in g if n.op == "conv"] == [
        (1, 1, 2, 2), (2, 2, 2, 2), (0, 0, 0, 0)]
    assert str(g.outputs[0].type) == "f32[1,2,7,7]"
    assert str(g.outputs[0].type) == str(nx.TensorType(list(model(torch.randn(1, 3, 9, 9))
                                                            .shape), "f32"))


class Padded(nn.Module):
    """F.pad in each mode, mode and value positional or by keyword."""

    def forward(self, x):
        x = nn.functional.pad(x, (1, 2), "constant", 0.5)
        x = nn.functional.pad(x, (1, 1, 2, 0), mode="reflect")
        return nn.functional.pad(x, (0, 1), value=-1.0)


def test_padding_keeps_its_mode_and_value():
    g = from_torch(Padded().eval(), (torch.randn(1, 2, 4, 4),))
    pads = [(n.attributes["pads"], n.attributes["mode"], n.attributes["value"])
            for n in g if n.op == "pad"]
    assert pads == [((0, 0, 0, 1, 0, 0, 0, 2), "constant", 0.5),     # begins, then ends
                    ((0, 0, 2, 1, 0, 0, 0, 1), "reflect", 0.0),
                    ((0, 0, 0, 0, 0, 0, 0, 1), "constant", -1.0)]
    assert str(g.outputs[0].type) == "f32[1,2,6,10]" == \
        str(nx.TensorType(list(Padded()(torch.randn(1, 2, 4, 4)).shape), "f32"))


@pytest.mark.parametrize("equation,shapes,macs", [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], 2 * 3 * 4 * 5),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 8), (1, 2, 5, 8)], 2 * 3 * 5 * 8),     # attention scores
    ("bhqk,bhkd->bqhd", [(1, 2, 3, 5), (1, 2, 5, 8)], 2 * 3 * 5 * 8),     # output transposed
    ("ij,j->i", [(3, 4), (4,)], 12), ("i,i->", [(4,), (4,)], 4),
    ("ij->ji", [(3, 4)], 0), ("ijk,jl->il", [(3, 4, 6), (4, 7)], 3 * 4 * 7)])
def test_einsum_lowers_to_contractions_with_exact_macs(equation, shapes, macs):
    """MACs = the product of every label's size over the labels of a two-operand contraction;
    the output has the shape torch computes (a label only one operand has is summed first)."""
    import torch

    import nexus_ir as nx

    class Einsum(torch.nn.Module):
        def forward(self, *xs):
            return torch.einsum(equation, *xs)

    inputs = tuple(torch.randn(s) for s in shapes)
    report = nx.compile(Einsum(), inputs, target="h200")
    assert report.metrics["macs"] == macs and report.metrics["unmodeled"] == []
    graph = nx.load_graph(Einsum(), inputs)
    assert list(graph.outputs[0].type.shape) == list(torch.einsum(equation, *inputs).shape)


def test_einsum_it_cannot_lower_stays_unmodeled():
    import torch

    import nexus_ir as nx

    class Diagonal(torch.nn.Module):
        def forward(self, x):
            return torch.einsum("ii->i", x)

    with pytest.warns(UserWarning, match="aten.einsum"):
        report = nx.compile(Diagonal(), (torch.randn(3, 3),), target="h200")
    assert len(report.metrics["unmodeled"]) == 1


class Positions(nn.Module):
    """Hugging Face-style position arithmetic on a padded batch: the running count of real
    tokens (``cumsum`` of a boolean mask), where it steps (``diff`` with ``prepend``), and the
    two masks joined with ``&``."""

    def forward(self, ids):
        real = ids.ne(0)
        positions = real.cumsum(-1)
        steps = torch.diff(positions, prepend=positions[:, :1] - 1)
        return positions * (real & (steps > 0)).long()


class ScaledScores(nn.Module):
    """``baddbmm``'s scaled scores (ALiBi-style), clamped by ``torch.min`` of two tensors, with a
    running sum, a transpose by ``.T`` and the maximum over everything."""

    def forward(self, bias, q, k):
        scores = torch.baddbmm(bias, q, k.transpose(1, 2), beta=0.5, alpha=0.25)
        scores = torch.min(scores, bias)
        return scores.cumsum(-1) + scores[0].T - torch.max(scores)


@pytest.mark.filterwarnings("ignore:The use of `x.T` on tensors of dimension other than 2")
def test_position_and_score_arithmetic_lowers_to_ir_ops_that_run_as_torch_does():
    from runtime.torch_graph import GraphModule

    ids = torch.tensor([[5, 7, 0, 0, 9], [3, 0, 4, 4, 1]])
    bias, q, k = torch.randn(2, 3, 3), torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    for model, inputs in ((Positions(), (ids,)), (ScaledScores(), (bias, q, k))):
        graph = from_torch(model.eval(), inputs)
        assert not [n for n in graph if n.op == "opaque"]
        with torch.no_grad():
            assert torch.allclose(GraphModule(graph)(*inputs), model(*inputs), atol=1e-5)
    positions = from_torch(Positions().eval(), (ids,))
    casts = [n for n in positions if n.op == "cast"]
    assert str(casts[0].outputs[0].type) == "i64[2,5]"           # the mask, before its cumsum
    assert [n.attributes["axis"] for n in positions if n.op == "cumsum"] == [-1]
    scores = from_torch(ScaledScores().eval(), (bias, q, k))
    assert macs(scores) == 2 * 3 * 3 * 4                       # baddbmm's batched product


def test_integer_bitwise_ops_and_higher_diffs_stay_exact_or_opaque():
    class Bits(nn.Module):
        def forward(self, x):
            return (x & 6) + torch.diff(x, n=2, dim=0).sum()

    x = torch.tensor([[1, 2, 3], [4, 5, 6], [9, 9, 9]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnmappedOpsWarning)
        graph = from_torch(Bits().eval(), (x,))
    assert [n.attributes["target"] for n in graph if n.op == "opaque"] == ["aten.__and__.Scalar"]
    assert [n.op for n in graph].count("sub") == 2                # diff of order 2: twice


@pytest.mark.parametrize("reps", [(1, 1, 1), (2, 1, 3), (2, 1, 1, 2)])
def test_repeat_copies_as_pytorch_does(reps):
    from runtime.torch_graph import GraphModule

    class Repeat(nn.Module):
        def forward(self, x):
            return x.repeat(*reps)

    x = torch.randn(4, 1, 5)
    graph = from_torch(Repeat().eval(), (x,))
    with torch.no_grad():
        assert torch.equal(GraphModule(graph)(x), Repeat()(x))
    concats = [n for n in graph if n.op == "concat"]
    assert len(concats) == max(1, sum(r != 1 for r in reps))     # one copy at least


def test_a_ceil_mode_pool_longer_than_its_input_runs_as_pytorch_does():
    """Hugging Face's EfficientNet pools its last map with ``AvgPool2d(hidden_dim,
    ceil_mode=True)``, a window far longer than the map: one output, the map's mean."""
    from runtime.torch_graph import GraphModule

    pool = nn.AvgPool2d(2560, ceil_mode=True).eval()
    x = torch.randn(1, 4, 2, 2)
    graph = from_torch(pool, (x,))
    assert str(graph.outputs[0].type) == "f32[1,4,1,1]"
    with torch.no_grad():
        assert torch.allclose(GraphModule(graph)(x), pool(x))
    assert nx.compile(graph, target="h100").metrics["flops"] == 4 * (3 + 1)


class Interleaved(nn.Module):
    """GPT-J's rotary interleave (``repeat_interleave``) and ``stack``, DeBERTa's masking
    (``~`` of a boolean mask, ``masked_fill``), and wav2vec2's weight-normalized convolution."""

    def __init__(self):
        super().__init__()
        self.conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(4, 4, 3, padding=1), dim=2)

    def forward(self, x, keep):
        pairs = torch.stack([x, -x], dim=-1).flatten(-2)
        doubled = x.repeat_interleave(2, dim=-1)
        hidden = (pairs + doubled).masked_fill(~keep, -1.0)
        return self.conv(hidden)


def test_interleave_stack_masks_and_weight_norm_run_as_torch_does():
    from runtime.torch_graph import GraphModule

    torch.manual_seed(0)
    model = Interleaved().eval()
    x, keep = torch.randn(2, 4, 3), torch.rand(2, 4, 6) > 0.3
    graph = from_torch(model, (x, keep))
    assert not [n for n in graph if n.op == "opaque"]
    with torch.no_grad():
        assert torch.allclose(GraphModule(graph)(x, keep), model(x, keep), atol=1e-5)
    # the interleave is one copy: 2 unsqueezed views of x joined on a new last dim, then merged
    joined = [n for n in graph if n.op == "concat"]
    assert [str(n.outputs[0].type) for n in joined] == ["f32[2,4,3,2]", "f32[2,4,3,2]"]


class Pooled(nn.Module):
    """CLIP's text pooling, the hidden state at each row's highest token id
    (``x[arange(B), ids.argmax(-1)]``), and a pick of rows and columns from the end."""

    def forward(self, hidden, ids):
        rows = torch.arange(hidden.shape[0])
        picked = hidden[rows, ids.argmax(-1)]
        corner = hidden[:, torch.tensor([-1, 0]), torch.tensor([[1], [-2]])]
        return picked.sum() + corner.sum(dim=(1, 2))


def test_several_index_tensors_on_consecutive_dims_are_one_index_op():
    from runtime.torch_graph import GraphModule

    torch.manual_seed(0)
    hidden, ids = torch.randn(3, 5, 4), torch.randint(0, 100, (3, 5))
    graph = from_torch(Pooled().eval(), (hidden, ids))
    indexed = [n for n in graph if n.op == "index"]
    assert [(str(n.outputs[0].type), n.attributes["axis"]) for n in indexed] == [
        ("f32[3,4]", 0), ("f32[3,2,2]", 1)]
    assert not [n for n in graph if n.op == "opaque"]
    with torch.no_grad():
        assert torch.allclose(GraphModule(graph)(hidden, ids), Pooled()(hidden, ids))


@pytest.mark.parametrize("options,mode", [({"scale_factor": 2, "mode": "nearest"}, "nearest"),
                                          ({"size": (7, 9), "mode": "bilinear",
                                            "align_corners": True}, "linear"),
                                          ({"scale_factor": 1.5, "mode": "bicubic"}, "cubic")])
def test_interpolation_is_a_resize_that_runs_as_torch_does(options, mode):
    from runtime.torch_graph import GraphModule

    class Interpolate(nn.Module):
        def forward(self, x):
            return nn.functional.interpolate(x, **options)

    x = torch.randn(1, 2, 4, 6)
    graph = from_torch(Interpolate().eval(), (x,))
    resize, = [n for n in graph if n.op == "resize"]
    assert resize.attributes["mode"] == mode
    with torch.no_grad():
        expected = Interpolate()(x)
        assert torch.allclose(GraphModule(graph)(x), expected, atol=1e-6)
    # per output: nearest copies; bilinear, 3 lerps of an add (1 FLOP) and an fma (2);
    # bicubic, 16 fma
    per_output = {"nearest": 0, "linear": 3 * (1 + 2), "cubic": 16 * 2}[mode]
    assert nx.compile(graph, target="h100").metrics["flops"] == per_output * expected.numel()


class Norms(nn.Module):
    """ConvNeXt-V2's global response norm (the 2-norm over space), RWKV's ``square``, Mamba's
    ``tensor_split`` and LeViT's ``reshape_as``."""

    def forward(self, x):
        spatial = torch.linalg.vector_norm(x, ord=2, dim=(2, 3), keepdim=True)
        largest = torch.linalg.vector_norm(x, ord=float("inf"), dim=1, keepdim=True)
        first, rest = torch.tensor_split(torch.square(x), [1], dim=1)
        return (first * spatial[:, :1] + rest.sum(1, keepdim=True) + largest).reshape_as(x[:, :1])


def test_norms_squares_and_splits_run_as_torch_does():
    from runtime.torch_graph import GraphModule

    x = torch.randn(2, 3, 4, 5)
    graph = from_torch(Norms().eval(), (x,))
    assert not [n for n in graph if n.op == "opaque"]
    with torch.no_grad():
        assert torch.allclose(GraphModule(graph)(x), Norms()(x), atol=1e-5)
    split, = [n for n in graph if n.op == "split"]
    assert split.attributes["sizes"] == (1, 2)
