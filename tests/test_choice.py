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
            "unmodeled": [], "fits": True, "memory_needed": {"hbm": 10}}
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


# ---------------------------------------------------------------------- sweeps
SPEC = f"""
models = ["example:cnn", "{ROOT}/examples/cnn.py:small_cnn", "{ROOT}/examples/xgboost_model.json"]
targets = ["h100", "l4", "x86-server"]
execution = ["eager", "cuda-graph"]
[bind]
batch = [1, 4]
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    from nexus_ir.app.sweep import read_spec
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "spec.toml").write_text(SPEC)
    return read_spec(folder / "spec.toml")


def test_a_sweep_is_the_cross_product_keyed_by_content(spec, tmp_path):
    from nexus_ir.app.sweep import points
    every = points(spec)
    assert len(every) == 3 * 2 * 3 * 2                 # models x batch x targets x modes
    assert len({p.key for p in every}) == len(every)
    target = tmp_path / "mine.toml"
    target.write_text((ROOT / "src/lowering/targets/l4.toml").read_text())
    from dataclasses import replace
    moved = points(replace(spec, targets=(str(target),)))
    before = {p.key for p in points(replace(spec, targets=(str(target),)))}
    target.write_text(target.read_text().replace("static_power_w = { value = 16.0",
                                                 "static_power_w = { value = 17.0"))
    after = {p.key for p in points(replace(spec, targets=(str(target),)))}
    assert before == {p.key for p in moved} and not before & after   # an edit re-keys


def test_local_pool_and_a_dask_cluster_give_one_table_and_the_cache_answers(spec, tmp_path):
    distributed = pytest.importorskip("distributed", reason="needs the sweep extra")
    from nexus_ir.app.sweep import dask_engine, local_engine, sweep

    pooled = sweep(spec, local_engine(2), tmp_path / "pool-cache")
    assert (pooled.computed, pooled.cached) == (36, 0)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        clustered = sweep(spec, dask_engine(cluster.scheduler_address), tmp_path / "dask-cache")
    assert clustered.rows == pooled.rows
    again = sweep(spec, local_engine(2), tmp_path / "pool-cache")
    assert (again.computed, again.cached) == (0, 36) and again.rows == pooled.rows
    by = {(r["model"].rsplit("/", 1)[-1], r["batch"], r["target"], r["execution"]): r
          for r in pooled.rows}
    # a point is what compile gives for it
    direct = nx.compile("example:cnn", target="l4", bindings={"batch": 4},
                        execution="cuda-graph").metrics
    assert by["example:cnn", 4, "l4", "cuda-graph"]["energy_j"] == direct["energy_j"]
    # the PyTorch factory is exported again at batch 4: four times the MACs of batch 1
    assert by["cnn.py:small_cnn", 4, "h100", "eager"]["macs"] == \
        4 * by["cnn.py:small_cnn", 1, "h100", "eager"]["macs"]
    # replay is no CPU mode: the point says why it has no figures
    cpu = by["xgboost_model.json", 1, "x86-server", "cuda-graph"]
    assert cpu["energy_j"] is None and cpu["status"].startswith(
        "not costed: execution 'cuda-graph' is not modeled on target x86-server")


def test_ray_runs_the_same_sweep(spec, tmp_path):
    pytest.importorskip("ray", reason="needs the ray extra")
    from dataclasses import replace

    from nexus_ir.app.sweep import local_engine, ray_engine, sweep
    small = replace(spec, models=spec.models[:1], targets=spec.targets[:2])
    assert sweep(small, ray_engine("local"), None).rows == \
        sweep(small, local_engine(1), None).rows


def test_the_sweep_command_writes_csv_parquet_and_html(tmp_path):
    pytest.importorskip("pyarrow", reason="needs the sweep extra")
    import csv

    import pyarrow.parquet as pq
    (tmp_path / "spec.toml").write_text('models = ["example:cnn"]\ntargets = ["h100", "l4"]\n'
                                        'rewrites = ["none", "precision bf16", "prune 90%"]\n'
                                        'grid = "FR"\n[bind]\nbatch = [2]\n')
    out = nexus("sweep", "spec.toml", "-o", "t.csv", "--html", "o.html", "--jobs", "1",
                cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "6 points: 6 computed, 0 from the cache" in out.stderr
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert list(rows[0])[:6] == ["model", "batch", "target", "execution", "rewrite", "status"]
    assert [r["status"] for r in rows if r["rewrite"] == "prune 90%"] == \
        ["rewrite does not apply"] * 2
    assert float(rows[0]["energy_j"]) == nx.compile(
        "example:cnn", target="h100", bindings={"batch": 2}).metrics["energy_j"]
    assert float(rows[0]["co2e_g"]) > 0
    again = nexus("sweep", "spec.toml", "-o", "t.parquet", cwd=tmp_path)
    assert "6 points: 0 computed, 6 from the cache" in again.stderr
    table = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert [r["energy_j"] for r in table] == [float(r["energy_j"]) if r["energy_j"] else None
                                             for r in rows]
    page = (tmp_path / "o.html").read_text()
    assert "NEXUS sweep spec.toml" in page and "precision bf16" in page


@pytest.mark.parametrize("text, message", [
    ('targets = ["h100"]', "spec.toml: give models = \\[...\\] and targets = \\[...\\]"),
    ('models = ["example:cnn"]\ntargets = ["h100"]\nspeed = 1',
     "spec.toml: unknown key 'speed' \\(allowed: models, targets"),
    ('models = ["example:cnn"]\ntargets = ["h100"]\nexecution = ["warp"]',
     "spec.toml: execution 'warp': one of eager, cuda-graph, fused"),
    ('models = ["example:cnn"]\ntargets = ["h100"]\n[bind]\nbatch = [0]',
     "spec.toml: bind.batch: sizes of 1 or more"),
    ('models = "example:cnn"\ntargets = []', "spec.toml: 'targets' must be a list of strings"),
    ('models = ["nowhere.onnx"]\ntargets = ["h100"]', "sweep: model file .*nowhere.onnx does not "
                                                       "exist"),
    ('models = [', "spec.toml: not valid TOML"),
])
def test_bad_specs_are_one_line(tmp_path, text, message):
    import re
    (tmp_path / "spec.toml").write_text(text)
    out = nexus("sweep", "spec.toml", cwd=tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert re.search(message, out.stderr), out.stderr


# ---------------------------------------------------------------------- model choice
NETS = '''
import torch
from torch import nn


def wide():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 3)).eval(), (torch.randn(4, 8),)


def narrow():
    torch.manual_seed(1)
    return nn.Linear(8, 3).eval(), (torch.randn(4, 8),)
'''


def test_select_measures_accuracy_on_eval_data_and_draws_the_front(tmp_path):
    import numpy as np
    import torch
    (tmp_path / "nets.py").write_text(NETS)
    namespace: dict = {}
    exec(NETS, namespace)
    wide, narrow = namespace["wide"]()[0], namespace["narrow"]()[0]
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(3))
    labels = wide(x).argmax(1).numpy()                 # the wide net is right by construction
    expected_narrow = float((narrow(x).argmax(1).numpy() == labels).mean())
    np.savez(tmp_path / "eval.npz", input=x.numpy(), labels=labels)
    out = nexus("select", "nets.py:wide", "nets.py:narrow", "--eval", "eval.npz", "--bind",
                "batch=64", "--target", "l4", "-o", "s.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    chosen = {c["name"]: c for c in json.loads((tmp_path / "s.json").read_text())}
    assert chosen["nets.py:wide"]["accuracy"] == 1.0
    assert chosen["nets.py:narrow"]["accuracy"] == pytest.approx(expected_narrow)
    # the narrow net costs less: both are on the front
    assert chosen["nets.py:narrow"]["cost"] < chosen["nets.py:wide"]["cost"]
    assert all(c["on_front"] for c in chosen.values())
    page = nexus("select", "nets.py:wide", "nets.py:narrow", "--eval", "eval.npz", "--bind",
                 "batch=64", "--target", "l4", "-o", "s.html", cwd=tmp_path)
    assert page.returncode == 0, page.stderr
    html = (tmp_path / "s.html").read_text()
    assert "Accuracy against energy on l4" in html and "Pareto front" in html
    both = nexus("select", "nets.py:wide", "--eval", "eval.npz", "--accuracy", "0.5",
                 cwd=tmp_path)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    missing = nexus("select", "nets.py:wide", "--eval", "other.npz", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith(
        "nexus: error: cannot read evaluation data other.npz")


def test_select_with_eval_data_exports_each_model_once(tmp_path, monkeypatch):
    """The graph that is costed is the one run for accuracy: one torch.export per model."""
    import numpy as np
    import torch

    import importlib

    from nexus_ir.app.cli import main
    export_module = importlib.import_module("frontends.pytorch.export")
    (tmp_path / "nets.py").write_text(NETS)
    np.savez(tmp_path / "eval.npz", input=torch.randn(4, 8).numpy(), labels=np.zeros(4))
    calls = []
    real = export_module.export
    monkeypatch.setattr(export_module, "export", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.chdir(tmp_path)
    assert main(["select", "nets.py:wide", "nets.py:narrow", "--eval", "eval.npz", "--bind",
                 "batch=4", "--target", "l4", "-o", "s.json"]) == 0
    assert len(calls) == 2


def test_an_already_prepared_model_takes_nothing_more():
    from nexus_ir.app.api import prepare
    ready = prepare("example:cnn", bindings={"batch": 1})
    assert prepare(ready) is ready
    with pytest.raises(nx.NexusError, match="already prepared"):
        prepare(ready, bindings={"batch": 2})


def test_a_sweep_finds_and_applies_each_rewrite_once_per_target(tmp_path, monkeypatch):
    """Rewrite candidates depend on the graph and the target, not the execution mode: three
    modes × two rewrites on one target search the candidates once and apply each rewrite once;
    the rewritten point equals compiling the rewritten graph."""
    import passes.rewrites.registry as registry
    from nexus_ir.app.sweep import ModelTask, cost_model, points, read_spec
    (tmp_path / "spec.toml").write_text(
        'models = ["example:cnn"]\ntargets = ["h100"]\nexecution = ["eager", "cuda-graph", '
        '"fused"]\nrewrites = ["none", "precision bf16"]\n[bind]\nbatch = [2]\n')
    spec = read_spec(tmp_path / "spec.toml")
    searches = []
    real = registry.candidates
    monkeypatch.setattr(registry, "candidates",
                        lambda *a, **k: searches.append(1) or real(*a, **k))
    rows = cost_model(ModelTask("example:cnn", tuple(points(spec)), "default", None, 1.0))
    assert len(rows) == 6 and len(searches) == 1
    graph = nx.example_graph("cnn").bind_symbols({"batch": 2})
    from lowering.target import load_target
    bf16 = real(graph, registry.RewriteContext(target=load_target("h100")))["precision bf16"]
    want = nx.compile(bf16.apply(graph)[0], target="h100", execution="fused").metrics
    got = next(r for r in rows if r["rewrite"] == "precision bf16" and r["execution"] == "fused")
    assert got["energy_j"] == want["energy_j"]


def test_compare_says_which_targets_the_model_does_not_fit(tmp_path):
    """A 'fits' column joins when some row does not fit (ResNet-50 on a microcontroller); the
    JSON rows carry fits and the bytes each memory must hold."""
    out = nexus("compare", "example:resnet50", "--bind", "batch=1", "--target", "h100",
                "stm32h7a3", "-o", str(tmp_path / "c.json"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(" fits " in line for line in lines)
    assert " NO " in next(line for line in lines if "stm32h7a3" in line)
    assert " NO " not in next(line for line in lines if "  h100  " in line)
    rows = json.loads((tmp_path / "c.json").read_text())["comparison"]
    assert [r["fits"] for r in rows] == [True, False]
    assert rows[1]["memory_needed"]["flash"] > 100e6
