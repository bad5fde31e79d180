"""The ``ai.onnx.ml`` op table: tree ensembles with their full structure, linear models,
SVMs, scalers, normalizers, encoders. Importing this module fills ``HANDLERS``."""

from __future__ import annotations

from typing import Any

import numpy as np

from nexus_ir import NexusError, Value
from nexus_ir.ops.ml import POST_TRANSFORMS

from .convert import Converter, onnx_op
from .load import ML, Unmappable
from .operands import Operand



_POST = {"NONE": "none", "SOFTMAX": "softmax", "LOGISTIC": "logistic",
         "SOFTMAX_ZERO": "softmax_zero", "PROBIT": "probit"}
_MODES = {"LEAF": 0, "BRANCH_LEQ": 1, "BRANCH_LT": 2, "BRANCH_GTE": 3, "BRANCH_GT": 4,
          "BRANCH_EQ": 5, "BRANCH_NEQ": 6, "BRANCH_MEMBER": 7}


def _float_input(cv: Converter, x: Operand) -> Value:
    """ML ops read features as float: an integer input is cast first."""
    v = cv.value(x)
    return v if v.type.dtype.is_float else cv.op("cast", v, to="f32")


def _classifier_outputs(cv: Converter, scores: Value, complement: bool = False
                        ) -> list[Value]:
    """(label, scores): ONNX classifiers emit the winning class first. A binary classifier that
    scores only the positive class reports ``[1 - p, p]`` when ``complement`` (probabilities)
    and ``[-s, s]`` otherwise (raw margins), as ONNX Runtime does."""
    if scores.type.shape[1] == 1:
        other = cv.op("sub", cv.scalar(1.0, scores), scores) if complement else \
            cv.op("neg", scores)
        scores = cv.op("concat", other, scores, axis=1)
    return [cv.op("argmax", scores, axis=1, keepdims=False), scores]


MAX_TARGETS = 1 << 16


def _check_targets(n_targets: int, ids: np.ndarray) -> None:
    """An ensemble's output count is 1 to ``MAX_TARGETS`` and every leaf writes one of them."""
    if not 1 <= n_targets <= MAX_TARGETS or (ids.size and not (
            0 <= ids.min() and ids.max() < n_targets)):
        raise NexusError(f"tree ensemble: {n_targets} outputs with leaves writing outputs "
                         f"{int(ids.min()) if ids.size else 0}..{int(ids.max()) if ids.size else 0}"
                         "; the model is damaged: re-export it")


