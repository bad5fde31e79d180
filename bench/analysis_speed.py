"""Analysis speed: every NEXUS cost pass on ResNet-50 and on an 8B decoder, time per pass,
beside FlopCounterMode and onnx-tool counting the same ResNet-50 in the same run; then analysis
time per node at 1k, 10k and 100k nodes (it must stay linear).

Targets (issue 5): all analysis passes on ResNet-50 under 50 ms; time per node linear to 100k.

    python3 bench/analysis_speed.py            # peers need: pip install torch==2.13.0 onnx onnx-tool

The NEXUS graphs are built in IR (nexus_ir.app.examples) without weight data; the peers get the same
ResNet-50 built in PyTorch below (torchvision is not used), FlopCounterMode on the meta device, and
onnx-tool an ONNX export. Models with real weights, as users run them: bench/real_weights_speed.py.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
import warnings

import nexus_ir as nx
from nexus_ir.app.examples import decoder, resnet50
from passes import PassManager
from passes.cost import COST_PIPELINE

sys.path.insert(0, os.path.dirname(__file__))
from ir_scale import build as block_graph  # noqa: E402  (the IR scaling benchmark's graphs)
from timing import median_seconds  # noqa: E402

REPEAT = 7


def nexus_passes(graph: nx.Graph, target: str = "h100") -> tuple[float, dict[str, float]]:
    """Median seconds of the whole cost pipeline, and the median per pass."""
    totals, per_pass = [], {}
    PassManager(list(COST_PIPELINE), options={"target": target}).run(graph)   # JIT warm-up
    for _ in range(REPEAT):
        pm = PassManager(list(COST_PIPELINE), options={"target": target})
        start = time.perf_counter()
        pm.run(graph)
        totals.append(time.perf_counter() - start)
        for t in pm.timings:
            per_pass.setdefault(t.name, []).append(t.seconds)
    return statistics.median(totals), {k: statistics.median(v) for k, v in per_pass.items()}


def peers() -> list[tuple[str, float, str]]:
    """(tool, median seconds, what it counted) for the peers that are installed."""
    rows = []
    try:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        from torch_models import resnet50 as torch_resnet50
    except ImportError:
        return [("FlopCounterMode", float("nan"), "skipped: torch not installed")]
    model, x = torch_resnet50(), torch.randn(1, 3, 224, 224)
    meta_model, meta_x = torch_resnet50().to("meta"), x.to("meta")

    def flop_counter():              # its fastest path: the meta device, no real convolutions
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            meta_model(meta_x)
        return counter.get_total_flops()

    flops = flop_counter()
    rows.append(("FlopCounterMode", median_seconds(flop_counter), f"{flops / 2:,.0f} MACs"))
    try:
        import onnx_tool
    except ImportError:
        rows.append(("onnx-tool", float("nan"), "skipped: onnx-tool not installed"))
        return rows
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as quiet, \
            contextlib.redirect_stdout(quiet), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = os.path.join(tmp, "resnet50.onnx")
        torch.onnx.export(model, (x,), path, dynamo=False)
        seconds = median_seconds(lambda: onnx_tool.model_profile(
            path, save_profile=os.path.join(tmp, "p.txt")))
    rows.append(("onnx-tool", seconds, "ResNet-50 profile (MACs, params, memory)"))
    return rows


def main() -> None:
    res = resnet50().bind_symbols({"batch": 1})
    llm = decoder().bind_symbols({"batch": 1, "seq": 2048})
    print(f"{'graph':<22}{'nodes':>7}{'all passes ms':>15}   per pass (ms)")
    results = {}
    for name, graph in (("ResNet-50 (batch 1)", res), ("Llama-3-8B (seq 2048)", llm)):
        total, per_pass = nexus_passes(graph)
        results[name] = total
        passes = "  ".join(f"{k} {v * 1e3:.2f}" for k, v in per_pass.items())
        print(f"{name:<22}{len(graph):>7}{total * 1e3:>15.2f}   {passes}")
    verdict = "PASS" if results["ResNet-50 (batch 1)"] < 0.050 else "FAIL"
    print(f"ResNet-50 under 50 ms: {verdict}\n")

    ours = results["ResNet-50 (batch 1)"]
    print(f"{'tool (ResNet-50)':<18}{'seconds':>10}{'vs NEXUS':>10}   counted")
    print(f"{'NEXUS (all passes)':<18}{ours:>10.4f}{1.0:>9.1f}x   energy, time, bytes, TOs, MACs")
    for tool, seconds, what in peers():
        print(f"{tool:<18}{seconds:>10.4f}{seconds / ours:>9.1f}x   {what}")

    print(f"\n{'nodes':>8}{'us/node':>10}")
    per_node = {}
    for n in (1000, 10000, 100000):
        graph = block_graph(n).bind_symbols({"batch": 1, "seq": 128})
        total, _ = nexus_passes(graph) if n < 100000 else (median_seconds(
            lambda: PassManager(list(COST_PIPELINE), options={"target": "h100"}).run(graph)), {})
        per_node[n] = total / len(graph) * 1e6
        print(f"{n:>8}{per_node[n]:>10.2f}", flush=True)
    ratio = per_node[100000] / per_node[1000]
    print(f"time per node at 100k / at 1k: {ratio:.2f}x (linear target <= 1.5x) "
          f"{'PASS' if ratio <= 1.5 else 'FAIL'}")


if __name__ == "__main__":
    main()
