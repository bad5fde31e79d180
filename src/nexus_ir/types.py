"""Tensor types: a shape of int or symbolic dims, and a dtype."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from . import dims as _dims
from .dims import Dim
from .dtypes import DType, dtype
from .errors import NexusError, ShapeError

_TYPE_TEXT = re.compile(r"^\s*([A-Za-z0-9_]+)\s*\[(.*)\]\s*$")


@dataclass(frozen=True, slots=True)
class TensorType:
    """The static type of a value: ``shape`` (ints or symbols) and ``dtype``.

    Written ``f32[batch,3,224,224]``; a scalar is ``f32[]``.
    """

    shape: tuple[Dim, ...]
    dtype: DType
    _static_numel: int | None = field(default=None, compare=False, repr=False)
    """The element count where every dim is an int (None while symbols are unbound): the cost
    passes ask for it thousands of times per graph."""
    _static_nbytes: int | None = field(default=None, compare=False, repr=False)
    """``nbytes`` where the element count is known, likewise."""

    def __init__(self, shape: Iterable[Dim], dtype_: DType | str):
        object.__setattr__(self, "shape", tuple(_dims.canonical(d) for d in shape))
        object.__setattr__(self, "dtype", dtype(dtype_))
        for d in self.shape:
            if isinstance(d, int) and d < 0:
                raise ShapeError(f"negative dimension {d} in shape {list(self.shape)}")
        static = all(type(d) is int for d in self.shape)
        object.__setattr__(self, "_static_numel", math.prod(self.shape) if static else None)
        object.__setattr__(self, "_static_nbytes", self._bytes(self._static_numel)
                           if static else None)

    @classmethod
    def parse(cls, text: str) -> "TensorType":
        """Parse the printed form, e.g. ``f32[batch,784]``."""
        match = _TYPE_TEXT.match(text)
        if not match:
            raise ShapeError(f"cannot parse tensor type '{text}': expected e.g. f32[batch,784]")
        body = match.group(2).strip()
        parts = _split_top_level(body) if body else []
        return cls([int(p) if re.fullmatch(r"-?\d+", p) else p for p in parts], match.group(1))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return self._static_numel is not None

    @property
    def symbols(self) -> frozenset[str]:
        found: set[str] = set()
        for d in self.shape:
            found |= _dims.symbols(d)
        return frozenset(found)

    @property
    def numel_expr(self) -> Dim:
        """Element count as a dim (an expression while symbols are unbound)."""
        return _dims.product(self.shape)

    @property
    def numel(self) -> int:
        """Element count; raises when the shape still has unbound symbols."""
        if self._static_numel is not None:              # the common case, kept cheap
            return self._static_numel
        n = self.numel_expr
        if not isinstance(n, int):
            raise ShapeError(
                f"type {self} has unbound symbols {sorted(self.symbols)}; bind them to sizes first"
            )
        return n

    @property
    def nbytes(self) -> int:
        """Storage bytes, rounding sub-byte types up to whole bytes."""
        if self._static_nbytes is not None:
            return self._static_nbytes
        return self._bytes(self.numel)

    def _bytes(self, elements: int) -> int:
        return math.ceil(elements * self.dtype.bits / 8)

    def bind(self, bindings: Mapping[str, int | str]) -> "TensorType":
        """The same type with bound symbols replaced by their sizes (or new names)."""
        if self.is_static:
            return self
        return TensorType([_dims.bind(d, bindings) for d in self.shape], self.dtype)

    def with_shape(self, shape: Iterable[Dim]) -> "TensorType":
        return TensorType(shape, self.dtype)

    def with_dtype(self, dtype_: DType | str) -> "TensorType":
        return TensorType(self.shape, dtype_)

    def __str__(self) -> str:
        return f"{self.dtype.name}[{','.join(str(d) for d in self.shape)}]"

    def __repr__(self) -> str:
        return f"TensorType({self})"


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses (``max(a,b)`` is one dim)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


INPUT_SHAPE = re.compile(r"^(?P<name>[^=\s]+)=(?P<dims>\d+(?:x\d+)*)(?::(?P<dtype>\w+))?$")


def parse_input_shapes(items: Sequence[str]) -> dict[str, TensorType | tuple[int, ...]]:
    """``NAME=1x3x224x224:f32`` → {NAME: TensorType}; without ``:dtype``, a bare shape (the
    model's own dtype, float32 for a PyTorch module). The form ``--input-shape`` takes."""
    shapes: dict[str, TensorType | tuple[int, ...]] = {}
    for item in items:
        match = INPUT_SHAPE.match(item.strip())
        if match is None:
            raise NexusError(f"--input-shape expects NAME=DIMS[:DTYPE] (e.g. "
                             f"image=1x3x224x224:f32), got '{item}'")
        dims = tuple(int(d) for d in match["dims"].split("x"))
        shapes[match["name"]] = TensorType(list(dims), match["dtype"]) if match["dtype"] else dims
    return shapes