def _trees_v1(at: dict[str, Any], classifier: bool) -> dict[str, Any]:
    """IR tree arrays from TreeEnsembleClassifier/Regressor attributes (nodes addressed by
    (tree id, node id); leaves carry class_*/target_* weights)."""
    tree_ids = np.asarray(at["nodes_treeids"], np.int64)
    node_ids = np.asarray(at["nodes_nodeids"], np.int64)
    n = len(tree_ids)
    index = {(int(t), int(i)): k for k, (t, i) in enumerate(zip(tree_ids, node_ids))}
    modes = np.array([_MODES[m] for m in at["nodes_modes"]], np.int64)
    true_kids = np.full(n, -1, np.int64)
    false_kids = np.full(n, -1, np.int64)
    for k in np.flatnonzero(modes != 0):
        t = int(tree_ids[k])
        true_kids[k] = index[(t, int(at["nodes_truenodeids"][k]))]
        false_kids[k] = index[(t, int(at["nodes_falsenodeids"][k]))]
    prefix = "class" if classifier else "target"
    ids = np.asarray(at.get(f"{prefix}_ids", []), np.int64)
    if classifier:
        labels = at.get("classlabels_int64s") or at.get("classlabels_strings") or []
        n_targets = max(len(labels), int(ids.max()) + 1 if ids.size else 1)
        if len(labels) == 2 and len(set(ids.tolist())) == 1:
            n_targets, ids = 1, np.zeros_like(ids)      # binary: one score, the positive class
    else:
        n_targets = int(at.get("n_targets", 1))
    _check_targets(n_targets, ids)
    leaf_values = np.zeros((n, n_targets), np.float32)
    weights = at.get(f"{prefix}_weights_as_tensor", at.get(f"{prefix}_weights", []))
    for t, i, k, w in zip(at[f"{prefix}_treeids"], at[f"{prefix}_nodeids"], ids,
                          np.asarray(weights, np.float32)):
        leaf_values[index[(int(t), int(i))], int(k)] += w
    children = set(true_kids[true_kids >= 0].tolist()) | set(false_kids[false_kids >= 0].tolist())
    roots = [k for k in range(n) if k not in children]
    rooted = {int(tree_ids[k]) for k in roots}
    lost = sorted(set(tree_ids.tolist()) - rooted)
    if lost:
        raise NexusError(f"tree {lost[0]} of the ensemble has no root: every node of it is "
                         "another's child (a cycle); the model is damaged: re-export it")
    if len(roots) != len(rooted):
        raise NexusError("a tree of the ensemble has more than one root (nodes no branch "
                         "reaches); the model is damaged: re-export it")
    reached = np.zeros(n, bool)
    stack = list(roots)
    while stack:
        k = stack.pop()
        if not reached[k]:
            reached[k] = True
            stack += [c for c in (true_kids[k], false_kids[k]) if c >= 0]
    if not reached.all():
        k = int(np.flatnonzero(~reached)[0])
        raise NexusError(f"node {int(node_ids[k])} of tree {int(tree_ids[k])} is not reached from "
                         "the tree's root (a cycle through it, or a detached node); the model is "
                         "damaged: re-export it")
    values = at.get("nodes_values_as_tensor", at.get("nodes_values", np.zeros(n)))
    missing = np.asarray(at.get("nodes_missing_value_tracks_true", []), bool)
    return dict(n_targets=n_targets, tree_roots=np.asarray(roots, np.int64),
                feature_ids=np.asarray(at["nodes_featureids"], np.int64),
                thresholds=np.asarray(values, np.float64), modes=modes,
                true_children=true_kids, false_children=false_kids, leaf_values=leaf_values,
                missing_goes_true=missing if missing.any() else np.zeros(0, bool),
                base_values=np.asarray(at.get("base_values_as_tensor", at.get("base_values", [])),
                                       np.float32),
                aggregate=at.get("aggregate_function", "SUM").lower(),
                post_transform=_POST[at.get("post_transform", "NONE")])


@onnx_op("TreeEnsembleClassifier", "TreeEnsembleRegressor", domain=ML)
def _tree_ensemble_v1(cv, ins, at):
    classifier = cv.node.op_type == "TreeEnsembleClassifier"
    attrs = _trees_v1(at, classifier)
    scores = cv.op("tree_ensemble", _float_input(cv, ins[0]), **attrs)
    if not classifier:
        return scores
    return _classifier_outputs(cv, scores, complement=attrs["post_transform"] != "none"
                               or bool((attrs["leaf_values"] >= 0).all()))


def _trees_v5(at: dict[str, Any]) -> dict[str, Any]:
    """IR tree arrays from TreeEnsemble (ai.onnx.ml 5): inner nodes first, then the leaves."""
    inner = len(at["nodes_featureids"])
    leaf_targets = np.asarray(at["leaf_targetids"], np.int64)
    leaf_weights = np.asarray(at["leaf_weights"], np.float32).reshape(-1)
    n_leaves, n_targets = len(leaf_targets), int(at["n_targets"])
    _check_targets(n_targets, leaf_targets)
    n = inner + n_leaves

    def child(ids: str, leafs: str) -> np.ndarray:
        is_leaf = np.asarray(at[leafs], bool)
        return np.where(is_leaf, inner + np.asarray(at[ids], np.int64),
                        np.asarray(at[ids], np.int64))
    true_kids = np.concatenate([child("nodes_truenodeids", "nodes_trueleafs"),
                                np.full(n_leaves, -1, np.int64)])
    false_kids = np.concatenate([child("nodes_falsenodeids", "nodes_falseleafs"),
                                 np.full(n_leaves, -1, np.int64)])
    modes = np.concatenate([np.asarray(at["nodes_modes"], np.int64).reshape(-1) + 1,
                            np.zeros(n_leaves, np.int64)])
    roots = np.asarray(at["tree_roots"], np.int64)
    # A one-leaf tree is encoded as a node whose branches reach the same leaf: make it that leaf.
    for t, r in enumerate(roots):
        if true_kids[r] == false_kids[r] and true_kids[r] >= inner:
            roots[t] = true_kids[r]
    leaf_values = np.zeros((n, n_targets), np.float32)
    np.add.at(leaf_values, (inner + np.arange(n_leaves), leaf_targets), leaf_weights)
    splits = np.asarray(at.get("nodes_splits", np.zeros(inner)), np.float64).reshape(-1)
    missing = np.asarray(at.get("nodes_missing_value_tracks_true", []), bool)
    return dict(n_targets=n_targets, tree_roots=roots,
                feature_ids=np.concatenate([np.asarray(at["nodes_featureids"], np.int64),
                                            np.zeros(n_leaves, np.int64)]),
                thresholds=np.concatenate([splits, np.zeros(n_leaves)]), modes=modes,
                true_children=true_kids, false_children=false_kids, leaf_values=leaf_values,
                missing_goes_true=np.concatenate([missing, np.zeros(n_leaves, bool)])
                if missing.any() else np.zeros(0, bool),
                aggregate=("average", "sum", "min", "max")[at.get("aggregate_function", 1)],
                post_transform=POST_TRANSFORMS[at.get("post_transform", 0)])


