"""ONNX frontend: ``.onnx`` files and ``ModelProto`` objects to NEXUS IR.

``from_onnx(path_or_model)`` checks the file, loads external weights only from inside the
model's folder, upgrades opsets older than 13 with ONNX's version converter, runs ONNX shape
inference (symbolic dims kept as named symbols) and maps each node through the ``HANDLERS``
table, keyed by ``(domain, op_type)``: the standard ``ai.onnx`` ops and the ``ai.onnx.ml``
classic-ML ops (tree ensembles with their full structure, linear models, SVMs, scalers,
normalizers, encoders).

Shape arithmetic (``Shape → Gather → Concat → Reshape`` and friends) is evaluated at load time,
symbolically where sizes are symbols, so reshapes get their real target shapes and no IR node is
spent on it. Anything the table lacks, or a handler cannot express, becomes an ``opaque`` node
typed by ONNX shape inference and is reported with an ``UnmappedOpsWarning``: the frontend never
fails on a valid model because of an op it does not know, and never costs it as zero.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nexus_ir import Graph, NexusError, TensorType, Value
from nexus_ir import dims
from nexus_ir.registry import registrar
from nexus_ir.ops.ml import POST_TRANSFORMS

from . import require

MIN_OPSET = 13
ML = "ai.onnx.ml"

# TensorProto.DataType → NEXUS dtype name (strings and complex numbers have none).
ONNX_DTYPES = {1: "f32", 2: "u8", 3: "i8", 5: "i16", 6: "i32", 7: "i64", 9: "i1", 10: "f16",
               11: "f64", 16: "bf16", 17: "f8e4m3", 19: "f8e5m2", 22: "i4", 23: "f4e2m1"}
_TO_ONNX = {name: code for code, name in ONNX_DTYPES.items()}


class UnmappedOpsWarning(UserWarning):
    """ONNX ops that became ``opaque`` nodes (reported as unmodeled by the cost model)."""


class _Unmappable(Exception):
    """A handler cannot express this node in IR; it becomes ``opaque``."""


# ----------------------------------------------------------------------------- loading
def _check_external_location(location: str, base: Path) -> Path:
    """The file an external-data ``location`` names, refused unless it lies inside ``base``."""
    if not location or os.path.isabs(location) or location.startswith(("/", "\\")) \
            or re.match(r"^[A-Za-z]:", location):
        raise NexusError(f"external data location '{location}' is an absolute path; ONNX "
                         "external data must be a path relative to the model's folder")
    candidate = (base / location)
    resolved = candidate.resolve()
    if not resolved.is_relative_to(base.resolve()):
        raise NexusError(f"external data location '{location}' escapes the model's folder "
                         f"{base} (through '..' or a symlink); refusing to read it. Move the "
                         "data file next to the model")
    if not resolved.is_file():
        raise NexusError(f"external data file '{location}' is missing from {base}")
    return resolved


def _load_external(model: Any, base: Path) -> None:
    """Attach external tensor data, read through a memory map, to the initializers."""
    from onnx import external_data_helper as edh

    for tensor in edh._get_all_tensors(model):
        if not edh.uses_external_data(tensor):
            continue
        info = edh.ExternalDataInfo(tensor)
        path = _check_external_location(info.location, base)
        offset = int(info.offset or 0)
        size = os.path.getsize(path)
        length = int(info.length) if info.length else size - offset
        if offset + length > size:
            raise NexusError(f"external data of '{tensor.name}' ({offset}+{length} bytes) runs "
                             f"past the end of {info.location} ({size} bytes)")
        tensor.raw_data = np.memmap(path, np.uint8, "r", offset, (length,)).tobytes()
        del tensor.external_data[:]
        tensor.data_location = 0


def load_model(model: Any) -> Any:
    """A checked ``ModelProto`` with its external data attached, from a path or a ModelProto."""
    onnx = require("onnx", "onnx")

    if isinstance(model, onnx.ModelProto):
        base = None
    else:
        path = Path(model)
        if not path.is_file():
            raise NexusError(f"model file {path} does not exist")
        data = path.read_bytes()
        try:
            model = onnx.load_model_from_string(data)
        except Exception as err:      # protobuf's DecodeError and friends
            raise NexusError(f"{path} is not a valid ONNX model (truncated or corrupt file: "
                             f"{type(err).__name__}: {err}); re-export it") from None
        if not model.graph.node and not model.graph.output:
            raise NexusError(f"{path} is not a valid ONNX model (no graph in it); re-export it")
        base = path.parent
    from onnx import external_data_helper as edh
    uses_external = any(edh.uses_external_data(t) for t in edh._get_all_tensors(model))
    if uses_external:
        if base is None:
            raise NexusError("this ModelProto refers to external data files; load it from its "
                             ".onnx path so the files can be found beside it")
        _load_external(model, base)
    return model


def _default_opset(model: Any) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return 0


def _upgrade(model: Any) -> Any:
    """Models on an opset older than 13 go through ONNX's version converter."""
    opset = _default_opset(model)
    if opset == 0 or opset >= MIN_OPSET:
        return model
    from onnx import version_converter
    try:
        return version_converter.convert_version(model, MIN_OPSET)
    except Exception as err:
        raise NexusError(f"the model uses opset {opset}; NEXUS reads opset {MIN_OPSET} and newer "
                         f"and ONNX's version converter could not upgrade it ({err}); re-export "
                         f"with opset >= {MIN_OPSET}") from None


# ----------------------------------------------------------------------------- types
def _symbol(text: str) -> str:
    """A dim_param as an IR symbol: an identifier or an expression the dims module accepts."""
    try:
        return dims.canonical(text) if text else text
    except Exception:
        return re.sub(r"\W", "_", text)


