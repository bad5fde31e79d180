"""Scaled dot-product attention."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..attrs import BOOL, FLOAT, Attr, optional
from ..dtypes import i1
from ..errors import ShapeError
from ..registry import register_op
from ..types import TensorType
from ._common import broadcast_shapes, require_dim, require_float, require_rank, same_dtype


@register_op("attention", inputs=(3, 4), category="attention", attrs={
    "causal": Attr(BOOL, False),
    "scale": Attr(optional(FLOAT), None, "None means 1/sqrt(head dim)"),
    "enable_gqa": Attr(BOOL, False, "k/v may have fewer heads (dim -3) dividing q's"),
    "capture_mask": Attr(BOOL, False, "an all-true boolean mask that is built only while "
                         "tracing or capturing a CUDA graph (transformers) was dropped: eager "
                         "runs without it, a captured graph with it")})
def _attention(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """``softmax(q @ k^T * scale + mask) @ v`` (PyTorch scaled_dot_product_attention).

    q ``[..., Lq, E]``, k ``[..., Lk, E]``, v ``[..., Lk, Ev]`` with leading (batch, head) dims
    broadcasting; an optional mask (boolean or q's dtype) broadcasts to ``[..., Lq, Lk]``. The
    result is ``[..., Lq, Ev]``.
    """
    q, k, v = t[:3]
    same_dtype([q, k, v], "q, k and v")
    require_float(q, "q")
    for name, x in (("q", q), ("k", k), ("v", v)):
        require_rank(x, 2, 64, what=name)
    require_dim(q.shape[-1], k.shape[-1], "q and k head dims differ")
    require_dim(k.shape[-2], v.shape[-2], "k and v sequence lengths differ")
    kb, vb = k.shape[:-2], v.shape[:-2]
    if a["enable_gqa"] and q.rank >= 3 and k.rank >= 3:
        hq, hk = q.shape[-3], k.shape[-3]
        if isinstance(hq, int) and isinstance(hk, int) and hq % hk:
            raise ShapeError(f"q heads {hq} are not a multiple of k/v heads {hk}")
        kb, vb = (*kb[:-1], hq), (*vb[:-1], hq)
    batch = broadcast_shapes(q.shape[:-2], kb, vb)
    if len(t) == 4:
        mask = t[3]
        if mask.dtype not in (i1, q.dtype):
            raise ShapeError(f"mask must be boolean or {q.dtype}, got {mask.dtype}")
        broadcast_shapes(mask.shape, (*batch, q.shape[-2], k.shape[-2]))
    return TensorType((*batch, q.shape[-2], v.shape[-1]), q.dtype)
