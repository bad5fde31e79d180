"""Primitive operations typed by dtype, and the gate-level transistor model (β).

Every IR op lowers to counts of a small set of primitives, each typed by the dtype it runs at.
Transcendental and iterative primitives (div, sqrt, exp, log, tanh, erf, trig) are kept as
themselves in the counts users see, and expand to their arithmetic for energy and transistor
operations (``COMPOSITES``) unless a target prices them directly (a GPU's special function unit).

β, the transistor operations (TOs) of one primitive, is ``α · N_T`` with activity ``α = 0.5`` and
``N_T`` the switching transistors of a static-CMOS implementation (../shared/PHYSICS.md §2):

- n-bit integer adder: n full adders of 28 transistors → ``28·n``;
- n×n integer multiplier: n² full adders plus n² partial-product gates → ``34·n²``;
- float multiplier: the (m+1)×(m+1) mantissa array plus an e-bit exponent adder →
  ``34·(m+1)² + 28·e``;
- float adder: two barrel shifters of (m+1)·⌈log2(m+1)⌉ 6-transistor muxes (align and
  normalize), the (m+1)-bit adder and the exponent comparison → ``12·(m+1)·⌈log2(m+1)⌉ +
  28·(m+1) + 28·e``;
- compare: a subtractor of the full width (``28·n``); max: compare plus an n-bit 6T mux;
  select: the mux alone; bitwise/sign ops: one 4-transistor gate per bit; xnor: 8 per bit;
  popcount: an adder tree of ≈ n full adders; convert (int↔float, float↔float): a normalizing
  shifter and adder of the wider format (modeled as that format's float add);
- fma: the multiplier at the operand dtype plus the adder at the accumulator dtype (int8 MACs
  accumulate in i32, f16/bf16/f8/f4 in f32 as tensor cores do).
"""

from __future__ import annotations

import functools
import math
from collections.abc import ItemsView, Iterable, Iterator, Mapping

from nexus_ir import ALL_DTYPES, DType, dtype

ALPHA = 0.5
"""Activity factor for random data: half the transistors toggle per operation."""

PRIMITIVES = ("add", "mul", "fma", "cmp", "max", "select", "bitop", "xnor", "popcount",
              "convert", "round", "div", "sqrt", "exp", "log", "tanh", "erf", "trig")

COMPOSITES: dict[str, dict[str, int]] = {
    # Newton-Raphson reciprocal (table seed, 2 iterations of 2 FMAs) times the dividend.
    "div": {"fma": 4, "mul": 1},
    # Newton-Raphson reciprocal square root (2 iterations of 2 FMAs and a multiply) and x·rsqrt.
    "sqrt": {"fma": 4, "mul": 3},
    # Range reduction x·log2(e), split integer/fraction, degree-6 polynomial, exponent insert.
    "exp": {"mul": 1, "round": 1, "fma": 6, "add": 1},
    # Exponent extraction, degree-7 polynomial on the mantissa, scale by ln 2.
    "log": {"add": 2, "fma": 7, "mul": 1},
    # tanh(x) = 1 - 2/(exp(2x)+1).
    "tanh": {"mul": 1, "exp": 1, "add": 2, "div": 1},
    # Abramowitz-Stegun style rational approximation: degree-5 polynomial, an exp, a division.
    "erf": {"fma": 5, "exp": 1, "div": 1, "mul": 2},
    # Quadrant reduction and a degree-8 polynomial.
    "trig": {"mul": 2, "round": 1, "add": 1, "fma": 8},
}


def accumulator(dt: DType) -> DType:
    """The dtype an fma at ``dt`` accumulates in."""
    if dt.is_float:
        return dt if dt.bits >= 32 else dtype("f32")
    return dtype("i64") if dt.bits > 32 else dtype("i32")


def _log2_ceil(n: int) -> int:
    return max(1, math.ceil(math.log2(n)))


def transistors(primitive: str, dt: DType) -> int:
    """Switching transistors ``N_T`` of one ``primitive`` at ``dt`` (gate-level model above).

    Composite primitives are not circuits: use ``expand`` first.
    """
    n, m, e = dt.bits, dt.mantissa_bits, dt.exponent_bits
    if primitive == "add":
        if dt.is_float:
            w = m + 1
            return 12 * w * _log2_ceil(w) + 28 * w + 28 * e
        return 28 * n
    if primitive == "mul":
        if dt.is_float:
            return 34 * (m + 1) ** 2 + 28 * e
        return 34 * n * n
    if primitive == "fma":
        return transistors("mul", dt) + transistors("add", accumulator(dt))
    if primitive in ("cmp", "popcount"):
        return 28 * n
    if primitive == "max":
        return 28 * n + 6 * n
    if primitive == "select":
        return 6 * n
    if primitive == "bitop":
        return 4 * n
    if primitive == "xnor":
        return 8 * n
    if primitive in ("convert", "round"):
        return transistors("add", dt if dt.is_float else dtype("f32"))
    if primitive in COMPOSITES:
        raise ValueError(f"{primitive} is a composite primitive; expand it first")
    raise ValueError(f"unknown primitive '{primitive}'")


