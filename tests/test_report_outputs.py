"""The energy report's outputs: golden JSON/text/CSV, the JSON Schema, determinism, the HTML page
(checked in a real headless Chromium), and the notebook fragment."""

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import jsonschema
import pytest

import nexus_ir as nx
from lowering.target import load_target
from nexus_ir.app.examples import example_cnn, resnet50
from nexus_ir.app.render_html import SPLIT_COLORS, comparison_html, notebook_html
from nexus_ir.report import SCHEMA_FILE, NodeCost

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
from regenerate import golden_report  # noqa: E402

SCHEMA = json.loads(SCHEMA_FILE.read_text())
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or \
    shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                    "(Debian: apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def report() -> nx.EnergyReport:
    return golden_report()


# ---------------------------------------------------------------------------- golden files
def test_json_matches_the_golden_file_byte_for_byte(report):
    assert report.to_json() + "\n" == (GOLDEN / "small_cnn_h100.json").read_text(), \
        "report JSON changed; if deliberate, run python3 tests/golden/regenerate.py and review"


def test_terminal_text_matches_the_golden_file(report):
    assert str(report) + "\n" == (GOLDEN / "small_cnn_h100.txt").read_text()


def test_csv_matches_the_golden_file(report):
    assert report.to_csv() == (GOLDEN / "small_cnn_h100.csv").read_text()


def test_golden_counts_are_the_hand_derived_ones():
    """The golden file is not trusted blindly: its conv and linear MACs are derived by hand."""
    doc = json.loads((GOLDEN / "small_cnn_h100.json").read_text())
    by_source = {n["source"]: n for n in doc["nodes"]}
    # conv3x3 over 32x32 with padding 1: 32·32 outputs · 16 channels · 3·3·3 taps
    assert by_source["features.0.conv"]["macs"] == 32 * 32 * 16 * 3 * 9
    # after one 2x2 pool: 16·16 outputs · 32 channels · 16·3·3 taps
    assert by_source["features.1.conv"]["macs"] == 16 * 16 * 32 * 16 * 9
    assert by_source["classifier"]["macs"] == 32 * 10
    assert doc["metrics"]["macs"] == 32 * 32 * 16 * 27 + 16 * 16 * 32 * 144 + 320
    # batch norm's scale and shift are parameters, its running mean and variance buffers
    assert doc["metrics"]["parameters"] == 16 * 27 + 32 * 144 + 2 * (16 + 32) + 320 + 10
    assert doc["metrics"]["buffers"] == 2 * (16 + 32)
    assert doc["metrics"]["model_bytes"] == 4 * (16 * 27 + 32 * 144 + 4 * (16 + 32) + 330)


