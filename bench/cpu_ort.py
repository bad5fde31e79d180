"""ONNX Runtime on one CPU core: the numbers the x86-server target takes, and a classic-ML zoo
that checks how its predictions rank models against how they run.

    python3 bench/cpu_ort.py micro docs/data/cpu_ort_micro.json   # per-node dispatch, tree
                                                                  # compares, f32 matmul rate
    python3 bench/cpu_ort.py zoo docs/data/cpu_ort_zoo.json       # measured vs predicted

Every session runs single-threaded (intra- and inter-op threads 1, sequential execution, all
graph optimizations), as a server that gives each core its own requests runs it. Time only:
energy needs RAPL, which a virtual machine does not expose (the numbers say where they ran).
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPEAT = 7


def session(model: Any) -> Any:
    """A single-threaded ONNX Runtime session of ``model`` (a ModelProto)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def run_seconds(sess: Any, feed: dict[str, np.ndarray], min_seconds: float = 0.2) -> float:
    """Median seconds of one ``sess.run`` over ``REPEAT`` timed loops of at least
    ``min_seconds`` each (after a warm-up)."""
    for _ in range(3):
        sess.run(None, feed)
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            sess.run(None, feed)
        if time.perf_counter() - start > min_seconds / 4:
            break
        calls *= 4
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        for _ in range(calls):
            sess.run(None, feed)
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def chain(nodes: int) -> Any:
    """``nodes`` alternating Abs/Neg nodes over an f32[1,4] input (nothing to fuse or fold)."""
    from onnx import TensorProto, helper

    ops = [helper.make_node("Abs" if i % 2 else "Neg", [f"v{i}"], [f"v{i + 1}"])
           for i in range(nodes)]
    graph = helper.make_graph(ops, "chain", [helper.make_tensor_value_info(
        "v0", TensorProto.FLOAT, [1, 4])], [helper.make_tensor_value_info(
            f"v{nodes}", TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def forest_compares(model: Any, rows: np.ndarray) -> int:
    """Split compares ``rows`` make in a fitted forest: nodes on each decision path but the
    leaf, summed over trees (scikit-learn's ``decision_path``)."""
    return int(sum(tree.decision_path(rows).sum() - len(rows) for tree in model.estimators_))


def micro() -> dict[str, Any]:
    """Per-node dispatch (slope of a node chain), seconds per tree split compare (a forest over
    rows whose paths are counted), and the achieved single-core f32 matmul rate."""
    from onnx import TensorProto, helper
    from sklearn.ensemble import RandomForestRegressor

    from frontends.sklearn import to_onnx_model

    lengths = [1, 101, 201, 401]
    times = [run_seconds(session(chain(n)), {"v0": np.ones((1, 4), np.float32)})
             for n in lengths]
    slope, intercept = np.polyfit(lengths, times, 1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 16)).astype(np.float32)
    forest = RandomForestRegressor(n_estimators=64, max_depth=12, random_state=0).fit(
        x, x[:, 0] * x[:, 1] + x[:, 2])
    tree_points = []
    for rows in (64, 1024):
        batch = x[:rows]
        seconds = run_seconds(session(to_onnx_model(forest, batch)), {"X": batch})
        tree_points.append({"rows": rows, "compares": forest_compares(forest, batch),
                            "seconds": seconds})
    size = 1024
    matmul = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])]),
        opset_imports=[helper.make_opsetid("", 17)])
    a = rng.standard_normal((size, size)).astype(np.float32)
    mm_s = run_seconds(session(matmul), {"a": a, "b": a})
    big = tree_points[-1]
    return {"machine": machine(), "chain_nodes": lengths, "chain_seconds": times,
            "dispatch_s_per_node": slope, "session_call_s": intercept,
            "tree": tree_points,
            "tree_compares_per_s": big["compares"] / big["seconds"],
            "matmul_f32_fma_per_s": size ** 3 / mm_s}


