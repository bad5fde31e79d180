"""The text form of a graph: MLIR-like, deterministic, one line per value.

    graph @mlp(%x: f32[batch,784]) {
      %fc1.weight = constant : f32[256,784] dense<#1f3a09c2>
      %h = linear(%x, %fc1.weight) : f32[batch,256] loc("fc1")
      %y = gelu(%h) {approximate = "tanh"} : f32[batch,256] loc("act")
      return %y
    }

Attributes print in their declared order; arrays print as their type and a digest of their bytes
(``dense<f64[12] #ab12cd34>``), constant data as a digest, so equal text means equal graphs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from .dtypes import DType
from .graph import Graph, Node, value_ref
from .types import TensorType


def digest(array: np.ndarray) -> str:
    """A short content hash of an array (dtype, shape and bytes)."""
    h = hashlib.sha1(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:8]


def format_value(v: Any) -> str:
    """An attribute value as printed text."""
    if v is None:
        return "none"
    if hasattr(v, "__nexus_json__"):
        return format_value(v.__nexus_json__())
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (DType, TensorType)):
        return str(v)
    if isinstance(v, np.ndarray):
        return f"dense<{v.dtype.name}{list(v.shape)} #{digest(v)}>".replace(" ", "")
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {format_value(x)}" for k, x in sorted(v.items())) + "}"
    return repr(v)


def _node_line(node: Node, annotations: bool) -> str:
    outs = ", ".join(value_ref(o.name) for o in node.outputs)
    ins = ", ".join(value_ref(v.name) for v in node._inputs)
    attrs = ", ".join(f"{k} = {format_value(v)}" for k, v in node.attributes.items())
    line = f"  {outs} = {node.op}({ins})"
    if attrs:
        line += f" {{{attrs}}}"
    line += " : " + ", ".join(str(o.type) for o in node.outputs)
    if node.source:
        line += f" loc({json.dumps(node.source)})"
    if annotations and node.annotations:
        line += "  // " + format_value(dict(node.annotations))
    return line


def print_graph(graph: Graph, annotations: bool = False) -> str:
    """The deterministic text of ``graph``; ``annotations=True`` appends what passes wrote."""
    params = ", ".join(f"{value_ref(v.name)}: {v.type}" for v in graph.inputs)
    lines = [f"graph @{graph.name}({params}) {{"]
    for c in graph.constants.values():
        data = "" if c.data is None else f" dense<#{digest(c.data)}>"
        lines.append(f"  {value_ref(c.name)} = constant : {c.type}{data}")
    lines.extend(_node_line(n, annotations) for n in graph)
    lines.append("  return " + ", ".join(value_ref(v.name) for v in graph.outputs))
    lines.append("}")
    return "\n".join(lines) + "\n"
