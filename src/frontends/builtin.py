"""The built-in frontends, registered lazily: each loader imports its framework only when a
model of that framework arrives."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nexus_ir import Graph, NexusError

from .pytorch.export import is_torch_model
from .registry import load_object, register_frontend


def _top_module(model: Any) -> str:
    return type(model).__module__.split(".")[0]


def _is_nexus_json(path: Path) -> bool:
    """A NEXUS graph document (``schema_version`` first) rather than an XGBoost model file."""
    with path.open("rb") as handle:
        return b'"schema_version"' in handle.read(256)


def _is_decoder(model: Any) -> bool:
    """A transformers decoder model or config whose architecture ``frontends.llm`` knows."""
    if _top_module(model) != "transformers":
        return False
    from .llm import FAMILIES
    return getattr(getattr(model, "config", model), "model_type", None) in FAMILIES


def _is_decoder_config(path: Path) -> bool:
    """A transformers ``config.json`` of a known decoder."""
    from .llm import FAMILIES
    try:
        return json.loads(path.read_text()).get("model_type") in FAMILIES
    except (ValueError, AttributeError, RecursionError):
        return False


def _decoder_dtype(model: Any) -> str:
    """The dtype a decoder runs at: a model's own weights', a config's ``torch_dtype`` (or
    ``dtype``), else bf16, the dtype decoders are served at."""
    weights = next(iter(getattr(model, "parameters", lambda: iter(()))()), None)
    if weights is not None:
        from .pytorch import TORCH_DTYPES
        return TORCH_DTYPES.get(str(weights.dtype), "bf16")
    from .llm import read_config
    config = read_config(model)
    named = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    named = named.removeprefix("torch.")
    return {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}.get(named, "bf16")


@register_frontend("transformers-decoder", suffixes=(".json",), sniff=_is_decoder_config,
                   accepts=_is_decoder)
def _decoder(model: Any, example_inputs: Any, trust_pickle: bool) -> Graph:
    """A transformers decoder (model, config or ``config.json``): its prefill graph over
    ``input_ids [batch, seq]`` at the model's dtype from the architecture alone
    (``frontends.llm``). Example token ids bind batch and seq; a mixture of experts needs them,
    since the experts its batch × seq tokens reach (under uniform routing) size its graph
    (``nexus llm`` sizes them per point, or over a router's measured load)."""
    from .llm import decoder_graph, decoder_spec
    spec = decoder_spec(model)
    ids = example_inputs[0] if isinstance(example_inputs, (tuple, list)) and example_inputs \
        else example_inputs
    if isinstance(ids, Mapping):
        ids = ids.get("input_ids")
    shape = getattr(ids, "shape", None)
    if spec.experts and not shape:
        raise NexusError(f"{spec.name} is a mixture of experts: give example input_ids "
                         "[batch, seq] to size the experts a prefill reaches, or use nexus llm")
    graph = decoder_graph(spec, "prefill", _decoder_dtype(model),
                          routed_tokens=shape[0] * shape[1] if shape else None)
    return graph.bind_symbols({"batch": shape[0], "seq": shape[1]}) if shape else graph


@register_frontend("nexus-graph", suffixes=(".json",), sniff=_is_nexus_json,
                   accepts=lambda m: isinstance(m, Graph))
def _nexus_graph(model: Any, example_inputs: Any, trust_pickle: bool) -> Graph:
    """A NEXUS graph, or its JSON document."""
    return model if isinstance(model, Graph) else Graph.from_json(Path(model).read_text())


@register_frontend("pytorch", suffixes=(".pt2",), accepts=is_torch_model, opens_itself=True)
def _pytorch(model: Any, example_inputs: Any, trust_pickle: bool) -> Graph:
    """PyTorch ``nn.Module`` (with example inputs) or ``ExportedProgram`` via ``torch.export``;
    ``.pt2`` files (they unpickle: only with trust_pickle)."""
    if isinstance(model, Path):
        from .pytorch import load_pt2
        return load_pt2(str(model), trust_pickle)
    from .pytorch import from_torch
    return from_torch(model, example_inputs)


@register_frontend("onnx", suffixes=(".onnx",),
                   accepts=lambda m: _top_module(m) == "onnx" and
                   type(m).__name__ == "ModelProto")
def _onnx(model: Any, example_inputs: Any, trust_pickle: bool) -> Graph:
    """ONNX ``ModelProto`` or ``.onnx`` file (standard ops and ``ai.onnx.ml``)."""
    from .onnx import from_onnx
    return from_onnx(model)


@register_frontend("tflite", suffixes=(".tflite",))
def _tflite(model: Any, example_inputs: Any, trust_pickle: bool) -> Graph:
    """TFLite flatbuffers (``.tflite``): float and int8/int16 models, TFLite Micro's op set."""
    from .tflite import load_tflite
    return load_tflite(Path(model))


@register_frontend("xgboost", suffixes=(".json", ".ubj"),
                   accepts=lambda m: _top_module(m) == "xgboost")
def _xgboost(model: Any, example_inputs: Any, trust_pickle: bool) -> Graph:
    """XGBoost boosters and estimators, and their ``.json``/``.ubj`` files (onnxmltools)."""
    from .xgboost import from_xgboost
    return from_xgboost(model)


def _is_lightgbm_file(path: Path) -> bool:
    from .lightgbm import is_model_file
    return is_model_file(path)


@register_frontend("lightgbm", suffixes=(".txt", ".lgb", ".model"), sniff=_is_lightgbm_file,
                   accepts=lambda m: _top_module(m) == "lightgbm")
def _lightgbm(model: Any, example_inputs: Any, trust_pickle: bool) -> Graph:
    """LightGBM boosters and estimators, and their text model files (onnxmltools)."""
    from .lightgbm import from_lightgbm
    return from_lightgbm(model)


def _classic_example(model: Any, example_inputs: Any) -> Any:
    """Rows (or a feature count) describing a scikit-learn model's input."""
    if example_inputs is not None and not isinstance(example_inputs, Mapping):
        return example_inputs
    if example_inputs:
        return next(iter(example_inputs.values()))
    if hasattr(model, "n_features_in_"):
        return int(model.n_features_in_)
    raise NexusError(f"{type(model).__name__} does not record its number of features; pass "
                     "example rows as example_inputs")


def _sklearn_like(model: Any) -> bool:
    return _top_module(model) == "sklearn" or hasattr(model, "get_params") and \
        hasattr(model, "fit")


@register_frontend("sklearn", suffixes=(".skops", ".pkl", ".pickle", ".joblib"),
                   accepts=_sklearn_like)
def _sklearn(model: Any, example_inputs: Any, trust_pickle: bool) -> Graph:
    """Fitted scikit-learn estimators and pipelines (skl2onnx); ``.skops`` files, and
    ``.pkl``/``.joblib`` only with trust_pickle. A file may hold any model another frontend
    takes."""
    if isinstance(model, Path):
        from .sklearn import load_model_file
        loaded = load_model_file(model, trust_pickle)
        if not _sklearn_like(loaded):
            return load_object(loaded, example_inputs, trust_pickle)
        model = loaded
    from .sklearn import from_sklearn
    return from_sklearn(model, _classic_example(model, example_inputs))

