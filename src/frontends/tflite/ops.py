"""The TFLite operators NEXUS maps, each a function of the reader, the operator and its tensor
indices that adds the operator's IR node(s) and returns the value(s) of its outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nexus_ir import TensorType, Value

from . import NUMPY_DTYPES, TO_CHANNELS_FIRST, TO_CHANNELS_LAST, _bad, _Reader, ir_axis, ir_shape


def _window_checked(r: _Reader, source: str, **values: Sequence[int]) -> None:
    """Strides, dilations and filter sizes of a window op are at least 1."""
    for what, numbers in values.items():
        if any(int(v) < 1 for v in numbers):
            raise _bad(r.path, f"{source}: {what} {list(numbers)} must be at least 1")


def _padding(kind: int, size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int]) -> tuple[int, ...]:
    """TFLite's SAME (0) or VALID (1) padding as begins then ends (SAME puts the odd one at
    the end, as TensorFlow does)."""
    if kind == 1:
        return (0,) * (2 * len(size))
    begins, ends = [], []
    for n, k, s, d in zip(size, kernel, stride, dilation):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return (*begins, *ends)


def _conv(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str, source: str) -> Value:
    depthwise = r.op_name(op) == "DEPTHWISE_CONV_2D"
    opts = r.options(op, "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
    x = r.value(ins[0])
    weight = r.static(ins[1])
    if weight.ndim != 4:
        raise _bad(r.path, f"{source}: a conv weight must be 4-D, got {list(weight.shape)}")
    stride = (opts.StrideH(), opts.StrideW()) if opts else (1, 1)
    dilation = (opts.DilationHFactor(), opts.DilationWFactor()) if opts else (1, 1)
    c_in = x.type.shape[1]
    if depthwise:                      # [1, kh, kw, C·M] → [C·M, 1, kh, kw], one group per C
        w = r.constant(ins[1], weight.transpose(3, 0, 1, 2), axis_map=lambda a: 0)
        groups = c_in
    else:                              # [O, kh, kw, I] → [O, I, kh, kw]
        w = r.constant(ins[1], weight.transpose(0, 3, 1, 2), axis_map=lambda a: 0)
        groups = c_in // weight.shape[3] if weight.shape[3] else 1
    kernel = w.type.shape[2:]
    _window_checked(r, source, stride=stride, dilation=dilation, kernel=kernel)
    padding = _padding(opts.Padding() if opts else 1, x.type.shape[2:], kernel, stride, dilation)
    operands = [x, w] + ([r.value(ins[2])] if len(ins) > 2 and ins[2] >= 0 else [])
    return r.graph.add_node("conv", operands, {"stride": stride, "dilation": dilation,
                                               "padding": padding, "groups": groups},
                            source=source, name=name).output


def _fully_connected(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
                     source: str) -> Value:
    x = r.value(ins[0])
    if ins[0] in r.flattened and ins[1] not in r.values:
        h, w_, c = r.flattened[ins[0]]            # columns in channels-first order
        weight = r.static(ins[1])
        columns = weight.reshape(weight.shape[0], h, w_, c).transpose(0, 3, 1, 2)
        r.values[ins[1]] = r.constant(ins[1], columns.reshape(weight.shape[0], -1))
    w = r.value(ins[1])
    features = w.type.shape[1]
    if x.type.rank != 2 or x.type.shape[-1] != features:
        x = _reshape_to(r, x, (-1, features), f"{name}.flat", source)
    operands = [x, w] + ([r.value(ins[2])] if len(ins) > 2 and ins[2] >= 0 else [])
    return r.graph.add_node("linear", operands, source=source, name=name).output


def _pool(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str, source: str) -> Value:
    opts = r.options(op, "Pool2DOptions")
    x = r.value(ins[0])
    kernel = (opts.FilterHeight(), opts.FilterWidth())
    stride = (opts.StrideH(), opts.StrideW())
    _window_checked(r, source, stride=stride, kernel=kernel)
    padding = _padding(opts.Padding(), x.type.shape[2:], kernel, stride, (1, 1))
    average = r.op_name(op) == "AVERAGE_POOL_2D"
    attrs = {"kernel_size": kernel, "stride": stride, "padding": padding}
    if average:
        attrs["count_include_pad"] = False
    return r.graph.add_node("avg_pool" if average else "max_pool", [x], attrs, source=source,
                            name=name).output


def _operand(r: _Reader, index: int, rank: int) -> Value:
    """A binary op's operand: a constant of lower rank than a 4-D partner is broadcast over
    TFLite's trailing axes, which channels-first puts first: its data is reshaped to match."""
    if index in r.values or rank != 4:
        return r.value(index)
    data = r.buffer_data(index)
    if data is None or data.ndim in (0, 4):
        return r.value(index)
    full = np.reshape(data, (1,) * (4 - data.ndim) + data.shape)
    r.values[index] = r.constant(index, full.transpose(TO_CHANNELS_FIRST), role="constant")
    return r.values[index]


