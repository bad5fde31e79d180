"""Energy meters against fakes that behave like the real interfaces: a powercap tree on disk and
an NVML module with pynvml's function names and units."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from runtime.meters import MeterError, NvmlMeter, RaplMeter, idle_power, measure


def powercap(root: Path, zones: dict[str, tuple[str, int, int]]) -> Path:
    """zones: directory → (name, energy_uj, max_energy_range_uj)."""
    for directory, (name, energy, limit) in zones.items():
        zone = root / directory
        zone.mkdir(parents=True)
        (zone / "name").write_text(name + "\n")
        (zone / "energy_uj").write_text(f"{energy}\n")
        (zone / "max_energy_range_uj").write_text(f"{limit}\n")
    return root


def set_uj(root: Path, directory: str, value: int) -> None:
    (root / directory / "energy_uj").write_text(f"{value}\n")


TREE = {"intel-rapl:0": ("package-0", 1_000_000, 262_143_328_850),
        "intel-rapl:0:0": ("core", 500_000, 262_143_328_850),
        "intel-rapl:0:1": ("dram", 100_000, 65_712_999_613)}


def test_rapl_counts_joules_per_domain(tmp_path):
    root = powercap(tmp_path, TREE)
    meter = RaplMeter(root)
    assert meter.read_j() == {"package-0": 0.0, "core": 0.0, "dram": 0.0}
    set_uj(root, "intel-rapl:0", 3_500_000)
    set_uj(root, "intel-rapl:0:1", 350_000)
    assert meter.read_j() == {"package-0": 2.5, "core": 0.0, "dram": 0.25}


def test_rapl_wraps_through_max_energy_range(tmp_path):
    root = powercap(tmp_path, {"intel-rapl:0": ("package-0", 999_000, 999_999)})
    meter = RaplMeter(root)
    set_uj(root, "intel-rapl:0", 1_000)          # wrapped: 999_999 − 999_000 + 1 + 1_000
    assert meter.read_j() == {"package-0": 0.002}
    set_uj(root, "intel-rapl:0", 501_000)
    assert meter.read_j() == {"package-0": 0.502}


def test_rapl_second_socket_domains_are_told_apart(tmp_path):
    root = powercap(tmp_path, {**TREE, "intel-rapl:1": ("package-1", 0, 10**9),
                               "intel-rapl:1:0": ("core", 0, 10**9)})
    assert sorted(RaplMeter(root).read_j()) == ["core", "core-1", "dram", "package-0",
                                                "package-1"]


def test_rapl_missing_domain_and_missing_tree(tmp_path):
    root = powercap(tmp_path / "pc", {k: v for k, v in TREE.items() if v[0] != "dram"})
    with pytest.raises(MeterError, match=r"RAPL has no dram domain here \(available: core, "
                                         r"package-0\)"):
        RaplMeter(root, domains=("package-0", "dram"))
    assert list(RaplMeter(root, domains=("package-0",)).read_j()) == ["package-0"]
    with pytest.raises(MeterError, match="no RAPL domains under .*: this CPU or kernel does not "
                                         "expose RAPL"):
        RaplMeter(tmp_path / "empty")


def test_rapl_permission_denied_says_how_to_grant_access(tmp_path, monkeypatch):
    root = powercap(tmp_path, TREE)
    real = Path.read_text

    def guarded(self, *args, **kwargs):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", guarded)
    with pytest.raises(MeterError, match=r"permission denied\): RAPL counters are root-only since "
                                         r"Linux 5.10; grant read access with `sudo chmod a\+r"):
        RaplMeter(root)


class FakeNvml(SimpleNamespace):
    """pynvml's names and units: energy in mJ, power in mW, NVMLError on unsupported calls."""

    class NVMLError(Exception):
        pass

    def __init__(self, energy_counter: bool = True, gpus: int = 1):
        super().__init__(energy_mj=10_000, power_mw=250_000, counter=energy_counter, gpus=gpus)

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, index):
        if index >= self.gpus:
            raise self.NVMLError("Invalid Argument")
        return ("handle", index)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.counter:
            raise self.NVMLError("Not Supported")
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle):
        return self.power_mw


def test_nvml_total_energy_counter_in_millijoules():
    nvml = FakeNvml()
    meter = NvmlMeter(nvml=nvml)
    assert meter.counter and meter.read_j() == {"gpu0": 10.0}
    nvml.energy_mj += 1_500
    assert meter.read_j() == {"gpu0": 11.5}


def test_nvml_without_counter_integrates_power_samples():
    import time

    meter = NvmlMeter(nvml=FakeNvml(energy_counter=False), sample_s=0.005)
    assert not meter.counter
    start = meter.read_j()["gpu0"]
    time.sleep(0.3)
    gained = meter.read_j()["gpu0"] - start
    assert gained == pytest.approx(250.0 * 0.3, rel=0.2)      # 250 W for 0.3 s


def test_nvml_missing_gpu_is_one_clear_error():
    with pytest.raises(MeterError, match="no NVIDIA GPU 1 through NVML: Invalid Argument"):
        NvmlMeter(1, nvml=FakeNvml())


class FakeClock:
    """Time that moves only when the code under test sleeps or calls the workload."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_measure_subtracts_idle_and_reports_spread():
    nvml, clock = FakeNvml(), FakeClock()
    meter = NvmlMeter(nvml=nvml)
    idle_w, call_j, call_s = 60.0, 0.4, 1 / 64      # exact in binary: 64 calls a window

    def sleep(seconds):
        clock.sleep(seconds)
        nvml.energy_mj += idle_w * seconds * 1e3

    def workload():
        clock.sleep(call_s)
        nvml.energy_mj += (call_j + idle_w * call_s) * 1e3

    assert idle_power(meter, 2.0, clock, sleep) == {"gpu0": pytest.approx(idle_w)}
    result = measure(workload, meter, window_s=1.0, windows=3, warmup=2, idle_s=1.0,
                     clock=clock, sleep=sleep)
    assert result.calls_per_window == 64 and result.windows == 3
    assert result.joules["gpu0"] == pytest.approx(call_j + idle_w * call_s)
    assert result.above_idle_j["gpu0"] == pytest.approx(call_j)
    assert result.cv["gpu0"] == pytest.approx(0.0, abs=1e-12)
    assert result.seconds_per_call == pytest.approx(call_s)


def test_measure_refuses_windows_shorter_than_a_second():
    with pytest.raises(MeterError, match="windows must last at least 1 s"):
        measure(lambda: None, NvmlMeter(nvml=FakeNvml()), window_s=0.1)
