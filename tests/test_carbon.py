"""Carbon per inference (issue 21): energy × PUE × the grid's intensity, the intensity read
from CodeCarbon's own data files (checked here against the files themselves), bad grids and
PUEs refused in one line."""

from __future__ import annotations

import csv
import json
from importlib import resources

import pytest

codecarbon = pytest.importorskip("codecarbon", reason="carbon figures need the carbon extra "
                                                      "(pip install -e '.[carbon]')")
import nexus_ir as nx  # noqa: E402
from nexus_ir import NexusError  # noqa: E402
from nexus_ir.app.carbon import carbon_metrics  # noqa: E402

DATA = resources.files("codecarbon") / "data"


@pytest.fixture(scope="module")
def report():
    return nx.compile("example:cnn", target="h100", bindings={"batch": 1})


def test_a_country_by_hand(report):
    mix = json.loads((DATA / "private_infra" / "global_energy_mix.json").read_text())
    france = mix["FRA"]["carbon_intensity"]                     # gCO2e per kWh
    joules = report.metrics["energy_j"]
    m = carbon_metrics(joules, "FR", pue=1.2)
    assert m["co2e_g"] == pytest.approx(joules / 3.6e6 * 1.2 * france, rel=1e-12)
    assert m["carbon"]["per_million_g"] == pytest.approx(m["co2e_g"] * 1e6)
    assert carbon_metrics(joules, "FRA")["co2e_g"] == pytest.approx(m["co2e_g"] / 1.2)
    assert m["carbon"]["source"].startswith(f"CodeCarbon {codecarbon.__version__} "
                                            "global_energy_mix.json: France")


def test_a_cloud_region_by_hand(report):
    with (DATA / "cloud" / "impact.csv").open(encoding="utf-8-sig") as handle:
        rows = {(r["provider"], r["region"]): float(r["impact"]) for r in csv.DictReader(handle)}
    joules = report.metrics["energy_j"]
    m = carbon_metrics(joules, "gcp:europe-west1")
    assert m["co2e_g"] == pytest.approx(joules / 3.6e6 * rows["gcp", "europe-west1"])
    assert m["carbon"]["grid"] == "gcp:europe-west1" and m["carbon"]["pue"] == 1.0


def test_compile_carries_carbon_in_metrics_text_and_schema(report):
    import jsonschema
    from nexus_ir.report import SCHEMA_FILE
    withgrid = nx.compile("example:cnn", target="h100", bindings={"batch": 1}, grid="DE", pue=1.1)
    assert withgrid.metrics["co2e_g"] == pytest.approx(
        carbon_metrics(withgrid.metrics["energy_j"], "DE", 1.1)["co2e_g"])
    jsonschema.validate(json.loads(withgrid.to_json()), json.loads(SCHEMA_FILE.read_text()))
    text = " ".join(str(withgrid).split())
    assert "carbon per call" in text and "grid DE" in text and "× PUE 1.1" in text
    assert "co2e_g" not in report.metrics                       # no grid: no carbon figure


@pytest.mark.parametrize("grid, pue, message", [
    ("XX", 1.0, "grid 'XX': not an ISO 3166 country code"),
    ("gcp:mars-north1", 1.0, "grid 'gcp:mars-north1': CodeCarbon .* lists no region"),
    ("FR", 0.8, r"--pue 0.8: a power usage effectiveness is 1 or more"),
])
def test_bad_grids_and_pues_are_one_line(grid, pue, message):
    with pytest.raises(NexusError, match=message):
        carbon_metrics(1.0, grid, pue)


def test_compare_ranks_targets_by_the_objective_and_shows_carbon():
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]

    def compare(*args):
        return subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", "compare", "example:cnn",
                               "--bind", "batch=1", "--target", "h100", "x86-server",
                               "horowitz-45nm", *args], cwd=root, capture_output=True, text=True)
    out = compare("--objective", "carbon", "--grid", "FR")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if "example:cnn" in line]
    energies = {name: nx.compile("example:cnn", target=name, bindings={"batch": 1})
                .metrics["energy_j"] for name in ("h100", "x86-server", "horowitz-45nm")}
    assert [r[1] for r in rows] == sorted(energies, key=energies.get)   # carbon ∝ energy here
    header = next(line for line in out.stdout.splitlines() if line.split()[:1] == ["model"])
    assert "carbon" in header
    refused = compare("--objective", "carbon")
    assert refused.returncode == 2 and refused.stderr == (
        "nexus: error: --objective carbon needs --grid (a country such as FR, or a cloud region "
        "such as gcp:europe-west1)\n")


def test_the_pareto_front_on_made_up_points():
    from nexus_ir.app.select import pareto_front
    # (accuracy, joules): B is dominated by A (less accurate, dearer); D ties C on both
    points = [(0.90, 2.0), (0.85, 3.0), (0.80, 1.0), (0.80, 1.0), (0.95, 9.0), (0.70, 0.5)]
    assert pareto_front(points) == [True, False, True, True, True, True]
    assert pareto_front([(0.5, 1.0)]) == [True]


def test_select_ranks_models_and_marks_the_front(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    out = subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", "select", "example:cnn",
                          "example:resnet50", "--bind", "batch=1", "--accuracy", "0.80", "0.76",
                          "-o", str(tmp_path / "s.json")], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    chosen = json.loads((tmp_path / "s.json").read_text())
    # the CNN is both more accurate (as given) and cheaper: ResNet-50 is off the front
    assert [(c["name"], c["on_front"]) for c in chosen] == [("example:cnn", True),
                                                            ("example:resnet50", False)]
    assert chosen[0]["cost"] == nx.compile("example:cnn", target="h100",
                                           bindings={"batch": 1}).metrics["energy_j"]
