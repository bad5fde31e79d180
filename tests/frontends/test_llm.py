"""Decoder LLMs from transformers configs: prefill and decode graphs, their traffic and counts by
hand, the joules-per-token sweep, capacity, and the ``nexus llm`` command."""

import json
import subprocess
import sys

import pytest

import nexus_ir as nx
from frontends.llm import decoder_graph, decoder_spec, expected_experts
from lowering.target import load_target
from nexus_ir.app.llm import llm

LLAMA3_8B = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
             "vocab_size": 128256, "tie_word_embeddings": False}
TINY = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
        "vocab_size": 1000, "tie_word_embeddings": True}


def test_llama3_8b_decode_step_reads_the_weights_and_the_cache_once():
    """Batch 1, a cache of 8192 positions, written in place (cuda-graph, as engines run): the
    step reads every matrix once (the embedding table only for the token's row), the cache
    once, writes the new token's K and V and the logits; activations stay on chip, but for the
    share of the matrix ops' outputs the weight stream pushes out (``matrix_writeback``: q, k,
    attention, o, gate, up, down per layer; v goes into the cache in place)."""
    d, vocab, layers, kv, hd, past = 4096, 128256, 32, 8, 128, 8192
    spec = decoder_spec(LLAMA3_8B)
    assert spec.parameters() == 8_030_261_248
    m = nx.compile(decoder_graph(spec, "decode"), target="h200", execution="cuda-graph",
                   bindings={"batch": 1, "past": past}).metrics
    matrices = layers * (d * d * 2 + d * kv * hd * 2 + 3 * d * 14336) + vocab * d
    norms = (2 * layers + 1) * d
    cache = layers * 2 * kv * past * hd * 2                          # 1.07 GB
    new_kv = layers * 2 * kv * hd * 2
    rope = layers * 2 * 2 * hd * 2                                   # cos and sin, for q and k
    share = load_target("h200").matrix_writeback["bf16"].value
    written_back = layers * sum(round(2 * width * share)
                                for width in (d, kv * hd, d, d, 14336, 14336, d))
    assert m["off_chip_bytes"] == (matrices + norms) * 2 + 4 * (2 * layers + 1) + cache + \
        new_kv + rope + d * 2 + 8 + vocab * 2 + written_back  # + embedding row, token id, logits
    assert cache == 1_073_741_824


def test_transformers_dynamic_cache_moves_the_cache_three_times():
    """Eager transformers concatenates: the step also reads the old cache (past − 1 positions)
    and writes the grown one (past) before attention reads it; the new token's K and V go into
    that write instead of one of their own, so V's projection is an on-chip output the weight
    stream pushes out in part (``matrix_writeback``), as K's already is."""
    spec = decoder_spec(LLAMA3_8B)
    append = nx.compile(decoder_graph(spec, "decode"), target="h200", execution="cuda-graph",
                        bindings={"batch": 1, "past": 8192}).metrics
    concat = nx.compile(decoder_graph(spec, "decode", cache="concat"), target="h200",
                        execution="cuda-graph", bindings={"batch": 1, "past_old": 8191}).metrics
    per_position = 32 * 2 * 8 * 128 * 2
    share = load_target("h200").matrix_writeback["bf16"].value
    assert concat["off_chip_bytes"] - append["off_chip_bytes"] == \
        per_position * (8191 + 8192 - 1) + 32 * round(8 * 128 * 2 * share)


def test_grouped_query_attention_counts_by_hand():
    """Decode, batch 2, past 100: per layer Q·Kᵀ and P·V over 4 query heads of 16 dims read the
    2 KV heads' cache: 2·4·100·(16 + 16) fma, plus the four projections."""
    spec = decoder_spec(TINY)
    report = nx.compile(decoder_graph(spec, "decode"), target="h200", execution="cuda-graph",
                        bindings={"batch": 2, "past": 100})
    attention = [n for n in report.nodes if n.op == "attention"]
    assert [n.macs for n in attention] == [2 * 4 * 100 * 32] * 2
    projections = 2 * (64 * 64 * 2 + 64 * 32 * 2)                    # q, o; k, v per token
    mlp = 2 * 3 * 64 * 128
    assert report.metrics["macs"] == 2 * (2 * 4 * 100 * 32 + projections + mlp) + 2 * 64 * 1000


