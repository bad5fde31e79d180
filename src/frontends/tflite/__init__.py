"""TFLite frontend: ``.tflite`` flatbuffers, the format TinyML models ship in, as a Graph.

The file is read with the ``tflite`` package's generated flatbuffer accessors and checked as it is
read (tensor and buffer indices in range, shapes non-negative, a constant's buffer as long as its
shape and type say). One TFLite operator becomes one IR node and one TFLite tensor one IR value,
named as the file names it (the tensor name is also the node's module name), so a memory plan
over the graph is a plan over the file's tensors (``passes.arena``). The reader is here; the operator table in ``ops``.

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

from .. import require

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
    return TO_CHANNELS_LAST[axis] if rank == 4 else axis      # file axis a sits at IR a


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
        handler = HANDLERS.get(name)
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


from .ops import HANDLERS  # (last: the operator table reads the reader's helpers above)
