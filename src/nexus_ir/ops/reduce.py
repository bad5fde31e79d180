"""Reductions, arg-reductions, running sums and softmax."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..attrs import BOOL, INT, INTS, Attr, optional
from ..dtypes import i64
from ..errors import ShapeError
from ..registry import define_op
from ..types import TensorType
from ._common import axis_index

REDUCTIONS = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod")


def _reduced_shape(x: TensorType, axes: Sequence[int], keepdims: bool) -> tuple:
    chosen = {axis_index(ax, x.rank) for ax in axes}
    if len(chosen) != len(axes):
        raise ShapeError(f"axes {list(axes)} repeat an axis")
    if keepdims:
        return tuple(1 if i in chosen else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in chosen)


def _reduce(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Reduce over ``axes`` (None: every axis); ``keepdims`` keeps them as size 1."""
    x = t[0]
    axes = range(x.rank) if a["axes"] is None else a["axes"]
    return TensorType(_reduced_shape(x, tuple(axes), a["keepdims"]), x.dtype)


def _argreduce(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Index (i64) of the max/min along ``axis``."""
    return TensorType(_reduced_shape(t[0], (a["axis"],), a["keepdims"]), i64)


def _topk(t: Sequence[TensorType], a: Mapping[str, Any]) -> list[TensorType]:
    """The ``k`` largest (or smallest) entries along ``axis`` and their indices (i64)."""
    x = t[0]
    axis = axis_index(a["axis"], x.rank)
    size = x.shape[axis]
    if a["k"] < 1 or (isinstance(size, int) and a["k"] > size):
        raise ShapeError(f"k={a['k']} must be in 1..{size} (the size of axis {a['axis']})")
    shape = tuple(a["k"] if i == axis else d for i, d in enumerate(x.shape))
    return [TensorType(shape, x.dtype), TensorType(shape, i64)]


def _cumsum(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Running sums along ``axis`` (ONNX CumSum: ``exclusive`` leaves each element out of its
    own sum, ``reverse`` runs from the end); the input's type: a number, not a boolean."""
    x = t[0]
    if x.dtype.is_bool:
        raise ShapeError(f"cumsum input must be a number, got {x.dtype}: cast it first")
    axis_index(a["axis"], x.rank)
    return x


def _softmax(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Normalize along ``axis``; same type as the input: a float, or a quantized integer type
    (TFLite's int8/int16 softmax maps quantized logits to quantized probabilities)."""
    if t[0].dtype.is_bool:
        raise ShapeError(f"softmax input must be a float or quantized integer type, got "
                         f"{t[0].dtype}")
    axis_index(a["axis"], t[0].rank)
    return t[0]


for _name in REDUCTIONS:
    define_op(_name, infer=_reduce, inputs=(1, 1), category="reduction", doc=_reduce.__doc__,
              attrs={"axes": Attr(optional(INTS), None), "keepdims": Attr(BOOL, False)})
for _name in ("argmax", "argmin"):
    define_op(_name, infer=_argreduce, inputs=(1, 1), category="reduction",
              doc=_argreduce.__doc__, attrs={"axis": Attr(INT, 0), "keepdims": Attr(BOOL, False)})
define_op("cumsum", infer=_cumsum, inputs=(1, 1), category="reduction", doc=_cumsum.__doc__,
          attrs={"axis": Attr(INT), "exclusive": Attr(BOOL, False), "reverse": Attr(BOOL, False)})
define_op("topk", infer=_topk, inputs=(1, 1), category="reduction", doc=_topk.__doc__,
          attrs={"k": Attr(INT), "axis": Attr(INT, -1), "largest": Attr(BOOL, True)})
for _name in ("softmax", "log_softmax"):
    define_op(_name, infer=_softmax, inputs=(1, 1), category="softmax", doc=_softmax.__doc__,
              traits={"transcendental": True},
              attrs={"axis": Attr(INT, -1)})