@onnx_op("TreeEnsemble", domain=ML)
def _tree_ensemble_v5(cv, ins, at):
    return cv.op("tree_ensemble", _float_input(cv, ins[0]), **_trees_v5(at))


@onnx_op("LinearClassifier", "LinearRegressor", domain=ML)
def _linear_model(cv, ins, at):
    classifier = cv.node.op_type == "LinearClassifier"
    x = _float_input(cv, ins[0])
    coef = np.asarray(at["coefficients"], np.float32)
    outputs = len(at.get("classlabels_ints") or at.get("classlabels_strings") or []) \
        if classifier else int(at.get("targets", 1))
    coef = coef.reshape(-1, x.type.shape[1]) if outputs == 0 or classifier else \
        coef.reshape(outputs, -1)
    scores = cv.op("linear_classifier" if classifier else "linear_regressor", x,
                   coefficients=coef, intercepts=np.asarray(at.get("intercepts", []), np.float32),
                   post_transform=_POST[at.get("post_transform", "NONE")])
    if not classifier:
        return scores
    return _classifier_outputs(cv, scores, complement=at.get("post_transform", "NONE") != "NONE")


def _svm_kernel(cv: Converter, x: Value, vectors: np.ndarray, at: dict[str, Any]) -> Value:
    """``K[N, S]`` between the rows of x and the support vectors: a matrix product, then the
    kernel's elementwise part (RBF uses ‖x‖² − 2x·s + ‖s‖²)."""
    kind = at.get("kernel_type", "LINEAR")
    gamma, coef0, degree = (list(at.get("kernel_params", [])) + [0.0, 0.0, 3.0])[:3]
    dot = cv.op("matmul", x, np.ascontiguousarray(vectors.T))
    if kind == "LINEAR":
        return dot
    if kind == "RBF":
        x2 = cv.op("reduce_sum", cv.op("mul", x, x), axes=[1], keepdims=True)
        s2 = np.sum(vectors.astype(np.float64) ** 2, axis=1).astype(np.float32)[None, :]
        dist = cv.op("add", cv.op("sub", x2, cv.op("mul", dot, np.float32(2.0))), s2)
        return cv.op("exp", cv.op("mul", dist, np.float32(-gamma)))
    scaled = cv.op("add", cv.op("mul", dot, np.float32(gamma)), np.float32(coef0))
    if kind == "POLY":
        return cv.op("pow", scaled, np.float32(degree))
    if kind == "SIGMOID":
        return cv.op("tanh", scaled)
    raise Unmappable(f"SVM kernel {kind}")


@onnx_op("SVMRegressor", domain=ML)
def _svm_regressor(cv, ins, at):
    x = _float_input(cv, ins[0])
    features = x.type.shape[1]
    count = int(at.get("n_supports", 0))
    coef = np.asarray(at["coefficients"], np.float32)
    if count == 0:             # linear SVR: the coefficients are the weight vector
        return cv.op("linear_regressor", x, coefficients=coef.reshape(1, -1),
                     intercepts=np.asarray(at.get("rho", [0.0]), np.float32))
    vectors = np.asarray(at["support_vectors"], np.float32).reshape(count, features)
    k = _svm_kernel(cv, x, vectors, at)
    return cv.op("add", cv.op("matmul", k, coef.reshape(-1, 1)),
                 np.asarray(at.get("rho", [0.0]), np.float32))


