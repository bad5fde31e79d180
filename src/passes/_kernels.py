"""numba-compiled loops of the cost passes (over schedule steps, tensors and tree nodes)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def live_profile(births: np.ndarray, deaths: np.ndarray, sizes: np.ndarray, steps: int
                 ) -> np.ndarray:
    """Bytes alive at each schedule step: tensor t lives over steps ``births[t]..deaths[t]``
    inclusive. A difference array and a prefix sum: O(tensors + steps). Bytes are float64:
    exact to 2^53 (8 PiB), and past it rounded, never wrapped as int64 sums would."""
    delta = np.zeros(steps + 1, dtype=np.float64)
    for t in range(births.shape[0]):
        delta[births[t]] += sizes[t]
        delta[deaths[t] + 1] -= sizes[t]
    profile = np.empty(steps, dtype=np.float64)
    running = 0.0
    for i in range(steps):
        running += delta[i]
        profile[i] = running
    return profile


@njit(cache=True)
def interval_max(profile: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``max(profile[starts[t]..ends[t]])`` for every t via a sparse table: O(n log n) to build,
    O(1) per query, so long-lived tensors (residual streams, graph inputs) stay cheap."""
    n = profile.shape[0]
    levels = 1
    while (1 << levels) <= n:
        levels += 1
    table = np.empty((levels, n), dtype=profile.dtype)
    table[0, :] = profile
    for k in range(1, levels):
        half = 1 << (k - 1)
        for i in range(n - (1 << k) + 1):
            a, b = table[k - 1, i], table[k - 1, i + half]
            table[k, i] = a if a > b else b
    out = np.empty(starts.shape[0], dtype=profile.dtype)
    for t in range(starts.shape[0]):
        lo, hi = starts[t], ends[t]
        k = 0
        while (1 << (k + 1)) <= hi - lo + 1:
            k += 1
        a, b = table[k, lo], table[k, hi - (1 << k) + 1]
        out[t] = a if a > b else b
    return out


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
