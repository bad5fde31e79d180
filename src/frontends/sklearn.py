"""scikit-learn frontend: fitted estimators and Pipelines through skl2onnx, then the ONNX
frontend.

Classifiers are converted without ZipMap (probabilities stay a tensor) and k-nearest-neighbours
with skl2onnx's ``cdist`` form (one distance matrix, mapped to a matrix product) rather than a
``Scan`` loop the IR cannot see into. Saved models: ``.skops`` files load through skops'
trusted-types check; ``.pkl``/``.joblib`` files unpickle, which runs code, so they load only when
the caller passes ``trust_pickle=True``.
"""

from __future__ import annotations

import sys
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


def is_dataframe(example: Any) -> bool:
    """A pandas DataFrame (without importing pandas when nobody has)."""
    return type(example).__name__ == "DataFrame" and hasattr(example, "dtypes")


def dataframe_columns(frame: Any) -> dict[str, np.ndarray]:
    """A DataFrame as the graph inputs skl2onnx makes of it, one ``[n, 1]`` column each:
    floats as float32, integers and booleans as int64, strings and categories as their codes
    in order of first appearance (``frontends.onnx`` types strings as codes)."""
    import pandas as pd

    columns = {}
    for name in frame.columns:
        column = frame[name]
        numeric = _numeric_dtype(column.dtype)
        values = column.to_numpy(numeric) if numeric else \
            pd.factorize(column)[0].astype(np.int64)
        columns[str(name)] = values.reshape(-1, 1)
    return columns


def _numeric_dtype(dtype: Any) -> Any:
    """The numpy type NEXUS reads a column or array of ``dtype`` as: float32 for floats,
    int64 for integers and booleans, None for anything else (strings, categories)."""
    return np.float32 if dtype.kind == "f" else np.int64 if dtype.kind in "iub" else None


def _example(example: Any) -> Any:
    """What stands for the model's input: one row of a DataFrame (numbers as
    ``_numeric_dtype`` says, other columns as strings: skl2onnx makes one input per column), or
    a one-row array from rows of data or a feature count."""
    if is_dataframe(example):
        row = example.iloc[:1].copy()
        for name in row.columns:
            row[name] = row[name].astype(_numeric_dtype(row[name].dtype) or str)
        return row
    if isinstance(example, (int, np.integer)):
        return np.zeros((1, int(example)), np.float32)
    array = np.asarray(example)
    if array.ndim != 2:
        raise NexusError(f"example input must be rows of features [n, features] or a feature "
                         f"count, got shape {array.shape}")
    numeric = _numeric_dtype(array.dtype)
    if numeric:
        return array[:1].astype(numeric)
    raise NexusError(f"example input of dtype {array.dtype} is not numeric; NEXUS costs tensors "
                     "of numbers (encode categories as integers)")


BOOSTERS = {   # library: (classifier, regressor, skl2onnx alias prefix, onnxmltools converter)
    "xgboost": ("XGBClassifier", "XGBRegressor", "XGBoost",
                "onnxmltools.convert.xgboost.operator_converters.XGBoost:convert_xgboost"),
    "lightgbm": ("LGBMClassifier", "LGBMRegressor", "LightGbm",
                 "onnxmltools.convert.lightgbm.operator_converters.LightGbm:convert_lightgbm"),
}
_REGISTERED: set[str] = set()


def _register_boosters() -> None:
    """Teach skl2onnx the XGBoost and LightGBM estimators (onnxmltools' converters, as
    skl2onnx documents), for pipelines that end in one; once per library, and only for a
    library already imported."""
    import importlib

    update = require("skl2onnx", "trees").update_registered_converter
    shapes = require("skl2onnx.common.shape_calculator", "trees")
    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for library, (classifier, regressor, alias, where) in BOOSTERS.items():
        if library not in sys.modules or library in _REGISTERED:
            continue
        module, converter = where.split(":")
        convert = getattr(importlib.import_module(module), converter)
        estimators = sys.modules[library]
        update(getattr(estimators, classifier), f"{alias}{classifier}",
               shapes.calculate_linear_classifier_output_shapes, convert,
               options=classifier_options)
        update(getattr(estimators, regressor), f"{alias}{regressor}",
               shapes.calculate_linear_regressor_output_shapes, convert)
        _REGISTERED.add(library)


