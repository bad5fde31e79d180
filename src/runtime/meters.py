"""Energy meters: one interface over NVIDIA's NVML and the Linux powercap (RAPL) counters, and a
measurement loop with idle-baseline subtraction and repeated windows.

A meter reports cumulative joules per domain (``gpu0``; ``package-0``, ``core``, ``dram``, …)
since an arbitrary origin; ``measure`` turns two readings around a window of repeated calls into
joules per call. Windows last at least a second because NVML's counter moves about every 100 ms
and RAPL's about every millisecond but with jitter.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nexus_ir import NexusError
from nexus_ir.errors import install_hint
from nexus_ir.registry import add_unique

POWERCAP = Path("/sys/class/powercap")
RAPL_PREFIXES = ("intel-rapl:", "amd-rapl:")


class MeterError(NexusError):
    """A meter cannot be read here: no such hardware, no driver, or no permission."""


_METERS: dict[str, Callable[[], "EnergyMeter"]] = {}


def register_meter(name: str, replace: bool = False) -> Callable[[Callable[[], Any]], Any]:
    """Decorator: make a meter class (or a no-argument factory) available by name to
    ``nexus measure --meter NAME`` and ``meter(name)``. A meter has a ``name`` and
    ``read_j() -> {domain: cumulative joules}`` (``EnergyMeter``)::

        @register_meter("tpu")
        class TpuMeter:
            name = "tpu"
            def read_j(self):
                return {"tpu0": my_counter_joules()}
    """
    def decorate(factory: Callable[[], Any]) -> Callable[[], Any]:
        return add_unique(_METERS, name, factory, "meter", replace)
    return decorate


def registered_meters() -> list[str]:
    return list(_METERS)


def meter(name: str) -> "EnergyMeter":
    """A fresh meter by registered name; MeterError (one line) when it cannot be read here."""
    if name not in _METERS:
        raise NexusError(f"unknown meter '{name}' (registered: {', '.join(_METERS)})")
    return _METERS[name]()


class EnergyMeter(Protocol):
    """Cumulative joules per domain since an arbitrary origin, monotone between calls."""

    name: str

    def read_j(self) -> dict[str, float]: ...


# ---------------------------------------------------------------------------- RAPL
@dataclass
class _Zone:
    domain: str
    counter: Path
    range_uj: int
    last_uj: int = -1
    total_uj: int = 0


@register_meter("rapl")
class RaplMeter:
    """RAPL through ``/sys/class/powercap`` (Intel, and AMD Zen through the same driver):
    package, core, uncore and dram zones, with counter wraparound handled through each zone's
    ``max_energy_range_uj``."""

    name = "rapl"

    def __init__(self, root: Path | str = POWERCAP, domains: tuple[str, ...] | None = None):
        self.root = Path(root)
        zones = self._discover()
        if domains is not None:
            missing = [d for d in domains if d not in zones]
            if missing:
                raise MeterError(f"RAPL has no {', '.join(missing)} domain here (available: "
                                 f"{', '.join(sorted(zones))})")
            zones = {d: zones[d] for d in domains}
        self.zones = zones
        self.read_j()                      # fail now, with the message, if unreadable

    def _discover(self) -> dict[str, _Zone]:
        dirs = sorted(p for p in self.root.glob("*") if p.name.startswith(RAPL_PREFIXES)) \
            if self.root.is_dir() else []
        if not dirs:
            raise MeterError(f"no RAPL domains under {self.root}: this CPU or kernel does not "
                             "expose RAPL (it needs the intel_rapl powercap driver)")
        zones: dict[str, _Zone] = {}
        for zone in dirs:
            name = (zone / "name").read_text().strip()       # package-0, core, dram, …
            domain = f"{name}-{zone.name.split(':')[1]}" if name in zones else name
            zones[domain] = _Zone(domain, zone / "energy_uj",
                                  int((zone / "max_energy_range_uj").read_text()))
        return zones

    def _raw(self, zone: _Zone) -> int:
        try:
            return int(zone.counter.read_text())
        except PermissionError:
            raise MeterError(
                f"cannot read {zone.counter} (permission denied): RAPL counters are root-only "
                "since Linux 5.10; grant read access with `sudo chmod a+r "
                f"{self.root}/*/energy_uj` or run as root") from None

    def read_j(self) -> dict[str, float]:
        for zone in self.zones.values():
            raw = self._raw(zone)
            if zone.last_uj >= 0:
                delta = raw - zone.last_uj
                zone.total_uj += delta if delta >= 0 else delta + zone.range_uj + 1
            zone.last_uj = raw
        return {d: z.total_uj / 1e6 for d, z in self.zones.items()}


# ---------------------------------------------------------------------------- NVML
@register_meter("nvml")
class NvmlMeter:
    """An NVIDIA GPU through NVML: the total-energy counter (mJ, Volta and later); on GPUs
    without it, power samples (mW) taken every ``sample_s`` on a thread and integrated."""

    name = "nvml"

    def __init__(self, index: int = 0, nvml: Any = None, sample_s: float = 0.01):
        if nvml is None:
            try:
                import pynvml as nvml
            except ImportError:
                raise MeterError(f"NVML needs pynvml: {install_hint('measure')}") from None
        self.nvml = nvml
        try:
            nvml.nvmlInit()
            self.handle = nvml.nvmlDeviceGetHandleByIndex(index)
        except nvml.NVMLError as err:
            raise MeterError(f"no NVIDIA GPU {index} through NVML: {err}") from None
        self.domain = f"gpu{index}"
        self.sample_s = sample_s
        self._sampled_j = 0.0
        self._lock = threading.Lock()
        try:
            nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            self.counter = True
        except nvml.NVMLError:
            self.counter = False
            self._start_sampling()

    def _start_sampling(self) -> None:
        def run() -> None:
            last_t = time.perf_counter()
            last_w = self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1e3
            while True:
                time.sleep(self.sample_s)
                now = time.perf_counter()
                watts = self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1e3
                with self._lock:
                    self._sampled_j += (watts + last_w) / 2 * (now - last_t)
                last_t, last_w = now, watts

        threading.Thread(target=run, daemon=True, name="nexus-nvml-power").start()

    def read_j(self) -> dict[str, float]:
        if self.counter:
            return {self.domain: self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1e3}
        with self._lock:
            return {self.domain: self._sampled_j}


# ---------------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class Measurement:
    """Energy per call per domain over repeated windows: mean, coefficient of variation, and
    the same above the idle baseline."""

    domains: tuple[str, ...]
    joules: dict[str, float]
    cv: dict[str, float]
    above_idle_j: dict[str, float]
    idle_w: dict[str, float]
    seconds_per_call: float
    calls_per_window: int
    windows: int


def idle_power(meter: EnergyMeter, seconds: float = 1.0,
               clock: Callable[[], float] = time.perf_counter,
               sleep: Callable[[float], None] = time.sleep) -> dict[str, float]:
    """Watts per domain while nothing runs, over ``seconds``."""
    before, start = meter.read_j(), clock()
    sleep(seconds)
    after, elapsed = meter.read_j(), clock() - start
    return {d: (after[d] - before[d]) / elapsed for d in before}


def measure(fn: Callable[[], Any], meter: EnergyMeter, *, window_s: float = 1.0,
            windows: int = 5, warmup: int = 3, idle_s: float = 1.0,
            sync: Callable[[], None] = lambda: None,
            clock: Callable[[], float] = time.perf_counter,
            sleep: Callable[[float], None] = time.sleep) -> Measurement:
    """Joules per call of ``fn``: ``warmup`` calls, the idle baseline over ``idle_s``, then
    ``windows`` windows of at least ``window_s`` of back-to-back calls (``sync`` waits for
    asynchronous work, e.g. ``torch.cuda.synchronize``)."""
    if window_s < 1.0:
        raise MeterError(f"window_s={window_s}: energy windows must last at least 1 s (NVML's "
                         "counter moves about every 100 ms)")
    for _ in range(warmup):
        fn()
    sync()
    idle = idle_power(meter, idle_s, clock, sleep) if idle_s > 0 else {}
    per_call: dict[str, list[float]] = {}
    above: dict[str, list[float]] = {}
    seconds, calls = [], 0
    for _ in range(windows):
        calls = 0
        before, start = meter.read_j(), clock()
        while clock() - start < window_s:
            fn()
            calls += 1
            sync()
        after, elapsed = meter.read_j(), clock() - start
        seconds.append(elapsed / calls)
        for domain in before:
            joules = (after[domain] - before[domain]) / calls
            per_call.setdefault(domain, []).append(joules)
            above.setdefault(domain, []).append(joules - idle.get(domain, 0.0) * elapsed / calls)
    return Measurement(tuple(per_call), _means(per_call), {d: _cv(v) for d, v in per_call.items()},
                       _means(above), idle, statistics.mean(seconds), calls, windows)


def _means(values: Mapping[str, list[float]]) -> dict[str, float]:
    return {d: statistics.mean(v) for d, v in values.items()}


def _cv(values: list[float]) -> float:
    mean = statistics.mean(values)
    return statistics.pstdev(values) / mean if len(values) > 1 and mean else 0.0
