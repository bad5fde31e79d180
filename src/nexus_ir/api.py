"""The public face of NEXUS: the one module of ``nexus_ir`` that reaches into frontends, passes
and lowering, lazily inside its functions."""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .examples import EXAMPLES
from .errors import NexusError
from .graph import Graph
from .report import EnergyReport
from .types import TensorType

FACTORY_SPEC = re.compile(r"^(?P<file>.+\.py):(?P<factory>[A-Za-z_]\w*)$")


def example_graph(name: str = "cnn") -> Graph:
    """A bundled example graph by name (``nexus example --list`` shows them)."""
    try:
        return EXAMPLES[name]()
    except KeyError:
        raise NexusError(f"unknown example '{name}'; choose one of {', '.join(EXAMPLES)}") from None


def _is_torch_model(model: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, (torch.nn.Module,
                                                    torch.export.ExportedProgram))


def _kind_of(model: Any) -> str | None:
    """Which frontend takes this Python object: torch, onnx, xgboost, sklearn, or None."""
    if _is_torch_model(model):
        return "torch"
    module = type(model).__module__.split(".")[0]
    if module == "onnx" and type(model).__name__ == "ModelProto":
        return "onnx"
    if module == "xgboost":
        return "xgboost"
    if module == "sklearn" or hasattr(model, "get_params") and hasattr(model, "fit"):
        return "sklearn"
    return None


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


def _from_object(model: Any, kind: str, example_inputs: Any) -> Graph:
    if kind == "torch":
        from frontends.pytorch import from_torch
        return from_torch(model, example_inputs)
    if kind == "onnx":
        from frontends.onnx import from_onnx
        return from_onnx(model)
    if kind == "xgboost":
        from frontends.xgboost import from_xgboost
        return from_xgboost(model)
    from frontends.sklearn import from_sklearn
    return from_sklearn(model, _classic_example(model, example_inputs))


def _is_nexus_json(path: Path) -> bool:
    """A NEXUS graph document (``schema_version`` first) rather than an XGBoost model file."""
    with path.open("rb") as handle:
        head = handle.read(256)
    return b'"schema_version"' in head


def _from_file(path: Path, example_inputs: Any, trust_pickle: bool) -> Graph:
    suffix = path.suffix.lower()
    if suffix == ".pt2":
        from frontends.pytorch import load_pt2
        return load_pt2(str(path), trust_pickle)
    if not path.is_file():
        raise NexusError(f"model file {path} does not exist")
    if suffix == ".json" and _is_nexus_json(path):
        return Graph.from_json(path.read_text())
    if suffix in (".json", ".ubj"):
        from frontends.xgboost import from_xgboost
        return from_xgboost(path)
    if suffix == ".onnx":
        from frontends.onnx import from_onnx
        return from_onnx(path)
    if suffix in (".skops", ".pkl", ".pickle", ".joblib"):
        from frontends.sklearn import load_model_file
        model = load_model_file(path, trust_pickle)
        kind = _kind_of(model)
        if kind is None:
            raise NexusError(f"{path} holds a {type(model).__name__}, which no NEXUS frontend "
                             "takes")
        return _from_object(model, kind, example_inputs)
    raise NexusError(f"unknown model format '{path.suffix}' ({path}); NEXUS reads .onnx, .pt2, "
                     ".json (NEXUS graph or XGBoost), .ubj, .skops, and .pkl/.joblib with "
                     "trust_pickle")


