"""Data movement: reshape, transpose, concat, split, slice, pad, expand, squeeze, unsqueeze,
flatten; and lookups (embedding, gather)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import dims
from ..attrs import DIMS, FLOAT, INT, INTS, Attr, one_of, optional
from ..dims import Dim
from ..errors import ShapeError
from ..registry import register_op
from ..types import TensorType
from ._common import axis_index, broadcast_shapes, compatible, require_dim, require_int, same_dtype

# An end index at least this large means "to the end" (PyTorch and ONNX use INT64_MAX).
TO_END = 2**31 - 1


_VIEW = {"view": True}
_PART_OF_FIRST = {"partial_read": 0}
"""Reads only the part of its first operand it outputs (an index picks it)."""

_STRIDED = {"strided": True}
"""A layout change PyTorch keeps as strides (``OpTraits.strided``)."""


@register_op("reshape", inputs=1, category="data_movement", traits=_VIEW,
             attrs={"shape": Attr(DIMS)})
def _reshape(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """New shape with the same element count; one entry may be -1 (inferred)."""
    x, shape = t[0], list(a["shape"])
    holes = [i for i, d in enumerate(shape) if d == -1]
    if len(holes) > 1 or any(isinstance(d, int) and d < -1 for d in shape):
        raise ShapeError(f"shape {shape} may hold one -1 and otherwise sizes >= 0")
    known = dims.product([d for d in shape if d != -1])
    if holes:
        if known == 0:
            raise ShapeError(f"cannot infer -1 in {shape}: the other dims multiply to 0")
        total = x.numel_expr
        if isinstance(total, int) and isinstance(known, int) and total % known:
            raise ShapeError(f"cannot reshape {x} ({total} elements) to {shape}")
        shape[holes[0]] = dims.floordiv(total, known)
    elif not compatible(x.numel_expr, known):
        raise ShapeError(f"cannot reshape {x} ({x.numel_expr} elements) to {shape} ({known})")
    return TensorType(shape, x.dtype)


@register_op("transpose", inputs=1, category="data_movement", traits=_STRIDED,
             attrs={"perm": Attr(INTS)})
def _transpose(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Permute dims: output dim i is input dim ``perm[i]``."""
    x, perm = t[0], a["perm"]
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError(f"perm {list(perm)} is not a permutation of {x.rank} dims")
    return TensorType([x.shape[p] for p in perm], x.dtype)


@register_op("concat", inputs=(1, None), category="data_movement",
             traits={"reads_strided": True}, attrs={"axis": Attr(INT)})
