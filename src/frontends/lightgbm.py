"""LightGBM frontend: ``LGBMClassifier``, ``LGBMRegressor``, ``Booster`` and LightGBM's own text
model files (plain data, safe to load) through onnxmltools, then the ONNX frontend, so every tree
keeps its real structure. Classifiers are converted without ZipMap (probabilities stay a
tensor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nexus_ir import Graph, NexusError

from . import require

ONNX_OPSET = 15          # what onnxmltools' LightGBM converter writes (its newest tested opset)
MODEL_SUFFIXES = (".txt", ".lgb", ".model")


def is_model_file(path: Path) -> bool:
    """A LightGBM text model: it starts with ``tree`` and a ``version=`` line."""
    try:
        with path.open("rb") as handle:
            return handle.read(32).startswith(b"tree\nversion=")
    except OSError:
        return False


def load_booster(path: str | Path) -> Any:
    """A ``Booster`` from a LightGBM text model file."""
    lgb = require("lightgbm", "trees")

    path = Path(path)
    if not path.is_file():
        raise NexusError(f"model file {path} does not exist")
    if not is_model_file(path):
        raise NexusError(f"{path} is not a LightGBM text model (it should start with 'tree' "
                         "and 'version=': save it with Booster.save_model)")
    return lgb.Booster(model_file=str(path))


def to_onnx_model(model: Any) -> Any:
    """The model as an ONNX ``ModelProto`` through onnxmltools."""
    lgb = require("lightgbm", "trees")
    convert_lightgbm = require("onnxmltools", "trees").convert_lightgbm
    FloatTensorType = require("onnxmltools.convert.common.data_types", "trees").FloatTensorType

    if isinstance(model, lgb.LGBMModel):
        if not getattr(model, "fitted_", False):
            raise NexusError(f"{type(model).__name__} is not fitted; fit it first")
        features = model.n_features_in_
    elif isinstance(model, lgb.Booster):
        features = model.num_feature()
    else:
        raise NexusError(f"expected an LGBMClassifier, LGBMRegressor or Booster, got "
                         f"{type(model).__name__}")
    try:
        return convert_lightgbm(model, initial_types=[("X", FloatTensorType([None, features]))],
                                zipmap=False, target_opset=ONNX_OPSET)
    except Exception as err:   # onnxmltools raises many types; the user needs its message
        raise NexusError(f"onnxmltools cannot convert this LightGBM model: {err}") from None


def from_lightgbm(model: Any, name: str | None = None) -> Graph:
    """Lower a LightGBM model, or its text model file, to a NEXUS graph."""
    from .onnx import from_onnx

    if isinstance(model, (str, Path)):
        name = name or Path(model).stem
        model = load_booster(model)
    return from_onnx(to_onnx_model(model), name=name or type(model).__name__)
