"""Op attributes: declared kinds, validation and freezing.

Attributes are immutable: lists become tuples, numpy arrays are copied read-only, and a node's
attribute mapping is a read-only view. An op declares each attribute with an ``Attr`` spec; values
are checked and normalized when a node is built, so a graph never holds an attribute of the wrong
kind.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import dims as _dims
from .dtypes import DType, dtype
from .errors import AttrError, NexusError

if TYPE_CHECKING:
    import numpy as np

REQUIRED = object()
"""Sentinel default: the attribute must be given."""


def _is_numpy(value: Any, *kinds: str) -> bool:
    """Whether ``value`` is one of numpy's ``kinds`` (``"ndarray"``, ``"integer"``...). A value
    cannot be a numpy object before numpy is loaded, so this never imports it: ``import
    nexus_ir`` stays light (numpy alone takes 90 ms to import)."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, tuple(getattr(numpy, k) for k in kinds))


def freeze(value: Any) -> Any:
    """An immutable, hashable-where-possible copy of an attribute or annotation value."""
    if _is_numpy(value, "ndarray"):
        frozen = sys.modules["numpy"].array(value, copy=True)   # a plain array, not a subclass
        frozen.setflags(write=False)
        return frozen
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if _is_numpy(value, "generic"):
        return value.item()
    return value


def frozen_array(data: Any) -> np.ndarray:
    """``data`` as a read-only numpy array: a read-only array is shared, anything else copied."""
    import numpy

    data = numpy.asarray(data)
    return freeze(data) if data.flags.writeable else data


@dataclass(frozen=True)
class Kind:
    """One attribute kind: a name for messages and a converter that raises ValueError.
    ``holds_dims``: the value is a list of dims, bound with the graph's symbols."""

    name: str
    convert: Callable[[Any], Any]
    holds_dims: bool = False


def _int(v: Any) -> int:
    if isinstance(v, bool) or not (isinstance(v, int) or _is_numpy(v, "integer")):
        raise ValueError
    return int(v)


def _float(v: Any) -> float:
    if isinstance(v, bool) or not (isinstance(v, (int, float))
                                   or _is_numpy(v, "integer", "floating")):
        raise ValueError
    return float(v)


def _bool(v: Any) -> bool:
    if not (isinstance(v, bool) or _is_numpy(v, "bool_")):
        raise ValueError
    return bool(v)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError
    return v


def _seq(item: Callable[[Any], Any]) -> Callable[[Any], tuple]:
    def convert(v: Any) -> tuple:
        if _is_numpy(v, "ndarray"):
            v = v.tolist()
        if not isinstance(v, (list, tuple)):
            raise ValueError
        return tuple(item(x) for x in v)
    return convert


def _dtype(v: Any) -> DType:
    if not isinstance(v, (str, DType)):
        raise ValueError
    try:
        return dtype(v)
    except NexusError:
        raise ValueError from None


def _dim(v: Any) -> _dims.Dim:
    if isinstance(v, bool):
        raise ValueError
    try:
        return _dims.canonical(v)
    except NexusError:
        raise ValueError from None


def _array(v: Any) -> np.ndarray:
    if isinstance(v, (list, tuple)):
        import numpy

        v = numpy.asarray(v)
    if not _is_numpy(v, "ndarray") or v.dtype == object:
        raise ValueError
    return freeze(v)


def _any(v: Any) -> Any:
    return freeze(v)


INT = Kind("int", _int)
FLOAT = Kind("float", _float)
BOOL = Kind("bool", _bool)
STR = Kind("str", _str)
INTS = Kind("list of ints", _seq(_int))
FLOATS = Kind("list of floats", _seq(_float))
DTYPE = Kind("dtype", _dtype)
DIMS = Kind("list of dims (ints or symbols)", _seq(_dim), holds_dims=True)
ARRAY = Kind("array", _array)
ANY = Kind("any value", _any)


def one_of(*choices: str) -> Kind:
    """A string attribute restricted to ``choices``."""
    def convert(v: Any) -> str:
        if v not in choices:
            raise ValueError
        return v
    return Kind("one of " + ", ".join(repr(c) for c in choices), convert)


def optional(kind: Kind) -> Kind:
    """``kind`` or None."""
    return Kind(f"{kind.name} or None", lambda v: None if v is None else kind.convert(v),
                kind.holds_dims)


@dataclass(frozen=True)
class Attr:
    """Declaration of one attribute of an op."""

    kind: Kind
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class AttrSchema:
    """The attributes an op accepts; ``open`` ops (``opaque``) also keep undeclared ones."""

    specs: Mapping[str, Attr] = field(default_factory=dict)
    open: bool = False

    def normalize(self, op: str, given: Mapping[str, Any]) -> Mapping[str, Any]:
        """Check ``given`` against the schema, fill defaults, freeze; a read-only mapping."""
        unknown = [k for k in given if k not in self.specs]
        if unknown and not self.open:
            allowed = ", ".join(self.specs) or "none"
            raise AttrError(f"{op}: unknown attribute '{unknown[0]}' (allowed: {allowed})")
        out: dict[str, Any] = {}
        for name, spec in self.specs.items():
            if name in given:
                try:
                    out[name] = freeze(spec.kind.convert(given[name]))
                except (ValueError, TypeError):
                    raise AttrError(
                        f"{op}: attribute '{name}' must be {spec.kind.name}, got {given[name]!r}"
                    ) from None
            elif spec.required:
                raise AttrError(f"{op}: missing required attribute '{name}'")
            else:
                out[name] = freeze(spec.kind.convert(spec.default))
        for name in unknown:
            out[name] = freeze(given[name])
        return MappingProxyType(out)


def attrs_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equality of attribute mappings that compares arrays by value, dtype and shape."""
    if a.keys() != b.keys():
        return False
    return all(values_equal(a[k], b[k]) for k in a)


def values_equal(x: Any, y: Any) -> bool:
    if _is_numpy(x, "ndarray") or _is_numpy(y, "ndarray"):
        import numpy

        return (_is_numpy(x, "ndarray") and _is_numpy(y, "ndarray") and x.dtype == y.dtype
                and x.shape == y.shape
                and bool(numpy.array_equal(x, y, equal_nan=x.dtype.kind == "f")))
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(values_equal(p, q) for p, q in zip(x, y))
    if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
        return True
    return type(x) is type(y) and x == y
