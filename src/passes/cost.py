"""The cost model as analysis passes: primitive counts, transistor operations, memory traffic,
time, energy, and the graph-level metrics.

Per node ``E = E_compute + E_memory + E_static`` (../shared/DESIGN.md), where the static part
is power over time: the floor over the node's whole time and, on a target with
``active_power_w``, the multiprocessors' active power over its device time:

- ``primitive_counts``: the lowering rule's counts (``{primitive: {dtype: count}}``); an op
  without a rule gets ``{"unmodeled": why}`` instead and every later pass skips it;
- ``transistor_ops``: ``Σ count · β``;
- ``memory_traffic``: bytes per level. Tensors live from their producer (a graph input: its first
  reader) to their last reader (views share their base's storage); a tensor whose live working
  set stays within the target's largest on-chip level over its whole lifetime is *resident*:
  written and read on chip only.
  Graph inputs are read from, and outputs written to, off-chip memory; weights (constants, and
  tree nodes or linear coefficients held as attributes) stream from
  off-chip memory at each use. Every off-chip byte also passes through the on-chip level. Matrix
  products whose operands and result do not fit on chip together re-read their operands in
  tiles: ``2·M·N·K/t`` elements with square output tiles of side ``t = √(capacity/2)``
  elements (at least the compulsory reads); a recurrent layer re-reads its hidden-to-hidden
  weights on chip at every step; an in-place write (``update``: a KV-cache write) moves only the
  bytes it writes. On a target with ``fused_dequantize``, a
  ``dequantize`` that only matrix ops read is *fused* into them, as quantized kernels run: it
  materializes nothing and launches no kernel (its multiplies stay), and its readers read the
  quantized tensor and scales; a matrix op whose operands all come from fused dequantizes of one
  quantized dtype is counted at that dtype (an int8/fp8 GEMM, ``primitive_counts``). A matrix op
  annotated with a weight ``sparsity`` s switches ``1 − s·η`` of its matrix energy on a target
  with sparse efficiency η;
- ``dynamic_energy``: ``Σ count·e(primitive, dtype)`` + ``Σ bytes·pJ/byte``;
- ``timing``: per node the device time ``max(t_compute, t_memory, t_power)`` plus the gap after
  each of its kernels, with fma in matrix ops at the target's matrix rate times its achieved
  fraction (``matrix_efficiency``) and the wave quantization of the op's output tiles over the
  multiprocessors, transcendentals at its special-function rate, the rest at its vector rate,
  and ``t_power = E_dynamic / (P_max - P_floor)`` where the target has a power limit. How the
  model runs is the ``execution`` option (``EXECUTION_MODES``): ``eager`` dispatches every op
  from the host (``host_dispatch_s`` by op kind, views too, plus ``host_kernel_s`` per further
  kernel and ``host_module_s`` per module call, ``module_entries``) and a kernel starts when both the host has issued it and the device is free, so a
  node's time is how far it moves the later of the two; ``cuda-graph`` replays the same kernels
  with no host time; ``fused`` is what a graph compiler runs: an elementwise op whose input is
  its producer's only use runs in that producer's epilogue (no kernel, and the tensor between
  them is never written or read), every other op one kernel. Each inference adds ``sync_s``.
  The ``math`` option follows PyTorch's settings: ``default`` runs fp32 convolutions and recurrent
  layers as TF32 where the target says cuDNN does (``tf32_conv``) and fp32 matmuls as TF32 where
  cuBLAS does (``tf32_matmul``), ``tf32`` both, ``highest`` neither. With ``warm`` (default) on a
  target whose on-chip level is a cache that keeps weights (``cache_retains_weights``), a model
  whose weights and activations fit on chip reads its weights, and the caller's inputs and
  outputs, from there in steady state (in part between the target's
  ``weights_resident_below_bytes`` and ``weights_evicted_above_bytes``); for the share of weights
  that streams, a matrix op's output goes off chip in the target's ``matrix_writeback`` share
  (dirty lines the weight stream evicts). Ops
  whose kernels run below the roofline take at least their elements over the target's
  ``element_rate_per_s`` for the op (layer norm: rows over ``norm_rows_per_s``), a fused
  attention kernel the time of its tiles (``attention_time``); SDPA's math path (fp32 causal
  grouped-query attention, and in ``cuda-graph`` a bf16/f16 attention whose folded capture
  mask the captured graph runs, ``lowering.rules.captured_math_path``, its fma then at fp32)
  moves its fp32 score matrix and copies of its operands (``math_path_bytes``). A strided layout
  change (transpose, slice, split) read only by ops that take strided operands is a view, as in
  PyTorch (``is_view``);
- ``energy``: dynamic energy + ``P_floor · t`` (the busy floor where the target gives one) +
  ``P_active · t_device`` (the node's device time, gaps excluded);
- ``metrics``: totals, the six NEXUS metrics and the baselines, and the bytes each memory level
  must hold with whether they fit (``memory_needed``, ``fits``) (graph level, in
  ``ctx.results["metrics"]``).

The target is ``ctx.options["target"]`` (a name, a path or a loaded ``Target``).

One module because the passes share one model of the schedule (storage roots, residency, fusion of
dequantize, the target's rates) and each needs it whole; splitting them would scatter that model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lowering.primitives import COMPOSITES, Counts
from lowering.rules import (CAPTURED_MATH_KERNELS, MATH_HALF_OPERAND_BYTES,
                            MATH_HALF_SCORE_BYTES, MATH_SCORE_BYTES, UnmodeledOpError,
                            captured_math_path, channels_last_input, cost_facts, depthwise,
                            fused_attention, lower)
from lowering.target import EXEC_CLASSES, EXECUTION_MODES, Target, load_target
from nexus_ir import Constant, Graph, Node, NexusError, Value, dtype
from nexus_ir.report import EnergyReport, NodeCost

from ._intervals import interval_max, live_profile
from .base import PassContext, analysis_pass
from .manager import PassManager
from .switching import energy_scale, node_activity


def is_gemm(node: Node) -> bool:
    """A matrix product or regular convolution: an op with GEMM dimensions (op traits)."""
    return node.traits.gemm is not None


def _unit_free(shape: Sequence[Any]) -> list[Any]:
    return [d for d in shape if d != 1]


def _keeps_layout(node: Node) -> bool:
    """A strided op whose result is contiguous anyway: a transpose that moves only size-1 dims
    or swaps the head and query axes of a fused attention's output (stored [batch, query,
    head, value], ``lowering.rules.fused_attention``; also through reshapes to the same shape,
    which transformers 5.25 puts between them), a slice or split along the outermost dim
    larger than 1."""
    x = node.inputs[0].type.shape
    if node.op == "transpose":
        source = node.inputs[0].producer
        while source is not None and source.op == "reshape" and \
                source.outputs[0].type.shape == source.inputs[0].type.shape:
            source = source.inputs[0].producer   # returns its input, strides and all
        if source is not None and source.op == "attention" and fused_attention(source) and \
                tuple(node.attributes["perm"]) == (0, 2, 1, 3):
            return True
        moved = [p for p in node.attributes["perm"] if x[p] != 1]
        return moved == sorted(moved)
    axes = node.attributes["axes"] if node.op == "slice" else [node.attributes["axis"]]
    outer = next((i for i, d in enumerate(x) if d != 1), 0)
    return all(a % len(x) <= outer for a in axes)


def _reads_strided(reader: Node) -> bool:
    """``reader`` takes a strided operand without a copy: by its traits, as a strided view
    itself, as a convolution of a channels-last view (``lowering.rules.channels_last_input``),
    or as a view that only adds or drops size-1 dims whose readers all do."""
    if reader.traits.takes_strided or (reader.traits.strided and is_view(reader)) or \
            (reader.traits.kind == "conv" and channels_last_input(reader)):
        return True
    return reader.traits.view and \
        _unit_free(reader.inputs[0].type.shape) == _unit_free(reader.outputs[0].type.shape) and \
        all(_reads_strided(u) for o in reader.outputs for u in o.users)


def is_view(node: Node) -> bool:
    """No kernel and no bytes: a view of its input's storage (op trait ``view``), or a strided
    layout change (``strided``: transpose, slice, split) that keeps the layout contiguous or
    whose every reader takes strided operands, as PyTorch runs it; else (a graph output too)
    it is a copy."""
    if node.traits.view:
        return True
    return node.traits.strided and (_keeps_layout(node) or all(
        o.users and all(_reads_strided(u) for u in o.users) for o in node.outputs))


def fused(node: Node, target: Target) -> bool:
    """On a target that fuses them, a dequantize whose every reader is a GEMM (module doc)."""
    return bool(target.fused_dequantize and target.fused_dequantize.value) and \
        node.op == "dequantize" and bool(node.outputs[0].users) and \
        all(is_gemm(u) for u in node.outputs[0].users)


def quantized_operands(node: Node, target: Target) -> str | None:
    """The quantized dtype (int8, fp8) a matrix op runs at on a fusing target when every data
    operand (all but a bias) comes from a fused dequantize of that dtype: an int8/fp8 GEMM with
    the scales applied to its accumulator, as QDQ graphs deploy. None otherwise."""
    if not is_gemm(node):
        return None
    data = node.inputs[:2]
    sources = {v.producer.inputs[0].type.dtype.name for v in data
               if v.producer is not None and fused(v.producer, target)}
    if len(sources) != 1 or not all(v.producer is not None and fused(v.producer, target)
                                    for v in data):
        return None
    return sources.pop()


def _read_bytes(value: Value, target: Target) -> int:
    """Bytes a reader of ``value`` moves: a fused dequantize's inputs, else the value itself."""
    producer = value.producer
    if producer is not None and fused(producer, target):
        return sum(v.type.nbytes for v in producer.inputs)
    return value.type.nbytes


