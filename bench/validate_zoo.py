"""Validation zoo: 19 models built in code × batch 1/16/128 × fp32/bf16, energy per inference
measured with NVML on the GPU, eager and replayed from a CUDA graph, against (a) FLOPs × one
fitted constant, (b) NEXUS's shipped target, nothing fitted, and (c) NEXUS calibrated
(``runtime.calibrate``); (a) and (c) cross-validated leave-one-model-out.

    PYTHONPATH=src:bench:examples python3 bench/validate_zoo.py measure f32 OUT  # GPU, per dtype
    PYTHONPATH=src:bench:examples python3 bench/validate_zoo.py profile f32 OUT  # GPU: kernels only
    PYTHONPATH=src:bench:examples python3 bench/validate_zoo.py analyze docs/data/zoo_h200_*.json
    PYTHONPATH=src:bench:examples python3 bench/validate_zoo.py ncu [--target=h100] docs/data/zoo_ncu_*_b1.json
    PYTHONPATH=src:bench:examples python3 bench/validate_zoo.py attention docs/data/*_h200_*.json
    PYTHONPATH=src:bench:examples python3 bench/validate_zoo.py host-fit docs/data/zoo_h200_*.json

``measure --suite=independent`` (and ``bench/zoo_ncu.py … independent``) runs the models of
``bench/independent_models.py`` instead: transformers architectures no number of NEXUS was
fitted on, the check of what the zoo taught it; ``analyze`` and ``ncu`` read either suite's
files.

``measure`` runs each configuration (3 warm-up calls, 2 windows of ≥ 1 s, NVML total-energy
counter) after one profiled eager call (kernels and kernel time per aten op) and writes
zoo_h200_DTYPE.json; ``analyze`` predicts every configuration on the CPU and prints the tables of
docs/validation.md.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))
import torch_models as tm  # noqa: E402

BATCHES = (1, 16, 128)


class VGGish(nn.Module):
    """Plain 3x3 conv stacks (64-128-256-512), VGG-style, over 112x112 images."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for width in (64, 128, 256, 512):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3,
                                                                            padding=1),
                       nn.ReLU(), nn.MaxPool2d(2)]
            c = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(512, 1000)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


