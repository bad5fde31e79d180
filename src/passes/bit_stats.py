"""Bit statistics of arrays: set bits, zero elements and the bit toggles between successive
elements of each stream, counted exactly (``TensorStats``), the counts ``passes.switching`` turns
into switching activity.

A stream is one line of a tensor along its streaming axis, in the order hardware feeds it.
Small tensors are read by numpy, many at once (one concatenation and a few reductions per
batch); tensors above ``NUMPY_BYTES`` by numba kernels over 64-bit words (``_bits``), chunk by
chunk, so a memory-mapped weight is never copied whole, and along a leading axis in place, slab
against slab; weights of over ``SAMPLE_ABOVE`` elements, as the cost passes read them, on a
sample of 16,384 elements (``sampled_stats``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nexus_ir import DType, NexusError, dtype, to_numpy

CHUNK_BYTES = 64 << 20


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
    rows, row = chunk.shape
    if bits == 64:                # f64/i64 tensors are rare and small: numpy, one word each
        return _line_stats([(chunk.reshape(-1), row)], dt)[0]
    from ._bits import boundary_toggles, lane_masks   # numba, only for data

    lanes = 64 // bits
    pad = (-chunk.size) % lanes
    flat = chunk.reshape(-1)
    if pad:
        flat = np.concatenate([flat, np.repeat(flat[-1:], pad)])
    words = encode(flat, dt)
    if words.ctypes.data % 8:
        words = words.copy()
    w64 = words.view(np.uint64)
    ones, zeros, toggles = _kernels(chunk.nbytes)[0](w64, np.uint64(bits),
                                                     *lane_masks(bits, dt.is_float))
    if pad:
        last = _lane_value(flat[-1:], dt, bits)
        magnitude = last & ~(1 << (bits - 1)) if dt.is_float else last
        ones -= pad * bin(last).count("1")
        zeros -= pad * int(magnitude == 0)
    toggles -= boundary_toggles(w64, bits, row, rows)
    return TensorStats(chunk.size, bits, int(ones), int(zeros), int(toggles), rows * (row - 1))


def tensor_stats(values: np.ndarray, dt: DType | str, axis: int | None = -1,
                 chunk_bytes: int = CHUNK_BYTES) -> TensorStats:
    """Bit statistics of ``values`` as IR dtype ``dt``, streamed along ``axis`` (each line along
    it is one stream; ``None`` streams the whole flattened tensor as one). Arrays are read chunk
    by chunk of rows, so a memory-mapped weight file is never copied whole: a contiguous 2-D
    array (or a transposed view of one) costs one chunk of memory at a time."""
    dt = dtype(dt)
    bits = _storage_bits(dt)
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    if arr.nbytes <= NUMPY_BYTES:
        return _small_stats(arr, dt, axis)
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


def _small_stats(arr: np.ndarray, dt: DType, axis: int | None) -> TensorStats:
    """Statistics of a small tensor (under ``NUMPY_BYTES``) in numpy, along any axis; 4-bit and
    1-bit elements one lane per byte."""
    return _line_stats([_lines(arr, axis)], dt)[0]


def _lines(arr: np.ndarray, axis: int | None) -> tuple[np.ndarray, int]:
    """A small tensor's values as one contiguous row of streams, and the stream length: the
    streams along ``axis`` one after another (the whole tensor one stream for None)."""
    if arr.ndim == 0 or axis is None:
        return arr.reshape(-1), arr.size
    if axis % arr.ndim == arr.ndim - 1 and arr.flags.c_contiguous:
        return arr.reshape(-1), arr.shape[-1]
    moved = np.moveaxis(arr, axis, -1)
    return np.ascontiguousarray(moved).reshape(-1), moved.shape[-1]


def _words(values: np.ndarray, dt: DType, bits: int) -> np.ndarray:
    """The bit patterns of ``values``, one element per word (4-bit and 1-bit lanes unpacked,
    one per byte): elementwise, so the words of concatenated values are the concatenated
    words."""
    return encode(values, dt) if bits >= 8 else _lanes(values, dt, bits)


def _line_stats(items: Sequence[tuple[np.ndarray, int]], dt: DType) -> list[TensorStats]:
    """Statistics of many arrays of one dtype at once: each item is (contiguous 1-D values of
    one numpy type, read as streams of the given length); toggles are counted within streams
    only. One concatenation, one encoding and a few reductions per batch, so hundreds of small
    weights cost about what one does."""
    bits = _storage_bits(dt)
    kept = [item for item in items if item[0].size]
    found: list[tuple[int, int, int]] = []
    while kept:                     # batches of up to BATCH_ELEMENTS: their passes stay in cache
        take = 1
        total = kept[0][0].size
        while take < len(kept) and total + kept[take][0].size <= BATCH_ELEMENTS:
            total += kept[take][0].size
            take += 1
        found += _batch_stats(kept[:take], dt, bits)
        kept = kept[take:]
    counts = iter(found)
    return [TensorStats(w.size, bits, *next(counts), w.size // line * (line - 1)) if w.size
            else TensorStats(0, bits, 0, 0, 0, 0) for w, line in items]


SAMPLE_ABOVE = 1 << 15
"""Weights with more elements than this have their bits read on a sample: every weight is then
read by numpy (no JIT), and none costs more than the sample's reading."""
SAMPLE_PATCHES = 64
PATCH_ELEMENTS = 256
PATCH_STREAMS = 8
_R3 = (0.8191725133961645, 0.6710436067037893, 0.5497004779019703)
"""The R3 low-discrepancy sequence's steps (1/g, 1/g², 1/g³ for the plastic ratio g): patch
positions spread over all three axes without aliasing on a tensor's strides."""
_PATCH_POSITIONS = [(np.arange(SAMPLE_PATCHES) + 0.5) * step % 1.0 for step in _R3]
"""Each patch's position along the three axes as a fraction of the room there, by R3."""