def target_of(ctx: PassContext) -> Target:
    """The target named in the pass options (default h100), loaded once per run."""
    target = ctx.options.get("target", "h100")
    if not isinstance(target, Target):
        target = load_target(target)
        ctx.options = {**ctx.options, "target": target}
    return target


MATH_MODES = ("default", "tf32", "highest")


def execution_of(ctx: PassContext) -> str:
    """The execution mode of the run (``execution`` option, default eager); one line otherwise."""
    mode = ctx.options.get("execution") or "eager"
    if mode not in EXECUTION_MODES:
        raise NexusError(f"execution '{mode}': choose one of {', '.join(EXECUTION_MODES)}")
    target = target_of(ctx)
    if mode not in target.execution_modes:
        raise NexusError(f"execution '{mode}' is not modeled on target {target.name}: CUDA-graph "
                         "replay needs a GPU target giving sms and kernel_gap_s; choose "
                         f"{' or '.join(target.execution_modes)}")
    return mode


def math_of(ctx: PassContext) -> str:
    """The fp32 math mode (``math`` option, default ``default``: PyTorch's own settings)."""
    mode = ctx.options.get("math") or "default"
    if mode not in MATH_MODES:
        raise NexusError(f"math '{mode}': choose one of {', '.join(MATH_MODES)}")
    return mode


def runs_tf32(node: Node, target: Target, math_mode: str) -> bool:
    """Whether an fp32 matrix op runs as TF32 on tensor cores (module doc)."""
    if not node.traits.matrix or ("matrix", "tf32") not in target.peak or \
            node.outputs[0].type.dtype.name != "f32" or math_mode == "highest":
        return False
    if math_mode == "tf32":
        return True
    key = "tf32_conv" if node.traits.kind in ("conv", "recurrent") else "tf32_matmul"
    return bool(target.number(key))


UNMODELED = "unmodeled"
"""The key of a ``primitive_counts`` annotation that says why the node has no counts."""


def unmodeled_reason(node: Node) -> str | None:
    """Why the node is unmodeled (``primitive_counts`` found no lowering rule), or None."""
    raw = node.annotations.get("primitive_counts")
    return raw[UNMODELED] if isinstance(raw, dict) and UNMODELED in raw else None


def counts_of(node: Node) -> Counts | None:
    """The node's primitive counts, or None when it is unmodeled or not costed. The annotation
    is a Counts; a graph loaded back from JSON holds its plain ``{primitive: {dtype: count}}``
    form."""
    raw = node.annotations.get("primitive_counts")
    if raw is None or isinstance(raw, Counts):
        return raw
    return None if UNMODELED in raw else Counts.from_dict(raw)


def modeled(node: Node) -> bool:
    return unmodeled_reason(node) is None


@analysis_pass("primitive_counts")
def primitive_counts(node: Node, ctx: PassContext) -> Counts | dict[str, str]:
    """Lower the node to primitive counts; an op without a rule gets ``{"unmodeled": why}``."""
    try:
        counts = lower(node)
    except UnmodeledOpError as err:
        return {UNMODELED: str(err)}
    target = target_of(ctx)
    if captured_math_path(node, execution_of(ctx)):     # q, k and v cast to fp32 first
        return Counts({(p, "f32" if dtype(d).is_float else d): c for (p, d), c in counts.items()})
    quantized = quantized_operands(node, target)
    if quantized is None and runs_tf32(node, target, math_of(ctx)):
        return Counts({(p, "tf32" if p == "fma" and d == "f32" else d): c
                       for (p, d), c in counts.items()})
    if quantized is None:
        return counts
    float_dtype = node.outputs[0].type.dtype.name
    return Counts({(p, quantized if d == float_dtype else d): c for (p, d), c in counts.items()})


@analysis_pass("transistor_ops", requires=("primitive_counts",))
def transistor_ops(node: Node, ctx: PassContext) -> float | None:
    """Σ count·β: transistor switching events of the node on random data."""
    counts = counts_of(node)
    return None if counts is None else counts.transistor_ops()


# ----------------------------------------------------------------------------- memory
def _storage_roots(graph: Graph, nodes: list[Node]) -> dict[int, Value]:
    """Each value's storage: itself, or for a view the storage of the viewed value."""
    root: dict[int, Value] = {id(v): v for v in [*graph.inputs, *graph.constants.values()]}
    for n in nodes:
        for o in n.outputs:
            root[id(o)] = root.get(id(n.inputs[0]), n.inputs[0]) \
                if is_view(n) or n.traits.in_place else o
    return root


