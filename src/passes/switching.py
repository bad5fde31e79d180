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

Weights are read where they have data (memory-mapped arrays are read in chunks, never copied
whole); activations come from calibration inputs (``frontends.pytorch.activation_stats``).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nexus_ir import DType, Graph, Node, NexusError, Value, dtype, to_numpy

from .base import PassContext, analysis_pass

CHUNK_BYTES = 64 << 20
REFERENCE_SAMPLES = 1 << 16


@dataclass(frozen=True)
class TensorStats:
    """Bit statistics of one tensor (or several, merged): counts, so they add up exactly."""

    elements: int
    bits: int
    set_bits: int
    zeros: int
    toggles: int
    transitions: int

    @property
    def zero_fraction(self) -> float:
        return self.zeros / self.elements if self.elements else 0.0

    @property
    def hamming_weight(self) -> float:
        """Set bits per bit, 0..1."""
        return self.set_bits / (self.elements * self.bits) if self.elements else 0.0

    @property
    def toggle_rate(self) -> float:
        """Bits flipping per bit between successive elements of a stream, 0..1."""
        return self.toggles / (self.transitions * self.bits) if self.transitions else 0.0

    def __add__(self, other: "TensorStats") -> "TensorStats":
        if self.bits != other.bits:
            raise NexusError(f"cannot merge statistics of {self.bits}-bit and {other.bits}-bit "
                             "tensors")
        return TensorStats(self.elements + other.elements, self.bits,
                           self.set_bits + other.set_bits, self.zeros + other.zeros,
                           self.toggles + other.toggles, self.transitions + other.transitions)


# ---------------------------------------------------------------------------- encoding
def _storage_bits(dt: DType) -> int:
    """Lane width the bits are read at: the dtype's width (4-bit and 1-bit types packed)."""
    if dt.bits in (1, 4, 8, 16, 32, 64):
        return dt.bits
    raise NexusError(f"no bit statistics for {dt.bits}-bit dtype {dt}")


def _ml_dtype(name: str) -> np.dtype:
    import ml_dtypes
    return np.dtype(getattr(ml_dtypes, name))


_ML_FLOATS = {"bf16": "bfloat16", "f8e4m3": "float8_e4m3fn", "f8e5m2": "float8_e5m2",
              "f4e2m1": "float4_e2m1fn"}
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def encode(values: np.ndarray, dt: DType | str) -> np.ndarray:
    """The bit patterns of ``values`` in IR dtype ``dt``: unsigned words of the dtype's width
    (a view when the array already holds them), 4-bit and 1-bit lanes packed little-endian into
    bytes (the element count must fill whole bytes). Values held wider than their dtype (bf16
    held as f32) are converted with round-to-nearest-even (ml_dtypes)."""
    dt = dtype(dt)
    arr = np.asarray(values)
    if dt.bits == 1:
        return np.packbits(arr.reshape(-1) != 0, bitorder="little")
    arr = _stored(arr, dt)
    if dt.bits == 4:
        nibbles = arr.reshape(-1).view(np.uint8) & np.uint8(0xF)
        return nibbles[0::2] | (nibbles[1::2] << np.uint8(4))
    return arr.view(_UNSIGNED[arr.itemsize])


def _stored(arr: np.ndarray, dt: DType) -> np.ndarray:
    """``arr`` held in the numpy type that stores ``dt`` (int4 values in int8); converted with
    round-to-nearest-even where held wider (bf16 held as f32)."""
    if dt.name in _ML_FLOATS:
        target = _ml_dtype(_ML_FLOATS[dt.name])
    else:
        try:
            target = np.dtype(np.int8) if dt.name == "i4" else to_numpy(dt)
        except NexusError:
            raise NexusError(f"no bit statistics for {dt}") from None
    return arr if arr.dtype == target else arr.astype(target)