def _type_of(type_proto: Any, what: str, unknown: Callable[[int], str]) -> TensorType:
    """IR type of an ONNX ``TypeProto`` (tensors only); unknown dims get names from ``unknown``."""
    if not type_proto.HasField("tensor_type"):
        raise _Unmappable(f"{what} is not a tensor ({type_proto.WhichOneof('value')})")
    tt = type_proto.tensor_type
    name = ONNX_DTYPES.get(tt.elem_type)
    if name is None:
        raise _Unmappable(f"{what} has ONNX element type {tt.elem_type}, which NEXUS cannot type "
                          "(strings and complex numbers are not tensors of numbers)")
    if not tt.HasField("shape"):
        raise _Unmappable(f"{what} has no known rank")
    shape: list[int | str] = []
    for i, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value"):
            shape.append(int(d.dim_value))
        elif d.dim_param:
            shape.append(_symbol(d.dim_param))
        else:
            shape.append(unknown(i))
    return TensorType(shape, name)


def _array(tensor: Any) -> np.ndarray:
    from onnx import numpy_helper
    try:
        return numpy_helper.to_array(tensor)
    except Exception as err:
        raise NexusError(f"initializer '{tensor.name}' cannot be read ({err}); the model file is "
                         "damaged or its external data is missing") from None


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        elif hasattr(value, "data_type") and hasattr(value, "dims"):
            value = _array(value)
        out[a.name] = value
    return out


def _source(node: Any) -> str:
    """A module path from an exporter's node name (``/layer1/layer1.0/conv1/Conv`` →
    ``layer1.0.conv1``), else the node's name."""
    name = node.name or ""
    if "/" not in name:
        return name
    path = ""
    for part in name.strip("/").split("/")[:-1]:
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path


# ----------------------------------------------------------------------------- conversion
Operand = Value | np.ndarray


class Converter:
    """State of one conversion: the IR graph, ONNX names → IR values or static arrays, the
    ONNX-inferred types, the current node."""

    def __init__(self, graph: Graph, inferred: dict[str, Any]):
        self.graph = graph
        self.env: dict[str, Operand] = {}
        self.inferred = inferred
        self.unmapped: dict[str, int] = {}
        self.node: Any = None
        self.source = ""
        self.names: dict[int, str] = {}                          # id(array) → initializer name
        self.constants: dict[int, tuple[np.ndarray, Value]] = {}  # id(array) → its constant

    # values
    def value(self, operand: Operand, hint: str = "const") -> Value:
        """The operand as an IR value: a static array becomes a constant, once per array (every
        use of a shared initializer reads the same weight)."""
        if isinstance(operand, Value):
            return operand
        if id(operand) in self.constants:
            return self.constants[id(operand)][1]
        array = np.asarray(operand)
        if array.dtype == object:
            raise _Unmappable("a shape computed from symbolic sizes is used as tensor data")
        name = self.names.get(id(operand)) or re.sub(r"\s", "_", hint) or "const"
        const = self.graph.add_constant(self.graph.fresh_name(name), array)
        self.constants[id(operand)] = (operand, const)           # keeps the id valid
        return const

    def op(self, name: str, *inputs: Operand, **attrs: Any) -> Value:
        values = [self.value(v) for v in inputs]
        return self.graph.op(name, *values, source=self.source, **attrs)

    def ops(self, name: str, *inputs: Operand, **attrs: Any) -> tuple[Value, ...]:
        values = [self.value(v) for v in inputs]
        return self.graph.add_node(name, values, attrs, source=self.source).outputs

    def scalar(self, number: float, like: Value) -> np.ndarray:
        """A 0-d array of ``like``'s dtype (as stored: float32 for every float dtype)."""
        dt = like.type.dtype
        return np.array(number, np.float32 if dt.is_float else np.int64)

    def inferred_type(self, name: str) -> TensorType:
        proto = self.inferred.get(name)
        if proto is None:
            raise NexusError(f"ONNX shape inference gives no type for '{name}' (output of "
                             f"{self.node.op_type} node '{self.node.name}'); this op cannot be "
                             "typed, so it cannot be kept even as unmodeled")
        return _type_of(proto, f"'{name}'", lambda i: f"{_identifier(name)}_d{i}")

    def opaque(self, inputs: Sequence[Operand | None]) -> list[Value]:
        node = self.node
        target = f"{node.domain or 'ai.onnx'}::{node.op_type}"
        self.unmapped[target] = self.unmapped.get(target, 0) + 1
        values = [self.value(v, f"{node.name}_in") for v in inputs
                  if v is not None and not (isinstance(v, np.ndarray) and v.dtype == object)]
        types = [self.inferred_type(o) for o in node.output if o]
        return list(self.graph.add_node("opaque", values, {"target": target},
                                        source=self.source, output_types=types).outputs)


def _identifier(text: str) -> str:
    out = re.sub(r"\W", "_", text)
    return out if out and not out[0].isdigit() else f"d_{out}"


def _ints(x: Operand | None, what: str) -> list[int]:
    if x is None:
        return []
    if not isinstance(x, np.ndarray):
        raise _Unmappable(f"{what} is computed at run time")
    return [int(v) if not isinstance(v, str) else v for v in x.reshape(-1).tolist()]


def _axes(ins: list[Operand | None], at: dict[str, Any]) -> list[int]:
    """Squeeze/Unsqueeze axes: the attribute (opset < 13) or the second input."""
    if "axes" in at:
        return list(at["axes"])
    return _ints(ins[1] if len(ins) > 1 else None, "axes")


