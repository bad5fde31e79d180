"""Unstructured magnitude sparsity, recorded as an annotation a target with a
``sparse_efficiency`` costs as skipped work."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from nexus_ir import Graph, NexusError

from .common import rebuild
from .registry import Candidate, RewriteContext, in_module, register_rewrite, weighted

SPARSITY = "sparsity"


def sparsify_weights(graph: Graph, ratio: float, module: str | None = None
                     ) -> tuple[Graph, int]:
    """Unstructured magnitude sparsity: in every matrix op's weight (a constant with data) the
    ``ratio`` of entries with the smallest magnitudes become zero, and the op records the zero
    fraction of its weight as ``annotations["sparsity"]``, which a target with a
    ``sparse_efficiency`` turns into skipped work. Returns the graph and the ops sparsified."""
    if not 0.0 < ratio < 1.0:
        raise NexusError(f"sparsity {ratio}: give a fraction between 0 and 1")
    data: dict[str, np.ndarray] = {}
    chosen: dict[str, float] = {}
    for node in weighted(graph):
        weight = node.inputs[node.traits.weights[0]]
        if not in_module(node.source, module) or weight.name in data:
            continue
        w = np.asarray(weight.data, dtype=np.float32)
        cut = np.quantile(np.abs(w), ratio)
        data[weight.name] = np.where(np.abs(w) <= cut, 0.0, w).astype(w.dtype)
        chosen[node.name] = float((data[weight.name] == 0).mean())
    out = rebuild(graph, data) if data else graph.clone()
    for node in out:
        if node.name in chosen:
            node.annotations[SPARSITY] = chosen[node.name]
    return out, len(chosen)


@register_rewrite("sparsify")
def sparsify_candidates(graph: Graph, ctx: RewriteContext) -> Iterator[Candidate]:
    """Zero the smaller half of every matrix op's weights."""
    if weighted(graph):
        yield Candidate("sparsify 50% weights", lambda g: sparsify_weights(g, 0.5))
