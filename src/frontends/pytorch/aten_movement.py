"""The ATen ops that move data: views, joins, splits, indexing, padding, resizing and casts.
Importing this module fills ``ATEN``."""

from __future__ import annotations

from typing import Any

from nexus_ir import NexusError, Value

from .base import aten, dim_of, opaque, tensor_type


def _out_shape(node: Any) -> list[Any]:
    return [dim_of(s) for s in node.meta["val"].shape]


@aten("view", "reshape", "_unsafe_view", "unflatten", "flatten", "view_copy", "reshape_as",
      "view_as")
def _reshape(lw, a, kw, node):
    return lw.op("reshape", a[0], shape=_out_shape(node))


@aten("unsqueeze")
def _unsqueeze(lw, a, kw, node):
    return lw.op("unsqueeze", a[0], axes=[a[1]])


@aten("squeeze")
def _squeeze(lw, a, kw, node):
    axes = a[1] if len(a) > 1 else None
    axes = [axes] if isinstance(axes, int) else (list(axes) if axes is not None else None)
    if axes is not None:
        axes = [ax for ax in axes if a[0].type.shape[ax] == 1]
    return lw.op("squeeze", a[0], axes=axes)


@aten("expand", "expand_copy")
def _expand(lw, a, kw, node):
    return lw.op("expand", a[0], shape=_out_shape(node))


@aten("permute")
def _permute(lw, a, kw, node):
    rank = a[0].type.rank
    return lw.op("transpose", a[0], perm=[p % rank for p in a[1]])


@aten("numpy_T")
def _numpy_t(lw, a, kw, node):
    """``x.T``: every dim reversed."""
    return lw.op("transpose", a[0], perm=list(range(a[0].type.rank))[::-1])


@aten("transpose", "t", "swapaxes")
def _transpose(lw, a, kw, node):
    rank = a[0].type.rank
    i, j = (a[1] % rank, a[2] % rank) if len(a) > 2 else (0, 1)
    perm = list(range(rank))
    perm[i], perm[j] = perm[j], perm[i]
    return lw.op("transpose", a[0], perm=perm)


@aten("cat", "concat")
def _cat(lw, a, kw, node):
    return lw.op("concat", *a[0], axis=a[1] if len(a) > 1 else 0)


@aten("repeat")
def _repeat(lw, a, kw, node):
    """``x.repeat(*reps)``, a new tensor (PyTorch copies even for all-ones ``reps``): leading
    dims added for the extra ``reps``, then the copies of each repeated dim joined (one
    ``concat`` per repeated dim, where PyTorch runs one kernel for them all; a lone copy where
    none repeats)."""
    reps = list(a[1])
    x = a[0]
    extra = len(reps) - x.type.rank
    if extra:
        x = lw.op("unsqueeze", x, axes=list(range(extra)))
    repeated = [(axis, r) for axis, r in enumerate(reps) if r != 1]
    for axis, r in repeated:
        x = lw.op("concat", *[x] * r, axis=axis)
    return x if repeated else lw.op("concat", x, axis=0)


@aten("stack")
def _stack(lw, a, kw, node):
    """``torch.stack``: each tensor given a new dim there (a view), then joined along it."""
    tensors = list(a[0])
    axis = (a[1] if len(a) > 1 else kw.get("dim", 0)) % (tensors[0].type.rank + 1)
    return lw.op("concat", *[lw.op("unsqueeze", t, axes=[axis]) for t in tensors], axis=axis)


@aten("repeat_interleave.self_int")
def _repeat_interleave(lw, a, kw, node):
    """``x.repeat_interleave(r, dim)``: each element ``r`` times in a row along ``dim``, one
    copy as in PyTorch (a new dim after ``dim`` holding ``r`` copies, merged back by a view);
    without ``dim`` over the flattened tensor."""
    x, r = a[0], a[1]
    dim = a[2] if len(a) > 2 else kw.get("dim")
    if dim is None:
        x, dim = lw.op("reshape", x, shape=[x.type.numel]), 0
    dim %= x.type.rank
    copies = lw.op("concat", *[lw.op("unsqueeze", x, axes=[dim + 1])] * r, axis=dim + 1)
    return lw.op("reshape", copies, shape=_out_shape(node))


@aten("roll")
def _roll(lw, a, kw, node):
    """``torch.roll`` per rolled dim: the tail moved in front of the head (split, concat)."""
    shifts, dims = (list(v) if isinstance(v, (list, tuple)) else [v]
                    for v in (a[1], (a[2] if len(a) > 2 else kw.get("dims")) or []))
    if not dims:
        raise NexusError("torch.roll without dims (over the flattened tensor) is not mapped")
    x = a[0]
    for cut, axis in (((-s) % x.type.shape[d], d) for s, d in zip(shifts, dims)):
        if cut:
            head, tail = lw.op("split", x, axis=axis, sizes=[cut, x.type.shape[axis] - cut])
            x = lw.op("concat", tail, head, axis=axis)
    return x


