"""Small example graphs built in code (no downloads): used by ``nexus example`` and the docs."""

from __future__ import annotations

import numpy as np

from ..graph import Graph, Value


def _conv_block(g: Graph, x: Value, name: str, c_in: int, c_out: int, rng: np.random.Generator
                ) -> Value:
    """conv3x3 → batch norm → relu → 2x2 max pool, weights random, module path ``name``."""
    def const(suffix: str, shape: tuple[int, ...], scale: float = 1.0) -> Value:
        data = (rng.standard_normal(shape) * scale).astype(np.float32)
        return g.add_constant(f"{name}.{suffix}", data)

    w = const("conv.weight", (c_out, c_in, 3, 3), (2 / (9 * c_in)) ** 0.5)
    y = g.op("conv", x, w, padding=[1, 1], source=f"{name}.conv")
    ones, zeros = np.ones(c_out, np.float32), np.zeros(c_out, np.float32)
    bn = [g.add_constant(f"{name}.bn.{p}", d, role=role) for p, d, role in
          (("weight", ones, "parameter"), ("bias", zeros, "parameter"),
           ("running_mean", zeros, "buffer"), ("running_var", ones, "buffer"))]
    y = g.op("batch_norm", y, *bn, source=f"{name}.bn")
    y = g.op("relu", y, source=f"{name}.relu")
    return g.op("max_pool", y, kernel_size=[2, 2], source=f"{name}.pool")


def example_cnn(seed: int = 0) -> Graph:
    """A two-block CNN classifier over ``f32[batch,3,32,32]`` images, ten classes."""
    rng = np.random.default_rng(seed)
    g = Graph("small_cnn")
    x = g.add_input("image", "f32[batch,3,32,32]")
    y = _conv_block(g, x, "features.0", 3, 16, rng)
    y = _conv_block(g, y, "features.1", 16, 32, rng)
    y = g.op("global_avg_pool", y, source="pool")
    y = g.op("flatten", y, source="flatten")
    w = g.add_constant("classifier.weight",
                       (rng.standard_normal((10, 32)) / 32 ** 0.5).astype(np.float32))
    b = g.add_constant("classifier.bias", np.zeros(10, np.float32))
    g.set_outputs(g.op("linear", y, w, b, source="classifier", name="logits"))
    return g


