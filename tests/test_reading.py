"""Reports people read (issue 19): SI units that round-trip, terminal tables that fit 80
columns without cutting a number, -o choosing the format from its extension, compare rows named
by what the user gave, and a short repr."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

import nexus_ir as nx
from nexus_ir.units import si
from nexus_ir.app.render_text import report_renderables, to_text
from nexus_ir.units import si

ROOT = Path(__file__).resolve().parents[1]
PREFIX = {"T": 1e12, "G": 1e9, "M": 1e6, "k": 1e3, "": 1.0, "m": 1e-3, "µ": 1e-6, "n": 1e-9,
          "p": 1e-12, "f": 1e-15}


def nexus(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", *args], cwd=cwd,
                          capture_output=True, text=True)


@given(st.floats(min_value=1e-15, max_value=9e14, allow_nan=False) | st.floats(
    min_value=-9e14, max_value=-1e-15))
def test_si_values_round_trip_within_their_printed_precision(value):
    number, unit = si(value, "J").split(" ")
    prefix = unit[:-1]
    back = float(number) * PREFIX[prefix]
    assert abs(back - value) <= 0.5e-2 * abs(value) + 1e-30     # 3 significant digits
    assert 1 <= abs(float(number)) < 1000 or prefix == "f"


def test_si_by_hand():
    assert [si(v, u) for v, u in [(70.5e-6, "s"), (5.064e-3, "J"), (0, "J"), (None, "J"),
                                  (999.96, "J"), (3.572e-7, "J·s")]] == \
        ["70.5 µs", "5.06 mJ", "0 J", "—", "1 kJ", "357 nJ·s"]


@pytest.fixture(scope="module")
def resnet():
    return nx.compile("example:resnet50", target="h100")


@pytest.mark.parametrize("width", [80, 200])
def test_the_terminal_report_fits_its_width_and_never_cuts_a_number(resnet, width):
    text = to_text(report_renderables(resnet, 2, 10, width), width)
    golden = ROOT / "tests" / "golden" / f"resnet50_h100_{width}.txt"
    assert text + "\n" == golden.read_text(), \
        "report text changed; if deliberate, run python3 tests/golden/regenerate.py and review"
    assert max(map(len, text.splitlines())) <= width
    assert "…" not in text
    assert "562 mJ (one call, batch 1)" in text and "4.24 ms" in text
    split_column = "c / m / s %" in text
    assert split_column == (width >= 90)


def test_modules_in_model_order_by_default_and_by_energy_on_request(resnet):
    def modules(by_energy):
        text = to_text(report_renderables(resnet, 2, 24, by_energy=by_energy))
        return [line.split()[0] for line in text.splitlines() if re.match(r"\s+layer\d\.\d", line)]
    in_order = modules(False)
    assert in_order == sorted(in_order, key=lambda m: (int(m[5]), int(m[7:])))
    ranked = [row.module for row in resnet.per_module(2) if row.module.startswith("layer")]
    assert modules(True) == ranked


def test_output_extension_chooses_the_format_and_a_contradiction_is_refused(tmp_path):
    html = tmp_path / "r.html"
    out = nexus("compile", "example:cnn", "-o", str(html))
    assert out.returncode == 0, out.stderr
    assert html.read_text().lstrip().lower().startswith("<!doctype html")
    data = tmp_path / "r.json"
    assert nexus("compile", "example:cnn", "-o", str(data)).returncode == 0
    assert nx.EnergyReport.from_json(data.read_text()).metrics["macs"] == 1_622_336
    assert nexus("compile", "example:cnn", "-o", str(tmp_path / "r.csv")).returncode == 0
    assert (tmp_path / "r.csv").read_text().startswith("name,op,source,")
    clash = nexus("compile", "example:cnn", "--format", "json", "-o", str(html))
    assert clash.returncode == 2 and clash.stderr == (
        f"nexus: error: --format json contradicts -o {html} (html); drop one of them\n")
    odd = nexus("compare", "example:cnn", "--target", "h100", "a100", "-o",
                str(tmp_path / "c.csv"))
    assert odd.returncode == 2 and "this command writes table, json, html, not csv" in odd.stderr


def test_compare_names_rows_by_file_or_label_even_when_graphs_share_a_name(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    paths = []
    for width in (8, 64):
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["y"])], "main_graph",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])],
            [numpy_helper.from_array(np.ones((8, width), np.float32), "w")])
        paths.append(tmp_path / f"mm{width}.onnx")
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                  paths[-1])
    out = nexus("compare", *map(str, paths))
    assert out.returncode == 0, out.stderr
    rows = [line.split()[0] for line in out.stdout.splitlines() if ".onnx " in line]
    assert rows == ["mm8.onnx", "mm64.onnx"]
    named = nexus("compare", *map(str, paths), "--label", "narrow", "--label", "wide",
                  "--format", "html", "-o", str(tmp_path / "c.html"))
    assert named.returncode == 0, named.stderr
    page = (tmp_path / "c.html").read_text()
    assert "narrow on h100" in page and "wide on h100" in page
    short = nexus("compare", *map(str, paths), "--label", "one")
    assert short.returncode == 2 and "--label is given 1 times for 2 models" in short.stderr


def test_repr_is_one_short_line(resnet):
    text = repr(resnet)
    assert text == ("<EnergyReport resnet50 on h100: 562 mJ and 4.24 ms per call, "
                    "4,089,184,256 MACs, 175 nodes>")


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script for a tty")
def test_on_a_terminal_80_columns_wide_the_table_fits(tmp_path):
    command = f"COLUMNS=80 {sys.executable} -m nexus_ir.app.cli compile example:resnet50"
    out = subprocess.run(["script", "-qc", command, "/dev/null"], cwd=ROOT, capture_output=True,
                         text=True, env={"PATH": "/usr/bin:/bin", "TERM": "dumb",
                                         "PYTHONPATH": str(ROOT / "src")})
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.stdout).replace("\r", "")
    assert "  layer1 " in plain, out.stderr                      # the automatic depth: 1
    assert max(map(len, plain.splitlines())) <= 80


def test_diagnose_names_modules_and_groups_launch_overhead_into_one_finding(resnet):
    from passes import diagnose
    graph_energy = resnet.metrics["energy_j"]
    d = diagnose(resnet, "h100", top=3, alternatives={"cuda-graph": graph_energy / 4})
    lines = d.lines()
    assert lines[1].startswith("  layer3.0.downsample.0 (conv) [%86]")   # 3 cuDNN kernels
    launch = next(line for line in lines if line.startswith("launch-bound:"))
    assert launch.startswith("launch-bound: 174 of 175 nodes wait on the host or on kernel "
                             "latency and hold 100% of the energy (static power 96%)")
    assert f"run as cuda-graph {si(graph_energy / 4, 'J')} (-75%)" in launch
    assert d.flops_mislead == []                # every such layer is launch overhead: said once
    precision = next(i for i, line in enumerate(lines) if line.startswith("ops kept at"))
    assert lines[precision].startswith("ops kept at a precision the target runs cheaper: 53 "
                                       "conv, 1 linear at f32 (f16 costs 14× less per FMA")
    assert lines[precision + 4] == "  … and 51 more"


def test_onnx_nodes_with_generated_names_take_their_weights_module_or_their_producers():
    """What the dynamo ONNX exporter writes (node_Conv_0, node_Transpose_1208): a node reading
    a weight is that weight's module, one reading none is its producer's."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from frontends.onnx import from_onnx
    weights = [numpy_helper.from_array(np.ones((4, 8), np.float32), "encoder.fc1.weight"),
               numpy_helper.from_array(np.ones((4, 4), np.float32), "head.weight")]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "encoder.fc1.weight"], ["a"], name="node_MatMul_0"),
         helper.make_node("Relu", ["a"], ["b"], name="node_Relu_1"),
         helper.make_node("Transpose", ["b"], ["c"], name="node_Transpose_1208"),
         helper.make_node("MatMul", ["c", "head.weight"], ["y"], name="")],
        "main_graph", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 4])], weights)
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert [(n.op, n.source) for n in g] == [("matmul", "encoder.fc1"), ("relu", "encoder.fc1"),
                                              ("transpose", "encoder.fc1"), ("matmul", "head")]


