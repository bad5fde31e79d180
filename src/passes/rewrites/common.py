"""What several rewrite families share: replaying a node into a new graph, and replaying a
graph with new weights."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nexus_ir import Graph, Node, TensorType, Value
from nexus_ir.registry import get_op


def replay(out: Graph, node: Node, inputs: Sequence[Value],
           attributes: Mapping[str, Any] | None = None,
           retype: Callable[[TensorType], TensorType] = lambda t: t) -> Node:
    """``node`` applied to ``inputs`` in ``out`` under its own names and source. Output types
    are inferred again; an op that cannot infer them (``opaque``) keeps the ones it was given
    (through ``retype``: a precision change moves them too)."""
    given = None if get_op(node.op).infer else [retype(o.type) for o in node.outputs]
    return out.add_node(node.op, inputs, node.attributes if attributes is None else attributes,
                        source=node.source, name=[o.name for o in node.outputs],
                        output_types=given)


def rebuild(graph: Graph, data: Mapping[str, np.ndarray]) -> Graph:
    """A new graph with the same nodes replayed (types re-inferred) and the constants named in
    ``data`` replaced by new arrays; constants no node reads are dropped."""
    out = Graph(graph.name)
    values: dict[int, Any] = {}
    for v in graph.inputs:
        values[id(v)] = out.add_input(v.name, v.type)
    for c in graph.used_constants():
        values[id(c)] = out.add_constant(c.name, data.get(c.name, c.data),
                                         None if c.name in data else c.type, c.role)
    for node in graph:
        made = replay(out, node, [values[id(v)] for v in node.inputs])
        values.update({id(o): m for o, m in zip(node.outputs, made.outputs)})
    out.set_outputs(*[values[id(v)] for v in graph.outputs])
    out.verify()
    return out
