"""Switching activity from the actual bits: per-tensor statistics and the activity factors that
scale the dynamic compute energy of the ops consuming those tensors.

The model
---------
CMOS logic dissipates ``E = α·C·V²`` per node per cycle: energy follows toggles, and toggles follow
the data (../shared/PHYSICS.md §2). A target's energy per operation is measured or derived on
*reference* data: i.i.d. standard-normal values for floating-point dtypes, uniformly random bits
for integer and binary dtypes. For a tensor streamed into a unit as ``x_1, x_2, …`` (``b``-bit
words, in the order the hardware feeds them: along the reduction dimension for matmul, linear
and conv operands, along the innermost dimension otherwise) three statistics are read off the
bits:

- zero fraction — elements equal to zero (either sign);
- Hamming weight — set bits per bit;
- toggle rate ``τ = Σ popcount(x_i ⊕ x_{i+1}) / (b·(n − rows))`` — bits flipping between successive
  operands within each stream (a stream is one row along the streaming axis).

The activity of a tensor is ``a = τ / τ_ref(dtype)``, its toggle rate against the reference data of
its dtype (``a = 1`` for reference data, 0 for a constant stream, up to ``1/τ_ref`` for adversarial
alternating patterns). The activity of an op is the mean activity of its tensor operands; an operand
without statistics counts as reference data (``a = 1``). The op's dynamic compute energy becomes

    E_compute · (φ + (1 − φ)·a)

with ``φ`` the target's ``activity_floor``: the share of compute energy that does not depend on the
data (clock tree, control, operand delivery); ``φ = 0`` where the target does not give it. Memory
and static energy are not scaled. Per-input activities (one per calibration input) give per-input
energies, hence DDEV; SAF-T counts transistor operations weighted by activity.

The counts come from ``passes.bit_stats``. Weights are read where they have data, all of a
graph's in one batch by the ``weight_bits`` pass before ``switching`` runs (large ones on a
sample unless ``exact_bits``); activations come from calibration inputs
(``frontends.pytorch.activation_stats``).
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nexus_ir import DType, Graph, Node, NexusError, Value, dtype

from .base import PassContext, analysis_pass
from .bit_stats import TensorStats, read_arrays, tensor_stats

REFERENCE_SAMPLES = 1 << 16


@functools.cache
def reference_toggle_rate(dt_name: str) -> float:
    """τ of the data the target's energies assume: i.i.d. standard normal values for floats
    (a fixed sample of 65,536), uniformly random bits (exactly 1/2) for integers and binary."""
    dt = dtype(dt_name)
    if not dt.is_float:
        return 0.5
    sample = np.random.default_rng(0).standard_normal(REFERENCE_SAMPLES).astype(np.float32)
    return tensor_stats(sample, dt, axis=None).toggle_rate


def activity(stats: TensorStats, dt: DType | str) -> float:
    """Toggle rate relative to the reference data of ``dt``."""
    return stats.toggle_rate / reference_toggle_rate(dtype(dt).name)


# ---------------------------------------------------------------------------- per node
def stream_axis(node: Node, index: int) -> int | None:
    """The axis operand ``index`` of ``node`` is streamed along (the op's ``stream_axis``
    trait: its reduction axis for matrix ops); None streams the flattened trailing dims."""
    return node.traits.axis(node, index)


_READ: dict[int, tuple[weakref.ref, dict[tuple[Any, ...], tuple[TensorStats, int]]]] = {}
"""Statistics already read, by read-only array (its id, with a weak reference whose callback
drops the entry when the array is collected: a tenth of what ``weakref.finalize`` costs, for
hundreds of weights), then by how it was read: a graph costed again (other targets, modes,
rewrites of other nodes) does not read its weights' bits again. Writable arrays are read every
time: they may change."""


def _forget(key: int) -> Callable[[weakref.ref], None]:
    return lambda _: _READ.pop(key, None)


def constants_stats(requests: Sequence[tuple[Value, int | None]], exact: bool = False
                    ) -> list[tuple[TensorStats, int] | None]:
    """Statistics of many (constant, streaming axis) pairs' data and the elements read for
    them (None without data), read in one batch (``read_arrays``: large weights on a sample
    unless ``exact``), so a model's hundreds of small weights cost about what one does. Conv
    weights stream per filter; read-only arrays are read once (``_READ``)."""
    found: list[tuple[TensorStats, int] | None] = [None] * len(requests)
    todo: dict[tuple[int, tuple[Any, ...]], tuple[list[int], np.ndarray, np.ndarray, DType,
                                                  int | None]] = {}
    for i, (value, axis) in enumerate(requests):
        data = getattr(value, "data", None)
        if data is None or value.type.dtype.bits not in (1, 2, 4, 8, 16, 32, 64):
            continue
        array = np.asarray(data) if not isinstance(data, np.memmap) else data
        per_filter = array.ndim > 2 and axis == -1 and bool(value.users) and \
            value.users[0].traits.kind == "conv"
        how = (axis, value.type.dtype.name, per_filter, exact)
        known = _READ.get(id(array), (None, {}))[1] if not array.flags.writeable else {}
        if how in known:
            found[i] = known[how]
        elif (id(array), how) in todo:
            todo[id(array), how][0].append(i)
        else:
            shaped = array.reshape(array.shape[0], -1) if per_filter else array
            todo[id(array), how] = ([i], array, shaped, value.type.dtype, axis)
    read = read_arrays([(shaped, dt, axis) for _, _, shaped, dt, axis in todo.values()], exact)
    for ((_, how), (indices, array, *_)), result in zip(todo.items(), read):
        for i in indices:
            found[i] = result
        if not array.flags.writeable:
            if id(array) not in _READ:
                _READ[id(array)] = (weakref.ref(array, _forget(id(array))), {})
            _READ[id(array)][1][how] = result
    return found


@analysis_pass("weight_bits", per="graph")
def weight_bits(graph: Graph, ctx: PassContext) -> dict[tuple[str, int | None], Any]:
    """Statistics of every constant operand with data, by (value name, streaming axis), read in
    one batch before the per-node ``switching`` pass asks for them (large weights on a sample
    unless ``ctx.options["exact_bits"]``)."""
    wanted: dict[tuple[str, int | None], Value] = {}
    for node in graph:
        for index, value in enumerate(node.inputs):
            if value.is_constant and getattr(value, "data", None) is not None:
                wanted.setdefault((value.name, stream_axis(node, index)), value)
    read = constants_stats([(value, key[1]) for key, value in wanted.items()],
                           bool(ctx.options.get("exact_bits")))
    return dict(zip(wanted, read))


def _operand_activity(node: Node, index: int, given: Mapping[str, Any], cache: dict,
                      weights: Mapping[tuple[str, int | None], Any], read: list[int]
                      ) -> list[float] | None:
    """Activities of operand ``index`` (one per calibration input, or one for a weight, its
    statistics from the ``weight_bits`` pass); a weight's elements and those read for its
    statistics are added to ``read``."""
    value = node.inputs[index]
    axis = stream_axis(node, index)
    key = (value.name, axis)
    if key in cache:
        return cache[key]
    found = given.get(value.name)
    if isinstance(found, Mapping):                # per streaming axis
        found = found.get(axis)
    if found is not None:
        stats = found if isinstance(found, (list, tuple)) else [found]
        result = [activity(s, value.type.dtype) for s in stats]
    else:
        weight = weights.get(key)
        result = None
        if weight is not None:
            result = [activity(weight[0], value.type.dtype)]
            read[0] += weight[0].elements
            read[1] += weight[1]
    cache[key] = result
    return result


@analysis_pass("switching", requires=("weight_bits",))
def switching(node: Node, ctx: PassContext) -> dict[str, Any] | None:
    """The node's activity from its operands' bits: weights from their data (large ones on a
    sample unless ``ctx.options["exact_bits"]``; ``ctx.results["switching_read"]`` counts the
    weight elements with statistics and those read), activations from
    ``ctx.options["value_stats"]`` ({value name: TensorStats, a list of them per calibration
    input, or {axis: …}}): the mean ``activity`` and the ``per_input`` activities; None when no
    operand has statistics (the op is costed at reference activity)."""
    given = ctx.options.get("value_stats") or {}
    cache = ctx.results.setdefault("switching_cache", {})
    read = ctx.results.setdefault("switching_read", [0, 0])
    weights = ctx.results["weight_bits"]
    per_operand = [_operand_activity(node, i, given, cache, weights, read)
                   for i in range(len(node.inputs))]
    known = [a for a in per_operand if a is not None]
    if not known:
        return None
    inputs = max(len(a) for a in known)
    if any(len(a) not in (1, inputs) for a in known):
        raise NexusError(f"node %{node.name}: operand statistics cover different numbers of "
                         "calibration inputs")
    per_input = [_mean([a[i if len(a) > 1 else 0] if a is not None else 1.0
                        for a in per_operand]) for i in range(inputs)]
    return {"activity": _mean(per_input), "per_input": per_input}


def _mean(values: list[float]) -> float:
    """``statistics.fmean`` of a list (its exactly rounded sum over the count), without its
    checks: the pass takes two per node."""
    return math.fsum(values) / len(values)


def node_activity(node: Node) -> float:
    """The node's mean switching activity (1, the reference, when nothing is known)."""
    return (node.annotations.get("switching") or {}).get("activity", 1.0)


def energy_scale(activity_value: float, floor: float) -> float:
    """Multiplier of dynamic compute energy at ``activity_value``: ``φ + (1 − φ)·a``."""
    return floor + (1.0 - floor) * activity_value


def graph_stats(graph: Graph, arrays: Mapping[str, np.ndarray]) -> dict[str, dict]:
    """Statistics of given arrays (graph inputs or intermediate values by name), per axis each
    consumer streams them along: the form ``value_stats`` takes."""
    found: dict[str, dict] = {}
    for node in graph:
        for index, value in enumerate(node.inputs):
            if value.name in arrays:
                axis = stream_axis(node, index)
                per_axis = found.setdefault(value.name, {})
                if axis not in per_axis:
                    per_axis[axis] = tensor_stats(arrays[value.name], value.type.dtype, axis)
    return found


def merge_inputs(per_input: Sequence[Mapping[str, dict]]) -> dict[str, dict]:
    """Per-calibration-input statistics ({name: {axis: stats}} each) → {name: {axis: [stats…]}}."""
    merged: dict[str, dict] = {}
    for stats in per_input:
        for name, per_axis in stats.items():
            for axis, s in per_axis.items():
                merged.setdefault(name, {}).setdefault(axis, []).append(s)
    return merged
