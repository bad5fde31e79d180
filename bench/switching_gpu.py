"""GPU evidence for the switching-activity model: bf16 8192³ matrix products on operands with
different bits (random normal, sparse, all-zero, low-entropy, constant), energy measured with
NVML's total-energy counter, beside NEXUS's predicted activity and energy for the same operands.

    PYTHONPATH=src python3 bench/switching_gpu.py [OUT_DIR]     # on a machine with an NVIDIA GPU

Each operand set: warm-up, then 3 windows of at least 2 s of back-to-back products; energy per
product = counter delta / products, idle power measured for 3 s before. Operands are built on the
CPU with a fixed seed, so the predicted activities are reproducible anywhere.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

N = 8192
WINDOW_S = 2.0
WINDOWS = 3


def operand_sets(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Name → (A [N,N], B [N,N]) as float32 values exactly representable in bf16."""
    def normal() -> np.ndarray:
        return rng.standard_normal((N, N), dtype=np.float32)

    def sparse(keep: float) -> np.ndarray:
        return normal() * (rng.random((N, N), dtype=np.float32) < keep)

    def signs() -> np.ndarray:
        return np.where(rng.random((N, N), dtype=np.float32) < 0.5, -1.0, 1.0).astype(np.float32)

    def small_ints() -> np.ndarray:
        return rng.integers(-3, 4, (N, N)).astype(np.float32)

    zeros = np.zeros((N, N), np.float32)
    return {"random normal": (normal(), normal()), "50% zeros": (sparse(0.5), sparse(0.5)),
            "90% zeros": (sparse(0.1), sparse(0.1)), "small integers -3..3": (small_ints(),
                                                                             small_ints()),
            "random signs ±1": (signs(), signs()), "all ones": (np.ones((N, N), np.float32),) * 2,
            "all zeros": (zeros, zeros)}


def predict(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """NEXUS on the graph A @ B with the operands' data attached (typed bf16)."""
    import nexus_ir as nx
    from passes.bit_stats import tensor_stats
    from passes.switching import activity

    g = nx.Graph("matmul")
    x = g.add_constant("A", a, nx.TensorType([N, N], "bf16"))
    w = g.add_constant("B", b, nx.TensorType([N, N], "bf16"))
    g.set_outputs(g.op("matmul", x, w))
    report = nx.compile(g, target="h100")
    sa, sb = tensor_stats(a, "bf16", -1), tensor_stats(b, "bf16", 0)
    node = report.nodes[0]
    return {"activity": (activity(sa, "bf16") + activity(sb, "bf16")) / 2,
            "zero_fraction": (sa.zero_fraction + sb.zero_fraction) / 2,
            "hamming_weight": (sa.hamming_weight + sb.hamming_weight) / 2,
            "toggle_rate": (sa.toggle_rate + sb.toggle_rate) / 2,
            "energy_j": node.energy_j, "compute_j": node.compute_j, "memory_j": node.memory_j,
            "static_j": node.static_j, "time_s": node.time_s}


def measure(a: np.ndarray, b: np.ndarray, handle: object, idle_w: float) -> dict[str, float]:
    import pynvml
    import torch

    ta = torch.from_numpy(a).to("cuda", torch.bfloat16)
    tb = torch.from_numpy(b).to("cuda", torch.bfloat16)
    out = torch.empty((N, N), device="cuda", dtype=torch.bfloat16)
    for _ in range(50):
        torch.matmul(ta, tb, out=out)
    torch.cuda.synchronize()
    per_product, seconds = [], []
    for _ in range(WINDOWS):
        count = 0
        start_mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        start = time.perf_counter()
        while time.perf_counter() - start < WINDOW_S:
            for _ in range(100):
                torch.matmul(ta, tb, out=out)
            count += 100
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        joules = (pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) - start_mj) / 1e3
        per_product.append(joules / count)
        seconds.append(elapsed / count)
    mean = statistics.mean(per_product)
    t = statistics.mean(seconds)
    return {"energy_j": mean, "cv": statistics.pstdev(per_product) / mean, "time_s": t,
            "above_idle_j": mean - idle_w * t, "tflops": 2 * N**3 / t / 1e12,
            "power_w": mean / t}


def main(out_dir: str = ".") -> None:
    import pynvml
    import torch

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    name = pynvml.nvmlDeviceGetName(handle)
    torch.zeros(1, device="cuda")
    time.sleep(1.0)
    start_mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    start = time.perf_counter()
    time.sleep(3.0)
    idle_w = (pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) - start_mj) / 1e3 / (
        time.perf_counter() - start)
    rows = []
    for label, (a, b) in operand_sets(np.random.default_rng(0)).items():
        predicted = predict(a, b)
        measured = measure(a, b, handle, idle_w)
        rows.append({"operands": label, "predicted": predicted, "measured": measured})
        print(f"{label:<22} activity {predicted['activity']:.3f}  predicted "
              f"{predicted['energy_j'] * 1e3:7.2f} mJ  measured {measured['energy_j'] * 1e3:7.2f}"
              f" mJ (cv {measured['cv']:.3f}, above idle {measured['above_idle_j'] * 1e3:7.2f} "
              f"mJ, {measured['tflops']:.0f} TFLOP/s, {measured['power_w']:.0f} W)", flush=True)
    doc = {"device": name if isinstance(name, str) else name.decode(), "idle_w": idle_w,
           "n": N, "window_s": WINDOW_S, "windows": WINDOWS, "rows": rows}
    Path(out_dir, "switching_gpu.json").write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
