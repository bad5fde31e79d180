"""XGBoost frontend: ``XGBClassifier``, ``XGBRegressor``, ``Booster`` and XGBoost's own
``.json``/``.ubj`` model files (plain data, safe to load) through onnxmltools, then the ONNX
frontend, so every tree keeps its real structure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nexus_ir import Graph, NexusError

from . import require

ONNX_OPSET = 15          # the newest default-domain opset onnxmltools' XGBoost converter writes
MODEL_SUFFIXES = (".json", ".ubj")


def load_booster(path: str | Path) -> Any:
    """A ``Booster`` from an XGBoost ``.json`` or ``.ubj`` model file."""
    xgb = require("xgboost", "trees")

    path = Path(path)
    if not path.is_file():
        raise NexusError(f"model file {path} does not exist")
    if path.suffix not in MODEL_SUFFIXES:
        raise NexusError(f"{path}: XGBoost model files end in .json or .ubj")
    try:
        return xgb.Booster(model_file=str(path))
    except Exception as err:
        raise NexusError(f"{path} is not an XGBoost model file ({err})") from None


def to_onnx_model(model: Any, n_features: int | None = None) -> Any:
    """The model as an ONNX ``ModelProto`` through onnxmltools."""
    xgb = require("xgboost", "trees")
    convert_xgboost = require("onnxmltools", "trees").convert_xgboost
    FloatTensorType = require("onnxmltools.convert.common.data_types", "trees").FloatTensorType

    booster = model.get_booster() if isinstance(model, xgb.XGBModel) else model
    if not isinstance(booster, xgb.Booster):
        raise NexusError(f"expected an XGBClassifier, XGBRegressor or Booster, got "
                         f"{type(model).__name__}")
    features = n_features or booster.num_features()
    try:
        return convert_xgboost(model, initial_types=[("X", FloatTensorType([None, features]))],
                               target_opset=ONNX_OPSET)
    except Exception as err:
        raise NexusError(f"onnxmltools cannot convert this XGBoost model: {err}") from None


def from_xgboost(model: Any, n_features: int | None = None, name: str | None = None) -> Graph:
    """Lower an XGBoost model, or an XGBoost ``.json``/``.ubj`` file, to a NEXUS graph."""
    from .onnx import from_onnx

    if isinstance(model, (str, Path)):
        name = name or Path(model).stem
        model = load_booster(model)
    return from_onnx(to_onnx_model(model, n_features), name=name or type(model).__name__)
