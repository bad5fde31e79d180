"""Calibration: a regularized fit of multiplicative corrections recovers corrections the data
determine, keeps the target's numbers where it does not, refuses when it determines nothing,
writes a target file in the normal format and cross-validates leave-one-model-out; the CLI."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import nexus_ir as nx
from lowering.target import load_target, write_target
from runtime.calibrate import (BOUNDS, COEFFICIENTS, MEASUREMENT_SCHEMA, Fit, calibrated_target,
                               components, fit, leave_one_model_out, load_measurements)

TRUE = {"s_matrix": 1.3, "s_vector": 1.8, "s_special": 1.0, "s_off_chip": 0.7,
        "s_on_chip": 1.2, "s_floor": 1.1, "s_overhead": 1.5, "s_module": 0.6, "s_active": 0.8}


def synthetic_report(rng: np.random.Generator, only: tuple[str, ...] = COEFFICIENTS) -> dict:
    """A report dict whose components (what ``components`` reads) are random and positive for
    the coefficients in ``only``, zero for the rest (special-function energy 0 throughout)."""
    size = {c: rng.uniform(0.05, 1.0) if c in only and c != "s_special" else 0.0
            for c in COEFFICIENTS}
    floor = size["s_floor"] + size["s_overhead"] + size["s_module"]
    latency = 1e-2
    metrics = {"compute_j_by_class": {"matrix": size["s_matrix"], "vector": size["s_vector"],
                                      "special": 0.0},
               "off_chip_j": size["s_off_chip"],
               "memory_j": size["s_off_chip"] + size["s_on_chip"],
               "static_j": floor + size["s_active"], "active_j": size["s_active"],
               "latency_s": latency,
               "overhead_s": latency * (size["s_overhead"] + size["s_module"]) / floor
               if floor else 0.0,
               "module_wait_s": latency * size["s_module"] / floor if floor else 0.0}
    return {"metrics": metrics}


def measured(report: dict, truth: dict = TRUE) -> float:
    return float(np.dot([truth[c] for c in COEFFICIENTS], components(report)))


def docs_for(models: str, per_model: int, seed: int = 0, **kwargs) -> list[dict]:
    rng = np.random.default_rng(seed)
    docs = []
    for model in models:
        for _ in range(per_model):
            report = synthetic_report(rng, **kwargs)
            docs.append({"schema": MEASUREMENT_SCHEMA, "model": model,
                         "energy_j": measured(report), "report": report})
    return docs


def test_components_are_the_reports_numbers():
    report = synthetic_report(np.random.default_rng(1))
    m = report["metrics"]
    c = components(report)
    assert list(c[:3]) == [m["compute_j_by_class"][k] for k in ("matrix", "vector", "special")]
    assert c[3] == m["off_chip_j"] and c[4] == pytest.approx(m["memory_j"] - m["off_chip_j"])
    assert c[5] + c[6] + c[7] + c[8] == pytest.approx(m["static_j"])
    assert c[8] == m["active_j"]                      # active power over kernel time
    floor = m["static_j"] - m["active_j"]
    assert c[6] == pytest.approx(floor * (m["overhead_s"] - m["module_wait_s"]) / m["latency_s"])
    assert c[7] == pytest.approx(floor * m["module_wait_s"] / m["latency_s"])


def test_reports_without_module_wait_put_all_overhead_in_s_overhead():
    """Measurements written before ``module_wait_s`` existed (and non-eager reports) give the
    module component nothing."""
    report = synthetic_report(np.random.default_rng(2))
    del report["metrics"]["module_wait_s"]
    c = components(report)
    m = report["metrics"]
    assert c[7] == 0.0
    assert c[6] == pytest.approx((m["static_j"] - m["active_j"]) * m["overhead_s"] /
                                 m["latency_s"])


def test_many_varied_measurements_recover_the_corrections():
    fitted = fit(docs_for("abcd", 25))
    assert set(fitted.determined) == set(COEFFICIENTS) - {"s_special"}
    for name, value in TRUE.items():
        if name in fitted.determined:          # the prior pulls each a little toward 1
            got = fitted.multipliers[name]
            assert got == pytest.approx(value, rel=0.12), name
            assert (got - 1.0) * (value - 1.0) >= 0, name          # on the side of the truth
    assert fitted.multipliers["s_special"] == 1.0


def test_few_measurements_move_only_what_they_determine():
    docs = docs_for("ab", 3, only=("s_floor", "s_overhead"))
    fitted = fit(docs)
    assert set(fitted.determined) <= {"s_floor", "s_overhead"} and fitted.determined
    for name in ("s_matrix", "s_vector", "s_special", "s_off_chip", "s_on_chip"):
        assert fitted.multipliers[name] == 1.0, name


def test_fitted_values_stay_within_bounds_of_the_target():
    docs = docs_for("abc", 5)
    wild = [{**d, "energy_j": d["energy_j"] * 1000} for d in docs]
    fitted = fit(wild)
    assert all(BOUNDS[0] - 1e-9 <= v <= BOUNDS[1] + 1e-9 for v in fitted.multipliers.values())


def test_measurements_that_determine_nothing_are_refused():
    """One measurement whose energy is spread evenly over six components: none of the six
    shares (1/6) says more than the prior ((1/6 / 0.1)² = 2.8 < 1/0.5² = 4)."""
    report = {"metrics": {"compute_j_by_class": {"matrix": 1.0, "vector": 1.0, "special": 0.0},
                          "off_chip_j": 1.0, "memory_j": 2.0, "static_j": 2.0,
                          "latency_s": 1.0, "overhead_s": 0.5}}
    doc = {"model": "a", "energy_j": 9.0, "report": report}
    with pytest.raises(nx.NexusError, match="determine none of the target's coefficients"):
        fit([doc])


def test_leave_one_model_out_is_near_exact_on_exact_data():
    docs = docs_for("abc", 8)
    cv = leave_one_model_out(docs)
    assert set(cv.per_model_mape) == {"a", "b", "c"}
    assert cv.median_ape < 0.02
    noisy = [{**d, "energy_j": d["energy_j"] * (1.1 if d["model"] == "c" else 1.0)}
             for d in docs]
    assert leave_one_model_out(noisy).per_model_mape["c"] == pytest.approx(0.1 / 1.1, rel=0.3)


def test_calibrated_target_is_a_normal_target_file(tmp_path):
    fitted = Fit({**{c: 1.0 for c in COEFFICIENTS}, "s_matrix": 1.3, "s_off_chip": 0.5,
                  "s_floor": 1.1, "s_overhead": 2.2, "s_module": 0.55, "s_active": 0.9},
                 ("s_matrix", "s_off_chip", "s_floor", "s_overhead", "s_module", "s_active"))
    base = load_target("h200")
    doc = calibrated_target(base.path, fitted, "h200-cal", "calibrated: test")
    path = tmp_path / "h200-cal.toml"
    write_target(doc, path)
    target = load_target(path)
    assert target.name == "h200-cal"
    assert target.energy_scale["matrix"].value == pytest.approx(1.3)
    assert target.number("busy_floor_w") == pytest.approx(1.1 * base.number("busy_floor_w"))
    assert target.static_power_w.value == base.static_power_w.value
    assert target.number("active_power_w") == pytest.approx(0.9 * base.number("active_power_w"))
    assert target.host_time_s("conv") == pytest.approx(2.0 * base.host_time_s("conv"))
    assert target.number("sync_s") == pytest.approx(2.0 * base.number("sync_s"))
    assert target.number("host_module_s") == pytest.approx(0.5 * base.number("host_module_s"))
    assert target.off_chip.pj_per_byte.value == pytest.approx(0.5 * base.off_chip.pj_per_byte.value)
    assert target.on_chip.pj_per_byte.value == base.on_chip.pj_per_byte.value
    assert target.energy_scale["matrix"].source.startswith("calibrated: test (×1.3 of: ")
    graph = nx.example_graph("cnn")
    plain = nx.compile(graph, target="h200", bindings={"batch": 1})
    scaled = nx.compile(graph, target=target, bindings={"batch": 1})
    assert scaled.metrics["compute_j_by_class"]["matrix"] == pytest.approx(
        1.3 * plain.metrics["compute_j_by_class"]["matrix"], rel=1e-9)


def test_bad_measurement_files_fail_in_one_line(tmp_path):
    (tmp_path / "x.json").write_text('{"schema": "other"}')
    with pytest.raises(nx.NexusError, match="is not a NEXUS measurement"):
        load_measurements([tmp_path / "x.json"])
    with pytest.raises(nx.NexusError, match="measurement file .*nope.json does not exist"):
        load_measurements([tmp_path / "nope.json"])
    with pytest.raises(nx.NexusError, match="calibration needs measurements"):
        fit([])


@pytest.fixture(scope="module")
def measurement_files(tmp_path_factory):
    """Measurement documents of real reports on h200 whose energies follow TRUE."""
    out = tmp_path_factory.mktemp("measurements")
    files = []
    for i, (model, bindings) in enumerate([("example:cnn", {"batch": b}) for b in (1, 4, 16, 64)]
                                          + [("example:resnet50", {"batch": b})
                                             for b in (1, 8)]):
        report = nx.compile(model, target="h200", bindings=bindings).to_dict()
        doc = {"schema": MEASUREMENT_SCHEMA, "model": model, "energy_j": measured(report),
               "report": report}
        files.append(out / f"m{i}.json")
        files[-1].write_text(json.dumps(doc))
    return [str(f) for f in files]


def test_calibrate_command_writes_the_target(measurement_files, tmp_path):
    out = tmp_path / "h200-calibrated.toml"
    done = subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", "calibrate",
                           *measurement_files, "--target", "h200", "-o", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "fitted on 6 measurements of 2 models (multipliers of h200's own numbers):" in \
        done.stdout
    assert "  s_special    ×1  kept (not determined)\n" in done.stdout
    assert "leave-one-model-out: median absolute error" in done.stdout
    assert math.isfinite(load_target(out).number("busy_floor_w"))
    wrong = subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", "calibrate",
                            *measurement_files, "--target", "a100", "-o", str(out)],
                           capture_output=True, text=True)
    assert wrong.returncode == 2 and wrong.stderr == (
        "nexus: error: the measurements were predicted on h200; calibrate them against that "
        "target, not a100\n")


@pytest.mark.parametrize("args", [["measure", "examples/cnn.py:small_cnn"],
                                  ["validate", "examples/cnn.py:small_cnn"],
                                  ["measure", "examples/cnn.py:small_cnn", "--device", "cpu",
                                   "--meter", "rapl"]])
def test_measuring_without_a_meter_is_one_line(args, monkeypatch, tmp_path):
    """No GPU here (or no NVML), and no RAPL in a fake empty powercap: one line, exit 2."""
    import runtime.meters as meters
    from nexus_ir.app import cli

    monkeypatch.setattr(meters, "POWERCAP", tmp_path)
    monkeypatch.setattr(meters.RaplMeter.__init__, "__defaults__", (tmp_path, None))
    try:
        import torch
        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if has_gpu:
        pytest.skip("a GPU is present: measuring would work")
    assert cli.main(args) == 2