def test_the_default_depth_splits_a_decoder_into_its_blocks(resnet):
    """No module may hold over half the energy at the depth shown first: a decoder's layers
    (one ``layers`` row would hold nearly all of it), ResNet's four stages."""
    decoder = nx.compile("example:llama3-8b", target="h100", bindings={"batch": 1, "seq": 16})
    assert decoder.auto_depth() == 2
    assert {"layers.0", "layers.31", "lm_head"} <= {m.module for m in decoder.per_module(2)}
    assert max(m.energy_j for m in decoder.per_module(1)) > 0.5 * decoder.metrics["energy_j"]
    assert resnet.auto_depth() == 1
    assert "modules spending most, in model order (depth 1)" in str(resnet)


def test_compare_fits_80_columns_and_sizes_each_model_by_its_own_shapes():
    out = nexus("compare", "examples/cnn.py:small_cnn",
                "examples/transformer.py:tiny_transformer@tokens=1x64:i64")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()
            if ".py:" in line}
    assert set(rows) == {"cnn.py:small_cnn", "transformer.py:tiny_transformer"}
    from nexus_ir.app.render_text import comparison_renderables
    reports = [nx.compile("example:cnn", target=t, bindings={"batch": 1})
               for t in ("h100", "x86-server")]
    text = to_text(comparison_renderables(reports, ["examples/cnn.py:small_cnn"] * 2, 80), 80)
    assert max(map(len, text.splitlines())) <= 80 and "…" not in text
    energy = si(reports[0].metrics["energy_j"], "J")
    assert energy in text and "split %" not in text          # the split joins from ~95 columns
    wide = to_text(comparison_renderables(reports, None, 200), 200)
    assert all(column in wide for column in ("split %", "× FLOPs", "pJ/FLOP", "unmodeled"))