def test_moe_reads_only_the_experts_its_tokens_pick():
    """Mixtral-style, 8 experts, 2 per token: one token reads 2 experts' weights; four tokens
    8·(1 − (6/8)⁴) = 5.47, so 6."""
    config = {**TINY, "model_type": "mixtral", "num_local_experts": 8, "num_experts_per_tok": 2}
    spec = decoder_spec(config)
    assert expected_experts(spec, 1) == 2 and expected_experts(spec, 4) == 6
    graph = decoder_graph(spec, "decode", routed_tokens=1)
    report = nx.compile(graph, target="h200", execution="cuda-graph", warm=False,
                        bindings={"batch": 1, "past": 10})
    experts = [n for n in report.nodes if n.source.endswith("block_sparse_moe.experts")]
    assert sum(n.macs for n in experts) == 2 * 2 * 3 * 64 * 128      # layers · k · 3 matrices
    weights = sum(c.type.nbytes for name, c in graph.constants.items() if ".experts." in name)
    assert weights == 2 * 3 * 2 * 64 * 128 * 2                        # layers · 3 · 2 experts
    with pytest.raises(nx.NexusError, match="mixture of experts: give routed_tokens"):
        decoder_graph(spec, "decode")


def test_a_tiny_transformers_model_runs_end_to_end():
    transformers = pytest.importorskip("transformers")
    import torch

    config = transformers.LlamaConfig(**{k: v for k, v in TINY.items() if k != "model_type"})
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)            # no weights allocated
    rows = nx.llm(model, "h200", batch=[1, 4], context=[16, 64], generate=8)
    assert [(r.batch, r.context, r.phase) for r in rows] == [
        (b, c, p) for b in (1, 4) for c in (16, 64) for p in ("prefill", "decode")]
    assert all(r.fits and r.j_per_token > 0 and r.s_per_token > 0 for r in rows)
    prefill, decode = rows[0], rows[1]
    assert prefill.j_per_request == decode.j_per_request
    assert decode.tokens_per_s == pytest.approx(1 / decode.s_per_token)
    assert decoder_spec(config) == decoder_spec(model)
    frame = rows.to_dataframe()
    assert list(frame["phase"])[:2] == ["prefill", "decode"] and len(frame) == 8
    gpt2 = decoder_spec(transformers.GPT2Config())
    assert (gpt2.layers, gpt2.d_model, gpt2.heads, gpt2.ffn, gpt2.norm, gpt2.rope) == \
        (12, 768, 12, 3072, "layer", False)
    nx.compile(decoder_graph(gpt2, "prefill"), target="h200", bindings={"batch": 1, "seq": 32})


def test_a_point_that_does_not_fit_is_marked_and_not_costed():
    """Llama-3-8B at batch 256 × context 8192: 275 GB of KV cache on an 80 GB H100."""
    rows = llm(LLAMA3_8B, "h100", batch=[256], context=[8192], generate=256)
    assert [r.phase for r in rows] == ["prefill", "decode"]
    for r in rows:
        assert not r.fits and r.j_per_token is None and r.s_per_token is None
        assert r.kv_cache_bytes == 256 * (8192 + 256) * 32 * 8 * 128 * 2 * 2
        assert r.memory_bytes > r.capacity_bytes == 85_899_345_920