class ResNetMini(nn.Module):
    """A stem and six ResNet bottlenecks over 112x112 images."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU())
        self.blocks = nn.Sequential(tm.Bottleneck(64, 64, 1), tm.Bottleneck(256, 64, 1),
                                    tm.Bottleneck(256, 128, 2), tm.Bottleneck(512, 128, 1),
                                    tm.Bottleneck(512, 256, 2), tm.Bottleneck(1024, 256, 1))
        self.head = nn.Linear(1024, 1000)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class MLP(nn.Module):
    def __init__(self, width: int, depth: int, inputs: int = 784) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(inputs if i == 0 else width, width), nn.GELU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.body(x))


class TreeGEMM(nn.Module):
    """A random forest in the GEMM form Hummingbird compiles trees to: features against every
    split (x·A < B), paths (·C == D), leaf values (·E), averaged over trees."""

    def __init__(self, trees: int = 100, depth: int = 8, features: int = 64) -> None:
        super().__init__()
        from sklearn.ensemble import RandomForestRegressor

        rng = np.random.default_rng(0)
        x = rng.standard_normal((2000, features)).astype(np.float32)
        forest = RandomForestRegressor(trees, max_depth=depth, random_state=0).fit(
            x, x[:, 0] * x[:, 1] + x[:, 2])
        per_tree = [self._matrices(t.tree_, features) for t in forest.estimators_]
        inner = max(a.shape[1] for a, *_ in per_tree)
        leaves = max(c.shape[1] for _, _, c, _, _ in per_tree)
        pad = lambda m, r, c: np.pad(m, ((0, r - m.shape[0]), (0, c - m.shape[1])))  # noqa
        self.register_buffer("A", torch.tensor(np.stack([pad(a, features, inner)
                                                         for a, *_ in per_tree])))
        self.register_buffer("B", torch.tensor(np.stack([np.pad(b, (0, inner - len(b)),
                                                                constant_values=np.inf)
                                                         for _, b, *_ in per_tree])[:, None]))
        self.register_buffer("C", torch.tensor(np.stack([pad(c, inner, leaves)
                                                         for _, _, c, _, _ in per_tree])))
        self.register_buffer("D", torch.tensor(np.stack([np.pad(d, (0, leaves - len(d)),
                                                                constant_values=-1)
                                                         for *_, d, _ in per_tree])[:, None]))
        self.register_buffer("E", torch.tensor(np.stack([np.pad(e, (0, leaves - len(e)))
                                                         for *_, e in per_tree])[:, :, None]))

    @staticmethod
    def _matrices(tree: Any, features: int) -> tuple[np.ndarray, ...]:
        inner = [i for i in range(tree.node_count) if tree.children_left[i] >= 0]
        leaves = [i for i in range(tree.node_count) if tree.children_left[i] < 0]
        index = {n: k for k, n in enumerate(inner)}
        a = np.zeros((features, len(inner)), np.float32)
        b = np.array([tree.threshold[n] for n in inner], np.float32)
        c = np.zeros((len(inner), len(leaves)), np.float32)
        d = np.zeros(len(leaves), np.float32)
        for k, n in enumerate(inner):
            a[tree.feature[n], k] = 1
        parent = {}
        for n in inner:
            parent[tree.children_left[n]] = (n, True)
            parent[tree.children_right[n]] = (n, False)
        for j, leaf in enumerate(leaves):
            node = leaf
            while node in parent:
                p, left = parent[node]
                c[index[p], j] = 1 if left else -1
                d[j] += 1 if left else 0
                node = p
        e = np.array([tree.value[n][0][0] for n in leaves], np.float32)
        return a, b, c, d, e

    def forward(self, x):
        decisions = (torch.matmul(x, self.A) <= self.B).to(x.dtype)
        hits = (torch.matmul(decisions, self.C) == self.D).to(x.dtype)
        return torch.matmul(hits, self.E).mean(dim=0)


def zoo() -> dict[str, tuple[Callable[[], nn.Module], Callable[[int], tuple]]]:
    """Name → (builder, inputs for a batch)."""
    from cnn import SmallCNN
    from transformer import TinyTransformer
    from zoo_models import ZOO_MODELS

    image = lambda size: (lambda b: (torch.randn(b, 3, size, size),))  # noqa: E731
    tokens = lambda seq, vocab: (lambda b: (torch.randint(0, vocab, (b, seq)),))  # noqa: E731
    kinds = {"image224": image(224), "tokens128": tokens(128, 30522),
             "sequence64": lambda b: (torch.randn(b, 64, 256),)}
    return {
        "small-cnn": (SmallCNN, image(32)),
        "resnet50": (tm.resnet50, image(224)),
        "mobilenet-v2": (tm.mobilenet_v2, image(224)),
        "vgg-ish": (VGGish, image(112)),
        "resnet-mini": (ResNetMini, image(112)),
        "vit-b16": (tm.vit_b16, image(224)),
        "vit-small": (lambda: tm.ViT(d=384, depth=6, heads=6), image(224)),
        "gpt-small": (lambda: tm.DecoderLM(layers=6, d=512, ffn=1536, heads=8, kv_heads=4,
                                           vocab=8000), tokens(128, 8000)),
        "tiny-transformer": (TinyTransformer, tokens(64, 1000)),
        "mlp-small": (lambda: MLP(256, 3), lambda b: (torch.randn(b, 784),)),
        "mlp-large": (lambda: MLP(4096, 4), lambda b: (torch.randn(b, 784),)),
        "tree-gemm": (TreeGEMM, lambda b: (torch.randn(b, 64),)),
        **{name: (build, kinds[kind]) for name, (build, kind) in ZOO_MODELS.items()},
    }


def suite_models(suite: str) -> dict[str, tuple[Callable[[], nn.Module], Callable[[int], Any]]]:
    """The models of a suite: ``zoo`` (written here, what targets are checked on) or
    ``independent`` (transformers architectures, ``bench/independent_models.py``)."""
    if suite == "independent":
        from independent_models import independent
        return independent()
    if suite != "zoo":
        raise SystemExit(f"unknown suite {suite!r}: zoo or independent")
    return zoo()


def measure_all(dtype: str, out_dir: str, only: list[str], energy_windows: bool = True,
                suite: str = "zoo") -> None:
    """Measure every model of ``suite`` × batch at ``dtype`` on the GPU, eager and replayed
    from a CUDA graph, with the kernels of one eager call per aten op (calls, kernels, kernel
    µs); rows written after every model. Without ``energy_windows`` only the kernel profile is
    taken (``profile``: SUITE_profile_h200_DTYPE.json)."""
    import gpu_probe as gp
    from runtime.execute import cuda_graph, prepare_torch

    energy = gp.Energy()
    torch.zeros(1, device="cuda")
    doc = {"device": torch.cuda.get_device_name(), "idle_w": gp.idle_watts(energy, 3.0),
           "dtype": dtype, "torch": torch.__version__, "rows": []}
    for name, (build, inputs_for) in suite_models(suite).items():
        if only and name not in only:
            continue
        try:
            torch.manual_seed(0)
            model = build().eval()
        except ImportError as err:               # tree-gemm needs scikit-learn
            print(f"{name}: skipped ({err})", flush=True)
            continue
        for batch in BATCHES:
            torch.manual_seed(batch)
            module, inputs = prepare_torch(model, inputs_for(batch), "cuda", dtype)
            call = lambda: module(*inputs)  # noqa: E731
            row: dict[str, Any] = {"model": name, "batch": batch, "dtype": dtype}
            with torch.no_grad():
                profile = gp.kernel_profile(call)
                row["kernels"], row["kernels_by_op"] = profile["kernels"], profile["by_op"]
                for execution in ("eager", "cuda-graph") if energy_windows else ():
                    try:
                        fn = call if execution == "eager" else cuda_graph(call)
                        for _ in range(3):
                            fn()
                        windows = [gp.window(energy, fn, 1.0) for _ in range(2)]
                    except RuntimeError as err:
                        row[execution] = {"error": str(err).splitlines()[0][:200]}
                        continue
                    joules = [w["j_per_call"] for w in windows]
                    row[execution] = {
                        "energy_j": statistics.mean(joules),
                        "cv": statistics.pstdev(joules) / statistics.mean(joules),
                        "seconds_per_call": statistics.mean(w["s_per_call"] for w in windows),
                        "watts": statistics.mean(w["watts"] for w in windows)}
                    del fn
            doc["rows"].append(row)
            e, g = row.get("eager", {}), row.get("cuda-graph", {})
            print(f"{name:<18}{batch:>4} {dtype:<5} kernels {row['kernels']:>5}  eager "
                  f"{e.get('energy_j', float('nan')):.4g} J {e.get('seconds_per_call', 0) * 1e3:.3g} ms"
                  f"  graph {g.get('energy_j', float('nan')):.4g} J "
                  f"{g.get('seconds_per_call', 0) * 1e3:.3g} ms", flush=True)
            del module, inputs, call
            torch.cuda.empty_cache()
        del model
        kind = "h200" if energy_windows else "profile_h200"
        Path(out_dir, f"{suite}_{kind}_{dtype}.json").write_text(json.dumps(doc))


def _prepared(name: str, batch: int, dtype: str) -> Any:
    """The model ``name`` of either suite at ``batch`` and ``dtype``, exported and prepared on
    the CPU."""
    from nexus_ir.app.api import prepare
    from runtime.execute import prepare_torch

    build, inputs_for = {**zoo(), **suite_models("independent")}[name]
    torch.manual_seed(0)
    module, inputs = prepare_torch(build().eval(), inputs_for(batch), "cpu", dtype)
    return prepare(module, tuple(inputs))


def predict(paths: list[str], target: str = "h200") -> list[dict[str, Any]]:
    """Every measured configuration (model × batch × dtype × execution) with the NEXUS report
    of the shipped ``target`` in that execution mode (exported on the CPU here), as the rows
    calibration reads: ``energy_j`` measured, ``report`` the prediction's metrics and target."""
    from passes.cost import cost_graph

    rows = []
    for path in paths:
        doc = json.loads(Path(path).read_text())
        for row in doc["rows"]:
            ready = _prepared(row["model"], row["batch"], row["dtype"])
            for execution in ("eager", "cuda-graph"):
                # the H100 zoo of issue 7 (docs/data/zoo_f32.json) has eager rows only
                measured = row.get(execution, row if execution == "eager" else {})
                if "energy_j" not in measured:
                    continue
                report = cost_graph(ready.graph, target, bindings=ready.bindings,
                                    value_stats=ready.value_stats, execution=execution)
                rows.append({"model": row["model"], "batch": row["batch"],
                             "dtype": row["dtype"], "execution": execution,
                             "energy_j": measured["energy_j"],
                             "seconds_per_call": measured["seconds_per_call"],
                             "kernels_measured": row.get("kernels"),
                             "report": {"metrics": report.metrics,
                                        "target": report.to_dict()["target"]}})
    return rows