def _binary(ir: str) -> Callable[..., Value]:
    def handle(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
               source: str) -> Value:
        rank = len(r.shape(outs[0]))
        return r.graph.add_node(ir, [_operand(r, i, rank) for i in ins[:2]], source=source,
                                name=name).output
    return handle


def _unary(ir: str, **attrs: Any) -> Callable[..., Value]:
    def handle(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
               source: str) -> Value:
        return r.graph.add_node(ir, [r.value(ins[0])], attrs, source=source, name=name).output
    return handle


def _leaky_relu(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
                source: str) -> Value:
    opts = r.options(op, "LeakyReluOptions")
    return r.graph.add_node("leaky_relu", [r.value(ins[0])],
                            {"alpha": opts.Alpha() if opts else 0.2}, source=source,
                            name=name).output


def _softmax(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
             source: str) -> Value:
    x = r.value(ins[0])
    return r.graph.add_node("softmax", [x], {"axis": ir_axis(-1, x.type.rank)}, source=source,
                            name=name).output


def _reshape_to(r: _Reader, x: Value, shape: Sequence[int], name: str, source: str) -> Value:
    """``x`` reshaped to the TFLite ``shape`` with TFLite's (channels-last) element order:
    through a transpose where the two layouts order the elements differently."""
    def reorders(dims: Sequence[int]) -> bool:
        return len(dims) == 4 and dims[1] > 1 and dims[2] * dims[3] > 1

    if reorders(x.type.shape):
        x = r.graph.add_node("transpose", [x], {"perm": TO_CHANNELS_LAST}, source=source,
                             name=f"{name}.channels_last").output
    target = tuple(int(d) for d in shape)
    if len(target) == 4 and -1 not in target and reorders(ir_shape(target)):
        y = r.graph.add_node("reshape", [x], {"shape": target}, source=source,
                             name=f"{name}.channels_last_out").output
        return r.graph.add_node("transpose", [y], {"perm": TO_CHANNELS_FIRST}, source=source,
                                name=name).output
    final = ir_shape(target) if -1 not in target else target
    return r.graph.add_node("reshape", [x], {"shape": final}, source=source, name=name).output


def _reshape(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
             source: str) -> Value:
    """A flatten read only by fully connected layers stays one reshape (TFLM's one buffer):
    their weight columns are permuted to the channels-first order instead."""
    x = r.value(ins[0])
    shape = r.shape(outs[0])
    readers = r.readers.get(outs[0], [])
    if x.type.rank == 4 and len(shape) == 2 and readers and \
            all(kind == "FULLY_CONNECTED" for kind in readers) and outs[0] not in r.sub_outputs:
        _, c, h, w = x.type.shape
        r.flattened[outs[0]] = (h, w, c)
        return r.graph.add_node("reshape", [x], {"shape": tuple(shape)}, source=source,
                                name=name).output
    return _reshape_to(r, x, shape, name, source)


def _concat(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
            source: str) -> Value:
    opts = r.options(op, "ConcatenationOptions")
    rank = len(r.shape(outs[0]))
    return r.graph.add_node("concat", [r.value(i) for i in ins],
                            {"axis": ir_axis(opts.Axis() if opts else 0, rank)}, source=source,
                            name=name).output


