"""numba kernels over the raw bits of a tensor: set bits, zero elements and bit toggles between
successive elements of a stream.

The data is read as little-endian 64-bit words, each holding ``64 / bits`` elements (bits ∈ {1,
2, 4, 8, 16, 32, 64}). Per word, three population counts give everything: set bits of the word;
toggles of ``word XOR word-shifted-by-one-element`` (element j against element j+1, the top element
against the first of the next word); and zero elements by a carry-free SWAR test on the word with
the sign bits masked off (so −0.0 counts as zero). No element is ever unpacked, and words are
processed in parallel (``prange``), so the statistics run at memory speed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic


@intrinsic
def _popcount(typingctx, x):  # type: ignore[no-untyped-def]
    """llvm.ctpop on a uint64: one POPCNT (or its vector form when the loop vectorizes)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return sig, codegen


def lane_masks(bits: int, signed_float: bool) -> tuple[np.uint64, np.uint64, np.uint64]:
    """(sign mask, low mask, high mask) replicated over a 64-bit word for ``bits``-wide lanes:
    the sign bits to clear before the zero test (floats only), each lane's bits below its top
    bit, and each lane's top bit."""
    lanes = 64 // bits
    high = sum(1 << (bits * k + bits - 1) for k in range(lanes))
    low = sum(((1 << (bits - 1)) - 1) << (bits * k) for k in range(lanes))
    sign = high if signed_float else 0
    return np.uint64(sign), np.uint64(low), np.uint64(high)


BLOCK = 1 << 14      # words per parallel task: 128 KiB, well inside L2


@njit(cache=True, inline="always")
def _lane_stats(w: np.uint64, shifted: np.uint64, sign: np.uint64, low: np.uint64,
                high: np.uint64) -> tuple[int, int, int]:
    v = w & ~sign
    nonzero = ((v & low) + low) | v | low
    return _popcount(w), _popcount(~nonzero & high), _popcount(w ^ shifted)


@njit(cache=True, inline="always")
def _run_stats(words: np.ndarray, start: int, stop: int, bits: np.uint64, sign: np.uint64,
               low: np.uint64, high: np.uint64) -> tuple[int, int, int]:
    """(set bits, zeros, toggles) of words ``start..stop-1``, each against its successor."""
    carry_shift = np.uint64(64) - bits
    ones = 0
    zeros = 0
    toggles = 0
    for i in range(start, stop):
        w = words[i]
        o, z, t = _lane_stats(w, (w >> bits) | (words[i + 1] << carry_shift), sign, low, high)
        ones += o
        zeros += z
        toggles += t
    return ones, zeros, toggles


@njit(cache=True, inline="always")
def _last_word(words: np.ndarray, bits: np.uint64, sign: np.uint64, low: np.uint64,
               high: np.uint64) -> tuple[int, int, int]:
    """The last word: its top element has no successor, so it is compared with itself."""
    w = words[words.shape[0] - 1]
    carry_shift = np.uint64(64) - bits
    return _lane_stats(w, (w >> bits) | ((w >> carry_shift) << carry_shift), sign, low, high)


@njit(parallel=True, cache=True)
def word_stats(words: np.ndarray, bits: np.uint64, sign: np.uint64, low: np.uint64,
               high: np.uint64) -> tuple[int, int, int]:
    """(set bits, zero elements, toggles between successive elements) over ``words`` (uint64)
    read as one stream of ``bits``-wide elements, block by block in parallel. ``bits`` < 64."""
    n = words.shape[0]
    ones = 0
    zeros = 0
    toggles = 0
    blocks = (n - 1 + BLOCK - 1) // BLOCK          # every word but the last, block by block
    for b in prange(blocks):
        o, z, t = _run_stats(words, b * BLOCK, min(b * BLOCK + BLOCK, n - 1), bits, sign, low,
                             high)
        ones += o
        zeros += z
        toggles += t
    if n > 0:
        o, z, t = _last_word(words, bits, sign, low, high)
        ones += o
        zeros += z
        toggles += t
    return ones, zeros, toggles


@njit(cache=True)
def word_stats_serial(words: np.ndarray, bits: np.uint64, sign: np.uint64, low: np.uint64,
                      high: np.uint64) -> tuple[int, int, int]:
    """``word_stats`` on one thread: no parallel region to start (small tensors), and quick
    to compile, so a first run that reads only small weights pays no parallel compile."""
    if words.shape[0] == 0:
        return 0, 0, 0
    o, z, t = _run_stats(words, 0, words.shape[0] - 1, bits, sign, low, high)
    lo, lz, lt = _last_word(words, bits, sign, low, high)
    return o + lo, z + lz, t + lt


@njit(cache=True)
def boundary_toggles(words: np.ndarray, bits: int, row: int, rows: int) -> int:
    """Toggles between the last element of each row and the first of the next (rows of ``row``
    elements), which ``word_stats`` counted but a row-by-row stream does not have."""
    per_word = 64 // bits
    mask = np.uint64((1 << bits) - 1) if bits < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    total = 0
    for r in range(1, rows):
        e = r * row
        a = (words[(e - 1) // per_word] >> np.uint64(((e - 1) % per_word) * bits)) & mask
        b = (words[e // per_word] >> np.uint64((e % per_word) * bits)) & mask
        total += _popcount(a ^ b)
    return total


@njit(cache=True, inline="always")
def _slab_run(words: np.ndarray, first: int, last: int, slab: int, slabs: int,
              sign: np.uint64, low: np.uint64, high: np.uint64) -> tuple[int, int, int]:
    """(set bits, zeros, toggles to the next slab) of slabs ``first..last-1``, in one pass:
    each word is read once, against the same word of the next slab (none after a group's
    last slab)."""
    ones = 0
    zeros = 0
    toggles = 0
    for q in range(first, last):
        base = q * slab
        has_next = q % slabs != slabs - 1
        for i in range(slab):
            w = words[base + i]
            o, z, t = _lane_stats(w, words[base + slab + i] if has_next else w, sign, low, high)
            ones += o
            zeros += z
            toggles += t
    return ones, zeros, toggles


@njit(cache=True)
def slab_stats_serial(words: np.ndarray, slab: int, slabs: int, sign: np.uint64, low: np.uint64,
                      high: np.uint64) -> tuple[int, int, int]:
    """``slab_stats`` on one thread (small tensors)."""
    return _slab_run(words, 0, words.shape[0] // slab, slab, slabs, sign, low, high)


@njit(parallel=True, cache=True)
def slab_stats(words: np.ndarray, slab: int, slabs: int, sign: np.uint64, low: np.uint64,
               high: np.uint64) -> tuple[int, int, int]:
    """(set bits, zero elements, toggles) of ``words`` (uint64) laid out as groups of ``slabs``
    consecutive slabs of ``slab`` words each, the streams running across slabs (a [K, N] weight
    read along K): toggles are popcounts of each word XOR the same word of the next slab, so
    nothing is transposed, and every word is read once. Lanes line up word for word because
    every slab holds whole words. Blocks of slabs run in parallel."""
    count = words.shape[0] // slab
    per_block = max(1, BLOCK // slab)
    ones = 0
    zeros = 0
    toggles = 0
    for b in prange((count + per_block - 1) // per_block):
        o, z, t = _slab_run(words, b * per_block, min(count, b * per_block + per_block), slab,
                            slabs, sign, low, high)
        ones += o
        zeros += z
        toggles += t
    return ones, zeros, toggles
