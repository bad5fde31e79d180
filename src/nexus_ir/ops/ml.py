"""Classic ML ops: tree ensembles and linear models, with their structure as attributes.

A ``tree_ensemble`` carries every tree node in flat arrays (one entry per node, all trees
concatenated), so the cost model can follow real depths and, given data, real paths:

- ``tree_roots[t]``: index of tree t's root node;
- ``feature_ids[n]``, ``thresholds[n]``: the split of node n;
- ``modes[n]``: index into ``BRANCH_MODES`` (``leaf`` for leaves);
- ``true_children[n]``, ``false_children[n]``: where the comparison sends a row (-1 at leaves);
- ``leaf_values[n, k]``: contribution of leaf n to target k (0 for inner nodes);
- ``missing_goes_true[n]`` (optional): branch taken by a NaN feature.

Scores are aggregated over trees (``aggregate``), offset by ``base_values`` and passed through
``post_transform``; a classifier's label is a separate ``argmax`` node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..attrs import ARRAY, INT, Attr, one_of
from ..dtypes import f32
from ..errors import ShapeError
from ..registry import define_op, register_op
from ..types import TensorType
from ._common import require_dim, require_rank

BRANCH_MODES = ("leaf", "leq", "lt", "gte", "gt", "eq", "neq", "member")
POST_TRANSFORMS = ("none", "softmax", "logistic", "softmax_zero", "probit")


def _check_trees(a: Mapping[str, Any]) -> None:
    """Structural validity: array lengths agree, children and roots are in range, every tree is
    a tree (no node reached twice), leaves have no children, inner nodes have two and split a
    feature of index 0 or more."""
    n = len(a["modes"])
    for key in ("feature_ids", "thresholds", "true_children", "false_children"):
        if a[key].shape != (n,):
            raise ValueError(f"{key} must have one entry per node ({n}), got shape "
                             f"{a[key].shape}")
    if a["leaf_values"].shape != (n, a["n_targets"]):
        raise ValueError(f"leaf_values must have shape ({n}, {a['n_targets']}), got "
                         f"{a['leaf_values'].shape}")
    if a["missing_goes_true"].size and a["missing_goes_true"].shape != (n,):
        raise ValueError("missing_goes_true must be empty or have one entry per node")
    if a["base_values"].size not in (0, a["n_targets"]):
        raise ValueError(f"base_values must be empty or have {a['n_targets']} entries")
    modes = a["modes"]
    if n and (modes.min() < 0 or modes.max() >= len(BRANCH_MODES)):
        raise ValueError(f"modes must index BRANCH_MODES {BRANCH_MODES}")
    seen = [False] * n
    for root in a["tree_roots"].tolist():
        stack = [root]
        while stack:
            node = stack.pop()
            if not 0 <= node < n:
                raise ValueError(f"node index {node} is out of range (0..{n - 1})")
            if seen[node]:
                raise ValueError(f"node {node} is reached twice; trees must not share nodes")
            seen[node] = True
            kids = (int(a["true_children"][node]), int(a["false_children"][node]))
            if modes[node] == 0:
                if kids != (-1, -1):
                    raise ValueError(f"leaf {node} has children {kids}")
            else:
                if -1 in kids:
                    raise ValueError(f"inner node {node} lacks a child")
                if a["feature_ids"][node] < 0:
                    raise ValueError(f"inner node {node} splits feature "
                                     f"{int(a['feature_ids'][node])}")
                stack.extend(kids)



@register_op("tree_ensemble", inputs=1, category="tree", check=_check_trees, attrs={
    "n_targets": Attr(INT),
    "tree_roots": Attr(ARRAY), "feature_ids": Attr(ARRAY), "thresholds": Attr(ARRAY),
    "modes": Attr(ARRAY), "true_children": Attr(ARRAY), "false_children": Attr(ARRAY),
    "leaf_values": Attr(ARRAY),
    "missing_goes_true": Attr(ARRAY, ()),
    "base_values": Attr(ARRAY, ()),
    "aggregate": Attr(one_of("sum", "average", "min", "max"), "sum"),
    "post_transform": Attr(one_of(*POST_TRANSFORMS), "none")})
def _tree_ensemble(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Scores ``[N, n_targets]`` (f32) of an ensemble of decision trees over ``x[N, F]``."""
    x = t[0]
    require_rank(x, 2, what="x")
    inner = a["modes"] != 0
    if inner.any() and isinstance(x.shape[1], int):
        top = int(a["feature_ids"][inner].max())
        if top >= x.shape[1]:
            raise ShapeError(f"a split reads feature {top} but x has {x.shape[1]} features")
    return TensorType((x.shape[0], a["n_targets"]), f32)


def _check_linear(a: Mapping[str, Any]) -> None:
    coef, intercepts = a["coefficients"], a["intercepts"]
    if coef.ndim != 2:
        raise ValueError(f"coefficients must be [n_outputs, n_features], got shape {coef.shape}")
    if intercepts.size not in (0, coef.shape[0]):
        raise ValueError(f"intercepts must be empty or have {coef.shape[0]} entries")


def _linear_model(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Scores ``x[N, F] @ coefficients[K, F]^T + intercepts[K]`` → ``[N, K]`` (f32)."""
    x = t[0]
    require_rank(x, 2, what="x")
    require_dim(x.shape[1], a["coefficients"].shape[1], "x features differ from coefficients'")
    return TensorType((x.shape[0], a["coefficients"].shape[0]), f32)


for _name in ("linear_classifier", "linear_regressor"):
    define_op(_name, infer=_linear_model, inputs=(1, 1), category="linear_model",
              check=_check_linear, doc=_linear_model.__doc__, attrs={
                  "coefficients": Attr(ARRAY), "intercepts": Attr(ARRAY, ()),
                  "post_transform": Attr(one_of(*POST_TRANSFORMS), "none")})
