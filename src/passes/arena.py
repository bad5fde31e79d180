"""The tensor arena of a microcontroller runtime, planned as TensorFlow Lite Micro plans it.

TFLM keeps every activation in one arena. Its allocator gives each non-constant tensor a
lifetime in *scopes* (the graph's inputs are created at scope 0, operator ``k`` runs at scope
``k + 1``; a tensor lives from the scope that writes it to the last that reads it, graph inputs
from 0, graph outputs to the end) and each kernel's scratch buffer the scope of its operator;
sizes are rounded up to 16 bytes. Its greedy planner (``GreedyMemoryPlanner``) then takes the
buffers largest first (equal sizes in reverse order of their tensor index, as its bubble sort
leaves them) and puts each at the lowest offset where it overlaps no placed buffer that is live
at the same time. The arena is the highest end offset. TFLM places no operator in place: a
reshape copies into its own buffer; a recurrent layer updates its state variables in place (an
output nobody reads whose type is that of a variable the node reads takes no buffer). Constants
stay in flash; variable tensors (recurrent state) are persistent allocations outside the plan.

Scratch buffers: TFLM's LSTM kernel requests four of batch × hidden cell-state elements; the
others follow the kernel library the target names (``cmsis_nn = 1``: Arm's CMSIS-NN
int8 kernels as built for a core with the DSP extension and without Helium: a k×k convolution's
im2col buffer of ``2·⌈k_h·k_w·C_in⌉₄`` int16 values, a depthwise convolution other than 3×3 with
padding ≤ 1 its ``C·k_h·k_w`` int16 values, none for 1×1 convolutions and fully connected
layers); otherwise TFLM's reference kernels, which request none.

Persistent allocations (TFLM's arena tail) are estimated from the sizes TFLM's structures have
on a 32-bit core: 24 bytes per tensor (``TfLiteEvalTensor``), 64 per operator
(``NodeAndRegistration``), 192 for the interpreter's input and output ``TfLiteTensor``s with their
quantization, and per kernel its ``OpData``: 8 bytes per output channel (per-channel multiplier
and shift, where the weight is quantized per channel) plus 48 for a conv or fully connected
layer, 16 for other kernels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lowering.rules import depthwise
from nexus_ir import Constant, Graph, Node

from .base import PassContext, analysis_pass

ALIGNMENT = 16
"""TFLM's ``MicroArenaBufferAlignment()``: every buffer's size is rounded up to it."""
EVAL_TENSOR_BYTES = 24
NODE_BYTES = 64
IO_TENSOR_BYTES = 192
OPDATA_BYTES = {"conv": 48, "matmul": 48}
"""Bytes of a kernel's ``OpData`` by op kind (others: ``OPDATA_DEFAULT_BYTES``)."""
OPDATA_DEFAULT_BYTES = 16
PER_CHANNEL_BYTES = 8


@dataclass(frozen=True)
class Buffer:
    """One buffer of the plan: a tensor (``name`` is its value) or a kernel's scratch."""

    name: str
    size: int
    first: int
    last: int
    kind: str = "tensor"


