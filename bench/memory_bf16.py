"""Peak memory of lowering and costing a bf16 model beside torch.export alone, each in a fresh
process: GPT-2-medium (transformers, built from its config in bf16, random weights).

Target (issue 22): compiling a bf16 GPT-2-medium peaks at most 1.3x torch.export's peak (bf16
weights were copied to float32 during lowering: +1.4 GiB for 677 MiB of weights).

    python3 bench/memory_bf16.py
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import resource, sys, warnings
warnings.simplefilter("ignore")
import torch, transformers
torch.manual_seed(0)
torch.set_default_dtype(torch.bfloat16)
config = transformers.GPT2Config(n_embd=1024, n_layer=24, n_head=16, use_cache=False)
model = transformers.GPT2LMHeadModel(config).eval()
ids = torch.zeros(1, 64, dtype=torch.long)
built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[1] == "export":
    torch.export.export(model, (ids,))
else:
    from frontends.pytorch import from_torch
    from passes.cost import cost_graph
    cost_graph(from_torch(model, (ids,)), "h100")
print(built, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_kib(step: str) -> tuple[int, int]:
    """(peak after building the model, peak after ``step``) in KiB, in a fresh process."""
    out = subprocess.run([sys.executable, "-c", CHILD, step], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), int(out[1])


def main() -> None:
    rows = {step: peak_kib(step) for step in ("export", "nexus")}
    print("bf16 GPT-2-medium (355 M parameters, 677 MiB of weights), fresh processes")
    print(f"{'':<36}{'peak MiB':>10}{'added MiB':>11}{'ratio':>7}")
    export_peak = rows["export"][1]
    for step, label in (("export", "torch.export alone"), ("nexus", "NEXUS lower + cost")):
        built, peak = rows[step]
        print(f"{label:<36}{peak // 1024:>10}{(peak - built) // 1024:>11}"
              f"{peak / export_peak:>7.2f}")
    print(f"target <= 1.3x torch.export: {'met' if rows['nexus'][1] <= 1.3 * export_peak else 'NOT met'}")


if __name__ == "__main__":
    main()
