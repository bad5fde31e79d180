"""Hardware and model choice (issue 21): compare's normalised columns by hand, sweeps through
the local pool and a Dask cluster with their cache, and select's Pareto front from evaluation
data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nexus_ir as nx
from nexus_ir.app.compare import figures
from nexus_ir.report import EnergyReport

ROOT = Path(__file__).resolve().parents[1]


def nexus(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", *args], cwd=cwd,
                          capture_output=True, text=True)


def made_up_report(target: str, **metrics) -> EnergyReport:
    base = {"energy_j": 2.0, "latency_s": 0.5, "output_units": 4, "memory_j": 1.0,
            "compute_j": 0.5, "static_j": 0.5, "edp_js": 1.0, "off_chip_bytes": 6e11,
            "on_chip_bytes": 4e11, "bandwidth_use": 0.25, "power_use": 0.4, "flops": 10**12,
            "unmodeled": []}
    return EnergyReport("m", target, "", [], {}, [], {**base, **metrics})


def test_compare_figures_by_hand():
    first = made_up_report("a")
    row = figures(made_up_report("b", energy_j=3.0, flops=0, power_use=None), first)
    assert row["energy_ratio"] == 1.5 and row["energy_per_output_j"] == 0.75
    # 1 J of memory energy over 1e12 bytes moved (on and off chip) is 1 pJ per byte
    assert row["memory_pj_per_byte"] == pytest.approx(1.0)
    assert row["split"] == {"compute": 0.5 / 3, "memory": 1 / 3, "static": 0.5 / 3}
    assert row["flops_ratio"] == 0 and row["pj_per_flop"] is None and row["power_use"] is None


def test_normalised_metrics_by_hand_on_h200():
    r = nx.compile("example:cnn", target="h200", bindings={"batch": 8})
    m = r.metrics
    # the H200's measured HBM copy bandwidth is 4.14e12 B/s, its board limit 700 W
    assert m["bandwidth_use"] == pytest.approx(m["off_chip_bytes"] / m["latency_s"] / 4.14e12)
    assert m["power_use"] == pytest.approx(m["energy_j"] / m["latency_s"] / 700.0)
    assert 0 < m["power_use"] < 1
    assert nx.compile("example:cnn", target="horowitz-45nm",
                      bindings={"batch": 8}).metrics["power_use"] is None   # no power limit


def test_compare_shows_and_writes_the_normalised_columns(tmp_path):
    out = nexus("compare", "example:cnn", "--bind", "batch=8", "--target", "h200", "l4",
                "-o", str(tmp_path / "c.json"))
    assert out.returncode == 0, out.stderr
    header = next(line for line in out.stdout.splitlines() if "energy" in line and
                  "model" in line)
    assert all(column in header for column in ("per output", "pJ/B", "BW %", "power %"))
    rows = json.loads((tmp_path / "c.json").read_text())["comparison"]
    assert [r["target"] for r in rows] == ["h200", "l4"]
    l4 = nx.compile("example:cnn", target="l4", bindings={"batch": 8}).metrics
    assert rows[1]["power_use"] == pytest.approx(l4["energy_j"] / l4["latency_s"] / 72.0)
