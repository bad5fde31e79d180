"""Calibration: NNLS recovers known coefficients from measurements synthesized with them, writes
a target file in the normal format, and cross-validates leave-one-model-out; the CLI around it."""

import json
import subprocess
import sys

import numpy as np
import pytest

import nexus_ir as nx
from lowering.target import load_target, write_target
from runtime.calibrate import (COEFFICIENTS, MEASUREMENT_SCHEMA, calibrated_target, features,
                               fit, leave_one_model_out, load_measurements, predict)

TRUE = {"s_matrix": 1.3, "s_vector": 2.5, "s_special": 0.8, "p_off_j_per_byte": 90e-12,
        "p_on_j_per_byte": 12e-12, "static_power_w": 110.0, "e_kernel_j": 2.2e-3}
CASES = [("example:cnn", {"batch": b}) for b in (1, 4, 16, 64)] + \
    [("example:resnet50", {"batch": b}) for b in (1, 8)] + \
    [("example:llama3-8b", {"batch": 1, "seq": s}) for s in (8, 64)]


@pytest.fixture(scope="module")
def measurements():
    """Measurement documents whose energies are exactly the model with TRUE coefficients."""
    docs = []
    for model, bindings in CASES:
        report = nx.compile(model, target="h100", bindings=bindings).to_dict()
        energy = sum(TRUE[k] * v for k, v in zip(COEFFICIENTS, features(report)))
        docs.append({"schema": MEASUREMENT_SCHEMA, "model": model, "energy_j": energy,
                     "report": report})
    return docs


def test_features_are_the_reports_numbers(measurements):
    report = measurements[0]["report"]
    m = report["metrics"]
    x = features(report)
    overhead = load_target("h100").kernel_overhead_s.value
    assert list(x[:3]) == [m["compute_j_by_class"][c] for c in ("matrix", "vector", "special")]
    assert x[3] == m["off_chip_bytes"] and x[4] == m["on_chip_bytes"]
    assert x[5] == pytest.approx(m["latency_s"] - m["kernels"] * overhead)
    assert x[6] == m["kernels"] > 0


def test_fit_recovers_known_coefficients(measurements):
    fitted = fit(measurements)
    for name, value in TRUE.items():
        assert fitted[name] == pytest.approx(value, rel=1e-6), name
    assert predict(fitted, measurements[3]["report"]) == pytest.approx(
        measurements[3]["energy_j"], rel=1e-9)


def synthetic_report(rng: np.random.Generator) -> dict:
    """A report dict with random positive features (only what ``features`` reads)."""
    by_class = dict(zip(("matrix", "vector", "special"), rng.uniform(0.01, 1.0, 3)))
    metrics = {"compute_j_by_class": by_class, "off_chip_bytes": rng.uniform(1e6, 1e9),
               "on_chip_bytes": rng.uniform(1e6, 1e9), "kernels": int(rng.integers(10, 500)),
               "latency_s": rng.uniform(1e-3, 1e-1)}
    metrics["latency_s"] += metrics["kernels"] * 5e-6
    return {"metrics": metrics,
            "target": {"provenance": [{"key": "kernel_overhead_s", "value": 5e-6,
                                       "source": "test"}]}}


def test_leave_one_model_out_is_exact_on_exact_data():
    rng = np.random.default_rng(0)
    docs = []
    for model in ("a", "b", "c"):
        for _ in range(8):
            report = synthetic_report(rng)
            energy = sum(TRUE[k] * v for k, v in zip(COEFFICIENTS, features(report)))
            docs.append({"model": model, "energy_j": energy, "report": report})
    cv = leave_one_model_out(docs)
    assert set(cv.per_model_mape) == {"a", "b", "c"}
    assert cv.median_ape < 1e-6 and max(cv.per_model_mape.values()) < 1e-6
    noisy = [{**d, "energy_j": d["energy_j"] * (1.1 if d["model"] == "c" else 1.0)}
             for d in docs]
    assert leave_one_model_out(noisy).per_model_mape["c"] == pytest.approx(0.1 / 1.1, rel=0.2)


def test_calibrated_target_is_a_normal_target_file(measurements, tmp_path):
    fitted = fit(measurements)
    doc = calibrated_target(load_target("h100").path, fitted, "h100-cal", "calibrated: test")
    path = tmp_path / "h100-cal.toml"
    write_target(doc, path)
    target = load_target(path)
    assert target.name == "h100-cal"
    assert target.energy_scale["matrix"].value == pytest.approx(1.3)
    assert target.static_power_w.value == pytest.approx(110.0)
    assert target.kernel_overhead_s.value == pytest.approx(2.2e-3 / 110.0)
    assert target.off_chip.pj_per_byte.value == pytest.approx(90.0)
    assert target.on_chip.pj_per_byte.value == pytest.approx(12.0)
    assert target.static_power_w.source == "calibrated: test"
    plain = nx.compile("example:cnn", target="h100", bindings={"batch": 1})
    scaled = nx.compile("example:cnn", target=target, bindings={"batch": 1})
    assert scaled.metrics["compute_j_by_class"]["matrix"] == pytest.approx(
        1.3 * plain.metrics["compute_j_by_class"]["matrix"], rel=1e-9)


def test_bad_measurement_files_fail_in_one_line(tmp_path):
    (tmp_path / "x.json").write_text('{"schema": "other"}')
    with pytest.raises(nx.NexusError, match="is not a NEXUS measurement"):
        load_measurements([tmp_path / "x.json"])
    with pytest.raises(nx.NexusError, match="measurement file .*nope.json does not exist"):
        load_measurements([tmp_path / "nope.json"])
    with pytest.raises(nx.NexusError, match="calibration needs several measurements, got 1"):
        fit([{"energy_j": 1.0, "report": {}}])


def test_calibrate_command_writes_the_target(measurements, tmp_path):
    files = []
    for i, doc in enumerate(measurements):
        path = tmp_path / f"m{i}.json"
        path.write_text(json.dumps(doc))
        files.append(str(path))
    out = tmp_path / "h100-calibrated.toml"
    done = subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", "calibrate", *files,
                           "--target", "h100", "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "  s_vector           2.5\n" in done.stdout
    assert "leave-one-model-out: median absolute error" in done.stdout
    assert load_target(out).energy_scale["vector"].value == pytest.approx(2.5, rel=1e-6)
    wrong = subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", "calibrate", *files,
                            "--target", "a100", "-o", str(out)], capture_output=True, text=True)
    assert wrong.returncode == 2 and wrong.stderr == (
        "nexus: error: the measurements were predicted on h100; calibrate them against that "
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