def load_factory(spec: str) -> tuple[Any, Any]:
    """Run ``path/to/file.py:factory`` and return ``(model, example_inputs or None)``: the
    factory returns a model (an ``nn.Module``, an estimator, a Graph, …) or a pair
    ``(model, example_inputs)``. The file is executed as Python: point it only at code you
    trust, as you would ``python file.py``."""
    match = FACTORY_SPEC.match(spec)
    if match is None:
        raise NexusError(f"'{spec}' is not a factory reference; write path/to/file.py:function")
    path = Path(match["file"])
    if not path.is_file():
        raise NexusError(f"factory file {path} does not exist")
    module_spec = importlib.util.spec_from_file_location(f"nexus_factory_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:  # the user's file: any error it raises is reported as one line
        raise NexusError(f"importing {path} failed: {type(err).__name__}: {err}") from err
    factory = getattr(module, match["factory"], None)
    if not callable(factory):
        found = sorted(k for k, v in vars(module).items()
                       if callable(v) and not k.startswith("_") and
                       getattr(v, "__module__", None) == module.__name__)
        raise NexusError(f"{path} defines no function '{match['factory']}' (callables there: "
                         f"{', '.join(found) or 'none'})")
    try:
        made = factory()
    except Exception as err:
        raise NexusError(f"{spec} raised {type(err).__name__}: {err}") from err
    if isinstance(made, tuple) and len(made) == 2:
        return made
    return made, None


def torch_factory(spec: str, shapes: Mapping[str, Any] | None = None) -> tuple[Any, list[Any]]:
    """A PyTorch factory's module and example tensors: from ``shapes`` ({forward parameter:
    shape or TensorType}) when given, else the factory's own example inputs."""
    import torch

    from frontends.pytorch import example_tensor

    model, made = load_factory(spec)
    if not _is_torch_model(model):
        raise NexusError(f"{spec} returns a {type(model).__name__}; this command runs PyTorch "
                         "modules")
    if shapes:
        return model, [example_tensor(x) for x in _positional_inputs(model, shapes)]
    if not made:
        raise NexusError(f"{spec} gives no example inputs: add --input-shape")
    return model, [torch.as_tensor(x) for x in made]


def load_graph(model_or_path: Any, example_inputs: Any = None, trust_pickle: bool = False
               ) -> Graph:
    """A Graph from a Graph; a PyTorch module (with example inputs) or ExportedProgram; an ONNX
    ``ModelProto``; a fitted scikit-learn estimator or Pipeline (example rows optional); an
    XGBoost model; or a file: ``.onnx``, ``.pt2`` (unpickles: only with ``trust_pickle``),
    ``.json`` (a NEXUS graph or an XGBoost model), ``.ubj``, ``.skops``, ``.pkl``/``.joblib``
    (only with ``trust_pickle``); ``path/to/file.py:factory`` (see ``load_factory``); or
    ``example:NAME``."""
    if isinstance(model_or_path, Graph):
        return model_or_path
    kind = _kind_of(model_or_path)
    if kind is not None:
        return _from_object(model_or_path, kind, example_inputs)
    if isinstance(model_or_path, (str, Path)):
        text = str(model_or_path)
        if text.startswith("example:"):
            return example_graph(text.removeprefix("example:"))
        if FACTORY_SPEC.match(text):
            model, made_inputs = load_factory(text)
            return load_graph(model, example_inputs or made_inputs, trust_pickle)
        return _from_file(Path(text), example_inputs, trust_pickle)
    raise NexusError(
        f"cannot compile a {type(model_or_path).__name__}: NEXUS takes a nexus_ir.Graph, a "
        "PyTorch nn.Module or ExportedProgram, an ONNX ModelProto, a fitted scikit-learn or "
        "XGBoost model, a model file (.onnx, .pt2, .json, .ubj, .skops, .pkl/.joblib), "
        "file.py:factory or example:NAME")


def bindings_from_inputs(graph: Graph, example_inputs: Mapping[str, Any]) -> dict[str, int]:
    """Symbol sizes read off example inputs (arrays or shapes) given by graph input name."""
    by_name = {v.name: v for v in graph.inputs}
    found: dict[str, int] = {}
    for name, example in example_inputs.items():
        if name not in by_name:
            raise NexusError(f"example input '{name}' is not a graph input (inputs: "
                             f"{', '.join(by_name)})")
        declared = by_name[name].type.shape
        if isinstance(example, TensorType):
            if example.dtype != by_name[name].type.dtype:
                raise NexusError(f"example input '{name}' is {example.dtype} but the graph "
                                 f"declares {by_name[name].type}")
            example = tuple(example.shape)
        shape = tuple(np.shape(example)) if not isinstance(example, tuple) else example
        if len(shape) != len(declared):
            raise NexusError(f"example input '{name}' has shape {list(shape)} but the graph "
                             f"declares {by_name[name].type}")
        for want, got in zip(declared, shape):
            if isinstance(want, int):
                if want != got:
                    raise NexusError(f"example input '{name}' has shape {list(shape)} but the "
                                     f"graph declares {by_name[name].type}")
            elif want.isidentifier():
                if found.setdefault(want, int(got)) != int(got):
                    raise NexusError(f"symbol '{want}' is {found[want]} in one example input "
                                     f"and {got} in '{name}'")
    return found


def _named_inputs(graph: Graph, example_inputs: Any) -> dict[str, Any]:
    """Example inputs by graph input name; bare rows (an array) stand for the only input."""
    if example_inputs is None:
        return {}
    if isinstance(example_inputs, Mapping):
        return dict(example_inputs)
    if len(graph.inputs) != 1:
        raise NexusError(f"graph @{graph.name} has {len(graph.inputs)} inputs; give example "
                         "inputs as {input name: array}")
    return {graph.inputs[0].name: np.asarray(example_inputs)}


def _positional_inputs(module: Any, named: Mapping[str, Any]) -> list[Any]:
    """Example inputs given by name (``{"x": (1, 3, 224, 224)}``) in the order of the module's
    ``forward`` parameters; a bare shape means float32."""
    params = [p for p in inspect.signature(module.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in params]
    unknown = sorted(set(named) - set(names))
    if unknown:
        raise NexusError(f"{type(module).__name__}.forward has no parameter "
                         f"{', '.join(map(repr, unknown))} (its inputs: {', '.join(names)})")
    missing = [p.name for p in params if p.name not in named and p.default is p.empty]
    if missing:
        raise NexusError(f"{type(module).__name__}.forward needs an example for "
                         f"{', '.join(map(repr, missing))}: give its shape (CLI: --input-shape "
                         f"{missing[0]}=1x3x224x224:f32)")
    given = names[:max(names.index(k) for k in named) + 1] if named else []
    return [TensorType(list(named[k]), "f32") if isinstance(named[k], tuple) else named[k]
            for k in given]


def compile(model_or_path: Graph | str | Path, example_inputs: Mapping[str, Any] | None = None,
            target: Any = "h100", *, bindings: Mapping[str, int] | None = None,
            capability: float | None = None, output_units: int | None = None,
            trust_pickle: bool = False, calibration: Sequence[Any] | None = None,
            progress: Callable[[str], None] | None = None) -> EnergyReport:
    """Cost a model on a hardware target and return its ``EnergyReport``.

    A PyTorch module is exported with ``example_inputs`` (a tuple of tensors). Otherwise
    symbolic dims are bound by ``bindings`` (``{"batch": 1}``) and/or read off
    ``example_inputs`` (``{input name: array or shape}``, or rows for a one-input model); real
    rows also make tree ensembles cost their actual paths instead of their depth. A module's
    inputs may also be given by ``forward`` parameter name. ``trust_pickle`` allows loading files
    that unpickle (``.pt2``). ``capability`` (accuracy, F1, …) enables ECU and CpTO;
    ``output_units`` overrides the tokens/samples per inference. ``calibration`` (PyTorch: a
    list of inputs, each a tensor or a tuple of tensors) runs the model on each to read the bits
    of every activation: switching activity then scales compute energy per op, and DDEV is the
    spread of the per-input energies (``passes.switching``); weights' bits count whenever they
    have data, and real rows of a classic model count as its input's bits. ``progress`` is
    called with a short description as each long step starts.
    """
    from passes import PassManager
    from passes.cost import COST_PIPELINE, build_report

    step = progress or (lambda _: None)
    if isinstance(model_or_path, str) and FACTORY_SPEC.match(model_or_path):
        step(f"building the model: {model_or_path}")
        model_or_path, made_inputs = load_factory(model_or_path)
        example_inputs = made_inputs if example_inputs is None else example_inputs
    from_torch = _is_torch_model(model_or_path)
    if from_torch and (example_inputs is None or isinstance(example_inputs, Mapping)) and \
            not isinstance(model_or_path, sys.modules["torch"].export.ExportedProgram):
        example_inputs = _positional_inputs(model_or_path, example_inputs or {})
    step("exporting with torch.export" if from_torch else "loading the model")
    value_stats: dict[str, dict] = {}
    if calibration is not None and not from_torch:
        raise NexusError("calibration inputs are taken for PyTorch models; for other models give "
                         "real rows as example_inputs")
    if calibration is not None:
        from frontends.pytorch import activation_stats, export, from_exported
        program = model_or_path if isinstance(
            model_or_path, sys.modules["torch"].export.ExportedProgram) else \
            export(model_or_path, example_inputs)
        graph = from_exported(program, type(model_or_path).__name__)
        step(f"reading activations of {len(calibration)} calibration inputs")
        value_stats = activation_stats(program, graph, calibration)
    else:
        graph = load_graph(model_or_path, example_inputs, trust_pickle)
    step("verifying the graph")
    graph.verify()
    named = {} if from_torch else _named_inputs(graph, example_inputs)
    bound = bindings_from_inputs(graph, named)
    bound.update(bindings or {})
    if bound:
        graph = graph.bind_symbols(bound)
    data = {k: v for k, v in named.items() if isinstance(v, np.ndarray)}
    if data:
        from passes.switching import graph_stats
        from passes.trees import annotate_tree_paths
        annotate_tree_paths(graph, data)
        value_stats.update(graph_stats(graph, data))
    if graph.symbols:
        raise NexusError(f"graph @{graph.name} has unbound symbols {sorted(graph.symbols)}; give "
                         "them sizes (CLI: --bind NAME=SIZE or --input-shape NAME=DIMS; Python: "
                         "bindings={...} or example_inputs)")
    step(f"costing {len(graph.nodes)} nodes on {getattr(target, 'name', target)}")
    manager = PassManager(list(COST_PIPELINE), options={
        "target": target, "capability": capability, "output_units": output_units,
        "value_stats": value_stats})
    graph = manager.run(graph)
    return build_report(graph, manager.ctx, bound)