def _residency(graph: Graph, nodes: list[Node], root: dict[int, Value], target: Target
               ) -> tuple[set[int], int]:
    """Ids of resident storages, and the peak bytes of live activations."""
    steps = max(len(nodes), 1)
    birth: dict[int, int] = {}
    death: dict[int, int] = {}
    storages: dict[int, Value] = {id(v): v for v in graph.inputs}
    for i, n in enumerate(nodes):
        for v in n.inputs:
            s = root[id(v)]
            if not isinstance(s, Constant):
                birth.setdefault(id(s), i)           # an input from its first read
                death[id(s)] = max(death.get(id(s), 0), i)
        if not is_view(n) and not fused(n, target):
            for o in n.outputs:
                storages[id(o)] = o
                birth[id(o)] = i
                death[id(o)] = max(death.get(id(o), i), i)
    pinned = {id(root[id(v)]) for v in graph.outputs} | {id(v) for v in graph.inputs}
    keys = list(storages)
    if not keys:
        return set(), 0
    births = np.array([birth.get(k, 0) for k in keys], dtype=np.int64)
    used = np.array([max(death.get(k, 0), birth.get(k, 0)) for k in keys], dtype=np.int64)
    sizes = np.array([float(storages[k].type.nbytes) for k in keys], dtype=np.float64)
    # memory held: the caller's inputs and outputs stay allocated to the end of the call
    held = np.where([k in pinned for k in keys], steps - 1, used)
    peak = live_profile(births, held, sizes, steps)
    # the chip's working set: a tensor occupies it from its write (or first read) to its last read
    working = live_profile(births, used, sizes, steps)
    worst = interval_max(working, births, used)
    capacity = target.on_chip.capacity_bytes.value
    resident = {k for k, w in zip(keys, worst.tolist()) if w <= capacity and k not in pinned}
    return resident, int(peak.max())             # a Python int: no width to overflow


TREE_NODE_BYTES = 17
"""A compact tree node as inference runtimes store it: feature (i32), threshold (f32), two child
indices (i32) and the branch mode (1 byte)."""


def attribute_weights(node: Node) -> tuple[int, int]:
    """(parameters, bytes) of weights an op holds in its attributes rather than as constant
    inputs: a tree ensemble's nodes (``TREE_NODE_BYTES`` each; its parameters are the split
    thresholds and the leaf values) and a linear model's coefficients and intercepts (f32).
    They are read from off-chip memory on every inference (``attribute_reads``: what of them)."""
    a = node.attributes
    if node.traits.kind == "tree":
        leaves = int((np.asarray(a["modes"]) == 0).sum())
        nodes = len(a["modes"])
        leaf_values = leaves * a["n_targets"]
        return nodes - leaves + leaf_values, nodes * TREE_NODE_BYTES + 4 * leaf_values
    if node.traits.kind == "linear_model":
        count = a["coefficients"].size + a["intercepts"].size
        return count, 4 * count
    return 0, 0


CACHE_LINE_BYTES = 64


def attribute_reads(node: Node) -> int:
    """Bytes of its attribute weights (``attribute_weights``) an op reads per inference: all of
    them, except for a tree ensemble, which touches only the nodes its rows visit — a cache
    line per split compare and per leaf reached — up to the whole ensemble."""
    held = attribute_weights(node)[1]
    counts = counts_of(node)
    if node.traits.kind != "tree" or counts is None:
        return held
    compares = counts.total("cmp")
    rows = node.inputs[0].type.shape[0] if node.inputs[0].type.rank else 1
    leaves = int(rows) * len(node.attributes["tree_roots"])
    return min(held, (compares + leaves) * CACHE_LINE_BYTES)


def gemm_dims(node: Node) -> tuple[int, int, int, int] | None:
    """(batch, M, N, K) of a matrix product or (regular) convolution as an implicit GEMM (the
    op's ``gemm`` trait), None for other ops."""
    gemm = node.traits.gemm
    return None if gemm is None else gemm(node)


def _tile_rereads(node: Node, capacity: float) -> int:
    """Operand bytes a tiled matrix product reads beyond its compulsory reads, when its operands
    and result overflow the on-chip capacity (0 when they fit or the op is no matrix product)."""
    dims = gemm_dims(node)
    if dims is None:
        return 0
    operands = sum(v.type.nbytes for v in node.inputs[:2])
    if operands + node.outputs[0].type.nbytes <= capacity:
        return 0
    batch, m, n, k = dims
    item = node.inputs[0].type.dtype.bits / 8
    tile = max(1, math.isqrt(int(capacity / item / 2)))
    return max(0, int(2 * batch * m * n * k * item / tile) - operands)


def _step_rereads(node: Node) -> int:
    """Bytes a recurrent layer reads again at every step after the first: its hidden-to-hidden
    weights (``w_hh``), which a per-step GEMM streams from the on-chip cache (0 for other ops)."""
    if node.traits.kind != "recurrent":
        return 0
    a, x = node.attributes, node.inputs[0].type
    steps = x.shape[1] if a["batch_first"] else x.shape[0]
    per_run = 4 if a["has_biases"] else 2
    first = 3 if a["mode"] == "lstm" else 2
    w_hh = [node.inputs[first + i * per_run + 1] for i in
            range(a["num_layers"] * (2 if a["bidirectional"] else 1))]
    return sum(w.type.nbytes for w in w_hh) * (steps - 1)


def epilogue_fused(graph: Graph, execution: str) -> dict[int, Node]:
    """In ``fused`` execution, the elementwise nodes a graph compiler runs in their producer's
    epilogue, by the id of the tensor between them (never written, never read): the node's
    first input whose producer is a computing node and whose only use is this node (module
    doc). Empty in other modes."""
    if execution != "fused":
        return {}
    outputs = {id(v) for v in graph.outputs}
    fused_into: dict[int, Node] = {}
    for n in graph:
        if not n.traits.epilogue or not modeled(n):
            continue
        for v in n.inputs:
            p = v.producer
            if p is not None and not is_view(p) and modeled(p) and id(v) not in outputs and \
                    len(v.users) == 1 and p.op != "dequantize":
                fused_into[id(v)] = n
                break
    return fused_into


def weights_on_chip(graph: Graph, target: Target, peak_bytes: int, warm: bool) -> float:
    """The share of weight bytes read from on chip in back-to-back inference: warm steady state
    on a cache that keeps them, all of them while the footprint (weights, inputs, outputs and
    peak activations) stays below ``weights_resident_below_bytes``, none from
    ``weights_evicted_above_bytes`` on, linearly between (both default to the on-chip capacity:
    all or nothing)."""
    if not warm or not target.number("cache_retains_weights"):
        return 0.0
    footprint = sum(c.type.nbytes for c in graph.constants.values()) + peak_bytes + \
        sum(v.type.nbytes for v in [*graph.inputs, *graph.outputs])
    capacity = target.on_chip.capacity_bytes.value
    kept = target.number("weights_resident_below_bytes", capacity)
    evicted = max(target.number("weights_evicted_above_bytes", capacity), kept)
    if footprint <= kept:
        return 1.0
    return 0.0 if footprint >= evicted else (evicted - footprint) / (evicted - kept)


