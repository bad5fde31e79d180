"""SSA values, constants, nodes and graphs.

A ``Graph`` owns its values and nodes. Nodes sit in an intrusive doubly linked list kept in
topological order, so inserting before/after a node and erasing one are O(1) and a rewrite of a
100k-node graph stays linear. Every ``Value`` knows its producer and its users (one entry per
operand slot that reads it), and those links are maintained by the editing helpers; the verifier
checks them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import dims
from .attrs import frozen_array
from .dtypes import from_numpy
from .errors import GraphError, NexusError, ShapeError
from .registry import _REGISTRY, OpDef, OpTraits, get_op
from .types import TensorType

if TYPE_CHECKING:
    import numpy as np


class Value:
    """One SSA value: a graph input, a constant, or one output of a node."""

    __slots__ = ("name", "type", "producer", "_users", "graph")

    def __init__(self, name: str, type_: TensorType, graph: "Graph", producer: "Node | None" = None):
        self.name = name
        self.type = type_
        self.graph = graph
        self.producer = producer
        self._users: list[Node] = []

    @property
    def users(self) -> list["Node"]:
        """Nodes reading this value, once per operand slot (a node using it twice appears twice)."""
        return list(self._users)

    @property
    def is_constant(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


ROLES = ("parameter", "buffer", "constant")


class Constant(Value):
    """A weight or other compile-time value; ``data`` is absent when only shapes are known.

    ``role`` says what a framework would call it: a ``parameter`` (a trained weight), a
    ``buffer`` (state such as batch-norm running statistics) or a ``constant`` (a scalar or
    table the frontend or a rewrite made). Reports count parameters and buffers apart."""

    __slots__ = ("data", "role")

    def __init__(self, name: str, type_: TensorType, graph: "Graph", data: np.ndarray | None,
                 role: str = "parameter"):
        super().__init__(name, type_, graph)
        if role not in ROLES:
            raise GraphError(f"constant %{name}: role {role!r} is not one of {', '.join(ROLES)}")
        self.data = data
        self.role = role

    @property
    def is_constant(self) -> bool:
        return True


class Node:
    """One op application. ``attributes`` are read-only; ``annotations`` belong to passes."""

    __slots__ = ("op", "_inputs", "outputs", "attributes", "source", "annotations", "graph",
                 "_prev", "_next")

    def __init__(self, op: str, inputs: Sequence[Value], attributes: Mapping[str, Any],
                 source: str, graph: "Graph"):
        self.op = op
        self._inputs = tuple(inputs)
        self.outputs: tuple[Value, ...] = ()
        self.attributes = attributes
        self.source = source
        self.annotations: dict[str, Any] = {}
        self.graph: Graph | None = graph
        self._prev: Node | None = None
        self._next: Node | None = None

    @property
    def inputs(self) -> tuple[Value, ...]:
        return self._inputs

    @property
    def name(self) -> str:
        """The node's id in reports: the name of its first output."""
        return self.outputs[0].name

    @property
    def output(self) -> Value:
        """The single output; an error for multi-output nodes."""
        if len(self.outputs) != 1:
            raise GraphError(f"node %{self.name} ({self.op}) has {len(self.outputs)} outputs; "
                             "index node.outputs instead")
        return self.outputs[0]

    @property
    def opdef(self) -> OpDef:
        return get_op(self.op)

    @property
    def traits(self) -> OpTraits:
        """The op's traits (``nexus_ir.registry.OpTraits``): what passes ask about it (thousands
        of times per costing: the registry read directly, ``get_op``'s error when unknown)."""
        found = _REGISTRY.get(self.op)
        return (found or get_op(self.op)).traits

    def set_input(self, index: int, value: Value) -> None:
        """Point operand ``index`` at ``value``, keeping use lists right (types are not checked)."""
        old = self._inputs[index]
        old._users.remove(self)
        self._inputs = (*self._inputs[:index], value, *self._inputs[index + 1:])
        value._users.append(self)

    def __repr__(self) -> str:
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        ins = ", ".join(f"%{v.name}" for v in self._inputs)
        return f"<Node {outs} = {self.op}({ins})>"


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.:/-]+$")