@functools.lru_cache(maxsize=1024)
def beta(primitive: str, dt: DType) -> float:
    """Transistor operations (toggles) of one primitive on random data: ``α · N_T``, with
    composite primitives summed over their expansion (cached: a costing asks it per count)."""
    return sum(count * ALPHA * transistors(p, dt) for p, count in expand(primitive).items())


def expand(primitive: str) -> dict[str, int]:
    """A primitive as counts of circuit primitives (itself when it is one)."""
    if primitive not in COMPOSITES:
        return {primitive: 1}
    out: dict[str, int] = {}
    for part, count in COMPOSITES[primitive].items():
        for leaf, k in expand(part).items():
            out[leaf] = out.get(leaf, 0) + count * k
    return out


FLOP_PRIMITIVES = frozenset(("add", "mul", "div", "sqrt", "exp", "log", "tanh", "erf", "trig",
                             "max"))
"""Float primitives a FLOP counter counts as one operation each (an fma is two)."""
FLOAT_NAMES = frozenset(d.name for d in ALL_DTYPES if d.is_float)

Key = tuple[str, str]
"""(primitive, dtype name)."""


class Counts(Mapping[Key, int]):
    """Exact primitive-op counts keyed by ``(primitive, dtype)``; Python ints never overflow."""

    __slots__ = ("_data",)

    def __init__(self, items: Mapping[Key, int] | Iterable[tuple[Key, int]] = ()):
        data: dict[Key, int] = {}
        pairs = items.items() if isinstance(items, Mapping) else items
        for (prim, dt), count in pairs:
            if prim not in PRIMITIVES:
                raise ValueError(f"unknown primitive '{prim}'")
            if count:
                key = (prim, dtype(dt).name)
                data[key] = data.get(key, 0) + int(count)
        self._data = dict(sorted(data.items()))      # iterated in key order, sorted once

    @classmethod
    def of(cls, dt: DType | str, **counts: int) -> "Counts":
        """Counts at one dtype: ``Counts.of(f32, fma=10, add=2)``."""
        unknown = [p for p in counts if p not in PRIMITIVES]
        if unknown:
            raise ValueError(f"unknown primitive '{unknown[0]}'")
        name = dtype(dt).name
        return cls._checked({(p, name): int(c) for p, c in counts.items()})

    def __getitem__(self, key: Key) -> int:
        return self._data[key]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._data)

    def items(self) -> ItemsView[Key, int]:
        return self._data.items()

    def __len__(self) -> int:
        return len(self._data)

    @classmethod
    def _checked(cls, data: dict[Key, int]) -> "Counts":
        """Counts over ``data`` whose keys are already checked and canonical (both operands'
        of a sum or product): lowering builds thousands per costing."""
        counts = cls.__new__(cls)
        counts._data = dict(sorted((k, v) for k, v in data.items() if v))
        return counts

    def __add__(self, other: "Counts") -> "Counts":
        total = dict(self._data)
        for key, count in other._data.items():
            total[key] = total.get(key, 0) + count
        return Counts._checked(total)

    def __mul__(self, factor: int) -> "Counts":
        factor = int(factor)
        return Counts._checked({k: v * factor for k, v in self._data.items()})

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Counts):
            return self._data == other._data
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f"{p}:{d}={c}" for (p, d), c in sorted(self._data.items()))
        return f"Counts({inner})"

    def total(self, primitive: str | None = None) -> int:
        return sum(c for (p, _), c in self._data.items() if primitive in (None, p))

    @property
    def macs(self) -> int:
        """Multiply-accumulates: fma, plus XNOR of binary (i1) dot products."""
        return self.total("fma") + self.total("xnor")

    @property
    def flops(self) -> int:
        """Floating-point operations, the FLOP counters' convention: an fma is 2, every other
        float arithmetic primitive (not compares, selects or conversions) is 1."""
        total = 0
        for (prim, dt), c in self._data.items():
            if dt in FLOAT_NAMES:
                total += 2 * c if prim == "fma" else c if prim in FLOP_PRIMITIVES else 0
        return total

    def transistor_ops(self) -> float:
        """Σ count · β over all primitives, exact for huge counts (ints scaled last)."""
        return sum(c * beta(p, dtype(d)) for (p, d), c in self._data.items())

    def __nexus_json__(self) -> dict[str, dict[str, int]]:
        return self.to_dict()

    @classmethod
    def from_dict(cls, nested: Mapping[str, Mapping[str, int]]) -> "Counts":
        """Inverse of ``to_dict``."""
        return cls({(p, d): c for p, by_dt in nested.items() for d, c in by_dt.items()})

    def to_dict(self) -> dict[str, dict[str, int]]:
        """``{primitive: {dtype: count}}`` for reports and annotations."""
        out: dict[str, dict[str, int]] = {}
        for (p, d), c in sorted(self._data.items()):
            out.setdefault(p, {})[d] = c
        return out