def test_compile_warns_in_one_line_when_a_model_does_not_fit():
    from nexus_ir.app.examples import decoder
    graph = decoder(layers=80, d_model=8192, ffn=28672, heads=64, kv_heads=8)
    with pytest.warns(UserWarning, match=r"does not fit h100: hbm3 needs 141 GB of 85.9 GB"):
        report = nx.compile(graph, target="h100", bindings={"batch": 1, "seq": 16})
    assert report.metrics["fits"] is False
    small = nx.compile("example:cnn", target="cortex-m", bindings={"batch": 1}).metrics
    assert small["fits"] and set(small["memory_needed"]) == {"flash", "sram"}


@pytest.mark.parametrize("bad,message", [
    ({"model_type": "bert"}, "model_type 'bert' is not a decoder NEXUS knows"),
    ("/nonexistent/config.json", "does not exist: give a transformers config.json")])
def test_bad_models_are_one_line(bad, message):
    with pytest.raises(nx.NexusError, match=message):
        decoder_spec(bad)


def test_the_llm_command_prints_the_table_and_writes_json(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY))
    run = [sys.executable, "-m", "nexus_ir.app.cli", "llm", str(config), "--batch", "1", "8",
           "--context", "32", "--generate", "4"]
    table = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "J/token" in table and "prefill" in table and "decode" in table
    out = tmp_path / "rows.json"
    subprocess.run([*run, "--format", "json", "-o", str(out)], capture_output=True, check=True)
    rows = json.loads(out.read_text())["rows"]
    assert [(r["batch"], r["phase"]) for r in rows] == [(1, "prefill"), (1, "decode"),
                                                        (8, "prefill"), (8, "decode")]
    assert {"batch", "context", "phase", "j_per_token", "s_per_token", "fits"} <= set(rows[0])
    bad = subprocess.run([*run[:4], str(tmp_path / "missing.json")], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_stock_transformers_decoders_compile_out_of_the_box(tmp_path):
    """A GPT-2 model object (its DynamicCache never gets in the way: the prefill graph comes from
    the architecture), batch and seq read off the example token ids. 2 layers, d 64, 4 heads,
    MLP 256, 10 tokens: per layer 10·(4·64²) projection and 10·2·64·256 MLP MACs, 4·10·10·32
    attention; the LM head on the last token, 64·500."""
    transformers = pytest.importorskip("transformers")
    import torch

    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=500,
                                     bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(config)
    report = nx.compile(model, (torch.zeros(1, 10, dtype=torch.long),), target="h200")
    per_layer = 10 * 4 * 64 * 64 + 10 * 2 * 64 * 256 + 4 * 10 * 10 * 32
    assert report.metrics["macs"] == 2 * per_layer + 64 * 500
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    from_file = nx.compile(str(path), target="h200", bindings={"batch": 1, "seq": 10})
    assert from_file.metrics["macs"] == report.metrics["macs"]


def test_a_mixture_of_experts_compiles_from_its_example_token_ids():
    """A Mixtral-style model object with 8 experts, 2 per token: its prefill over 1 × 4 example
    tokens reaches 8·(1 − (6/8)⁴) = 5.47, so 6 experts, whose weights (f32, the model's) are in
    the graph; without token ids there is nothing to size them by, and the error says so."""
    transformers = pytest.importorskip("transformers")
    import torch

    from nexus_ir.app.api import prepare

    config = transformers.MixtralConfig(hidden_size=64, intermediate_size=128,
                                        num_hidden_layers=2, num_attention_heads=4,
                                        num_key_value_heads=2, vocab_size=1000,
                                        num_local_experts=8, num_experts_per_tok=2)
    model = transformers.MixtralForCausalLM(config).eval()
    graph = prepare(model, {"input_ids": torch.zeros(1, 4, dtype=torch.long)}).graph
    weights = sum(c.type.nbytes for name, c in graph.constants.items() if ".experts." in name)
    assert weights == 2 * 3 * 6 * 64 * 128 * 4                        # layers · 3 · 6 experts
    with pytest.raises(nx.NexusError, match="mixture of experts: give example input_ids "
                                            r"\[batch, seq\] .* or use nexus llm"):
        nx.compile(config, target="h200")


def test_static_cache_writes_move_only_the_new_positions():
    """A decode step as static-cache code writes it: ``index_copy_`` of the new K and V into
    64-position caches, then attention over them. The writes move the new token's bytes (read
    and written), attention reads each cache once; nothing is unmodeled."""
    import torch

    class Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("k_cache", torch.zeros(1, 2, 64, 16))
            self.register_buffer("v_cache", torch.zeros(1, 2, 64, 16))

        def forward(self, q, k, v, pos):
            self.k_cache.index_copy_(2, pos, k)
            self.v_cache[:, :, pos] = v                             # index_put_
            return torch.nn.functional.scaled_dot_product_attention(q, self.k_cache,
                                                                    self.v_cache)

    new = torch.randn(1, 2, 1, 16)
    report = nx.compile(Step(), (new, new, new, torch.tensor([5])), target="h200",
                        execution="cuda-graph")
    assert report.metrics["unmodeled"] == []
    writes = [n for n in report.nodes if n.op == "update"]
    token = 2 * 16 * 4
    assert len(writes) == 2 and all(n.on_chip_bytes == 2 * token for n in writes)
    attention, = (n for n in report.nodes if n.op == "attention")
    cache = 2 * 64 * 16 * 4
    assert attention.on_chip_bytes == token + 2 * cache + token     # q, both caches, output


def test_moe_routing_from_calibration_inputs():
    """A router that always picks the same 2 of 4 experts reads 2 experts' weights however many
    tokens come, where uniform routing reads 4·(1 − (1/2)^4) = 3.75, so 4, for 4 tokens; the
    load read off a transformers Mixtral sums to k per token."""
    transformers = pytest.importorskip("transformers")
    import torch

    from frontends.llm import routing_load

    config = transformers.MixtralConfig(hidden_size=32, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2,
                                        intermediate_size=64, vocab_size=100,
                                        num_local_experts=4, num_experts_per_tok=2)
    torch.manual_seed(0)
    model = transformers.MixtralForCausalLM(config).eval()
    load = routing_load(model, [torch.randint(0, 100, (2, 5)), torch.randint(0, 100, (1, 7))])
    assert len(load) == 4 and sum(load) == pytest.approx(2.0)
    spec = decoder_spec(model)
    assert expected_experts(spec, 4) == 4 and expected_experts(spec, 4, [1, 1, 0, 0]) == 2
    skewed = llm(model, "h200", batch=[4], context=[8], generate=2, routing=[1, 1, 0, 0])
    uniform = llm(model, "h200", batch=[4], context=[8], generate=2)
    assert skewed[1].j_per_token < uniform[1].j_per_token
    with pytest.raises(nx.NexusError, match="routing load names 3 experts; the model has 4"):
        expected_experts(spec, 4, [1, 1, 0])


@pytest.mark.parametrize("name,extra", [
    ("MistralConfig", {"sliding_window": 16}), ("Qwen2Config", {}), ("GemmaConfig", {}),
    ("Phi3Config", {}), ("GPTNeoXConfig", {}), ("Qwen3Config", {})])
def test_every_known_family_builds_both_phases(name, extra):
    """Tiny configs of each family read into a spec whose decode step costs; a sliding window
    caps the cache a decode step reads."""
    transformers = pytest.importorskip("transformers")
    config = getattr(transformers, name)(hidden_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=4,
                                         intermediate_size=128, vocab_size=256, **extra)
    spec = decoder_spec(config)
    assert (spec.layers, spec.d_model, spec.heads) == (2, 64, 4)
    rows = llm(config, "h200", batch=[2], context=[64], generate=8)
    assert all(r.fits and r.j_per_token > 0 for r in rows)
    if extra:
        assert spec.sliding_window == 16 and rows[0].kv_cache_bytes == \
            2 * 16 * spec.kv_bytes_per_token(16)