def _slice_args(ins: list[Operand | None]) -> tuple[list[int], list, list, list[int]]:
    """(axes, starts, ends, steps) of an ONNX Slice from its inputs; axes default to the
    leading ones and steps to 1."""
    starts, ends = _ints(ins[1], "starts"), _ints(ins[2], "ends")
    axes = _ints(ins[3], "axes") if len(ins) > 3 and ins[3] is not None else \
        list(range(len(starts)))
    steps = _ints(ins[4], "steps") if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    return axes, starts, ends, steps


Handler = Callable[[Converter, list[Operand | None], dict[str, Any]], Any]
HANDLERS: dict[tuple[str, str], Handler] = {}


def onnx_op(*names: str, domain: str = "") -> Callable[[Handler], Handler]:
    """Register a handler for ONNX ops of ``domain`` (``""`` is the standard ai.onnx)."""
    return registrar(HANDLERS, lambda name: (domain, name))(*names)


# ----------------------------------------------------------------------------- shape arithmetic
def _elementwise(fn: Callable[[Any, Any], Any]) -> Callable[..., np.ndarray]:
    """A numpy ufunc over object arrays (symbolic sizes) and plain arrays alike."""
    ufunc = np.frompyfunc(fn, 2, 1)

    def apply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(ufunc(a, b), dtype=object)
    return apply


def _tidy(array: np.ndarray) -> np.ndarray:
    """Object arrays whose entries are all ints become int64 arrays."""
    if array.dtype == object and all(isinstance(v, (int, np.integer)) for v in array.flat):
        return array.astype(np.int64)
    return array


_SYM_BINARY = {"Add": _elementwise(dims.add), "Sub": _elementwise(dims.sub),
               "Mul": _elementwise(dims.mul), "Div": _elementwise(dims.floordiv)}
_NP_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Max": np.maximum,
              "Min": np.minimum, "Mod": np.mod}
_NP_UNARY = {"Neg": np.negative, "Not": np.logical_not, "Abs": np.abs, "Sqrt": np.sqrt,
             "Reciprocal": np.reciprocal, "Exp": np.exp, "Log": np.log, "Floor": np.floor,
             "Ceil": np.ceil}
_NP_PREDICATES = {"Equal": np.equal, "Less": np.less, "Greater": np.greater,
                  "And": np.logical_and, "Or": np.logical_or}


def _fold(node: Any, ins: list[Operand | None], at: dict[str, Any]) -> list[Any] | None:
    """Evaluate ``node`` at load time when its result is static (shape arithmetic, constants);
    None when it has to run on data. Results may hold symbolic sizes (object arrays); the
    caller turns all-int ones into int64 arrays."""
    op = node.op_type
    if node.domain not in ("", "ai.onnx"):
        return None
    if op == "Constant":
        key, = at
        value = at[key]
        return [np.asarray(value, np.float32 if key in ("value_float", "value_floats")
                           else np.int64 if key in ("value_int", "value_ints") else None)]
    if op in ("Shape", "Size") and ins[0] is not None:
        sizes = ins[0].type.shape if isinstance(ins[0], Value) else ins[0].shape
        shape = np.array(list(sizes), dtype=object)
        if op == "Size":
            return [dims.product(list(shape))]
        return [shape[at.get("start", 0):at.get("end", None)]]
    if not all(x is None or isinstance(x, np.ndarray) for x in ins) or not ins or ins[0] is None:
        return None
    x = ins[0]
    symbolic = any(isinstance(v, np.ndarray) and v.dtype == object for v in ins)
    if symbolic and op in _SYM_BINARY:
        return [_SYM_BINARY[op](x, ins[1])]
    if symbolic and op == "Equal":
        return [np.frompyfunc(lambda a, b: a == b, 2, 1)(x, ins[1]).astype(bool)]
    if not symbolic and op == "Div":
        return [x // ins[1] if x.dtype.kind in "iu" else (x / ins[1]).astype(x.dtype)]
    if not symbolic and op in _NP_BINARY:
        return [_NP_BINARY[op](x, ins[1]).astype(np.result_type(x, ins[1]))]
    if not symbolic and op in _NP_PREDICATES:
        return [_NP_PREDICATES[op](x, ins[1])]
    if symbolic and op not in ("Gather", "Concat", "Unsqueeze", "Squeeze", "Slice", "Identity",
                               "Cast", "Reshape", "Where", "ReduceProd"):
        return None
    if op == "Identity":
        return [x]
    if op == "Cast":
        return [x if symbolic else x.astype(_numpy_dtype(at["to"]))]
    if op == "Gather":
        return [np.take(x, ins[1].astype(np.int64), axis=at.get("axis", 0))]
    if op == "Concat":
        return [np.concatenate([np.atleast_1d(v) for v in ins if v is not None],
                               axis=at["axis"])]
    if op == "Unsqueeze":
        axes = _axes(ins, at)
        return [np.expand_dims(x, tuple(a % (x.ndim + len(axes)) for a in axes))]
    if op == "Squeeze":
        axes = _axes(ins, at)
        return [np.squeeze(x, axis=tuple(axes) if axes else None)]
    if op == "Slice":
        axes, starts, ends, steps = _slice_args(ins)
        index = [slice(None)] * x.ndim
        for a, s, e, st in zip(axes, starts, ends, steps):
            index[a] = slice(s, e, st)
        return [x[tuple(index)]]
    if op == "Reshape":
        return [x.reshape(_ints(ins[1], "shape"))]
    if op == "Where":
        return [np.where(x, ins[1], ins[2])]
    if op == "ReduceProd" and x.ndim == 1 and not at.get("axes"):
        return [dims.product(list(x))]
    if op == "ConstantOfShape":
        shape = _ints(x, "shape")
        if any(isinstance(s, str) for s in shape) or np.prod(shape, dtype=np.int64) > 1 << 16:
            return None
        fill = at.get("value", np.zeros(1, np.float32))
        return [np.full(shape, fill.reshape(-1)[0], dtype=fill.dtype)]
    if op == "Range":
        return [np.arange(x.item(), ins[1].item(), ins[2].item()).astype(x.dtype)]
    if op in _NP_UNARY:
        return [_NP_UNARY[op](x).astype(x.dtype)]
    if op == "Trilu":
        k = int(ins[1]) if len(ins) > 1 and ins[1] is not None else 0
        return [np.triu(x, k) if at.get("upper", 1) else np.tril(x, k)]
    if op == "Expand" and x.size <= 1 << 16:
        shape = _ints(ins[1], "shape")
        if any(isinstance(s, str) for s in shape):
            return None
        out = np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(shape)))
        return [np.array(out)] if out.size <= 1 << 16 else None
    return None