@onnx_op("SVMClassifier", domain=ML)
def _svm_classifier(cv, ins, at):
    """Kernel values, one decision function per class pair (one-vs-one) as a dense matrix
    product ``K[N, S] @ C[S, P]`` plus rho, then the votes (``decision > 0`` times a ±1 vote
    matrix) and the winning class. Linear SVMs without support vectors take ``x @ W^T``."""
    x = _float_input(cv, ins[0])
    features = x.type.shape[1]
    labels = at.get("classlabels_ints") or at.get("classlabels_strings") or []
    classes = len(labels)
    per_class = [int(v) for v in at.get("vectors_per_class", [])]
    coef = np.asarray(at["coefficients"], np.float32)
    rho = np.asarray(at.get("rho", []), np.float32)
    if not per_class:
        scores = cv.op("linear_classifier", x, coefficients=coef.reshape(-1, features),
                       intercepts=rho, post_transform="none")
        return _classifier_outputs(cv, scores)
    total = sum(per_class)
    vectors = np.asarray(at["support_vectors"], np.float32).reshape(total, features)
    kernel = _svm_kernel(cv, x, vectors, at)
    starts = np.concatenate([[0], np.cumsum(per_class)])
    coef = coef.reshape(classes - 1, total)
    pairs = [(i, j) for i in range(classes) for j in range(i + 1, classes)]
    dense = np.zeros((total, len(pairs)), np.float32)
    votes = np.zeros((len(pairs), classes), np.float32)
    for p, (i, j) in enumerate(pairs):
        dense[starts[i]:starts[i + 1], p] = coef[j - 1, starts[i]:starts[i + 1]]
        dense[starts[j]:starts[j + 1], p] = coef[i, starts[j]:starts[j + 1]]
        votes[p, i], votes[p, j] = 1.0, -1.0
    decision = cv.op("add", cv.op("matmul", kernel, dense), rho.reshape(1, -1))
    if classes == 2:
        scores = cv.op("concat", cv.op("neg", decision), decision, axis=1)
        return _classifier_outputs(cv, scores)
    positive = cv.op("cast", cv.op("gt", decision, np.float32(0.0)), to="f32")
    tally = cv.op("add", cv.op("matmul", positive, votes),
                  np.maximum(-votes, 0).sum(axis=0, keepdims=True).astype(np.float32))
    return _classifier_outputs(cv, tally)


@onnx_op("Scaler", domain=ML)
def _scaler(cv, ins, at):
    x = _float_input(cv, ins[0])
    offset = np.asarray(at.get("offset", [0.0]), np.float32)
    scale = np.asarray(at.get("scale", [1.0]), np.float32)
    return cv.op("mul", cv.op("sub", x, offset), scale)


@onnx_op("Normalizer", domain=ML)
def _normalizer(cv, ins, at):
    """Row-wise division by the MAX, L1 or L2 norm."""
    x = _float_input(cv, ins[0])
    norm = at.get("norm", "MAX")
    if norm == "MAX":
        size = cv.op("reduce_max", x, axes=[1], keepdims=True)
    elif norm == "L1":
        size = cv.op("reduce_sum", cv.op("abs", x), axes=[1], keepdims=True)
    else:
        size = cv.op("sqrt", cv.op("reduce_sum", cv.op("mul", x, x), axes=[1], keepdims=True))
    return cv.op("div", x, size)


@onnx_op("Binarizer", domain=ML)
def _binarizer(cv, ins, at):
    x = cv.value(ins[0])
    return cv.op("cast", cv.op("gt", x, cv.scalar(at.get("threshold", 0.0), x)),
                 to=x.type.dtype)


@onnx_op("Imputer", domain=ML)
def _imputer(cv, ins, at):
    """Replace NaN (``x != x``) or the given missing value by the per-feature fill values."""
    x = cv.value(ins[0])
    fill = np.asarray(at.get("imputed_value_floats") or at.get("imputed_value_int64s"))
    marker = at.get("replaced_value_float", float("nan"))
    missing = cv.op("ne", x, x) if np.isnan(marker) else cv.op("eq", x, cv.scalar(marker, x))
    return cv.op("where", missing, fill.astype(np.float32 if x.type.dtype.is_float
                                               else np.int64), x)


