"""Frontend speed: for ResNet-50, MobileNetV2 and ViT-B/16 at 224x224, batch 1, time
``torch.export`` alone, the NEXUS frontend including its export, and FlopCounterMode, in one
run, and print the ratios (target: NEXUS adds at most 20 % on top of torch.export). Then lower a
Llama-3-8B-shaped decoder built on the meta device, in a fresh process so its peak RSS is its
own (target: under 20 s and 3 GB).

    python3 bench/frontend_speed.py          # needs torch==2.13.0
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import warnings

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(__file__))
from timing import median_seconds  # noqa: E402
from torch_models import MODELS  # noqa: E402

META_DECODER = """
import resource, sys, time, torch
sys.path.insert(0, {bench!r})
from torch_models import DecoderLM
from frontends.pytorch import from_torch
with torch.device("meta"):
    model = DecoderLM()
start = time.perf_counter()
graph = from_torch(model, (torch.zeros(1, 2048, dtype=torch.long, device="meta"),))
seconds = time.perf_counter() - start
print(len(graph), seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def main() -> None:
    from frontends.pytorch import from_torch

    warnings.simplefilter("ignore")
    print(f"{'model':<12}{'export s':>10}{'NEXUS s':>10}{'NEXUS/export':>14}{'FCM s':>9}"
          f"{'FCM/NEXUS':>11}  verdict")
    for name, (build, _) in MODELS.items():
        model, x = build(), torch.randn(1, 3, 224, 224)
        meta_model, meta_x = build().to("meta"), x.to("meta")

        def count():                     # FlopCounterMode on its fastest path: the meta device
            with torch.no_grad(), FlopCounterMode(display=False):
                meta_model(meta_x)
        calls = {"export": lambda: torch.export.export(model, (x,)),
                 "ours": lambda: from_torch(model, (x,)), "fcm": count}
        for call in calls.values():      # warm both: the first export pays torch's start-up
            call()
        rounds: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(5):               # interleaved, so drift hits all alike
            for key, call in calls.items():
                rounds[key].append(median_seconds(call, repeat=1))
        export, ours, fcm = (statistics.median(rounds[k]) for k in ("export", "ours", "fcm"))
        ratio = ours / export
        print(f"{name:<12}{export:>10.3f}{ours:>10.3f}{ratio:>13.2f}x{fcm:>9.3f}"
              f"{fcm / ours:>10.2f}x  {'PASS' if ratio <= 1.2 else 'FAIL'}")
    code = META_DECODER.format(bench=os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    nodes, seconds, rss = int(out[0]), float(out[1]), int(out[2])
    verdict = "PASS" if seconds < 20 and rss < 3 * 2**30 else "FAIL"
    print(f"\nLlama-3-8B shape on the meta device, seq 2048: {nodes} nodes lowered in "
          f"{seconds:.1f} s, peak RSS {rss / 2**30:.2f} GiB (targets < 20 s, < 3 GiB) {verdict}")


if __name__ == "__main__":
    main()