def _numpy_dtype(code: int) -> Any:
    from onnx import helper
    return helper.tensor_dtype_to_np_dtype(code)


# ----------------------------------------------------------------------------- the walk
def from_onnx(model: Any, name: str | None = None) -> Graph:
    """Lower an ONNX model (a path or a ``ModelProto``) to a NEXUS graph."""
    onnx = require("onnx", "onnx")

    proto = _upgrade(load_model(model))
    try:
        inferred_model = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception as err:
        raise NexusError(f"ONNX shape inference rejects this model: {err}") from None
    g = inferred_model.graph
    inferred = {v.name: v.type for v in [*g.value_info, *g.output, *g.input]}
    graph = Graph(_identifier(name or g.name or "model"))
    cv = Converter(graph, inferred)
    initializers = {t.name for t in g.initializer}
    if len(g.sparse_initializer):
        raise NexusError("the model has sparse initializers, which this frontend does not read; "
                         "store them dense (onnx.numpy_helper.from_array)")
    for tensor in g.initializer:
        cv.env[tensor.name] = _array(tensor)
        cv.names[id(cv.env[tensor.name])] = tensor.name
    for i, inp in enumerate(x for x in g.input if x.name not in initializers):
        def unknown(axis: int, who: str = inp.name) -> str:
            return "batch" if axis == 0 else f"{_identifier(who)}_d{axis}"
        try:
            ty = _type_of(inp.type, f"graph input '{inp.name}'", unknown)
        except _Unmappable as err:
            raise NexusError(f"{err}; NEXUS costs tensors of numbers (encode strings as "
                             "integer categories before export)") from None
        cv.env[inp.name] = graph.add_input(inp.name, ty)
    for node in g.node:
        _convert_node(cv, node)
    outputs = []
    for out in g.output:
        if out.name not in cv.env:
            raise NexusError(f"graph output '{out.name}' is produced by no node")
        outputs.append(cv.value(cv.env[out.name], out.name))
    graph.set_outputs(*outputs)
    if cv.unmapped:
        listed = ", ".join(f"{k} ×{n}" for k, n in sorted(cv.unmapped.items()))
        warnings.warn(f"ONNX ops kept as opaque (unmodeled in the report): {listed}",
                      UnmappedOpsWarning, stacklevel=2)
    graph.verify()
    return graph


def _convert_node(cv: Converter, node: Any) -> None:
    ins: list[Operand | None] = []
    for name in node.input:
        if not name:
            ins.append(None)
        elif name not in cv.env:
            raise NexusError(f"{node.op_type} node '{node.name}' reads '{name}', which is neither "
                             "a graph input, an initializer nor an earlier node's output (a "
                             "missing initializer, or nodes out of order)")
        else:
            ins.append(cv.env[name])
    at = _attributes(node)
    cv.node, cv.source = node, _source(node)
    domain = "" if node.domain == "ai.onnx" else node.domain
    folded = _fold(node, ins, at)
    if folded is not None:
        outs: list[Any] = [_tidy(v if isinstance(v, np.ndarray) else np.asarray(v, dtype=object))
                           for v in folded]
    else:
        handler = HANDLERS.get((domain, node.op_type))
        try:
            if handler is None:
                raise _Unmappable("no handler")
            result = handler(cv, ins, at)
            outs = list(result) if isinstance(result, (list, tuple)) else [result]
        except _Unmappable:
            outs = cv.opaque(ins)
    for name, out in zip(node.output, outs):
        if name and out is not None:
            cv.env[name] = out
    for name in node.output[len(outs):]:
        if name:
            raise NexusError(f"{node.op_type} node '{node.name}': output '{name}' is not produced "
                             "by the NEXUS mapping")


# ----------------------------------------------------------------------------- standard ops
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
        raise _Unmappable("Selu with non-standard alpha/gamma")
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
            raise _Unmappable("Clip bounds computed at run time")
        bounds.append(None if v is None else float(v))
    return cv.op("clip", ins[0], min=bounds[0], max=bounds[1])


@onnx_op("Cast", "CastLike")
def _cast(cv, ins, at):
    code = at["to"] if cv.node.op_type == "Cast" else None
    to = ONNX_DTYPES.get(code) if code is not None else cv.value(ins[1]).type.dtype
    if to is None:
        raise _Unmappable(f"Cast to ONNX type {code}")
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
                raise _Unmappable("auto_pad SAME with a stride over a symbolic size")
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
        raise _Unmappable("ConvTranspose with output_shape or auto_pad")
    attrs = _window(cv, x, at, kernel)
    if transposed:
        attrs.update(transposed=True, output_padding=list(at.get("output_padding") or []))
    bias = [cv.value(ins[2], f"{cv.node.name}_bias")] if len(ins) > 2 and ins[2] is not None \
        else []
    return cv.op("conv", x, w, *bias, groups=at.get("group", 1), **attrs)


