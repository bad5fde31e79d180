"""What users check first: parameter counts by the conventions everyone quotes (tied weights
once, buffers apart, modules the forward never runs not at all) and example inputs in every
form a PyTorch or transformers user writes them."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch frontend needs torch (.ci/run installs "
                                             "torch==2.13.0)")
from torch import nn  # noqa: E402

import nexus_ir as nx  # noqa: E402
from frontends.pytorch import from_torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from torch_models import resnet50  # noqa: E402


def counts(model, inputs, target="h100") -> tuple[int, int, int]:
    m = nx.compile(model, inputs, target=target).metrics
    return m["parameters"], m["buffers"], m["model_bytes"]


def test_resnet50_parameters_as_published_and_batch_norm_statistics_apart():
    with torch.device("meta"):
        model = resnet50().eval()
    params, buffers, nbytes = counts(model, (torch.zeros(1, 3, 224, 224, device="meta"),))
    assert params == 25_557_032                     # torchvision's published ResNet-50 count
    # running mean and variance of every batch norm: 2 × the 26,560 normalized channels
    # (stem 64; per bottleneck width, width, 4·width, plus 4·width per downsample)
    channels = 64 + sum(blocks * 6 * w + 4 * w for blocks, w in
                        ((3, 64), (4, 128), (6, 256), (3, 512)))
    assert channels == 26_560 and buffers == 2 * channels
    assert nbytes == 4 * (params + buffers)          # f32; num_batches_tracked is never read


def gpt2_small_parameters(d=768, layers=12, vocab=50257, positions=1024) -> int:
    """Token and position embeddings, per block 4d² (attention) + 8d² (MLP) weights with
    3d + d + 4d + d biases and two layer norms (4d), a final layer norm; the LM head is the
    token embedding (tied)."""
    block = 12 * d * d + 13 * d
    return vocab * d + positions * d + layers * block + 2 * d


def gpt2(**kwargs):
    transformers = pytest.importorskip("transformers")
    with torch.device("meta"):
        return transformers.GPT2LMHeadModel(
            transformers.GPT2Config(use_cache=False, **kwargs)).eval()


def test_gpt2_small_counts_its_tied_head_once_on_both_paths():
    model = gpt2()
    ids = torch.zeros(1, 8, dtype=torch.long, device="meta")
    assert gpt2_small_parameters() == 124_439_808
    params, buffers, nbytes = counts(model, (ids,))              # the decoder frontend
    assert (params, nbytes) == (124_439_808, 4 * 124_439_808)   # f32 weights, as the model's
    graph = from_torch(gpt2(n_layer=2), (ids,))                  # torch.export
    report = nx.compile(graph, target="h100")
    assert report.metrics["parameters"] == gpt2_small_parameters(layers=2)


def test_t5_named_inputs_skip_the_optional_attention_mask():
    transformers = pytest.importorskip("transformers")
    with torch.device("meta"):
        model = transformers.T5ForConditionalGeneration(
            transformers.T5Config(use_cache=False)).eval()       # t5-small's sizes
    ids = torch.zeros(1, 8, dtype=torch.long, device="meta")
    params, _, _ = counts(model, {"input_ids": ids, "decoder_input_ids": ids})
    assert params == 60_506_624                      # t5-small's published count (shared embedding)


class TiedWithAuxiliaryHead(nn.Module):
    """An embedding whose matrix is also the output projection, and an auxiliary head that
    only training would run (GoogLeNet's aux classifiers)."""

    def __init__(self, vocab=50, d=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.embed.weight
        self.aux = nn.Linear(d, 7)
        self.norm = nn.BatchNorm1d(d)

    def forward(self, ids):
        return self.head(self.norm(self.embed(ids).mean(1)))


def test_tied_weights_once_and_unused_modules_not_at_all_with_real_data():
    model = TiedWithAuxiliaryHead().eval()
    params, buffers, nbytes = counts(model, (torch.zeros(2, 5, dtype=torch.long),))
    assert params == 50 * 16 + 2 * 16                # embedding (= head) and the norm's affine
    assert buffers == 2 * 16
    assert nbytes == 4 * (params + buffers)


def test_roles_survive_the_json_round_trip_and_made_constants_are_not_parameters():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).eval()
    g = from_torch(model, (torch.zeros(2, 4),))
    again = nx.Graph.from_json(g.to_json())
    roles = {c.name: c.role for c in again.constants.values()}
    assert roles == {c.name: c.role for c in g.constants.values()}
    assert roles["0.weight"] == "parameter" and roles["1.running_var"] == "buffer"
    with pytest.raises(nx.NexusError, match="role 'weights' is not one of"):
        nx.Graph("g").add_constant("w", np.zeros(2), role="weights")


def test_a_bare_tensor_a_tuple_and_a_dict_are_the_same_example():
    model = nn.Linear(4, 3).eval()
    x = torch.zeros(2, 4)
    macs = {repr(form)[:5]: nx.compile(model, form, target="h100").metrics["macs"]
            for form in (x, (x,), {"input": x})}
    assert set(macs.values()) == {2 * 4 * 3}
