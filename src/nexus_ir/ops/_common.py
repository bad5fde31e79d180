"""Shape helpers shared by the op definitions."""

from __future__ import annotations

from collections.abc import Sequence

from .. import dims
from ..dims import Dim
from ..dtypes import DType
from ..errors import ShapeError
from ..types import TensorType


def compatible(a: Dim, b: Dim) -> bool:
    """Two dims that may be equal: identical, or one static and one symbolic."""
    return a == b or isinstance(a, int) != isinstance(b, int)


def require_dim(a: Dim, b: Dim, what: str) -> Dim:
    """The dim two operands must agree on (the static one if only one is static)."""
    if not compatible(a, b):
        raise ShapeError(f"{what}: {a} vs {b}")
    return a if isinstance(a, int) else b


def broadcast_shapes(*shapes: Sequence[Dim]) -> tuple[Dim, ...]:
    """Numpy broadcasting of shapes: align right; a 1 stretches; otherwise dims must match."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for axis in range(rank):
        dim: Dim = 1
        for shape in shapes:
            offset = axis - (rank - len(shape))
            if offset < 0:
                continue
            d = shape[offset]
            if d == 1 or d == dim:
                continue
            if dim == 1:
                dim = d
            elif isinstance(dim, int) != isinstance(d, int):
                dim = dim if isinstance(dim, int) else d
            else:
                shown = " and ".join(str(list(s)) for s in shapes)
                raise ShapeError(f"cannot broadcast shapes {shown}: dim {dim} vs {d}")
        out.append(dim)
    return tuple(out)


def same_dtype(types: Sequence[TensorType], what: str = "inputs") -> DType:
    first = types[0].dtype
    for t in types[1:]:
        if t.dtype != first:
            raise ShapeError(f"{what} must share one dtype, got {first} and {t.dtype}; "
                             "insert a cast")
    return first


def matrix_dtype(types: Sequence[TensorType]) -> DType:
    """The dtype of a matrix op (x, weight[, bias]): x's. x and weight share it, or are integers
    of one width (a u8 × i8 quantized product, as ONNX Runtime's QLinear kernels take); the bias
    shares it too, or is i32 beside integer operands (a quantized kernel adds its int32 bias to
    the accumulator before requantizing, as TFLite and ONNX's QLinear ops store it)."""
    x, w = types[0].dtype, types[1].dtype
    dtype = x if x.is_integer and w.is_integer and x.bits == w.bits else \
        same_dtype(types[:2])
    if len(types) > 2 and types[2].dtype != dtype and not (
            dtype.is_integer and types[2].dtype.name == "i32"):
        raise ShapeError(f"bias must have the inputs' dtype {dtype}"
                         f"{' or i32' if dtype.is_integer else ''}, got {types[2].dtype}; "
                         "insert a cast")
    return dtype


def require_float(t: TensorType, what: str = "input") -> None:
    if not t.dtype.is_float:
        raise ShapeError(f"{what} must be a float type, got {t.dtype}")


def require_int(t: TensorType, what: str) -> None:
    if not t.dtype.is_integer:
        raise ShapeError(f"{what} must be an integer type, got {t.dtype}")


def require_rank(t: TensorType, low: int, high: int | None = None, what: str = "input") -> None:
    high = low if high is None else high
    if not low <= t.rank <= high:
        want = str(low) if low == high else f"{low} to {high}"
        raise ShapeError(f"{what} must have rank {want}, got {t.rank} ({t})")


def axis_index(axis: int, rank: int) -> int:
    """A possibly negative axis as an index in ``range(rank)``."""
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def per_dim(values: tuple[int, ...], n: int, default: int, name: str) -> tuple[int, ...]:
    """An attribute given for every spatial dim, or empty for the default."""
    if not values:
        return (default,) * n
    if len(values) == 1 and n > 1:
        return values * n
    if len(values) != n:
        raise ShapeError(f"{name} has {len(values)} entries for {n} spatial dims")
    return values


def pads(values: tuple[int, ...], n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Begin and end padding from an empty, symmetric (n) or ONNX-style (2n) list."""
    if not values:
        return (0,) * n, (0,) * n
    if len(values) == 1:
        return values * n, values * n
    if len(values) == n:
        return values, values
    if len(values) == 2 * n:
        return values[:n], values[n:]
    raise ShapeError(f"padding has {len(values)} entries; give 1 or {n} (symmetric) or {2 * n} "
                     "(begins then ends)")


def window_out(size: Dim, kernel: int, stride: int, dilation: int, pad_begin: int, pad_end: int,
               ceil_mode: bool = False) -> Dim:
    """Output length of a sliding window (conv, pooling), PyTorch/ONNX rule.

    ``floor((L + pb + pe - d*(k-1) - 1) / s) + 1``; with ``ceil_mode`` the division rounds up but
    the last window must start inside the input or its begin padding, so a window longer than
    the padded input still gives one output there (PyTorch's rule, which Hugging Face's
    EfficientNet pools with).
    """
    if stride <= 0 or dilation <= 0 or kernel <= 0:
        raise ShapeError(f"kernel {kernel}, stride {stride} and dilation {dilation} must be positive")
    span = dims.sub(dims.add(size, pad_begin + pad_end), dilation * (kernel - 1) + 1)
    too_long = ShapeError(f"window of extent {dilation * (kernel - 1) + 1} does not fit input of "
                          f"size {size} with padding {pad_begin}+{pad_end}")
    if not ceil_mode:
        if isinstance(span, int) and span < 0:
            raise too_long
        return dims.add(dims.floordiv(span, stride), 1)
    if not isinstance(size, int):
        raise ShapeError(f"ceil_mode over the symbolic size '{size}' is undecidable; bind the "
                         "symbol first")
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_begin:
        out -= 1
    if out < 1:
        raise too_long
    return out
