"""bench/validate_zoo.py's arithmetic that needs no GPU and no model: how much a DRAM error
could move a predicted energy."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import validate_zoo  # noqa: E402


def _target(pj_per_byte: float, bytes_per_s: float, floor_w: float, active_w: float):
    """A stand-in with the four numbers ``dram_energy_effect`` reads from a target."""
    off_chip = SimpleNamespace(pj_per_byte=SimpleNamespace(value=pj_per_byte),
                               bandwidth_bytes_per_s=SimpleNamespace(value=bytes_per_s))
    return SimpleNamespace(off_chip=off_chip, floor_power_w=floor_w,
                           number=lambda key: {"active_power_w": active_w}[key])


def test_a_dram_miss_moves_energy_by_its_bytes_and_their_serial_time():
    # 1 MB missed at 10 pJ/byte is 10 uJ; at 1 TB/s it takes 1 us, paid at 100 + 300 W: 400 uJ.
    # 410 uJ of a 41 mJ inference is 1 %.
    target = _target(10.0, 1e12, 100.0, 300.0)
    assert validate_zoo.dram_energy_effect(1e6, 0.041, target) == pytest.approx(0.01)


def test_bytes_predicted_but_not_measured_move_it_down():
    target = _target(10.0, 1e12, 100.0, 300.0)
    assert validate_zoo.dram_energy_effect(-2e6, 0.041, target) == pytest.approx(-0.02)
    assert validate_zoo.dram_energy_effect(0.0, 0.041, target) == 0.0
