"""The standard ``ai.onnx`` op table. Importing this module fills ``HANDLERS``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nexus_ir import Value, dtype
from nexus_ir import dims

from .convert import HANDLERS, Converter, onnx_op
from .load import ONNX_DTYPES, Unmappable
from .operands import Operand, axes_of, int_list, slice_args



_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Log": "log",
          "Sqrt": "sqrt", "Reciprocal": "reciprocal", "Neg": "neg", "Abs": "abs", "Erf": "erf",
          "Sin": "sin", "Cos": "cos", "Tan": "tan", "Floor": "floor", "Ceil": "ceil",
          "Round": "round", "Sign": "sign", "Not": "logical_not", "Softsign": "softsign",
          "Mish": "mish", "HardSwish": "hardswish"}
for _onnx, _ir in _UNARY.items():
    HANDLERS[("", _onnx)] = (lambda ir: lambda cv, ins, at: cv.op(ir, ins[0]))(_ir)

_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Mod": "mod",
           "Equal": "eq", "Less": "lt", "LessOrEqual": "le", "Greater": "gt",
           "GreaterOrEqual": "ge", "And": "logical_and", "Or": "logical_or",
           "Xor": "logical_xor"}


def _binary_values(cv: Converter, a: Operand, b: Operand) -> tuple[Value, Value]:
    """Both operands as values; a static one takes the other's dtype (Pow's exponent)."""
    if isinstance(a, Value) and not isinstance(b, Value):
        b = b.astype(np.float32 if a.type.dtype.is_float else np.int64)
    if isinstance(b, Value) and not isinstance(a, Value):
        a = a.astype(np.float32 if b.type.dtype.is_float else np.int64)
    x, y = cv.value(a), cv.value(b)
    if x.type.dtype != y.type.dtype:
        y = cv.op("cast", y, to=x.type.dtype)
    return x, y


for _onnx, _ir in _BINARY.items():
    HANDLERS[("", _onnx)] = (lambda ir: lambda cv, ins, at: cv.op(ir, *_binary_values(
        cv, ins[0], ins[1])))(_ir)


@onnx_op("Max", "Min", "Sum", "Mean")
def _variadic(cv, ins, at):
    ir = {"Max": "maximum", "Min": "minimum", "Sum": "add", "Mean": "add"}[cv.node.op_type]
    out = ins[0]
    for other in ins[1:]:
        out = cv.op(ir, *_binary_values(cv, out, other))
    out = cv.value(out)
    if cv.node.op_type == "Mean" and len(ins) > 1:
        out = cv.op("mul", out, cv.scalar(1 / len(ins), out))
    return out


@onnx_op("Identity", "Dropout")
def _identity(cv, ins, at):
    return ins[0]


@onnx_op("LeakyRelu")
def _leaky_relu(cv, ins, at):
    return cv.op("leaky_relu", ins[0], alpha=at.get("alpha", 0.01))


@onnx_op("Elu", "Celu")
def _elu(cv, ins, at):
    return cv.op(cv.node.op_type.lower(), ins[0], alpha=at.get("alpha", 1.0))


@onnx_op("Selu")
def _selu(cv, ins, at):
    if abs(at.get("alpha", 1.67326319217681884765625) - 1.6732632) > 1e-6 or \
            abs(at.get("gamma", 1.05070102214813232421875) - 1.0507010) > 1e-6:
        raise Unmappable("Selu with non-standard alpha/gamma")
    return cv.op("selu", ins[0])


@onnx_op("HardSigmoid")
def _hardsigmoid(cv, ins, at):
    return cv.op("hardsigmoid", ins[0], alpha=at.get("alpha", 0.2), beta=at.get("beta", 0.5))


@onnx_op("Softplus")
def _softplus(cv, ins, at):
    return cv.op("softplus", ins[0], beta=1.0, threshold=float("inf"))


@onnx_op("Gelu")
def _gelu(cv, ins, at):
    return cv.op("gelu", ins[0], approximate=at.get("approximate", "none"))


@onnx_op("PRelu")
def _prelu(cv, ins, at):
    x = cv.value(ins[0])
    zero = cv.scalar(0, x)
    return cv.op("where", cv.op("lt", x, zero), cv.op("mul", *_binary_values(cv, x, ins[1])), x)


@onnx_op("IsNaN")
def _isnan(cv, ins, at):
    return cv.op("ne", ins[0], ins[0])


@onnx_op("Clip")
def _clip(cv, ins, at):
    bounds = []
    for v in (ins[1] if len(ins) > 1 else None, ins[2] if len(ins) > 2 else None):
        if v is not None and not isinstance(v, np.ndarray):
            raise Unmappable("Clip bounds computed at run time")
        bounds.append(None if v is None else float(v))
    return cv.op("clip", ins[0], min=bounds[0], max=bounds[1])


@onnx_op("Cast", "CastLike")
def _cast(cv, ins, at):
    code = at["to"] if cv.node.op_type == "Cast" else None
    to = ONNX_DTYPES.get(code) if code is not None else cv.value(ins[1]).type.dtype
    if to is None:
        raise Unmappable(f"Cast to ONNX type {code}")
    return cv.op("cast", ins[0], to=to)


@onnx_op("Where")
def _where(cv, ins, at):
    x, y = _binary_values(cv, ins[1], ins[2])
    return cv.op("where", ins[0], x, y)


@onnx_op("MatMul")
def _matmul(cv, ins, at):
    return cv.op("matmul", ins[0], ins[1])


@onnx_op("Gemm")
def _gemm(cv, ins, at):
    return cv.op("gemm", *[v for v in ins if v is not None], trans_a=bool(at.get("transA", 0)),
                 trans_b=bool(at.get("transB", 0)), alpha=at.get("alpha", 1.0),
                 beta=at.get("beta", 1.0))


def _window(cv: Converter, x: Value, at: dict[str, Any], kernel: Sequence[int]
            ) -> dict[str, Any]:
    """IR window attributes (stride, padding, dilation) from ONNX's, auto_pad resolved."""
    n = len(kernel)
    strides = list(at.get("strides") or [1] * n)
    dilations = list(at.get("dilations") or [1] * n)
    pads = list(at.get("pads") or [0] * 2 * n)
    auto = at.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(x.type.shape[2:], kernel, strides, dilations):
            if isinstance(size, int):
                out = -(-size // s)
                total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            elif s == 1:
                total = (k - 1) * d
            else:
                raise Unmappable("auto_pad SAME with a stride over a symbolic size")
            small, large = total // 2, total - total // 2
            begins.append(small if auto == "SAME_UPPER" else large)
            ends.append(large if auto == "SAME_UPPER" else small)
        pads = begins + ends
    elif auto == "VALID":
        pads = [0] * 2 * n
    return {"stride": strides, "padding": pads, "dilation": dilations}


@onnx_op("Conv", "ConvTranspose")
def _conv(cv, ins, at):
    x, w = cv.value(ins[0]), cv.value(ins[1], f"{cv.node.name}_weight")
    kernel = list(at.get("kernel_shape") or w.type.shape[2:])
    transposed = cv.node.op_type == "ConvTranspose"
    if transposed and (at.get("output_shape") or at.get("auto_pad", "NOTSET") != "NOTSET"):
        raise Unmappable("ConvTranspose with output_shape or auto_pad")
    attrs = _window(cv, x, at, kernel)
    if transposed:
        attrs.update(transposed=True, output_padding=list(at.get("output_padding") or []))
    bias = [cv.value(ins[2], f"{cv.node.name}_bias")] if len(ins) > 2 and ins[2] is not None \
        else []
    return cv.op("conv", x, w, *bias, groups=at.get("group", 1), **attrs)


@onnx_op("MaxPool", "AveragePool", "LpPool")
def _pool(cv, ins, at):
    if cv.node.op_type == "LpPool" or len(cv.node.output) > 1 and cv.node.output[1]:
        raise Unmappable("LpPool, or MaxPool whose indices are read")
    x = cv.value(ins[0])
    kernel = list(at["kernel_shape"])
    attrs = _window(cv, x, at, kernel)
    attrs["ceil_mode"] = bool(at.get("ceil_mode", 0))
    if cv.node.op_type == "AveragePool":
        return cv.op("avg_pool", x, kernel_size=kernel, count_include_pad=bool(
            at.get("count_include_pad", 0)), **attrs)
    return cv.op("max_pool", x, kernel_size=kernel, **attrs)


@onnx_op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(cv, ins, at):
    return cv.op("global_avg_pool" if "Average" in cv.node.op_type else "global_max_pool", ins[0])


@onnx_op("BatchNormalization")
def _batch_norm(cv, ins, at):
    if len(cv.node.output) > 1 and any(cv.node.output[1:]):
        raise Unmappable("BatchNormalization in training mode")
    return cv.op("batch_norm", *ins[:5], eps=at.get("epsilon", 1e-5))


@onnx_op("LayerNormalization")
def _layer_norm(cv, ins, at):
    if len(cv.node.output) > 1 and any(cv.node.output[1:]):
        raise Unmappable("LayerNormalization whose mean/inv-std outputs are read")
    return cv.op("layer_norm", *[v for v in ins if v is not None], axis=at.get("axis", -1),
                 eps=at.get("epsilon", 1e-5))


@onnx_op("InstanceNormalization")
def _instance_norm(cv, ins, at):
    return cv.op("instance_norm", *ins, eps=at.get("epsilon", 1e-5))


@onnx_op("GroupNormalization")
def _group_norm(cv, ins, at):
    x = cv.value(ins[0])
    if cv.value(ins[1]).type.shape[0] != x.type.shape[1]:
        raise Unmappable("GroupNormalization with per-group scale (opset 18)")
    return cv.op("group_norm", *ins, num_groups=at["num_groups"], eps=at.get("epsilon", 1e-5))


@onnx_op("Softmax", "LogSoftmax")
def _softmax(cv, ins, at):
    return cv.op("softmax" if cv.node.op_type == "Softmax" else "log_softmax", ins[0],
                 axis=at.get("axis", -1))


def _reduce_axes(cv: Converter, ins: list[Operand | None], at: dict[str, Any]) -> list[int] | None:
    axes = at.get("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = int_list(ins[1], "reduction axes")
    if not axes:
        return [] if at.get("noop_with_empty_axes", 0) else None
    return list(axes)


_REDUCE = {"ReduceSum": "reduce_sum", "ReduceMean": "reduce_mean", "ReduceMax": "reduce_max",
           "ReduceMin": "reduce_min", "ReduceProd": "reduce_prod"}


@onnx_op(*_REDUCE, "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceLogSum")
def _reduce(cv, ins, at):
    """Reductions; the composite ones spelled out (L2 = sqrt of the sum of squares, …)."""
    op, x = cv.node.op_type, cv.value(ins[0])
    axes = _reduce_axes(cv, ins, at)
    if axes == []:
        return x
    keep = bool(at.get("keepdims", 1))
    if op in _REDUCE:
        return cv.op(_REDUCE[op], x, axes=axes, keepdims=keep)
    pre = {"ReduceSumSquare": lambda: cv.op("mul", x, x), "ReduceL1": lambda: cv.op("abs", x),
           "ReduceL2": lambda: cv.op("mul", x, x), "ReduceLogSumExp": lambda: cv.op("exp", x),
           "ReduceLogSum": lambda: x}[op]()
    out = cv.op("reduce_sum", pre, axes=axes, keepdims=keep)
    post = {"ReduceL2": "sqrt", "ReduceLogSumExp": "log", "ReduceLogSum": "log"}.get(op)
    return cv.op(post, out) if post else out


@onnx_op("ArgMax", "ArgMin")
def _argmax(cv, ins, at):
    return cv.op(cv.node.op_type.lower(), ins[0], axis=at.get("axis", 0),
                 keepdims=bool(at.get("keepdims", 1)))


@onnx_op("CumSum")
def _cumsum(cv, ins, at):
    axis = int_list(ins[1], "axis")[0]
    return cv.op("cumsum", ins[0], axis=axis, exclusive=bool(at.get("exclusive", 0)),
                 reverse=bool(at.get("reverse", 0)))


@onnx_op("TopK")
def _topk(cv, ins, at):
    k = int_list(ins[1], "k")[0]
    return cv.ops("topk", ins[0], k=k, axis=at.get("axis", -1),
                  largest=bool(at.get("largest", 1)))


@onnx_op("Reshape")
def _reshape(cv, ins, at):
    x = cv.value(ins[0])
    if ins[1] is None or not isinstance(ins[1], np.ndarray):
        return cv.op("reshape", x, shape=list(cv.inferred_type(cv.node.output[0]).shape))
    shape = int_list(ins[1], "shape")
    if not at.get("allowzero", 0):
        shape = [x.type.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return cv.op("reshape", x, shape=shape)


@onnx_op("Flatten")
def _flatten(cv, ins, at):
    x = cv.value(ins[0])
    axis = at.get("axis", 1) % (x.type.rank + 1) if x.type.rank else 0
    return cv.op("reshape", x, shape=[dims.product(list(x.type.shape[:axis])),
                                      dims.product(list(x.type.shape[axis:]))])


@onnx_op("Transpose")
def _transpose(cv, ins, at):
    x = cv.value(ins[0])
    return cv.op("transpose", x, perm=list(at.get("perm") or range(x.type.rank)[::-1]))


@onnx_op("Squeeze", "Unsqueeze")
def _squeeze(cv, ins, at):
    axes = axes_of(ins, at)
    if cv.node.op_type == "Unsqueeze":
        return cv.op("unsqueeze", ins[0], axes=axes)
    return cv.op("squeeze", ins[0], axes=axes or None)


@onnx_op("Concat")
def _concat(cv, ins, at):
    values = [cv.value(v) for v in ins if v is not None]
    values = [v for v in values if v.type.numel_expr != 0]
    return cv.op("concat", *values, axis=at["axis"]) if len(values) > 1 else values[0]


@onnx_op("Split")
def _split(cv, ins, at):
    x = cv.value(ins[0])
    axis = at.get("axis", 0)
    sizes = at.get("split") or int_list(ins[1] if len(ins) > 1 else None, "split")
    if not sizes:
        parts = at.get("num_outputs") or len(cv.node.output)
        size = x.type.shape[axis]
        if not isinstance(size, int):
            raise Unmappable("even Split of a symbolic size")
        chunk = -(-size // parts)
        sizes = [min(chunk, size - i * chunk) for i in range(parts)]
    return cv.ops("split", x, axis=axis, sizes=list(sizes))


@onnx_op("Slice")
def _slice(cv, ins, at):
    axes, starts, ends, steps = slice_args(ins)
    return cv.op("slice", ins[0], axes=axes, starts=starts, ends=ends, steps=steps)


@onnx_op("Pad")
def _pad(cv, ins, at):
    x = cv.value(ins[0])
    pads = int_list(ins[1], "pads") if len(ins) > 1 else list(at.get("pads", []))
    value = float(ins[2]) if len(ins) > 2 and isinstance(ins[2], np.ndarray) else 0.0
    axes = int_list(ins[3], "axes") if len(ins) > 3 and ins[3] is not None else \
        list(range(x.type.rank))
    full = [0] * 2 * x.type.rank
    for i, ax in enumerate(a % x.type.rank for a in axes):
        full[ax], full[x.type.rank + ax] = pads[i], pads[len(axes) + i]
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
            "wrap": "circular"}[at.get("mode", "constant")]
    # ONNX lists begins then ends over all axes; the IR pads the same way.
    return cv.op("pad", x, pads=full, mode=mode, value=value)


@onnx_op("Expand")
def _expand(cv, ins, at):
    x = cv.value(ins[0])
    shape = int_list(ins[1], "shape")
    rank = max(len(shape), x.type.rank)
    have = [1] * (rank - x.type.rank) + list(x.type.shape)
    want = [1] * (rank - len(shape)) + shape
    target = [h if w == 1 else w for h, w in zip(have, want)]
    return cv.op("expand", x, shape=target)


@onnx_op("ConstantOfShape")
def _constant_of_shape(cv, ins, at):
    fill = at.get("value", np.zeros(1, np.float32)).reshape(())
    return cv.op("expand", np.asarray(fill), shape=int_list(ins[0], "shape"))


@onnx_op("Trilu")
def _trilu(cv, ins, at):
    """Keeping one triangle is a select against a constant mask."""
    x = cv.value(ins[0])
    rows, cols = x.type.shape[-2:]
    if not (isinstance(rows, int) and isinstance(cols, int)):
        raise Unmappable("Trilu over symbolic sizes")
    k = int(ins[1]) if len(ins) > 1 and ins[1] is not None else 0
    ones = np.ones((rows, cols), bool)
    mask = np.triu(ones, k) if at.get("upper", 1) else np.tril(ones, k)
    return cv.op("where", mask, x, cv.scalar(0, x))


@onnx_op("Gather")
def _gather(cv, ins, at):
    return cv.op("gather", ins[0], np.asarray(ins[1]).astype(np.int64)
                 if isinstance(ins[1], np.ndarray) else ins[1], axis=at.get("axis", 0))


@onnx_op("GatherElements")
def _gather_elements(cv, ins, at):
    return cv.op("gather_elements", ins[0], ins[1], axis=at.get("axis", 0))


@onnx_op("Resize", "Upsample")
def _resize(cv, ins, at):
    x = cv.value(ins[0])
    mode = at.get("mode", "nearest")
    mode = {"bilinear": "linear", "trilinear": "linear"}.get(mode, mode)
    if cv.node.op_type == "Upsample":
        scales = [float(s) for s in np.asarray(ins[1]).reshape(-1)]
        return cv.op("resize", x, scales=scales[2:], mode=mode)
    sizes = int_list(ins[3], "sizes") if len(ins) > 3 and ins[3] is not None else None
    scales = None if sizes else [float(s) for s in np.asarray(ins[2]).reshape(-1)][2:]
    return cv.op("resize", x, sizes=sizes[2:] if sizes else None, scales=scales, mode=mode,
                 align_corners=at.get("coordinate_transformation_mode") == "align_corners")


def _record_quantization(cv: Converter, value: Value, scale: Any, zero: Any) -> None:
    """A quantized operand's scale and zero point (0 unless given as a constant; per tensor, or
    per channel along axis 0 of a weight / axis 1 of an activation) in ``graph.quantization``."""
    scales = [float(v) for v in np.asarray(scale).reshape(-1)]
    zeros = [int(v) for v in zero.reshape(-1)] if isinstance(zero, np.ndarray) else \
        [0] * len(scales)
    axis = None if len(scales) == 1 else (0 if value.is_constant else 1)
    cv.graph.quantization[value.name] = {"scale": scales, "zero_point": zeros, "axis": axis}


def _qlinear(cv: Converter, ins: Sequence[Any], ir: str, **attrs: Any) -> Value:
    """QLinearConv / QLinearMatMul: the IR op on the integer operands (and QLinearConv's int32
    bias), its output in y_zero_point's type, every scale and zero point recorded."""
    x, w = cv.value(ins[0]), cv.value(ins[3], f"{cv.node.name}_weight")
    bias = [cv.value(ins[8], f"{cv.node.name}_bias")] if len(ins) > 8 and ins[8] is not None \
        else []
    for operand, scale, zero in ((x, ins[1], ins[2]), (w, ins[4], ins[5])):
        if not isinstance(scale, np.ndarray):
            raise Unmappable(f"{cv.node.op_type} with scales computed at run time")
        _record_quantization(cv, operand, scale, zero)
    out = cv.op(ir, x, w, *bias, **attrs)
    zero_out = ins[7] if len(ins) > 7 else None
    to = dtype(str(zero_out.dtype)) if isinstance(zero_out, np.ndarray) else out.type.dtype
    if to != out.type.dtype:
        out = cv.op("cast", out, to=to)
    if isinstance(ins[6], np.ndarray):
        _record_quantization(cv, out, ins[6], zero_out)
    return out


@onnx_op("QLinearConv")
def _qlinear_conv(cv, ins, at):
    w_shape = ins[3].type.shape if isinstance(ins[3], Value) else np.shape(ins[3])
    attrs = _window(cv, cv.value(ins[0]), at, list(at.get("kernel_shape") or w_shape[2:]))
    return _qlinear(cv, ins, "conv", groups=at.get("group", 1), **attrs)


@onnx_op("QLinearMatMul")
def _qlinear_matmul(cv, ins, at):
    return _qlinear(cv, ins, "matmul")


@onnx_op("QuantizeLinear", "DequantizeLinear")
def _quant(cv, ins, at):
    x = cv.value(ins[0])
    rest = [v for v in ins[1:] if v is not None]
    axis = at.get("axis", 1) if np.size(rest[0]) > 1 else None
    if cv.node.op_type == "QuantizeLinear":
        to = ONNX_DTYPES[at["output_dtype"]] if at.get("output_dtype") else \
            cv.value(rest[1]).type.dtype if len(rest) > 1 else "u8"
        return cv.op("quantize", x, *rest, axis=axis, to=to)
    return cv.op("dequantize", x, *rest, axis=axis, to=cv.value(rest[0]).type.dtype)
