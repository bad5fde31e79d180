"""The public functions of NEXUS: ``prepare()`` (any model → a verified graph with its sizes
bound and its data statistics) and ``compile()`` (that graph costed on a target). The CLI and
the other commands start from ``prepare()``; frontends are found through their registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from frontends import FACTORY_SPEC, load_factory, load_file, load_object
from frontends.pytorch import is_torch_model, positional_inputs

from .. import collector, dims
from ..errors import NexusError
from ..graph import Graph
from ..report import EnergyReport
from ..types import TensorType
from .common import si
from .examples import EXAMPLES


def example_graph(name: str = "cnn") -> Graph:
    """A bundled example graph by name (``nexus example --list`` shows them)."""
    try:
        return EXAMPLES[name]()
    except KeyError:
        raise NexusError(f"unknown example '{name}'; choose one of {', '.join(EXAMPLES)}") from None


def load_graph(model_or_path: Any, example_inputs: Any = None, trust_pickle: bool = False
               ) -> Graph:
    """A Graph from anything a registered frontend takes (``frontends.registry``): a Graph; a
    PyTorch module (with example inputs) or ExportedProgram; an ONNX ``ModelProto``; a fitted
    scikit-learn estimator or Pipeline (example rows optional); an XGBoost model; a model file
    (``.onnx``, ``.pt2`` and ``.pkl``/``.joblib`` only with ``trust_pickle`` since they
    unpickle, ``.json`` NEXUS graph or XGBoost, ``.ubj``, ``.skops``); ``path/to/file.py:factory``
    (``frontends.load_factory``); or ``example:NAME``."""
    if isinstance(model_or_path, (str, Path)):
        text = str(model_or_path)
        if text.startswith("example:"):
            return example_graph(text.removeprefix("example:"))
        if FACTORY_SPEC.match(text):
            model, made_inputs = load_factory(text)
            return load_graph(model, example_inputs or made_inputs, trust_pickle)
        return load_file(Path(text), example_inputs, trust_pickle)
    return load_object(model_or_path, example_inputs, trust_pickle)


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
    from frontends.sklearn import dataframe_columns, is_dataframe
    if is_dataframe(example_inputs):
        return dataframe_columns(example_inputs)
    if len(graph.inputs) != 1:
        raise NexusError(f"graph @{graph.name} has {len(graph.inputs)} inputs; give example "
                         "inputs as {input name: array}")
    return {graph.inputs[0].name: np.asarray(example_inputs)}


@dataclass
class Prepared:
    """A model made ready to cost: the verified graph with its symbols bound, the bindings,
    and the bit statistics of the data that came with it (``passes.switching``)."""

    graph: Graph
    bindings: dict[str, int]
    value_stats: dict[str, dict] = field(default_factory=dict)


def prepare(model_or_path: Any, example_inputs: Any = None, *,
            bindings: Mapping[str, int] | None = None, trust_pickle: bool = False,
            calibration: Sequence[Any] | None = None,
            progress: Callable[[str], None] | None = None,
            dtype: str | None = None) -> Prepared:
    """Load any model (see ``load_graph``), verify it, bind its symbolic sizes from
    ``bindings`` and ``example_inputs``, and read the statistics of the data given with it
    (calibration inputs of a PyTorch model, real rows of a classic one). A lone batch symbol
    is bound to 1 with a warning; other unbound symbols are an error. A model already
    prepared is returned as it is (nothing more may be given with it)."""
    if isinstance(model_or_path, Prepared):
        if example_inputs is not None or bindings or calibration is not None or dtype:
            raise NexusError("this model is already prepared (loaded and bound): give its "
                             "inputs, bindings, calibration or dtype to prepare() instead")
        return model_or_path
    step = progress or (lambda _: None)
    if isinstance(model_or_path, str) and FACTORY_SPEC.match(model_or_path):
        step(f"building the model: {model_or_path}")
        model_or_path, made_inputs = load_factory(model_or_path)
        example_inputs = made_inputs if example_inputs is None else example_inputs
    from_torch = is_torch_model(model_or_path)
    exported = from_torch and type(model_or_path).__name__ == "ExportedProgram"
    if from_torch and type(example_inputs).__name__ == "Tensor":
        example_inputs = (example_inputs,)                      # one input, unwrapped
    if dtype is not None:
        if not from_torch or exported:
            raise NexusError(f"dtype {dtype!r}: only a PyTorch module is cast; give other "
                             "models in the dtype they should be costed at")
        model_or_path, example_inputs = _cast(model_or_path, example_inputs, dtype)
    training = from_torch and not exported and _trains_differently(model_or_path)
    if training:
        warnings.warn(f"{type(model_or_path).__name__} is in training mode: costed in eval "
                      "mode (dropout off, batch norm on its running statistics)", stacklevel=3)
        model_or_path.eval()
    if from_torch and not exported and (example_inputs is None or
                                        isinstance(example_inputs, Mapping)):
        example_inputs = positional_inputs(model_or_path, example_inputs or {})
    given = dict(bindings or {})
    empty = [f"{k}={v}" for k, v in given.items() if isinstance(v, int) and v < 1]
    if empty:
        raise NexusError(f"binding {empty[0]}: a size is 1 or more (an empty batch has no energy "
                         "to cost)")
    resized: dict[str, int] = {}
    if from_torch and not exported and "batch" in given and example_inputs:
        resized["batch"] = given.pop("batch")
        example_inputs = _with_batch(example_inputs, resized["batch"])
    step("exporting with torch.export" if from_torch else "loading the model")
    value_stats: dict[str, dict] = {}
    if isinstance(calibration, Mapping):       # arrays by input name, first axis the inputs
        if not from_torch:                     # rows: they are the example inputs
            example_inputs, calibration = dict(calibration), None
        else:
            calibration = _calibration_inputs(calibration)
    if calibration is not None and not from_torch:
        raise NexusError("calibration inputs are taken for PyTorch models; for other models give "
                         "real rows as example_inputs")
    if calibration is not None:
        from frontends.pytorch import export, from_exported
        from runtime.activations import activation_stats
        program = model_or_path if exported else export(model_or_path, example_inputs)
        graph = from_exported(program, type(model_or_path).__name__)
        step(f"reading activations of {len(calibration)} calibration inputs")
        value_stats = activation_stats(program, graph, calibration)
    else:
        try:
            graph = load_graph(model_or_path, example_inputs, trust_pickle)
        finally:
            if training:
                model_or_path.train()                   # the caller's module as it was
    step("verifying the graph")
    graph.verify()
    named = {} if from_torch else _named_inputs(graph, example_inputs)
    bound = bindings_from_inputs(graph, named)
    unknown = sorted(set(given) - graph.symbols - set(bound))
    if unknown:
        symbols = ", ".join(sorted(graph.symbols)) or "none"
        raise NexusError(f"binding {unknown[0]}={given[unknown[0]]} not applied: graph "
                         f"@{graph.name} has no symbol '{unknown[0]}' (its symbols: {symbols}"
                         + ("; a PyTorch model's sizes come from its example inputs, whose "
                            "first dim batch=N resizes" if from_torch else "") + ")")
    bound.update(given)
    if bound:
        graph = graph.bind_symbols(bound)
    data = {k: v for k, v in named.items() if isinstance(v, np.ndarray)}
    if data:
        from passes.switching import graph_stats
        from passes.trees import annotate_tree_paths
        annotate_tree_paths(graph, data)
        value_stats.update(graph_stats(graph, data))
    lone = lone_batch_symbol(graph)
    if lone is not None:
        warnings.warn(f"{lone} (the inputs' leading dim) is not given: costed at batch 1, as "
                      f"FLOP counters do (--bind {lone}=N or bindings={{'{lone}': N}} for "
                      "another)", stacklevel=3)
        graph = graph.bind_symbols({lone: 1})
        bound[lone] = 1
    if graph.symbols:
        raise NexusError(f"graph @{graph.name} has unbound symbols {sorted(graph.symbols)}; give "
                         "them sizes (CLI: --bind NAME=SIZE or --input-shape NAME=DIMS; Python: "
                         "bindings={...} or example_inputs)")
    empty_input = next((v for v in graph.inputs if 0 in v.type.shape), None)
    if empty_input is not None:
        raise NexusError(f"input '{empty_input.name}' is {empty_input.type}: a dimension of size 0 "
                         "holds nothing to cost; give sizes of 1 or more")
    return Prepared(graph, {**bound, **resized}, value_stats)


def lone_batch_symbol(graph: Graph) -> str | None:
    """The graph's only unbound symbol when it is a batch dimension — the leading dim of every
    input it sizes, a bare name, not a size derived from others — else None."""
    if len(graph.symbols) != 1:
        return None
    (symbol,) = graph.symbols
    places = [(axis, dim) for v in graph.inputs for axis, dim in enumerate(v.type.shape)
              if symbol in dims.symbols(dim)]
    return symbol if places and all(axis == 0 and dim == symbol for axis, dim in places) \
        else None


def _calibration_inputs(arrays: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Calibration inputs of a PyTorch model from arrays by input name (in forward order): the
    first axis of each indexes the inputs, the rest is one input's shape."""
    import torch

    counts = {len(a) for a in arrays.values()}
    if len(counts) != 1:
        raise NexusError(f"calibration arrays hold different numbers of inputs "
                         f"({', '.join(f'{k}: {len(a)}' for k, a in arrays.items())}); the first "
                         "axis of each counts the inputs")
    return [tuple(torch.as_tensor(np.asarray(a[i])) for a in arrays.values())
            for i in range(counts.pop())]


