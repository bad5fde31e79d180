"""Decoder-only language models from their architecture: a transformers config (a
``PretrainedConfig``, a model holding one, a ``config.json`` path or a dict) to the NEXUS graph of
one inference phase, with shape-only weights (nothing is downloaded or allocated).

The graphs are what Hugging Face's eager code runs, op by op (``LlamaRMSNorm`` as its seven
elementwise steps, rotary embeddings as ``q·cos + rotate_half(q)·sin``, SDPA with grouped KV
heads), in two phases:

- ``prefill``: ``batch × seq`` prompt tokens, causal attention over the prompt; every layer's
  K and V are written once (graph outputs: the cache being filled); logits of the last position.
- ``decode``: one new token per sequence against a cache of ``past`` positions (the new one
  included). With ``cache="append"`` (engines, static or paged caches) the new K/V are written
  and attention reads the cache once; with ``cache="concat"`` (transformers' ``DynamicCache``)
  the step also reads the old cache and writes the grown one (``torch.cat``) before attention
  reads it.

Symbols: ``batch``, ``seq`` (prefill), ``past`` (decode), so one graph costs every point by
binding them. Mixture-of-experts layers route each token to ``experts_per_token`` of
``experts``; the weights read are those of the experts some token picked, expected over uniform
routing — ``E·(1 − (1 − k/E)^T)`` for ``T`` routed tokens — or over the load a model's router
showed on calibration inputs (``routing_load``); a number fixed at build time, so MoE graphs are
built per batch and sequence length. Sliding-window attention reads at most
``sliding_window`` cached positions (the caller binds ``past`` accordingly).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_ir import Graph, NexusError, Value

PHASES = ("prefill", "decode")
CACHES = ("append", "concat")
FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "mixtral",
            "gpt2", "gpt_neox")
"""``model_type`` values whose architecture this module knows."""


@dataclass(frozen=True)
class DecoderSpec:
    """The numbers of a decoder's architecture that set its cost."""

    name: str
    family: str
    layers: int
    d_model: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    norm: str                      # "rms" (Llama-style, as HF eager runs it) or "layer"
    gated_mlp: bool                # SwiGLU/GeGLU (gate, up, down) or a plain two-layer MLP
    activation: str                # "silu", "gelu" or "gelu_tanh"
    qkv_bias: bool
    rope: bool                     # rotary embeddings (else learned absolute positions)
    parallel_residual: bool        # GPT-NeoX: attention and MLP read the same input
    sliding_window: int | None
    experts: int                   # 0 for a dense MLP
    experts_per_token: int
    tied_embeddings: bool

    def parameters(self) -> int:
        """Weights of the model (embeddings counted once when tied)."""
        attn = self.d_model * self.head_dim * (self.heads * 2 + self.kv_heads * 2)
        mlp = self.d_model * self.ffn * (3 if self.gated_mlp else 2)
        if self.experts:
            mlp = mlp * self.experts + self.d_model * self.experts
        norms = 2 * self.d_model
        head = 0 if self.tied_embeddings else self.vocab * self.d_model
        positions = 0 if self.rope else 1024 * self.d_model
        return self.layers * (attn + mlp + norms) + self.vocab * self.d_model + head + \
            self.d_model + positions

    def kv_bytes_per_token(self, kv_bits: int) -> int:
        """Bytes of K and V one cached position holds over all layers."""
        return self.layers * self.kv_heads * self.head_dim * 2 * kv_bits // 8


def read_config(model: Any) -> dict[str, Any]:
    if isinstance(model, dict):
        return dict(model)
    if isinstance(model, (str, Path)):
        path = Path(model)
        path = path / "config.json" if path.is_dir() else path
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise NexusError(f"{path} does not exist: give a transformers config.json, its "
                             "folder, a config or a model") from None
        except json.JSONDecodeError as err:
            raise NexusError(f"{path} is not JSON: {err}") from None
    config = getattr(model, "config", model)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    raise NexusError(f"cannot read a decoder architecture from a {type(model).__name__}: give a "
                     "transformers config, a model holding one, a config.json or a dict")


