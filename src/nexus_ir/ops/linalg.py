"""Matrix products: matmul (numpy semantics), gemm (ONNX), linear (PyTorch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..attrs import BOOL, FLOAT, Attr
from ..errors import ShapeError
from ..registry import register_op
from ..types import TensorType
from ._common import broadcast_shapes, matrix_dtype, require_dim, require_rank, same_dtype


def _matmul_gemm(node: Any) -> tuple[int, int, int, int]:
    """(batch, M, N, K): 1-D operands count as one row or column; batch is what is left."""
    x, w, out = node.inputs[0].type, node.inputs[1].type, node.outputs[0].type
    m = x.shape[-2] if x.rank > 1 else 1
    n = w.shape[-1] if w.rank > 1 else 1
    return out.numel // (m * n), m, n, x.shape[-1]


def _second_along_rows(node: Any, index: int) -> int:
    """A matrix product streams A along K per row and B along K per column."""
    return -2 if index == 1 and node.inputs[1].type.rank >= 2 else -1


def _gemm_dims(node: Any) -> tuple[int, int, int, int]:
    a, out = node.inputs[0].type, node.outputs[0].type
    k = a.shape[0] if node.attributes["trans_a"] else a.shape[1]
    return 1, out.numel // out.shape[-1], out.shape[-1], k


def _linear_dims(node: Any) -> tuple[int, int, int, int]:
    out = node.outputs[0].type
    return 1, out.numel // out.shape[-1], out.shape[-1], node.inputs[1].type.shape[1]


@register_op("matmul", inputs=2, category="matmul", traits={
    "weights": (1,), "gemm": _matmul_gemm, "stream_axis": _second_along_rows})
def _matmul(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """Numpy ``matmul``: 1-D operands are promoted and the added dim removed; batch dims
    broadcast."""
    x, w = t
    dtype = matrix_dtype(t)
    if x.rank == 0 or w.rank == 0:
        raise ShapeError("operands must have rank >= 1")
    xs = (1, *x.shape) if x.rank == 1 else x.shape
    ws = (*w.shape, 1) if w.rank == 1 else w.shape
    require_dim(xs[-1], ws[-2], "inner dimensions differ")
    shape = [*broadcast_shapes(xs[:-2], ws[:-2]), xs[-2], ws[-1]]
    if w.rank == 1:
        shape.pop(-1)
    if x.rank == 1:
        shape.pop(-2 if w.rank > 1 else -1)
    return TensorType(shape, dtype)


@register_op("gemm", inputs=(2, 3), category="matmul", traits={
    "weights": (1,), "gemm": _gemm_dims, "stream_axis": _second_along_rows}, attrs={
    "trans_a": Attr(BOOL, False), "trans_b": Attr(BOOL, False),
    "alpha": Attr(FLOAT, 1.0), "beta": Attr(FLOAT, 1.0)})
def _gemm(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """ONNX Gemm: ``alpha * A' @ B' + beta * C`` on 2-D operands; C broadcasts to the result."""
    dtype = same_dtype(t)
    require_rank(t[0], 2, what="A")
    require_rank(t[1], 2, what="B")
    m, k = t[0].shape[::-1] if a["trans_a"] else t[0].shape
    k2, n = t[1].shape[::-1] if a["trans_b"] else t[1].shape
    require_dim(k, k2, "inner dimensions differ")
    if len(t) == 3 and broadcast_shapes(t[2].shape, (m, n)) != (m, n):
        raise ShapeError(f"C of shape {list(t[2].shape)} does not broadcast to [{m}, {n}]")
    return TensorType((m, n), dtype)


@register_op("linear", inputs=(2, 3), category="matmul", traits={
    "weights": (1,), "gemm": _linear_dims, "channels": lambda node: -1})
def _linear(t: Sequence[TensorType], a: Mapping[str, Any]) -> TensorType:
    """PyTorch ``linear``: ``x[..., in] @ weight[out, in]^T + bias[out]``."""
    dtype = matrix_dtype(t)
    x, w = t[0], t[1]
    require_rank(x, 1, 64, what="x")
    require_rank(w, 2, what="weight")
    require_dim(x.shape[-1], w.shape[1], "input features differ from weight's")
    if len(t) == 3:
        require_rank(t[2], 1, what="bias")
        require_dim(t[2].shape[0], w.shape[0], "bias length differs from out features")
    return TensorType((*x.shape[:-1], w.shape[0]), dtype)
