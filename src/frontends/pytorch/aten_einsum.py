"""``aten.einsum`` as the contraction it is: for two operands, a batched matrix product over
the labels both share (batch: also in the output; contracted: not), with the transposes and
reshapes the equation implies, and sums over labels only one operand has; for one operand,
transposes and sums. Ellipses, repeated labels (diagonals), symbolic sizes and more than two
operands stay opaque (unmodeled, not zero)."""

from __future__ import annotations

import math

from nexus_ir import Value

from .base import aten, opaque


def _arrange(lw, x: Value, labels: str, order: str) -> Value:
    """``x`` (dims named by ``labels``) with the labels not in ``order`` summed away and the rest
    permuted into ``order``."""
    gone = [i for i, c in enumerate(labels) if c not in order]
    if gone:
        x = lw.op("reduce_sum", x, axes=gone, keepdims=False)
        labels = "".join(c for c in labels if c in order)
    perm = [labels.index(c) for c in order]
    return x if perm == sorted(perm) else lw.op("transpose", x, perm=perm)


def _size(sizes: dict[str, int], labels: str) -> int:
    return math.prod(sizes[c] for c in labels)


@aten("einsum")
def _einsum(lw, a, kw, node):
    equation, operands = a[0].replace(" ", ""), list(a[1])
    inputs, _, output = equation.partition("->")
    terms = inputs.split(",")
    if "." in equation or not _ or len(terms) != len(operands) or len(terms) > 2 or \
            any(len(set(t)) != len(t) for t in terms) or \
            not all(isinstance(d, int) for x in operands for d in x.type.shape):
        return opaque(lw, node, a)              # ellipsis, diagonals, symbolic sizes, 3+ terms
    sizes = {c: d for term, x in zip(terms, operands) for c, d in zip(term, x.type.shape)}
    if len(terms) == 1:
        return _arrange(lw, operands[0], terms[0], output)
    left, right = terms
    batch = "".join(c for c in output if c in left and c in right)
    contracted = "".join(c for c in left if c in right and c not in output)
    free_left = "".join(c for c in left if c in output and c not in right)
    free_right = "".join(c for c in right if c in output and c not in left)
    x = _arrange(lw, operands[0], left, batch + free_left + contracted)
    y = _arrange(lw, operands[1], right, batch + contracted + free_right)
    b, m, n, k = (_size(sizes, s) for s in (batch, free_left, free_right, contracted))
    x = lw.op("reshape", x, shape=[b, m, k])
    y = lw.op("reshape", y, shape=[b, k, n])
    z = lw.op("reshape", lw.op("matmul", x, y),
              shape=[sizes[c] for c in batch + free_left + free_right] or [1])
    got = batch + free_left + free_right
    if not output:
        return lw.op("reshape", z, shape=[])
    perm = [got.index(c) for c in output]
    return z if perm == sorted(perm) else lw.op("transpose", z, perm=perm)
