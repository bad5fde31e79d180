"""Sweep speed: the time per re-costed point of a real-weight ResNet-50 (built in PyTorch in
bench/torch_models.py, random weights), lowered once and re-costed on every bundled GPU target in
each execution mode, as ``nexus sweep`` does it — beside compiling each point from the module
(``nx.compile``: torch.export, lowering, reading the weights' bits, costing) in the same run.

Target (issue 21): ≤ 20 ms per re-costed point on the development machine.

    PYTHONPATH=bench python3 bench/sweep_speed.py
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import torch

import nexus_ir as nx
from nexus_ir import collector
from lowering.target import list_targets, load_target
from nexus_ir.app.api import prepare
from passes.cost import cost_graph
from torch_models import resnet50

ROUNDS = 3


def main() -> None:
    warnings.simplefilter("ignore")
    model, inputs = resnet50().eval(), (torch.randn(1, 3, 224, 224),)
    gpus = [t for t in list_targets() if "sms" in load_target(t).execution]
    points = [(t, mode) for t in gpus for mode in load_target(t).execution_modes]
    start = time.perf_counter()
    ready = prepare(model, inputs)
    stats = ready.value_stats
    cost_graph(ready.graph, points[0][0], bindings=ready.bindings)   # reads the weights' bits
    lowered_s = time.perf_counter() - start
    for target, mode in points:                        # each target's first load, and the JIT
        cost_graph(ready.graph, target, bindings=ready.bindings, value_stats=stats,
                   execution=mode)
    recost, full = [], []
    for _ in range(ROUNDS):
        with collector.frozen():               # as the sweep's workers do around re-costing
            for target, mode in points:
                start = time.perf_counter()
                cost_graph(ready.graph, target, bindings=ready.bindings, value_stats=stats,
                           execution=mode)
                recost.append(time.perf_counter() - start)
        for target, mode in points[:3]:
            start = time.perf_counter()
            nx.compile(model, inputs, target=target, execution=mode)
            full.append(time.perf_counter() - start)
    per_point, per_compile = statistics.median(recost), statistics.median(full)
    print(f"ResNet-50 (25.6 M real weights), {len(points)} points: {len(gpus)} GPU targets x "
          f"their execution modes, {ROUNDS} rounds (compile: 3 points a round)")
    print(f"{'':<40}{'median ms':>11}{'mean ms':>9}{'ratio':>7}")
    print(f"{'lowered once, re-costed (nexus sweep)':<40}{per_point * 1e3:>11.1f}"
          f"{statistics.mean(recost) * 1e3:>9.1f}{1:>7.2f}")
    print(f"{'nx.compile per point':<40}{per_compile * 1e3:>11.1f}"
          f"{statistics.mean(full) * 1e3:>9.1f}{per_compile / per_point:>7.1f}")
    print(f"lowering once (export, lowering, weights' bits): {lowered_s * 1e3:.0f} ms")
    print(f"target <= 20 ms per re-costed point: {'met' if per_point <= 0.020 else 'NOT met'}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