def _lane_value(stream: np.ndarray, dt: DType, bits: int) -> int:
    """The bit pattern of the one element in ``stream`` (shape (1,))."""
    if bits < 8:
        return int(encode(np.repeat(stream, 8 // bits), dt)[0]) & ((1 << bits) - 1)
    return int(encode(stream, dt)[0])


def _chunk_stats(chunk: np.ndarray, dt: DType, bits: int) -> TensorStats:
    """Statistics of a C-contiguous (rows, row) chunk. The element count is padded to whole
    64-bit words by repeating the last element (no toggles), whose bits and zero are then taken
    back out."""
    from ._bits import boundary_toggles, lane_masks   # numba, only for data

    rows, row = chunk.shape
    lanes = 64 // bits
    pad = (-chunk.size) % lanes
    flat = chunk.reshape(-1)
    if pad:
        flat = np.concatenate([flat, np.repeat(flat[-1:], pad)])
    words = encode(flat, dt)
    if words.ctypes.data % 8:
        words = words.copy()
    w64 = words.view(np.uint64)
    if bits == 64:
        ones, zeros, toggles = _stats64(w64, dt.is_float)
    else:
        ones, zeros, toggles = _kernels(chunk.nbytes)[0](w64, np.uint64(bits),
                                                         *lane_masks(bits, dt.is_float))
    if pad:
        last = _lane_value(flat[-1:], dt, bits)
        magnitude = last & ~(1 << (bits - 1)) if dt.is_float else last
        ones -= pad * bin(last).count("1")
        zeros -= pad * int(magnitude == 0)
    toggles -= boundary_toggles(w64, bits, row, rows)
    return TensorStats(chunk.size, bits, int(ones), int(zeros), int(toggles), rows * (row - 1))


def _stats64(w64: np.ndarray, is_float: bool) -> tuple[int, int, int]:
    """64-bit lanes, one element per word (numpy: f64/i64 tensors are rare and small)."""
    ones = int(np.unpackbits(w64.view(np.uint8)).sum())
    magnitude = w64 & np.uint64(0x7FFFFFFFFFFFFFFF) if is_float else w64
    toggles = int(np.unpackbits((w64[1:] ^ w64[:-1]).view(np.uint8)).sum())
    return ones, int((magnitude == 0).sum()), toggles


def tensor_stats(values: np.ndarray, dt: DType | str, axis: int | None = -1,
                 chunk_bytes: int = CHUNK_BYTES) -> TensorStats:
    """Bit statistics of ``values`` as IR dtype ``dt``, streamed along ``axis`` (each line along
    it is one stream; ``None`` streams the whole flattened tensor as one). Arrays are read chunk
    by chunk of rows, so a memory-mapped weight file is never copied whole: a contiguous 2-D
    array (or a transposed view of one) costs one chunk of memory at a time."""
    dt = dtype(dt)
    bits = _storage_bits(dt)
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    if arr.size and arr.nbytes <= NUMPY_BYTES:
        return _small_stats(arr, dt, bits, axis)
    if axis is not None and arr.ndim > 1 and axis % arr.ndim != arr.ndim - 1 and bits >= 8 \
            and arr.flags.c_contiguous:
        return _across_stats(arr, dt, bits, axis % arr.ndim, chunk_bytes)
    if arr.ndim == 0 or axis is None:
        arr = arr.reshape(1, -1)
    else:
        arr = np.moveaxis(arr, axis, -1)
        arr = arr.reshape(-1, arr.shape[-1])
    rows, row = arr.shape
    total = TensorStats(0, bits, 0, 0, 0, 0)
    if rows == 0 or row == 0:
        return total
    per_chunk = max(1, chunk_bytes // (row * arr.itemsize))
    for start in range(0, rows, per_chunk):
        total = total + _chunk_stats(np.ascontiguousarray(arr[start:start + per_chunk]), dt,
                                     bits)
    return total


NUMPY_BYTES = 512 << 10
"""Tensors up to this (the reference sample of 2^16 f64 values among them, and every weight's
sample) are read by numpy:
no JIT to compile, so a model of small weights (the bundled examples, most tabular models)
imports no numba at all; above it numba's kernels are ~3x faster."""


def _small_stats(arr: np.ndarray, dt: DType, bits: int, axis: int | None) -> TensorStats:
    """Statistics of a small tensor (under ``NUMPY_BYTES``) in numpy, along any axis as it lies
    (a strided view, no copy); 4-bit and 1-bit elements one lane per byte."""
    words = encode(arr, dt) if bits >= 8 else _lanes(arr, dt, bits)
    words = words.reshape(1, -1) if words.ndim == 0 or axis is None else \
        np.moveaxis(words, axis, -1)
    ones, zeros = _set_and_zero(words, dt, bits)
    streams = words.size // words.shape[-1]
    return TensorStats(arr.size, bits, ones, zeros, _toggles_along(words, -1),
                       streams * (words.shape[-1] - 1))


SAMPLE_ABOVE = 1 << 15
"""Weights with more elements than this have their bits read on a sample: every weight is then
read by numpy (no JIT), and none costs more than the sample's reading."""
SAMPLE_PATCHES = 64
PATCH_ELEMENTS = 256
PATCH_STREAMS = 8
_R3 = (0.8191725133961645, 0.6710436067037893, 0.5497004779019703)
"""The R3 low-discrepancy sequence's steps (1/g, 1/g², 1/g³ for the plastic ratio g): patch
positions spread over all three axes without aliasing on a tensor's strides."""


def sampled_stats(values: np.ndarray, dt: DType | str, axis: int | None
                  ) -> tuple[TensorStats, int]:
    """Bit statistics of a large tensor estimated from a sample, and the elements read.

    A tensor of over ``SAMPLE_ABOVE`` elements, viewed as ``[pre, L, post]`` with its streams
    along ``L``, is read in ``SAMPLE_PATCHES`` patches of 256 elements gathered in one indexing:
    8 streams × 32 consecutive elements, or 8 consecutive elements of 32 adjacent streams where
    the streams run across memory, so that each patch reads whole cache lines; their corners lie
    anywhere (spread by the R3 sequence); the sample's set bits and zeros per element and
    toggles per transition, times the tensor's elements and transitions, are the estimate. Elements and transitions are exact. A transposed view is read
    as its transpose. Smaller tensors, other non-contiguous arrays and whole-tensor streams are
    read exactly."""
    dt = dtype(dt)
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    bits = _storage_bits(dt)
    if axis is not None and arr.ndim > 1 and arr.flags.f_contiguous and \
            not arr.flags.c_contiguous:          # a transposed view (a tied output layer)
        arr, axis = arr.T, arr.ndim - 1 - axis % arr.ndim
    if arr.size <= SAMPLE_ABOVE or axis is None or arr.ndim < 2 or not arr.flags.c_contiguous:
        return tensor_stats(arr, dt, axis), arr.size
    axis %= arr.ndim
    pre = int(np.prod(arr.shape[:axis], dtype=np.int64))
    length = arr.shape[axis]
    post = int(np.prod(arr.shape[axis + 1:], dtype=np.int64))
    k = (np.arange(SAMPLE_PATCHES) + 0.5).reshape(-1, 1, 1)

    def corner(step: float, extent: int, side: int) -> np.ndarray:
        """Patch corners anywhere along an axis (spread by R3), so that patches also straddle
        the edges of aligned blocks (pruned rows, per-channel scales)."""
        return ((k * step) % 1.0 * (extent - side + 1)).astype(np.int64)

    flat = arr.reshape(-1)          # gathered through flat indices: one 1-D take
    if post == 1:                   # streams are rows: 8 rows × 32 consecutive elements each
        rows, run = min(pre, PATCH_STREAMS), min(length, PATCH_ELEMENTS // PATCH_STREAMS)
        index = (corner(_R3[0], pre, rows) + np.arange(rows).reshape(1, -1, 1)) * length + \
            corner(_R3[1], length, run) + np.arange(run).reshape(1, 1, -1)
        stream = 2
    else:                           # streams run across memory: 8 steps of 32 adjacent streams
        steps, width = min(length, PATCH_STREAMS), min(post, PATCH_ELEMENTS // PATCH_STREAMS)
        index = (corner(_R3[0], pre, 1) * length + corner(_R3[1], length, steps) +
                 np.arange(steps).reshape(1, -1, 1)) * post + \
            corner(_R3[2], post, width) + np.arange(width).reshape(1, 1, -1)
        stream = 1
    sample = _small_stats(flat[index], dt, bits, stream)
    transitions = pre * post * (length - 1)
    return TensorStats(arr.size, bits, round(sample.set_bits * arr.size / sample.elements),
                       round(sample.zeros * arr.size / sample.elements),
                       round(sample.toggles * transitions / sample.transitions)
                       if sample.transitions else 0, transitions), sample.elements


def _lanes(arr: np.ndarray, dt: DType, bits: int) -> np.ndarray:
    """The bit patterns of 4-bit or 1-bit elements, one per byte (unpacked)."""
    if bits == 1:
        return (np.asarray(arr) != 0).view(np.uint8)
    return _stored(arr, dt).view(np.uint8) & np.uint8(0xF)


def _set_and_zero(words: np.ndarray, dt: DType, bits: int) -> tuple[int, int]:
    """Set bits and zero elements (either sign for floats) of unsigned words, in numpy."""
    sign = np.array(1 << (bits - 1) if dt.is_float else 0, words.dtype)
    return (int(np.bitwise_count(words).sum(dtype=np.int64)),
            int(np.count_nonzero((words & ~sign) == 0)))


def _toggles_along(words: np.ndarray, axis: int) -> int:
    """Bits flipping between successive words along ``axis``, in numpy."""
    later, earlier = [slice(None)] * words.ndim, [slice(None)] * words.ndim
    later[axis], earlier[axis] = slice(1, None), slice(None, -1)
    return int(np.bitwise_count(words[tuple(later)] ^ words[tuple(earlier)]).sum(
        dtype=np.int64))


def _across_stats(arr: np.ndarray, dt: DType, bits: int, axis: int, chunk_bytes: int
                  ) -> TensorStats:
    """Statistics of a C-contiguous array streamed along a leading ``axis`` (a [K, N] weight
    read along K), read in place: set bits and zeros do not depend on the order, and the
    toggles between successive stream elements are those between successive contiguous slabs
    (``x[p, k+1, :] XOR x[p, k, :]``), so nothing is transposed or copied whole. Slabs of whole
    64-bit words go through numba in one pass (``_bits.slab_stats``); others through numpy,
    chunk by chunk."""
    from ._bits import lane_masks

    pre = int(np.prod(arr.shape[:axis], dtype=np.int64))
    length = arr.shape[axis]
    post = int(np.prod(arr.shape[axis + 1:], dtype=np.int64))
    words = encode(arr, dt)
    if (post * bits) % 64 == 0 and words.ctypes.data % 8 == 0 and bits < 64:
        w64 = words.reshape(-1).view(np.uint64)
        ones, zeros, toggles = _kernels(arr.nbytes)[1](w64, post * bits // 64, length,
                                                       *lane_masks(bits, dt.is_float))
        return TensorStats(arr.size, bits, int(ones), int(zeros), int(toggles),
                           pre * post * (length - 1))
    words = words.reshape(pre, length, post)
    ones = zeros = toggles = 0
    step = max(2, chunk_bytes // max(1, post * words.itemsize))   # slabs per chunk
    for p in range(pre):
        for start in range(0, length, step - 1):
            block = words[p, start:start + step]              # overlaps the next by one slab
            last = start + step >= length
            counts = _set_and_zero(block if last else block[:-1], dt, bits)
            ones, zeros = ones + counts[0], zeros + counts[1]
            toggles += _toggles_along(block, 0)
            if last:
                break
    return TensorStats(arr.size, bits, ones, zeros, toggles, pre * post * (length - 1))


PARALLEL_BYTES = 8 << 20
"""Tensors below this are read on one thread: a parallel region per small weight costs more to
start than it saves, on a busy host it waits for cores that are not free, and its kernels take
seconds to compile, which a model of small weights then never pays."""


def _kernels(nbytes: int) -> tuple[Any, Any]:
    """(word_stats, slab_stats) for a tensor of ``nbytes``: serial below PARALLEL_BYTES."""
    from . import _bits

    if nbytes >= PARALLEL_BYTES:
        return _bits.word_stats, _bits.slab_stats
    return _bits.word_stats_serial, _bits.slab_stats_serial


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


_READ: dict[int, dict[tuple[Any, ...], tuple[TensorStats, int]]] = {}
"""Statistics already read, by read-only array (its id, dropped when the array is collected),
then by how it was read: a graph costed again (other targets, modes, rewrites of other nodes)
does not read its weights' bits again. Writable arrays are read every time: they may change."""


def value_stats(value: Value, axis: int | None, exact: bool = False
                ) -> tuple[TensorStats, int] | None:
    """Statistics of a constant's data and the elements read for them (None without data):
    large weights on a sample (``sampled_stats``) unless ``exact``. Conv weights stream per
    filter."""
    data = getattr(value, "data", None)
    if data is None or value.type.dtype.bits not in (1, 2, 4, 8, 16, 32, 64):
        return None
    array = np.asarray(data) if not isinstance(data, np.memmap) else data
    per_filter = array.ndim > 2 and axis == -1 and bool(value.users) and \
        value.users[0].traits.kind == "conv"
    how = (axis, value.type.dtype.name, per_filter, exact)
    known = _READ.get(id(array)) if not array.flags.writeable else None
    if known is not None and how in known:
        return known[how]
    shaped = array.reshape(array.shape[0], -1) if per_filter else array
    found = (tensor_stats(shaped, value.type.dtype, axis), array.size) if exact else \
        sampled_stats(shaped, value.type.dtype, axis)
    if not array.flags.writeable:
        if id(array) not in _READ:
            _READ[id(array)] = {}
            weakref.finalize(array, _READ.pop, id(array), None)
        _READ[id(array)][how] = found
    return found


def _operand_activity(node: Node, index: int, given: Mapping[str, Any], cache: dict,
                      exact: bool, read: list[int]) -> list[float] | None:
    """Activities of operand ``index`` (one per calibration input, or one for a weight); a
    weight's elements and those read for its statistics are added to ``read``."""
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
        weight = value_stats(value, axis, exact) if value.is_constant else None
        result = None
        if weight is not None:
            result = [activity(weight[0], value.type.dtype)]
            read[0] += weight[0].elements
            read[1] += weight[1]
    cache[key] = result
    return result


@analysis_pass("switching")
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
    exact = bool(ctx.options.get("exact_bits"))
    per_operand = [_operand_activity(node, i, given, cache, exact, read)
                   for i in range(len(node.inputs))]
    known = [a for a in per_operand if a is not None]
    if not known:
        return None
    inputs = max(len(a) for a in known)
    if any(len(a) not in (1, inputs) for a in known):
        raise NexusError(f"node %{node.name}: operand statistics cover different numbers of "
                         "calibration inputs")
    per_input = [float(np.mean([a[i if len(a) > 1 else 0] if a is not None else 1.0
                                for a in per_operand])) for i in range(inputs)]
    return {"activity": float(np.mean(per_input)), "per_input": per_input}


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
