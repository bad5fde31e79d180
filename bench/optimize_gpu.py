"""GPU evidence for ``recommend``: every candidate rewrite of the small CNN and the tiny
transformer (batch 1), predicted saving on the h100 target beside the saving measured with NVML
when the original and the rewritten graph run as PyTorch modules (``runtime.torch_graph``: one
kernel per IR op, like eager PyTorch). Each candidate is measured between two measurements of
the original (A-B-A), so drift in clocks and launch speed cancels.

    PYTHONPATH=src python3 bench/optimize_gpu.py OUT_DIR      # on a machine with an NVIDIA GPU
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))


def models() -> dict[str, tuple[torch.nn.Module, tuple]]:
    from cnn import small_cnn
    from transformer import TinyTransformer

    cnn, inputs = small_cnn()
    torch.manual_seed(0)
    return {"small-cnn": (cnn, inputs),
            "tiny-transformer": (TinyTransformer().eval(), (torch.randint(0, 1000, (1, 64)),))}


def main(out_dir: str = ".") -> None:
    from frontends.pytorch import from_torch
    from passes.optimize import recommend
    from runtime.meters import NvmlMeter, measure
    from runtime.torch_graph import GraphModule

    meter = NvmlMeter()
    rows = []
    for name, (module, inputs) in models().items():
        graph = from_torch(module, inputs)
        ranked = recommend(graph, "h100")
        cuda_inputs = [x.cuda() for x in inputs]

        def joules(g):
            runner = GraphModule(g).cuda()

            def call():
                with torch.no_grad():
                    runner(*cuda_inputs)
            result = measure(call, meter, window_s=1.0, windows=3, warmup=5, idle_s=0,
                             sync=torch.cuda.synchronize)
            return result.joules["gpu0"], result.cv["gpu0"], result.seconds_per_call

        print(f"{name}:", flush=True)
        for r in ranked:
            before, _, base_s = joules(graph)
            energy, cv, seconds = joules(r.graph)
            after, _, _ = joules(graph)
            base = (before + after) / 2
            measured = (base - energy) / base
            rows.append({"model": name, "rewrite": r.name, "changes": r.changed,
                         "predicted_saving": r.saved_fraction, "measured_saving": measured,
                         "measured_j": energy, "original_j": base, "cv": cv,
                         "seconds_per_call": seconds, "original_seconds": base_s})
            print(f"  {r.name:<24} predicted {r.saved_fraction:+.1%}  measured {measured:+.1%} "
                  f"({base * 1e3:.3f} → {energy * 1e3:.3f} mJ, original drift "
                  f"{(after - before) / base:+.1%}, {base_s * 1e3:.3f} → {seconds * 1e3:.3f} ms)",
                  flush=True)
    Path(out_dir, "optimize_gpu.json").write_text(json.dumps({
        "device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows},
        indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
