"""Live bytes over a schedule, in numpy: the profile of bytes alive at each step, and the largest
value of a profile over many intervals. (numpy rather than numba: the cost passes then import no
JIT compiler unless a tensor has data to read.)"""

from __future__ import annotations

import numpy as np


def live_profile(births: np.ndarray, deaths: np.ndarray, sizes: np.ndarray, steps: int
                 ) -> np.ndarray:
    """Bytes alive at each schedule step: tensor t lives over steps ``births[t]..deaths[t]``
    inclusive. A difference array and a prefix sum: O(tensors + steps). Bytes are float64:
    exact to 2^53 (8 PiB), and past it rounded, never wrapped as int64 sums would."""
    weights = np.asarray(sizes, dtype=np.float64)
    delta = np.bincount(births, weights, minlength=steps + 1) - \
        np.bincount(deaths + 1, weights, minlength=steps + 1)
    return np.cumsum(delta[:steps])


def interval_max(profile: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``max(profile[starts[t]..ends[t]])`` for every t through a sparse table: level k holds
    the maxima of windows of 2^k steps (O(n log n) to build), and each interval is the larger
    of two windows of its level, so long-lived tensors (residual streams, graph inputs) stay
    cheap."""
    levels = [np.asarray(profile, dtype=np.float64)]
    while (1 << len(levels)) <= len(profile):
        half = 1 << (len(levels) - 1)
        previous = levels[-1]
        levels.append(np.maximum(previous[:-half], previous[half:]))
    out = np.empty(len(starts), dtype=np.float64)
    if not len(starts):
        return out
    level = np.frexp((ends - starts + 1).astype(np.float64))[1] - 1     # floor(log2(length))
    for k in range(int(level.max()) + 1):      # (np.unique's first call costs a 7 ms import)
        chosen = level == k
        if not chosen.any():
            continue
        table = levels[k]
        out[chosen] = np.maximum(table[starts[chosen]], table[ends[chosen] - (1 << int(k)) + 1])
    return out
