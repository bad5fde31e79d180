"""What several rewrite families share: replaying a graph with new weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nexus_ir import Graph


def rebuild(graph: Graph, data: Mapping[str, np.ndarray]) -> Graph:
    """A new graph with the same nodes replayed (types re-inferred) and the constants named in
    ``data`` replaced by new arrays; constants no node reads are dropped."""
    out = Graph(graph.name)
    values: dict[int, Any] = {}
    for v in graph.inputs:
        values[id(v)] = out.add_input(v.name, v.type)
    for c in graph.constants.values():
        if c.users or c in graph.outputs:
            values[id(c)] = out.add_constant(c.name, data.get(c.name, c.data),
                                             None if c.name in data else c.type, c.role)
    for node in graph:
        made = out.add_node(node.op, [values[id(v)] for v in node.inputs], node.attributes,
                            source=node.source, name=[o.name for o in node.outputs])
        values.update({id(o): m for o, m in zip(node.outputs, made.outputs)})
    out.set_outputs(*[values[id(v)] for v in graph.outputs])
    out.verify()
    return out