@aten("split", "split_with_sizes", "chunk", "unbind", "tensor_split.indices")
def _split(lw, a, kw, node):
    """The pieces along the dim (``a[2]``, ``a[1]`` for ``unbind``), sized as the export found
    them; ``unbind``'s squeezed."""
    unbind = node.target.__name__.startswith("unbind")
    axis_at = 1 if unbind else 2
    axis = a[axis_at] if len(a) > axis_at else kw.get("dim", 0)
    outputs = node.meta["val"]
    sizes = [1] * len(outputs) if unbind else [dim_of(fake.shape[axis]) for fake in outputs]
    parts = lw.op("split", a[0], axis=axis, sizes=sizes)
    parts = parts if isinstance(parts, tuple) else (parts,)
    if unbind:
        return tuple(lw.op("squeeze", p, axes=[axis]) for p in parts)
    return parts


@aten("slice")
def _slice(lw, a, kw, node):
    axis = a[1] if len(a) > 1 else 0
    start = a[2] if len(a) > 2 and a[2] is not None else 0
    end = a[3] if len(a) > 3 and a[3] is not None else 2**63 - 1
    step = a[4] if len(a) > 4 else 1
    return lw.op("slice", a[0], axes=[axis], starts=[dim_of(start)], ends=[dim_of(end)],
                 steps=[step])


@aten("select")
def _select(lw, a, kw, node):
    axis, index = a[1], a[2]
    size = a[0].type.shape[axis]
    start = index if index >= 0 or not isinstance(size, int) else index + size
    part = lw.op("slice", a[0], axes=[axis], starts=[start], ends=[start + 1 if start != -1
                                                                    else 2**63 - 1])
    return lw.op("squeeze", part, axes=[axis])


@aten("index")
def _index(lw, a, kw, node):
    """``x[..., idx, ...]`` with one integer index tensor is a gather along that dim, with
    several on consecutive dims an ``index`` (``x[rows, cols]``); index tensors apart from each
    other (PyTorch then moves their dims first) or a boolean mask (a data-dependent shape) stay
    opaque."""
    indices = list(a[1])
    used = [(axis, i) for axis, i in enumerate(indices) if i is not None]
    axes = [axis for axis, _ in used]
    if not used or not all(isinstance(i, Value) and i.type.dtype.is_integer for _, i in used) \
            or axes != list(range(axes[0], axes[0] + len(axes))):
        return opaque(lw, node, a)
    if len(used) == 1:
        return lw.op("gather", a[0], used[0][1], axis=axes[0])
    return lw.op("index", a[0], *(i for _, i in used), axis=axes[0])


@aten("_to_copy", "to", "type_as")
def _cast(lw, a, kw, node):
    out = tensor_type(node.meta["val"]).dtype
    return a[0] if out == a[0].type.dtype else lw.op("cast", a[0], to=out)


@aten("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "upsample_linear1d",
      "upsample_bilinear2d", "upsample_trilinear3d", "upsample_bicubic2d")
def _upsample(lw, a, kw, node):
    """``F.interpolate`` in PyTorch's modes (nearest as its legacy ``floor`` rule, the linear
    family, bicubic) to the spatial sizes the export computed; ``nearest-exact`` and
    antialiased modes stay opaque."""
    name = node.target.__name__.split(".")[0]
    mode = "nearest" if "nearest" in name else "cubic" if "bicubic" in name else "linear"
    align = mode != "nearest" and bool(a[2] if len(a) > 2 else kw.get("align_corners", False))
    return lw.op("resize", a[0], sizes=_out_shape(node)[2:], mode=mode, align_corners=align)


@aten("constant_pad_nd", "pad")
def _pad(lw, a, kw, node):
    """``constant_pad_nd(x, pad, value)``, or ``pad(x, pad, mode, value)`` (any of the IR's
    modes; the value only pads in ``constant`` mode)."""
    pads, rank = list(a[1]), a[0].type.rank
    begins, ends = [0] * rank, [0] * rank
    for i in range(len(pads) // 2):              # torch pads the last dim first
        begins[rank - 1 - i], ends[rank - 1 - i] = pads[2 * i], pads[2 * i + 1]
    rest = list(a[2:]) if node.target.__name__.startswith("pad") else ["constant", *a[2:]]
    defaults = [kw.get("mode", "constant"), kw.get("value")]    # where not given positionally
    mode, value = (rest + defaults[len(rest):])[:2]
    return lw.op("pad", a[0], pads=begins + ends, mode=mode, value=float(value or 0.0))


