"""Normalizations: layer, batch (inference form), group, instance and RMS norm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..attrs import FLOAT, INT, Attr
from ..errors import ShapeError
from ..registry import register_op
from ..types import TensorType
from ._common import axis_index, require_dim, require_float, require_rank, same_dtype

_EPS = {"eps": Attr(FLOAT, 1e-5)}


def _params_match(params: Sequence[TensorType], shape: tuple, what: str) -> None:
    for p in params:
        if p.rank != len(shape):
            raise ShapeError(f"{what}: parameter of shape {list(p.shape)}, expected {list(shape)}")
        for got, want in zip(p.shape, shape):
            require_dim(got, want, what)


def _trailing_norm(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    x = t[0]
    require_float(x, "x")
    same_dtype(t)
    start = axis_index(a["axis"], x.rank)
    _params_match(t[1:], x.shape[start:], "scale/bias must cover the normalized dims")
    return x


@register_op("layer_norm", inputs=(1, 3), category="norm", attrs={"axis": Attr(INT, -1), **_EPS})
def _layer_norm(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Normalize over dims ``axis..end`` (ONNX LayerNormalization); optional scale and bias have
    the shape of those dims."""
    return _trailing_norm(t, a)


@register_op("rms_norm", inputs=(1, 2), category="norm", attrs={"axis": Attr(INT, -1), **_EPS})
def _rms_norm(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """``x / sqrt(mean(x^2) + eps) * scale`` over dims ``axis..end``."""
    return _trailing_norm(t, a)


def _channel_params(t: Sequence[TensorType]) -> TensorType:
    x = t[0]
    require_float(x, "x")
    require_rank(x, 2, 64, what="x")
    same_dtype(t)
    _params_match(t[1:], (x.shape[1],), "per-channel parameters must have length C")
    return x


@register_op("batch_norm", inputs=5, category="norm", attrs=_EPS,
             traits={"channelwise": "channels-first"})
def _batch_norm(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Inference batch norm of ``[N, C, ...]``: inputs x, scale, bias, running mean, running var,
    each parameter of length C."""
    return _channel_params(t)


@register_op("instance_norm", inputs=(1, 3), category="norm", attrs=_EPS)
def _instance_norm(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Normalize each (sample, channel) over its spatial dims; optional scale/bias of length C."""
    return _channel_params(t)


@register_op("group_norm", inputs=(1, 3), category="norm",
             attrs={"num_groups": Attr(INT), **_EPS})
def _group_norm(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Normalize groups of C/num_groups channels; optional scale/bias of length C."""
    x = _channel_params(t)
    groups, channels = a["num_groups"], x.shape[1]
    if groups < 1 or (isinstance(channels, int) and channels % groups):
        raise ShapeError(f"{channels} channels do not split into {groups} groups")
    return x
