"""The tensorized alternative for classic ML: Hummingbird compiles a scikit-learn or XGBoost
model into PyTorch tensor programs (``gemm``, ``tree_trav``, ``perf_tree_trav``), which the
PyTorch frontend then lowers like any network.

Hummingbird's top-level executor converts numpy inputs and DataFrames, which ``torch.export``'s
fake tensors cannot pass through, so ``OperatorProgram`` replays its inner operator modules
(``model._operators``) over their named variables instead.

Install: Hummingbird 0.4.12 pins ``onnx<=1.16.1`` for its ONNX backend, which NEXUS does not use;
install it without dependencies (``pip install --no-deps hummingbird-ml==0.4.12``) next to the
``trees`` extra, which carries what its PyTorch backend imports.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nexus_ir import Graph, NexusError

METHODS = ("gemm", "tree_trav", "perf_tree_trav")


def _program_class() -> type:
    import torch

    class OperatorProgram(torch.nn.Module):
        """Hummingbird's operators run in order over a map of named variables."""

        def __init__(self, executor: Any):
            super().__init__()
            self.operators = torch.nn.ModuleList(executor._operators)
            self.input_names = list(executor._input_names)
            self.output_names = list(executor._output_names)

        def forward(self, *inputs: Any) -> tuple[Any, ...]:
            variables = dict(zip(self.input_names, inputs))
            for operator in self.operators:
                outputs = operator(*(variables[name] for name in operator.inputs))
                outputs = outputs if isinstance(outputs, tuple) else (outputs,)
                variables.update(zip(operator.outputs, outputs))
            return tuple(variables[name] for name in self.output_names)

    return OperatorProgram


def to_torch(model: Any, example: np.ndarray, method: str = "gemm") -> Any:
    """The model as a PyTorch module through Hummingbird with tree strategy ``method``."""
    if method not in METHODS:
        raise NexusError(f"unknown Hummingbird tree implementation '{method}'; choose one of "
                         f"{', '.join(METHODS)}")
    try:
        import hummingbird.ml as hb
    except ImportError:
        raise NexusError("Hummingbird is not installed: pip install --no-deps "
                         "hummingbird-ml==0.4.12 (see frontends/hummingbird.py)") from None
    try:
        converted = hb.convert(model, "torch", np.asarray(example, np.float32),
                               extra_config={"tree_implementation": method})
    except Exception as err:
        raise NexusError(f"Hummingbird cannot convert {type(model).__name__}: {err}") from None
    return _program_class()(converted.model).eval()


def from_hummingbird(model: Any, example: Any, method: str = "gemm",
                     name: str | None = None) -> Graph:
    """Lower a scikit-learn or XGBoost model through Hummingbird's tensor form; ``example`` is
    rows of input data (their count becomes the exported batch size)."""
    import torch

    from .pytorch import from_torch

    rows = np.asarray(example, np.float32)
    if rows.ndim != 2:
        raise NexusError(f"example must be rows of features [n, features], got shape {rows.shape}")
    module = to_torch(model, rows, method)
    graph = from_torch(module, (torch.from_numpy(rows),))
    graph.name = name or f"{type(model).__name__}_{method}"
    return graph