@onnx_op("MaxPool", "AveragePool", "LpPool")
def _pool(cv, ins, at):
    if cv.node.op_type == "LpPool" or len(cv.node.output) > 1 and cv.node.output[1]:
        raise _Unmappable("LpPool, or MaxPool whose indices are read")
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
        raise _Unmappable("BatchNormalization in training mode")
    return cv.op("batch_norm", *ins[:5], eps=at.get("epsilon", 1e-5))


@onnx_op("LayerNormalization")
def _layer_norm(cv, ins, at):
    if len(cv.node.output) > 1 and any(cv.node.output[1:]):
        raise _Unmappable("LayerNormalization whose mean/inv-std outputs are read")
    return cv.op("layer_norm", *[v for v in ins if v is not None], axis=at.get("axis", -1),
                 eps=at.get("epsilon", 1e-5))


@onnx_op("InstanceNormalization")
def _instance_norm(cv, ins, at):
    return cv.op("instance_norm", *ins, eps=at.get("epsilon", 1e-5))


@onnx_op("GroupNormalization")
def _group_norm(cv, ins, at):
    x = cv.value(ins[0])
    if cv.value(ins[1]).type.shape[0] != x.type.shape[1]:
        raise _Unmappable("GroupNormalization with per-group scale (opset 18)")
    return cv.op("group_norm", *ins, num_groups=at["num_groups"], eps=at.get("epsilon", 1e-5))


@onnx_op("Softmax", "LogSoftmax")
def _softmax(cv, ins, at):
    return cv.op("softmax" if cv.node.op_type == "Softmax" else "log_softmax", ins[0],
                 axis=at.get("axis", -1))