def to_onnx_model(model: Any, example: Any) -> Any:
    """The fitted estimator as an ONNX ``ModelProto`` (skl2onnx, opsets ``ONNX_OPSET``)."""
    check_is_fitted = require("sklearn.utils.validation", "trees").check_is_fitted
    convert_sklearn = require("skl2onnx", "trees").convert_sklearn
    guess_initial_types = require("skl2onnx.algebra.type_helper", "trees").guess_initial_types

    try:
        check_is_fitted(_final_step(model))
    except Exception as err:
        raise NexusError(f"{type(model).__name__} is not fitted ({err}); fit it first") from None
    _register_boosters()
    try:
        onnx_model, topology = convert_sklearn(
            model, initial_types=guess_initial_types(_example(example), None),
            options=_options(model), target_opset=ONNX_OPSET, intermediate=True)
    except NexusError:
        raise
    except Exception as err:
        raise NexusError(f"skl2onnx cannot convert {type(model).__name__}: {err}") from None
    _name_by_step(onnx_model, topology, _step_paths(model))
    return onnx_model


def _step_paths(model: Any, prefix: str = "", paths: dict[int, str] | None = None
                ) -> dict[int, str]:
    """id(estimator) → its path of step names (``prep.num``, ``clf``) through pipelines, column
    transformers (their fitted transformers) and feature unions; a lone estimator is its
    class name."""
    paths = {} if paths is None else paths
    paths[id(model)] = prefix or type(model).__name__
    children = [*getattr(model, "steps", []), *getattr(model, "transformers_", []),
                *getattr(model, "transformer_list", [])]
    for name, sub, *_ in children:
        if hasattr(sub, "get_params"):
            _step_paths(sub, f"{prefix}.{name}" if prefix else name, paths)
    return paths


def _name_by_step(onnx_model: Any, topology: Any, paths: dict[int, str]) -> None:
    """Rename each ONNX node ``/STEP.PATH/NAME`` after the estimator whose converter wrote it —
    the nodes between that operator's inputs and its outputs — so that reports group energy by
    pipeline step rather than by ONNX op type."""
    producer = {out: node for node in onnx_model.graph.node for out in node.output}
    step_of: dict[int, str] = {}
    for op in topology.unordered_operator_iterator():
        if id(op.raw_operator) not in paths:
            continue
        inputs = {v.onnx_name for v in op.inputs}
        stack = [v.onnx_name for v in op.outputs]
        while stack:
            name = stack.pop()
            node = producer.get(name)
            if node is None or name in inputs or id(node) in step_of:
                continue
            step_of[id(node)] = paths[id(op.raw_operator)]
            stack.extend(node.input)
    consumers: dict[str, list[Any]] = {}
    for node in onnx_model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in onnx_model.graph.node:             # glue a container wrote (column selection,
        if id(node) not in step_of:                # the final concat): where its data meet
            before = [step_of[id(producer[i])] for i in node.input
                      if i in producer and id(producer[i]) in step_of]
            after = [step_of[id(c)] for o in node.output for c in consumers.get(o, [])
                     if id(c) in step_of]
            path = _common_path(before) if before else \
                after[0].rpartition(".")[0] or after[0] if after else None
            if path:
                step_of[id(node)] = path
    for node in onnx_model.graph.node:
        if id(node) in step_of:
            node.name = f"/{step_of[id(node)]}/{node.name}"


def _common_path(paths: list[str]) -> str:
    """The longest dotted prefix all ``paths`` share (``prep.num``, ``prep.cat`` → ``prep``)."""
    parts = [p.split(".") for p in paths]
    common = []
    for names in zip(*parts):
        if len(set(names)) > 1:
            break
        common.append(names[0])
    return ".".join(common)


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
        try:
            untrusted = [t for t in sio.get_untrusted_types(file=path)
                         if t not in (trusted_types or [])]
            if untrusted:
                raise NexusError(f"{path} contains types skops does not trust: "
                                 f"{', '.join(untrusted)}; if you trust this file, pass them "
                                 "as trusted types")
            return sio.load(path, trusted=trusted_types or [])
        except NexusError:
            raise
        except Exception as err:      # zipfile.BadZipFile, KeyError, JSON errors of a bad file
            raise NexusError(f"{path} is not a valid .skops file ({type(err).__name__}: "
                             f"{str(err)[:200]}); save it again with skops.io.dump") from None
    if path.suffix in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise NexusError(f"{path} is a pickle: loading it runs code from the file. Pass "
                             "trust_pickle=True (CLI: --trust-pickle) only for files you trust")
        import joblib
        return joblib.load(path)
    raise NexusError(f"{path}: unknown model file type '{path.suffix}' for scikit-learn (use "
                     ".skops, or .pkl/.joblib with trust_pickle)")
