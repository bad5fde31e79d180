"""numba-compiled loops of the cost passes over tree nodes (imported only where a tree ensemble
is given rows to walk)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def tree_path_lengths(x: np.ndarray, roots: np.ndarray, feature_ids: np.ndarray,
                      thresholds: np.ndarray, modes: np.ndarray, true_children: np.ndarray,
                      false_children: np.ndarray, missing_goes_true: np.ndarray) -> np.ndarray:
    """Compares each row of ``x`` makes in each tree, walking root to leaf with the real splits.

    Modes index ``BRANCH_MODES`` (1 leq, 2 lt, 3 gte, 4 gt, 5 eq, 6 neq); a NaN feature takes the
    true branch where ``missing_goes_true`` says so (empty: never), as ONNX Runtime does. Rows
    run in parallel (``numba.prange``).
    """
    rows, trees = x.shape[0], roots.shape[0]
    out = np.zeros((rows, trees), dtype=np.int64)
    tracks = missing_goes_true.shape[0] > 0
    for r in prange(rows):
        for t in range(trees):
            node = roots[t]
            steps = 0
            while true_children[node] >= 0:
                v = x[r, feature_ids[node]]
                s = thresholds[node]
                m = modes[node]
                if np.isnan(v):
                    go = tracks and missing_goes_true[node]
                elif m == 1:
                    go = v <= s
                elif m == 2:
                    go = v < s
                elif m == 3:
                    go = v >= s
                elif m == 4:
                    go = v > s
                elif m == 5:
                    go = v == s
                else:
                    go = v != s
                node = true_children[node] if go else false_children[node]
                steps += 1
            out[r, t] = steps
    return out
