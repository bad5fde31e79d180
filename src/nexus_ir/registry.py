"""The op registry: every IR op declares its arity, attributes and type inference.

An op is registered once with ``@register_op``; the decorated function receives the operand types
and the normalized attributes and returns the result type(s). Graph construction, the verifier and
deserialization all go through the registry, so an op's contract lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .attrs import Attr, AttrSchema
from .errors import AttrError, NexusError, ShapeError, UnknownOpError
from .types import TensorType

InferFn = Callable[[Sequence[TensorType], Mapping[str, Any]], "TensorType | Sequence[TensorType]"]
CheckFn = Callable[[Mapping[str, Any]], None]
CanonicalizeFn = Callable[[dict[str, Any], Sequence[TensorType]], dict[str, Any]]


MATRIX_KINDS = frozenset({"matmul", "conv", "attention", "recurrent", "linear_model"})
"""Kinds of work whose multiply-accumulates run on a matrix datapath and count as MACs."""

STRIDED_READER_KINDS = frozenset({"matmul", "attention", "elementwise"})
"""Kinds of work that read operands through strides without a copy in PyTorch: GEMMs take
transposed operands, attention kernels strided heads, elementwise ops iterate over strides."""

GemmFn = Callable[[Any], "tuple[int, int, int, int] | None"]
StreamFn = Callable[[Any, int], "int | None"]


@dataclass(frozen=True)
class OpTraits:
    """What passes ask about an op instead of keeping lists of op names.

    - ``kind``: the kind of work (the op's category: matmul, conv, attention, recurrent,
      linear_model, elementwise, reduction, softmax, norm, pool, data_movement, gather, quant,
      tree, opaque);
    - ``weights``: operand slots that hold the op's weights when they are constants;
    - ``gemm``: ``node -> (batch, M, N, K)`` of the op as a (batched, implicit) GEMM, or None;
    - ``stream_axis``: ``(node, operand) -> axis`` the hardware streams that operand along (its
      reduction axis for matrix ops; None: the flattened trailing dims); default the last axis;
    - ``view``: only reinterprets its input's shape (no kernel, no bytes, as in PyTorch);
    - ``partial_read``: the operand slot read only in part (as many bytes as the op outputs);
    - ``epilogue``: per-element work a graph compiler runs in its producer's epilogue;
    - ``channelwise``: keeps the channel axis of its (first) input, where that axis may sit
      (``"any"``, or ``"channels-first"`` for pooling and batch norm over NCHW);
    - ``channels``: ``node -> axis`` of the output channels its weight's first axis makes
      (conv 1, linear -1), or None where the op does not own its output channels (the
      producers and readers structured pruning works on);
    - ``transcendental``: evaluates an exponential, logarithm, erf or tanh per element;
    - ``strided``: a layout change PyTorch keeps as strides (transpose, slice, split): it costs
      no kernel and no bytes where every reader takes strided operands, else it is a copy;
    - ``reads_strided``: reads strided operands without a copy beside ``STRIDED_READER_KINDS``
      (concat);
    - ``in_place``: the output is the first operand's storage with the second operand written
      into it (a KV-cache write): it moves the second operand's bytes only.
    """

    kind: str
    weights: tuple[int, ...] = ()
    gemm: GemmFn | None = None
    stream_axis: StreamFn | None = None
    view: bool = False
    partial_read: int | None = None
    epilogue: bool = False
    channelwise: str | None = None
    channels: Callable[[Any], "int | None"] | None = None
    transcendental: bool = False
    strided: bool = False
    reads_strided: bool = False
    in_place: bool = False

    @property
    def takes_strided(self) -> bool:
        """Reads strided operands (a transposed or sliced view) without copying them first."""
        return self.reads_strided or self.kind in STRIDED_READER_KINDS

    @property
    def matrix(self) -> bool:
        """Multiply-accumulates on a matrix datapath (MACs as model tables count them)."""
        return self.kind in MATRIX_KINDS

    def axis(self, node: Any, operand: int) -> int | None:
        """The axis operand ``operand`` of ``node`` is streamed along."""
        return -1 if self.stream_axis is None else self.stream_axis(node, operand)


@dataclass(frozen=True)
class OpDef:
    """Everything the IR knows about one op."""

    name: str
    min_inputs: int
    max_inputs: int | None
    attrs: AttrSchema
    infer: InferFn | None
    check: CheckFn | None
    doc: str
    canonicalize: CanonicalizeFn | None = None
    traits: OpTraits = OpTraits("opaque")

    @property
    def category(self) -> str:
        return self.traits.kind

    def arity_text(self) -> str:
        if self.max_inputs is None:
            return f"at least {self.min_inputs}"
        if self.max_inputs == self.min_inputs:
            return f"exactly {self.min_inputs}"
        return f"{self.min_inputs} to {self.max_inputs}"

    def check_arity(self, count: int) -> None:
        if count < self.min_inputs or (self.max_inputs is not None and count > self.max_inputs):
            raise ShapeError(f"{self.name}: takes {self.arity_text()} inputs, got {count}")

    def normalize_attrs(self, given: Mapping[str, Any]) -> Mapping[str, Any]:
        attrs = self.attrs.normalize(self.name, given)
        if self.check is not None:
            try:
                self.check(attrs)
            except (ValueError, NexusError) as err:
                raise AttrError(f"{self.name}: {err}") from None
        return attrs

    def canonical_attrs(self, attrs: Mapping[str, Any], inputs: Sequence[TensorType]
                        ) -> Mapping[str, Any]:
        """Attributes with defaults that depend on the operands spelled out (a conv's
        ``stride=[]`` becomes ``[1, 1]``), so later passes read one form."""
        if self.canonicalize is None:
            return attrs
        self.check_arity(len(inputs))
        try:
            explicit = self.canonicalize(dict(attrs), inputs)
        except ShapeError as err:
            raise ShapeError(f"{self.name}: {err}") from None
        return self.attrs.normalize(self.name, explicit)

    def infer_types(self, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        """Result types for these operand types; ShapeError names the op and the problem."""
        if self.infer is None:
            raise ShapeError(f"{self.name}: has no type inference; give the output types explicitly")
        self.check_arity(len(inputs))
        try:
            result = self.infer(inputs, attrs)
        except ShapeError as err:
            message = str(err)
            raise ShapeError(message if message.startswith(self.name + ":")
                             else f"{self.name}: {message}") from None
        return [result] if isinstance(result, TensorType) else list(result)


_REGISTRY: dict[str, OpDef] = {}
T = TypeVar("T")


def add_unique(table: dict[str, T], name: str, item: T, what: str, replace: bool = False) -> T:
    """File ``item`` under ``name`` in one of NEXUS's registries (ops, passes, rewrites,
    frontends, meters); a name already taken is refused unless ``replace``."""
    if name in table and not replace:
        raise NexusError(f"{what} '{name}' is already registered; pass replace=True to override "
                         "it")
    table[name] = item
    return item


def register_op(
    name: str,
    *,
    inputs: int | tuple[int, int | None],
    attrs: Mapping[str, Attr] | None = None,
    category: str,
    open_attrs: bool = False,
    check: CheckFn | None = None,
    canonicalize: CanonicalizeFn | None = None,
    replace: bool = False,
    traits: Mapping[str, Any] | None = None,
) -> Callable[[InferFn], InferFn]:
    """Register op ``name`` whose type inference is the decorated function.

    ``inputs`` is an exact count or ``(min, max)`` with ``max=None`` for variadic ops. ``check``
    validates attributes that depend on each other (raise ValueError with the reason);
    ``canonicalize`` spells out defaults that depend on the operand types; ``traits`` are the
    op's ``OpTraits`` besides its kind (``category``).
    """
    lo, hi = (inputs, inputs) if isinstance(inputs, int) else inputs

    def decorate(fn: InferFn) -> InferFn:
        define_op(name, infer=fn, inputs=(lo, hi), attrs=attrs, category=category,
                  open_attrs=open_attrs, check=check, canonicalize=canonicalize,
                  replace=replace, doc=fn.__doc__ or "", traits=traits)
        return fn

    return decorate


def define_op(
    name: str,
    *,
    infer: InferFn | None,
    inputs: tuple[int, int | None],
    attrs: Mapping[str, Attr] | None,
    category: str,
    open_attrs: bool = False,
    check: CheckFn | None = None,
    canonicalize: CanonicalizeFn | None = None,
    replace: bool = False,
    doc: str = "",
    traits: Mapping[str, Any] | None = None,
) -> OpDef:
    """Register an op without the decorator (for families sharing one inference function)."""
    opdef = OpDef(name, inputs[0], inputs[1], AttrSchema(dict(attrs or {}), open_attrs),
                  infer, check, doc.strip(), canonicalize,
                  OpTraits(kind=category, **dict(traits or {})))
    add_unique(_REGISTRY, name, opdef, "op", replace)
    return opdef


def get_op(name: str) -> OpDef:
    """The definition of ``name``; UnknownOpError says how to proceed when there is none."""
    found = _REGISTRY.get(name)
    if found is None:
        raise UnknownOpError(
            f"unknown op '{name}': register it with nexus_ir.register_op, "
            "or represent it as an 'opaque' node"
        )
    return found


def traits(name: str) -> OpTraits:
    """The traits of op ``name`` (``opaque``'s for ops nobody registered)."""
    found = _REGISTRY.get(name)
    return (found or _REGISTRY["opaque"]).traits


def ops_where(predicate: Callable[[OpTraits], bool]) -> list[str]:
    """Registered op names whose traits satisfy ``predicate``, sorted."""
    return sorted(n for n, d in _REGISTRY.items() if predicate(d.traits))


def is_registered(name: str) -> bool:
    return name in _REGISTRY


def registered_ops(category: str | None = None) -> list[str]:
    """Registered op names, sorted; optionally only one category."""
    return sorted(n for n, d in _REGISTRY.items() if category is None or d.category == category)


Fn = TypeVar("Fn", bound=Callable[..., Any])


def registrar(table: dict[Any, Fn], key: Callable[[str], Hashable] = lambda name: name
              ) -> Callable[..., Callable[[Fn], Fn]]:
    """A decorator factory that files the decorated function in ``table`` under each name it
    is given (``key`` turns a name into the table's key): the per-op tables of the frontends,
    the lowering rules, the ONNX exporter and the PyTorch runner are all filled this way."""
    def names(*given: str) -> Callable[[Fn], Fn]:
        def register(fn: Fn) -> Fn:
            for name in given:
                table[key(name)] = fn
            return fn
        return register
    return names