# ---------------------------------------------------------------------------- schema
def test_schema_is_valid_and_golden_and_reports_of_every_kind_conform():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(json.loads((GOLDEN / "small_cnn_h100.json").read_text()), SCHEMA)
    for model, target in (("example:resnet50", "a100"), ("example:llama3-8b", "x86-server"),
                          ("example:cnn", "stm32l4r5")):      # a microcontroller: arena plan
        bindings = {"batch": 1, "seq": 8} if "llama" in model else {"batch": 1}
        jsonschema.validate(json.loads(nx.compile(model, target=target,
                                                  bindings=bindings).to_json()), SCHEMA)


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(schema_version=1),
    lambda d: d["metrics"].update(energy_j=-1.0),
    lambda d: d["nodes"][0].update(extra=1),
    lambda d: d["nodes"][0].update(bound="fast"),
    lambda d: d.pop("roofline"),
])
def test_schema_rejects_malformed_reports(report, mutate):
    doc = json.loads(report.to_json())
    mutate(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def _graph_with_an_opaque_node() -> nx.Graph:
    g = nx.Graph("odd")
    x = g.add_input("x", "f32[4,8]")
    odd = g.add_node("opaque", [x], {"target": "custom::thing"},
                     output_types=[nx.TensorType([4, 8], "f32")], source="block.custom")
    g.set_outputs(g.op("relu", odd.output))
    return g


def test_schema_admits_unmodeled_nodes_with_null_numbers():
    report = nx.compile(_graph_with_an_opaque_node(), target="h100")
    doc = json.loads(report.to_json())
    jsonschema.validate(doc, SCHEMA)
    odd = next(n for n in doc["nodes"] if not n["modeled"])
    assert odd["energy_j"] is None and odd["unmodeled_reason"]


# ---------------------------------------------------------------------------- determinism
def test_same_input_gives_the_same_bytes_in_every_format():
    a, b = golden_report(), golden_report()
    assert a.to_json() == b.to_json()
    assert a.to_csv() == b.to_csv()
    assert a.to_html() == b.to_html()


def test_json_round_trip_keeps_every_field(report):
    again = nx.EnergyReport.from_json(report.to_json())
    assert again.to_json() == report.to_json()
    assert again.roofline == report.roofline


# ---------------------------------------------------------------------------- CSV
def test_csv_has_one_row_per_node_and_sums_to_the_totals(report):
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert list(rows[0]) == [f.name for f in fields(NodeCost)]
    assert [r["name"] for r in rows] == [n.name for n in report.nodes]
    total = sum(float(r["energy_j"]) for r in rows if r["energy_j"])
    # beside the nodes, the busy floor over the per-call launch and synchronize
    call = load_target("h100").floor_power_w * report.metrics["call_overhead_s"]
    assert total + call == pytest.approx(report.metrics["energy_j"], rel=1e-12)
    assert sum(int(r["macs"]) for r in rows if r["macs"]) == report.metrics["macs"]


# ---------------------------------------------------------------------------- views
def test_shares_sum_to_one_over_modules(report):
    modules = report.per_module(2)
    shares = [report.share(m) for m in modules]
    assert sum(e for e, _ in shares) == pytest.approx(1.0)
    assert sum(f for _, f in shares) == pytest.approx(1.0)
    top = modules[0]
    assert shares[0] == (top.energy_j / report.metrics["energy_j"],
                         top.flops / report.metrics["flops"])


def test_roofline_carries_the_target_bandwidth_and_fma_ceilings(report):
    h100 = load_target("h100")
    assert report.roofline == {
        "dtype": "f32", "off_chip_bytes_per_s": h100.off_chip.bandwidth_bytes_per_s.value,
        "on_chip_bytes_per_s": h100.on_chip.bandwidth_bytes_per_s.value,
        "ceilings": [{"exec_class": "matrix", "flops_per_s": 2 * h100.peak_rate("matrix", "f32")},
                     {"exec_class": "vector", "flops_per_s": 2 * h100.peak_rate("vector", "f32")}]}


def test_roofline_dtype_is_the_one_doing_most_flops():
    report = nx.compile("example:resnet50", target="h100", bindings={"batch": 1})
    bf16 = nx.compile(resnet50("bf16"), target="h100", bindings={"batch": 1})
    assert report.roofline["dtype"] == "f32" and bf16.roofline["dtype"] == "bf16"
    assert bf16.roofline["ceilings"][0]["flops_per_s"] == 2 * 494.7e12


# ---------------------------------------------------------------------------- HTML
def test_html_is_self_contained_and_escapes_names():
    g = example_cnn()
    g.name = "<script>alert(1)</script>"
    page = nx.compile(g, bindings={"batch": 1}).to_html()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|@import", page), "no external assets"
    for chart in ("energy-treemap", "energy-split", "flop-vs-energy", "roofline"):
        assert f"id='{chart}'" in page


def test_html_names_modules_not_ids_and_offers_every_depth():
    import json as json_
    page = nx.compile(example_cnn(), bindings={"batch": 1}).to_html()
    figures = json_.loads(re.search(r"id='nexus-figures'>(.*?)</script>", page, re.S)
                          .group(1).replace("<\\/", "</"))
    treemap = next(f for f in figures if f["id"] == "energy-treemap")["figure"]["data"][0]
    assert "features.0" in treemap["labels"] and "0" not in treemap["labels"]
    assert "conv · %0" in treemap["labels"]
    share = next(f for f in figures if f["id"] == "flop-vs-energy")["figure"]["data"][0]
    assert "features.0.conv (conv)" in share["y"]
    # the CNN's sources go two deep (features.0.conv): a table per depth, depth 2 shown
    assert [int(d) for d in re.findall(r"data-depth='(\d)'", page)] == [1, 2, 3]
    assert re.search(r"<table class='nx' data-depth='2'><tr>", page)
    assert re.search(r"<table class='nx' data-depth='1' hidden>", page)


def test_to_html_writes_the_file(report, tmp_path):
    out = tmp_path / "r.html"
    assert report.to_html(out) == out.read_text()


def test_notebook_repr_is_light_html_with_the_metrics(report):
    fragment = report._repr_html_()
    assert fragment == notebook_html(report)
    assert "<script" not in fragment and len(fragment) < 50_000
    for label in ("SAF-T", "LSRT", "MCER", "DDEV", "ECU", "CpTO", "features.1", "of FLOPs",
                  "static energy"):
        assert label in fragment


def test_unmodeled_ops_are_listed_in_html_and_text():
    report = nx.compile(_graph_with_an_opaque_node())
    assert "unmodeled ops (not in the totals): %0 (opaque)" in str(report)
    assert "could not be costed" in report.to_html() and "block.custom" in report.to_html()


def _chromium(page: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=15000", *flags, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


def _color_pixels(image, hex_color: str, tolerance: int = 12) -> int:
    target = tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return sum(count for count, rgb in image.getcolors(maxcolors=1 << 24)
               if all(abs(a - b) <= tolerance for a, b in zip(rgb[:3], target)))


@needs_chromium
def test_html_draws_its_charts_in_a_real_browser(report, tmp_path):
    from PIL import Image

    page = tmp_path / "report.html"
    report.to_html(page)
    dom = _chromium(page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    assert 'data-charts-drawn="4"' in body and 'data-errors="0"' in body, body
    assert dom.stdout.count('class="main-svg"') >= 4, "plotly drew no SVG"
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console

    shot = tmp_path / "report.png"
    _chromium(page, "--window-size=1280,3200", f"--screenshot={shot}")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 3200)
    # colours only the charts use (the treemap's first box, the share chart's two bar colours;
    # the tables' CSS bars use SPLIT_COLORS): drawn, not blank
    assert not {"#636EFA", "#E45756", "#72B7B2"} & set(SPLIT_COLORS.values())
    for color in ("#636EFA", "#E45756", "#72B7B2"):
        assert _color_pixels(image, color) > 500, f"no {color} pixels: a chart was not drawn"


@needs_chromium
def test_the_depth_selector_switches_the_module_table_in_a_real_browser(report, tmp_path):
    page = tmp_path / "report.html"
    report.to_html(page)

    def visible(address: str) -> list[str]:
        dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                              "--virtual-time-budget=15000", "--dump-dom", address],
                             capture_output=True, text=True, timeout=120).stdout
        return re.findall(r'<table class="nx" data-depth="(\d)">', dom)
    assert visible(page.as_uri()) == [str(report.auto_depth())]
    assert visible(page.as_uri() + "#depth=1") == ["1"]
    assert visible(page.as_uri() + "#depth=3") == ["3"]


@needs_chromium
def test_comparison_page_draws_in_a_real_browser(tmp_path):
    reports = [nx.compile("example:cnn", target=t, bindings={"batch": 1})
               for t in ("h100", "x86-server")]
    page = tmp_path / "compare.html"
    page.write_text(comparison_html(reports))
    dom = _chromium(page, "--dump-dom")
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    assert 'data-charts-drawn="2"' in body and 'data-errors="0"' in body, body