def _pad(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str, source: str) -> Value:
    x = r.value(ins[0])
    pads = np.asarray(r.static(ins[1]), dtype=np.int64).reshape(-1, 2)
    if len(pads) == 4:
        pads = pads[list(TO_CHANNELS_FIRST)]
    value = 0.0
    if len(ins) > 2 and ins[2] >= 0:
        value = float(np.asarray(r.static(ins[2])).reshape(-1)[0])
    return r.graph.add_node("pad", [x], {"pads": (*pads[:, 0], *pads[:, 1]), "value": value},
                            source=source, name=name).output


def _mean(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str, source: str) -> Value:
    opts = r.options(op, "ReducerOptions")
    x = r.value(ins[0])
    rank = len(r.shape(ins[0]))
    axes = sorted(ir_axis(int(a), rank) for a in np.asarray(r.static(ins[1])).reshape(-1))
    return r.graph.add_node("reduce_mean", [x], {"axes": tuple(axes),
                                                 "keepdims": bool(opts and opts.KeepDims())},
                            source=source, name=name).output


def _quantize(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
              source: str) -> Value:
    """QUANTIZE (float → int, or an int requantized to another scale) and DEQUANTIZE, with the
    scales and zero points of the file as constants of the IR op."""
    x = r.value(ins[0])
    to = r.dtype(outs[0])
    if r.op_name(op) == "QUANTIZE" and not x.type.dtype.is_float:
        return r.graph.add_node("cast", [x], {"to": to}, source=source, name=name).output
    side = outs[0] if r.op_name(op) == "QUANTIZE" else ins[0]
    q = r.quantization(side)
    if q is None:
        raise _bad(r.path, f"{source}: {r.op_name(op)} of a tensor without quantization "
                           "parameters")
    scale = r.graph.add_constant(r.graph.fresh_name(f"{source}.scale"),
                                 np.asarray(q["scale"], np.float32).reshape(-1)[:1].reshape(()),
                                 role="constant")
    zero = r.graph.add_constant(r.graph.fresh_name(f"{source}.zero_point"),
                                np.asarray(q["zero_point"][:1], NUMPY_DTYPES[
                                    to if r.op_name(op) == "QUANTIZE" else r.dtype(ins[0])]
                                ).reshape(()), role="constant")
    ir = "quantize" if r.op_name(op) == "QUANTIZE" else "dequantize"
    return r.graph.add_node(ir, [x, scale, zero], {"to": to}, source=source, name=name).output


def _lstm(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
          source: str) -> Value | tuple[Value, ...]:
    """UNIDIRECTIONAL_SEQUENCE_LSTM without peepholes, projection or layer norm: one IR
    ``recurrent`` layer, its four gates' weights stacked in PyTorch's order (input, forget,
    cell, output), the gate biases as ``b_ih`` and zeros as ``b_hh``, the file's state
    variables (persistent, updated in place) as initial states. Other variants are opaque."""
    optional = [i for i in (*range(9, 12), 16, 17, *range(20, 24)) if i < len(ins)]
    if len(ins) < 20 or any(ins[i] >= 0 for i in optional) or any(i < 0 for i in ins[1:9]):
        return r._opaque(r.op_name(op), ins, outs, [name], source)
    opts = r.options(op, "UnidirectionalSequenceLSTMOptions")
    time_major = bool(opts and opts.TimeMajor())
    x = r.value(ins[0])
    w_ih = np.concatenate([r.static(i) for i in ins[1:5]])
    w_hh = np.concatenate([r.static(i) for i in ins[5:9]])
    bias = np.concatenate([r.static(i) for i in ins[12:16]])
    hidden = w_hh.shape[1]
    consts = [r.constant(ins[1], w_ih), r.constant(ins[5], w_hh), r.constant(ins[12], bias),
              r.graph.add_constant(r.graph.fresh_name(f"{source}.b_hh"), np.zeros_like(bias),
                                   role="constant")]
    states = []
    for index in ins[18:20]:
        shape = (1, *r.shape(index))
        state = r.graph.add_constant(r.graph.fresh_name(r.name(index)), None,
                                     TensorType(shape, r.dtype(index)), role="buffer")
        r._quantized(state.name, index)
        states.append(state)
    node = r.graph.add_node("recurrent", [x, *states, *consts],
                            {"mode": "lstm", "hidden_size": hidden,
                             "batch_first": not time_major},
                            source=source, name=[name, f"{name}.h_n", f"{name}.c_n"])
    return node.outputs[0]


