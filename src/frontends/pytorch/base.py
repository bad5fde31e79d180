"""The PyTorch frontend's shared pieces: dtypes, tensor types from fake tensors, the
``Lowering`` state an ATen handler writes into, and the ``ATEN`` handler table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nexus_ir import Graph, NexusError, TensorType, Value
from nexus_ir.registry import registrar

TORCH_DTYPES = {
    "torch.float64": "f64", "torch.float32": "f32", "torch.bfloat16": "bf16",
    "torch.float16": "f16", "torch.float8_e4m3fn": "f8e4m3", "torch.float8_e5m2": "f8e5m2",
    "torch.int64": "i64", "torch.int32": "i32", "torch.int16": "i16", "torch.int8": "i8",
    "torch.uint8": "u8", "torch.bool": "i1",
}


def torch_dtype(name: str) -> Any:
    """The torch dtype of an IR dtype name (``"bf16"`` → ``torch.bfloat16``), None if torch
    has no such dtype."""
    import torch

    for torch_name, ir_name in TORCH_DTYPES.items():
        if ir_name == name:
            return getattr(torch, torch_name.removeprefix("torch."))
    return None


class UnmappedOpsWarning(UserWarning):
    """ATen ops that became ``opaque`` nodes (reported as unmodeled by the cost model)."""


def dim_of(size: Any) -> int | str:
    if isinstance(size, int):
        return size
    text = str(size)
    try:
        return int(text)
    except ValueError:
        return text.replace(" ", "")


def tensor_type(fake: Any) -> TensorType:
    """The IR type of a (fake) tensor."""
    name = TORCH_DTYPES.get(str(fake.dtype))
    if name is None:
        raise NexusError(f"torch dtype {fake.dtype} has no NEXUS dtype")
    return TensorType([dim_of(s) for s in fake.shape], name)


def module_path(fx_node: Any) -> str:
    stack = fx_node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return path.replace("L['self'].", "").replace("[", ".").replace("]", "")


class Lowering:
    """State of one conversion: the IR graph, the fx-node → IR-value map, the current source."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.values: dict[str, Any] = {}
        self.source = ""
        self.unmapped: dict[str, int] = {}

    def value(self, arg: Any) -> Any:
        """An fx argument as IR value(s) or Python constants."""
        if hasattr(arg, "op") and hasattr(arg, "name") and arg.name in self.values:
            return self.values[arg.name]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.value(a) for a in arg)
        return arg

    def op(self, name: str, *inputs: Value, **attrs: Any) -> Any:
        return self.graph.op(name, *inputs, source=self.source, **attrs)

    def made(self, name: str, data: Any, type_: TensorType | None = None) -> Value:
        """A constant the lowering makes (a scalar, a table, a default weight): role
        ``constant``, so it is not counted among the model's parameters."""
        return self.graph.add_constant(self.graph.fresh_name(name), data, type_, "constant")

    def scalar(self, number: float | int, like: Value) -> Value:
        """A scalar constant of ``like``'s dtype (for ``x * 0.5`` and friends)."""
        dt = like.type.dtype
        data = np.array(number, dtype=np.float32 if dt.is_float else np.int64)
        return self.made("scalar", data, TensorType([], dt))

    def operand(self, arg: Any, like: Value) -> Value:
        return arg if isinstance(arg, Value) else self.scalar(arg, like)


Handler = Callable[[Lowering, Sequence[Any], dict[str, Any], Any], Any]
ATEN: dict[str, Handler] = {}


aten = registrar(ATEN)
"""``@aten("conv2d", "add.Tensor")``: a handler for ATen overload packets or overloads."""


def flatten(items: Any) -> list[Any]:
    if isinstance(items, (list, tuple)):
        return [x for item in items for x in flatten(item)]
    return [items]


def opaque_node(lw: Lowering, name: str, args: Sequence[Any], types: list[TensorType]) -> Any:
    """An ``opaque`` node for ``name`` over the IR values among ``args``, counted as unmapped."""
    lw.unmapped[name] = lw.unmapped.get(name, 0) + 1
    inputs = [v for v in flatten(args) if isinstance(v, Value)]
    return lw.graph.add_node("opaque", inputs, {"target": name}, source=lw.source,
                             output_types=types)


def opaque(lw: Lowering, node: Any, args: Sequence[Any]) -> Any:
    fakes = node.meta.get("val")
    many = isinstance(fakes, (list, tuple))
    types = [tensor_type(f) for f in (fakes if many else [fakes]) if hasattr(f, "shape")]
    out = opaque_node(lw, str(node.target), args, types)
    return out.outputs if many else out.outputs[0]