def decoder_spec(model: Any) -> DecoderSpec:
    """The architecture of a transformers decoder (config, model, config.json path or dict);
    one line naming the problem when it is no decoder this module knows."""
    c = read_config(model)
    c = {**c.get("text_config", {}), **c} if "text_config" in c and "hidden_size" not in c \
        else c
    family = c.get("model_type", "")
    if family not in FAMILIES:
        raise NexusError(f"model_type {family!r} is not a decoder NEXUS knows (known: "
                         f"{', '.join(FAMILIES)})")
    gpt2 = family == "gpt2"
    d = c["n_embd"] if gpt2 else c["hidden_size"]
    heads = c["n_head"] if gpt2 else c["num_attention_heads"]
    ffn = (c.get("n_inner") or 4 * d) if gpt2 else c["intermediate_size"]
    act = c.get("activation_function" if gpt2 else "hidden_act", "silu")
    window = c.get("sliding_window") if c.get("use_sliding_window", True) else None
    return DecoderSpec(
        name=c.get("_name_or_path") or family, family=family,
        layers=c["n_layer"] if gpt2 else c["num_hidden_layers"], d_model=d, heads=heads,
        kv_heads=c.get("num_key_value_heads") or heads,
        head_dim=c.get("head_dim") or d // heads, ffn=ffn, vocab=c["vocab_size"],
        norm="layer" if family in ("gpt2", "gpt_neox") else "rms",
        gated_mlp=family not in ("gpt2", "gpt_neox"),
        activation="silu" if act == "silu" else "gelu" if act in ("gelu", "gelu_new") and
        not gpt2 else "gelu_tanh",
        qkv_bias=family in ("qwen2", "gpt2", "gpt_neox") or bool(c.get("attention_bias")),
        rope=not gpt2, parallel_residual=bool(c.get("use_parallel_residual", False)),
        sliding_window=int(window) if window else None,
        experts=int(c.get("num_local_experts") or 0),
        experts_per_token=int(c.get("num_experts_per_tok") or 0),
        tied_embeddings=bool(c.get("tie_word_embeddings", gpt2)))


def expected_experts(spec: DecoderSpec, tokens: int,
                     load: Sequence[float] | None = None) -> int:
    """Experts whose weights one layer reads for ``tokens`` routed tokens, expected and rounded
    up: ``Σ_e 1 − (1 − p_e)^T`` with ``p_e`` the chance a token picks expert e — ``load``
    (from ``routing_load``) or uniform, ``k/E``, which gives ``E·(1 − (1 − k/E)^T)``."""
    e, k = spec.experts, spec.experts_per_token
    probabilities = load if load is not None else [k / e] * e
    if len(probabilities) != e:
        raise NexusError(f"the routing load names {len(probabilities)} experts; the model has {e}")
    touched = sum(1.0 - (1.0 - min(max(p, 0.0), 1.0)) ** tokens for p in probabilities)
    return max(k, min(e, math.ceil(touched - 1e-9)))


def routing_load(model: Any, inputs: Sequence[Any]) -> list[float]:
    """The chance a token picks each expert, read off a transformers mixture-of-experts model's
    router on calibration ``inputs`` (token-id tensors): the share of tokens whose top-k holds
    the expert, averaged over layers. Needs the model's real weights to mean anything."""
    import torch

    spec = decoder_spec(model)
    if not spec.experts:
        raise NexusError(f"{spec.name} has no experts to route")
    picks = torch.zeros(spec.experts)
    tokens = 0
    with torch.no_grad():
        for ids in inputs:
            logits = model(ids, output_router_logits=True).router_logits
            for layer in logits:
                top = layer.topk(spec.experts_per_token, dim=-1).indices.flatten()
                picks += torch.bincount(top, minlength=spec.experts).float()
                tokens += layer.shape[0]
    if not tokens:
        raise NexusError("routing_load needs at least one calibration input")
    return (picks / tokens).tolist()


