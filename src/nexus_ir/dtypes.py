"""Element types with their bit widths.

Energy depends on bit width: an n-bit adder switches ~n full adders, a floating-point multiplier is
dominated by its (m+1)x(m+1) mantissa array. A ``DType`` therefore records storage bits and, for
floats, exponent and mantissa bits, which the cost model reads directly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import NexusError

if TYPE_CHECKING:
    import numpy as np


class DTypeKind(enum.Enum):
    FLOAT = "float"
    INT = "int"
    UINT = "uint"
    BOOL = "bool"


@dataclass(frozen=True, slots=True)
class DType:
    """An element type.

    ``bits`` is the storage width (tf32 is stored in 32 bits but multiplies with a 10-bit
    mantissa); ``exponent_bits``/``mantissa_bits`` are 0 for non-float kinds.
    """

    name: str
    bits: int
    kind: DTypeKind
    exponent_bits: int = 0
    mantissa_bits: int = 0

    @property
    def is_float(self) -> bool:
        return self.kind is DTypeKind.FLOAT

    @property
    def is_integer(self) -> bool:
        return self.kind in (DTypeKind.INT, DTypeKind.UINT)

    @property
    def is_bool(self) -> bool:
        return self.kind is DTypeKind.BOOL

    @property
    def is_signed(self) -> bool:
        return self.kind in (DTypeKind.INT, DTypeKind.FLOAT)

    @property
    def itemsize(self) -> float:
        """Bytes per element; fractional for sub-byte types (i4 is 0.5)."""
        return self.bits / 8

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"nexus_ir.{self.name}"


f64 = DType("f64", 64, DTypeKind.FLOAT, 11, 52)
f32 = DType("f32", 32, DTypeKind.FLOAT, 8, 23)
tf32 = DType("tf32", 32, DTypeKind.FLOAT, 8, 10)
bf16 = DType("bf16", 16, DTypeKind.FLOAT, 8, 7)
f16 = DType("f16", 16, DTypeKind.FLOAT, 5, 10)
f8e4m3 = DType("f8e4m3", 8, DTypeKind.FLOAT, 4, 3)
f8e5m2 = DType("f8e5m2", 8, DTypeKind.FLOAT, 5, 2)
f4e2m1 = DType("f4e2m1", 4, DTypeKind.FLOAT, 2, 1)
i64 = DType("i64", 64, DTypeKind.INT)
i32 = DType("i32", 32, DTypeKind.INT)
i16 = DType("i16", 16, DTypeKind.INT)
i8 = DType("i8", 8, DTypeKind.INT)
i4 = DType("i4", 4, DTypeKind.INT)
u8 = DType("u8", 8, DTypeKind.UINT)
i1 = DType("i1", 1, DTypeKind.BOOL)

ALL_DTYPES: tuple[DType, ...] = (
    f64, f32, tf32, bf16, f16, f8e4m3, f8e5m2, f4e2m1, i64, i32, i16, i8, i4, u8, i1,
)

_BY_NAME: dict[str, DType] = {d.name: d for d in ALL_DTYPES}
_ALIASES: dict[str, DType] = {
    "bool": i1, "float64": f64, "double": f64, "float32": f32, "float": f32, "bfloat16": bf16,
    "float16": f16, "half": f16, "float8_e4m3fn": f8e4m3, "float8_e5m2": f8e5m2,
    "int64": i64, "long": i64, "int32": i32, "int": i32, "int16": i16, "int8": i8, "int4": i4,
    "uint8": u8,
}

_NUMPY_TO_DTYPE: dict[str, DType] = {
    "float64": f64, "float32": f32, "float16": f16, "int64": i64, "int32": i32, "int16": i16,
    "int8": i8, "uint8": u8, "bool": i1,
}
_DTYPE_TO_NUMPY: dict[str, str] = {d.name: n for n, d in _NUMPY_TO_DTYPE.items()}


def dtype(name: str | DType) -> DType:
    """Look up a dtype by its NEXUS name (``f32``) or a common alias (``float32``, ``bool``)."""
    if isinstance(name, DType):
        return name
    found = _BY_NAME.get(name) or _ALIASES.get(name)
    if found is None:
        known = ", ".join(_BY_NAME)
        raise NexusError(f"unknown dtype '{name}'; known dtypes: {known}")
    return found


def from_numpy(np_dtype: np.dtype | type) -> DType:
    """The IR dtype that stores a numpy array of ``np_dtype`` without loss."""
    import numpy

    key = numpy.dtype(np_dtype).name
    found = _NUMPY_TO_DTYPE.get(key)
    if found is None:
        raise NexusError(
            f"numpy dtype '{key}' has no NEXUS dtype; cast the array to one of "
            f"{', '.join(_NUMPY_TO_DTYPE)}"
        )
    return found


def to_numpy(dt: DType) -> np.dtype:
    """The numpy dtype that holds ``dt`` exactly.

    Formats numpy lacks (bf16, tf32, f8, f4, i4) have no exact numpy container here: quantized or
    low-precision weights are stored in the numpy type of their frontend and typed by the IR.
    """
    name = _DTYPE_TO_NUMPY.get(dt.name)
    if name is None:
        raise NexusError(f"dtype {dt.name} has no exact numpy equivalent")
    import numpy

    return numpy.dtype(name)