def _transpose(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
               source: str) -> Value:
    """TRANSPOSE: the file's permutation of channels-last axes, composed with the layout."""
    x = r.value(ins[0])
    perm = [int(p) for p in np.asarray(r.static(ins[1])).reshape(-1)]
    rank = len(perm)
    held = list(TO_CHANNELS_FIRST) if rank == 4 else list(range(rank))   # IR axis j = file's
    out = [perm[held[j]] for j in range(rank)]                            # file axes of out j
    return r.graph.add_node("transpose", [x], {"perm": tuple(held.index(a) for a in out)},
                            source=source, name=name).output


def _arg(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str, source: str) -> Value:
    """ARG_MAX / ARG_MIN over one axis (the axis tensor), the axis removed."""
    x = r.value(ins[0])
    axis = ir_axis(int(np.asarray(r.static(ins[1])).reshape(-1)[0]), x.type.rank)
    ir = "argmax" if r.op_name(op) == "ARG_MAX" else "argmin"
    node = r.graph.add_node(ir, [x], {"axis": axis}, source=source, name=name)
    if node.output.type.dtype.name != r.dtype(outs[0]):
        return r.graph.add_node("cast", [node.output], {"to": r.dtype(outs[0])}, source=source,
                                name=f"{name}.as_{r.dtype(outs[0])}").output
    return node.output


def _batch_matmul(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
                  source: str) -> Value:
    """BATCH_MATMUL (adjoint flags as transposes of the last two axes)."""
    opts = r.options(op, "BatchMatMulOptions")
    operands = []
    for index, adjoint in zip(ins[:2], (opts and opts.AdjX(), opts and opts.AdjY())):
        v = r.value(index)
        if adjoint:
            perm = list(range(v.type.rank))
            perm[-2:] = perm[-1], perm[-2]
            v = r.graph.add_node("transpose", [v], {"perm": tuple(perm)}, source=source,
                                 name=f"{name}.adjoint").output
        operands.append(v)
    return r.graph.add_node("matmul", operands, source=source, name=name).output


def _split(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
           source: str) -> tuple[Value, ...]:
    """SPLIT into equal parts along the axis tensor (input 0), the data being input 1."""
    x = r.value(ins[1])
    axis = ir_axis(int(np.asarray(r.static(ins[0])).reshape(-1)[0]), x.type.rank)
    size = x.type.shape[axis] // len(outs)
    names = [name] + [r.graph.fresh_name(r.name(o)) for o in outs[1:]]
    return r.graph.add_node("split", [x], {"axis": axis, "sizes": (size,) * len(outs)},
                            source=source, name=names).outputs


def _resize(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
            source: str) -> Value:
    """RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR to the output's spatial size."""
    bilinear = r.op_name(op) == "RESIZE_BILINEAR"
    opts = r.options(op, "ResizeBilinearOptions" if bilinear else "ResizeNearestNeighborOptions")
    return r.graph.add_node("resize", [r.value(ins[0])], {
        "sizes": tuple(ir_shape(r.shape(outs[0]))[2:]), "mode": "linear" if bilinear else
        "nearest", "align_corners": bool(opts and opts.AlignCorners())},
        source=source, name=name).output


END = 2 ** 31 - 1
"""The IR slice's "to the end" (an end at or past it runs to the end of the axis)."""


