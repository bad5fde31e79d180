"""How close the sampled switching statistics of large weights are to the exact ones.

Weights of 768 × 1024 whose bits are far from uniform, as trained and compressed weights are
(per-row scales over 16 binades, pruned blocks of rows, sorted rows, a few quantization levels,
and plain normal values), in f32, bf16 and int8, streamed along either axis: the activity, Hamming
weight and zero fraction of ``passes.bit_stats.sampled_stats`` (2 % of the elements read) against
``tensor_stats`` (every element), with the time of each.

    PYTHONPATH=src python3 bench/sampled_stats_accuracy.py
"""

from __future__ import annotations

import time

import ml_dtypes
import numpy as np

KINDS = ("row scales", "pruned rows", "sorted", "quantized", "plain")
DTYPES = ("f32", "bf16", "i8")


def structured(kind: str, dt: str) -> np.ndarray:
    """A 768 × 1024 weight of the given structure in dtype ``dt``."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((768, 1024))
    if kind == "row scales":            # per-output-channel scales over 16 binades
        x *= np.exp2(np.linspace(-8, 8, 768))[:, None]
    elif kind == "pruned rows":         # half the rows zero, in blocks
        x[(np.arange(768) // 48) % 2 == 0] = 0.0
    elif kind == "sorted":              # a smooth stream: few toggles between neighbours
        x = np.sort(x, axis=1)
    elif kind == "quantized":           # a handful of levels
        x = np.round(x * 2) / 2
    if dt == "bf16":
        return x.astype(ml_dtypes.bfloat16)
    if dt == "i8":
        return np.clip(np.round(x * 20), -128, 127).astype(np.int8)
    return x.astype(np.float32)


def main() -> None:
    from passes.bit_stats import sampled_stats, tensor_stats
    from passes.switching import activity

    print(f"{'weight':<12} {'dtype':<5} {'axis':>4} {'activity':>9} {'sampled':>8} {'error':>7} "
          f"{'exact ms':>9} {'sampled ms':>11}")
    worst = 0.0
    for kind in KINDS:
        for dt in DTYPES:
            for axis in (-1, 0):
                w = structured(kind, dt)
                start = time.perf_counter()
                exact = activity(tensor_stats(w, dt, axis), dt)
                middle = time.perf_counter()
                sampled = activity(sampled_stats(w, dt, axis)[0], dt)
                end = time.perf_counter()
                worst = max(worst, abs(sampled - exact))
                print(f"{kind:<12} {dt:<5} {axis:>4} {exact:>9.4f} {sampled:>8.4f} "
                      f"{sampled - exact:>+7.4f} {(middle - start) * 1e3:>9.2f} "
                      f"{(end - middle) * 1e3:>11.2f}")
    print(f"worst absolute activity error: {worst:.4f}")


if __name__ == "__main__":
    main()
