"""TFLite frontend: ``.tflite`` flatbuffers (the format TinyML models ship in) → ``nexus_ir.Graph``.

The file is read with the ``tflite`` package's generated flatbuffer accessors and checked as it is
read (tensor and buffer indices in range, shapes non-negative, a constant's buffer as long as its
shape and type say). One TFLite operator becomes one IR node and one TFLite tensor one IR value,
named as the file names it (the tensor name is also the node's module name), so a memory plan
over the graph is a plan over the file's tensors (``passes.arena``).

Layout: TFLite holds images as ``[N, H, W, C]``; the IR's convolutions and pools take ``[N, C,
H, W]``, so every 4-D tensor is held channels-first (same bytes, same MACs) and the axes of
concatenations, pads, means and softmaxes are mapped. A reshape whose flattening order differs
between the layouts (spatial extent and channels both above 1) goes through an explicit
transpose, as a channels-first runtime would run it, except a flatten read only by fully
connected layers: it stays one reshape and their weight columns are permuted to the
channels-first order (the same products, and TFLM's one buffer).

Quantization: int8/int16/int32 tensors keep their integer IR dtype; their scales and zero points
(per tensor, or per channel along the file's quantized dimension, mapped to the IR's axis) are in
``graph.quantization``. A quantized conv or fully connected layer is an IR op on its integer
operands with its int32 bias; the requantization and the fused activation (TFLM clamps inside
the kernel) are part of that op. An operator outside the mapped set becomes an ``opaque`` node
with the file's output types: unmodeled, never costed as zero.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nexus_ir import Constant, Graph, NexusError, TensorType, Value

from . import require

TFLITE_DTYPES = {0: "f32", 1: "f16", 2: "i32", 3: "u8", 4: "i64", 6: "bool", 7: "i16", 9: "i8",
                 10: "f64", 17: "i4"}
"""TFLite's TensorType codes and the IR dtypes they are."""
NUMPY_DTYPES = {"f32": np.float32, "f16": np.float16, "i32": np.int32, "u8": np.uint8,
                "i64": np.int64, "bool": np.bool_, "i16": np.int16, "i8": np.int8,
                "f64": np.float64}
TO_CHANNELS_FIRST = (0, 3, 1, 2)
TO_CHANNELS_LAST = (0, 2, 3, 1)


def _bad(path: Path, why: str) -> NexusError:
    return NexusError(f"{path}: not a valid TFLite model: {why}")


def ir_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """A TFLite shape as the IR holds it: 4-D channels-first, others as they are."""
    shape = tuple(int(d) for d in shape)
    return tuple(shape[i] for i in TO_CHANNELS_FIRST) if len(shape) == 4 else shape


def ir_axis(axis: int, rank: int) -> int:
    """A TFLite axis of a rank-``rank`` tensor as the IR's axis."""
    axis = axis + rank if axis < 0 else axis
    return TO_CHANNELS_LAST.index(axis) if rank == 4 else axis


