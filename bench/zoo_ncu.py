"""Nsight Compute over the validation zoo in steady state: every model warmed up, then one eager
inference profiled (``--cache-control none --clock-control none``: caches and clocks as back to
back inference leaves them), DRAM bytes and kernels per model.

    PYTHONPATH=src:bench:examples python3 bench/zoo_ncu.py run f32 BATCH OUT [zoo|residency|independent|gemv-pressure] [kernel|app-range]
    PYTHONPATH=bench python3 bench/zoo_ncu.py kernels docs/data/zoo_ncu_kernels_*_b1.json
    PYTHONPATH=bench python3 bench/zoo_ncu.py replay-check KERNEL.json APP_RANGE.json

One ncu process profiles all models: each profiled inference starts with a marker kernel
(``torch.cuda._sleep``) that separates the models in ncu's CSV. Writes
``OUT/SUITE_ncu_DTYPE_bBATCH.json``: per model, kernels and DRAM bytes read and written, in
all and per kernel. ``kernels`` sums them by kind of kernel.
The ``residency`` suite is chains of 1024×1024 linear layers whose weights total 4-64 MiB: where
back-to-back inference stops finding its weights in L2; ``independent`` is the transformers
architectures of ``bench/independent_models.py``; ``gemv-pressure`` is one classifier head
(a GEMV at batch 1) behind 0-64 MiB of activations written per inference: whether activations
push a GEMV's weights out of L2 between inferences (the zoo's fp32 CNN heads read theirs from
DRAM though the models fit).

The last argument is ncu's replay mode. ``kernel`` (the default) profiles each kernel on its
own: ncu serializes them and works on the host between them. ``app-range`` measures each
profiled inference as one range of the application, its kernels running back to back as they
do without a profiler (no per-kernel bytes then; file ``SUITE_ncu_DTYPE_bBATCH_app-range``):
``replay-check`` sets the two side by side, a check of whether per-kernel profiling itself
moves the DRAM bytes of models that stay in L2. (ncu's ``range`` replay is no such check: it
restores device memory before the range, so a GEMV behind no other work read 89 % of its
weights from DRAM, against 13 % in kernel replay; and it stops at cuDNN's
``cuKernelSetAttribute``.)
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

METRICS = "dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum"
MARKER = "spin"
NAMES = Path("/tmp/zoo_ncu_models.txt")


def _number(text: str) -> float:
    """A number as ncu's CSV prints it (thousands separated by commas)."""
    return float(text.replace(",", ""))


RESIDENCY_MIB = (4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 56, 64)


def residency_chains(dtype: str) -> dict[str, tuple]:
    """Chains of bias-free 1024×1024 linear layers whose weights at ``dtype`` total each of
    RESIDENCY_MIB, in the zoo's (build, inputs for a batch) form."""
    import torch
    from torch import nn

    layer_mib = 1024 * 1024 * (2 if dtype == "bf16" else 4) / 2**20
    return {f"chain-{mib}MiB": (lambda mib=mib: nn.Sequential(
                *[nn.Linear(1024, 1024, bias=False) for _ in range(round(mib / layer_mib))]),
                lambda b: (torch.randn(b, 1024),))
            for mib in RESIDENCY_MIB}


PRESSURE_MIB = (0, 1, 2, 4, 8, 16, 32, 64)


def gemv_pressure() -> dict[str, tuple]:
    """The GEMV-pressure suite, in the zoo's (build, inputs for a batch) form: a module that
    writes each of PRESSURE_MIB MiB of activations (a ReLU over a buffer, summed into its
    input) and then runs a 1280 → 1000 classifier head (5.1 MB at fp32; cuBLAS's GEMV at
    batch 1)."""
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self, mib: int):
            super().__init__()
            self.register_buffer("activations", torch.randn(max(1, mib * 2**18)))
            self.head = nn.Linear(1280, 1000)
            self.mib = mib

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.mib:
                x = x + torch.relu(self.activations).sum() * 0.0
            return self.head(x)

    return {f"head-after-{mib}MiB": (lambda mib=mib: Head(mib), lambda b: (torch.randn(b, 1280),))
            for mib in PRESSURE_MIB}