def _strided_slice(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
                   source: str) -> Value:
    """STRIDED_SLICE with constant begin, end and strides: begin/end masks as open ends, the
    offset flag (end relative to begin), shrunk axes dropped by a reshape; an ellipsis or new
    axes are opaque."""
    opts = r.options(op, "StridedSliceOptions")
    masks = {k: (getattr(opts, k)() if opts else 0) for k in
             ("BeginMask", "EndMask", "EllipsisMask", "NewAxisMask", "ShrinkAxisMask")}
    if masks["EllipsisMask"] or masks["NewAxisMask"]:
        return r._opaque(r.op_name(op), ins, outs, [name], source)[0]
    x = r.value(ins[0])
    begin, end, strides = (np.asarray(r.static(i), np.int64).reshape(-1) for i in ins[1:4])
    rank = x.type.rank
    starts, ends = [], []
    for axis in range(len(begin)):
        step = int(strides[axis])
        if step == 0:
            raise _bad(r.path, f"{source}: STRIDED_SLICE has a zero stride")
        start = int(begin[axis])
        stop = int(end[axis]) + (start if opts and opts.Offset() else 0)
        if masks["BeginMask"] >> axis & 1:
            start = 0 if step > 0 else -1
        if masks["EndMask"] >> axis & 1:
            stop = END if step > 0 else -END
        if masks["ShrinkAxisMask"] >> axis & 1:
            stop, step = (start + 1 if start != -1 else END), 1
            strides[axis] = 1
        starts.append(start)
        ends.append(stop)
    axes = tuple(ir_axis(a, rank) for a in range(len(begin)))
    out = r.graph.add_node("slice", [x], {"axes": axes, "starts": tuple(starts),
                                          "ends": tuple(ends),
                                          "steps": tuple(int(v) for v in strides)},
                           source=source, name=name if not masks["ShrinkAxisMask"]
                           else f"{name}.kept").output
    if masks["ShrinkAxisMask"]:
        out = _reshape_to(r, out, r.shape(outs[0]), name, source)
    return out


def _gather(r: _Reader, op: Any, ins: list[int], outs: list[int], name: str,
            source: str) -> Value:
    """GATHER along its axis (no batch dims); a 4-D gather that changes the rank is opaque (its
    output axes would not map onto the channels-first layout)."""
    opts = r.options(op, "GatherOptions")
    params = r.value(ins[0])
    indices = r.value(ins[1])
    rank = params.type.rank
    if (opts and opts.BatchDims()) or (rank == 4 and indices.type.rank != 1):
        return r._opaque(r.op_name(op), ins, outs, [name], source)[0]
    axis = ir_axis(opts.Axis() if opts else 0, rank)
    return r.graph.add_node("gather", [params, indices], {"axis": axis}, source=source,
                            name=name).output


HANDLERS: dict[str, Callable[..., Any]] = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "ADD": _binary("add"),
    "SUB": _binary("sub"), "MUL": _binary("mul"), "MAXIMUM": _binary("maximum"),
    "MINIMUM": _binary("minimum"), "SOFTMAX": _softmax, "RESHAPE": _reshape,
    "SQUEEZE": _reshape, "EXPAND_DIMS": _reshape, "CONCATENATION": _concat, "PAD": _pad,
    "PADV2": _pad, "MEAN": _mean, "QUANTIZE": _quantize, "DEQUANTIZE": _quantize,
    "RELU": _unary("relu"), "RELU6": _unary("clip", min=0.0, max=6.0),
    "RELU_N1_TO_1": _unary("clip", min=-1.0, max=1.0), "LOGISTIC": _unary("sigmoid"),
    "TANH": _unary("tanh"), "HARD_SWISH": _unary("hardswish"), "LEAKY_RELU": _leaky_relu,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": _lstm, "EXP": _unary("exp"), "ABS": _unary("abs"),
    "SQRT": _unary("sqrt"), "RSQRT": _unary("rsqrt"), "TRANSPOSE": _transpose,
    "ARG_MAX": _arg, "ARG_MIN": _arg, "BATCH_MATMUL": _batch_matmul, "SPLIT": _split,
    "RESIZE_NEAREST_NEIGHBOR": _resize, "RESIZE_BILINEAR": _resize,
    "STRIDED_SLICE": _strided_slice, "GATHER": _gather,
}
"""TFLite builtin operators mapped to IR ops; the others become ``opaque`` (unmodeled)."""
