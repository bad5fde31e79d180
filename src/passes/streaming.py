"""Streaming on overlapping sliding windows: what each window recomputes, and what a ring
buffer would hold instead.

A streaming model (keyword spotting, wake words) is invoked on a window of the last ``W``
frames along a time axis, and the window moves by ``hop`` frames (``hop < W``) between
invocations. Output ``t`` of a layer whose cumulative stride is ``S`` (the product of the strides
before it) reads input frames ``[t·S − P, t·S − P + R)`` (``R`` its receptive field, ``P`` the
padding ahead of it). The next window's output ``t`` equals this window's output ``t + hop/S``
when ``hop`` is a multiple of ``S`` and both read only real frames (no padding): the frames
``[t·S − P, t·S − P + R + hop)`` lie inside ``[0, W)``. Those outputs are recomputed; their
share of the layer's outputs is the share of its compute spent again.

A ring-buffer schedule computes only the new outputs: each time-local layer keeps the last
``(k − 1)·d`` frames of its input (kernel ``k``, dilation ``d``) between invocations and works on
the ``hop / S`` new frames. Its RAM is that state summed over the layers plus the largest working
set of one layer (its new input and output frames). A layer that reads the whole window (a
fully connected layer after a flatten, a global pool) ends the time axis: it is recomputed in
full and adds no state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lowering.rules import lower
from nexus_ir import Constant, Graph, NexusError, Node, Value

from .cost import matrix_macs


def time_local(node: Node) -> bool:
    """A convolution or a windowed pool: each output reads a window of its input's frames."""
    kind = node.traits.kind
    return kind == "conv" or (kind == "pool" and "kernel_size" in node.attributes)


@dataclass(frozen=True)
class Axis:
    """Where a value's time axis is and how its frames map to the window's input frames."""

    axis: int
    stride: int           # input frames per frame of this value
    start: int            # input frame of this value's frame 0's receptive field (−padding)
    field: int            # receptive field in input frames


def _window(node: Node, axis: int) -> tuple[int, int, int, int]:
    """Kernel, stride, dilation and begin padding of a conv or pool along ``axis``."""
    a = node.attributes
    spatial = axis - 2
    if node.traits.kind == "conv":
        kernel = node.inputs[1].type.shape[2:]
    else:
        kernel = a["kernel_size"]
    n = len(kernel)
    stride = a["stride"] or (1,) * n
    dilation = a["dilation"] or (1,) * n
    padding = a["padding"] or (0,) * (2 * n)
    return int(kernel[spatial]), int(stride[spatial]), int(dilation[spatial]), \
        int(padding[spatial])


def _carry(node: Node, time: dict[int, Axis]) -> Axis | None:
    """The time axis of the node's output, or None where the node mixes the whole window."""
    carried = [time[id(v)] for v in node.inputs if id(v) in time]
    if not carried:
        return None
    first = carried[0]
    out = node.outputs[0].type
    if time_local(node):
        if node.attributes.get("transposed") or first.axis < 2:
            return None
        k, s, d, pad = _window(node, first.axis)
        return Axis(first.axis, first.stride * s, first.start - pad * first.stride,
                    first.field + (k - 1) * d * first.stride)
    same_rank = all(v.type.rank == out.rank for v in node.inputs if id(v) in time)
    if node.traits.kind in ("elementwise", "quant") and same_rank:
        return first
    return None


def sliding_windows(graph: Graph, hop: int, axis: int | None = None,
                    input_name: str | None = None) -> dict[str, Any]:
    """Per layer along the time axis: outputs, those recomputed from the previous window,
    their share, the ring-buffer state; with the totals over those layers (module doc; layers
    after the time axis has ended, such as a classifier after a flatten, are not counted; MACs
    as ``passes.cost`` counts them, none for a pool). ``axis`` is the IR axis of the input's
    time dim (default: the longest spatial dim); ``input_name`` picks the streamed input
    (default: the first)."""
    if not graph.inputs:
        raise NexusError("the graph has no input to stream")
    source = graph.value(input_name) if input_name else graph.inputs[0]
    shape = source.type.shape
    if axis is None:
        spatial = list(range(2, len(shape))) or list(range(len(shape)))
        axis = max(spatial, key=lambda i: shape[i])
    axis = axis % len(shape)
    frames = int(shape[axis])
    if not 0 < hop < frames:
        raise NexusError(f"hop {hop} must be at least 1 and below the window's {frames} frames "
                         f"along axis {axis} of %{source.name}")
    time: dict[int, Axis] = {id(source): Axis(axis, 1, 0, 1)}
    layers = []
    for node in graph:
        carried = _carry(node, time)
        if carried is not None:
            time[id(node.outputs[0])] = carried
        if not time_local(node) and node.traits.kind != "matmul":
            continue
        if not any(id(v) in time for v in node.inputs if not isinstance(v, Constant)):
            continue
        layers.append(_layer(node, time, carried, hop, frames))
    macs = sum(r["macs"] for r in layers)
    redundant = sum(r["macs"] * r["recomputed_share"] for r in layers)
    working = max((r["working_bytes"] for r in layers), default=0)
    state = sum(r["state_bytes"] for r in layers)
    return {"input": source.name, "axis": axis, "window": frames, "hop": hop,
            "layers": layers, "macs": macs, "recomputed_macs": redundant,
            "recomputed_share": redundant / macs if macs else 0.0,
            "ring_buffer_bytes": state + working, "state_bytes": state,
            "working_bytes": working}


def _layer(node: Node, time: dict[int, Axis], out: Axis | None, hop: int, frames: int
           ) -> dict[str, Any]:
    x: Value = next(v for v in node.inputs if id(v) in time)
    y = node.outputs[0]
    row: dict[str, Any] = {"name": node.name, "op": node.op, "source": node.source,
                           "macs": matrix_macs(node, lower(node))}
    if out is None:                 # mixes the whole window: recomputed in full, no state
        return {**row, "outputs": 1, "recomputed": 0, "recomputed_share": 0.0,
                "state_bytes": 0, "working_bytes": int(x.type.nbytes + y.type.nbytes),
                "streams": False}
    outputs = int(y.type.shape[out.axis])
    reusable = 0
    if hop % out.stride == 0:
        reusable = sum(1 for t in range(outputs)
                       if t * out.stride + out.start >= 0 and
                       t * out.stride + out.start + out.field + hop <= frames)
    frame_in = x.type.nbytes // int(x.type.shape[out.axis])
    frame_out = y.type.nbytes // outputs
    k, s, d, _ = _window(node, out.axis) if time_local(node) else (1, 1, 1, 0)
    new_out = max(1, hop // out.stride) if hop % out.stride == 0 else outputs
    new_in = min(int(x.type.shape[out.axis]), new_out * s + (k - 1) * d)
    return {**row, "outputs": outputs, "recomputed": reusable,
            "recomputed_share": reusable / outputs, "state_bytes": int((k - 1) * d * frame_in),
            "working_bytes": int(new_in * frame_in + new_out * frame_out), "streams": True}