def child(dtype: str, batch: int, suite: str = "zoo") -> None:
    """Under ncu: warm each model up, then profile one inference behind a marker kernel."""
    import torch
    from validate_zoo import zoo

    from runtime.execute import prepare_torch

    if suite == "independent":
        from independent_models import independent
        models = independent()
    elif suite == "gemv-pressure":
        models = gemv_pressure()
    else:
        models = zoo() if suite == "zoo" else residency_chains(dtype)
    for name, (build, inputs_for) in models.items():
        try:
            torch.manual_seed(0)
            model = build().eval()
        except ImportError:
            continue
        module, inputs = prepare_torch(model, inputs_for(batch), "cuda", dtype)
        with torch.no_grad():
            for _ in range(5):
                module(*inputs)
            torch.cuda.synchronize()
            torch.cuda.profiler.start()
            torch.cuda._sleep(1000)
            module(*inputs)
            torch.cuda.synchronize()
            torch.cuda.profiler.stop()
        with NAMES.open("a") as names:
            names.write(name + "\n")
        del module, inputs, model
        torch.cuda.empty_cache()


def _rows(text: str) -> list[dict[str, str]] | None:
    """The result rows of ncu's raw CSV page (its units row dropped), or None without one."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        return None
    return list(csv.DictReader(io.StringIO("\n".join(lines[start:]))))[1:]


def parse_ranges(text: str, names: list[str]) -> list[dict] | None:
    """Per model (named in profiling order), the DRAM bytes read and written and the device
    time of its profiled inference measured as one range (``app-range`` replay: one result row
    per range, in order); None where the text holds no CSV."""
    rows = _rows(text)
    if rows is None:
        return None
    return [{"model": name, "dram_read_bytes": _number(row["dram__bytes_read.sum"]),
             "dram_write_bytes": _number(row["dram__bytes_write.sum"]),
             "time_s": _number(row["gpu__time_duration.sum"]) * 1e-9}
            for name, row in zip(names, rows)]


def parse(text: str, names: list[str]) -> list[dict] | None:
    """Per model (named in profiling order), ncu's kernels, DRAM bytes read and written in all
    and per kernel (``kernel_dram``: [read, write] each), device time and kernel names; None
    where the text holds no CSV."""
    rows = _rows(text)
    if rows is None:
        return None
    models: list[dict] = []
    for row in rows:
        if MARKER in row["Kernel Name"]:
            models.append({"model": names[len(models)], "kernels": 0, "dram_read_bytes": 0.0,
                           "dram_write_bytes": 0.0, "time_s": 0.0, "kernel_names": [],
                           "kernel_dram": []})
            continue
        entry = models[-1]
        read, written = (_number(row[f"dram__bytes_{k}.sum"]) for k in ("read", "write"))
        entry["kernels"] += 1
        entry["dram_read_bytes"] += read
        entry["dram_write_bytes"] += written
        entry["time_s"] += _number(row["gpu__time_duration.sum"]) * 1e-9
        entry["kernel_names"].append(row["Kernel Name"][:80])
        entry["kernel_dram"].append([read, written])
    return models


KERNEL_CLASSES = (("GEMV", ("gemv", "internal::kernel<int, int")),
                  ("GEMM", ("gemm", "nvjet", "splitK")),
                  ("convolution", ("fprop", "convolve", "conv_depthwise", "Nhwc", "nhwc", "Nchw",
                                  "nchw")))
"""Kernel classes by what their names contain, first match wins (implicit-GEMM convolutions
say ``fprop``); the rest are elementwise, norms, pooling, attention. cuBLAS's matrix-vector
kernel (a linear layer at batch 1: the zoo's classifier heads, MobileNetV3's squeeze-excite
layers) is ``internal::kernel<int, int, float, ...>`` in the names as stored (cut at 80
characters, before its ``gemv``)."""


def kernel_class(name: str) -> str:
    return next((c for c, marks in KERNEL_CLASSES if any(m in name for m in marks)
                 and not (c == "GEMM" and "fprop" in name)), "other")


def kernels(paths: list[str]) -> None:
    """On the CPU: per model of ``run`` JSON files, DRAM MB read and written by GEMV, GEMM,
    convolution (with its layout transforms) and other kernels: where the bytes NEXUS does
    not predict come from."""
    print("| dtype | model | GEMV read | written | GEMM read | written | conv read | written | "
          "other read | written |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        doc = json.loads(Path(path).read_text())
        for m in doc["models"]:
            by = {c: [0.0, 0.0] for c in ("GEMV", "GEMM", "convolution", "other")}
            for name, (read, written) in zip(m["kernel_names"], m["kernel_dram"]):
                by[kernel_class(name)][0] += read
                by[kernel_class(name)][1] += written
            print(f"| {doc['dtype']} | {m['model']} | " + " | ".join(
                f"{b / 1e6:.2f}" for c in by for b in by[c]) + " |")


REPLAY_MODES = ("kernel", "app-range")


def replay_check(kernel_path: str, range_path: str) -> None:
    """On the CPU: per model, the DRAM MB of its profiled inference in kernel replay beside
    app-range replay (``run``'s two modes, one suite and dtype), and their ratio."""
    kernel_doc, range_doc = (json.loads(Path(p).read_text()) for p in (kernel_path, range_path))
    ranges = {m["model"]: m for m in range_doc["models"]}
    print(f"{kernel_doc['dtype']}, batch {kernel_doc['batch']}: DRAM MB read + written")
    print("| model | kernel replay | app-range replay | ratio |")
    print("|---|---|---|---|")
    for m in kernel_doc["models"]:
        other = ranges.get(m["model"])
        if other is None:
            continue
        a, b = (x["dram_read_bytes"] + x["dram_write_bytes"] for x in (m, other))
        ratio = f"{b / a:.2f}" if a >= 1e6 else "-"          # below 1 MB: profiler noise
        print(f"| {m['model']} | {a / 1e6:.2f} | {b / 1e6:.2f} | {ratio} |")


def run(dtype: str, batch: int, out_dir: str, suite: str = "zoo", replay: str = "kernel"
        ) -> None:
    """Profile ``suite`` under ncu in ``replay`` mode (module doc) and write its JSON."""
    if replay not in REPLAY_MODES:
        raise SystemExit(f"replay mode {replay!r}: choose one of {', '.join(REPLAY_MODES)}")
    NAMES.unlink(missing_ok=True)
    # app-range replay takes the profiler's start and stop calls as its ranges (and refuses
    # --profile-from-start); kernel replay profiles the kernels between them
    start = ["--profile-from-start", "off"] if replay == "kernel" else []
    command = ["ncu", "--cache-control", "none", "--clock-control", "none",
               "--replay-mode", replay, *start, "--metrics", METRICS, "--csv", "--page", "raw",
               "--print-units", "base", sys.executable, __file__, "child", dtype, str(batch),
               suite]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    stem = f"{suite}_ncu_{dtype}_b{batch}" + ("" if replay == "kernel" else f"_{replay}")
    Path(out_dir, f"{stem}.csv").write_text(done.stdout)
    names = NAMES.read_text().split() if NAMES.exists() else []
    models = (parse if replay == "kernel" else parse_ranges)(done.stdout, names)
    if models is None:
        raise SystemExit(f"ncu gave no CSV: {done.stderr[-2000:]}")
    Path(out_dir, f"{stem}.json").write_text(json.dumps(
        {"dtype": dtype, "batch": batch, "cache_control": "none", "replay": replay,
         "models": models}))
    for m in models:
        print(f"{m['model']:<18} kernels {m.get('kernels', '-'):>5}  DRAM "
              f"{(m['dram_read_bytes'] + m['dram_write_bytes']) / 1e6:10.2f} MB")


if __name__ == "__main__":
    if sys.argv[1] == "child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "kernels":
        kernels(sys.argv[2:])
    elif sys.argv[1] == "replay-check":
        replay_check(sys.argv[2], sys.argv[3])
    else:
        run(sys.argv[2], int(sys.argv[3]), sys.argv[4], *sys.argv[5:7])