class _Reader:
    """One subgraph of a parsed model being turned into a graph."""

    def __init__(self, path: Path, data: bytes, tflite: Any):
        self.path, self.data, self.tfl = path, data, tflite
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() < 1:
            raise _bad(path, "it has no subgraph")
        self.sub = self.model.Subgraphs(0)
        codes = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.op_names = codes
        self.graph = Graph(path.stem)
        self.values: dict[int, Value] = {}
        self.readers: dict[int, list[str]] = {}
        for k in range(self.sub.OperatorsLength()):
            op = self.sub.Operators(k)
            for i in (op.InputsAsNumpy() if op.InputsLength() else ()):
                self.readers.setdefault(int(i), []).append(self.op_name(op))
        self.flattened: dict[int, tuple[int, ...]] = {}
        self.sub_outputs = {int(o) for o in self.sub.OutputsAsNumpy()} \
            if self.sub.OutputsLength() else set()

    # ------------------------------------------------------------------ tensors
    def tensor(self, index: int) -> Any:
        if not 0 <= index < self.sub.TensorsLength():
            raise _bad(self.path, f"tensor index {index} out of range "
                                  f"(the subgraph has {self.sub.TensorsLength()})")
        return self.sub.Tensors(index)

    def dtype(self, index: int) -> str:
        code = self.tensor(index).Type()
        if code not in TFLITE_DTYPES:
            raise NexusError(f"{self.path}: tensor {index} has TFLite type {code}, which NEXUS "
                             f"does not map (it maps {sorted(TFLITE_DTYPES.values())})")
        return TFLITE_DTYPES[code]

    def shape(self, index: int) -> tuple[int, ...]:
        t = self.tensor(index)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        if any(d < 0 for d in shape):
            raise _bad(self.path, f"tensor {index} has a negative dim in {list(shape)}")
        return shape

    def name(self, index: int) -> str:
        raw = self.tensor(index).Name()
        return raw.decode("utf-8", "replace") if raw else f"t{index}"

    def buffer_data(self, index: int) -> np.ndarray | None:
        """The constant bytes of tensor ``index`` typed and shaped as the file says, or None."""
        t = self.tensor(index)
        b = t.Buffer()
        if not 0 <= b < self.model.BuffersLength():
            raise _bad(self.path, f"tensor {index} names buffer {b}, out of range")
        buffer = self.model.Buffers(b)
        if buffer.Offset() > 1:
            start, size = buffer.Offset(), buffer.Size()
            if start + size > len(self.data):
                raise _bad(self.path, f"buffer {b} lies past the end of the file")
            raw = np.frombuffer(self.data, np.uint8, size, start)
        elif buffer.DataLength():
            raw = buffer.DataAsNumpy()
        else:
            return None
        dtype, shape = self.dtype(index), self.shape(index)
        if dtype == "i4":
            raise NexusError(f"{self.path}: tensor {index} holds packed int4 data, which NEXUS "
                             "does not read yet; requantize the model to int8")
        want = int(np.prod(shape, dtype=np.int64)) * np.dtype(NUMPY_DTYPES[dtype]).itemsize
        if raw.size != want:
            raise _bad(self.path, f"tensor {index} ({self.name(index)}) has {raw.size} bytes of "
                                  f"data where its shape {list(shape)} and type {dtype} need "
                                  f"{want}")
        return raw.view(NUMPY_DTYPES[dtype]).reshape(shape)

    def quantization(self, index: int, axis_map: Callable[[int], int] | None = None
                     ) -> dict[str, Any] | None:
        """The tensor's scales and zero points, with its quantized axis in the IR's layout."""
        q = self.tensor(index).Quantization()
        if q is None or not q.ScaleLength():
            return None
        scale = [float(s) for s in q.ScaleAsNumpy()]
        zero = [int(z) for z in q.ZeroPointAsNumpy()] if q.ZeroPointLength() else [0] * len(scale)
        if len(zero) != len(scale):
            raise _bad(self.path, f"tensor {index} has {len(scale)} scales but {len(zero)} zero "
                                  "points")
        axis = None
        if len(scale) > 1:
            rank = len(self.shape(index))
            axis = axis_map(q.QuantizedDimension()) if axis_map else \
                ir_axis(q.QuantizedDimension(), rank)
        return {"scale": scale, "zero_point": zero, "axis": axis}

    def constant(self, index: int, data: np.ndarray, role: str = "parameter",
                 axis_map: Callable[[int], int] | None = None) -> Constant:
        c = self.graph.add_constant(self.graph.fresh_name(self.name(index)),
                                    np.ascontiguousarray(data), role=role)
        self._quantized(c.name, index, axis_map)
        return c

    def _quantized(self, name: str, index: int, axis_map: Callable[[int], int] | None = None
                   ) -> None:
        q = self.quantization(index, axis_map)
        if q is not None:
            self.graph.quantization[name] = q

    def value(self, index: int) -> Value:
        """The IR value of tensor ``index``: produced, an input, or a constant read as it is
        (4-D constants channels-first)."""
        if index in self.values:
            return self.values[index]
        data = self.buffer_data(index)
        if data is None:
            if self.tensor(index).IsVariable():
                c = self.graph.add_constant(self.graph.fresh_name(self.name(index)), None,
                                            TensorType(ir_shape(self.shape(index)),
                                                       self.dtype(index)), role="buffer")
                self.values[index] = c
                return c
            raise _bad(self.path, f"tensor {index} ({self.name(index)}) is read before any "
                                  "operator writes it")
        if data.ndim == 4:
            data = data.transpose(TO_CHANNELS_FIRST)
        self.values[index] = self.constant(index, data)
        return self.values[index]

    def static(self, index: int) -> np.ndarray:
        data = self.buffer_data(index)
        if data is None:
            raise NexusError(f"{self.path}: tensor {index} ({self.name(index)}) must be a "
                             "constant here (NEXUS maps this operator with static parameters)")
        return data

    def out_type(self, index: int) -> TensorType:
        return TensorType(ir_shape(self.shape(index)), self.dtype(index))

    # ------------------------------------------------------------------ graph
    def build(self) -> Graph:
        for i in self.sub.InputsAsNumpy() if self.sub.InputsLength() else ():
            i = int(i)
            v = self.graph.add_input(self.graph.fresh_name(self.name(i)), self.out_type(i))
            self._quantized(v.name, i)
            self.values[i] = v
        for k in range(self.sub.OperatorsLength()):
            self.operator(self.sub.Operators(k))
        outs = [int(o) for o in self.sub.OutputsAsNumpy()] if self.sub.OutputsLength() else []
        missing = [o for o in outs if o not in self.values]
        if missing:
            raise _bad(self.path, f"graph output tensor {missing[0]} is never written")
        self.graph.set_outputs(*[self.values[o] for o in outs])
        return self.graph

    def op_name(self, op: Any) -> str:
        k = op.OpcodeIndex()
        if not 0 <= k < self.model.OperatorCodesLength():
            raise _bad(self.path, f"operator code index {k} out of range")
        code = self.model.OperatorCodes(k)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == 32:       # CUSTOM
            return "CUSTOM:" + (code.CustomCode() or b"?").decode("utf-8", "replace")
        return self.op_names.get(builtin, f"BUILTIN_{builtin}")

    def options(self, op: Any, kind: str) -> Any:
        table = op.BuiltinOptions()
        if table is None:
            return None
        opts = getattr(self.tfl, kind)()
        opts.Init(table.Bytes, table.Pos)
        return opts

    def operator(self, op: Any) -> None:
        name = self.op_name(op)
        ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(o) for o in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if not outs:
            raise _bad(self.path, f"operator {name} writes no tensor")
        handler = _HANDLERS.get(name)
        out_names = [self.graph.fresh_name(self.name(o)) for o in outs]
        source = self.name(outs[0])
        if handler is None:
            values = self._opaque(name, ins, outs, out_names, source)
        else:
            values = handler(self, op, ins, outs, out_names[0], source)
            values = values if isinstance(values, tuple) else (values,)
        for o, v in zip(outs, values):
            want = self.out_type(o)
            if v.type.shape != want.shape:
                raise _bad(self.path, f"{name} writes {self.name(o)} as {list(self.shape(o))}, "
                                      f"but its inputs give {list(v.type.shape)}")
            self._quantized(v.name, o)
            self.values[o] = v

    def _opaque(self, name: str, ins: list[int], outs: list[int], out_names: list[str],
                source: str) -> tuple[Value, ...]:
        node = self.graph.add_node("opaque", [self.value(i) for i in ins if i >= 0],
                                   {"target": f"tflite::{name}"}, source=source, name=out_names,
                                   output_types=[self.out_type(o) for o in outs])
        return node.outputs


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
        n, c, h, w = x.type.shape
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


