"""Elementwise ops: unary activations and math, binary arithmetic with numpy broadcasting,
comparisons, logical ops, ``where``, ``clip`` and ``cast``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..attrs import DTYPE, FLOAT, Attr, one_of, optional
from ..dtypes import i1
from ..errors import ShapeError
from ..registry import define_op, register_op
from ..types import TensorType
from ._common import broadcast_shapes, require_float, same_dtype

# Unary ops defined on floats only (transcendental or float-valued), with their attributes.
FLOAT_UNARY: dict[str, dict[str, Attr]] = {
    "gelu": {"approximate": Attr(one_of("none", "tanh"), "none")},
    "silu": {}, "mish": {}, "sigmoid": {}, "tanh": {}, "hardswish": {}, "hardsigmoid": {
        "alpha": Attr(FLOAT, 1 / 6), "beta": Attr(FLOAT, 0.5)},
    "elu": {"alpha": Attr(FLOAT, 1.0)}, "selu": {}, "celu": {"alpha": Attr(FLOAT, 1.0)},
    "softplus": {"beta": Attr(FLOAT, 1.0), "threshold": Attr(FLOAT, 20.0)},
    "softsign": {}, "exp": {}, "log": {}, "sqrt": {}, "rsqrt": {}, "reciprocal": {}, "erf": {},
    "sin": {}, "cos": {}, "tan": {}, "floor": {}, "ceil": {}, "round": {},
}
# Unary ops defined on any numeric type.
NUMERIC_UNARY: dict[str, dict[str, Attr]] = {
    "relu": {}, "leaky_relu": {"alpha": Attr(FLOAT, 0.01)}, "abs": {}, "neg": {}, "sign": {},
    "identity": {},
}


def _unary(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Same shape and dtype as the input."""
    return t[0]


def _float_unary(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Same shape and dtype as the input, which must be a float type."""
    require_float(t[0])
    return t[0]


TRANSCENDENTAL = {"gelu", "silu", "sigmoid", "tanh", "mish", "softplus", "elu", "selu", "erf",
                  "exp"}
"""Unary ops that evaluate an exponential, erf or tanh per element (their ``transcendental``
trait)."""


def _unary_traits(name: str) -> dict[str, Any]:
    return {"epilogue": True, "channelwise": "any", "transcendental": name in TRANSCENDENTAL}


for _name, _attrs in FLOAT_UNARY.items():
    define_op(_name, infer=_float_unary, inputs=(1, 1), category="elementwise", attrs=_attrs,
              doc=_float_unary.__doc__, traits=_unary_traits(_name))
for _name, _attrs in NUMERIC_UNARY.items():
    define_op(_name, infer=_unary, inputs=(1, 1), category="elementwise", attrs=_attrs,
              doc=_unary.__doc__, traits={**_unary_traits(_name), "view": _name == "identity"})


@register_op("clip", inputs=1, category="elementwise", traits=_unary_traits("clip"), attrs={
    "min": Attr(optional(FLOAT), None), "max": Attr(optional(FLOAT), None)})
def _clip(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Clamp to ``[min, max]`` (either bound may be absent); hardtanh and relu6 are clips."""
    if a["min"] is not None and a["max"] is not None and a["min"] > a["max"]:
        raise ShapeError(f"min {a['min']} exceeds max {a['max']}")
    return t[0]


_EPILOGUE = {"epilogue": True}
ARITHMETIC = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "mod")
COMPARISON = ("eq", "ne", "lt", "le", "gt", "ge")
LOGICAL = ("logical_and", "logical_or", "logical_xor")


def _arith(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Numpy broadcasting of the two shapes; both operands share one dtype."""
    return TensorType(broadcast_shapes(t[0].shape, t[1].shape), same_dtype(t))


def _compare(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Broadcast shapes; operands share one dtype; the result is boolean (i1)."""
    same_dtype(t)
    return TensorType(broadcast_shapes(t[0].shape, t[1].shape), i1)


def _logical(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Broadcast boolean operands to a boolean result."""
    for x in t:
        if x.dtype != i1:
            raise ShapeError(f"operands must be boolean (i1), got {x.dtype}")
    return TensorType(broadcast_shapes(*(x.shape for x in t)), i1)


for _name in ARITHMETIC:
    define_op(_name, infer=_arith, inputs=(2, 2), category="elementwise", attrs={},
              doc=_arith.__doc__, traits=_EPILOGUE)
for _name in COMPARISON:
    define_op(_name, infer=_compare, inputs=(2, 2), category="elementwise", attrs={},
              doc=_compare.__doc__, traits=_EPILOGUE)
for _name in LOGICAL:
    define_op(_name, infer=_logical, inputs=(2, 2), category="elementwise", attrs={},
              doc=_logical.__doc__, traits=_EPILOGUE)
define_op("logical_not", infer=_logical, inputs=(1, 1), category="elementwise", attrs={},
          doc=_logical.__doc__, traits=_EPILOGUE)


@register_op("where", inputs=3, category="elementwise", traits=_EPILOGUE)
def _where(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """``cond ? x : y`` with all three shapes broadcast; cond is boolean."""
    cond, x, y = t
    if cond.dtype != i1:
        raise ShapeError(f"condition must be boolean (i1), got {cond.dtype}")
    return TensorType(broadcast_shapes(cond.shape, x.shape, y.shape), same_dtype([x, y]))


@register_op("cast", inputs=1, category="data_movement", traits=_EPILOGUE,
             attrs={"to": Attr(DTYPE)})
def _cast(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Convert elements to dtype ``to``; the shape is unchanged."""
    return t[0].with_dtype(a["to"])
