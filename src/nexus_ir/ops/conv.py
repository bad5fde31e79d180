"""Convolution, pooling and resizing over ``[N, C, *spatial]`` tensors (1-D, 2-D, 3-D)."""

from __future__ import annotations

import math

from collections.abc import Mapping, Sequence
from typing import Any

from .. import dims
from ..attrs import BOOL, DIMS, FLOATS, INT, INTS, Attr, Kind, one_of, optional
from ..errors import ShapeError
from ..registry import define_op, register_op
from ..types import TensorType
from ._common import (matrix_dtype, pads, per_dim, require_dim, require_float, require_rank,
                      window_out)

_WINDOW = {
    "stride": Attr(INTS, (), "per spatial dim; empty means 1 (pooling: the kernel size)"),
    "padding": Attr(INTS, (), "n symmetric or 2n (begins then ends); empty means 0"),
    "dilation": Attr(INTS, (), "per spatial dim; empty means 1"),
}


def _explicit_window(a: dict[str, Any], n: int, default_stride: tuple[int, ...]) -> dict[str, Any]:
    a["stride"] = per_dim(a["stride"] or default_stride, n, 1, "stride")
    a["dilation"] = per_dim(a["dilation"], n, 1, "dilation")
    begin, end = pads(a["padding"], n)
    a["padding"] = (*begin, *end)
    return a


def _conv_canonical(a: dict[str, Any], t: Sequence[TensorType]) -> dict[str, Any]:
    """Per-dim stride and dilation, padding as begins then ends, output_padding per dim for a
    transposed conv."""
    n = t[1].rank - 2
    if n not in (1, 2, 3):
        raise ShapeError(f"weight must have rank 3, 4 or 5 (1-D to 3-D conv), got {t[1]}")
    if a["transposed"]:
        a["output_padding"] = per_dim(a["output_padding"], n, 0, "output_padding")
    return _explicit_window(a, n, ())


def _pool_canonical(a: dict[str, Any], t: Sequence[TensorType]) -> dict[str, Any]:
    """Per-dim stride (the kernel size by default) and dilation; padding as begins then ends."""
    return _explicit_window(a, len(a["kernel_size"]), a["kernel_size"])


def _conv_gemm(node: Any) -> tuple[int, int, int, int] | None:
    """A regular convolution as an implicit GEMM per group: M = N·ΠL_out, N = C_out/groups,
    K = C_in/groups·Πk. Transposed convolutions are no implicit GEMM of this form (None)."""
    if node.attributes["transposed"]:
        return None
    w, out = node.inputs[1].type, node.outputs[0].type
    groups = node.attributes["groups"]
    return groups, out.shape[0] * math.prod(out.shape[2:]), w.shape[0] // groups, \
        w.shape[1] * math.prod(w.shape[2:])


def _conv_stream(node: Any, index: int) -> int:
    """The input streams along its channels; a weight per filter over C_in·Πk (last axis of
    the filter once flattened)."""
    return 1 if index == 0 and node.inputs[0].type.rank > 1 else -1


def _conv_channels(node: Any) -> int | None:
    """A regular, ungrouped convolution owns its output channels (axis 1)."""
    a = node.attributes
    return 1 if a["groups"] == 1 and not a["transposed"] else None


@register_op("conv", inputs=(2, 3), category="conv", canonicalize=_conv_canonical, traits={
    "weights": (1,), "gemm": _conv_gemm, "stream_axis": _conv_stream,
    "channels": _conv_channels}, attrs={
    **_WINDOW,
    "groups": Attr(INT, 1),
    "transposed": Attr(BOOL, False),
    "output_padding": Attr(INTS, (), "transposed only; empty means 0")})