def aligned(size: int) -> int:
    return -(-size // ALIGNMENT) * ALIGNMENT


def scratch_buffers(node: Node, cmsis_nn: bool) -> list[int]:
    """Bytes of each scratch buffer the node's kernel requests: TFLM's LSTM four of batch ×
    hidden cell-state elements (reference and CMSIS-NN alike); with ``cmsis_nn`` the CMSIS-NN
    convolution's (``cmsis_nn_scratch``)."""
    if node.traits.kind == "recurrent" and node.attributes["mode"] == "lstm":
        x, cell = node.inputs[0].type, node.inputs[2].type
        batch = x.shape[0] if node.attributes["batch_first"] else x.shape[1]
        return [int(batch * node.attributes["hidden_size"] * cell.dtype.itemsize)] * 4
    size = cmsis_nn_scratch(node) if cmsis_nn else 0
    return [size] if size else []


def cmsis_nn_scratch(node: Node) -> int:
    """Bytes of the scratch buffer CMSIS-NN's int8 kernel for ``node`` requests (DSP build)."""
    if node.traits.kind != "conv" or node.attributes.get("transposed"):
        return 0
    x, w = node.inputs[0].type, node.inputs[1].type
    kernel = w.shape[2:]
    if depthwise(node):
        padded = max(node.attributes["padding"])
        if len(kernel) == 2 and tuple(kernel) == (3, 3) and padded <= 1:
            return 0
        return x.shape[1] * math.prod(kernel) * 2
    pointwise = all(k == 1 for k in kernel) and all(s == 1 for s in node.attributes["stride"]) \
        and not any(node.attributes["padding"])
    if pointwise:
        return 0
    columns = math.prod(kernel) * w.shape[1]
    return 2 * (-(-columns // 4) * 4) * 2


def buffers(graph: Graph, scratch: bool = False) -> list[Buffer]:
    """The plan's buffers in TFLM's order of addition (tensors, then scratch buffers), with
    their lifetimes in scopes (module doc)."""
    first: dict[str, int] = {}             # scope writing each buffer's tensor
    last: dict[str, int] = {}              # the last scope reading it
    sizes: dict[str, int] = {}
    for v in graph.inputs:
        first[v.name] = last[v.name] = 0
        sizes[v.name] = int(v.type.nbytes)
    scratches: list[Buffer] = []
    nodes = list(graph)
    returned = {id(v) for v in graph.outputs}
    for k, node in enumerate(nodes, start=1):
        states = [v.type for v in node.inputs if isinstance(v, Constant) and v.role == "buffer"]
        for o in node.outputs:
            if not o.users and id(o) not in returned and o.type in states:
                continue                 # written into its state variable, in place
            first[o.name] = last[o.name] = k
            sizes[o.name] = int(o.type.nbytes)
        for v in node.inputs:
            if v.name in first:            # constants stay in flash: no buffer
                last[v.name] = k
        for i, size in enumerate(scratch_buffers(node, scratch)):
            suffix = f".scratch{i}" if i else ".scratch"
            scratches.append(Buffer(f"{node.name}{suffix}", aligned(size), k, k, "scratch"))
    end = len(nodes)
    for v in graph.outputs:
        if v.name in first:
            last[v.name] = end
    tensors = [Buffer(name, aligned(sizes[name]), first[name], last[name])
               for name in first if sizes[name] > 0]
    return tensors + scratches


def greedy_offsets(plan: Sequence[Buffer]) -> list[int]:
    """Offsets of TFLM's greedy-by-size placement of ``plan`` (in its order of addition)."""
    order = sorted(range(len(plan)), key=lambda i: (-plan[i].size, -i))
    placed: list[tuple[int, Buffer]] = []           # (offset, buffer), kept sorted by offset
    offsets = [0] * len(plan)
    for i in order:
        want = plan[i]
        candidate = 0
        for offset, other in placed:
            if other.first > want.last or want.first > other.last:
                continue
            if offset - candidate >= want.size:
                break
            candidate = max(candidate, offset + other.size)
        offsets[i] = candidate
        position = next((j for j, (o, _) in enumerate(placed) if o > candidate), len(placed))
        placed.insert(position, (candidate, want))
    return offsets


def persistent_bytes(graph: Graph) -> int:
    """TFLM's persistent allocations for the graph, estimated (module doc)."""
    nodes = list(graph)
    tensors = len(graph.inputs) + len(graph.constants) + sum(len(n.outputs) for n in nodes)
    opdata = 0
    for n in nodes:
        kind = n.traits.kind
        opdata += OPDATA_BYTES.get(kind, OPDATA_DEFAULT_BYTES)
        weight = n.inputs[1].name if kind in OPDATA_BYTES and len(n.inputs) > 1 else None
        if weight and len(graph.quantization.get(weight, {}).get("scale", ())) > 1:
            opdata += PER_CHANNEL_BYTES * int(n.inputs[1].type.shape[0])
    return EVAL_TENSOR_BYTES * tensors + NODE_BYTES * len(nodes) + IO_TENSOR_BYTES + opdata


def plan_arena(graph: Graph, cmsis_nn: bool = False) -> dict[str, Any]:
    """The arena plan: its size, every buffer's offset and lifetime, and the persistent bytes."""
    plan = buffers(graph, cmsis_nn)
    offsets = greedy_offsets(plan)
    return {
        "arena_bytes": max((o + b.size for o, b in zip(offsets, plan)), default=0),
        "persistent_bytes": persistent_bytes(graph),
        "kernel_library": "cmsis-nn" if cmsis_nn else "reference",
        "buffers": [{"name": b.name, "kind": b.kind, "bytes": b.size, "offset": o,
                     "first_scope": b.first, "last_scope": b.last}
                    for b, o in zip(plan, offsets)],
    }


@analysis_pass("arena", per="graph")
def arena(graph: Graph, ctx: PassContext) -> dict[str, Any] | None:
    """TFLM's arena plan on a target that keeps activations on chip (a microcontroller);
    None elsewhere."""
    from .cost import target_of
    target = target_of(ctx)
    if not target.number("activations_on_chip"):
        return None
    return plan_arena(graph, bool(target.number("cmsis_nn")))