_HANDLERS: dict[str, Callable[..., Any]] = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "ADD": _binary("add"),
    "SUB": _binary("sub"), "MUL": _binary("mul"), "MAXIMUM": _binary("maximum"),
    "MINIMUM": _binary("minimum"), "SOFTMAX": _softmax, "RESHAPE": _reshape,
    "SQUEEZE": _reshape, "EXPAND_DIMS": _reshape, "CONCATENATION": _concat, "PAD": _pad,
    "PADV2": _pad, "MEAN": _mean, "QUANTIZE": _quantize, "DEQUANTIZE": _quantize,
    "RELU": _unary("relu"), "RELU6": _unary("clip", min=0.0, max=6.0),
    "RELU_N1_TO_1": _unary("clip", min=-1.0, max=1.0), "LOGISTIC": _unary("sigmoid"),
    "TANH": _unary("tanh"), "HARD_SWISH": _unary("hardswish"), "LEAKY_RELU": _leaky_relu,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": _lstm, "EXP": _unary("exp"), "ABS": _unary("abs"), "SQRT": _unary("sqrt"), "RSQRT": _unary("rsqrt"),
}
"""TFLite builtin operators mapped to IR ops; the others become ``opaque`` (unmodeled)."""


def load_tflite(path: Path) -> Graph:
    """The graph of a ``.tflite`` file's first subgraph (the one TFLite Micro invokes)."""
    tflite = require("tflite", "tinyml")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise _bad(path, "its flatbuffer identifier is not TFL3")
    try:
        return _Reader(path, data, tflite).build()
    except NexusError:
        raise
    except (IndexError, ValueError, TypeError, AttributeError, OverflowError, KeyError,
            struct.error) as err:
        raise _bad(path, f"its flatbuffer does not parse ({type(err).__name__}: {err})") from None