def _trains_differently(module: Any) -> bool:
    """In training mode with a layer that computes otherwise there: dropout, batch norm."""
    from torch import nn

    kinds = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)
    return module.training and any(isinstance(m, kinds) for m in module.modules())


def _cast(module: Any, example_inputs: Any, dtype: str) -> tuple[Any, Any]:
    """A copy of ``module`` at ``dtype`` (the caller's stays as it is) and its floating example
    inputs cast likewise."""
    import torch

    from frontends.pytorch import torch_dtype

    kind = torch_dtype(dtype)
    module = copy.deepcopy(module).to(kind)
    if isinstance(example_inputs, (tuple, list)):
        example_inputs = [x.to(kind) if isinstance(x, torch.Tensor) and x.is_floating_point()
                          else x for x in example_inputs]
    return module, example_inputs


def _with_batch(example_inputs: Sequence[Any], batch: int) -> list[Any]:
    """Example inputs with their first dim set to ``batch``, so that a PyTorch model is
    exported at the batch the user binds: as types (``f32[batch,…]``), which export makes into
    fake tensors, so no batch is ever allocated."""
    import torch

    from frontends.pytorch import TORCH_DTYPES

    def resize(x: Any) -> Any:
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or not x.shape[0]:
            return x
        kind = TORCH_DTYPES.get(str(x.dtype))
        if kind is None:
            return x[:1].expand(batch, *x.shape[1:])           # a view: no copy either
        return TensorType([batch, *x.shape[1:]], kind)
    return [resize(x) for x in example_inputs]


