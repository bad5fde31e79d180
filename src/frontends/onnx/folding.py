"""Shape arithmetic evaluated at load time (``Shape → Gather → Concat → Reshape`` and
friends), symbolically where sizes are symbols, so no IR node is spent on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nexus_ir import Value
from nexus_ir import dims

from .operands import Operand, axes_of, int_list, slice_args



def _elementwise(fn: Callable[[Any, Any], Any]) -> Callable[..., np.ndarray]:
    """A numpy ufunc over object arrays (symbolic sizes) and plain arrays alike."""
    ufunc = np.frompyfunc(fn, 2, 1)

    def apply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(ufunc(a, b), dtype=object)
    return apply


def tidy(array: np.ndarray) -> np.ndarray:
    """Object arrays whose entries are all ints become int64 arrays."""
    if array.dtype == object and all(isinstance(v, (int, np.integer)) for v in array.flat):
        return array.astype(np.int64)
    return array


_SYM_BINARY = {"Add": _elementwise(dims.add), "Sub": _elementwise(dims.sub),
               "Mul": _elementwise(dims.mul), "Div": _elementwise(dims.floordiv)}
_NP_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Max": np.maximum,
              "Min": np.minimum, "Mod": np.mod}
_NP_UNARY = {"Neg": np.negative, "Not": np.logical_not, "Abs": np.abs, "Sqrt": np.sqrt,
             "Reciprocal": np.reciprocal, "Exp": np.exp, "Log": np.log, "Floor": np.floor,
             "Ceil": np.ceil}
_NP_PREDICATES = {"Equal": np.equal, "Less": np.less, "Greater": np.greater,
                  "And": np.logical_and, "Or": np.logical_or}


FOLD_LIMIT = 1 << 24
"""The most elements a load-time fold may create (64 MiB of f32): folding is for shape
arithmetic and small constants, and a hostile model must not make it allocate gigabytes."""


def _grows_past_limit(op: str, ins: list[Any]) -> bool:
    """Whether folding ``op`` would create more than ``FOLD_LIMIT`` elements: a broadcast of
    its operands, or a Range's length."""
    arrays = [v for v in ins if isinstance(v, np.ndarray)]
    if op == "Range" and len(arrays) == 3 and all(a.size == 1 for a in arrays):
        start, limit, delta = (float(a.reshape(-1)[0]) for a in arrays)
        return delta == 0 or not np.isfinite([start, limit, delta]).all() or \
            max(0.0, np.ceil((limit - start) / delta)) > FOLD_LIMIT
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        return False                           # not a broadcast (Concat, Gather…): bounded
    return int(np.prod(shape, dtype=object)) > FOLD_LIMIT


def fold(node: Any, ins: list[Operand | None], at: dict[str, Any]) -> list[Any] | None:
    """Evaluate ``node`` at load time when its result is static (shape arithmetic, constants);
    None when it has to run on data. Results may hold symbolic sizes (object arrays); the
    caller turns all-int ones into int64 arrays."""
    op = node.op_type
    if node.domain not in ("", "ai.onnx"):
        return None
    if op == "Constant":
        key, = at
        value = at[key]
        return [np.asarray(value, np.float32 if key in ("value_float", "value_floats")
                           else np.int64 if key in ("value_int", "value_ints") else None)]
    if op in ("Shape", "Size") and ins[0] is not None:
        sizes = ins[0].type.shape if isinstance(ins[0], Value) else ins[0].shape
        shape = np.array(list(sizes), dtype=object)
        if op == "Size":
            return [dims.product(list(shape))]
        return [shape[at.get("start", 0):at.get("end", None)]]
    if not all(x is None or isinstance(x, np.ndarray) for x in ins) or not ins or ins[0] is None:
        return None
    x = ins[0]
    if _grows_past_limit(op, ins):
        return None                            # computed at run time, costed like any op
    symbolic = any(isinstance(v, np.ndarray) and v.dtype == object for v in ins)
    if symbolic and op in _SYM_BINARY:
        return [_SYM_BINARY[op](x, ins[1])]
    if symbolic and op == "Equal":
        return [np.frompyfunc(lambda a, b: a == b, 2, 1)(x, ins[1]).astype(bool)]
    if not symbolic and op == "Div":
        return [x // ins[1] if x.dtype.kind in "iu" else (x / ins[1]).astype(x.dtype)]
    if not symbolic and op in _NP_BINARY:
        return [_NP_BINARY[op](x, ins[1]).astype(np.result_type(x, ins[1]))]
    if not symbolic and op in _NP_PREDICATES:
        return [_NP_PREDICATES[op](x, ins[1])]
    if symbolic and op not in ("Gather", "Concat", "Unsqueeze", "Squeeze", "Slice", "Identity",
                               "Cast", "Reshape", "Where", "ReduceProd"):
        return None
    if op == "Identity":
        return [x]
    if op == "Cast":
        return [x if symbolic else x.astype(numpy_dtype(at["to"]))]
    if op == "Gather":
        return [np.take(x, ins[1].astype(np.int64), axis=at.get("axis", 0))]
    if op == "Concat":
        return [np.concatenate([np.atleast_1d(v) for v in ins if v is not None],
                               axis=at["axis"])]
    if op == "Unsqueeze":
        axes = axes_of(ins, at)
        return [np.expand_dims(x, tuple(a % (x.ndim + len(axes)) for a in axes))]
    if op == "Squeeze":
        axes = axes_of(ins, at)
        return [np.squeeze(x, axis=tuple(axes) if axes else None)]
    if op == "Slice":
        axes, starts, ends, steps = slice_args(ins)
        index = [slice(None)] * x.ndim
        for a, s, e, st in zip(axes, starts, ends, steps):
            index[a] = slice(s, e, st)
        return [x[tuple(index)]]
    if op == "Reshape":
        return [x.reshape(int_list(ins[1], "shape"))]
    if op == "Where":
        return [np.where(x, ins[1], ins[2])]
    if op == "ReduceProd" and x.ndim == 1 and not at.get("axes"):
        return [dims.product(list(x))]
    if op == "ConstantOfShape":
        shape = int_list(x, "shape")
        if any(isinstance(s, str) for s in shape) or np.prod(shape, dtype=np.int64) > 1 << 16:
            return None
        fill = at.get("value", np.zeros(1, np.float32))
        return [np.full(shape, fill.reshape(-1)[0], dtype=fill.dtype)]
    if op == "Range":
        return [np.arange(x.item(), ins[1].item(), ins[2].item()).astype(x.dtype)]
    if op in _NP_UNARY:
        return [_NP_UNARY[op](x).astype(x.dtype)]
    if op == "Trilu":
        k = int(ins[1]) if len(ins) > 1 and ins[1] is not None else 0
        return [np.triu(x, k) if at.get("upper", 1) else np.tril(x, k)]
    if op == "Expand" and x.size <= 1 << 16:
        shape = int_list(ins[1], "shape")
        if any(isinstance(s, str) for s in shape):
            return None
        out = np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(shape)))
        return [np.array(out)] if out.size <= 1 << 16 else None
    return None


def numpy_dtype(code: int) -> Any:
    from onnx import helper
    return helper.tensor_dtype_to_np_dtype(code)
