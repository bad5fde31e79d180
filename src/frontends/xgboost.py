"""XGBoost frontend: ``XGBClassifier``, ``XGBRegressor``, ``Booster`` and XGBoost's own
``.json``/``.ubj`` model files, read as data and checked before anything trusts them.

A model is its JSON document (a ``.json`` file parsed here; a ``.ubj`` file turned into JSON by
XGBoost in a child process with a time and memory limit, so a file that crashes XGBoost's
parser ends that process, not NEXUS; a live booster's ``save_raw("json")``). The document is
validated — booster kind, feature count, every tree's child ids, one parent per node, no cycle,
split features in range — and its trees, of any depth, become one ONNX ``TreeEnsemble``
classifier or regressor built array by array (no recursion, no ``get_dump``), which the ONNX
frontend lowers with its full structure.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nexus_ir import Graph, NexusError

from . import require

MODEL_SUFFIXES = (".json", ".ubj")
MAX_FEATURES = 1 << 24
"""More features than any tabular model has (16.7 M): a larger count is a damaged file."""
UBJ_TIMEOUT_S = 20
UBJ_MEMORY_BYTES = 4 << 30
OBJECTIVES = {"binary:logistic": "LOGISTIC", "reg:logistic": "LOGISTIC",
              "binary:logitraw": "NONE", "multi:softprob": "SOFTMAX", "multi:softmax": "SOFTMAX",
              "reg:squarederror": "NONE", "reg:squaredlogerror": "NONE",
              "reg:pseudohubererror": "NONE", "reg:absoluteerror": "NONE",
              "reg:quantileerror": "NONE", "rank:pairwise": "NONE", "rank:ndcg": "NONE",
              "rank:map": "NONE", "survival:cox": "NONE", "count:poisson": "NONE",
              "reg:gamma": "NONE", "reg:tweedie": "NONE"}
"""Objectives and the ONNX post transform of their prediction. The log-link ones (poisson,
gamma, tweedie, cox) predict exp(margin): costed as the margin, which ONNX cannot exponentiate
in the ensemble; the count of compares and leaf reads is the same."""
LOGIT_BASE = ("binary:logistic", "reg:logistic", "binary:logitraw")
LOG_BASE = ("count:poisson", "reg:gamma", "reg:tweedie", "survival:cox")


def _bad(where: str, why: str) -> NexusError:
    return NexusError(f"{where}: not a valid XGBoost model: {why}")


def _ubj_to_json(path: Path) -> bytes:
    """XGBoost's own reader turns a ``.ubj`` file into JSON in a child process with limits."""
    script = ("import resource, sys\n"
              f"resource.setrlimit(resource.RLIMIT_AS, ({UBJ_MEMORY_BYTES}, {UBJ_MEMORY_BYTES}))\n"
              "import xgboost\n"
              "b = xgboost.Booster(model_file=sys.argv[1])\n"
              "sys.stdout.buffer.write(bytes(b.save_raw('json')))\n")
    try:
        done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                              timeout=UBJ_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise _bad(path.name, f"XGBoost's reader did not finish in {UBJ_TIMEOUT_S} s") from None
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["it crashed"])[-1]
        raise _bad(path.name, f"XGBoost's reader failed ({last[:200]})")
    return done.stdout


