"""Converting an ONNX graph: value types with symbolic dims, attributes, the ``Converter``
state handlers write into, the ``HANDLERS`` table keyed by ``(domain, op_type)``, and the walk
over the graph (``from_onnx``)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nexus_ir import Graph, NexusError, TensorType, Value
from nexus_ir.registry import registrar

from .. import require
from .folding import fold, tidy
from .load import (Unmappable, UnmappedOpsWarning, inference_model, initializer_array,
                   load_model, upgrade_opset)
from .operands import STRING, Operand, attributes_of, identifier, node_source, type_of


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
        self.sources: dict[str, str] = {}                        # ONNX value → module producing it
        self.constants: dict[int, tuple[np.ndarray, Value]] = {}  # id(array) → its constant

    # values
    def value(self, operand: Operand, hint: str = "const") -> Value:
        """The operand as an IR value: a static array becomes a constant, once per array (every
        use of a shared initializer reads the same weight); an initializer is a parameter, an
        array folded from the graph a constant."""
        if isinstance(operand, Value):
            return operand
        if id(operand) in self.constants:
            return self.constants[id(operand)][1]
        array = np.asarray(operand)
        if array.dtype == object:
            raise Unmappable("a shape computed from symbolic sizes is used as tensor data")
        name = self.names.get(id(operand))
        const = self.graph.add_constant(
            self.graph.fresh_name(name or re.sub(r"\s", "_", hint) or "const"), array,
            role="parameter" if name else "constant")
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
        return type_of(proto, f"'{name}'", lambda i: f"{identifier(name)}_d{i}")

    def opaque(self, inputs: Sequence[Operand | None]) -> list[Value]:
        node = self.node
        target = f"{node.domain or 'ai.onnx'}::{node.op_type}"
        self.unmapped[target] = self.unmapped.get(target, 0) + 1
        values = [self.value(v, f"{node.name}_in") for v in inputs
                  if v is not None and not (isinstance(v, np.ndarray) and v.dtype == object)]
        types = [self.inferred_type(o) for o in node.output if o]
        return list(self.graph.add_node("opaque", values, {"target": target},
                                        source=self.source, output_types=types).outputs)



Handler = Callable[[Converter, list[Operand | None], dict[str, Any]], Any]
HANDLERS: dict[tuple[str, str], Handler] = {}


def onnx_op(*names: str, domain: str = "") -> Callable[[Handler], Handler]:
    """Register a handler for ONNX ops of ``domain`` (``""`` is the standard ai.onnx)."""
    return registrar(HANDLERS, lambda name: (domain, name))(*names)



def from_onnx(model: Any, name: str | None = None) -> Graph:
    """Lower an ONNX model (a path or a ``ModelProto``) to a NEXUS graph."""
    onnx = require("onnx", "onnx")

    proto, base = load_model(model)
    proto = upgrade_opset(proto)
    try:      # no data propagation: a crafted Range/Expand must not make it allocate gigabytes
        inferred_model = onnx.shape_inference.infer_shapes(inference_model(proto))
    except Exception as err:
        raise NexusError(f"ONNX shape inference rejects this model: {err}") from None
    inferred_graph = inferred_model.graph
    inferred = {v.name: v.type for v in [*inferred_graph.value_info, *inferred_graph.output,
                                         *inferred_graph.input]}
    g = proto.graph
    graph = Graph(identifier(name or g.name or "model"))
    cv = Converter(graph, inferred)
    initializers = {t.name for t in g.initializer}
    if len(g.sparse_initializer):
        raise NexusError("the model has sparse initializers, which this frontend does not read; "
                         "store them dense (onnx.numpy_helper.from_array)")
    for tensor in g.initializer:
        cv.env[tensor.name] = initializer_array(tensor, base)
        cv.names[id(cv.env[tensor.name])] = tensor.name
    strings: list[str] = []
    for i, inp in enumerate(x for x in g.input if x.name not in initializers):
        def unknown(axis: int, who: str = inp.name) -> str:
            return "batch" if axis == 0 else f"{identifier(who)}_d{axis}"
        try:
            ty = type_of(inp.type, f"graph input '{inp.name}'", unknown, strings=True)
        except Unmappable as err:
            raise NexusError(f"{err}; NEXUS costs tensors of numbers") from None
        if inp.type.tensor_type.elem_type == STRING:
            strings.append(inp.name)
        cv.env[inp.name] = graph.add_input(inp.name, ty)
    if strings:
        warnings.warn(f"string input{'s' * (len(strings) > 1)} {', '.join(strings)}: costed as "
                      "one 64-bit category code per string (encoders compare and look up codes; "
                      "hashing the text is not counted)", stacklevel=3)
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
    at = attributes_of(node)
    initializers = {name for name in node.input if isinstance(cv.env.get(name), np.ndarray)
                    and id(cv.env[name]) in cv.names}
    upstream = next((cv.sources[i] for i in node.input if i in cv.sources), "")
    cv.node, cv.source = node, node_source(node, initializers, upstream)
    domain = "" if node.domain == "ai.onnx" else node.domain
    folded = fold(node, ins, at)
    if folded is not None:
        outs: list[Any] = [tidy(v if isinstance(v, np.ndarray) else np.asarray(v, dtype=object))
                           for v in folded]
    else:
        handler = HANDLERS.get((domain, node.op_type))
        try:
            if handler is None:
                raise Unmappable("no handler")
            result = handler(cv, ins, at)
            outs = list(result) if isinstance(result, (list, tuple)) else [result]
        except Unmappable:
            try:
                outs = cv.opaque(ins)
            except Unmappable as err:
                raise NexusError(f"{node.op_type} node '{node.name}' can be neither lowered nor "
                                 f"kept as unmodeled: {err}") from None
        except (IndexError, KeyError, ValueError, TypeError, OverflowError) as err:
            raise NexusError(f"{node.op_type} node '{node.name}' cannot be read: "
                             f"{type(err).__name__}: {str(err)[:200]} (its attributes or inputs "
                             "do not fit the op; if the model runs elsewhere, this is a NEXUS "
                             "bug: rerun with --debug and report it)") from err
    for name, out in zip(node.output, outs):
        if name in cv.env:
            raise NexusError(f"{node.op_type} node '{node.name}' writes '{name}', which a graph "
                             "input, an initializer or an earlier node already defines (ONNX "
                             "graphs assign each name once); the model is damaged: re-export it")
        if name and out is not None:
            cv.env[name] = out
            cv.sources[name] = cv.source
    for name in node.output[len(outs):]:
        if name:
            raise NexusError(f"{node.op_type} node '{node.name}': output '{name}' is not produced "
                             "by the NEXUS mapping")
