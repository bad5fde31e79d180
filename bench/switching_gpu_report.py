"""The table of docs/validation.md ("Switching activity on an H100") from the measurements
``bench/switching_gpu.py`` recorded (docs/data/switching_gpu_h100.json), with NEXUS's predictions
recomputed under the current h100 target: the activity each operand set's bits give, and the
energy per product at the target's activity floor and without one (φ = 0).

    python3 bench/switching_gpu_report.py [docs/data/switching_gpu_h100.json]
"""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
from scipy.stats import spearmanr

import nexus_ir as nx
from lowering.target import Quantity, load_target
from passes import PassManager
from passes.cost import COST_PIPELINE, build_report
from passes.bit_stats import TensorStats
from passes.switching import reference_toggle_rate

N = 8192


def predicted_energy(activity: float, floor: float | None) -> float:
    """NEXUS energy of the bf16 N³ product whose operands both have ``activity``; ``floor``
    overrides the target's activity floor."""
    target = load_target("h100")
    if floor is not None:
        target = dataclasses.replace(target, activity_floor=Quantity(floor, "override"))
    g = nx.Graph("matmul")
    a = g.add_constant("A", type_=f"bf16[{N},{N}]")
    b = g.add_constant("B", type_=f"bf16[{N},{N}]")
    g.set_outputs(g.op("matmul", a, b))
    transitions = N * (N - 1)
    toggles = round(activity * reference_toggle_rate("bf16") * 16 * transitions)
    stats = TensorStats(N * N, 16, 0, 0, toggles, transitions)
    manager = PassManager(list(COST_PIPELINE), options={
        "target": target, "value_stats": {"A": {-1: stats}, "B": {-2: stats}}})
    return build_report(manager.run(g), manager.ctx, {}).metrics["energy_j"]


def main(path: str = "docs/data/switching_gpu_h100.json") -> None:
    doc = json.loads(open(path).read())
    floor = load_target("h100").activity_floor.value
    rows = doc["rows"]
    base = rows[0]["measured"]["energy_j"]
    print(f"{doc['device']}, idle {doc['idle_w']:.0f} W, bf16 {doc['n']}³ products, "
          f"{doc['windows']} windows of ≥ {doc['window_s']} s each; h100 activity floor {floor}")
    print("| operands | zero fraction | toggle rate | NEXUS activity | measured mJ (CV) | measured "
          "vs random | NEXUS mJ | NEXUS vs random | error | NEXUS mJ, φ = 0 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    predicted, measured = [], []
    reference = predicted_energy(rows[0]["predicted"]["activity"], None)
    for r in rows:
        p, m = r["predicted"], r["measured"]
        energy = predicted_energy(p["activity"], None)
        without = predicted_energy(p["activity"], 0.0)
        predicted.append(energy)
        measured.append(m["energy_j"])
        print(f"| {r['operands']} | {p['zero_fraction']:.2f} | {p['toggle_rate']:.3f} | "
              f"{p['activity']:.3f} | {m['energy_j'] * 1e3:.0f} ({m['cv']:.3f}) | "
              f"{m['energy_j'] / base:.2f} | {energy * 1e3:.0f} | {energy / reference:.2f} | "
              f"{(energy - m['energy_j']) / m['energy_j']:+.1%} | {without * 1e3:.0f} |")
    errors = np.abs(np.subtract(predicted, measured)) / np.asarray(measured)
    print(f"\nSpearman(NEXUS energy, measured energy) = {spearmanr(predicted, measured)[0]:.3f}; "
          f"median |error| {np.median(errors):.1%}, max {errors.max():.1%}")


if __name__ == "__main__":
    main(*sys.argv[1:])