def analyze(paths: list[str], target: str = "h200") -> None:
    """The table of docs/validation.md: per subset, Spearman and median absolute error of
    FLOPs × one constant (fitted leave-one-model-out), NEXUS shipped (nothing fitted) and NEXUS
    calibrated (``runtime.calibrate``, leave-one-model-out)."""
    from scipy.stats import spearmanr

    from runtime.calibrate import fit

    rows = predict(paths, target)
    models = sorted({r["model"] for r in rows})
    flops_pred, calibrated = {}, {}
    for held in models:
        train = [r for r in rows if r["model"] != held]
        ratio = np.array([r["report"]["metrics"]["flops"] / r["energy_j"] for r in train])
        k = float(ratio.sum() / (ratio @ ratio))      # least relative squares
        fitted = fit(train)
        for i, r in enumerate(rows):
            if r["model"] == held:
                flops_pred[i] = k * r["report"]["metrics"]["flops"]
                calibrated[i] = fitted.predict(r["report"])
    shipped = {i: r["report"]["metrics"]["energy_j"] for i, r in enumerate(rows)}
    print(f"{len(rows)} measurements of {len(models)} models; target {target}; "
          "FLOPs×k and calibrated: leave-one-model-out")
    print("| subset | n | Spearman FLOPs×k | Spearman shipped | Spearman calibrated | "
          "MdAPE FLOPs×k | MdAPE shipped | MdAPE calibrated |")
    print("|---|---|---|---|---|---|---|---|")
    subsets = [("all", lambda r: True)] + \
        [(f"batch {b}", lambda r, b=b: r["batch"] == b) for b in BATCHES] + \
        [(dt, lambda r, dt=dt: r["dtype"] == dt) for dt in sorted({r["dtype"] for r in rows})] + \
        [(ex, lambda r, ex=ex: r["execution"] == ex) for ex in ("eager", "cuda-graph")] + \
        [(f"{ex}, batch 1", lambda r, ex=ex: r["execution"] == ex and r["batch"] == 1)
         for ex in ("eager", "cuda-graph")]
    for label, keep in subsets:
        idx = [i for i, r in enumerate(rows) if keep(r)]
        if len(idx) < 3:
            continue
        measured = [rows[i]["energy_j"] for i in idx]
        cells = []
        for preds in (flops_pred, shipped, calibrated):
            cells.append(f"{spearmanr([preds[i] for i in idx], measured)[0]:.3f}")
        for preds in (flops_pred, shipped, calibrated):
            errors = [abs(preds[i] - m) / m for i, m in zip(idx, measured)]
            cells.append(f"{statistics.median(errors):.1%}")
        print(f"| {label} | {len(idx)} | " + " | ".join(cells) + " |")
    print("\nper model, shipped target (median |error| over its configurations):")
    for model in models:
        errors = [(shipped[i] - r["energy_j"]) / r["energy_j"] for i, r in enumerate(rows)
                  if r["model"] == model]
        print(f"  {model:<18} {statistics.median(abs(e) for e in errors):6.1%}  "
              f"(signed median {statistics.median(errors):+.1%})")
    profiled = [abs(r["report"]["metrics"]["kernels"] / r["kernels_measured"] - 1) for r in rows
                if r["execution"] == "eager" and r["kernels_measured"]]
    if profiled:
        print("\nkernels per eager inference, NEXUS vs the PyTorch profiler (median |error| "
              f"{statistics.median(profiled):.1%} over {len(profiled)} configurations)")
    fitted = fit(rows)
    print("calibrated on all: " + ", ".join(f"{k} ×{v:.3g}" for k, v in
                                           fitted.multipliers.items()) +
          f" (determined: {', '.join(fitted.determined)})")


