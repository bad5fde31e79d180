"""scikit-learn frontend: fitted estimators and Pipelines through skl2onnx, then the ONNX
frontend.

Classifiers are converted without ZipMap (probabilities stay a tensor) and k-nearest-neighbours
with skl2onnx's ``cdist`` form (one distance matrix, mapped to a matrix product) rather than a
``Scan`` loop the IR cannot see into. Saved models: ``.skops`` files load through skops'
trusted-types check; ``.pkl``/``.joblib`` files unpickle, which runs code, so they load only when
the caller passes ``trust_pickle=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nexus_ir import Graph, NexusError

from . import require

ONNX_OPSET = {"": 17, "ai.onnx.ml": 3}
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


def _estimators(model: Any) -> list[Any]:
    """The estimator and every estimator nested in it (pipeline steps, column transformers)."""
    from sklearn.base import BaseEstimator
    found = [model]
    params = model.get_params(deep=True) if hasattr(model, "get_params") else {}
    found += [v for v in params.values() if isinstance(v, BaseEstimator)]
    return found


def _final_step(model: Any) -> Any:
    while hasattr(model, "steps"):
        model = model.steps[-1][1]
    return model


def _options(model: Any) -> dict[int, dict[str, Any]]:
    """skl2onnx options: no ZipMap on the final classifier, cdist for neighbours."""
    from sklearn.base import is_classifier
    options: dict[int, dict[str, Any]] = {}
    final = _final_step(model)
    for est in _estimators(model):
        name = type(est).__name__
        if name.startswith(("KNeighbors", "RadiusNeighbors")):
            options.setdefault(id(est), {})["optim"] = "cdist"
    if is_classifier(final) and (hasattr(final, "predict_proba") or type(final).__name__ in
                                 ("LinearSVC", "SVC", "RidgeClassifier", "SGDClassifier")):
        options.setdefault(id(final), {})["zipmap"] = False
    return options


def _example(example: Any) -> np.ndarray:
    """A one-row array standing for the model's input: from rows of data or a feature count."""
    if isinstance(example, (int, np.integer)):
        return np.zeros((1, int(example)), np.float32)
    array = np.asarray(example)
    if array.ndim != 2:
        raise NexusError(f"example input must be rows of features [n, features] or a feature "
                         f"count, got shape {array.shape}")
    if array.dtype.kind == "f":
        return array[:1].astype(np.float32)
    if array.dtype.kind in "iub":
        return array[:1].astype(np.int64)
    raise NexusError(f"example input of dtype {array.dtype} is not numeric; NEXUS costs tensors "
                     "of numbers (encode categories as integers)")


def to_onnx_model(model: Any, example: Any) -> Any:
    """The fitted estimator as an ONNX ``ModelProto`` (skl2onnx, opsets ``ONNX_OPSET``)."""
    check_is_fitted = require("sklearn.utils.validation", "trees").check_is_fitted
    to_onnx = require("skl2onnx", "trees").to_onnx

    try:
        check_is_fitted(_final_step(model))
    except Exception as err:
        raise NexusError(f"{type(model).__name__} is not fitted ({err}); fit it first") from None
    try:
        return to_onnx(model, _example(example), options=_options(model),
                       target_opset=ONNX_OPSET)
    except NexusError:
        raise
    except Exception as err:
        raise NexusError(f"skl2onnx cannot convert {type(model).__name__}: {err}") from None


def from_sklearn(model: Any, example: Any, name: str | None = None) -> Graph:
    """Lower a fitted scikit-learn estimator or Pipeline; ``example`` is rows of input data
    (only the first row's dtype and width are used) or the number of features."""
    from .onnx import from_onnx
    return from_onnx(to_onnx_model(model, example), name=name or type(model).__name__)


def load_model_file(path: str | Path, trust_pickle: bool = False,
                    trusted_types: list[str] | None = None) -> Any:
    """A saved estimator: ``.skops`` through skops' type check (types outside its safe set must
    be named in ``trusted_types``); ``.pkl``/``.joblib`` only with ``trust_pickle``."""
    path = Path(path)
    if not path.is_file():
        raise NexusError(f"model file {path} does not exist")
    if path.suffix == ".skops":
        sio = require("skops.io", "trees")
        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in (trusted_types or [])]
        if untrusted:
            raise NexusError(f"{path} contains types skops does not trust: {', '.join(untrusted)}"
                             "; if you trust this file, pass them as trusted types")
        return sio.load(path, trusted=trusted_types or [])
    if path.suffix in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise NexusError(f"{path} is a pickle: loading it runs code from the file. Pass "
                             "trust_pickle=True (CLI: --trust-pickle) only for files you trust")
        import joblib
        return joblib.load(path)
    raise NexusError(f"{path}: unknown model file type '{path.suffix}' for scikit-learn (use "
                     ".skops, or .pkl/.joblib with trust_pickle)")