def _concat(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Join along ``axis``; the other dims must agree."""
    dtype = same_dtype(t)
    rank = t[0].rank
    if any(x.rank != rank for x in t):
        raise ShapeError(f"inputs must share one rank, got {[x.rank for x in t]}")
    axis = axis_index(a["axis"], rank)
    shape = list(t[0].shape)
    for x in t[1:]:
        for i, d in enumerate(x.shape):
            if i != axis:
                shape[i] = require_dim(shape[i], d, f"dim {i} differs between inputs")
        shape[axis] = dims.add(shape[axis], x.shape[axis])
    return TensorType(shape, dtype)


@register_op("split", inputs=1, category="data_movement", traits=_STRIDED,
             attrs={"axis": Attr(INT), "sizes": Attr(DIMS)})
def _split(t: Sequence[TensorType], a: Mapping[str, Any]) -> list[TensorType]:
    """Split along ``axis`` into pieces of ``sizes`` (one output each); they must sum to the
    dim."""
    x = t[0]
    axis = axis_index(a["axis"], x.rank)
    if not a["sizes"]:
        raise ShapeError("sizes must name at least one piece")
    total = dims.total(a["sizes"])
    require_dim(total, x.shape[axis], f"sizes {list(a['sizes'])} do not add up to dim {axis}")
    return [TensorType((*x.shape[:axis], s, *x.shape[axis + 1:]), x.dtype) for s in a["sizes"]]


def _slice_length(size: Dim, start: Dim, end: Dim, step: int) -> Dim:
    """Elements selected by ``start:end:step`` of a dim, with Python/ONNX clamping."""
    if step == 0:
        raise ShapeError("slice step cannot be 0")
    if isinstance(size, int) and isinstance(start, int) and isinstance(end, int):
        return len(range(*slice(start, end, step).indices(size)))
    if step == 1 and isinstance(start, int) and start >= 0:
        if isinstance(end, int) and end >= TO_END:
            return dims.sub(size, start)
        if isinstance(end, int) and end < 0:
            return dims.maximum(dims.sub(dims.add(size, end), start), 0)
        return dims.maximum(dims.sub(dims.minimum(end, size), start), 0)
    if step == 1 and isinstance(start, int) and start < 0 and isinstance(end, int) and end >= TO_END:
        return dims.minimum(-start, size)
    raise ShapeError(f"slice {start}:{end}:{step} of the symbolic size '{size}' is undecidable; "
                     "bind the symbol first")


@register_op("slice", inputs=1, category="data_movement",
             traits={**_PART_OF_FIRST, **_STRIDED},
             attrs={
    "axes": Attr(INTS), "starts": Attr(DIMS), "ends": Attr(DIMS), "steps": Attr(INTS, ())})
def _slice(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """``x[starts:ends:steps]`` along ``axes`` with Python clamping (negative indices count from
    the end; an end >= 2**31-1 means "to the end"). Steps default to 1."""
    x = t[0]
    axes, starts, ends = a["axes"], a["starts"], a["ends"]
    steps = a["steps"] or (1,) * len(axes)
    if not len(axes) == len(starts) == len(ends) == len(steps):
        raise ShapeError("axes, starts, ends and steps must have equal lengths")
    shape = list(x.shape)
    for ax, s, e, st in zip(axes, starts, ends, steps):
        i = axis_index(ax, x.rank)
        shape[i] = _slice_length(shape[i], s, e, st)
    return TensorType(shape, x.dtype)


@register_op("pad", inputs=1, category="data_movement", attrs={
    "pads": Attr(INTS, doc="2*rank entries: begins then ends (negative crops)"),
    "mode": Attr(one_of("constant", "reflect", "replicate", "circular"), "constant"),
    "value": Attr(FLOAT, 0.0)})
def _pad(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Pad every dim by ``pads`` (ONNX order: all begins, then all ends)."""
    x, p = t[0], a["pads"]
    if len(p) != 2 * x.rank:
        raise ShapeError(f"pads has {len(p)} entries; a rank-{x.rank} input needs {2 * x.rank}")
    return TensorType([dims.add(d, p[i] + p[i + x.rank]) for i, d in enumerate(x.shape)],
                      x.dtype)


@register_op("expand", inputs=1, category="data_movement", traits=_VIEW,
             attrs={"shape": Attr(DIMS)})
def _expand(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Broadcast to ``shape`` (ONNX Expand); a -1 entry keeps the input's dim (PyTorch)."""
    x, shape = t[0], list(a["shape"])
    lead = len(shape) - x.rank
    if lead < 0:
        raise ShapeError(f"cannot expand {x} to fewer dims {shape}")
    shape = [x.shape[i - lead] if d == -1 and i >= lead else d for i, d in enumerate(shape)]
    if any(d == -1 for d in shape):
        raise ShapeError(f"-1 in expand shape {list(a['shape'])} has no input dim to keep")
    return TensorType(broadcast_shapes(x.shape, shape), x.dtype)


@register_op("squeeze", inputs=1, category="data_movement", traits=_VIEW,
             attrs={"axes": Attr(optional(INTS), None, "None removes every dim of size 1")})
def _squeeze(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Remove size-1 dims (the listed ones, or all)."""
    x = t[0]
    if a["axes"] is None:
        return TensorType([d for d in x.shape if d != 1], x.dtype)
    chosen = {axis_index(ax, x.rank) for ax in a["axes"]}
    for i in chosen:
        if x.shape[i] != 1 and isinstance(x.shape[i], int):
            raise ShapeError(f"cannot squeeze dim {i} of size {x.shape[i]}")
    return TensorType([d for i, d in enumerate(x.shape) if i not in chosen], x.dtype)


@register_op("unsqueeze", inputs=1, category="data_movement", traits=_VIEW,
             attrs={"axes": Attr(INTS)})
def _unsqueeze(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Insert size-1 dims at ``axes`` (positions in the output)."""
    x = t[0]
    rank = x.rank + len(a["axes"])
    chosen = {axis_index(ax, rank) for ax in a["axes"]}
    if len(chosen) != len(a["axes"]):
        raise ShapeError(f"axes {list(a['axes'])} repeat a position")
    rest = iter(x.shape)
    return TensorType([1 if i in chosen else next(rest) for i in range(rank)], x.dtype)


@register_op("flatten", inputs=1, category="data_movement", traits=_VIEW,
             attrs={"start_axis": Attr(INT, 1), "end_axis": Attr(INT, -1)})
def _flatten(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Merge dims ``start_axis..end_axis`` (inclusive) into one (PyTorch ``flatten``)."""
    x = t[0]
    if x.rank == 0:
        return TensorType((1,), x.dtype)
    lo, hi = axis_index(a["start_axis"], x.rank), axis_index(a["end_axis"], x.rank)
    if lo > hi:
        raise ShapeError(f"start_axis {a['start_axis']} comes after end_axis {a['end_axis']}")
    return TensorType((*x.shape[:lo], dims.product(x.shape[lo:hi + 1]), *x.shape[hi + 1:]),
                      x.dtype)


@register_op("embedding", inputs=2, category="gather", traits=_PART_OF_FIRST,
             attrs={"padding_idx": Attr(optional(INT), None)})
def _embedding(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Rows of ``weight[V, D]`` picked by integer ``indices``: shape ``indices.shape + [D]``."""
    weight, indices = t
    if weight.rank != 2:
        raise ShapeError(f"weight must have rank 2, got {weight}")
    require_int(indices, "indices")
    return TensorType((*indices.shape, weight.shape[1]), weight.dtype)


@register_op("gather", inputs=2, category="gather", traits=_PART_OF_FIRST,
             attrs={"axis": Attr(INT, 0)})
def _gather(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """ONNX Gather: ``data.shape[:axis] + indices.shape + data.shape[axis+1:]``."""
    data, indices = t
    require_int(indices, "indices")
    axis = axis_index(a["axis"], data.rank)
    return TensorType((*data.shape[:axis], *indices.shape, *data.shape[axis + 1:]), data.dtype)


@register_op("index", inputs=(2, None), category="gather", traits=_PART_OF_FIRST,
             attrs={"axis": Attr(INT, 0)})
def _index(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """PyTorch's advanced indexing by integer tensors on consecutive dims from ``axis``
    (``x[:, i, j]``): the indices broadcast together and their shape takes those dims' place
    (ONNX GatherND over the stacked indices); negative indices count from the end."""
    data, indices = t[0], t[1:]
    for i in indices:
        require_int(i, "indices")
    axis = axis_index(a["axis"], data.rank)
    if axis + len(indices) > data.rank:
        raise ShapeError(f"{len(indices)} index tensors from axis {axis} overrun {data}")
    shape = broadcast_shapes(*(i.shape for i in indices))
    return TensorType((*data.shape[:axis], *shape, *data.shape[axis + len(indices):]),
                      data.dtype)


@register_op("gather_elements", inputs=2, category="gather", attrs={"axis": Attr(INT, 0)})
def _gather_elements(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """ONNX GatherElements / ``torch.gather``: ``out[i][j] = data[index[i][j]][j]`` along
    ``axis``; the output has the indices' shape and the data's dtype."""
    data, indices = t
    require_int(indices, "indices")
    if data.rank != indices.rank:
        raise ShapeError(f"indices {indices} must have the rank of data {data}")
    axis_index(a["axis"], data.rank)
    return TensorType(indices.shape, data.dtype)


@register_op("update", inputs=2, category="data_movement", traits={"in_place": True})
def _update(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """``buffer`` with ``source``'s elements written into it, at positions the op does not record
    (a KV-cache write: ``index_copy_``, ``index_put_``, ``copy_``, ``slice_scatter``): it writes as
    many elements as ``source`` holds and reads nothing else of the buffer."""
    buffer, source = t
    if source.dtype != buffer.dtype:
        raise ShapeError(f"source {source.dtype} and buffer {buffer.dtype} dtypes differ")
    return buffer