def _conv(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Convolution. x ``[N, C_in, *L]``; weight ``[C_out, C_in/groups, *k]``, or for a transposed
    conv ``[C_in, C_out/groups, *k]``; optional bias ``[C_out]``. Spatial rank = weight rank - 2.

    Output length: ``floor((L + pb + pe - d*(k-1) - 1)/s) + 1``; transposed:
    ``(L-1)*s - pb - pe + d*(k-1) + output_padding + 1``.
    """
    x, w = t[0], t[1]
    dtype = matrix_dtype(t)
    n = w.rank - 2
    if n not in (1, 2, 3):
        raise ShapeError(f"weight must have rank 3, 4 or 5 (1-D to 3-D conv), got {w}")
    require_rank(x, n + 2, what="x")
    groups = a["groups"]
    if groups < 1:
        raise ShapeError(f"groups must be >= 1, got {groups}")
    stride = per_dim(a["stride"], n, 1, "stride")
    dilation = per_dim(a["dilation"], n, 1, "dilation")
    begin, end = pads(a["padding"], n)
    kernel = w.shape[2:]
    if not all(isinstance(k, int) for k in kernel):
        raise ShapeError(f"kernel sizes must be static, got {list(kernel)}")
    if a["transposed"]:
        require_dim(x.shape[1], w.shape[0], "input channels differ from weight dim 0")
        c_out = dims.mul(w.shape[1], groups)
        extra = per_dim(a["output_padding"], n, 0, "output_padding")
        spatial = [dims.add(dims.mul(dims.sub(size, 1), s),
                            d * (k - 1) + op + 1 - pb - pe)
                   for size, k, s, d, pb, pe, op in zip(x.shape[2:], kernel, stride, dilation,
                                                        begin, end, extra)]
    else:
        if a["output_padding"]:
            raise ShapeError("output_padding applies to transposed convolutions only")
        require_dim(x.shape[1], dims.mul(w.shape[1], groups),
                    f"input channels differ from weight dim 1 x groups ({groups})")
        c_out = w.shape[0]
        if isinstance(c_out, int) and c_out % groups:
            raise ShapeError(f"output channels {c_out} are not divisible by groups {groups}")
        spatial = [window_out(size, k, s, d, pb, pe)
                   for size, k, s, d, pb, pe in zip(x.shape[2:], kernel, stride, dilation, begin,
                                                    end)]
    if len(t) == 3:
        require_rank(t[2], 1, what="bias")
        require_dim(t[2].shape[0], c_out, "bias length differs from output channels")
    return TensorType((x.shape[0], c_out, *spatial), dtype)


def _pool(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Max/average pooling over the last ``len(kernel_size)`` dims. Stride defaults to the
    kernel size; ``ceil_mode`` rounds the output length up (the last window must start inside
    the input or its begin padding, as in PyTorch)."""
    x = t[0]
    kernel = a["kernel_size"]
    n = len(kernel)
    if n not in (1, 2, 3):
        raise ShapeError(f"kernel_size must have 1 to 3 entries, got {list(kernel)}")
    require_rank(x, n + 1, n + 2, what="x")
    stride = a["stride"] or kernel
    stride = per_dim(stride, n, 1, "stride")
    dilation = per_dim(a["dilation"], n, 1, "dilation")
    begin, end = pads(a["padding"], n)
    for k, pb, pe in zip(kernel, begin, end):
        if pb > k // 2 or pe > k // 2:
            raise ShapeError(f"padding {pb}/{pe} exceeds half the kernel size {k}")
    spatial = [window_out(size, k, s, d, pb, pe, a["ceil_mode"])
               for size, k, s, d, pb, pe in zip(x.shape[-n:], kernel, stride, dilation, begin, end)]
    return TensorType((*x.shape[:-n], *spatial), x.dtype)


_POOL = {"kernel_size": Attr(INTS), **_WINDOW, "ceil_mode": Attr(BOOL, False)}
_PER_CHANNEL = {"channelwise": "channels-first"}
define_op("max_pool", infer=_pool, inputs=(1, 1), category="pool", attrs=_POOL, doc=_pool.__doc__,
          canonicalize=_pool_canonical, traits=_PER_CHANNEL)
define_op("avg_pool", infer=_pool, inputs=(1, 1), category="pool",
          attrs={**_POOL, "count_include_pad": Attr(BOOL, True)}, doc=_pool.__doc__,
          canonicalize=_pool_canonical, traits=_PER_CHANNEL)


def _global_pool(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Pool every spatial dim of ``[N, C, *L]`` to 1 (the dims are kept)."""
    require_rank(t[0], 3, 5, what="x")
    return TensorType((*t[0].shape[:2], *([1] * (t[0].rank - 2))), t[0].dtype)


for _name in ("global_avg_pool", "global_max_pool"):
    define_op(_name, infer=_global_pool, inputs=(1, 1), category="pool", attrs={},
              doc=_global_pool.__doc__, traits=_PER_CHANNEL)


def _adaptive_pool(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Adaptive pooling to ``output_size`` over the last len(output_size) dims; a ``None`` entry
    keeps that dim (PyTorch)."""
    x, size = t[0], a["output_size"]
    require_rank(x, len(size) + 1, len(size) + 2, what="x")
    kept = x.shape[-len(size):]
    return TensorType((*x.shape[:-len(size)], *(k if s is None else s for s, k in zip(size, kept))),
                      x.dtype)


def _output_sizes(v: Any) -> tuple:
    if not isinstance(v, (list, tuple)) or not 1 <= len(v) <= 3:
        raise ValueError
    return tuple(None if s is None else INT.convert(s) for s in v)


_OUT_SIZE = Kind("list of 1 to 3 ints (or None to keep a dim)", _output_sizes)
for _name in ("adaptive_avg_pool", "adaptive_max_pool"):
    define_op(_name, infer=_adaptive_pool, inputs=(1, 1), category="pool",
              attrs={"output_size": Attr(_OUT_SIZE)}, doc=_adaptive_pool.__doc__,
              traits=_PER_CHANNEL)


@register_op("resize", inputs=1, category="data_movement", attrs={
    "sizes": Attr(optional(DIMS), None, "output sizes of the spatial dims"),
    "scales": Attr(optional(FLOATS), None, "factors for the spatial dims"),
    "mode": Attr(one_of("nearest", "linear", "cubic"), "nearest"),
    "align_corners": Attr(BOOL, False)})
def _resize(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Upsample/downsample the spatial dims of ``[N, C, *L]`` to ``sizes`` or
    ``floor(L * scale)``; exactly one of the two is given."""
    x = t[0]
    require_rank(x, 3, 5, what="x")
    if (a["sizes"] is None) == (a["scales"] is None):
        raise ShapeError("give exactly one of sizes and scales")
    n = x.rank - 2
    if a["sizes"] is not None:
        if len(a["sizes"]) != n:
            raise ShapeError(f"sizes has {len(a['sizes'])} entries for {n} spatial dims")
        return TensorType((*x.shape[:2], *a["sizes"]), x.dtype)
    if a["mode"] != "nearest":
        require_float(x, "x")
    if len(a["scales"]) != n:
        raise ShapeError(f"scales has {len(a['scales'])} entries for {n} spatial dims")
    spatial = []
    for size, scale in zip(x.shape[2:], a["scales"]):
        if isinstance(size, int):
            spatial.append(int(size * scale))
        elif float(scale).is_integer():
            spatial.append(dims.mul(size, int(scale)))
        else:
            raise ShapeError(f"a non-integer scale {scale} of the symbolic size '{size}' is "
                             "undecidable; bind the symbol first")
    return TensorType((*x.shape[:2], *spatial), x.dtype)
