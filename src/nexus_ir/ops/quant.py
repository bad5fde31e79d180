"""Quantize and dequantize (QuantizeLinear/DequantizeLinear, PT2E quantize_per_tensor/channel)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..attrs import DTYPE, Attr, INT, optional
from ..errors import ShapeError
from ..registry import register_op
from ..types import TensorType
from ._common import axis_index, require_dim, require_float


def _check_params(t: Sequence[TensorType], axis: int | None) -> None:
    x, scale = t[0], t[1]
    require_float(scale, "scale")
    if axis is None:
        if scale.numel_expr != 1:
            raise ShapeError(f"per-tensor scale must have one element, got {scale}; set axis for "
                             "per-channel scales")
    else:
        i = axis_index(axis, x.rank)
        if scale.rank != 1:
            raise ShapeError(f"per-channel scale must be 1-D, got {scale}")
        require_dim(scale.shape[0], x.shape[i], f"scale length differs from dim {i}")
    if len(t) == 3 and t[2].shape != scale.shape:
        raise ShapeError(f"zero_point shape {list(t[2].shape)} differs from scale's "
                         f"{list(scale.shape)}")


_AXIS = Attr(optional(INT), None, "channel axis for per-channel parameters; None: per tensor")


@register_op("quantize", inputs=(2, 3), category="quant",
             attrs={"axis": _AXIS, "to": Attr(DTYPE, "i8")})
def _quantize(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """``round(x / scale) + zero_point`` saturated to dtype ``to``; inputs x, scale[, zero_point]."""
    require_float(t[0], "x")
    _check_params(t, a["axis"])
    return t[0].with_dtype(a["to"])


@register_op("dequantize", inputs=(2, 3), category="quant",
             attrs={"axis": _AXIS, "to": Attr(DTYPE, "f32")})
def _dequantize(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """``(q - zero_point) * scale`` as float dtype ``to``; inputs q, scale[, zero_point]."""
    if t[0].dtype.is_float and t[0].dtype.bits > 8:
        raise ShapeError(f"input must be a quantized type, got {t[0].dtype}")
    _check_params(t, a["axis"])
    if not a["to"].is_float:
        raise ShapeError(f"to must be a float type, got {a['to']}")
    return t[0].with_dtype(a["to"])
