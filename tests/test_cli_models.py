"""`nexus compile` and `nexus compare` end to end through a subprocess, for each kind of model and
each output format, and their failures: one line on stderr, a non-zero exit."""

import csv
import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nexus_ir as nx
from frontends import load_factory

from nexus_ir.app import cli
from nexus_ir.app.examples import example_cnn

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"

# Tiny transformer MACs by hand (T=64 tokens, d=128, 4 heads of 32, 2 layers, vocab 1000):
# per layer qkv T·d·3d + proj T·d·d + MLP 2·T·d·4d + attention 2·heads·T·T·32; then the LM head.
T, D = 64, 128
LAYER_MACS = T * D * 3 * D + T * D * D + 2 * T * D * 4 * D + 2 * 4 * T * T * 32
TRANSFORMER_MACS = 2 * LAYER_MACS + T * D * 1000
# Small CNN (3→32→64→128 channels, 3x3 convs over 32², 16², 8²) plus the 128→10 classifier.
CNN_MACS = 32 * 32 * 32 * 27 + 16 * 16 * 64 * 32 * 9 + 8 * 8 * 128 * 64 * 9 + 128 * 10


def nexus(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_ir.app.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def _one_line_error(out: subprocess.CompletedProcess, code: int = 2) -> str:
    assert out.returncode == code, (out.returncode, out.stderr)
    assert out.stdout == "" and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    return out.stderr


# ---------------------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    """MatMul + Relu over f32[batch,8] → f32[batch,16], built with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((8, 16), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])], [weight])
    path = tmp_path_factory.mktemp("onnx") / "mlp.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture(scope="module")
def pt2_file(tmp_path_factory) -> Path:
    import torch

    program = torch.export.export(torch.nn.Linear(4, 3), (torch.randn(2, 4),))
    path = tmp_path_factory.mktemp("pt2") / "linear.pt2"
    torch.export.save(program, path)
    return path


@pytest.fixture(scope="module")
def classic_files(tmp_path_factory) -> dict[str, Path]:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).standard_normal((40, 5)).astype(np.float32)
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    folder = tmp_path_factory.mktemp("classic")
    sio.dump(model, folder / "logreg.skops")
    with open(folder / "logreg.pkl", "wb") as handle:
        pickle.dump(model, handle)
    return {"skops": folder / "logreg.skops", "pkl": folder / "logreg.pkl"}


# ---------------------------------------------------------------------------- each kind
def test_torch_factory_to_html_prints_the_summary_and_writes_the_page(tmp_path):
    page = tmp_path / "cnn.html"
    out = nexus("compile", "examples/cnn.py:small_cnn", "--format", "html", "-o", str(page))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("NEXUS energy report: SmallCNN on h100")
    assert f"{CNN_MACS:,}" in out.stdout and "unmodeled" not in out.stdout
    assert out.stderr.endswith(f"wrote {page}\n")
    assert page.read_text().startswith("<!DOCTYPE html>") and "id='roofline'" in page.read_text()