def resnet50(dtype: str = "f32") -> Graph:
    """ResNet-50 (torchvision layout: bottlenecks 3-4-6-3, stride on the 3x3 conv) over
    ``[batch,3,224,224]`` with shape-only weights; batch norms kept as separate nodes."""
    g = Graph("resnet50")
    x = g.add_input("image", f"{dtype}[batch,3,224,224]")

    def conv_bn(x: Value, name: str, c_in: int, c_out: int, k: int, stride: int, relu: bool
                ) -> Value:
        w = g.add_constant(f"{name}.weight", type_=f"{dtype}[{c_out},{c_in},{k},{k}]")
        y = g.op("conv", x, w, stride=[stride, stride], padding=[k // 2], source=name)
        bn_name = name.replace("conv", "bn").replace("downsample.0", "downsample.1")
        params = [g.add_constant(f"{bn_name}.{p}", type_=f"{dtype}[{c_out}]",
                                 role="buffer" if p.startswith("running") else "parameter")
                  for p in ("weight", "bias", "running_mean", "running_var")]
        y = g.op("batch_norm", y, *params, source=bn_name)
        return g.op("relu", y, source=name.rsplit(".", 1)[0] + ".relu") if relu else y

    y = conv_bn(x, "conv1", 3, 64, 7, 2, True)
    y = g.op("max_pool", y, kernel_size=[3, 3], stride=[2, 2], padding=[1], source="maxpool")
    c_in = 64
    for stage, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            name, stride = f"layer{stage}.{b}", 2 if b == 0 and stage > 1 else 1
            h = conv_bn(y, f"{name}.conv1", c_in, width, 1, 1, True)
            h = conv_bn(h, f"{name}.conv2", width, width, 3, stride, True)
            h = conv_bn(h, f"{name}.conv3", width, width * 4, 1, 1, False)
            shortcut = conv_bn(y, f"{name}.downsample.0", c_in, width * 4, 1, stride, False) \
                if b == 0 else y
            y = g.op("relu", g.op("add", h, shortcut, source=name), source=f"{name}.relu")
            c_in = width * 4
    y = g.op("flatten", g.op("global_avg_pool", y, source="avgpool"), source="flatten")
    w = g.add_constant("fc.weight", type_=f"{dtype}[1000,2048]")
    b = g.add_constant("fc.bias", type_=f"{dtype}[1000]")
    g.set_outputs(g.op("linear", y, w, b, source="fc", name="logits"))
    return g


def decoder(layers: int = 32, d_model: int = 4096, ffn: int = 14336, heads: int = 32,
            kv_heads: int = 8, vocab: int = 128256, dtype: str = "bf16", name: str = "llama3_8b"
            ) -> Graph:
    """A Llama-style decoder (RMSNorm, GQA attention with a causal mask, SwiGLU MLP) over token
    ids ``[batch,seq]`` with shape-only weights. Defaults: the Llama-3-8B configuration."""
    head_dim = d_model // heads
    g = Graph(name)
    ids = g.add_input("ids", "i64[batch,seq]")
    x = g.op("embedding", g.add_constant("embed_tokens.weight", type_=f"{dtype}[{vocab},"
                                         f"{d_model}]"), ids, source="embed_tokens")

    def weight(path: str, shape: str) -> Value:
        return g.add_constant(f"{path}.weight", type_=f"{dtype}[{shape}]")

    def heads_first(v: Value, n: int, src: str) -> Value:
        v = g.op("reshape", v, shape=["batch", "seq", n, head_dim], source=src)
        return g.op("transpose", v, perm=[0, 2, 1, 3], source=src)

    for i in range(layers):
        p = f"layers.{i}"
        h = g.op("rms_norm", x, weight(f"{p}.input_layernorm", f"{d_model}"),
                 source=f"{p}.input_layernorm")
        q, k, v = (heads_first(g.op("linear", h, weight(f"{p}.self_attn.{n}_proj",
                                                           f"{width},{d_model}"),
                                    source=f"{p}.self_attn.{n}_proj"), count, f"{p}.self_attn")
                   for n, width, count in (("q", d_model, heads), ("k", kv_heads * head_dim,
                                                                    kv_heads),
                                           ("v", kv_heads * head_dim, kv_heads)))
        a = g.op("attention", q, k, v, causal=True, enable_gqa=True, source=f"{p}.self_attn")
        a = g.op("reshape", g.op("transpose", a, perm=[0, 2, 1, 3], source=f"{p}.self_attn"),
                 shape=["batch", "seq", d_model], source=f"{p}.self_attn")
        a = g.op("linear", a, weight(f"{p}.self_attn.o_proj", f"{d_model},{d_model}"),
                 source=f"{p}.self_attn.o_proj")
        x = g.op("add", x, a, source=p)
        h = g.op("rms_norm", x, weight(f"{p}.post_attention_layernorm", f"{d_model}"),
                 source=f"{p}.post_attention_layernorm")
        gate = g.op("silu", g.op("linear", h, weight(f"{p}.mlp.gate_proj", f"{ffn},{d_model}"),
                                 source=f"{p}.mlp.gate_proj"), source=f"{p}.mlp.act")
        up = g.op("linear", h, weight(f"{p}.mlp.up_proj", f"{ffn},{d_model}"),
                  source=f"{p}.mlp.up_proj")
        down = g.op("linear", g.op("mul", gate, up, source=f"{p}.mlp"),
                    weight(f"{p}.mlp.down_proj", f"{d_model},{ffn}"), source=f"{p}.mlp.down_proj")
        x = g.op("add", x, down, source=p)
    x = g.op("rms_norm", x, weight("norm", f"{d_model}"), source="norm")
    g.set_outputs(g.op("linear", x, weight("lm_head", f"{vocab},{d_model}"), source="lm_head",
                       name="logits"))
    return g


EXAMPLES = {"cnn": example_cnn, "resnet50": resnet50, "llama3-8b": decoder}
