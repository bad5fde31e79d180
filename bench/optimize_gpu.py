"""GPU evidence for ``recommend``: every candidate rewrite of the small CNN and the tiny
transformer (batch 1), predicted saving on the h100 target beside the saving measured with NVML
when the original and the rewritten graph run as PyTorch modules (``runtime.torch_graph``: one
kernel per IR op), replayed from a CUDA graph so Python's launch jitter stays out. Each
candidate is measured between two measurements of the original (A-B-A), so drift in clocks
cancels; batch 1 and 32.

    PYTHONPATH=src python3 bench/optimize_gpu.py OUT_DIR      # on a machine with an NVIDIA GPU
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))


BATCHES = (1, 32)


def models(batch: int) -> dict[str, tuple[torch.nn.Module, tuple]]:
    from cnn import small_cnn
    from transformer import TinyTransformer

    cnn, _ = small_cnn()
    torch.manual_seed(0)
    return {"small-cnn": (cnn, (torch.randn(batch, 3, 32, 32),)),
            "tiny-transformer": (TinyTransformer().eval(),
                                 (torch.randint(0, 1000, (batch, 64)),))}


def main(out_dir: str = ".") -> None:
    from frontends.pytorch import from_torch
    from passes import recommend
    from runtime.meters import NvmlMeter, measure
    from runtime.torch_graph import GraphModule

    meter = NvmlMeter()
    rows = []
    for batch in BATCHES:
        for name, (module, inputs) in models(batch).items():
            graph = from_torch(module, inputs)
            ranked = recommend(graph, "h100")
            cuda_inputs = [x.cuda() for x in inputs]

            def joules(g):
                runner = GraphModule(g).cuda()
                with torch.no_grad():
                    for _ in range(3):
                        runner(*cuda_inputs)
                    torch.cuda.synchronize()
                    replay = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(replay):
                        runner(*cuda_inputs)
                result = measure(replay.replay, meter, window_s=1.5, windows=3, warmup=20,
                                 idle_s=0, sync=torch.cuda.synchronize)
                return result.joules["gpu0"], result.cv["gpu0"], result.seconds_per_call

            print(f"{name}, batch {batch}:", flush=True)
            for r in ranked:
                before, _, base_s = joules(graph)
                energy, cv, seconds = joules(r.graph)
                after, _, _ = joules(graph)
                base = (before + after) / 2
                measured = (base - energy) / base
                rows.append({"model": name, "batch": batch, "rewrite": r.name,
                             "changes": r.changed, "predicted_saving": r.saved_fraction,
                             "measured_saving": measured, "measured_j": energy,
                             "original_j": base, "drift": (after - before) / base, "cv": cv,
                             "seconds_per_call": seconds, "original_seconds": base_s})
                print(f"  {r.name:<24} predicted {r.saved_fraction:+.1%}  measured "
                      f"{measured:+.1%} ({base * 1e3:.3f} → {energy * 1e3:.3f} mJ, original "
                      f"drift {(after - before) / base:+.1%}, {base_s * 1e3:.3f} → "
                      f"{seconds * 1e3:.3f} ms)", flush=True)
    Path(out_dir, "optimize_gpu.json").write_text(json.dumps({
        "device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows},
        indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