def sampled_stats(values: np.ndarray, dt: DType | str, axis: int | None
                  ) -> tuple[TensorStats, int]:
    """Bit statistics of a large tensor estimated from a sample, and the elements read.

    A C-contiguous tensor of over ``SAMPLE_ABOVE`` elements, viewed as ``[pre, L, post]`` with
    its streams along ``L``, is read in ``SAMPLE_PATCHES`` patches of 256 elements gathered in
    one indexing: 8 streams × 32 consecutive elements, or 8 consecutive elements of 32 adjacent
    streams where the streams run across memory, so that each patch reads whole cache lines;
    their corners lie anywhere (spread by the R3 sequence); the sample's set bits and zeros per
    element and toggles per transition, times the tensor's elements and transitions, are the
    estimate. Elements and transitions are exact. A transposed view is read as its transpose.
    Smaller tensors, other non-contiguous arrays and whole-tensor streams are read exactly."""
    return read_arrays([(values if isinstance(values, np.ndarray) else np.asarray(values),
                         dtype(dt), axis)], exact=False)[0]


def read_arrays(requests: Sequence[tuple[np.ndarray, DType, int | None]], exact: bool
                ) -> list[tuple[TensorStats, int]]:
    """Statistics of each (array, dtype, streaming axis) and the elements read for them: large
    tensors on a sample (``sampled_stats``, each read as soon as it is gathered, while in
    cache: ``_sample_stats``) unless ``exact``, small ones whole, and all of one lane width in
    one batch (``_line_stats``); tensors too large for numpy whole go through
    ``tensor_stats``."""
    results: list[tuple[TensorStats, int]] = [None] * len(requests)  # type: ignore[list-item]
    batches: dict[tuple[DType, np.dtype], list[tuple[int, np.ndarray, int]]] = {}
    for i, (arr, dt, axis) in enumerate(requests):
        if axis is not None and arr.ndim > 1 and arr.flags.f_contiguous and \
                not arr.flags.c_contiguous:       # a transposed view (a tied output layer)
            arr, axis = arr.T, arr.ndim - 1 - axis % arr.ndim
        if not exact and arr.size > SAMPLE_ABOVE and axis is not None and arr.ndim >= 2 and \
                arr.flags.c_contiguous:
            bits = _storage_bits(dt)
            sample, along = _sample(arr, axis % arr.ndim)
            stats = _sample_stats(_words(sample, dt, bits), along, dt, bits)
            results[i] = (_scaled(stats, arr, axis % arr.ndim), stats.elements)
        elif arr.nbytes <= NUMPY_BYTES:
            batches.setdefault((dt, arr.dtype), []).append((i, *_lines(arr, axis)))
        else:
            results[i] = (tensor_stats(arr, dt, axis), arr.size)
    for (dt, _), batch in batches.items():
        found = _line_stats([(values, line) for _, values, line in batch], dt)
        for (i, _, _), stats in zip(batch, found):
            results[i] = (stats, stats.elements)
    return results