class _Builder:
    """One phase's graph, built op by op as HF's eager code runs it."""

    def __init__(self, spec: DecoderSpec, phase: str, dtype: str, weights: str, kv: str,
                 cache: str, routed: int | None, load: Sequence[float] | None) -> None:
        self.s, self.phase, self.dt, self.wdt, self.kvdt = spec, phase, dtype, weights, kv
        self.cache, self.routed, self.load = cache, routed, load
        self.g = Graph(f"{spec.name}:{phase}")
        self.seq = "seq" if phase == "prefill" else 1

    def weight(self, path: str, *shape: int) -> Value:
        w = self.g.add_constant(path, type_=f"{self.wdt}[{','.join(map(str, shape))}]")
        if self.wdt == self.dt:
            return w
        return self.g.op("dequantize", w, self.g.add_constant(
            f"{path}.scale", type_=f"f32[{shape[0]}]", role="constant"), axis=0, to=self.dt,
            source=path)

    def linear(self, x: Value, path: str, out: int, inp: int, bias: bool = False) -> Value:
        args = [x, self.weight(f"{path}.weight", out, inp)]
        if bias:
            args.append(self.g.add_constant(f"{path}.bias", type_=f"{self.dt}[{out}]"))
        return self.g.op("linear", *args, source=path)

    def norm(self, x: Value, path: str) -> Value:
        s, g = self.s, self.g
        if s.norm == "layer":
            return g.op("layer_norm", x, g.add_constant(f"{path}.weight", type_=f"{self.dt}"
                                                        f"[{s.d_model}]"),
                        g.add_constant(f"{path}.bias", type_=f"{self.dt}[{s.d_model}]"),
                        source=path)
        h = g.op("cast", x, to="f32", source=path)          # LlamaRMSNorm, step by step
        var = g.op("reduce_mean", g.op("mul", h, h, source=path), axes=[-1], keepdims=True,
                   source=path)
        eps = g.add_constant(f"{path}.eps", type_="f32[1]", role="constant")
        h = g.op("mul", h, g.op("rsqrt", g.op("add", var, eps, source=path), source=path),
                 source=path)
        w = g.add_constant(f"{path}.weight", type_=f"{self.dt}[{s.d_model}]")
        return g.op("mul", w, g.op("cast", h, to=self.dt, source=path), source=path)

    def heads(self, x: Value, n: int, path: str) -> Value:
        x = self.g.op("reshape", x, shape=["batch", self.seq, n, self.s.head_dim], source=path)
        return self.g.op("transpose", x, perm=[0, 2, 1, 3], source=path)

    def rotary(self, x: Value, cos: Value, sin: Value, path: str) -> Value:
        """``x·cos + rotate_half(x)·sin``: rotate_half is two slices, a negation and a concat."""
        g, half = self.g, self.s.head_dim // 2
        first = g.op("slice", x, axes=[-1], starts=[0], ends=[half], source=path)
        second = g.op("slice", x, axes=[-1], starts=[half], ends=[2 ** 31 - 1], source=path)
        rotated = g.op("concat", g.op("neg", second, source=path), first, axis=-1, source=path)
        return g.op("add", g.op("mul", x, cos, source=path),
                    g.op("mul", rotated, sin, source=path), source=path)

    def attention(self, h: Value, i: int, tables: tuple[Value, Value] | None) -> Value:
        s, g, p = self.s, self.g, f"layers.{i}.self_attn"
        q = self.heads(self.linear(h, f"{p}.q_proj", s.heads * s.head_dim, s.d_model,
                                   s.qkv_bias), s.heads, p)
        k = self.heads(self.linear(h, f"{p}.k_proj", s.kv_heads * s.head_dim, s.d_model,
                                   s.qkv_bias), s.kv_heads, p)
        v = self.heads(self.linear(h, f"{p}.v_proj", s.kv_heads * s.head_dim, s.d_model,
                                   s.qkv_bias), s.kv_heads, p)
        if tables:
            q, k = (self.rotary(t, *tables, p) for t in (q, k))
        if self.kvdt != self.dt:
            k, v = (g.op("cast", t, to=self.kvdt, source=p) for t in (k, v))
        if self.phase == "prefill":
            g.set_outputs(*g.outputs, k, v)                  # the cache, written once
            keys, values = k, v
        else:
            keys, values = self._cached(k, v, i)
        if self.kvdt != self.dt:
            keys, values = (g.op("cast", t, to=self.dt, source=p) for t in (keys, values))
        a = g.op("attention", q, keys, values, causal=self.phase == "prefill",
                 enable_gqa=s.kv_heads != s.heads, source=p)
        a = g.op("reshape", g.op("transpose", a, perm=[0, 2, 1, 3], source=p),
                 shape=["batch", self.seq, s.heads * s.head_dim], source=p)
        return self.linear(a, f"{p}.o_proj", s.d_model, s.heads * s.head_dim,
                           s.family in ("gpt2", "gpt_neox"))

    def _cached(self, k: Value, v: Value, i: int) -> tuple[Value, Value]:
        """The cache attention reads at a decode step (module doc): ``past`` positions."""
        s, g, p = self.s, self.g, f"layers.{i}.self_attn"
        if self.cache == "append":
            g.set_outputs(*g.outputs, k, v)                  # the new position, written
            shape = f"{self.kvdt}[batch,{s.kv_heads},past,{s.head_dim}]"
            return (g.add_input(f"past_key.{i}", shape), g.add_input(f"past_value.{i}", shape))
        shape = f"{self.kvdt}[batch,{s.kv_heads},{{}},{s.head_dim}]"
        old = [g.add_input(f"past_{n}.{i}", shape.format("past_old")) for n in ("key", "value")]
        grown = [g.op("concat", o, new, axis=2, source=p) for o, new in zip(old, (k, v))]
        g.set_outputs(*g.outputs, *grown)                    # DynamicCache: a new cache
        return grown[0], grown[1]

    def mlp(self, h: Value, i: int) -> Value:
        s, p = self.s, f"layers.{i}.mlp"
        act = {"silu": ("silu", {}), "gelu": ("gelu", {}),
               "gelu_tanh": ("gelu", {"approximate": "tanh"})}[s.activation]
        if s.experts:
            return self.experts(h, i, act)
        if not s.gated_mlp:
            up = self.linear(h, f"{p}.fc_in", s.ffn, s.d_model, True)
            return self.linear(self.g.op(act[0], up, source=p, **act[1]), f"{p}.fc_out",
                               s.d_model, s.ffn, True)
        gate = self.g.op(act[0], self.linear(h, f"{p}.gate_proj", s.ffn, s.d_model), source=p,
                         **act[1])
        up = self.linear(h, f"{p}.up_proj", s.ffn, s.d_model)
        return self.linear(self.g.op("mul", gate, up, source=p), f"{p}.down_proj", s.d_model,
                           s.ffn)

    def experts(self, h: Value, i: int, act: tuple[str, dict]) -> Value:
        """Router, then the routed rows through the touched experts as one batched product per
        matrix: ``touched × ceil(T·k / touched)`` rows (module doc)."""
        s, g, p = self.s, self.g, f"layers.{i}.block_sparse_moe"
        tokens = self.routed or 1
        touched = expected_experts(s, tokens, self.load)
        rows = math.ceil(tokens * s.experts_per_token / touched)
        g.op("topk", g.op("softmax", self.linear(h, f"{p}.gate", s.experts, s.d_model), axis=-1,
                          source=p), k=s.experts_per_token, axis=-1, source=p)
        x = g.op("reshape", g.op("expand", g.op("reshape", h, shape=[1, tokens, s.d_model],
                                                source=p), shape=[touched, tokens, s.d_model],
                                 source=p), shape=[touched * tokens, s.d_model], source=p)
        x = g.op("reshape", g.op("slice", x, axes=[0], starts=[0], ends=[touched * rows],
                                 source=p), shape=[touched, rows, s.d_model], source=p)

        def product(t: Value, name: str, out: int, inp: int) -> Value:
            w = self.weight(f"{p}.experts.{name}", touched, inp, out)
            return g.op("matmul", t, w, source=f"{p}.experts")

        gate = g.op(act[0], product(x, "w1", s.ffn, s.d_model), source=p, **act[1])
        y = product(g.op("mul", gate, product(x, "w3", s.ffn, s.d_model), source=p), "w2",
                    s.d_model, s.ffn)
        y = g.op("reduce_sum", g.op("reshape", y, shape=[touched * rows, s.d_model], source=p),
                 axes=[0], keepdims=True, source=p)        # the weighted combine, in shape
        return g.op("add", h, g.op("expand", y, shape=["batch", self.seq, s.d_model], source=p),
                    source=p)

    def build(self) -> Graph:
        s, g = self.s, self.g
        ids = g.add_input("input_ids", f"i64[batch,{self.seq}]")
        x = g.op("embedding", self.weight("embed_tokens.weight", s.vocab, s.d_model), ids,
                 source="embed_tokens")
        tables = None
        if s.rope:
            tables = tuple(g.add_input(n, f"{self.dt}[{self.seq},{s.head_dim}]")
                           for n in ("rope_cos", "rope_sin"))
        else:
            pos = g.add_input("position_ids", f"i64[batch,{self.seq}]")
            x = g.op("add", x, g.op("embedding", self.weight("wpe.weight", 1024, s.d_model), pos,
                                    source="wpe"), source="wpe")
        for i in range(s.layers):
            h = self.norm(x, f"layers.{i}.input_layernorm")
            a = self.attention(h, i, tables)
            if s.parallel_residual:
                x = g.op("add", g.op("add", x, a, source=f"layers.{i}"),
                         self.mlp(self.norm(x, f"layers.{i}.post_attention_layernorm"), i),
                         source=f"layers.{i}")
                continue
            x = g.op("add", x, a, source=f"layers.{i}")
            x = g.op("add", x, self.mlp(self.norm(x, f"layers.{i}.post_attention_layernorm"),
                                        i), source=f"layers.{i}")
        if self.phase == "prefill":
            x = g.op("slice", x, axes=[1], starts=[-1], ends=[2 ** 31 - 1], source="norm")
        x = self.norm(x, "norm")
        head = self.weight("lm_head.weight", s.vocab, s.d_model) if not s.tied_embeddings else \
            g.constants["embed_tokens.weight"]
        g.set_outputs(g.op("linear", x, head, source="lm_head", name="logits"), *g.outputs)
        return g


def decoder_graph(spec: DecoderSpec, phase: str, dtype: str = "bf16", *,
                  weights: str | None = None, kv: str | None = None, cache: str = "append",
                  routed_tokens: int | None = None,
                  routing: Sequence[float] | None = None) -> Graph:
    """The graph of one ``phase`` (module doc) at activation ``dtype``, weights stored at
    ``weights`` (dequantized per output channel where it differs) and the KV cache at ``kv``.
    ``routed_tokens`` (batch × tokens of the phase) sizes a mixture of experts, ``routing``
    (``routing_load``) the chance each expert is picked (default uniform)."""
    if phase not in PHASES:
        raise NexusError(f"phase {phase!r}: choose one of {', '.join(PHASES)}")
    if cache not in CACHES:
        raise NexusError(f"cache {cache!r}: choose one of {', '.join(CACHES)}")
    if spec.experts and routed_tokens is None:
        raise NexusError(f"{spec.name} is a mixture of experts: give routed_tokens (batch × "
                         "tokens per step) to size the experts it reads")
    return _Builder(spec, phase, dtype, weights or dtype, kv or dtype, cache,
                    routed_tokens, routing).build()


