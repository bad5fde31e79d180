"""Shared measuring tools of the GPU bench scripts: energy windows on NVML's total-energy counter,
CUDA-event timing and kernel counts per aten op from the PyTorch profiler.
Runs where torch sees a GPU; imported by bench/gpu_microbench.py and bench/validate_zoo.py."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

import torch


class Energy:
    """NVML's cumulative energy counter (mJ) of GPU 0, read as joules."""

    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(0)

    def joules(self) -> float:
        return self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1e3

    def clocks(self) -> dict[str, int]:
        n = self.nvml
        return {"sm_mhz": n.nvmlDeviceGetClockInfo(self.handle, n.NVML_CLOCK_SM),
                "mem_mhz": n.nvmlDeviceGetClockInfo(self.handle, n.NVML_CLOCK_MEM)}


def window(energy: Energy, fn: Callable[[], Any], seconds: float = 1.0, *,
           sync_each: bool = True) -> dict[str, float]:
    """Calls of ``fn`` back to back for at least ``seconds`` (synchronizing after each when
    ``sync_each``): calls, seconds per call, joules per call and mean watts."""
    torch.cuda.synchronize()
    calls = 0
    before, start = energy.joules(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
        if sync_each:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    elapsed, joules = time.perf_counter() - start, energy.joules() - before
    return {"calls": calls, "s_per_call": elapsed / calls, "j_per_call": joules / calls,
            "watts": joules / elapsed}


def idle_watts(energy: Energy, seconds: float = 3.0) -> float:
    torch.cuda.synchronize()
    before, start = energy.joules(), time.perf_counter()
    time.sleep(seconds)
    return (energy.joules() - before) / (time.perf_counter() - start)


def event_time(fn: Callable[[], Any], reps: int = 20, warmup: int = 3) -> float:
    """Seconds per call of ``fn`` by CUDA events over ``reps`` calls queued back to back."""
    for _ in range(warmup):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3 / reps


def kernel_profile(fn: Callable[[], Any]) -> dict[str, Any]:
    """Kernels one call of ``fn`` launches: the total, per top-level aten op (calls, kernels,
    kernel microseconds) and the most frequent kernel names."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    events = prof.events()

    def subtree_kernels(event: Any) -> list[Any]:
        return list(event.kernels) + [k for c in event.cpu_children for k in subtree_kernels(c)]

    by_op: dict[str, list[float]] = {}
    for e in events:
        if e.device_type.name == "CPU" and e.cpu_parent is None and e.name.startswith("aten::"):
            calls_kernels_us = by_op.setdefault(e.name, [0, 0, 0.0])
            kernels = subtree_kernels(e)
            calls_kernels_us[0] += 1
            calls_kernels_us[1] += len(kernels)
            calls_kernels_us[2] += sum(k.duration for k in kernels)
    names = collections.Counter(e.name for e in events if e.device_type.name == "CUDA")
    return {"kernels": sum(int(v[1]) for v in by_op.values()),
            "device_events": sum(names.values()), "by_op": by_op,
            "names": dict(names.most_common(40))}