def ncu_compare(paths: list[str], target: str = "h200") -> None:
    """Per model, Nsight Compute's steady-state kernels and DRAM bytes (``bench/zoo_ncu.py``
    files) beside NEXUS's eager prediction of the same configuration. DRAM errors are relative
    to the larger of the measured bytes and 1 % of the model's weights (a model that stays in L2
    reads almost nothing from DRAM; its bytes are then noise). Then, per dtype, the fit of the
    target's ``matrix_writeback``: over the models whose weights mostly stream (more than half
    not kept), the median of the DRAM bytes written over their matrix ops' intermediate outputs
    times the share streamed. Each row also gives the most its DRAM error could move the
    predicted energy (``dram_energy_effect``), and the summary the largest such move among the
    models outside 25 %."""
    from lowering.target import load_target
    from passes.cost import cost_graph

    loaded = load_target(target)
    print("| dtype | model | ncu kernels | NEXUS | error | ncu DRAM MB | NEXUS MB | error | "
          "energy moved |")
    print("|---|---|---|---|---|---|---|---|---|")
    kernel_errors, dram_errors, missed = [], [], []
    writeback: dict[str, list[float]] = {}
    for path in paths:
        doc = json.loads(Path(path).read_text())
        for entry in doc["models"]:
            ready = _prepared(entry["model"], doc["batch"], doc["dtype"])
            m = cost_graph(ready.graph, target, bindings=ready.bindings,
                           value_stats=ready.value_stats, execution="eager").metrics
            streamed = 1.0 - m["weights_on_chip"]
            outputs = sum(o.type.nbytes for node in ready.graph if node.traits.matrix
                          for o in node.outputs if o not in ready.graph.outputs)
            if streamed > 0.5 and outputs:
                writeback.setdefault(doc["dtype"], []).append(
                    entry["dram_write_bytes"] / (outputs * streamed))
            dram = entry["dram_read_bytes"] + entry["dram_write_bytes"]
            kernel_error = m["kernels"] / entry["kernels"] - 1
            dram_error = (m["off_chip_bytes"] - dram) / max(dram, 0.01 * m["model_bytes"])
            moved = dram_energy_effect(dram - m["off_chip_bytes"], m["energy_j"], loaded)
            kernel_errors.append(abs(kernel_error))
            dram_errors.append(abs(dram_error))
            if abs(dram_error) > 0.25:
                missed.append((abs(moved), f"{doc['dtype']} {entry['model']}"))
            print(f"| {doc['dtype']} | {entry['model']} | {entry['kernels']} | {m['kernels']} | "
                  f"{kernel_error:+.0%} | {dram / 1e6:.2f} | {m['off_chip_bytes'] / 1e6:.2f} | "
                  f"{dram_error:+.0%} | {moved:+.3%} |")
    n = len(kernel_errors)
    for dtype, ratios in sorted(writeback.items()):
        print(f"\nmatrix_writeback fit, {dtype}: DRAM bytes written / (matrix ops' outputs x "
              f"share of weights streamed), median {statistics.median(ratios):.3f} over "
              f"{len(ratios)} models whose weights stream ({min(ratios):.2f}-{max(ratios):.2f})")
    print(f"\nkernels within 10 %: {sum(e <= 0.10 for e in kernel_errors)} of {n} (median |error| "
          f"{statistics.median(kernel_errors):.1%}); DRAM within 25 %: "
          f"{sum(e <= 0.25 for e in dram_errors)} of {n} (median |error| "
          f"{statistics.median(dram_errors):.1%})")
    if missed:
        largest, name = max(missed)
        print(f"DRAM outside 25 %: the bytes missed would move the predicted energy per inference "
              f"by at most {largest:.3%} ({name}; dram_energy_effect)")


