import json
import subprocess
import sys

import pytest

import nexus_ir as nx


def nexus(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_version_and_help():
    out = nexus("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"nexus-ml {nx.__version__}"
    helped = nexus("--help")
    assert helped.returncode == 0 and "example" in helped.stdout and "--debug" in helped.stdout


def test_example_prints_verified_ir_with_bound_batch():
    out = nexus("example", "cnn", "--bind", "batch=2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "graph @small_cnn(%image: f32[2,3,32,32]) {"
    # 32x32 -> conv pad 1 keeps 32 -> pool 16 -> conv 16 -> pool 8 -> global pool -> 10 logits
    assert any(line.strip().startswith("%3 = max_pool") and line.endswith(
        ': f32[2,16,16,16] loc("features.0.pool")') for line in lines)
    assert lines[-2] == "  return %logits"


def test_example_json_loads_back():
    out = nexus("example", "--format", "json")
    g = nx.Graph.from_json(out.stdout)
    g.verify()
    assert g.name == "small_cnn" and json.loads(out.stdout)["schema_version"] == 1


@pytest.mark.parametrize("args,message", [
    (("example", "nope"), "nexus: error: unknown example 'nope'; choose one of cnn, resnet50, "
                           "llama3-8b\n"),
    (("example", "--bind", "batch"), "nexus: error: --bind expects NAME=SIZE (e.g. batch=8), got "
                                     "'batch'\n"),
])
def test_errors_are_one_line_and_nonzero(args, message):
    out = nexus(*args)
    assert out.returncode == 2 and out.stderr == message and out.stdout == ""


def test_debug_shows_the_traceback():
    out = nexus("--debug", "example", "nope")
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_compile_prints_the_report_and_writes_json(tmp_path):
    out = nexus("compile", "example:cnn", "--bind", "batch=1", "--target", "horowitz-45nm")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("NEXUS energy report: small_cnn on horowitz-45nm")
    # conv MACs by hand: 16·32·32·27 + 32·16·16·144, plus the classifier's 320
    macs_line = next(line for line in lines if "FLOPs / MACs" in line)
    assert macs_line.endswith("/ 1,622,336")
    path = tmp_path / "r.json"
    out = nexus("compile", "example:cnn", "--bind", "batch=1", "--format", "json", "-o", str(path))
    assert out.returncode == 0 and out.stderr == f"wrote {path}\n"
    report = nx.EnergyReport.from_json(path.read_text())
    assert report.target == "h100" and report.metrics["macs"] == 1622336


def test_compile_errors_are_one_line():
    out = nexus("compile", "example:llama3-8b")
    assert out.returncode == 2 and out.stderr.startswith(
        "nexus: error: graph @llama3_8b has unbound symbols ['batch', 'seq']; give them sizes")
    assert out.stderr.count("\n") == 1
    out = nexus("compile", "example:cnn", "--bind", "batch=1", "--target", "tpu9")
    assert out.returncode == 2 and "unknown target 'tpu9'" in out.stderr


def test_targets_list_and_show(monkeypatch):
    monkeypatch.delenv("NEXUS_TARGETS", raising=False)
    out = nexus("targets")
    names = [line.split()[0] for line in out.stdout.splitlines()]
    assert names == ["a10", "a100", "b200", "cortex-m", "h100", "h200", "horowitz-45nm",
                     "jetson-orin", "l4", "rtx4090", "stm32h7a3", "stm32l4r5", "x86-server"]
    confidence = {line.split()[0]: line[17:33].strip() for line in out.stdout.splitlines()}
    assert confidence["h200"] == "measured" and confidence["l4"] == "estimate"
    assert confidence["x86-server"] == "partly measured"
    shown = nexus("targets", "show", "h100").stdout
    assert "compute.fma.bf16" in shown and "derived from a measurement: a bf16 8192^3" in shown
    assert "max_power_w" in shown