def model_document(model: Any) -> tuple[dict[str, Any], str]:
    """The model's JSON document and a name for messages: from a file path, a Booster or an
    XGBoost estimator."""
    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.is_file():
            raise NexusError(f"model file {path} does not exist")
        if path.suffix not in MODEL_SUFFIXES:
            raise NexusError(f"{path}: XGBoost model files end in .json or .ubj")
        raw = _ubj_to_json(path) if path.suffix == ".ubj" else path.read_bytes()
        where = path.name
    else:
        xgb = require("xgboost", "trees")
        booster = model.get_booster() if isinstance(model, xgb.XGBModel) else model
        if not isinstance(booster, xgb.Booster):
            raise NexusError(f"expected an XGBClassifier, XGBRegressor or Booster, got "
                             f"{type(model).__name__}")
        raw, where = bytes(booster.save_raw("json")), type(model).__name__
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise _bad(where, f"not JSON ({str(err)[:120]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("learner"), dict):
        raise _bad(where, "no 'learner' object (save it with Booster.save_model)")
    return doc, where


def _numbers(text: Any, where: str, what: str) -> list[float]:
    """XGBoost writes parameters as strings: "5E-1", or since 3.0 "[5E-1]" and one per class
    ("[-2.1E-1,1.5E-1,6.1E-2]")."""
    try:
        values = [float(part) for part in str(text).strip("[]").split(",")]
    except ValueError:
        raise _bad(where, f"{what} is {str(text)[:60]!r}, not a number") from None
    if not all(map(math.isfinite, values)):
        raise _bad(where, f"{what} is {text}")
    return values


def _number(text: Any, where: str, what: str) -> float:
    values = _numbers(text, where, what)
    if len(values) != 1:
        raise _bad(where, f"{what} holds {len(values)} numbers, not one")
    return values[0]


def _tree_arrays(tree: dict[str, Any], n_features: int, where: str) -> dict[str, np.ndarray]:
    """One tree's arrays, checked: children in range, one parent per node, the root (node 0)
    parentless, every node reachable from it, split features below ``n_features``."""
    try:
        left = np.asarray(tree["left_children"], np.int64)
        right = np.asarray(tree["right_children"], np.int64)
        feature = np.asarray(tree["split_indices"], np.int64)
        value = np.asarray(tree["split_conditions"], np.float64)
        default_left = np.asarray(tree["default_left"], np.int64).astype(bool)
    except (KeyError, TypeError, ValueError, OverflowError) as err:
        raise _bad(where, f"a tree lacks readable node arrays ({err})") from None
    n = len(left)
    if n == 0 or any(len(a) != n for a in (right, feature, value, default_left)):
        raise _bad(where, "a tree's node arrays differ in length or are empty")
    if any(t != 0 for t in tree.get("split_type", [])):
        raise NexusError(f"{where}: categorical splits are not read yet; cost a model trained "
                         "without enable_categorical")
    if int(tree.get("tree_param", {}).get("size_leaf_vector", "1") or 1) > 1:
        raise NexusError(f"{where}: multi-output trees (multi_strategy) are not read yet")
    inner = left >= 0
    if ((left < -1) | (left >= n) | (right < -1) | (right >= n)).any() or \
            ((right >= 0) != inner).any():
        raise _bad(where, "a tree has a child id outside its nodes")
    children = np.concatenate([left[inner], right[inner]])
    parents = np.bincount(children, minlength=n)
    if (parents > 1).any() or parents[0] or (parents[1:] == 0).any():
        raise _bad(where, "a tree's nodes do not form one tree (a node with two parents, the "
                          "root as a child, or a node no branch reaches)")
    if not np.isfinite(value).all():
        raise _bad(where, "a split threshold or leaf value is not finite")
    if ((feature[inner] < 0) | (feature[inner] >= n_features)).any():
        raise _bad(where, f"a split reads a feature outside the model's {n_features}")
    return {"left": left, "right": right, "feature": feature, "value": value,
            "default_left": default_left}


def to_onnx_model(model: Any, n_features: int | None = None) -> Any:
    """The model as an ONNX ``ModelProto``: one TreeEnsembleClassifier/Regressor (module doc)."""
    from onnx import TensorProto, helper

    doc, where = model_document(model)
    learner = doc["learner"]
    booster = learner.get("gradient_booster", {})
    kind = booster.get("name")
    if kind == "gblinear":
        raise NexusError(f"{where}: a gblinear booster is a linear model, not trees; NEXUS reads "
                         "gbtree and dart boosters")
    body = booster.get("gbtree", booster) if kind == "dart" else booster
    if kind not in ("gbtree", "dart") or not isinstance(body.get("model"), dict):
        raise _bad(where, f"booster {kind!r} (expected gbtree or dart)")
    params = learner.get("learner_model_param", {})
    features = n_features or int(_number(params.get("num_feature", 0), where, "num_feature"))
    if not 1 <= features <= MAX_FEATURES:
        raise _bad(where, f"num_feature {features} (1 to {MAX_FEATURES})")
    objective = learner.get("objective", {}).get("name", "reg:squarederror")
    if objective not in OBJECTIVES:
        raise NexusError(f"{where}: objective {objective!r} is not read yet (known: "
                         f"{', '.join(OBJECTIVES)})")
    classes = int(_number(params.get("num_class", 0), where, "num_class"))
    trees = body["model"].get("trees", [])
    info = body["model"].get("tree_info", [0] * len(trees))
    weights = booster.get("weight_drop", [1.0] * len(trees)) if kind == "dart" else \
        [1.0] * len(trees)
    if not trees or len(info) != len(trees) or len(weights) != len(trees):
        raise _bad(where, "no trees, or tree_info and trees disagree")
    n_out = max(classes, 1)
    bases = _numbers(params.get("base_score", 0.5), where, "base_score")
    if len(bases) not in (1, n_out):
        raise _bad(where, f"{len(bases)} base scores for {n_out} outputs")
    if objective in LOGIT_BASE and not all(0 < b < 1 for b in bases):
        raise _bad(where, f"base_score {bases} of a logistic objective (0 to 1)")
    margins = [math.log(b / (1 - b)) if objective in LOGIT_BASE else
               math.log(b) if objective in LOG_BASE and b > 0 else b for b in bases]
    margins = margins * n_out if len(margins) == 1 else margins
    at: dict[str, list] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
        "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        "leaf_treeids", "leaf_nodeids", "leaf_ids", "leaf_weights")}
    for t, (tree, group, weight) in enumerate(zip(trees, info, weights)):
        a = _tree_arrays(tree, features, where)
        inner = a["left"] >= 0
        n = len(inner)
        at["nodes_treeids"] += [t] * n
        at["nodes_nodeids"] += range(n)
        at["nodes_featureids"] += np.where(inner, a["feature"], 0).tolist()
        at["nodes_modes"] += ["BRANCH_LT" if i else "LEAF" for i in inner]
        at["nodes_values"] += np.where(inner, a["value"], 0.0).tolist()
        at["nodes_truenodeids"] += np.where(inner, a["left"], 0).tolist()
        at["nodes_falsenodeids"] += np.where(inner, a["right"], 0).tolist()
        at["nodes_missing_value_tracks_true"] += (a["default_left"] & inner).astype(int).tolist()
        leaves = np.flatnonzero(~inner)
        at["leaf_treeids"] += [t] * len(leaves)
        at["leaf_nodeids"] += leaves.tolist()
        at["leaf_ids"] += [int(group) if classes > 1 else 0] * len(leaves)
        at["leaf_weights"] += (a["value"][leaves] * float(weight)).tolist()
    classifier = objective.startswith(("binary:", "multi:"))
    prefix = "class" if classifier else "target"
    nodes = {k: v for k, v in at.items() if k.startswith("nodes_")}
    leaves = {f"{prefix}_{k.removeprefix('leaf_')}": v for k, v in at.items()
              if k.startswith("leaf_")}
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, features])
    if classifier:
        labels = list(range(max(classes, 2)))
        node = helper.make_node(
            "TreeEnsembleClassifier", ["X"], ["label", "probabilities"], "TreeEnsembleClassifier",
            domain="ai.onnx.ml",
            classlabels_int64s=labels, post_transform=OBJECTIVES[objective],
            base_values=margins, **nodes, **leaves)
        outputs = [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                   helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                                 [None, len(labels)])]
    else:
        node = helper.make_node(
            "TreeEnsembleRegressor", ["X"], ["variable"], "TreeEnsembleRegressor",
            domain="ai.onnx.ml", n_targets=1,
            post_transform=OBJECTIVES[objective], base_values=margins, **nodes, **leaves)
        outputs = [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])]
    graph = helper.make_graph([node], "xgboost", [x], outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15),
                                                   helper.make_opsetid("ai.onnx.ml", 3)])


def from_xgboost(model: Any, n_features: int | None = None, name: str | None = None) -> Graph:
    """Lower an XGBoost model, or an XGBoost ``.json``/``.ubj`` file, to a NEXUS graph."""
    from .onnx import from_onnx

    if isinstance(model, (str, Path)):
        name = name or Path(model).stem
    return from_onnx(to_onnx_model(model, n_features), name=name or type(model).__name__)
