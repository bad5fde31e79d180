"""The public face of NEXUS: the one module of ``nexus_ir`` that reaches into frontends, passes
and lowering, lazily inside its functions."""

from __future__ import annotations

from collections.abc import Mapping
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .examples import EXAMPLES
from .errors import NexusError
from .graph import Graph
from .report import EnergyReport


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


def load_graph(model_or_path: Any, example_inputs: Any = None, trust_pickle: bool = False
               ) -> Graph:
    """A Graph from a Graph, a PyTorch module (with example inputs) or ExportedProgram, a saved
    ``.pt2`` program (only with ``trust_pickle``: loading it unpickles), a NEXUS graph ``.json``
    file, or ``example:NAME``."""
    if isinstance(model_or_path, Graph):
        return model_or_path
    if _is_torch_model(model_or_path):
        from frontends.pytorch import from_torch
        return from_torch(model_or_path, example_inputs)
    if isinstance(model_or_path, (str, Path)):
        text = str(model_or_path)
        if text.startswith("example:"):
            return example_graph(text.removeprefix("example:"))
        path = Path(text)
        if path.suffix == ".pt2":
            from frontends.pytorch import load_pt2
            return load_pt2(text, trust_pickle)
        if path.suffix == ".json":
            if not path.exists():
                raise NexusError(f"model file {path} does not exist")
            return Graph.from_json(path.read_text())
    raise NexusError(
        f"cannot compile {model_or_path!r}: this version takes a nexus_ir.Graph, a PyTorch "
        "nn.Module or ExportedProgram, a .pt2 file, a NEXUS graph .json file or example:NAME; "
        "the ONNX, scikit-learn and XGBoost frontends are tracked in their own issues")


def bindings_from_inputs(graph: Graph, example_inputs: Mapping[str, Any]) -> dict[str, int]:
    """Symbol sizes read off example inputs (arrays or shapes) given by graph input name."""
    by_name = {v.name: v for v in graph.inputs}
    found: dict[str, int] = {}
    for name, example in example_inputs.items():
        if name not in by_name:
            raise NexusError(f"example input '{name}' is not a graph input (inputs: "
                             f"{', '.join(by_name)})")
        shape = tuple(np.shape(example)) if not isinstance(example, tuple) else example
        declared = by_name[name].type.shape
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


def compile(model_or_path: Graph | str | Path, example_inputs: Mapping[str, Any] | None = None,
            target: Any = "h100", *, bindings: Mapping[str, int] | None = None,
            capability: float | None = None, output_units: int | None = None,
            trust_pickle: bool = False) -> EnergyReport:
    """Cost a model on a hardware target and return its ``EnergyReport``.

    A PyTorch module is exported with ``example_inputs`` (a tuple of tensors). For a Graph,
    symbolic dims are bound by ``bindings`` (``{"batch": 1}``) and/or read off
    ``example_inputs`` (``{input name: array or shape}``). ``trust_pickle`` allows loading files
    that unpickle (``.pt2``). ``capability`` (accuracy, F1, …)
    enables ECU and CpTO; ``output_units`` overrides the tokens/samples per inference.
    """
    from passes import PassManager
    from passes.cost import COST_PIPELINE, build_report

    from_torch = _is_torch_model(model_or_path)
    graph = load_graph(model_or_path, example_inputs, trust_pickle)
    graph.verify()
    bound = {} if from_torch else bindings_from_inputs(graph, example_inputs or {})
    bound.update(bindings or {})
    if bound:
        graph = graph.bind_symbols(bound)
    if graph.symbols:
        raise NexusError(f"graph @{graph.name} has unbound symbols {sorted(graph.symbols)}; give "
                         "them sizes (CLI: --bind NAME=SIZE; Python: bindings={...} or "
                         "example_inputs)")
    manager = PassManager(list(COST_PIPELINE), options={
        "target": target, "capability": capability, "output_units": output_units})
    graph = manager.run(graph)
    return build_report(graph, manager.ctx, bound)
