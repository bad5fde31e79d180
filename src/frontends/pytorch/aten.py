"""The ATen op table: one handler per ATen op (or family) that emits the IR ops computing
it. Importing this module fills ``ATEN``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nexus_ir import TensorType, Value

from .base import ATEN, TORCH_DTYPES, Handler, Lowering, aten, opaque, tensor_type
from .masks import FOLDED_MASK, sdpa_mask


def _unary(ir_op: str, **attrs: Any) -> Handler:
    return lambda lw, a, kw, node: lw.op(ir_op, a[0], **attrs)


for _aten, _ir in {
    "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "silu": "silu", "mish": "mish",
    "hardswish": "hardswish", "exp": "exp", "log": "log", "sqrt": "sqrt", "rsqrt": "rsqrt",
    "abs": "abs", "neg": "neg", "erf": "erf", "sin": "sin", "cos": "cos", "reciprocal":
    "reciprocal", "floor": "floor", "ceil": "ceil", "round": "round", "sign": "sign",
    "logical_not": "logical_not", "selu": "selu",
}.items():
    ATEN[_aten] = _unary(_ir)
for _aten in ("clone", "contiguous", "dropout", "alias", "detach", "lift_fresh_copy"):
    ATEN[_aten] = lambda lw, a, kw, node: a[0]


@aten("_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size")
def _assertion(lw, a, kw, node):
    """Export-time checks of dtype, device or size: no data, nothing to run or cost."""
    return None


@aten("hardsigmoid")
def _hardsigmoid(lw, a, kw, node):
    return lw.op("hardsigmoid", a[0], alpha=1 / 6, beta=0.5)


@aten("gelu")
def _gelu(lw, a, kw, node):
    return lw.op("gelu", a[0], approximate=kw.get("approximate", a[1] if len(a) > 1 else "none"))


@aten("leaky_relu")
def _leaky_relu(lw, a, kw, node):
    return lw.op("leaky_relu", a[0], alpha=float(a[1]) if len(a) > 1 else 0.01)


@aten("elu")
def _elu(lw, a, kw, node):
    return lw.op("elu", a[0], alpha=float(a[1]) if len(a) > 1 else 1.0)


@aten("softplus")
def _softplus(lw, a, kw, node):
    beta = float(a[1]) if len(a) > 1 else 1.0
    return lw.op("softplus", a[0], beta=beta, threshold=float(a[2]) if len(a) > 2 else 20.0)


@aten("hardtanh", "clamp", "clip")
def _clamp(lw, a, kw, node):
    low = a[1] if len(a) > 1 else kw.get("min")
    high = a[2] if len(a) > 2 else kw.get("max")
    if node.target.__name__.startswith("hardtanh"):
        low, high = (-1.0 if low is None else low), (1.0 if high is None else high)
    return lw.op("clip", a[0], min=None if low is None else float(low),
                 max=None if high is None else float(high))


@aten("relu6")
def _relu6(lw, a, kw, node):
    return lw.op("clip", a[0], min=0.0, max=6.0)


_BINARY = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "pow": "pow",
           "maximum": "maximum", "minimum": "minimum", "remainder": "mod", "eq": "eq",
           "ne": "ne", "lt": "lt", "le": "le", "gt": "gt", "ge": "ge",
           "logical_and": "logical_and", "logical_or": "logical_or"}


def _binary(ir_op: str) -> Handler:
    def handle(lw, a, kw, node):
        x, y = a[0], a[1]
        if not isinstance(x, Value):
            x, y = lw.scalar(x, y), y
        y = lw.operand(y, x)
        alpha = kw.get("alpha", a[2] if len(a) > 2 and ir_op in ("add", "sub") else 1)
        if alpha != 1:
            y = lw.op("mul", y, lw.scalar(alpha, y))
        if y.type.dtype != x.type.dtype:
            y = lw.op("cast", y, to=x.type.dtype)
        return lw.op(ir_op, x, y)
    return handle


for _aten, _ir in _BINARY.items():
    ATEN[_aten] = _binary(_ir)
ATEN["rsub"] = lambda lw, a, kw, node: lw.op("sub", lw.operand(a[1], a[0]), a[0])
ATEN["max.other"], ATEN["min.other"] = _binary("maximum"), _binary("minimum")


@aten("__and__", "__or__", "__xor__", "bitwise_and", "bitwise_or", "bitwise_xor",
      "bitwise_not")
def _bitwise(lw, a, kw, node):
    """``&``, ``|``, ``^`` and ``~`` on booleans (masks) are the logical ops; on integers, which
    no IR op computes bit by bit, they stay opaque."""
    x = a[0] if isinstance(a[0], Value) else a[1]
    if not x.type.dtype.is_bool:
        return opaque(lw, node, a)
    kind = node.target.__name__.split(".")[0].strip("_").removeprefix("bitwise_")
    if kind == "not":
        return lw.op("logical_not", x)
    return lw.op(f"logical_{kind}", lw.operand(a[0], x), lw.operand(a[1], x))


@aten("square")
def _square(lw, a, kw, node):
    return lw.op("mul", a[0], a[0])


def _l2_norm(lw: Lowering, x: Value, axes: list[int] | None, keep: bool) -> Value:
    """The root of the summed squares of ``x`` over ``axes`` (every axis for None)."""
    return lw.op("sqrt", lw.op("reduce_sum", lw.op("mul", x, x), axes=axes, keepdims=keep))


@aten("linalg_vector_norm")
def _vector_norm(lw, a, kw, node):
    """``torch.linalg.vector_norm``: the 2-norm as the root of the summed squares, the 1-norm as
    the summed magnitudes, ±inf as the largest or smallest magnitude; other orders stay
    opaque. PyTorch runs each as one reduction kernel, so in eager mode these ops count one or
    two kernels more than it launches."""
    order = a[1] if len(a) > 1 else kw.get("ord", 2)
    dim = a[2] if len(a) > 2 else kw.get("dim")
    axes = [dim] if isinstance(dim, int) else (list(dim) if dim else None)
    keep = bool(a[3] if len(a) > 3 else kw.get("keepdim", False))
    x = a[0]
    if order == 2:
        return _l2_norm(lw, x, axes, keep)
    reduce = {1: "reduce_sum", float("inf"): "reduce_max", float("-inf"): "reduce_min"}.get(order)
    if reduce is None:
        return opaque(lw, node, a)
    return lw.op(reduce, lw.op("abs", x), axes=axes, keepdims=keep)


@aten("masked_fill")
def _masked_fill(lw, a, kw, node):
    """``x.masked_fill(mask, value)``: ``where(mask, value, x)``."""
    x = a[0]
    return lw.op("where", a[1], lw.operand(a[2], x), x)


@aten("diff")
def _diff(lw, a, kw, node):
    """``torch.diff(x, n, dim, prepend, append)``, as PyTorch computes it: ``prepend`` and
    ``append`` joined on along ``dim``, then ``n`` times the later elements less the earlier
    ones (two views and a subtraction; ``!=`` for booleans)."""
    n = a[1] if len(a) > 1 else kw.get("n", 1)
    dim = a[2] if len(a) > 2 else kw.get("dim", -1)
    prepend, append = (a[i] if len(a) > i else kw.get(k) for i, k in ((3, "prepend"),
                                                                      (4, "append")))
    parts = [v for v in (prepend, a[0], append) if v is not None]
    x = lw.op("concat", *parts, axis=dim) if len(parts) > 1 else a[0]
    for _ in range(n):
        later = lw.op("slice", x, axes=[dim], starts=[1], ends=[2**63 - 1], steps=[1])
        earlier = lw.op("slice", x, axes=[dim], starts=[0], ends=[-1], steps=[1])
        x = lw.op("ne" if x.type.dtype.is_bool else "sub", later, earlier)
    return x


@aten("where")
def _where(lw, a, kw, node):
    x = a[1] if isinstance(a[1], Value) else a[2]
    return lw.op("where", a[0], lw.operand(a[1], x), lw.operand(a[2], x))


# ----------------------------------------------------------------------------- matrix products
@aten("linear")
def _linear(lw, a, kw, node):
    return lw.op("linear", *[v for v in a[:3] if v is not None])


@aten("mm", "bmm", "matmul")
def _matmul(lw, a, kw, node):
    return lw.op("matmul", a[0], a[1])


@aten("baddbmm")
def _baddbmm(lw, a, kw, node):
    """``beta·input + alpha·(batch1 @ batch2)``: the batched product, scaled, plus the input,
    scaled. PyTorch runs it as one cuBLAS call with the scaling in its epilogue; here the
    scaling and the sum are elementwise ops of their own (``gemm`` is 2-D only)."""
    beta = kw.get("beta", a[3] if len(a) > 3 else 1)
    alpha = kw.get("alpha", a[4] if len(a) > 4 else 1)
    product = lw.op("matmul", a[1], a[2])
    if alpha != 1:
        product = lw.op("mul", product, lw.scalar(alpha, product))
    if beta == 0:
        return product
    base = a[0] if beta == 1 else lw.op("mul", a[0], lw.scalar(beta, a[0]))
    return lw.op("add", base, product)


@aten("addmm")
def _addmm(lw, a, kw, node):
    beta, alpha = kw.get("beta", 1), kw.get("alpha", 1)
    return lw.op("gemm", a[1], a[2], a[0], alpha=float(alpha), beta=float(beta))


def _string_padding(mode: str, kernel: Sequence[int], dilation: Sequence[int]) -> list[int]:
    """PyTorch's ``padding="valid"`` (none) or ``"same"``: ``d·(k-1)`` in total per dim, the odd
    element on the end side; returned as begins then ends."""
    if mode == "valid":
        return [0] * len(kernel)
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return [t // 2 for t in totals] + [t - t // 2 for t in totals]


@aten("conv1d", "conv2d", "conv3d")
def _conv(lw, a, kw, node):
    x, w, b = a[0], a[1], a[2] if len(a) > 2 else None
    n = w.type.rank - 2
    stride, dilation = (list(a[i]) if len(a) > i else [d] * n for i, d in ((3, 1), (5, 1)))
    padding = a[4] if len(a) > 4 else [0] * n
    padding = _string_padding(padding, w.type.shape[2:], dilation) if isinstance(padding, str) \
        else list(padding)
    groups = a[6] if len(a) > 6 else 1
    inputs = [x, w] + ([b] if b is not None else [])
    return lw.op("conv", *inputs, stride=stride, padding=padding, dilation=dilation,
                 groups=groups)


@aten("convolution", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def _convolution(lw, a, kw, node):
    name = node.target.__name__.split(".")[0]
    x, w, b = a[0], a[1], a[2] if len(a) > 2 else None
    n = w.type.rank - 2
    if name == "convolution":
        stride, padding, dilation, transposed, output_padding, groups = a[3:9]
    else:
        stride, padding, output_padding = (list(a[i]) if len(a) > i else [d] * n
                                           for i, d in ((3, 1), (4, 0), (5, 0)))
        groups = a[6] if len(a) > 6 else 1
        dilation = list(a[7]) if len(a) > 7 else [1] * n
        transposed = True
    inputs = [x, w] + ([b] if b is not None else [])
    return lw.op("conv", *inputs, stride=list(stride), padding=list(padding),
                 dilation=list(dilation), groups=groups, transposed=bool(transposed),
                 output_padding=list(output_padding) if transposed else [])


# ----------------------------------------------------------------------------- pooling, norms
@aten("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices")
def _max_pool(lw, a, kw, node):
    k = list(a[1])
    stride = list(a[2]) if len(a) > 2 and a[2] else k
    padding = list(a[3]) if len(a) > 3 else [0]
    dilation = list(a[4]) if len(a) > 4 else [1]
    ceil_mode = bool(a[5]) if len(a) > 5 else False
    return lw.op("max_pool", a[0], kernel_size=k, stride=stride, padding=padding,
                 dilation=dilation, ceil_mode=ceil_mode)


@aten("avg_pool1d", "avg_pool2d", "avg_pool3d")
def _avg_pool(lw, a, kw, node):
    k = list(a[1])
    stride = list(a[2]) if len(a) > 2 and a[2] else k
    return lw.op("avg_pool", a[0], kernel_size=k, stride=stride,
                 padding=list(a[3]) if len(a) > 3 else [0],
                 ceil_mode=bool(a[4]) if len(a) > 4 else False,
                 count_include_pad=bool(a[5]) if len(a) > 5 else True)


@aten("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
      "_adaptive_avg_pool2d")
def _adaptive_avg(lw, a, kw, node):
    size = list(a[1])
    if all(s == 1 for s in size):
        return lw.op("global_avg_pool", a[0])
    return lw.op("adaptive_avg_pool", a[0], output_size=size)


@aten("adaptive_max_pool2d")
def _adaptive_max(lw, a, kw, node):
    return lw.op("adaptive_max_pool", a[0], output_size=list(a[1]))


@aten("batch_norm", "_native_batch_norm_legit_no_training")
def _batch_norm(lw, a, kw, node):
    x, w, b, mean, var = a[:5]
    eps = float(a[7] if node.target.__name__.startswith("batch_norm") else a[6])
    c = x.type.shape[1]
    w = w if w is not None else lw.made("bn_ones", np.ones(c, np.float32))
    b = b if b is not None else lw.made("bn_zeros", np.zeros(c, np.float32))
    return lw.op("batch_norm", x, w, b, mean, var, eps=eps)


@aten("layer_norm", "native_layer_norm")
def _layer_norm(lw, a, kw, node):
    x, shape = a[0], list(a[1])
    params = [v for v in a[2:4] if isinstance(v, Value)]
    eps = float(a[4]) if len(a) > 4 else 1e-5
    return lw.op("layer_norm", x, *params, axis=-len(shape), eps=eps)


@aten("rms_norm")
def _rms_norm(lw, a, kw, node):
    x, shape = a[0], list(a[1])
    params = [a[2]] if len(a) > 2 and isinstance(a[2], Value) else []
    eps = a[3] if len(a) > 3 and a[3] is not None else 1e-6
    return lw.op("rms_norm", x, *params, axis=-len(shape), eps=float(eps))


@aten("group_norm")
def _group_norm(lw, a, kw, node):
    params = [v for v in a[2:4] if isinstance(v, Value)]
    return lw.op("group_norm", a[0], *params, num_groups=a[1],
                 eps=float(a[4]) if len(a) > 4 else 1e-5)


@aten("native_group_norm")
def _native_group_norm(lw, a, kw, node):
    """native_group_norm(x, weight, bias, N, C, HxW, groups, eps)."""
    params = [v for v in a[1:3] if isinstance(v, Value)]
    return lw.op("group_norm", a[0], *params, num_groups=a[6], eps=float(a[7]))


@aten("_weight_norm")
def _weight_norm(lw, a, kw, node):
    """``_weight_norm(v, g, dim)``: ``v · g / ‖v‖``, the norm over every dim but ``dim`` (five
    ops where PyTorch's fused kernel launches one: eager kernel counts run four high)."""
    v, g = a[0], a[1]
    dim = (a[2] if len(a) > 2 else kw.get("dim", 0)) % v.type.rank
    others = [axis for axis in range(v.type.rank) if axis != dim]
    return lw.op("mul", v, lw.op("div", g, _l2_norm(lw, v, others, True)))


@aten("softmax", "_softmax", "_safe_softmax")
def _softmax(lw, a, kw, node):
    return lw.op("softmax", a[0], axis=a[1])


@aten("log_softmax", "_log_softmax")
def _log_softmax(lw, a, kw, node):
    return lw.op("log_softmax", a[0], axis=a[1])


def _reduce(ir_op: str) -> Handler:
    def handle(lw, a, kw, node):
        axes = a[1] if len(a) > 1 else None
        axes = [axes] if isinstance(axes, int) else (list(axes) if axes else None)
        return lw.op(ir_op, a[0], axes=axes, keepdims=bool(a[2]) if len(a) > 2 else False)
    return handle


ATEN.update({"mean": _reduce("reduce_mean"), "sum": _reduce("reduce_sum"),
             "amax": _reduce("reduce_max"), "amin": _reduce("reduce_min"),
             "prod": _reduce("reduce_prod"), "any": _reduce("reduce_max"),
             "all": _reduce("reduce_min"),
             "max.default": _reduce("reduce_max"), "min.default": _reduce("reduce_min")})


@aten("cumsum")
def _cumsum(lw, a, kw, node):
    """``torch.cumsum``: integers and booleans are first cast to the result's type (i64 by
    default), as PyTorch does before it scans."""
    x, out = a[0], tensor_type(node.meta["val"]).dtype
    if x.type.dtype != out:
        x = lw.op("cast", x, to=out)
    return lw.op("cumsum", x, axis=a[1] if len(a) > 1 else kw["dim"])


@aten("argmax", "argmin")
def _argmax(lw, a, kw, node):
    return lw.op(node.target.__name__.split(".")[0], a[0], axis=a[1] if len(a) > 1 else 0,
                 keepdims=bool(a[2]) if len(a) > 2 else False)


@aten("scaled_dot_product_attention")
def _sdpa(lw, a, kw, node):
    q, k, v = a[:3]
    mask = sdpa_mask(a, kw)
    causal = bool(a[5] if len(a) > 5 else kw.get("is_causal", False))
    scale = kw.get("scale", a[6] if len(a) > 6 else None)
    inputs = [q, k, v] + ([mask] if isinstance(mask, Value) else [])
    return lw.op("attention", *inputs, causal=causal,
                 scale=None if scale is None else float(scale),
                 enable_gqa=bool(kw.get("enable_gqa", False)), capture_mask=FOLDED_MASK in kw)


@aten("lstm", "gru", "rnn_tanh", "rnn_relu")
def _recurrent(lw, a, kw, node):
    """aten.{lstm,gru,rnn_*}.input(x, hx, params, has_biases, layers, dropout, train, bidir,
    batch_first)."""
    mode = node.target.__name__.split(".")[0]
    states = list(a[1]) if isinstance(a[1], (list, tuple)) else [a[1]]
    has_biases, layers, _, _, bidirectional, batch_first = a[3:9]
    hidden = node.meta["val"][1].shape[-1]
    return lw.op("recurrent", a[0], *states, *a[2], mode=mode, hidden_size=int(hidden),
                 num_layers=layers, bidirectional=bool(bidirectional),
                 batch_first=bool(batch_first), has_biases=bool(has_biases))


@aten("zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "new_zeros", "new_ones",
      "scalar_tensor", "arange")
def _generated(lw, a, kw, node):
    """A tensor made from its arguments alone (filled, a scalar, a range): a constant holding its
    values when the shape is static and small (2^20 elements), its type alone otherwise."""
    type_ = tensor_type(node.meta["val"])
    name = node.target.__name__.split(".")[0]
    data = None
    if type_.is_static and type_.numel <= 1 << 20:
        numbers = np.float32 if type_.dtype.is_float else np.int64
        if name == "arange":
            bounds = [x for x in a if isinstance(x, (int, float))]
            data = np.arange(*(bounds if len(bounds) > 1 else [0, *bounds]), dtype=numbers)
        else:
            value = 0 if "zeros" in name else 1 if "ones" in name else \
                a[0] if name == "scalar_tensor" else a[1]
            data = np.full([int(d) for d in type_.shape], value, dtype=numbers)
    return lw.made(name, data, type_)


def _qparams(lw: Lowering, scale: Any, zero_point: Any, qdtype: Any) -> list[Value]:
    """Scale and zero point as IR values: Python numbers become scalar constants."""
    if not isinstance(scale, Value):
        scale = lw.made("scale", np.array(scale, dtype=np.float32))
    if not isinstance(zero_point, Value):
        zero_point = lw.made("zero_point", np.array(zero_point, dtype=np.int64),
                             TensorType([], TORCH_DTYPES[str(qdtype)]))
    return [scale, zero_point]


@aten("quantize_per_tensor", "quantize_per_channel", "dequantize_per_tensor",
      "dequantize_per_channel")
def _quantization(lw, a, kw, node):
    """quantized_decomposed.{quantize,dequantize}_per_{tensor,channel}, what PT2E's convert
    emits: (x, scale, zero_point[, axis], qmin, qmax, qdtype) to IR quantize/dequantize."""
    name = node.target.__name__.split(".")[0]
    per_channel = name.endswith("per_channel")
    params = _qparams(lw, a[1], a[2], a[6] if per_channel else a[5])
    return lw.op(name.split("_per_")[0], a[0], *params, axis=a[3] if per_channel else None,
                 to=tensor_type(node.meta["val"]).dtype)


@aten("_native_multi_head_attention")
def _native_mha(lw, a, kw, node):
    """The eval fast path of nn.MultiheadAttention on ``[B, L, E]`` inputs: packed in-projection
    (split on the activation for self-attention, on the weights otherwise), heads, scaled
    dot-product attention, out-projection."""
    query, key, value, embed, heads, w_qkv, b_qkv, w_out, b_out = a[:9]
    mask = a[9] if len(a) > 9 else kw.get("mask")
    head_dim = embed // heads

    def heads_first(x: Value) -> Value:
        b, length = x.type.shape[0], x.type.shape[1]
        return lw.op("transpose", lw.op("reshape", x, shape=[b, length, heads, head_dim]),
                     perm=[0, 2, 1, 3])

    if query is key and key is value:
        packed = lw.op("linear", *[v for v in (query, w_qkv, b_qkv) if v is not None])
        q, k, v = lw.op("split", packed, axis=-1, sizes=[embed] * 3)
    else:
        weights = lw.op("split", w_qkv, axis=0, sizes=[embed] * 3)
        biases = lw.op("split", b_qkv, axis=0, sizes=[embed] * 3) if b_qkv is not None \
            else (None,) * 3
        q, k, v = (lw.op("linear", *[t for t in (x, w, b) if t is not None])
                   for x, w, b in zip((query, key, value), weights, biases))
    inputs = [heads_first(q), heads_first(k), heads_first(v)]
    if isinstance(mask, Value):
        inputs.append(mask)
    out = lw.op("attention", *inputs)
    b, length = query.type.shape[0], query.type.shape[1]
    out = lw.op("reshape", lw.op("transpose", out, perm=[0, 2, 1, 3]), shape=[b, length, embed])
    return lw.op("linear", *[t for t in (out, w_out, b_out) if t is not None])


@aten("embedding")
def _embedding(lw, a, kw, node):
    return lw.op("embedding", a[0], a[1])


@aten("index_select")
def _index_select(lw, a, kw, node):
    return lw.op("gather", a[0], a[2], axis=a[1])


@aten("gather")
def _gather_elements(lw, a, kw, node):
    return lw.op("gather_elements", a[0], a[2], axis=a[1])