def written_back(node: Node, target: Target) -> float:
    """The share of a matrix op's on-chip output that still reaches off-chip memory while the
    weights stream through the cache (``matrix_writeback`` at its dtype; 0 where the target
    gives none, and for other ops): dirty lines the weight stream evicts before the buffer is
    written again."""
    if not node.traits.matrix:
        return 0.0
    share = target.matrix_writeback.get(node.outputs[0].type.dtype.name)
    return share.value if share is not None else 0.0


def math_path_bytes(node: Node, execution: str) -> tuple[int, int]:
    """(bytes, fp32 score-matrix bytes) an attention on SDPA's math path moves beyond reading
    its operands and writing its result once (``lowering.rules``' ``MATH_*`` constants: its
    score matrix, and at bf16/f16 the fp32 casts and copies of q, k, v and the result); (0, 0)
    for a fused kernel and other ops."""
    if node.op != "attention" or fused_attention(node, execution):
        return 0, 0
    q, k, v = (i.type for i in node.inputs[:3])
    out = node.outputs[0].type
    scores = out.numel // v.shape[-1] * k.shape[-2]
    if out.dtype.bits != 16:
        return MATH_SCORE_BYTES * scores, 4 * scores
    per = MATH_HALF_OPERAND_BYTES
    operands = per["q"] * q.numel + per["k"] * k.numel + per["v"] * v.numel + \
        per["out"] * out.numel
    return (MATH_SCORE_BYTES + MATH_HALF_SCORE_BYTES) * scores + operands, 4 * scores


@analysis_pass("memory_traffic", per="graph")
def memory_traffic(graph: Graph, ctx: PassContext) -> dict[str, Any]:
    """Bytes each node moves off chip and on chip (module doc); the graph result holds the
    peak activation bytes and whether the weights are read warm from on chip."""
    target = target_of(ctx)
    capacity = target.on_chip.capacity_bytes.value
    schedule = list(graph)
    root = _storage_roots(graph, schedule)
    resident, peak = _residency(graph, schedule, root, target)
    kept = weights_on_chip(graph, target, peak, ctx.options.get("warm", True))
    execution = execution_of(ctx)
    skipped = epilogue_fused(graph, execution)
    caller = {id(v) for v in graph.inputs} | {id(root.get(id(v), v)) for v in graph.outputs}
    for n in schedule:
        n.annotations.pop("memory_traffic", None)
        if not modeled(n):
            continue
        off = on = 0
        if not is_view(n) and not fused(n, target):
            seen: set[int] = set()
            for slot, v in enumerate(n.inputs):
                if id(v) in seen or id(v) in skipped or (n.traits.in_place and slot == 0):
                    continue
                seen.add(id(v))
                size = n.outputs[0].type.nbytes if n.traits.partial_read == slot \
                    else _read_bytes(v, target)
                if v.producer is not None and fused(v.producer, target):
                    v = v.producer.inputs[0]      # the quantized tensor the fused op reads
                on += size
                storage = id(root.get(id(v), v))
                if isinstance(v, Constant) or storage in caller:
                    off += round(size * (1.0 - kept))
                elif storage not in resident:
                    off += size
            for o in n.outputs:
                if id(o) in skipped:
                    continue
                written = n.inputs[1].type.nbytes if n.traits.in_place else o.type.nbytes
                on += written
                storage = id(root.get(id(o), o))
                if storage in caller:
                    off += round(written * (1.0 - kept))
                elif storage not in resident:
                    off += written
                else:
                    off += round(written * written_back(n, target) * (1.0 - kept))
            extra = _tile_rereads(n, capacity) + attribute_reads(n)
            math_path, scores = math_path_bytes(n, execution)
            off, on = off + extra, on + extra + _step_rereads(n) + math_path
            if scores > capacity:                   # the fp32 score matrix does not stay on chip
                off += math_path
        n.annotations["memory_traffic"] = {"off_chip_bytes": off, "on_chip_bytes": on}
    return {"peak_activation_bytes": peak, "resident_tensors": len(resident),
            "modeled_nodes": sum(map(modeled, schedule)), "weights_on_chip": kept}


# ----------------------------------------------------------------------------- time and energy
def matrix_macs(node: Node, counts: Counts) -> int:
    """MACs as FLOP counters and published model tables count them: the fma of matrix products,
    convolutions and attention only (not the fma inside norms or activations)."""
    return counts.macs if node.traits.matrix else 0


def exec_class(node: Node, primitive: str) -> str:
    if primitive in COMPOSITES:
        return "special"
    if primitive == "fma" and node.traits.matrix:
        return "matrix"
    return "vector"


def activity_floor(target: Target) -> float:
    """The target's data-independent share of compute energy (0 when it gives none)."""
    return target.activity_floor.value if target.activity_floor else 0.0


@analysis_pass("dynamic_energy", requires=("primitive_counts", "memory_traffic", "switching"))
def dynamic_energy(node: Node, ctx: PassContext) -> dict[str, float] | None:
    """Joules the node switches: compute (Σ count·e, scaled by the switching activity of its
    operands' bits, ``passes.switching``) and memory (Σ bytes·pJ/byte)."""
    counts = counts_of(node)
    if counts is None:
        return None
    target = target_of(ctx)
    activity = energy_scale(node_activity(node), activity_floor(target))
    by_class: dict[str, float] = {}
    for (p, d), c in counts.items():
        cls = exec_class(node, p)
        scale = target.energy_scale[cls].value if cls in target.energy_scale else 1.0
        by_class[cls] = by_class.get(cls, 0.0) + c * target.energy_pj(p, d) * scale * 1e-12 * \
            activity
    skipped = node.annotations.get("sparsity", 0.0) * (
        target.sparse_efficiency.value if target.sparse_efficiency else 0.0)
    if skipped and "matrix" in by_class:
        by_class["matrix"] *= 1.0 - skipped
    compute = sum(by_class.values())
    traffic = node.annotations["memory_traffic"]
    memory = (traffic["off_chip_bytes"] * target.off_chip.pj_per_byte.value +
              traffic["on_chip_bytes"] * target.on_chip.pj_per_byte.value) * 1e-12
    return {"compute_j": compute, "memory_j": memory, "compute_by_class": by_class}


def _tiles(node: Node, target: Target, dt: str) -> tuple[int, float] | None:
    """(output tiles, the share of their area the product fills) of a GEMM on ``target``, or
    None where the wave model does not apply (``wave_utilization``)."""
    dims = gemm_dims(node)
    on_lanes = ("matrix", dt) not in target.peak
    tile = int(target.number("gemm_tile_lanes" if on_lanes else "gemm_tile")
               or target.number("gemm_tile"))
    if dims is None or not tile or not target.number("sms") or min(dims[2], dims[3]) < 16:
        return None
    batch, m, n, _ = dims
    tall = min(tile, 16 * math.ceil(m / 16))
    tiles = batch * math.ceil(m / tall) * math.ceil(n / tile)
    return tiles, batch * m * n / (tiles * tall * tile)


def _waves_filled(tiles: int, target: Target) -> float:
    """The share of the multiprocessors' slots ``tiles`` fill over their whole waves."""
    sms = int(target.number("sms"))
    return tiles / (math.ceil(tiles / sms) * sms)


