"""Numba kernels of the lowering rules (loops over tree nodes)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def tree_max_depths(roots: np.ndarray, true_children: np.ndarray, false_children: np.ndarray
                    ) -> np.ndarray:
    """Compares on the longest root-to-leaf path of each tree (a leaf root has depth 0)."""
    n = true_children.shape[0]
    depths = np.zeros(roots.shape[0], dtype=np.int64)
    stack = np.empty(2 * n + 2, dtype=np.int64)
    level = np.empty(2 * n + 2, dtype=np.int64)
    for t in range(roots.shape[0]):
        top = 0
        stack[0], level[0] = roots[t], 0
        best = 0
        while top >= 0:
            node, d = stack[top], level[top]
            top -= 1
            if true_children[node] < 0:
                if d > best:
                    best = d
                continue
            top += 1
            stack[top], level[top] = true_children[node], d + 1
            top += 1
            stack[top], level[top] = false_children[node], d + 1
        depths[t] = best
    return depths
