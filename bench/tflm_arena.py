"""NEXUS's arena plan beside TFLite Micro's own, for every .tflite model in a folder.

TFLM's figures come from its Python interpreter (the ``tflite-micro`` package: TFLM's reference
kernels, its greedy planner), run in a child process per model because the allocator's report
(``print_allocations``) is printed by C++ (MicroPrintf) to the process, not returned: the arena's head (the
non-persistent plan) and tail (persistent allocations). NEXUS plans the same models with the
reference kernels (no scratch buffers), as ``passes.arena``.

    PYTHONPATH=src python3 bench/tflm_arena.py [FOLDER] [-o docs/data/tflm_arena.json]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "data" / "mlperf_tiny"
ARENA_SIZE = 1 << 22
CHILD = """
import sys
from tflite_micro.python.tflite_micro import runtime
runtime.Interpreter.from_file(sys.argv[1], arena_size=int(sys.argv[2])).print_allocations()
"""


def tflm_allocations(model: Path) -> dict[str, int]:
    """TFLM's arena head and tail bytes for ``model``, from its interpreter's report."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(model), str(ARENA_SIZE)],
                          capture_output=True, text=True, timeout=120, check=True)
    report = done.stdout + done.stderr
    found = dict(re.findall(r"Arena allocation (head|tail) (\d+) bytes", report))
    if set(found) != {"head", "tail"}:
        raise RuntimeError(f"{model.name}: no allocation report in TFLM's output:\n"
                           f"{report[-2000:]}")
    return {"head_bytes": int(found["head"]), "tail_bytes": int(found["tail"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=MODELS)
    parser.add_argument("-o", type=Path, help="write TFLM's figures as JSON")
    args = parser.parse_args()

    from importlib.metadata import version

    from frontends.tflite import load_tflite
    from passes.arena import plan_arena

    rows = {}
    print(f"{'model':28} {'TFLM arena':>11} {'NEXUS':>9} {'TFLM tail':>10} "
          f"{'NEXUS estimate':>15} {'error':>7}")
    for model in sorted(args.folder.glob("*.tflite")):
        tflm = tflm_allocations(model)
        plan = plan_arena(load_tflite(model))
        rows[model.name] = tflm
        error = plan["persistent_bytes"] / tflm["tail_bytes"] - 1
        print(f"{model.name:28} {tflm['head_bytes']:11,} {plan['arena_bytes']:9,} "
              f"{tflm['tail_bytes']:10,} {plan['persistent_bytes']:15,} {error:+7.1%}")
    if args.o:
        args.o.write_text(json.dumps({
            "source": f"tflite-micro {version('tflite-micro')} Python interpreter "
                      "(reference kernels), print_allocations(): arena head and tail",
            "models": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