def test_diagnose_reads_calibration_data_and_reports_ddev(tmp_path):
    data = tmp_path / "cal.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=np.stack([rng.standard_normal((1, 3, 32, 32)),
                               np.zeros((1, 3, 32, 32))]).astype(np.float32))
    out = nexus("diagnose", "examples/cnn.py:small_cnn", "--calibration-data", str(data))
    assert out.returncode == 0, out.stderr
    assert re.match(r"NEXUS diagnosis: SmallCNN on h100, [\d.]+ mJ per call \(DDEV [\d.e-]+ "
                    r"across the calibration inputs\)", out.stdout)
    missing = nexus("diagnose", "examples/cnn.py:small_cnn", "--calibration-data",
                    str(tmp_path / "none.npz"))
    assert missing.returncode == 2 and missing.stderr.startswith(
        f"nexus: error: cannot read calibration data {tmp_path / 'none.npz'}")


def test_outputs_are_written_atomically_and_never_through_a_symlink(tmp_path):
    missing = nexus("compile", "example:cnn", "-o", str(tmp_path / "nope" / "r.json"))
    # refused before costing: the lone-batch note never prints
    assert missing.returncode == 2 and missing.stderr == (
        f"nexus: error: cannot write {tmp_path / 'nope' / 'r.json'}: the folder "
        f"{tmp_path / 'nope'} does not exist (create it first)\n")
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    link = tmp_path / "r.json"
    link.symlink_to(precious)
    out = nexus("compile", "example:cnn", "--bind", "batch=1", "-o", str(link))
    assert out.returncode == 0, out.stderr
    assert precious.read_text() == "keep me" and not link.is_symlink()
    assert nx.EnergyReport.from_json(link.read_text()).metrics["macs"] == 1_622_336
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt", "r.json"]  # no temp


def test_a_zero_size_is_one_clear_line():
    out = nexus("compile", "example:cnn", "--bind", "batch=0")
    assert out.returncode == 2 and out.stderr == (
        "nexus: error: binding batch=0: a size is 1 or more (an empty batch has no energy to "
        "cost)\n")
    with pytest.raises(nx.NexusError, match="binding seq=0: a size is 1 or more"):
        nx.compile("example:llama3-8b", bindings={"batch": 1, "seq": 0})