def compile(model_or_path: Graph | str | Path, example_inputs: Mapping[str, Any] | None = None,
            target: Any = "h100", *, bindings: Mapping[str, int] | None = None,
            capability: float | None = None, output_units: int | None = None,
            trust_pickle: bool = False, calibration: Sequence[Any] | None = None,
            progress: Callable[[str], None] | None = None, execution: str = "eager",
            math: str = "default", warm: bool = True, dtype: str | None = None,
            grid: str | None = None, pue: float = 1.0, exact_bits: bool = False
            ) -> EnergyReport:
    """Cost a model on a hardware target and return its ``EnergyReport``.

    ``execution`` is how the model runs (``eager`` PyTorch, ``cuda-graph`` replay, ``fused`` by a
    graph compiler), ``math`` the fp32 math mode (``default`` follows PyTorch: TF32 convolutions,
    FP32 matmuls; ``tf32``; ``highest``), ``warm`` whether back-to-back inference keeps weights
    in the on-chip cache where they fit (``passes.cost``); the report states all three.
    ``dtype`` (``bf16``, ``f16``, ``f32``) costs a copy of a PyTorch module and its floating
    inputs cast to it; a module in training mode is costed in eval mode, with a warning.

    A PyTorch module is exported with ``example_inputs`` (a tuple of tensors). Otherwise
    symbolic dims are bound by ``bindings`` (``{"batch": 1}``) and/or read off
    ``example_inputs`` (``{input name: array or shape}``, or rows for a one-input model); real
    rows also make tree ensembles cost their actual paths instead of their depth. A module's
    inputs may also be given by ``forward`` parameter name. ``trust_pickle`` allows loading files
    that unpickle (``.pt2``). ``capability`` (accuracy, F1, …) enables ECU and CpTO;
    ``output_units`` overrides the tokens/samples per inference. ``calibration`` (arrays by
    input name, the first axis counting the inputs, for any model; or, PyTorch: a
    list of inputs, each a tensor or a tuple of tensors) runs the model on each to read the bits
    of every activation: switching activity then scales compute energy per op, and DDEV is the
    spread of the per-input energies (``passes.switching``); weights' bits count whenever they
    have data (a weight over 2^15 elements on a 16,384-element sample unless ``exact_bits``:
    the report's ``weight_bits_read`` says the share read), and real rows of a classic model
    count as its input's bits. ``progress`` is
    called with a short description as each long step starts. ``grid`` (a country, ``FR``, or
    a cloud region, ``gcp:europe-west1``) adds ``co2e_g`` per inference and its ``carbon``
    record, at power usage effectiveness ``pue`` (``app.carbon``: CodeCarbon's tables).
    """
    from passes.cost import cost_graph

    ready = prepare(model_or_path, example_inputs, bindings=bindings, trust_pickle=trust_pickle,
                    calibration=calibration, progress=progress, dtype=dtype)
    step = progress or (lambda _: None)
    step(f"costing {len(ready.graph.nodes)} nodes on {getattr(target, 'name', target)}")
    with collector.frozen():
        report = cost_graph(ready.graph, target, bindings=ready.bindings,
                            capability=capability, output_units=output_units,
                            value_stats=ready.value_stats, execution=execution, math=math,
                            warm=warm, exact_bits=exact_bits)
    if grid is not None:
        from .carbon import carbon_metrics
        report.metrics.update(carbon_metrics(report.metrics["energy_j"], grid, pue))
    if not report.metrics["fits"]:
        warnings.warn(does_not_fit(report), stacklevel=2)
    return report


def does_not_fit(report: EnergyReport) -> str:
    """One line: which memory of the target the model overflows, by how much."""
    m = report.metrics
    over = [f"{name} needs {si(need, 'B')} of {si(m['memory_capacity'][name], 'B')}"
            for name, need in m["memory_needed"].items() if need > m["memory_capacity"][name]]
    held = "flash: weights, quantization parameters and code; RAM: the TFLM arena and " \
        "persistent allocations" if m.get("arena_bytes") is not None else \
        "weights and peak activations"
    return (f"{report.model} does not fit {report.target}: {'; '.join(over)} ({held}); the "
            "costs assume memory it does not have")