class Graph:
    """A dataflow graph: inputs, constants, nodes in topological order, outputs; ``quantization``
    maps a value's name to its file's ``{"scale", "zero_point", "axis"}`` (per tensor: None)."""

    def __init__(self, name: str = "main"):
        self.name = name
        self.quantization: dict[str, dict[str, Any]] = {}
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.constants: dict[str, Constant] = {}
        self._values: dict[str, Value] = {}
        self._head: Node | None = None
        self._tail: Node | None = None
        self._size = 0
        self._counter = 0
        self._insert_before: Node | None = None

    # ----------------------------------------------------------------- naming and lookup
    def fresh_name(self, hint: str | None = None) -> str:
        """A value name not used in this graph: ``hint`` itself when free, else ``hint_1``, …"""
        if hint is None:
            while str(self._counter) in self._values:
                self._counter += 1
            name = str(self._counter)
            self._counter += 1
            return name
        _check_name(hint)
        if hint not in self._values:
            return hint
        k = 1
        while f"{hint}_{k}" in self._values:
            k += 1
        return f"{hint}_{k}"

    def _register(self, value: Value) -> Value:
        self._values[value.name] = value
        return value

    def value(self, name: str) -> Value:
        """The value called ``name`` (without the leading ``%``)."""
        try:
            return self._values[name]
        except KeyError:
            raise GraphError(f"graph @{self.name} has no value %{name}") from None

    def has_value(self, name: str) -> bool:
        return name in self._values

    # ----------------------------------------------------------------- building
    def add_input(self, name: str, type_: TensorType | str) -> Value:
        """Declare a graph input; ``type_`` may be a TensorType or its text, e.g. ``f32[b,4]``."""
        if isinstance(type_, str):
            type_ = TensorType.parse(type_)
        value = self._register(Value(self._unique(name), type_, self))
        self.inputs.append(value)
        return value

    def add_constant(self, name: str, data: np.ndarray | None = None,
                     type_: TensorType | str | None = None, role: str = "parameter") -> Constant:
        """Add a constant (weight). Give ``data``, ``type_`` (shape only, no numbers), or both;
        ``role`` is ``parameter``, ``buffer`` or ``constant`` (``Constant``)."""
        if isinstance(type_, str):
            type_ = TensorType.parse(type_)
        if data is not None:
            data = frozen_array(data)
            if type_ is None:
                type_ = TensorType(data.shape, from_numpy(data.dtype))
            elif tuple(type_.shape) != tuple(data.shape):
                raise ShapeError(f"constant %{name}: data has shape {list(data.shape)} but the "
                                 f"type says {type_}")
        if type_ is None:
            raise GraphError(f"constant %{name}: give its data or its type")
        const = Constant(self._unique(name), type_, self, data, role)
        self._register(const)
        self.constants[const.name] = const
        return const

    def _unique(self, name: str) -> str:
        """``name`` itself, which must be valid and unused (inputs and constants keep the
        names users give them)."""
        _check_name(name)
        if name in self._values:
            raise GraphError(f"graph @{self.name} already has a value named %{name}")
        return name

    def add_node(
        self, op: str, inputs: Sequence[Value], attributes: Mapping[str, Any] | None = None,
        *, source: str = "", name: str | Sequence[str] | None = None,
        output_types: Sequence[TensorType] | None = None, before: Node | None = None,
        after: Node | None = None,
    ) -> Node:
        """Create a node, infer its output types, and insert it.

        The node goes before ``before``, after ``after``, at the current insertion point, or at
        the end, in that order of preference. ``output_types`` is required for ops without
        inference (``opaque``) and otherwise must agree with inference.
        """
        opdef = get_op(op)
        attrs = opdef.normalize_attrs(attributes or {})
        for v in inputs:
            if not isinstance(v, Value):
                raise GraphError(f"{op}: inputs must be Values of this graph, got {v!r}")
            if v.graph is not self or self._values.get(v.name) is not v:
                raise GraphError(f"{op}: input %{v.name} does not belong to graph @{self.name}")
        attrs = opdef.canonical_attrs(attrs, [v.type for v in inputs])
        types = self._output_types(opdef, [v.type for v in inputs], attrs, output_types)
        names = [name] if isinstance(name, str) else list(name or [])
        if len(names) > len(types):
            raise GraphError(f"{op}: {len(names)} names given for {len(types)} outputs")
        names += [None] * (len(types) - len(names))
        node = Node(op, inputs, attrs, source, self)
        node.outputs = tuple(self._register(Value(self.fresh_name(n), t, self, node))
                             for n, t in zip(names, types))
        for v in inputs:
            v._users.append(node)
        self._link(node, before=before, after=after)
        return node

    @staticmethod
    def _output_types(opdef: OpDef, input_types: list[TensorType], attrs: Mapping[str, Any],
                      given: Sequence[TensorType] | None) -> list[TensorType]:
        if opdef.infer is None:
            opdef.check_arity(len(input_types))
            if not given:
                raise ShapeError(f"{opdef.name}: output types cannot be inferred; pass output_types")
            return list(given)
        inferred = opdef.infer_types(input_types, attrs)
        if given is not None and list(given) != inferred:
            shown = ", ".join(map(str, given))
            raise ShapeError(f"{opdef.name}: given output types ({shown}) disagree with inferred "
                             f"({', '.join(map(str, inferred))})")
        return inferred

    def op(self, op: str, *inputs: Value, source: str = "", name: str | None = None,
           **attributes: Any) -> Value | tuple[Value, ...]:
        """Append ``op`` applied to ``inputs``; returns its output (or outputs)."""
        node = self.add_node(op, inputs, attributes, source=source, name=name)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def set_outputs(self, *values: Value) -> None:
        for v in values:
            if self._values.get(v.name) is not v:
                raise GraphError(f"output %{v.name} does not belong to graph @{self.name}")
        self.outputs = list(values)

    @contextlib.contextmanager
    def insertion_point(self, before: Node | None) -> Iterator[None]:
        """Within the block, ``add_node`` inserts before ``before`` (None: at the end)."""
        saved = self._insert_before
        self._insert_before = before
        try:
            yield
        finally:
            self._insert_before = saved

    # ----------------------------------------------------------------- node list
    def _link(self, node: Node, before: Node | None = None, after: Node | None = None) -> None:
        if after is not None:
            before = after._next
            if before is None:
                self._append(node)
                return
        before = before or self._insert_before
        if before is None:
            self._append(node)
            return
        if before.graph is not self:
            raise GraphError("insertion anchor is not a node of this graph")
        node._prev, node._next = before._prev, before
        if before._prev is None:
            self._head = node
        else:
            before._prev._next = node
        before._prev = node
        self._size += 1

    def _append(self, node: Node) -> None:
        node._prev, node._next = self._tail, None
        if self._tail is None:
            self._head = node
        else:
            self._tail._next = node
        self._tail = node
        self._size += 1

    def _unlink(self, node: Node) -> None:
        if node._prev is None:
            self._head = node._next
        else:
            node._prev._next = node._next
        if node._next is None:
            self._tail = node._prev
        else:
            node._next._prev = node._prev
        node._prev = node._next = None
        self._size -= 1

    def __iter__(self) -> Iterator[Node]:
        """Nodes in order; erasing the node just yielded is safe."""
        node = self._head
        while node is not None:
            following = node._next
            yield node
            node = following

    def __len__(self) -> int:
        return self._size

    @property
    def nodes(self) -> list[Node]:
        """A snapshot list of the nodes in topological order."""
        return list(self)

    # ----------------------------------------------------------------- editing
    def replace_all_uses(self, old: Value, new: Value, check_type: bool = True) -> None:
        """Make every reader of ``old`` (nodes and graph outputs) read ``new`` instead."""
        if old is new:
            return
        if check_type and old.type != new.type:
            raise GraphError(f"cannot replace %{old.name} ({old.type}) with %{new.name} "
                             f"({new.type}): types differ")
        for user in old._users:
            slot = next(i for i, v in enumerate(user._inputs) if v is old)
            user._inputs = (*user._inputs[:slot], new, *user._inputs[slot + 1:])
            new._users.append(user)
        old._users.clear()
        self.outputs = [new if v is old else v for v in self.outputs]

    def erase_node(self, node: Node) -> None:
        """Remove ``node``; its outputs must be unused."""
        if node.graph is not self:
            raise GraphError(f"node {node!r} is not in graph @{self.name}")
        for out in node.outputs:
            if out._users:
                raise GraphError(f"cannot erase %{node.name} ({node.op}): %{out.name} is still "
                                 f"used by %{out._users[0].name} ({out._users[0].op})")
            if out in self.outputs:
                raise GraphError(f"cannot erase %{node.name} ({node.op}): %{out.name} is a graph "
                                 "output")
        self._unlink(node)
        for v in node._inputs:
            v._users.remove(node)
        for out in node.outputs:
            del self._values[out.name]
        node.graph = None

    def erase_constant(self, const: Constant) -> None:
        """Remove an unused constant."""
        if const._users:
            raise GraphError(f"cannot erase constant %{const.name}: used by %{const._users[0].name}")
        del self.constants[const.name]
        del self._values[const.name]

    # ----------------------------------------------------------------- whole-graph operations
    def clone(self, name: str | None = None) -> "Graph":
        """A structural copy. Constant data arrays are shared (they are read-only)."""
        return self._copy(self.nodes, name or self.name)

    def _copy(self, nodes: Sequence[Node], name: str,
              bindings: Mapping[str, int | str] | None = None,
              whole: bool = True) -> "Graph":
        """Copy ``nodes`` into a new graph. With ``whole`` every input and constant comes along;
        otherwise only those the nodes read, and other outside values they read become inputs."""
        new = Graph(name)
        mapping: dict[int, Value] = {}

        def ty(t: TensorType) -> TensorType:
            return t.bind(bindings) if bindings else t

        def bring(v: Value) -> Value:
            if isinstance(v, Constant):
                copied = new.add_constant(v.name, v.data, ty(v.type), v.role)
            else:
                copied = new.add_input(v.name, ty(v.type))
            mapping[id(v)] = copied
            return copied

        if whole:
            for v in [*self.inputs, *self.constants.values()]:
                bring(v)
        for n in nodes:
            attributes = _bind_attributes(n, bindings) if bindings else n.attributes
            copy = Node(n.op, [mapping.get(id(v)) or bring(v) for v in n._inputs], attributes,
                        n.source, new)
            copy.outputs = tuple(new._register(Value(o.name, ty(o.type), new, copy))
                                 for o in n.outputs)
            copy.annotations = dict(n.annotations)
            for v in copy._inputs:
                v._users.append(copy)
            new._append(copy)
            mapping.update({id(o): c for o, c in zip(n.outputs, copy.outputs)})
        new.outputs = [mapping[id(v)] for v in self.outputs if id(v) in mapping]
        new.quantization = {k: q for k, q in self.quantization.items() if new.has_value(k)}
        new._counter = self._counter
        return new

    def subgraph(self, source_prefix: str) -> "Graph":
        """The nodes whose ``source`` is ``source_prefix`` or lies under it (``layer1`` covers
        ``layer1.0.conv1``), as a graph: outside values they read become inputs (constants stay
        constants), values read outside or returned become outputs."""
        prefix = source_prefix.rstrip(".")
        chosen = [n for n in self if n.source == prefix or n.source.startswith(prefix + ".")]
        if not chosen:
            raise GraphError(f"no node of graph @{self.name} has a source under '{prefix}'")
        chosen_ids = {id(n) for n in chosen}
        escaping = [o for n in chosen for o in n.outputs
                    if o in self.outputs or any(id(u) not in chosen_ids for u in o._users)]
        sub = self._copy(chosen, prefix, whole=False)
        sub.outputs = [sub.value(o.name) for o in escaping]
        return sub

    def bind_symbols(self, bindings: Mapping[str, int | str]) -> "Graph":
        """A copy with symbolic dims bound to sizes (``{"batch": 8}``) or renamed
        (``{"s0": "seq"}``)."""
        return self._copy(self.nodes, self.name, bindings)

    def used_constants(self) -> list[Constant]:
        """The constants a node reads or the graph returns: what a model stores to run."""
        returned = {id(v) for v in self.outputs}
        return [c for c in self.constants.values() if c._users or id(c) in returned]

    @property
    def symbols(self) -> frozenset[str]:
        found: set[str] = set()
        for v in self._values.values():
            found |= v.type.symbols
        return frozenset(found)

    def verify(self) -> None:
        """Raise VerificationError listing every problem; return None for a valid graph."""
        from .verifier import verify
        verify(self)

    def to_text(self, annotations: bool = False) -> str:
        from .printer import print_graph
        return print_graph(self, annotations=annotations)

    def to_json(self, include_data: bool = True, indent: int | None = None) -> str:
        from .serialize import graph_to_json
        return graph_to_json(self, include_data=include_data, indent=indent)

    @staticmethod
    def from_json(text: str) -> "Graph":
        from .serialize import graph_from_json
        return graph_from_json(text)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<Graph @{self.name}: {len(self.inputs)} inputs, {len(self.constants)} constants, " \
               f"{self._size} nodes>"


def _bind_attributes(node: Node, bindings: Mapping[str, int | str]) -> Mapping[str, Any]:
    """The node's attributes with symbols bound inside dim-list attributes (a reshape's
    target shape, a slice's ends), so a bound graph stays consistent."""
    try:
        specs = get_op(node.op).attrs.specs
    except NexusError:
        return node.attributes
    bound = dict(node.attributes)
    for name, spec in specs.items():
        if spec.kind.holds_dims and bound.get(name) is not None:
            bound[name] = tuple(dims.bind(d, bindings) for d in bound[name])
    return MappingProxyType(bound)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or name.startswith("%"):
        raise GraphError(f"invalid value name {name!r}: names are non-empty strings without a "
                         "leading '%'")


def value_ref(name: str) -> str:
    """``%name``, quoted when the name has characters outside ``[A-Za-z0-9_.:/-]``."""
    return f"%{name}" if _SAFE_NAME.match(name) else '%"' + name.replace('"', '\\"') + '"'

