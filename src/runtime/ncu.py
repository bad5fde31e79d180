"""Nsight Compute: per-kernel counters attributed to IR nodes.

The model runs under ``ncu`` through an fx Interpreter over its exported program that wraps every
fx node in an NVTX range named ``nexus <fx node>``; the PyTorch frontend records on each IR node
which fx node it came from (``torch_origin``), so every kernel ncu sees inside a range belongs to
one IR node. ncu runs with ``--clock-control none`` (clocks as in production, not locked to base)
and the cache-control mode stated in the results (``all`` flushes caches before each kernel:
counts are cold-cache; ``none`` keeps them warm). Its ``--csv --page raw --print-units base``
output is parsed here.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nexus_ir import Graph, NexusError

RANGE_PREFIX = "nexus "
METRICS = {
    "time_s": "gpu__time_duration.sum",
    "dram_read_bytes": "dram__bytes_read.sum",
    "dram_write_bytes": "dram__bytes_write.sum",
    "l2_bytes": "lts__t_bytes.sum",
    "tensor_inst": "sm__inst_executed_pipe_tensor.sum",
}
# FP instructions per thread and the FLOPs each does (fma = 2; half2 packs two lanes)
FLOP_INSTRUCTIONS = {
    "smsp__sass_thread_inst_executed_op_fadd_pred_on.sum": 1,
    "smsp__sass_thread_inst_executed_op_fmul_pred_on.sum": 1,
    "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum": 2,
    "smsp__sass_thread_inst_executed_op_hadd_pred_on.sum": 2,
    "smsp__sass_thread_inst_executed_op_hmul_pred_on.sum": 2,
    "smsp__sass_thread_inst_executed_op_hfma_pred_on.sum": 4,
    "smsp__sass_thread_inst_executed_op_dadd_pred_on.sum": 1,
    "smsp__sass_thread_inst_executed_op_dmul_pred_on.sum": 1,
    "smsp__sass_thread_inst_executed_op_dfma_pred_on.sum": 2,
}
CACHE_CONTROL = ("all", "none")
_RANGE = re.compile(r'"[^"]*?:' + RANGE_PREFIX + r'([A-Za-z_][\w]*):')


@dataclass(frozen=True)
class Kernel:
    """One profiled kernel: its name, the innermost NEXUS NVTX range around it (the fx node),
    and its counters in base units (seconds, bytes, instructions, FLOPs)."""

    id: int
    name: str
    fx_node: str | None
    time_s: float
    dram_read_bytes: float
    dram_write_bytes: float
    l2_bytes: float
    tensor_inst: float
    flops: float


@dataclass
class NodeCounters:
    """Counters summed over the kernels of one IR node."""

    kernels: int = 0
    time_s: float = 0.0
    dram_bytes: float = 0.0
    l2_bytes: float = 0.0
    tensor_inst: float = 0.0
    flops: float = 0.0
    kernel_names: list[str] = field(default_factory=list)


def ncu_command(program: Sequence[str], cache_control: str = "all") -> list[str]:
    """The ncu invocation that profiles ``program`` with the counters NEXUS compares against."""
    if cache_control not in CACHE_CONTROL:
        raise NexusError(f"cache control '{cache_control}': choose {' or '.join(CACHE_CONTROL)}")
    metrics = ",".join([*METRICS.values(), *FLOP_INSTRUCTIONS])
    return ["ncu", "--clock-control", "none", "--cache-control", cache_control, "--nvtx",
            "--csv", "--page", "raw", "--print-units", "base", "--metrics", metrics, *program]


def _number(text: str) -> float:
    """ncu prints base units with thousands separators ("9,984", "15,475.20"); n/a is 0."""
    text = text.strip().replace(",", "")
    if not text or text.lower() == "n/a":
        return 0.0
    return float(text)


def parse_csv(text: str) -> list[Kernel]:
    """Kernels from ncu's ``--csv --page raw --print-units base`` output (stdout with the
    profiled program's own lines around it). The row after the header holds the units."""
    start = text.find('"ID","Process ID"')
    if start < 0:
        raise NexusError("no ncu CSV in this output: expected a header starting "
                         '"ID","Process ID" (was ncu run with --csv --page raw?)')
    rows = [r for r in csv.reader(io.StringIO(text[start:])) if r and not r[0].startswith("==")]
    header, units = rows[0], rows[1]
    column = {name: i for i, name in enumerate(header)}
    missing = [m for m in METRICS.values() if m not in column]
    if missing:
        raise NexusError(f"ncu output lacks the metrics {', '.join(missing)}")
    if units[column[METRICS["time_s"]]] not in ("ns", "nsecond"):
        raise NexusError(f"gpu__time_duration is in '{units[column[METRICS['time_s']]]}', "
                         "expected ns: run ncu with --print-units base")
    nvtx = next((i for i, name in enumerate(header) if name.startswith("thread Domain")), None)
    kernels = []
    for row in rows[2:]:
        if len(row) != len(header):
            continue
        ranges = _RANGE.findall(row[nvtx]) if nvtx is not None else []
        value = {key: _number(row[column[metric]]) for key, metric in METRICS.items()}
        flops = sum(_number(row[column[m]]) * per for m, per in FLOP_INSTRUCTIONS.items()
                    if m in column)
        kernels.append(Kernel(int(row[column["ID"]]), row[column["Kernel Name"]],
                              ranges[-1] if ranges else None, value["time_s"] * 1e-9,
                              value["dram_read_bytes"], value["dram_write_bytes"],
                              value["l2_bytes"], value["tensor_inst"], flops))
    return kernels


