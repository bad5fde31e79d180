"""bench/real_weights_speed.py's conversion of issue 22's targets into a run's milliseconds."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import real_weights_speed  # noqa: E402


def test_on_the_issues_own_machine_the_target_is_itself():
    # FlopCounterMode took 51-90 ms there: a run that measures 90 ms is that machine at its
    # slowest reading, where 20 ms stays 20 ms (and 20 x 90 / 51 at its fastest).
    assert real_weights_speed.target_here_ms(20.0, 90.0) == pytest.approx((20.0, 1800 / 51))
    assert real_weights_speed.target_here_ms(20.0, 51.0) == pytest.approx((20 * 51 / 90, 20.0))


def test_a_machine_three_times_slower_triples_the_target():
    low, high = real_weights_speed.target_here_ms(60.0, 270.0)
    assert (low, high) == pytest.approx((180.0, 60 * 270 / 51))