def _reduce_axes(cv: Converter, ins: list[Operand | None], at: dict[str, Any]) -> list[int] | None:
    axes = at.get("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = _ints(ins[1], "reduction axes")
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


@onnx_op("TopK")
def _topk(cv, ins, at):
    k = _ints(ins[1], "k")[0]
    return cv.ops("topk", ins[0], k=k, axis=at.get("axis", -1),
                  largest=bool(at.get("largest", 1)))


@onnx_op("Reshape")
def _reshape(cv, ins, at):
    x = cv.value(ins[0])
    if ins[1] is None or not isinstance(ins[1], np.ndarray):
        return cv.op("reshape", x, shape=list(cv.inferred_type(cv.node.output[0]).shape))
    shape = _ints(ins[1], "shape")
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
    axes = _axes(ins, at)
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
    sizes = at.get("split") or _ints(ins[1] if len(ins) > 1 else None, "split")
    if not sizes:
        parts = at.get("num_outputs") or len(cv.node.output)
        size = x.type.shape[axis]
        if not isinstance(size, int):
            raise _Unmappable("even Split of a symbolic size")
        chunk = -(-size // parts)
        sizes = [min(chunk, size - i * chunk) for i in range(parts)]
    return cv.ops("split", x, axis=axis, sizes=list(sizes))


@onnx_op("Slice")
def _slice(cv, ins, at):
    axes, starts, ends, steps = _slice_args(ins)
    return cv.op("slice", ins[0], axes=axes, starts=starts, ends=ends, steps=steps)


@onnx_op("Pad")
def _pad(cv, ins, at):
    x = cv.value(ins[0])
    pads = _ints(ins[1], "pads") if len(ins) > 1 else list(at.get("pads", []))
    value = float(ins[2]) if len(ins) > 2 and isinstance(ins[2], np.ndarray) else 0.0
    axes = _ints(ins[3], "axes") if len(ins) > 3 and ins[3] is not None else \
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
    shape = _ints(ins[1], "shape")
    rank = max(len(shape), x.type.rank)
    have = [1] * (rank - x.type.rank) + list(x.type.shape)
    want = [1] * (rank - len(shape)) + shape
    target = [h if w == 1 else w for h, w in zip(have, want)]
    return cv.op("expand", x, shape=target)


@onnx_op("ConstantOfShape")
def _constant_of_shape(cv, ins, at):
    fill = at.get("value", np.zeros(1, np.float32)).reshape(())
    return cv.op("expand", np.asarray(fill), shape=_ints(ins[0], "shape"))


@onnx_op("Trilu")
def _trilu(cv, ins, at):
    """Keeping one triangle is a select against a constant mask."""
    x = cv.value(ins[0])
    rows, cols = x.type.shape[-2:]
    if not (isinstance(rows, int) and isinstance(cols, int)):
        raise _Unmappable("Trilu over symbolic sizes")
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
    sizes = _ints(ins[3], "sizes") if len(ins) > 3 and ins[3] is not None else None
    scales = None if sizes else [float(s) for s in np.asarray(ins[2]).reshape(-1)][2:]
    return cv.op("resize", x, sizes=sizes[2:] if sizes else None, scales=scales, mode=mode,
                 align_corners=at.get("coordinate_transformation_mode") == "align_corners")


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


# ----------------------------------------------------------------------------- ai.onnx.ml
_POST = {"NONE": "none", "SOFTMAX": "softmax", "LOGISTIC": "logistic",
         "SOFTMAX_ZERO": "softmax_zero", "PROBIT": "probit"}
_MODES = {"LEAF": 0, "BRANCH_LEQ": 1, "BRANCH_LT": 2, "BRANCH_GTE": 3, "BRANCH_GT": 4,
          "BRANCH_EQ": 5, "BRANCH_NEQ": 6, "BRANCH_MEMBER": 7}


def _float_input(cv: Converter, x: Operand) -> Value:
    """ML ops read features as float: an integer input is cast first."""
    v = cv.value(x)
    return v if v.type.dtype.is_float else cv.op("cast", v, to="f32")


def _classifier_outputs(cv: Converter, scores: Value, complement: bool = False
                        ) -> list[Value]:
    """(label, scores): ONNX classifiers emit the winning class first. A binary classifier that
    scores only the positive class reports ``[1 - p, p]`` when ``complement`` (probabilities)
    and ``[-s, s]`` otherwise (raw margins), as ONNX Runtime does."""
    if scores.type.shape[1] == 1:
        other = cv.op("sub", cv.scalar(1.0, scores), scores) if complement else \
            cv.op("neg", scores)
        scores = cv.op("concat", other, scores, axis=1)
    return [cv.op("argmax", scores, axis=1, keepdims=False), scores]


def _trees_v1(at: dict[str, Any], classifier: bool) -> dict[str, Any]:
    """IR tree arrays from TreeEnsembleClassifier/Regressor attributes (nodes addressed by
    (tree id, node id); leaves carry class_*/target_* weights)."""
    tree_ids = np.asarray(at["nodes_treeids"], np.int64)
    node_ids = np.asarray(at["nodes_nodeids"], np.int64)
    n = len(tree_ids)
    index = {(int(t), int(i)): k for k, (t, i) in enumerate(zip(tree_ids, node_ids))}
    modes = np.array([_MODES[m] for m in at["nodes_modes"]], np.int64)
    true_kids = np.full(n, -1, np.int64)
    false_kids = np.full(n, -1, np.int64)
    for k in np.flatnonzero(modes != 0):
        t = int(tree_ids[k])
        true_kids[k] = index[(t, int(at["nodes_truenodeids"][k]))]
        false_kids[k] = index[(t, int(at["nodes_falsenodeids"][k]))]
    prefix = "class" if classifier else "target"
    ids = np.asarray(at.get(f"{prefix}_ids", []), np.int64)
    if classifier:
        labels = at.get("classlabels_int64s") or at.get("classlabels_strings") or []
        n_targets = max(len(labels), int(ids.max()) + 1 if ids.size else 1)
        if len(labels) == 2 and len(set(ids.tolist())) == 1:
            n_targets, ids = 1, np.zeros_like(ids)      # binary: one score, the positive class
    else:
        n_targets = int(at.get("n_targets", 1))
    leaf_values = np.zeros((n, n_targets), np.float32)
    weights = at.get(f"{prefix}_weights_as_tensor", at.get(f"{prefix}_weights", []))
    for t, i, k, w in zip(at[f"{prefix}_treeids"], at[f"{prefix}_nodeids"], ids,
                          np.asarray(weights, np.float32)):
        leaf_values[index[(int(t), int(i))], int(k)] += w
    children = set(true_kids[true_kids >= 0].tolist()) | set(false_kids[false_kids >= 0].tolist())
    roots = [k for k in range(n) if k not in children]
    values = at.get("nodes_values_as_tensor", at.get("nodes_values", np.zeros(n)))
    missing = np.asarray(at.get("nodes_missing_value_tracks_true", []), bool)
    return dict(n_targets=n_targets, tree_roots=np.asarray(roots, np.int64),
                feature_ids=np.asarray(at["nodes_featureids"], np.int64),
                thresholds=np.asarray(values, np.float64), modes=modes,
                true_children=true_kids, false_children=false_kids, leaf_values=leaf_values,
                missing_goes_true=missing if missing.any() else np.zeros(0, bool),
                base_values=np.asarray(at.get("base_values_as_tensor", at.get("base_values", [])),
                                       np.float32),
                aggregate=at.get("aggregate_function", "SUM").lower(),
                post_transform=_POST[at.get("post_transform", "NONE")])


@onnx_op("TreeEnsembleClassifier", "TreeEnsembleRegressor", domain=ML)
def _tree_ensemble_v1(cv, ins, at):
    classifier = cv.node.op_type == "TreeEnsembleClassifier"
    attrs = _trees_v1(at, classifier)
    scores = cv.op("tree_ensemble", _float_input(cv, ins[0]), **attrs)
    if not classifier:
        return scores
    return _classifier_outputs(cv, scores, complement=attrs["post_transform"] != "none"
                               or bool((attrs["leaf_values"] >= 0).all()))


def _trees_v5(at: dict[str, Any]) -> dict[str, Any]:
    """IR tree arrays from TreeEnsemble (ai.onnx.ml 5): inner nodes first, then the leaves."""
    inner = len(at["nodes_featureids"])
    leaf_targets = np.asarray(at["leaf_targetids"], np.int64)
    leaf_weights = np.asarray(at["leaf_weights"], np.float32).reshape(-1)
    n_leaves, n_targets = len(leaf_targets), int(at["n_targets"])
    n = inner + n_leaves

    def child(ids: str, leafs: str) -> np.ndarray:
        is_leaf = np.asarray(at[leafs], bool)
        return np.where(is_leaf, inner + np.asarray(at[ids], np.int64),
                        np.asarray(at[ids], np.int64))
    true_kids = np.concatenate([child("nodes_truenodeids", "nodes_trueleafs"),
                                np.full(n_leaves, -1, np.int64)])
    false_kids = np.concatenate([child("nodes_falsenodeids", "nodes_falseleafs"),
                                 np.full(n_leaves, -1, np.int64)])
    modes = np.concatenate([np.asarray(at["nodes_modes"], np.int64).reshape(-1) + 1,
                            np.zeros(n_leaves, np.int64)])
    roots = np.asarray(at["tree_roots"], np.int64)
    # A one-leaf tree is encoded as a node whose branches reach the same leaf: make it that leaf.
    for t, r in enumerate(roots):
        if true_kids[r] == false_kids[r] and true_kids[r] >= inner:
            roots[t] = true_kids[r]
    leaf_values = np.zeros((n, n_targets), np.float32)
    np.add.at(leaf_values, (inner + np.arange(n_leaves), leaf_targets), leaf_weights)
    splits = np.asarray(at.get("nodes_splits", np.zeros(inner)), np.float64).reshape(-1)
    missing = np.asarray(at.get("nodes_missing_value_tracks_true", []), bool)
    return dict(n_targets=n_targets, tree_roots=roots,
                feature_ids=np.concatenate([np.asarray(at["nodes_featureids"], np.int64),
                                            np.zeros(n_leaves, np.int64)]),
                thresholds=np.concatenate([splits, np.zeros(n_leaves)]), modes=modes,
                true_children=true_kids, false_children=false_kids, leaf_values=leaf_values,
                missing_goes_true=np.concatenate([missing, np.zeros(n_leaves, bool)])
                if missing.any() else np.zeros(0, bool),
                aggregate=("average", "sum", "min", "max")[at.get("aggregate_function", 1)],
                post_transform=POST_TRANSFORMS[at.get("post_transform", 0)])


@onnx_op("TreeEnsemble", domain=ML)
def _tree_ensemble_v5(cv, ins, at):
    return cv.op("tree_ensemble", _float_input(cv, ins[0]), **_trees_v5(at))


@onnx_op("LinearClassifier", "LinearRegressor", domain=ML)
def _linear_model(cv, ins, at):
    classifier = cv.node.op_type == "LinearClassifier"
    x = _float_input(cv, ins[0])
    coef = np.asarray(at["coefficients"], np.float32)
    outputs = len(at.get("classlabels_ints") or at.get("classlabels_strings") or []) \
        if classifier else int(at.get("targets", 1))
    coef = coef.reshape(-1, x.type.shape[1]) if outputs == 0 or classifier else \
        coef.reshape(outputs, -1)
    scores = cv.op("linear_classifier" if classifier else "linear_regressor", x,
                   coefficients=coef, intercepts=np.asarray(at.get("intercepts", []), np.float32),
                   post_transform=_POST[at.get("post_transform", "NONE")])
    if not classifier:
        return scores
    return _classifier_outputs(cv, scores, complement=at.get("post_transform", "NONE") != "NONE")


def _svm_kernel(cv: Converter, x: Value, vectors: np.ndarray, at: dict[str, Any]) -> Value:
    """``K[N, S]`` between the rows of x and the support vectors: a matrix product, then the
    kernel's elementwise part (RBF uses ‖x‖² − 2x·s + ‖s‖²)."""
    kind = at.get("kernel_type", "LINEAR")
    gamma, coef0, degree = (list(at.get("kernel_params", [])) + [0.0, 0.0, 3.0])[:3]
    dot = cv.op("matmul", x, np.ascontiguousarray(vectors.T))
    if kind == "LINEAR":
        return dot
    if kind == "RBF":
        x2 = cv.op("reduce_sum", cv.op("mul", x, x), axes=[1], keepdims=True)
        s2 = np.sum(vectors.astype(np.float64) ** 2, axis=1).astype(np.float32)[None, :]
        dist = cv.op("add", cv.op("sub", x2, cv.op("mul", dot, np.float32(2.0))), s2)
        return cv.op("exp", cv.op("mul", dist, np.float32(-gamma)))
    scaled = cv.op("add", cv.op("mul", dot, np.float32(gamma)), np.float32(coef0))
    if kind == "POLY":
        return cv.op("pow", scaled, np.float32(degree))
    if kind == "SIGMOID":
        return cv.op("tanh", scaled)
    raise _Unmappable(f"SVM kernel {kind}")


@onnx_op("SVMRegressor", domain=ML)
def _svm_regressor(cv, ins, at):
    x = _float_input(cv, ins[0])
    features = x.type.shape[1]
    count = int(at.get("n_supports", 0))
    coef = np.asarray(at["coefficients"], np.float32)
    if count == 0:             # linear SVR: the coefficients are the weight vector
        return cv.op("linear_regressor", x, coefficients=coef.reshape(1, -1),
                     intercepts=np.asarray(at.get("rho", [0.0]), np.float32))
    vectors = np.asarray(at["support_vectors"], np.float32).reshape(count, features)
    k = _svm_kernel(cv, x, vectors, at)
    return cv.op("add", cv.op("matmul", k, coef.reshape(-1, 1)),
                 np.asarray(at.get("rho", [0.0]), np.float32))


@onnx_op("SVMClassifier", domain=ML)
def _svm_classifier(cv, ins, at):
    """Kernel values, one decision function per class pair (one-vs-one) as a dense matrix
    product ``K[N, S] @ C[S, P]`` plus rho, then the votes (``decision > 0`` times a ±1 vote
    matrix) and the winning class. Linear SVMs without support vectors take ``x @ W^T``."""
    x = _float_input(cv, ins[0])
    features = x.type.shape[1]
    labels = at.get("classlabels_ints") or at.get("classlabels_strings") or []
    classes = len(labels)
    per_class = [int(v) for v in at.get("vectors_per_class", [])]
    coef = np.asarray(at["coefficients"], np.float32)
    rho = np.asarray(at.get("rho", []), np.float32)
    if not per_class:
        scores = cv.op("linear_classifier", x, coefficients=coef.reshape(-1, features),
                       intercepts=rho, post_transform="none")
        return _classifier_outputs(cv, scores)
    total = sum(per_class)
    vectors = np.asarray(at["support_vectors"], np.float32).reshape(total, features)
    kernel = _svm_kernel(cv, x, vectors, at)
    starts = np.concatenate([[0], np.cumsum(per_class)])
    coef = coef.reshape(classes - 1, total)
    pairs = [(i, j) for i in range(classes) for j in range(i + 1, classes)]
    dense = np.zeros((total, len(pairs)), np.float32)
    votes = np.zeros((len(pairs), classes), np.float32)
    for p, (i, j) in enumerate(pairs):
        dense[starts[i]:starts[i + 1], p] = coef[j - 1, starts[i]:starts[i + 1]]
        dense[starts[j]:starts[j + 1], p] = coef[i, starts[j]:starts[j + 1]]
        votes[p, i], votes[p, j] = 1.0, -1.0
    decision = cv.op("add", cv.op("matmul", kernel, dense), rho.reshape(1, -1))
    if classes == 2:
        scores = cv.op("concat", cv.op("neg", decision), decision, axis=1)
        return _classifier_outputs(cv, scores)
    positive = cv.op("cast", cv.op("gt", decision, np.float32(0.0)), to="f32")
    tally = cv.op("add", cv.op("matmul", positive, votes),
                  np.maximum(-votes, 0).sum(axis=0, keepdims=True).astype(np.float32))
    return _classifier_outputs(cv, tally)


@onnx_op("Scaler", domain=ML)
def _scaler(cv, ins, at):
    x = _float_input(cv, ins[0])
    offset = np.asarray(at.get("offset", [0.0]), np.float32)
    scale = np.asarray(at.get("scale", [1.0]), np.float32)
    return cv.op("mul", cv.op("sub", x, offset), scale)


@onnx_op("Normalizer", domain=ML)
def _normalizer(cv, ins, at):
    """Row-wise division by the MAX, L1 or L2 norm."""
    x = _float_input(cv, ins[0])
    norm = at.get("norm", "MAX")
    if norm == "MAX":
        size = cv.op("reduce_max", x, axes=[1], keepdims=True)
    elif norm == "L1":
        size = cv.op("reduce_sum", cv.op("abs", x), axes=[1], keepdims=True)
    else:
        size = cv.op("sqrt", cv.op("reduce_sum", cv.op("mul", x, x), axes=[1], keepdims=True))
    return cv.op("div", x, size)


@onnx_op("Binarizer", domain=ML)
def _binarizer(cv, ins, at):
    x = cv.value(ins[0])
    return cv.op("cast", cv.op("gt", x, cv.scalar(at.get("threshold", 0.0), x)),
                 to=x.type.dtype)


@onnx_op("Imputer", domain=ML)
def _imputer(cv, ins, at):
    """Replace NaN (``x != x``) or the given missing value by the per-feature fill values."""
    x = cv.value(ins[0])
    fill = np.asarray(at.get("imputed_value_floats") or at.get("imputed_value_int64s"))
    marker = at.get("replaced_value_float", float("nan"))
    missing = cv.op("ne", x, x) if np.isnan(marker) else cv.op("eq", x, cv.scalar(marker, x))
    return cv.op("where", missing, fill.astype(np.float32 if x.type.dtype.is_float
                                               else np.int64), x)


@onnx_op("OneHotEncoder", domain=ML)
def _one_hot(cv, ins, at):
    """``x[..., None] == categories`` as float: one comparison per element and category."""
    if not at.get("cats_int64s"):
        raise _Unmappable("OneHotEncoder over string categories")
    x = cv.value(ins[0])
    x = x if x.type.dtype.name == "i64" else cv.op("cast", x, to="i64")
    hits = cv.op("eq", cv.op("unsqueeze", x, axes=[x.type.rank]),
                 np.asarray(at["cats_int64s"], np.int64))
    return cv.op("cast", hits, to="f32")


@onnx_op("ArrayFeatureExtractor", domain=ML)
def _array_feature_extractor(cv, ins, at):
    indices = ins[1] if not isinstance(ins[1], np.ndarray) else \
        np.asarray(ins[1], np.int64).reshape(-1)
    return cv.op("gather", ins[0], indices, axis=-1)


@onnx_op("ZipMap", domain=ML)
def _zipmap(cv, ins, at):
    """Packaging probabilities as a sequence of {label: p} maps moves no arithmetic: the
    probabilities tensor stands for it."""
    return ins[0]


@onnx_op("FeatureVectorizer", domain=ML)
def _feature_vectorizer(cv, ins, at):
    values = [_float_input(cv, v) for v in ins]
    return cv.op("concat", *values, axis=1) if len(values) > 1 else values[0]


@onnx_op("CDist", domain="com.microsoft")
def _cdist(cv, ins, at):
    """Pairwise distances as a matrix product: ``‖a‖² − 2a·bᵀ + ‖b‖²`` (then sqrt for
    euclidean)."""
    a, b = cv.value(ins[0]), cv.value(ins[1])
    metric = at.get("metric", "sqeuclidean")
    if metric not in ("sqeuclidean", "euclidean"):
        raise _Unmappable(f"CDist metric {metric}")
    a2 = cv.op("reduce_sum", cv.op("mul", a, a), axes=[1], keepdims=True)
    b2 = cv.op("unsqueeze", cv.op("reduce_sum", cv.op("mul", b, b), axes=[1]), axes=[0])
    dot = cv.op("matmul", a, cv.op("transpose", b, perm=[1, 0]))
    dist = cv.op("add", cv.op("sub", a2, cv.op("mul", dot, cv.scalar(2.0, dot))), b2)
    return cv.op("sqrt", dist) if metric == "euclidean" else dist