def attribute(kernels: Sequence[Kernel], graph: Graph) -> tuple[dict[str, NodeCounters],
                                                                 list[Kernel]]:
    """Counters per IR node (by name) from the kernels inside each fx node's range, and the
    kernels that fall outside every range (input set-up, allocator work)."""
    node_of_fx: dict[str, str] = {}
    for node in graph.nodes:
        for _, (fx_name, _) in node.annotations.get("torch_origin", {}).items():
            node_of_fx[fx_name] = node.name         # the last IR node of an fx node holds it
    per_node: dict[str, NodeCounters] = {}
    outside = []
    for k in kernels:
        target = node_of_fx.get(k.fx_node) if k.fx_node else None
        if target is None:
            outside.append(k)
            continue
        c = per_node.setdefault(target, NodeCounters())
        c.kernels += 1
        c.time_s += k.time_s
        c.dram_bytes += k.dram_read_bytes + k.dram_write_bytes
        c.l2_bytes += k.l2_bytes
        c.tensor_inst += k.tensor_inst
        c.flops += k.flops
        c.kernel_names.append(k.name)
    return per_node, outside


def run_with_ranges(program: Any, args: Sequence[Any]) -> Any:
    """Run an ExportedProgram's graph once with an NVTX range around every fx node (what ncu
    attributes kernels by). ``args`` are the graph's flat inputs (parameters first, as
    ``runtime.execute.flat_inputs`` builds them)."""
    import torch

    class Ranged(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            if n.op != "call_function":
                return super().run_node(n)
            torch.cuda.nvtx.range_push(RANGE_PREFIX + n.name)
            try:
                return super().run_node(n)
            finally:
                torch.cuda.nvtx.range_pop()

    with torch.no_grad():
        out = Ranged(program.graph_module).run(*args)
    torch.cuda.synchronize()
    return out


def profile(program_args: Sequence[str], cache_control: str = "all", timeout_s: float = 1800
            ) -> list[Kernel]:
    """Run ``program_args`` (a Python command that calls ``run_with_ranges``) under ncu."""
    if shutil.which("ncu") is None:
        raise NexusError("Nsight Compute (ncu) is not on PATH: install the CUDA toolkit's "
                         "nsight-compute and run on a machine with an NVIDIA GPU")
    done = subprocess.run(ncu_command([sys.executable, *program_args], cache_control),
                          capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise NexusError(f"ncu failed (exit {done.returncode}): {last}")
    return parse_csv(done.stdout)