def _sample_stats(words: np.ndarray, along: int, dt: DType, bits: int) -> TensorStats:
    """Statistics of a sample's words (``_sample``'s patches), streamed along axis ``along``:
    set bits and zeros do not depend on the order, and the toggles within streams are those
    between successive slices along it, so nothing is transposed; its few temporaries are
    small enough to come from the heap (a batch of samples, a few MB, would be mapped and
    page-faulted afresh)."""
    ones, zeros = _set_and_zero(words, dt, bits)
    transitions = words.size // words.shape[along] * (words.shape[along] - 1)
    return TensorStats(words.size, bits, ones, zeros, _toggles_along(words, along), transitions)


def _sample(arr: np.ndarray, axis: int) -> tuple[np.ndarray, int]:
    """The patches of ``sampled_stats`` gathered from C-contiguous ``arr`` (one flat take),
    and the axis of the sample its streams run along."""
    index, along = _sample_index(math.prod(arr.shape[:axis]), arr.shape[axis],
                                 math.prod(arr.shape[axis + 1:]))
    return arr.reshape(-1)[index], along


@functools.lru_cache(maxsize=256)
def _sample_index(pre: int, length: int, post: int) -> tuple[np.ndarray, int]:
    """Flat indices of ``_sample``'s patches in a ``[pre, length, post]`` tensor (read-only,
    shared by the tensors of one shape: a model's repeated blocks), and the sample's streaming
    axis."""
    def corner(along: int, extent: int, side: int) -> np.ndarray:
        """Patch corners anywhere along an axis, so that patches also straddle the edges of
        aligned blocks (pruned rows, per-channel scales)."""
        return (_PATCH_POSITIONS[along] * (extent - side + 1)).astype(np.int64)

    if post == 1:                   # streams are rows: 8 rows × 32 consecutive elements each
        rows, run = min(pre, PATCH_STREAMS), min(length, PATCH_ELEMENTS // PATCH_STREAMS)
        first = corner(0, pre, rows) * length + corner(1, length, run)
        index = np.arange(run).reshape(-1, 1, 1) + first.reshape(1, -1, 1) + \
            np.arange(rows) * length                             # (element, patch, row)
        along = 0
    else:                           # streams run across memory: 8 steps of 32 adjacent streams
        steps, width = min(length, PATCH_STREAMS), min(post, PATCH_ELEMENTS // PATCH_STREAMS)
        first = (corner(0, pre, 1) * length + corner(1, length, steps)) * post + \
            corner(2, post, width)
        index = np.arange(width).reshape(-1, 1, 1) + first.reshape(1, -1, 1) + \
            np.arange(steps) * post                              # (stream, patch, step)
        along = 2
    # the innermost index steps across rows: successive loads miss on different cache lines,
    # so the cold reads of a weight overlap (3-4x faster than reading a row segment at a time)
    index.flags.writeable = False
    return index, along


def _scaled(sample: TensorStats, arr: np.ndarray, axis: int) -> TensorStats:
    """The whole tensor's statistics estimated from its sample's: set bits and zeros per
    element, toggles per transition."""
    transitions = arr.size // arr.shape[axis] * (arr.shape[axis] - 1)
    return TensorStats(arr.size, sample.bits,
                       round(sample.set_bits * arr.size / sample.elements),
                       round(sample.zeros * arr.size / sample.elements),
                       round(sample.toggles * transitions / sample.transitions)
                       if sample.transitions else 0, transitions)


BATCH_ELEMENTS = 1 << 16
"""Elements per batch of ``_line_stats``: its few passes over a batch then run from cache."""


def _batch_stats(items: Sequence[tuple[np.ndarray, int]], dt: DType, bits: int
                 ) -> list[tuple[int, int, int]]:
    """(set bits, zeros, toggles) of each non-empty item of ``_line_stats``, in one batch."""
    sizes = np.fromiter((w.size for w, _ in items), np.int64, len(items))
    starts = np.zeros(len(items), np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    words = _words(items[0][0] if len(items) == 1 else np.concatenate([w for w, _ in items]),
                   dt, bits)
    sign = words.dtype.type(1 << (bits - 1) if dt.is_float else 0)
    ones = np.add.reduceat(np.bitwise_count(words), starts, dtype=np.int64)
    zeros = np.add.reduceat((words & ~sign) == 0, starts, dtype=np.int64)
    flips = np.zeros(words.size, np.uint8)      # flips[i]: word i against word i + 1
    np.bitwise_count(words[1:] ^ words[:-1], out=flips[:-1])
    lines = np.fromiter((line for _, line in items), np.int64, len(items))
    streams = sizes // lines                    # no flip across the end of a stream:
    later = np.arange(streams.sum()) - np.repeat(np.cumsum(streams) - streams, streams)
    flips[np.repeat(starts + lines - 1, streams) + later * np.repeat(lines, streams)] = 0
    toggles = np.add.reduceat(flips, starts, dtype=np.int64)
    return list(zip(ones.tolist(), zeros.tolist(), toggles.tolist()))


def _lanes(arr: np.ndarray, dt: DType, bits: int) -> np.ndarray:
    """The bit patterns of 4-bit or 1-bit elements, one per byte (unpacked)."""
    if bits == 1:
        return (np.asarray(arr) != 0).view(np.uint8)
    return _stored(arr, dt).view(np.uint8) & np.uint8(0xF)


def _set_and_zero(words: np.ndarray, dt: DType, bits: int) -> tuple[int, int]:
    """Set bits and zero elements (either sign for floats) of unsigned words, in numpy."""
    sign = np.array(1 << (bits - 1) if dt.is_float else 0, words.dtype)
    return _set_bits(words), words.size - int(np.count_nonzero(words & ~sign))


def _set_bits(words: np.ndarray) -> int:
    """Set bits of unsigned words, counted 64 bits at a time where their bytes allow (the count
    does not depend on how they are grouped; a third faster on a sample). A view starting off
    an 8-byte boundary is counted right too, by numpy's unaligned loop; asking for the address
    (``ctypes.data``) would cost more than the count of a sample's slice."""
    if words.flags.c_contiguous and words.nbytes % 8 == 0:
        words = words.reshape(-1).view(np.uint64)
    return int(np.bitwise_count(words).sum(dtype=np.int64))


def _toggles_along(words: np.ndarray, axis: int) -> int:
    """Bits flipping between successive words along ``axis``, in numpy."""
    later, earlier = [slice(None)] * words.ndim, [slice(None)] * words.ndim
    later[axis], earlier[axis] = slice(1, None), slice(None, -1)
    return _set_bits(words[tuple(later)] ^ words[tuple(earlier)])


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
