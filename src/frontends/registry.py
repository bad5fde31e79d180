"""The frontend registry: which frontend takes a Python object or a model file.

``compile()`` asks here instead of knowing any framework. A frontend is one loading function
and one decorator; it says which objects it takes (a predicate that must not import heavy
packages: check ``type(obj).__module__`` or ``sys.modules``) and which file suffixes it reads,
with an optional ``sniff`` for suffixes several formats share (``.json``)::

    @register_frontend("keras", suffixes=(".keras",),
                       accepts=lambda m: type(m).__module__.startswith("keras"))
    def load_keras(model, example_inputs, trust_pickle):
        return my_converter(model)          # a nexus_ir.Graph

A loader receives the object (or the file's ``Path``), the example inputs the user gave, and
whether the user allowed unpickling; it returns a ``Graph``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_ir import Graph, NexusError
from nexus_ir.registry import add_unique

Loader = Callable[[Any, Any, bool], Graph]


@dataclass(frozen=True)
class Frontend:
    """One registered frontend."""

    name: str
    load: Loader
    accepts: Callable[[Any], bool] | None
    suffixes: tuple[str, ...]
    sniff: Callable[[Path], bool] | None
    opens_itself: bool


_FRONTENDS: dict[str, Frontend] = {}
BUILTIN = ("transformers-decoder", "nexus-graph", "pytorch", "onnx", "tflite", "xgboost",
           "lightgbm", "sklearn")
BUILTIN_FORMATS = (".onnx, .pt2, .tflite, .json (NEXUS graph, XGBoost or a transformers decoder's config), "
                   ".ubj, .txt (a LightGBM model), .skops, and .pkl/.joblib with trust_pickle")


def register_frontend(name: str, *, suffixes: tuple[str, ...] = (),
                      accepts: Callable[[Any], bool] | None = None,
                      sniff: Callable[[Path], bool] | None = None,
                      opens_itself: bool = False, replace: bool = False
                      ) -> Callable[[Loader], Loader]:
    """Decorator: register ``load(model_or_path, example_inputs, trust_pickle) -> Graph`` as the
    frontend ``name``. Frontends are asked in registration order; a user's frontend registered
    with ``replace=True`` under a built-in name takes its place. ``opens_itself``: the loader
    checks the path itself (to refuse an untrusted pickle before looking at the file)."""
    if not accepts and not suffixes:
        raise NexusError(f"frontend '{name}' takes neither objects (accepts=) nor files "
                         "(suffixes=)")

    def decorate(load: Loader) -> Loader:
        add_unique(_FRONTENDS, name, Frontend(name, load, accepts,
                                              tuple(s.lower() for s in suffixes), sniff,
                                              opens_itself), "frontend", replace)
        return load
    return decorate


def registered_frontends() -> list[Frontend]:
    """Every frontend, in the order they are asked."""
    return list(_FRONTENDS.values())


def frontend_for_object(model: Any) -> Frontend | None:
    """The first frontend whose ``accepts`` takes ``model``, or None."""
    return next((f for f in _FRONTENDS.values() if f.accepts and f.accepts(model)), None)


def frontend_for_file(path: Path) -> Frontend:
    """The frontend that reads ``path`` (by suffix, then ``sniff``); one clear error naming
    the suffixes NEXUS reads when none does."""
    suffix = path.suffix.lower()
    matches = [f for f in _FRONTENDS.values() if suffix in f.suffixes]
    for frontend in matches:
        if frontend.sniff is None or (path.is_file() and frontend.sniff(path)):
            return frontend
    added = [f"{s} ({f.name})" for f in _FRONTENDS.values() if f.name not in BUILTIN
             for s in f.suffixes]
    raise NexusError(f"unknown model format '{path.suffix}' ({path}); NEXUS reads "
                     f"{BUILTIN_FORMATS}" + "".join(f", {a}" for a in added))


def load_object(model: Any, example_inputs: Any = None, trust_pickle: bool = False) -> Graph:
    """A Graph from any object a registered frontend takes."""
    frontend = frontend_for_object(model)
    if frontend is None:
        raise NexusError(
            f"cannot compile a {type(model).__name__}: NEXUS takes a nexus_ir.Graph, a PyTorch "
            "nn.Module or ExportedProgram, an ONNX ModelProto, a fitted scikit-learn or XGBoost "
            "model, a model file (.onnx, .pt2, .json, .ubj, .skops, .pkl/.joblib), "
            "file.py:factory or example:NAME, or what a frontend registered with "
            "frontends.register_frontend takes")
    return frontend.load(model, example_inputs, trust_pickle)


def load_file(path: Path, example_inputs: Any = None, trust_pickle: bool = False) -> Graph:
    """A Graph from a model file, through the frontend its suffix names."""
    suffix = path.suffix.lower()
    if not path.is_file() and not any(f.opens_itself for f in _FRONTENDS.values()
                                      if suffix in f.suffixes):
        raise NexusError(f"model file {path} does not exist")
    frontend = frontend_for_file(path)
    return frontend.load(path, example_inputs, trust_pickle)