def sm_occupancy(node: Node, target: Target, dt: str) -> float:
    """The share of multiprocessors a GEMM's tiles keep busy over its waves (1 for other ops)."""
    tiled = _tiles(node, target, dt)
    return 1.0 if tiled is None else _waves_filled(tiled[0], target)


def wave_utilization(node: Node, target: Target, dt: str) -> float:
    """The share of the multiprocessors' output tiles a GEMM fills: its tiles spread over
    ``sms`` in whole waves. Tiles are ``gemm_tile`` wide on the matrix units
    (``gemm_tile_lanes`` where fma at ``dt`` runs on the vector lanes, as FP32 does) and as tall
    as M rounded up to 16 where M is smaller (the narrow tiles libraries pick for few rows).
    1 on targets without those numbers and for products too thin for a tile (depthwise
    convolutions, N or K below 16)."""
    tiled = _tiles(node, target, dt)
    return 1.0 if tiled is None else tiled[1] * _waves_filled(tiled[0], target)


def node_kernels(node: Node, target: Target, execution: str, fused_away: set[int]) -> int:
    """Kernels the node launches in ``execution``: its cost facts' count, what eager PyTorch
    launches on a CUDA GPU (0 for views and fused dequantizes); one in fused execution (0 for
    an epilogue run in its producer) and on a target whose runtime invokes one kernel per op
    (``kernel_per_op``: TFLite Micro, ONNX Runtime on a CPU), but one per step of a sequential
    loop there (``CostFacts.stepped``)."""
    if is_view(node) or fused(node, target) or id(node) in fused_away:
        return 0
    if captured_math_path(node, execution):
        return CAPTURED_MATH_KERNELS
    facts = cost_facts(node.op)
    kernels = facts.kernels_of(node)
    one = execution == "fused" or (target.number("kernel_per_op") and not facts.stepped)
    return min(kernels, 1) if one else kernels


def conv_class(node: Node) -> str | None:
    """``depthwise`` (one input channel per group), ``pointwise`` (1×1 filters), ``dense`` (a
    k×k filter over several channels), or None for ops that are no convolution."""
    if node.traits.kind != "conv" or node.attributes.get("transposed"):
        return None
    if depthwise(node):
        return "depthwise"
    return "pointwise" if all(k == 1 for k in node.inputs[1].type.shape[2:]) else "dense"


MMA_K_BYTES = 32
"""Bytes of the reduction (K) dim one tensor-core instruction takes per row: 16 bf16/fp16, 8
tf32, 32 fp8 values (Hopper ``wgmma``: k16 for 16-bit, k8 for tf32, k32 for 8-bit)."""


