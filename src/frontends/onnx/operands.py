"""Operands of ONNX nodes as the converter sees them: value types with symbolic dims, tensor
data, node attributes and sources, and the helpers that read integer lists off operands."""


from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

import numpy as np

from nexus_ir import NexusError, TensorType, Value
from nexus_ir import dims

from .load import ONNX_DTYPES, Unmappable


def symbol_of(text: str) -> str:
    """A dim_param as an IR symbol: an identifier or an expression the dims module accepts."""
    try:
        return dims.canonical(text) if text else text
    except Exception:
        return re.sub(r"\W", "_", text)


STRING = 8                  # ONNX's element type for strings
STRING_CODES = "i64"        # what a string tensor is typed as: one 64-bit category code each


def type_of(type_proto: Any, what: str, unknown: Callable[[int], str],
            strings: bool = False) -> TensorType:
    """IR type of an ONNX ``TypeProto`` (tensors only); unknown dims get names from ``unknown``.
    With ``strings``, a string tensor is typed as category codes (``STRING_CODES``): encoders
    compare and look up one code per string, as ONNX Runtime hashes each string once."""
    if not type_proto.HasField("tensor_type"):
        raise Unmappable(f"{what} is not a tensor ({type_proto.WhichOneof('value')})")
    tt = type_proto.tensor_type
    name = STRING_CODES if strings and tt.elem_type == STRING else ONNX_DTYPES.get(tt.elem_type)
    if name is None:
        raise Unmappable(f"{what} has ONNX element type {tt.elem_type}, which NEXUS cannot type "
                          "(strings and complex numbers are not tensors of numbers)")
    if not tt.HasField("shape"):
        raise Unmappable(f"{what} has no known rank")
    shape: list[int | str] = []
    for i, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value"):
            shape.append(int(d.dim_value))
        elif d.dim_param:
            shape.append(symbol_of(d.dim_param))
        else:
            shape.append(unknown(i))
    return TensorType(shape, name)


def tensor_array(tensor: Any) -> np.ndarray:
    from onnx import numpy_helper
    try:
        return numpy_helper.to_array(tensor)
    except Exception as err:
        raise NexusError(f"initializer '{tensor.name}' cannot be read ({err}); the model file is "
                         "damaged or its external data is missing") from None


def attributes_of(node: Any) -> dict[str, Any]:
    from onnx import helper
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        elif hasattr(value, "data_type") and hasattr(value, "dims"):
            value = tensor_array(value)
        out[a.name] = value
    return out


GENERATED_NAME = re.compile(r"(node_)?[A-Z][A-Za-z0-9]*(_\d+)?")
"""A name an exporter made from the op type (``node_Transpose_1208``, ``Conv_3``): no module."""


def node_source(node: Any, initializers: Collection[str] = (), upstream: str = "") -> str:
    """A module path from an exporter's node name (``/layer1/layer1.0/conv1/Conv`` →
    ``layer1.0.conv1``); for a name made from the op type (or none), the module of a weight it
    reads (``layer1.0.conv1.weight`` → ``layer1.0.conv1``), else ``upstream`` (the module of
    the node producing its first input); else the node's name."""
    name = node.name or ""
    if "/" not in name:
        if name and not GENERATED_NAME.fullmatch(name):
            return name
        weights = [i for i in node.input if i in initializers and "." in i]
        return weights[0].rsplit(".", 1)[0] if weights else upstream or name
    path = ""
    for part in name.strip("/").split("/")[:-1]:
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path


Operand = Value | np.ndarray



def identifier(text: str) -> str:
    out = re.sub(r"\W", "_", text)
    return out if out and not out[0].isdigit() else f"d_{out}"


def int_list(x: Operand | None, what: str) -> list[int]:
    if x is None:
        return []
    if not isinstance(x, np.ndarray):
        raise Unmappable(f"{what} is computed at run time")
    return [int(v) if not isinstance(v, str) else v for v in x.reshape(-1).tolist()]


def axes_of(ins: list[Operand | None], at: dict[str, Any]) -> list[int]:
    """Squeeze/Unsqueeze axes: the attribute (opset < 13) or the second input."""
    if "axes" in at:
        return list(at["axes"])
    return int_list(ins[1] if len(ins) > 1 else None, "axes")


def slice_args(ins: list[Operand | None]) -> tuple[list[int], list, list, list[int]]:
    """(axes, starts, ends, steps) of an ONNX Slice from its inputs; axes default to the
    leading ones and steps to 1."""
    starts, ends = int_list(ins[1], "starts"), int_list(ins[2], "ends")
    axes = int_list(ins[3], "axes") if len(ins) > 3 and ins[3] is not None else \
        list(range(len(starts)))
    steps = int_list(ins[4], "steps") if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    return axes, starts, ends, steps


