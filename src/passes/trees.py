"""Tree ensembles on real data: the compares each row makes on its actual root-to-leaf path.

Statically a tree costs its depth per row (the bound ``lowering.rules`` uses). Given rows of
features, ``annotate_tree_paths`` walks every tree with the real splits (a numba kernel,
``passes._kernels.tree_path_lengths``) and records the total on the node as the annotation
``tree_paths = {"rows": R, "compares": C, "per_row": [...], "distribution": {...}}`` (compares
per row over all trees, and their mean, spread and percentiles); the lowering rule then charges
``C·N/R`` compares (rounded) for N rows instead of the depth bound, and the per-row compares make
the per-input energies DDEV is computed from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nexus_ir import Graph, Node, NexusError, Value
from nexus_ir.ops.ml import BRANCH_MODES

PATHS = "tree_paths"


def path_lengths(node: Node, x: np.ndarray) -> np.ndarray:
    """Compares per row and tree (``[rows, trees]``) of a ``tree_ensemble`` node on rows ``x``."""
    from ._kernels import tree_path_lengths

    if node.op != "tree_ensemble":
        raise NexusError(f"path_lengths needs a tree_ensemble node, got {node.op}")
    a = node.attributes
    if (np.asarray(a["modes"]) == BRANCH_MODES.index("member")).any():
        raise NexusError("set-membership splits cannot be walked without their member sets")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise NexusError(f"rows must be a 2-D array [rows, features], got shape {x.shape}")
    inner = np.asarray(a["modes"]) != 0
    if inner.any() and int(np.asarray(a["feature_ids"])[inner].max()) >= x.shape[1]:
        raise NexusError(f"the trees read feature {int(np.asarray(a['feature_ids'])[inner].max())}"
                         f" but the rows have {x.shape[1]} features")
    return tree_path_lengths(
        np.ascontiguousarray(x), np.asarray(a["tree_roots"], np.int64),
        np.asarray(a["feature_ids"], np.int64), np.asarray(a["thresholds"], np.float64),
        np.asarray(a["modes"], np.int64), np.asarray(a["true_children"], np.int64),
        np.asarray(a["false_children"], np.int64), np.asarray(a["missing_goes_true"], np.bool_))


def compare_distribution(per_row: np.ndarray) -> dict[str, float]:
    """Summary of compares per row over all trees: mean, std, min, max and percentiles."""
    values = np.asarray(per_row, dtype=np.float64)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "max": float(values.max()),
            "p50": float(p50), "p90": float(p90), "p99": float(p99)}


def _feeding_input(value: Value) -> Value | None:
    """The graph input a tree reads, directly or through casts."""
    while value.producer is not None and value.producer.op == "cast":
        value = value.producer.inputs[0]
    return value if value.producer is None and value in value.graph.inputs else None


def annotate_tree_paths(graph: Graph, rows: Mapping[str, Any]) -> int:
    """Record the real path lengths of every tree ensemble that reads a graph input given in
    ``rows`` ({input name: array}); returns how many nodes were annotated."""
    done = 0
    for node in graph.nodes:
        if node.op != "tree_ensemble":
            continue
        source = _feeding_input(node.inputs[0])
        if source is None or source.name not in rows:
            continue
        per_row = path_lengths(node, rows[source.name]).sum(axis=1)
        node.annotations[PATHS] = {"rows": int(per_row.shape[0]), "compares": int(per_row.sum()),
                                   "per_row": per_row.tolist(),
                                   "distribution": compare_distribution(per_row)}
        done += 1
    return done