def dram_energy_effect(missed_bytes: float, energy_j: float, target: Any) -> float:
    """The most that ``missed_bytes`` of DRAM traffic (measured − predicted, signed) can move a
    predicted energy per inference, as a share of it: their off-chip energy (the on-chip pass
    is costed either way), plus the time they take at the off-chip bandwidth paid at the busy
    floor and the active power, as if they all ran serially on the critical path (eager
    inference at small batch hides them behind the host)."""
    seconds = missed_bytes / target.off_chip.bandwidth_bytes_per_s.value
    power = target.floor_power_w + target.number("active_power_w")
    joules = missed_bytes * target.off_chip.pj_per_byte.value * 1e-12 + seconds * power
    return joules / energy_j


def attention_compare(paths: list[str], target: str = "h200") -> None:
    """Per measured configuration with SDPA, the device time of one attention call: the PyTorch
    profiler's kernel microseconds of ``aten::scaled_dot_product_attention`` (measure/profile
    files, run eagerly) beside NEXUS's device time of the graph's attention node costed eagerly
    as they ran (its kernels' time: no host time, no gaps; a CUDA-graph costing would model
    the math path a capture takes). Rows run through ``nn.MultiheadAttention``'s fast path are
    left out: its profile also holds the projections."""
    from passes.cost import cost_graph

    op = "aten::scaled_dot_product_attention"
    print("| model | batch | dtype | q [B, H, L, E] | measured µs | NEXUS µs | × |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for path in paths:
        for row in json.loads(Path(path).read_text())["rows"]:
            if op not in row["kernels_by_op"]:
                continue
            calls, _, microseconds = row["kernels_by_op"][op]
            ready = _prepared(row["model"], row["batch"], row["dtype"])
            cost_graph(ready.graph, target, bindings=ready.bindings,
                       value_stats=ready.value_stats, execution="eager")
            nodes = [n for n in ready.graph.nodes if n.op == "attention"]
            predicted = sum(n.annotations["timing"]["time_s"] - n.annotations["timing"]["overhead_s"]
                            for n in nodes) / len(nodes) * 1e6
            measured = microseconds / calls
            ratios.append(measured / predicted)
            shape = "×".join(map(str, nodes[0].inputs[0].type.shape))
            print(f"| {row['model']} | {row['batch']} | {row['dtype']} | {shape} | "
                  f"{measured:.1f} | {predicted:.1f} | {measured / predicted:.2f} |")
    print(f"\nmeasured / NEXUS per attention call: median {statistics.median(ratios):.2f} over "
          f"{len(ratios)} configurations")


def host_fit(paths: list[str], target: str = "h200") -> None:
    """On the CPU: the fit of the target's ``host_module_s`` to the measured eager batch-1 rows
    (zoo files: the models this project wrote; the HF files check it): per row, the measured
    seconds per call less NEXUS's eager latency without a module term, over the module calls
    ``passes.cost.module_entries`` counts; the median over rows whose residual is positive
    (host-bound: the time left is the host's)."""
    import dataclasses

    from lowering.target import load_target
    from passes.cost import cost_graph, module_entries

    bare = load_target(target)
    bare = dataclasses.replace(bare, execution={k: q for k, q in bare.execution.items()
                                                if k != "host_module_s"})
    per_call = []
    print("| model | dtype | measured ms | NEXUS ms, no module term | module calls | µs per call |")
    print("|---|---|---|---|---|---|")
    for path in paths:
        for row in json.loads(Path(path).read_text())["rows"]:
            if row["batch"] != 1:
                continue
            ready = _prepared(row["model"], 1, row["dtype"])
            m = cost_graph(ready.graph, bare, bindings=ready.bindings,
                           value_stats=ready.value_stats, execution="eager").metrics
            calls = sum(module_entries(ready.graph).values())
            left = row["eager"]["seconds_per_call"] - m["latency_s"]
            print(f"| {row['model']} | {row['dtype']} | {row['eager']['seconds_per_call'] * 1e3:.2f} "
                  f"| {m['latency_s'] * 1e3:.2f} | {calls} | {left / calls * 1e6:.1f} |")
            if left > 0:
                per_call.append(left / calls)
    print(f"\nhost_module_s: median {statistics.median(per_call) * 1e6:.2f} µs over "
          f"{len(per_call)} host-bound rows")


def _option(args: list[str], name: str, default: str) -> tuple[list[str], str]:
    """``args`` without their ``--name=value`` options, and the last such value (``default``
    without one)."""
    flag = f"--{name}="
    values = [a[len(flag):] for a in args if a.startswith(flag)]
    return [a for a in args if not a.startswith(flag)], (values or [default])[-1]


if __name__ == "__main__":
    if sys.argv[1] in ("measure", "profile"):
        rest, suite = _option(sys.argv[4:], "suite", "zoo")
        measure_all(sys.argv[2], sys.argv[3], rest,
                    energy_windows=sys.argv[1] == "measure", suite=suite)
    elif sys.argv[1] == "ncu":
        ncu_compare(*_option(sys.argv[2:], "target", "h200"))
    elif sys.argv[1] == "attention":
        attention_compare(sys.argv[2:])
    elif sys.argv[1] == "host-fit":
        host_fit(sys.argv[2:])
    else:
        analyze(*_option(sys.argv[2:], "target", "h200"))