def test_torch_factory_with_input_shape_to_json():
    out = nexus("compile", "examples/transformer.py:tiny_transformer", "--input-shape",
                "tokens=1x64:i64", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["metrics"]["macs"] == TRANSFORMER_MACS and doc["metrics"]["unmodeled"] == []
    assert doc["metrics"]["output_units"] == 64          # tokens: batch·seq of the logits


def test_sklearn_factory_to_csv_costs_trees_on_its_rows():
    out = nexus("compile", "examples/sklearn_pipeline.py:pipeline", "--target", "x86-server",
                "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    ops = [r["op"] for r in rows]
    assert "tree_ensemble" in ops and all(r["modeled"] == "True" for r in rows)
    # PCA: 64 rows · 16 features · 8 components
    assert sum(int(r["macs"]) for r in rows if r["macs"]) == 64 * 16 * 8


def test_xgboost_file_to_table():
    out = nexus("compile", "examples/xgboost_model.json", "--bind", "batch=1", "--target",
                "x86-server")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("NEXUS energy report:") and "bindings: batch=1" in out.stdout
    assert "TreeEnsembleClassifier" in out.stdout


def test_onnx_file_input_shape_binds_the_batch(onnx_file):
    out = nexus("compile", str(onnx_file), "--input-shape", "x=4x8", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["bindings"] == {"batch": 4} and doc["metrics"]["macs"] == 4 * 8 * 16


def test_pt2_file_needs_trust_pickle(pt2_file):
    refused = nexus("compile", str(pt2_file))
    assert "pass trust_pickle=True (CLI: --trust-pickle)" in _one_line_error(refused)
    out = nexus("compile", str(pt2_file), "--trust-pickle", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["metrics"]["macs"] == 2 * 4 * 3


def test_skops_file_and_pickle_with_trust(classic_files):
    out = nexus("compile", str(classic_files["skops"]), "--bind", "batch=3", "--format", "json")
    assert out.returncode == 0, out.stderr
    # skl2onnx writes a binary LinearClassifier with one coefficient row per class: 3·5·2
    assert json.loads(out.stdout)["metrics"]["macs"] == 3 * 5 * 2
    refused = nexus("compile", str(classic_files["pkl"]), "--bind", "batch=3")
    assert "is a pickle: loading it runs code" in _one_line_error(refused)
    trusted = nexus("compile", str(classic_files["pkl"]), "--bind", "batch=3", "--trust-pickle",
                    "--format", "json")
    assert json.loads(trusted.stdout)["metrics"] == json.loads(out.stdout)["metrics"]


def test_nexus_graph_json_and_example(tmp_path):
    path = tmp_path / "cnn.json"
    path.write_text(example_cnn().to_json())
    from_file = nexus("compile", str(path), "--bind", "batch=1", "--format", "json")
    bundled = nexus("compile", "example:cnn", "--bind", "batch=1", "--format", "json")
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == bundled.stdout


# ---------------------------------------------------------------------------- compare
def test_compare_models_table_and_one_model_on_targets_html(tmp_path):
    out = nexus("compare", "example:cnn", "example:resnet50", "--bind", "batch=1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("NEXUS comparison")
    rows = [line.split() for line in lines if line.strip().startswith("example:")]
    assert [r[:2] for r in rows] == [["example:cnn", "h100"], ["example:resnet50", "h100"]]
    assert rows[0][4] == "1"                 # × energy of the first row against itself
    page = tmp_path / "cmp.html"
    out = nexus("compare", "example:cnn", "--target", "h100", "x86-server", "a100", "--bind",
                "batch=1", "--format", "html", "-o", str(page))
    assert out.returncode == 0, out.stderr
    assert "id='compare-split'" in page.read_text()
    assert [line.split()[1] for line in out.stdout.splitlines()
            if line.strip().startswith("example:cnn")] == ["h100", "x86-server", "a100"]


def test_compare_json_holds_each_report():
    out = nexus("compare", "example:cnn", "--target", "h100", "horowitz-45nm", "--bind",
                "batch=1", "--format", "json")
    doc = json.loads(out.stdout)
    assert [r["target"]["name"] for r in doc["reports"]] == ["h100", "horowitz-45nm"]
    single = nx.compile("example:cnn", target="horowitz-45nm", bindings={"batch": 1})
    assert doc["reports"][1] == json.loads(single.to_json())


# ---------------------------------------------------------------------------- failures
@pytest.mark.parametrize("args,message", [
    (("compile", "missing.onnx"), "nexus: error: model file missing.onnx does not exist\n"),
    (("compile", "README.md"), "nexus: error: unknown model format '.md' (README.md); NEXUS "
                               "reads .onnx, .pt2, .tflite, .json (NEXUS graph, XGBoost or a transformers "
                               "decoder's config), .ubj, .txt (a LightGBM model), .skops, and .pkl/.joblib with "
                               "trust_pickle\n"),
    (("compile", "examples/transformer.py:tiny_transformer"),
     "nexus: error: TinyTransformer.forward needs an example for 'tokens': give its shape (CLI: "
     "--input-shape tokens=1x3x224x224:f32)\n"),
    (("compile", "examples/transformer.py:tiny_transformer", "--input-shape", "ids=1x8:i64"),
     "nexus: error: TinyTransformer.forward has no parameter 'ids' (its inputs: tokens)\n"),
    (("compile", "examples/cnn.py:nope"),
     "nexus: error: examples/cnn.py defines no function 'nope' (callables there: SmallCNN, "
     "small_cnn)\n"),
    (("compile", "examples/none.py:f"), "nexus: error: factory file examples/none.py does not "
                                        "exist\n"),
    (("compile", "example:cnn", "--input-shape", "image=1by3"),
     "nexus: error: --input-shape expects NAME=DIMS[:DTYPE] (e.g. image=1x3x224x224:f32), got "
     "'image=1by3'\n"),
    (("compile", "example:cnn", "--input-shape", "image=1x3x32x32:i8"),
     "nexus: error: example input 'image' is i8 but the graph declares f32[batch,3,32,32]\n"),
    (("compare", "example:cnn", "--bind", "batch=1"),
     "nexus: error: compare needs two models or more, or one model and two --target names or "
     "more\n"),
])
def test_failures_are_one_line_with_exit_2(args, message):
    assert _one_line_error(nexus(*args)) == message


def test_untraceable_module_fails_in_one_line(tmp_path):
    (tmp_path / "branchy.py").write_text(
        "import torch\n"
        "class Branchy(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x * 2 if x.sum() > 0 else x - 1\n"
        "def make():\n"
        "    return Branchy()\n")
    err = _one_line_error(nexus("compile", f"{tmp_path}/branchy.py:make", "--input-shape",
                                "x=2x2"))
    assert err.startswith("nexus: error: torch.export could not trace Branchy: ")


def test_unmodeled_op_warns_in_one_line_and_is_listed(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mystery", ["x"], ["y"], domain="acme")], "odd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    path = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                      helper.make_opsetid("acme", 1)]), path)
    out = nexus("compile", str(path))
    assert out.returncode == 0
    assert out.stderr.startswith("nexus: warning: ") and out.stderr.count("\n") == 1
    assert "unmodeled ops (not in the totals): %0 (opaque)" in out.stdout


def test_internal_errors_are_one_line_with_exit_3(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("nexus_ir.app.api.compile", broken)
    assert cli.main(["compile", "example:cnn"]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err == ("nexus: internal error: ZeroDivisionError: division by zero (rerun with "
                   "--debug for the traceback and report it)\n")
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "compile", "example:cnn"])


def test_compile_reports_progress_steps():
    steps: list[str] = []
    nx.compile(f"{EXAMPLES}/cnn.py:small_cnn", progress=steps.append)
    assert steps == [f"building the model: {EXAMPLES}/cnn.py:small_cnn",
                     "exporting with torch.export", "verifying the graph",
                     "costing 14 nodes on h100"]


def test_progress_is_shown_on_a_terminal(monkeypatch, capsys):
    from rich.console import Console

    screen = io.StringIO()
    monkeypatch.setattr(cli.common, "progress_console",
                        lambda: Console(file=screen, force_terminal=True, width=100))
    assert cli.main(["compile", "example:cnn", "--bind", "batch=1", "--format", "json"]) == 0
    assert "example:cnn on h100" in screen.getvalue() and "costing" in screen.getvalue()
    assert json.loads(capsys.readouterr().out)["model"] == "small_cnn"


# ---------------------------------------------------------------------------- diagnose/optimize
def test_diagnose_lists_findings_and_ranked_rewrites():
    out = nexus("diagnose", "examples/transformer.py:tiny_transformer", "--input-shape",
                "tokens=1x64:i64", "--top", "3")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("NEXUS diagnosis: TinyTransformer on h100")
    for section in ("hotspots (share of energy):", "what bounds each node:",
                    "expensive activations:", "ops kept at a precision the target runs cheaper:",
                    "recommended rewrites"):
        assert section in text
    paying, rest = text.split("recommended rewrites")[1].split("rewrites that apply but save less")
    # batch 1, eager h100: the host paces the model, so only launching fewer kernels saves 1 %:
    # at half precision cuBLAS runs each of its small GEMMs as one kernel, not a split-K three
    assert [line.split()[:2] for line in paying.splitlines()[1:]] == [["precision", "f16"],
                                                                      ["precision", "bf16"]]
    rows = [line.split() for line in rest.splitlines()[1:]]
    names = [" ".join(r[:2]) for r in rows]
    percent = [float(r[-1].strip("()%")) for r in rows]
    assert percent == sorted(percent, reverse=True)    # the largest predicted saving first
    assert all(p < 1.0 for p in percent)
    # ... and an unfused dequantize is an extra kernel, so quantizing weights costs energy
    assert percent[names.index("weights int8")] < 0 and percent[names.index("weights int4")] < 0


def test_diagnose_and_optimize_work_around_an_op_nexus_cannot_cost_or_run(tmp_path):
    g = nx.Graph("odd")
    x = g.add_input("x", "f32[512,1024]")
    rng = np.random.default_rng(0)
    y = g.op("linear", x, g.add_constant("fc.weight", rng.standard_normal((1024, 1024))
                                         .astype(np.float32)), source="fc")
    z = g.add_node("opaque", [y], {"target": "aten::mystery.default"}, source="odd",
                   output_types=[nx.TensorType([512, 1024], "f32")]).outputs[0]
    g.set_outputs(g.op("linear", z, g.add_constant("fc2.weight", rng.standard_normal(
        (1024, 1024)).astype(np.float32)), source="fc2"))
    model = tmp_path / "odd.json"
    model.write_text(g.to_json())
    found = nexus("diagnose", str(model))
    assert found.returncode == 0, found.stderr
    assert "unmodeled (1 node; their cost is not in these totals):\n  %1 odd" in found.stdout
    assert "  precision bf16 " in found.stdout.split("recommended rewrites")[1].split("rewrites")[0]
    auto = nexus("optimize", str(model), "-o", str(tmp_path / "o.onnx"))
    assert auto.returncode == 0, auto.stderr
    assert auto.stdout.splitlines()[0] == "no rewrite qualifies on h100; nothing written:"
    assert "precision bf16             its output deviation cannot be measured (NEXUS cannot " \
           "run the graph: no kernel for opaque)" in auto.stdout
    named = nexus("optimize", str(model), "--rewrite", "precision f16", "-o",
                  str(tmp_path / "o.json"))
    assert named.returncode == 0, named.stderr
    assert "output deviation not measured" in named.stdout and "warning: its output deviation " \
        "cannot be measured" in named.stderr
    rewritten = nx.Graph.from_json((tmp_path / "o.json").read_text())
    assert {str(c.type.dtype) for c in rewritten.constants.values()} == {"f16"}
    assert [n.outputs[0].type.dtype.name for n in rewritten if n.op == "opaque"] == ["f16"]
    onnx_out = nexus("optimize", str(model), "--rewrite", "precision f16", "-o",
                     str(tmp_path / "o.onnx"))
    assert _one_line_error(onnx_out).startswith("nexus: error: cannot export to ONNX: no ONNX form "
                                                "for opaque; -o ")


def test_optimize_writes_the_rewritten_model(tmp_path):
    import onnxruntime as ort

    path = tmp_path / "q.onnx"
    out = nexus("optimize", "example:cnn", "--bind", "batch=1", "--rewrite", "weights int8",
                "--target", "horowitz-45nm", "-o", str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("weights int8: 3 changes; predicted ")     # 2 convs + linear
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    import onnx
    assert [n.op_type for n in onnx.load(path).graph.node].count("DequantizeLinear") == 3
    result = session.run(None, {"image": np.zeros((1, 3, 32, 32), np.float32)})[0]
    assert result.shape == (1, 10)
    g = nx.Graph("plain")
    g.set_outputs(g.op("relu", g.add_input("x", "f32[4,8]")))
    (tmp_path / "plain.json").write_text(g.to_json())
    none = nexus("optimize", str(tmp_path / "plain.json"), "-o", str(tmp_path / "n.onnx"))
    assert none.stdout == f"no registered rewrite applies to {tmp_path / 'plain.json'}; nothing " \
        "written\n"
    assert not (tmp_path / "n.onnx").exists()


def test_optimize_keeps_to_the_deviation_budget_and_never_writes_a_rewrite_that_saves_nothing(
        tmp_path):
    """x86-server at batch 1 (issue 17): pruning half the channels saves 2 % and moves the
    output by ~0.7 of its range; the default budget refuses it, a named one too."""
    out = nexus("optimize", "example:cnn", "--bind", "batch=1", "--target", "x86-server",
                "-o", str(tmp_path / "p.onnx"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "no rewrite qualifies on x86-server; nothing written:"
    assert lines[1].startswith("  prune 50% channels         output deviation 0.") and \
        lines[1].endswith(" exceeds --max-deviation 0.05")
    assert not (tmp_path / "p.onnx").exists()
    loose = nexus("optimize", "example:cnn", "--bind", "batch=1", "--target", "x86-server",
                  "--max-deviation", "1", "-o", str(tmp_path / "p.onnx"))
    assert loose.stdout.startswith("prune 50% channels: 2 changes;") and (tmp_path / "p.onnx").exists()
    named = nexus("optimize", "example:cnn", "--bind", "batch=1", "--target", "x86-server",
                  "--rewrite", "prune 50% channels", "-o", str(tmp_path / "q.onnx"))
    assert _one_line_error(named).startswith("nexus: error: rewrite 'prune 50% channels' not "
                                             "written: output deviation 0.")
    costly = nexus("optimize", "example:cnn", "--bind", "batch=1", "--rewrite", "weights int8",
                   "-o", str(tmp_path / "q.onnx"))
    assert _one_line_error(costly).startswith("nexus: error: rewrite 'weights int8' not written: "
                                              "it saves -")
    assert not (tmp_path / "q.onnx").exists()
    best = nexus("optimize", "example:cnn", "--bind", "batch=1", "--target", "horowitz-45nm",
                 "-o", str(tmp_path / "f.onnx"))
    assert best.stdout.startswith("precision f16: 13 changes;")   # bf16 saves more; no ONNX Conv
    assert "passed over precision bf16 (+48.1%): cannot export to ONNX: opset 17 has no bf16 " \
           "Conv" in best.stderr


def test_optimize_within_an_accuracy_budget(tmp_path):
    """A small classifier trained on separable data: a generous budget takes the biggest
    predicted saving; a zero budget only takes rewrites that lose no accuracy."""
    import re

    import torch
    from frontends.pytorch import from_torch

    rng = np.random.default_rng(0)
    centers = rng.standard_normal((4, 8)) * 3
    labels = rng.integers(0, 4, 256)
    points = (centers[labels] + rng.standard_normal((256, 8))).astype(np.float32)
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.GELU(), torch.nn.Linear(64, 64),
                              torch.nn.GELU(), torch.nn.Linear(64, 4))
    optimizer = torch.optim.Adam(mlp.parameters(), lr=0.01)
    for _ in range(150):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(mlp(torch.from_numpy(points)),
                                                 torch.from_numpy(labels))
        loss.backward()
        optimizer.step()
    graph = from_torch(mlp.eval(), (torch.from_numpy(points),))
    (tmp_path / "mlp.json").write_text(graph.to_json())
    np.savez(tmp_path / "eval.npz", **{graph.inputs[0].name: points}, labels=labels)
    model, data = str(tmp_path / "mlp.json"), str(tmp_path / "eval.npz")

    def delta(out):
        found = re.search(r"original ([\d.]+)% \(delta ([+-][\d.]+)%\)", out.stdout)
        return float(found[1]), float(found[2])

    loose = nexus("optimize", model, "--eval", data, "--max-accuracy-drop", "1.0",
                  "--max-deviation", "1", "--target", "horowitz-45nm",
                  "-o", str(tmp_path / "loose.onnx"))
    assert loose.returncode == 0, loose.stderr
    original, _ = delta(loose)
    assert original > 90.0
    strict = nexus("optimize", model, "--eval", data, "--max-accuracy-drop", "0",
                   "--target", "horowitz-45nm", "-o", str(tmp_path / "strict.onnx"))
    assert strict.returncode == 0, strict.stderr
    if "nothing written" not in strict.stdout:
        assert delta(strict)[1] >= 0.0
    missing = nexus("optimize", model, "--max-accuracy-drop", "0.01",
                    "-o", str(tmp_path / "x.onnx"))
    assert _one_line_error(missing) == ("nexus: error: --max-accuracy-drop needs --eval DATA.npz "
                                        "(the model's inputs by name and their 'labels')\n")
    np.savez(tmp_path / "bad.npz", pixels=points)
    bad = nexus("optimize", model, "--eval", str(tmp_path / "bad.npz"),
                "-o", str(tmp_path / "x.onnx"))
    assert _one_line_error(bad) == (f"nexus: error: {tmp_path / 'bad.npz'} lacks "
                                    f"{graph.inputs[0].name}, labels (it holds pixels); save "
                                    "inputs by graph input name and 'labels'\n")


PLUGIN = '''
from passes import Candidate, RewriteRule, op, register_rewrite, rewrite, var

rule = RewriteRule("gelu->silu", op("gelu", var("x")), replace=lambda m: m.build("silu", m["x"]))


def swap(graph):
    out = graph.clone()
    return out, rewrite(out, [rule])["gelu->silu"]


@register_rewrite("test-gelu-to-silu")
def offer(graph, ctx):
    if any(n.op == "gelu" for n in graph):
        yield Candidate("swap gelu->silu", swap)
'''


def test_a_users_rewrite_loaded_with_load_is_offered_and_applied(tmp_path):
    g = nx.Graph("block")
    g.set_outputs(g.op("gelu", g.add_input("x", "f32[2,16]"), source="act"))
    (tmp_path / "block.json").write_text(g.to_json())
    (tmp_path / "plugin.py").write_text(PLUGIN)
    plugin = str(tmp_path / "plugin.py")
    shown = nexus("--load", plugin, "diagnose", str(tmp_path / "block.json"))
    assert shown.returncode == 0, shown.stderr
    assert "swap gelu->silu" in shown.stdout and "swap gelu->relu" in shown.stdout
    done = nexus("--load", plugin, "optimize", str(tmp_path / "block.json"), "--rewrite",
                 "swap gelu->silu", "--target", "horowitz-45nm", "--max-deviation", "0.2",
                 "-o", str(tmp_path / "out.onnx"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("swap gelu->silu: 1 changes")
    import onnx
    ops = [n.op_type for n in onnx.load(str(tmp_path / "out.onnx")).graph.node]
    assert "Gelu" not in ops and ops[-1] == "Mul"          # silu = x·sigmoid(x)
    missing = nexus("--load", "nope.py", "targets")
    assert missing.returncode == 2 and missing.stderr == "nexus: error: --load nope.py: no such file\n"


def test_bind_batch_re_exports_a_pytorch_model_at_that_batch():
    """The CNN's MACs are per image: batch 64 is 64× batch 1, and the report's binding is the
    one applied."""
    model, (x,) = load_factory(f"{EXAMPLES}/cnn.py:small_cnn")
    one = nx.compile(model, (x,), target="h200").metrics["macs"]
    report = nx.compile(model, (x,), target="h200", bindings={"batch": 64})
    assert report.metrics["macs"] == 64 * one and report.bindings == {"batch": 64}
    with pytest.raises(nx.NexusError, match=r"binding bogus=7 not applied: graph @SmallCNN has "
                                            r"no symbol 'bogus'"):
        nx.compile(model, (x,), target="h200", bindings={"bogus": 7})


def test_example_inputs_dtype_and_training_mode_follow_what_users_pass():
    """A bare tensor is one input; a training-mode module is costed in eval mode with one
    warning and handed back in training mode; dtype="bf16" costs a bf16 copy (the caller's
    module stays fp32); other models are not cast."""
    import torch

    model, (x,) = load_factory(f"{EXAMPLES}/cnn.py:small_cnn")
    plain = nx.compile(model, x, target="h200")
    assert plain.metrics["macs"] == nx.compile(model, (x,), target="h200").metrics["macs"]
    model.train()
    with pytest.warns(UserWarning, match="SmallCNN is in training mode: costed in eval mode"):
        trained = nx.compile(model, (x,), target="h200")
    assert model.training and trained.metrics["energy_j"] == plain.metrics["energy_j"]
    model.eval()
    half = nx.compile(model, (x,), target="h200", dtype="bf16")
    assert {n.dtype for n in half.nodes if n.op == "conv"} == {"bf16"}
    assert next(model.parameters()).dtype == torch.float32
    with pytest.raises(nx.NexusError, match="dtype 'bf16': only a PyTorch module is cast"):
        nx.compile("example:cnn", bindings={"batch": 1}, dtype="bf16")