def channel_fill(node: Node, dt: str) -> float:
    """The share of the tensor cores' reduction width a dense convolution fills: per filter tap
    its input channels are padded to a whole instruction (``MMA_K_BYTES``), which an RGB stem
    (3 channels) fills to 3/16 at bf16."""
    channels = node.inputs[1].type.shape[1]
    width = max(1, MMA_K_BYTES * 8 // dtype(dt).bits)
    return channels / (width * math.ceil(channels / width))


def matrix_rate(node: Node, target: Target, dt: str) -> float:
    """FMA per second of the node's matrix work at ``dt``: the peak times the achieved fraction
    (``conv_efficiency`` for dense k×k convolutions, else ``matrix_efficiency`` and the wave
    quantization); depthwise convolutions at ``depthwise_fma_per_s`` where the target has it; a
    matrix-vector product (one row: a fully connected layer at batch 1) at ``gemv_efficiency``
    of the peak where the target gives it (each weight is loaded and widened for one row instead
    of a tile's two, as a microcontroller's int8 kernels run)."""
    shape = conv_class(node)
    if shape == "depthwise" and target.number("depthwise_fma_per_s"):
        return target.number("depthwise_fma_per_s")
    if target.number("gemv_efficiency") and node.traits.gemm and \
            (dims := node.traits.gemm(node)) and dims[1] == 1:
        return target.peak_rate("matrix", dt) * target.number("gemv_efficiency")
    if shape == "dense" and target.number("conv_efficiency"):
        return target.peak_rate("matrix", dt) * target.number("conv_efficiency") * \
            channel_fill(node, dt)
    return target.peak_rate("matrix", dt) * target.number("matrix_efficiency", 1.0) * \
        wave_utilization(node, target, dt)


def attention_steps(heads: int, length: int, causal: bool, rows: int, keys: int, slots: int
                    ) -> tuple[int, float]:
    """(waves, key steps on the critical path) of a fused self-attention kernel over ``length``
    queries and keys: ``heads`` (batch·heads) × ⌈length/rows⌉ blocks, each a tile of ``rows``
    queries scanning tiles of ``keys`` keys (under a causal mask only those up to its last
    query), ``slots`` blocks at a time. Blocks start in order as slots free up, so the critical
    path is the waves times the longest block (exact for equal blocks) or, where causal blocks
    of unequal length balance, at most the total over the slots plus the longest block (the
    bound of greedy list scheduling)."""
    tiles = math.ceil(length / rows)
    per_tile = [math.ceil(min(length, (i + 1) * rows) / keys) for i in range(tiles)] \
        if causal else [math.ceil(length / keys)] * tiles
    waves = math.ceil(heads * tiles / slots)
    longest = max(per_tile)
    return waves, min(waves * longest, heads * sum(per_tile) / slots + longest)


def unaligned_rows(keys: int, bits: int) -> bool:
    """Rows of ``keys`` elements of ``bits`` each that do not fill whole 16-byte loads."""
    return bool(keys * bits // 8 % 16)


def attention_time(node: Node, target: Target, execution: str) -> float:
    """Seconds of a fused attention kernel from its tiles (``Target.attention`` at its dtype):
    ``block_s`` per wave of blocks and, per key step on the critical path (``attention_steps``),
    ``step_s`` plus ``step_per_dim_s`` per unit of the two products' widths (E + Ev), plus
    ``mask_step_s`` under an explicit mask and ``unaligned_mask_step_s`` more where the mask's
    rows are not 16-byte aligned. Measured for self-attention (as many queries as keys); 0 for
    other ops and shapes, the math path and dtypes the target does not list."""
    numbers = target.attention.get(node.outputs[0].type.dtype.name)
    if node.op != "attention" or numbers is None or not fused_attention(node, execution):
        return 0.0
    q, k, v = (i.type for i in node.inputs[:3])
    if q.shape[-2] != k.shape[-2]:
        return 0.0
    n = {key: quantity.value for key, quantity in numbers.items()}
    heads = node.outputs[0].type.numel // (q.shape[-2] * v.shape[-1])
    waves, steps = attention_steps(heads, q.shape[-2], node.attributes["causal"],
                                   int(n["tile_rows"]), int(n["tile_keys"]),
                                   int(n["blocks_per_sm"] * target.number("sms", 1)))
    step = n["step_s"] + n["step_per_dim_s"] * (q.shape[-1] + v.shape[-1])
    if len(node.inputs) == 4:
        mask = node.inputs[3].type
        step += n["mask_step_s"] + n["unaligned_mask_step_s"] * unaligned_rows(
            mask.shape[-1], mask.dtype.bits)
    return waves * n["block_s"] + steps * step


def rate_time(node: Node, target: Target) -> float:
    """Seconds the node's kernels take at the rate measured for its op where they run below the
    roofline: input elements over ``element_rate_per_s[op]``, for layer norm its rows over
    ``norm_rows_per_s``, for a tree ensemble its split compares over ``tree_compares_per_s``; 0
    where the target gives no rate."""
    x = node.inputs[0].type
    elements = x.nbytes * 8 // x.dtype.bits if node.inputs else 0
    rate = target.element_rate_per_s.get(node.op)
    if rate is not None:
        return elements / rate.value
    if node.op == "tree_ensemble" and target.number("tree_compares_per_s"):
        return counts_of(node).total("cmp") / target.number("tree_compares_per_s")
    if node.op == "layer_norm" and target.number("norm_rows_per_s"):
        shape = node.inputs[0].type.shape
        rows = math.prod(shape[:node.attributes["axis"] % len(shape)])
        return rows / target.number("norm_rows_per_s")
    return 0.0


def device_time(node: Node, target: Target, kernels: int, occupancy: float,
                execution: str) -> dict[str, float]:
    """The node's bounds on the device, in seconds: compute (a fused attention kernel's
    measured time from its tiles, ``attention_time``; else matrix work at its achieved rate,
    at least ``rate_time``; plus ``per_output_s`` per output element of a matrix op: the
    requantize, clamp and store a microcontroller's int8 kernel spends per output; plus
    ``depthwise_output_s`` per output of a depthwise convolution), memory,
    power (the headroom above the floor and the active power
    of the ``occupancy`` share of SMs it keeps busy) and latency (the shortest kernels: ``min_kernel_s`` for a matrix op's first,
    ``min_vector_kernel_s`` for every other kernel)."""
    counts = counts_of(node)
    compute = attention_time(node, target, execution) or max(rate_time(node, target), sum(
        c / (matrix_rate(node, target, d) if cls == "matrix" else target.peak_rate(cls, d))
        for (p, d), c in counts.items() for cls in [exec_class(node, p)]))
    if node.traits.matrix and target.number("per_output_s"):
        compute += node.outputs[0].type.numel * target.number("per_output_s")
    if target.number("depthwise_output_s") and conv_class(node) == "depthwise":
        compute += node.outputs[0].type.numel * target.number("depthwise_output_s")
    first = target.number("min_kernel_s") if node.traits.matrix else \
        target.number("min_vector_kernel_s")
    latency = first + target.number("min_vector_kernel_s") * (kernels - 1) if kernels else 0.0
    traffic = node.annotations["memory_traffic"]
    memory = max(traffic["off_chip_bytes"] / target.off_chip.bandwidth_bytes_per_s.value,
                 traffic["on_chip_bytes"] / target.on_chip.bandwidth_bytes_per_s.value)
    power = 0.0
    if target.max_power_w is not None:
        dynamic = node.annotations["dynamic_energy"]["compute_j"] + \
            node.annotations["dynamic_energy"]["memory_j"]
        headroom = target.max_power_w.value - target.floor_power_w - \
            target.number("active_power_w") * occupancy
        power = dynamic / headroom if headroom > 0 else 0.0
    return {"compute": compute, "memory": memory, "power": power, "latency": latency}


def module_entries(graph: Graph) -> dict[int, int]:
    """Calls of modules that hold other modules, which eager PyTorch makes at each node, by
    node id: the containers on the node's module path (``node.source``: the dotted prefixes
    that are a strict prefix of some node's path) that the previous node's path does not
    share (entered, or entered again, as a shared block is), plus the model's own call at the
    first node. A leaf module's call is inside its ops' ``host_dispatch_s`` (measured through
    ``nn.Linear``, ``nn.ReLU`` and the like), and a flat name is no container; a ``ModuleList``,
    never called, counts: paths cannot tell it from a ``Sequential``."""
    paths = [node.source.split(".") if node.source else [] for node in graph]
    containers = {".".join(parts[:k]) for parts in paths for k in range(1, len(parts))}
    entries: dict[int, int] = {}
    previous: set[str] = set()
    for index, (node, parts) in enumerate(zip(graph, paths)):
        entered = {".".join(parts[:k]) for k in range(1, len(parts) + 1)} & containers
        entries[id(node)] = len(entered - previous) + (index == 0)
        previous = entered
    return entries


@analysis_pass("timing", per="graph",
               requires=("primitive_counts", "memory_traffic", "dynamic_energy"))
def timing(graph: Graph, ctx: PassContext) -> dict[str, Any]:
    """Time of every node in the execution mode (module doc): device time, host dispatch, the
    gaps after kernels, and the bound that sets it (``compute``, ``memory``, ``power``,
    ``latency`` for kernels at their shortest, ``host`` when the device waited for the host,
    ``overhead`` for gaps, ``view``). ``active_s`` is the time the node keeps multiprocessors
    busy (its roofline time times the share of them its tiles occupy): what active power is
    paid over."""
    target = target_of(ctx)
    execution = execution_of(ctx)
    fused_away = {id(n) for n in epilogue_fused(graph, execution).values()}
    gap = target.number("kernel_gap_s", target.kernel_overhead_s.value)
    per_module = target.number("host_module_s") if execution == "eager" else 0.0
    entered = module_entries(graph) if per_module else {}
    host_clock = device_clock = 0.0
    for node in graph:
        node.annotations.pop("timing", None)
        if counts_of(node) is None:
            continue
        kernels = node_kernels(node, target, execution, fused_away)
        view = is_view(node)
        host = 0.0
        if execution == "eager" and (kernels or view):
            host = target.host_time_s("view" if view else node.traits.kind) + \
                target.number("host_kernel_s") * max(kernels - 1, 0)
        module_host = per_module * entered.get(id(node), 0)
        host += module_host
        occupancy = sm_occupancy(node, target, node.outputs[0].type.dtype.name)
        bounds = dict.fromkeys(("compute", "memory", "power", "latency"), 0.0) \
            if view else device_time(node, target, kernels, occupancy, execution)
        roofline = max(bounds["compute"], bounds["memory"], bounds["power"])
        work = roofline + bounds["latency"]
        before = max(host_clock, device_clock)
        host_clock += host
        waited = kernels > 0 and host_clock > device_clock
        if kernels or work:
            device_clock = (host_clock if waited else device_clock) + work + kernels * gap
        elapsed = max(host_clock, device_clock) - before
        bound = "view" if view else "host" if waited and host > work else \
            "overhead" if kernels * gap > work else max(bounds, key=bounds.get)
        node.annotations["timing"] = {
            "compute_s": bounds["compute"], "memory_s": bounds["memory"],
            "power_s": bounds["power"], "latency_s": bounds["latency"],
            "active_s": roofline * occupancy,
            "host_s": host, "overhead_s": elapsed - work,
            "module_wait_s": min(module_host, max(elapsed - work, 0.0)),
            "time_s": elapsed, "bound": bound, "kernels": kernels}
    return {"execution": execution, "math": math_of(ctx),
            "call_overhead_s": target.number("sync_s")}


@analysis_pass("energy", requires=("dynamic_energy", "timing"))
def energy(node: Node, ctx: PassContext) -> dict[str, float] | None:
    """Joules of the node: compute and memory (dynamic) plus static: the floor power over its
    time and the active power over its device time (``active_j``, a part of ``static_j``)."""
    dynamic = node.annotations.get("dynamic_energy")
    if dynamic is None:
        return None
    target = target_of(ctx)
    t = node.annotations["timing"]
    active = target.number("active_power_w") * t["active_s"]
    static = target.floor_power_w * t["time_s"] + active
    total = dynamic["compute_j"] + dynamic["memory_j"] + static
    return {"compute_j": dynamic["compute_j"], "memory_j": dynamic["memory_j"],
            "static_j": static, "active_j": active, "total_j": total}


# ----------------------------------------------------------------------------- metrics
def output_units(graph: Graph, given: int | None) -> int:
    """Output units for per-token/per-sample metrics: ``given``, else from the first output:
    rank ≥ 3 → all but the last dim (tokens: batch·seq), rank 1-2 → the first dim (samples),
    a scalar → 1."""
    if given is not None:
        return int(given)
    shape = graph.outputs[0].type.shape if graph.outputs else ()
    if len(shape) >= 3:
        return max(1, math.prod(shape[:-1]))
    return max(1, shape[0]) if shape else 1


def coefficient_of_variation(values: list[float]) -> float:
    """std/mean (population std), 0 for fewer than two values or a zero mean."""
    if len(values) < 2:
        return 0.0
    arr = np.asarray(values, dtype=np.float64)
    mean = float(arr.mean())
    return float(arr.std() / mean) if mean else 0.0


def _input_scales(node: Node, floor: float) -> list[float] | None:
    """Per-input multipliers of the node's compute energy (mean 1): from per-input activities,
    or from the compares of each calibration row of a tree ensemble."""
    a = node.annotations
    per_input = (a.get("switching") or {}).get("per_input")
    if per_input and len(per_input) > 1:
        mean = energy_scale(node_activity(node), floor)
        return [energy_scale(x, floor) / mean if mean else 1.0 for x in per_input]
    paths = a.get("tree_paths")
    if paths and paths.get("per_row") is not None and len(paths["per_row"]) > 1:
        mean = paths["compares"] / paths["rows"]
        return [c / mean if mean else 1.0 for c in paths["per_row"]]
    return None


def per_input_energies(graph: Graph, floor: float, total_j: float) -> list[float]:
    """Predicted energy of each calibration input: the inference's ``total_j`` with every
    node's compute part scaled per input (activity of that input's bits, compares of that
    row's tree paths). Empty when nothing in the graph varies with the input."""
    varying = [(n, scales) for n in graph
               if n.annotations.get("energy") and (scales := _input_scales(n, floor))]
    if not varying:
        return []
    count = len(varying[0][1])
    if any(len(scales) != count for _, scales in varying):
        raise NexusError("per-input statistics cover different numbers of inputs (calibration "
                         "inputs vs tree rows); give one set of calibration inputs")
    energies = [total_j] * count
    for node, scales in varying:
        compute = node.annotations["energy"]["compute_j"]
        energies = [e + compute * (s - 1.0) for e, s in zip(energies, scales)]
    return energies


SUMMED = {"energy": ("compute_j", "memory_j", "static_j", "active_j"),
          "timing": ("time_s", "overhead_s", "module_wait_s", "kernels"),
          "memory_traffic": ("off_chip_bytes", "on_chip_bytes")}
"""The annotation fields ``metrics`` totals over the graph's nodes."""


def _totals(nodes: list[Node]) -> dict[tuple[str, str], float]:
    """Each ``SUMMED`` field summed over the nodes that carry its annotation, in one walk (in
    node order, so each total is the sum it always was), and ``transistor_ops`` under
    ``("transistor_ops", "")``."""
    totals = {(key, field): 0 for key, fields in SUMMED.items() for field in fields}
    totals["transistor_ops", ""] = 0
    for n in nodes:
        a = n.annotations
        for key, fields in SUMMED.items():
            value = a.get(key)
            if value is not None:
                for field in fields:
                    totals[key, field] += value[field]
        if a.get("transistor_ops") is not None:
            totals["transistor_ops", ""] += a["transistor_ops"]
    return totals


@analysis_pass("metrics", per="graph", requires=("transistor_ops", "energy"))
def metrics(graph: Graph, ctx: PassContext) -> dict[str, Any]:
    """Totals, the six NEXUS metrics (../shared/PHYSICS.md §4) and the usual baselines.

    Options: ``capability`` (score for ECU and CpTO), ``output_units`` (tokens or samples per
    inference), ``per_input_energy_j`` (measured energies of individual inputs, for DDEV).
    Without them DDEV comes from ``per_input_energies``: 0 for a graph whose energy cannot vary
    with its input. SAF-T counts transistor operations weighted by switching activity.
    """
    opts: Mapping[str, Any] = ctx.options
    nodes = list(graph)
    costed = [(n, c) for n, c in zip(nodes, map(counts_of, nodes)) if c is not None]
    total = _totals(nodes)
    e_compute = total["energy", "compute_j"]
    e_memory = total["energy", "memory_j"]
    run = ctx.results["timing"]
    target = target_of(ctx)
    e_static = total["energy", "static_j"] + target.floor_power_w * run["call_overhead_s"]
    e_total = e_compute + e_memory + e_static
    latency = total["timing", "time_s"] + run["call_overhead_s"]
    switching = sum(n.annotations["timing"]["compute_s"] * node_activity(n)
                    for n in nodes if n.annotations.get("timing"))
    tos = total["transistor_ops", ""]
    switched = sum(n.annotations["transistor_ops"] * node_activity(n)
                   for n in nodes if n.annotations.get("transistor_ops") is not None)
    units = output_units(graph, opts.get("output_units"))
    per_input = opts.get("per_input_energy_j") or per_input_energies(
        graph, activity_floor(target), e_total)
    capability = opts.get("capability")
    held = [attribute_weights(n) for n in nodes]
    used = graph.used_constants()         # a tied weight is one constant, read once
    params = sum(c.type.numel for c in used if c.role == "parameter") + sum(p for p, _ in held)
    model_bytes = sum(c.type.nbytes for c in used) + sum(b for _, b in held)
    peak = ctx.results["memory_traffic"]["peak_activation_bytes"]
    plan = ctx.results.get("arena")
    flash = None
    if plan is None:
        needed = memory_needed(target, model_bytes, peak)
    else:
        flash = flash_bytes(graph, target, model_bytes)
        needed = {target.off_chip.name: flash,
                  target.on_chip.name: plan["arena_bytes"] + plan["persistent_bytes"]}
    return {
        "energy_j": e_total, "compute_j": e_compute, "memory_j": e_memory, "static_j": e_static,
        "latency_s": latency, "edp_js": e_total * latency,
        "transistor_ops": tos, "flops": sum(c.flops for _, c in costed),
        "macs": sum(matrix_macs(n, c) for n, c in costed), "parameters": params,
        "buffers": sum(c.type.numel for c in used if c.role == "buffer"),
        "model_bytes": model_bytes,
        "peak_activation_bytes": peak,
        "compute_j_by_class": {cls: sum((n.annotations.get("dynamic_energy") or {}).get(
            "compute_by_class", {}).get(cls, 0.0) for n in nodes) for cls in EXEC_CLASSES},
        "kernels": total["timing", "kernels"],
        "off_chip_bytes": total["memory_traffic", "off_chip_bytes"],
        "on_chip_bytes": total["memory_traffic", "on_chip_bytes"],
        "output_units": units,
        "saf_t": switched / units,
        "lsrt": 1.0 - switching / latency if latency else 0.0,
        "ecu": e_total / capability if capability else None,
        "mcer": e_memory / e_compute if e_compute else None,
        "ddev": coefficient_of_variation(list(per_input)) if per_input else None,
        "cpto": capability / tos if capability and tos else None,
        "unmodeled": [n.name for n in nodes if not modeled(n)],
        "execution": run["execution"], "math": run["math"],
        "call_overhead_s": run["call_overhead_s"],
        "overhead_s": total["timing", "overhead_s"] + run["call_overhead_s"],
        "module_wait_s": total["timing", "module_wait_s"],
        "off_chip_j": total["memory_traffic", "off_chip_bytes"]
        * target.off_chip.pj_per_byte.value * 1e-12,
        "weights_on_chip": ctx.results["memory_traffic"]["weights_on_chip"],
        "memory_needed": needed,
        "memory_capacity": {m.name: int(m.capacity_bytes.value) for m in target.memory
                            if m.name in needed},
        "fits": fits(needed, target),
        "arena_bytes": None if plan is None else plan["arena_bytes"],
        "persistent_bytes": None if plan is None else plan["persistent_bytes"],
        "flash_bytes": flash,
        "arena_plan": None if plan is None else {"kernel_library": plan["kernel_library"],
                                                 "buffers": plan["buffers"]},
        "active_j": total["energy", "active_j"],
        "expected_error": expected_error(target, run["execution"]),
        "bandwidth_use": total["memory_traffic", "off_chip_bytes"] / latency
        / target.off_chip.bandwidth_bytes_per_s.value if latency else 0.0,
        "power_use": e_total / latency / target.max_power_w.value
        if latency and target.max_power_w else None,
        "weight_bits_read": weight_bits_read(ctx),
    }


def weight_bits_read(ctx: PassContext) -> float:
    """The share of the weights' elements (of those with data) whose bits the switching pass
    read: 1 when every one was read, less where large weights were sampled."""
    elements, read = ctx.results.get("switching_read", (0, 0))
    return read / elements if elements else 1.0


def memory_needed(target: Target, weight_bytes: int, activation_bytes: int) -> dict[str, int]:
    """Bytes each memory level must hold for one inference: the off-chip level the weights, and
    the activations (peak live bytes, the graph's inputs and outputs among them) wherever the
    target keeps them: on chip on a target with ``activations_on_chip`` (a microcontroller's
    SRAM beside its flash), else off chip beside the weights."""
    off, on = target.off_chip.name, target.on_chip.name
    if target.number("activations_on_chip"):
        return {off: weight_bytes, on: activation_bytes}
    return {off: weight_bytes + activation_bytes}


def flash_bytes(graph: Graph, target: Target, model_bytes: int) -> int:
    """What a microcontroller's flash holds: the weights, their quantization parameters (a
    float32 scale and, as TFLite stores them, an int64 zero point per tensor or channel) and the
    runtime's code (the target's ``code_bytes`` estimate)."""
    params = sum(4 * len(q["scale"]) + 8 * len(q["zero_point"])
                 for q in graph.quantization.values())
    return model_bytes + params + int(target.number("code_bytes"))


def fits(needed: Mapping[str, int], target: Target) -> bool:
    capacity = {m.name: m.capacity_bytes.value for m in target.memory}
    return all(b <= capacity[name] for name, b in needed.items())


def expected_error(target: Target, execution: str) -> dict[str, Any] | None:
    """The target's stated median absolute error in this execution mode, from its validation
    (``expected_error`` table), or None where the target states none."""
    q = target.expected_error.get(execution)
    return None if q is None else {"median_abs_error": q.value, "source": q.source}


COST_PIPELINE = ("primitive_counts", "transistor_ops", "memory_traffic", "switching",
                 "dynamic_energy", "timing", "energy", "arena", "metrics")


def node_cost(node: Node) -> NodeCost:
    """The report row of a node annotated by the cost passes."""
    a = node.annotations
    counts = counts_of(node)
    dtype_name = node.outputs[0].type.dtype.name if node.outputs else None
    if counts is None:
        return NodeCost(node.name, node.op, node.source, False, dtype_name,
                        unmodeled_reason=unmodeled_reason(node) or "not costed")
    return NodeCost(
        node.name, node.op, node.source, True, dtype_name, macs=matrix_macs(node, counts), flops=counts.flops,
        transistor_ops=a["transistor_ops"],
        off_chip_bytes=a["memory_traffic"]["off_chip_bytes"],
        on_chip_bytes=a["memory_traffic"]["on_chip_bytes"],
        time_s=a["timing"]["time_s"], bound=a["timing"]["bound"],
        compute_j=a["energy"]["compute_j"], memory_j=a["energy"]["memory_j"],
        static_j=a["energy"]["static_j"], energy_j=a["energy"]["total_j"])


def roofline(target: Target, rows: list[NodeCost]) -> dict[str, Any]:
    """The target's roofline for the model's dominant dtype (the one doing most FLOPs): off-chip
    and on-chip bandwidth and the matrix and vector ceilings in FLOP/s (two FLOPs per FMA)."""
    flops_by_dtype: dict[str, int] = {}
    for row in rows:
        if row.flops and row.dtype:
            flops_by_dtype[row.dtype] = flops_by_dtype.get(row.dtype, 0) + row.flops
    main = max(sorted(flops_by_dtype), key=flops_by_dtype.get, default="f32")
    return {"dtype": main,
            "off_chip_bytes_per_s": target.off_chip.bandwidth_bytes_per_s.value,
            "on_chip_bytes_per_s": target.on_chip.bandwidth_bytes_per_s.value,
            "ceilings": [{"exec_class": cls, "flops_per_s": 2 * target.peak_rate(cls, main)}
                         for cls in ("matrix", "vector")]}


def build_report(graph: Graph, ctx: PassContext, bindings: Mapping[str, int]) -> EnergyReport:
    """The EnergyReport of a graph the cost pipeline has annotated."""
    target = target_of(ctx)
    options = {k: v for k, v in ctx.options.items()
               if k in ("capability", "output_units") and v is not None}
    rows = [node_cost(n) for n in graph]
    return EnergyReport(graph.name, target.name, target.description, target.provenance(),
                        dict(bindings), rows, dict(ctx.results["metrics"]), options,
                        roofline(target, rows), target.confidence)


def cost_graph(graph: Graph, target: Any = "h100", *, bindings: Mapping[str, int] | None = None,
               **options: Any) -> EnergyReport:
    """Run the cost pipeline over a graph whose sizes are bound and return its report; the
    options (``capability``, ``output_units``, ``value_stats``) reach the passes."""
    manager = PassManager(list(COST_PIPELINE), options={"target": target, **options})
    graph = manager.run(graph)
    return build_report(graph, manager.ctx, dict(bindings or {}))
