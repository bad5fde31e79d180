"""Switching statistics speed: zero fraction, Hamming weight and toggle rate over a 1 GiB weight
buffer, beside a numpy copy of the same buffer in the same run.

Targets (issue 9): at least half the copy's throughput on one core, near-linear speed-up on two.
"Copy" is measured two ways: ``buffer.copy()`` (what copying a tensor costs a numpy user: a fresh
allocation, page faults included) and ``np.copyto`` into a buffer already written once (the
memory system's best case: read plus write at full speed).

    python3 bench/switching_speed.py [GiB]
"""

from __future__ import annotations

import os
import sys

import ml_dtypes
import numba
import numpy as np

from passes.bit_stats import tensor_stats

sys.path.insert(0, os.path.dirname(__file__))
from timing import median_seconds  # noqa: E402

ROW = 4096


def main(gib: float = 1.0) -> None:
    elements = int(gib * (1 << 30)) // 4 // ROW * ROW
    rng = np.random.default_rng(0)
    f32 = np.empty((elements // ROW, ROW), np.float32)
    for start in range(0, f32.shape[0], 4096):          # fill without a second 1 GiB temporary
        f32[start:start + 4096] = rng.standard_normal(f32[start:start + 4096].shape)
    bf16 = f32[: f32.shape[0] // 2].astype(ml_dtypes.bfloat16)   # 0.5 GiB of native bf16 words
    nbytes = f32.nbytes
    warm = np.empty_like(f32)
    np.copyto(warm, f32)
    copy_fresh = median_seconds(lambda: f32.copy())
    copy_warm = median_seconds(lambda: np.copyto(warm, f32))
    del warm
    tensor_stats(f32[:8], "f32")                         # JIT compile outside the timing
    rows = [("numpy buffer.copy()", 1, copy_fresh, nbytes),
            ("numpy copyto (warm dest)", 1, copy_warm, nbytes)]
    for threads in (1, 2):
        numba.set_num_threads(threads)
        rows.append(("NEXUS stats, f32 buffer", threads,
                     median_seconds(lambda: tensor_stats(f32, "f32")), nbytes))
        rows.append(("NEXUS stats, bf16 buffer", threads,
                     median_seconds(lambda: tensor_stats(bf16, "bf16")), bf16.nbytes))
    print(f"buffers: {nbytes / 2**30:.2f} GiB f32 [{f32.shape[0]}, {ROW}] and "
          f"{bf16.nbytes / 2**30:.2f} GiB bf16 (its first half); cores available: "
          f"{numba.config.NUMBA_NUM_THREADS}. Ratios are throughputs (bytes/s) against the copies")
    print(f"{'what':<28}{'threads':>8}{'seconds':>10}{'GiB/s':>9}{'vs copy()':>11}"
          f"{'vs copyto':>11}")
    copy_rate, warm_rate = nbytes / copy_fresh, nbytes / copy_warm
    for name, threads, seconds, size in rows:
        rate = size / seconds
        print(f"{name:<28}{threads:>8}{seconds:>10.3f}{rate / 2**30:>9.2f}"
              f"{rate / copy_rate:>11.2f}{rate / warm_rate:>11.2f}")
    stats = tensor_stats(f32, "f32")
    print(f"check: zero fraction {stats.zero_fraction:.3g}, Hamming weight "
          f"{stats.hamming_weight:.4f}, toggle rate {stats.toggle_rate:.4f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
