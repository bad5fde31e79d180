"""Precision: run a float model at a cheaper float format (bf16 or f16).

Every float weight and every float op moves to the new dtype; graph inputs and outputs keep
theirs, with a ``cast`` after each float input and before each float output, so the rewritten
graph is a drop-in replacement. Weight data is rounded to the new format (held as float32
numbers, as the frontends hold bf16 data)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nexus_ir import Graph, NexusError, TensorType, Value

from .common import replay
from .registry import Candidate, RewriteContext, register_rewrite

FORMATS = ("bf16", "f16")
WIDE = ("f32", "f64")


def _rounded(data: Any, dtype: str) -> Any:
    """Weights rounded to ``dtype`` (round to nearest even), held as float32 numbers."""
    if data is None:
        return None
    import ml_dtypes
    kind = ml_dtypes.bfloat16 if dtype == "bf16" else np.float16
    return np.asarray(data, np.float32).astype(kind).astype(np.float32)


def cast_precision(graph: Graph, dtype: str = "bf16") -> tuple[Graph, int]:
    """A copy of ``graph`` computing at ``dtype`` wherever it computed at f32 or f64 (module
    doc); returns the graph and the number of weights and inputs converted."""
    if dtype not in FORMATS:
        raise NexusError(f"precision '{dtype}': choose one of {', '.join(FORMATS)}")
    out = Graph(graph.name)
    values: dict[int, Value] = {}
    changed = 0
    for v in graph.inputs:
        made = out.add_input(v.name, v.type)
        if v.type.dtype.name in WIDE:
            made = out.op("cast", made, to=dtype, source="")
            changed += 1
        values[id(v)] = made
    for c in graph.constants.values():
        wide = c.type.dtype.name in WIDE
        values[id(c)] = out.add_constant(
            c.name, _rounded(c.data, dtype) if wide else c.data,
            TensorType(list(c.type.shape), dtype) if wide else c.type, c.role)
        changed += wide
    for node in graph:
        attrs = {k: (dtype if k == "to" and str(v) in WIDE else v)
                 for k, v in node.attributes.items()}
        made = replay(out, node, [values[id(v)] for v in node.inputs], attrs,
                      lambda t: TensorType(list(t.shape), dtype) if t.dtype.name in WIDE else t)
        values.update({id(o): m for o, m in zip(node.outputs, made.outputs)})
    results = []
    for v in graph.outputs:
        value = values[id(v)]
        if value.type.dtype != v.type.dtype:
            value = out.op("cast", value, to=v.type.dtype.name, source="")
        results.append(value)
    out.set_outputs(*results)
    out.verify()
    return out, changed


def native_formats(target: Any) -> tuple[str, ...]:
    """The formats of ``FORMATS`` the target's matrix units run (all of them for a target that
    lists no matrix rates, such as an energy-only reference): a CPU without f16 arithmetic would
    convert to f32 and back, which this rewrite does not model, so it is not offered there."""
    listed = {d for (cls, d) in getattr(target, "peak", {}) if cls == "matrix"}
    return tuple(f for f in FORMATS if not listed or f in listed)


@register_rewrite("precision")
def precision_candidates(graph: Graph, ctx: RewriteContext) -> Iterator[Candidate]:
    """bf16 and f16 (those the target runs natively) for a model whose matrix ops compute at
    f32 or f64."""
    if any(n.traits.matrix and n.outputs and n.outputs[0].type.dtype.name in WIDE
           for n in graph):
        for dtype in native_formats(ctx.target):
            yield Candidate(f"precision {dtype}", lambda g, d=dtype: cast_precision(g, d))
