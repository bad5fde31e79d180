"""Recurrent layers (LSTM, GRU, Elman RNN), kept whole so costs are per time step.

Inputs: ``x``, the initial hidden state ``h0`` (and ``c0`` for an LSTM), then per layer and
direction ``w_ih [G·H, I_l]``, ``w_hh [G·H, H]`` and, with ``has_biases``, ``b_ih``, ``b_hh``
(``[G·H]``), in PyTorch's order (layer-major, forward before reverse). ``G`` is 4 for an LSTM,
3 for a GRU, 1 for an RNN; ``I_l`` is the input size for layer 0 and ``D·H`` after it (D = 2 when
bidirectional). Outputs: the sequence of last-layer hidden states ``[B, T, D·H]``
(``[T, B, D·H]`` unless ``batch_first``), ``h_n [L·D, B, H]`` and, for an LSTM, ``c_n``. A
quantized layer (integer ``x``, as TFLite's int8 LSTM) has weights of x's type, int32 biases and
integer states of their own width (int16 cell state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..attrs import BOOL, INT, Attr, one_of
from ..errors import ShapeError
from ..registry import register_op
from ..types import TensorType
from ._common import require_dim, require_rank, same_dtype

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


@register_op("recurrent", inputs=(4, None), category="recurrent", attrs={
    "mode": Attr(one_of(*GATES)), "hidden_size": Attr(INT), "num_layers": Attr(INT, 1),
    "bidirectional": Attr(BOOL, False), "batch_first": Attr(BOOL, False),
    "has_biases": Attr(BOOL, True)})
def _recurrent(t: Sequence[TensorType], a: Mapping[str, Any]) -> list[TensorType]:
    """Outputs ``(y, h_n[, c_n])``; checks every weight's shape against the layer sizes."""
    x = t[0]
    require_rank(x, 3, what="x")
    lstm = a["mode"] == "lstm"
    h, layers, dirs = a["hidden_size"], a["num_layers"], 2 if a["bidirectional"] else 1
    gates = GATES[a["mode"]]
    states = 2 if lstm else 1
    per = 4 if a["has_biases"] else 2
    want = 1 + states + layers * dirs * per
    if len(t) != want:
        raise ShapeError(f"a {layers}-layer {'bi' if dirs == 2 else 'uni'}directional "
                         f"{a['mode']} takes {want} inputs, got {len(t)}")
    batch, steps = (x.shape[0], x.shape[1]) if a["batch_first"] else (x.shape[1], x.shape[0])
    state = (layers * dirs, batch, h)
    for s in t[1:1 + states]:
        if s.rank != 3:
            raise ShapeError(f"initial states must be [L·D, B, H], got {s}")
        for got, exp in zip(s.shape, state):
            require_dim(got, exp, "initial state shape differs from [L·D, B, H]")
    weights = t[1 + states:]
    dtype = _dtypes(t, 1 + states, per)
    for layer in range(layers):
        size_in = x.shape[2] if layer == 0 else dirs * h
        for d in range(dirs):
            w = weights[(layer * dirs + d) * per:(layer * dirs + d + 1) * per]
            for got, exp in ((w[0].shape, (gates * h, size_in)), (w[1].shape, (gates * h, h))):
                for g_dim, e_dim in zip(got, exp):
                    require_dim(g_dim, e_dim, f"layer {layer} weight shape differs from "
                                              f"{list(exp)}")
    seq = (batch, steps, dirs * h) if a["batch_first"] else (steps, batch, dirs * h)
    return [TensorType(seq, dtype), *[TensorType(state, s.dtype) for s in t[1:1 + states]]]


def _dtypes(t: Sequence[TensorType], first_weight: int, per: int) -> Any:
    """The layer's dtype: every input's, or for a quantized layer (integer x) the weights'
    integer type, integer states of any width (TFLite's int16 cell state) and int32 biases."""
    dtype = t[0].dtype
    if not dtype.is_integer:
        return same_dtype(t)
    for i, p in enumerate(t[first_weight:]):
        bias = i % per >= 2
        if p.dtype != dtype and not (bias and p.dtype.name == "i32"):
            raise ShapeError(f"a quantized {dtype} layer takes {dtype} weights and {dtype} or "
                             f"i32 biases, got {p.dtype}")
    for s in t[1:first_weight]:
        if not s.dtype.is_integer:
            raise ShapeError(f"a quantized layer's states are integers, got {s.dtype}")
    return dtype