@onnx_op("OneHotEncoder", domain=ML)
def _one_hot(cv, ins, at):
    """``x[..., None] == categories`` as float: one comparison per element and category. String
    categories compare as the codes that stand for strings (``STRING_CODES``): 0, 1, …"""
    categories = at.get("cats_int64s") or list(range(len(at.get("cats_strings") or [])))
    if not categories:
        raise Unmappable("OneHotEncoder without categories")
    x = cv.value(ins[0])
    x = x if x.type.dtype.name == "i64" else cv.op("cast", x, to="i64")
    hits = cv.op("eq", cv.op("unsqueeze", x, axes=[x.type.rank]),
                 np.asarray(categories, np.int64))
    return cv.op("cast", hits, to="f32")


DENSE_KEYS = 1 << 20       # the largest integer key a LabelEncoder table is laid out for


@onnx_op("LabelEncoder", domain=ML)
def _label_encoder(cv, ins, at):
    """A table lookup, as ONNX Runtime's hash map does it: one read per element. Integer keys
    (integral float keys too: IsolationForest's node ids) index a dense table holding the
    default where no key is; string keys are their codes 0, 1, … (``STRING_CODES``); string
    values become codes likewise. Other float keys stay unmodeled."""
    def side(kind: str) -> list[Any] | None:
        """The keys or values: numbers as given, strings as their codes."""
        numbers = at.get(f"{kind}_int64s") or at.get(f"{kind}_floats")
        strings = at.get(f"{kind}_strings")
        return numbers or (list(range(len(strings))) if strings else None)
    values = side("values")
    keys = np.asarray(side("keys") or [], np.float64)
    if not keys.size or values is None or (keys != np.round(keys)).any() or keys.min() < 0 \
            or keys.max() >= DENSE_KEYS:
        raise Unmappable("LabelEncoder with keys that are no small non-negative integers")
    floats = "values_floats" in at
    table = np.full(int(keys.max()) + 1, at.get("default_float", 0.0) if floats else
                    at.get("default_int64", -1), np.float32 if floats else np.int64)
    table[keys.astype(np.int64)] = values
    x = cv.value(ins[0])
    x = x if x.type.dtype.name == "i64" else cv.op("cast", x, to="i64")
    return cv.op("gather", table, x, axis=0)


@onnx_op("ArrayFeatureExtractor", domain=ML)
def _array_feature_extractor(cv, ins, at):
    indices = ins[1] if not isinstance(ins[1], np.ndarray) else \
        np.asarray(ins[1], np.int64).reshape(-1)
    return cv.op("gather", ins[0], indices, axis=-1)


@onnx_op("ZipMap", domain=ML)
def _zipmap(cv, ins, at):
    """Packaging probabilities as a sequence of {label: p} maps moves no arithmetic: the
    probabilities tensor stands for it."""
    return ins[0]


@onnx_op("FeatureVectorizer", domain=ML)
def _feature_vectorizer(cv, ins, at):
    values = [_float_input(cv, v) for v in ins]
    return cv.op("concat", *values, axis=1) if len(values) > 1 else values[0]


@onnx_op("CDist", domain="com.microsoft")
def _cdist(cv, ins, at):
    """Pairwise distances as a matrix product: ``‖a‖² − 2a·bᵀ + ‖b‖²`` (then sqrt for
    euclidean)."""
    a, b = cv.value(ins[0]), cv.value(ins[1])
    metric = at.get("metric", "sqeuclidean")
    if metric not in ("sqeuclidean", "euclidean"):
        raise Unmappable(f"CDist metric {metric}")
    a2 = cv.op("reduce_sum", cv.op("mul", a, a), axes=[1], keepdims=True)
    b2 = cv.op("unsqueeze", cv.op("reduce_sum", cv.op("mul", b, b), axes=[1]), axes=[0])
    dot = cv.op("matmul", a, cv.op("transpose", b, perm=[1, 0]))
    dist = cv.op("add", cv.op("sub", a2, cv.op("mul", dot, cv.scalar(2.0, dot))), b2)
    return cv.op("sqrt", dist) if metric == "euclidean" else dist