def machine() -> dict[str, str]:
    """Where a measurement ran."""
    import onnxruntime as ort

    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "onnxruntime": ort.__version__, "python": platform.python_version(),
            "threads": "1 (intra/inter-op), sequential", "energy": "not measured: no RAPL"}


def zoo_models() -> dict[str, tuple[Any, np.ndarray]]:
    """Classic models fitted here on synthetic data (16 features, 3 classes), by name."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                                  RandomForestClassifier)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    x, y = make_classification(n_samples=2000, n_features=16, n_informative=10, n_classes=3,
                               random_state=0)
    x = x.astype(np.float32)
    makers = {
        "logistic": lambda: LogisticRegression(max_iter=500),
        "scaler+logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
        "tree d8": lambda: DecisionTreeClassifier(max_depth=8, random_state=0),
        "forest 20xd6": lambda: RandomForestClassifier(20, max_depth=6, random_state=0),
        "forest 200xd12": lambda: RandomForestClassifier(200, max_depth=12, random_state=0),
        "extra trees 100": lambda: ExtraTreesClassifier(100, max_depth=10, random_state=0),
        "gbm 100xd3": lambda: GradientBoostingClassifier(n_estimators=100, max_depth=3,
                                                         random_state=0),
        "knn 5 (2000 refs)": lambda: KNeighborsClassifier(5),
        "svc rbf": lambda: SVC(probability=False),
        "mlp 64x64": lambda: MLPClassifier((64, 64), max_iter=300, random_state=0),
    }
    return {name: (make().fit(x, y), x) for name, make in makers.items()}


def zoo(batches: tuple[int, ...] = (1, 64)) -> dict[str, Any]:
    """Measured single-core ONNX Runtime latency of every zoo model at each batch beside what
    x86-server predicts for it (the rows' real tree paths included)."""
    import warnings

    import nexus_ir as nx
    from frontends.sklearn import to_onnx_model

    points = []
    for name, (model, x) in zoo_models().items():
        for batch in batches:
            rows = x[:batch]
            sess = session(to_onnx_model(model, rows))
            measured = run_seconds(sess, {sess.get_inputs()[0].name: rows})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report = nx.compile(model, rows, target="x86-server")
            points.append({"model": name, "batch": batch, "measured_s": measured,
                           "predicted_s": report.metrics["latency_s"],
                           "predicted_j": report.metrics["energy_j"]})
    return {"machine": machine(), "points": points}


def table(doc: dict[str, Any]) -> str:
    """The zoo as text: per point measured and predicted latency and their ratio; per batch
    the Spearman rank correlation and the median |error|."""
    from scipy.stats import spearmanr

    lines = [f"{'model':<20} {'batch':>5} {'measured':>11} {'predicted':>11} {'pred/meas':>9}"]
    for p in doc["points"]:
        lines.append(f"{p['model']:<20} {p['batch']:>5} {p['measured_s'] * 1e6:9.1f}µs "
                     f"{p['predicted_s'] * 1e6:9.1f}µs {p['predicted_s'] / p['measured_s']:9.2f}")
    for batch in sorted({p["batch"] for p in doc["points"]}):
        at = [p for p in doc["points"] if p["batch"] == batch]
        rho = spearmanr([p["measured_s"] for p in at], [p["predicted_s"] for p in at])[0]
        errors = [abs(p["predicted_s"] / p["measured_s"] - 1) for p in at]
        lines.append(f"batch {batch}: Spearman {rho:.3f}, median |error| "
                     f"{statistics.median(errors):.1%} over {len(at)} models")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("micro", "zoo", "table"):
        print(__doc__)
        return 2
    kind, path = argv[0], Path(argv[1])
    if kind == "table":
        print(table(json.loads(path.read_text())))
        return 0
    doc = micro() if kind == "micro" else zoo()
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(table(doc) if kind == "zoo" else json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src")]
    sys.exit(main(sys.argv[1:]))
