"""Lowering rules: each IR op to exact primitive-op counts typed by dtype.

A rule is registered with ``@lowering_rule("op", ...)`` and receives the node; its docstring
says how the op decomposes. Beside each rule sit the op's cost facts (``CostFacts``): how it
runs rather than what it computes — the kernels eager PyTorch launches for it. They are the cost
model's plug-in point for execution modes; ``cost_facts(op)`` reads them. Counts are exact
Python ints. Shapes must be static: bind symbolic dims first (``Graph.bind_symbols``), or
``UnboundShapeError`` says which symbols are missing.
``opaque`` has no rule on purpose: it is reported as unmodeled, never counted as zero.
Data-movement ops have rules that return no arithmetic; their bytes are costed by the memory
pass.

One module because each op's counts and its cost facts must be read together (the kernels a
rule's op launches depend on the same shapes and dtypes its counts do); splitting rules from
facts would put one op's cost in two places.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nexus_ir import Node, NexusError, ShapeError
from nexus_ir.ops._common import pads
from nexus_ir.ops.elementwise import COMPARISON, LOGICAL

from .primitives import Counts

RuleFn = Callable[[Node], Counts]
KernelsFn = Callable[[Node], int]


@dataclass(frozen=True)
class CostFacts:
    """How an op runs, beside the counts of what it computes: ``kernels`` is how many kernels
    eager PyTorch launches for one node of the op (0 for views, which only reinterpret a
    shape), an int or a function of the node; ``stepped``: they are the steps of a sequential
    loop (a recurrent layer's time steps), which a runtime that invokes one kernel per op runs
    as that many kernel calls too."""

    kernels: int | KernelsFn = 1
    stepped: bool = False

    def kernels_of(self, node: Node) -> int:
        return self.kernels(node) if callable(self.kernels) else self.kernels


_RULES: dict[str, RuleFn] = {}
_FACTS: dict[str, CostFacts] = {}


class UnmodeledOpError(NexusError):
    """An op without a lowering rule; the cost passes report it as unmodeled."""


def lowering_rule(*ops: str, kernels: int | KernelsFn = 1, stepped: bool = False
                  ) -> Callable[[RuleFn], RuleFn]:
    """``@lowering_rule("add", "sub")``: the decorated function is the lowering rule of those
    ops; the keyword arguments are their ``CostFacts``."""
    facts = CostFacts(kernels, stepped)

    def register(rule: RuleFn) -> RuleFn:
        for op in ops:
            _RULES[op] = rule
            _FACTS[op] = facts
        return rule
    return register


def has_rule(op: str) -> bool:
    return op in _RULES


DEFAULT_FACTS = CostFacts()
"""The cost facts of ops registered without any."""


def cost_facts(op: str) -> CostFacts:
    """The cost facts registered beside ``op``'s lowering rule (defaults for ops without)."""
    return _FACTS.get(op, DEFAULT_FACTS)


def lower(node: Node) -> Counts:
    """Primitive counts of ``node``; UnmodeledOpError for ops without a rule."""
    rule = _RULES.get(node.op)
    if rule is None:
        target = node.attributes.get("target", node.op)
        raise UnmodeledOpError(f"no lowering rule for {node.op} ({target})")
    return rule(node)


def numel(value) -> int:
    try:
        return value.type.numel
    except ShapeError:
        raise ShapeError(f"%{value.name} has symbolic shape {value.type}; bind "
                         f"{sorted(value.type.symbols)} to sizes before costing") from None


def _dt(node: Node):
    return node.inputs[0].type.dtype


def _out(node: Node) -> int:
    return numel(node.outputs[0])


# ----------------------------------------------------------------------------- elementwise
ELEMENTWISE: dict[str, dict[str, int]] = {
    "relu": {"max": 1},
    "leaky_relu": {"mul": 1, "max": 1},
    "abs": {"bitop": 1}, "neg": {"bitop": 1}, "sign": {"cmp": 2, "select": 2},
    "sigmoid": {"exp": 1, "add": 1, "div": 1},
    "silu": {"exp": 1, "add": 1, "div": 1, "mul": 1},
    "mish": {"exp": 1, "add": 1, "log": 1, "tanh": 1, "mul": 1},
    "tanh": {"tanh": 1},
    "hardswish": {"add": 1, "max": 2, "mul": 2},
    "hardsigmoid": {"fma": 1, "max": 2},
    "elu": {"exp": 1, "add": 1, "mul": 1, "cmp": 1, "select": 1},
    "selu": {"exp": 1, "add": 1, "mul": 2, "cmp": 1, "select": 1},
    "celu": {"div": 1, "exp": 1, "add": 1, "mul": 1, "cmp": 1, "select": 1},
    "softplus": {"mul": 2, "exp": 1, "add": 1, "log": 1, "cmp": 1, "select": 1},
    "softsign": {"bitop": 1, "add": 1, "div": 1},
    "exp": {"exp": 1}, "log": {"log": 1}, "sqrt": {"sqrt": 1}, "rsqrt": {"sqrt": 1, "div": 1},
    "reciprocal": {"div": 1}, "erf": {"erf": 1}, "sin": {"trig": 1}, "cos": {"trig": 1},
    "tan": {"trig": 2, "div": 1}, "floor": {"round": 1}, "ceil": {"round": 1},
    "round": {"round": 1},
    "add": {"add": 1}, "sub": {"add": 1}, "mul": {"mul": 1}, "div": {"div": 1},
    "pow": {"log": 1, "mul": 1, "exp": 1},
    "maximum": {"max": 1}, "minimum": {"max": 1},
    "mod": {"div": 1, "round": 1, "fma": 1},
    "where": {"select": 1},
    "cast": {"convert": 1},
    **{op: {"cmp": 1} for op in COMPARISON},
    **{op: {"bitop": 1} for op in (*LOGICAL, "logical_not")},
}
"""Per output element. gelu and clip depend on attributes and have their own rules. Derivations:
sigmoid = 1/(1+exp(-x)); silu = x·sigmoid(x); mish = x·tanh(log(1+exp(x))); hardswish =
x·min(max(x+3,0),6)/6; hardsigmoid = clip(αx+β); elu = x>0 ? x : α(exp(x)-1) (selu scales it);
softplus = log(1+exp(βx))/β with the threshold test; x^y = exp(y·log x); mod = a - floor(a/b)·b;
abs/neg/sign-bit ops are one bitwise gate per bit; where is a select; cast is a conversion."""


@lowering_rule(*ELEMENTWISE)
def _elementwise(node: Node) -> Counts:
    """Per output element, the counts of ``ELEMENTWISE[op]``, typed by the first operand (the
    data operand of ``where``)."""
    dt = node.inputs[1].type.dtype if node.op == "where" else _dt(node)
    return Counts.of(dt, **ELEMENTWISE[node.op]) * _out(node)


@lowering_rule("gelu")
def _gelu(node: Node) -> Counts:
    """Exact: 0.5·x·(1+erf(x/√2)) = 3 mul, 1 add, 1 erf per element. Tanh approximation:
    0.5·x·(1+tanh(√(2/π)·(x+0.044715·x³))) = 6 mul, 2 add, 1 tanh per element."""
    per = {"mul": 3, "add": 1, "erf": 1} if node.attributes["approximate"] == "none" else \
        {"mul": 6, "add": 2, "tanh": 1}
    return Counts.of(_dt(node), **per) * _out(node)


@lowering_rule("clip")
def _clip(node: Node) -> Counts:
    """One max per present bound per element."""
    bounds = sum(node.attributes[b] is not None for b in ("min", "max"))
    return Counts.of(_dt(node), max=bounds) * _out(node)


# ----------------------------------------------------------------------------- matrix products
def macs(dt, count: int) -> Counts:
    """``count`` multiply-accumulates at ``dt``: fma, or for binary (i1) operands one XNOR and one
    bit of popcount each (a binarized layer's dot product)."""
    if dt.is_bool:
        return Counts.of(dt, xnor=count, popcount=count)
    return Counts.of(dt, fma=count)


def _strided(value: Any) -> bool:
    """The value is a strided layout: made by a strided op (a transpose, slice or split; op
    trait ``strided``), perhaps through shape-only views."""
    producer = value.producer
    while producer is not None and producer.traits.view:
        producer = producer.inputs[0].producer
    return producer is not None and producer.traits.strided


def _batched_matmul_kernels(node: Node) -> int:
    """One GEMM (a batched operand of rank > 2 is a strided-batched GEMM, a 2-D one broadcast at
    stride 0), plus one copy where a batched operand is a strided view (taken as one whose
    batch dims PyTorch must copy to flatten: the window attention of the zoo's Swin model,
    ~2.1 kernels per aten::matmul in the H200 profiles; its tree GEMMs over contiguous
    operands: 1 in Nsight Compute)."""
    return 1 + any(len(v.type.shape) > 2 and _strided(v) for v in node.inputs[:2])


GEMM_TILE = 32
"""Edge of the output tile (rows × columns) of cuBLAS's fp32 SIMT GEMMs on Hopper
(``sm80_xmma_gemm_f32f32…tilesize32x32x8``), the unit its split-K choice is seen against."""
SPLIT_K_PER_TILE = 8
"""cuBLAS splits the reduction of an fp32 GEMM (a scale, the split GEMM, the bias epilogue)
when K is at least this many times its output tiles: every such GEMM of the H200 zoo's
Nsight Compute runs had K/tiles ≥ 8, every unsplit one ≤ 5.3, but one (SwiGLU's gate/up
projections, 2.7)."""


def _linear_kernels(node: Node) -> int:
    """Kernels cuBLAS runs for a linear layer in eager PyTorch on Hopper, by the shapes where
    Nsight Compute saw each choice on an H200 (docs/validation.md): one GEMM, or at fp32 a
    split-K GEMM when K ≥ SPLIT_K_PER_TILE × its 32×32 output tiles (3 kernels with a bias,
    2 without); a single row (M = 1) is a GEMV, one kernel, but for outputs of ≤ 16 features a
    dot product and its reduction at fp32 with K ≥ 512 (2) or at half precision a GEMV with
    a separate reduction and bias epilogue (3), and at half precision with K ≥ 4096 a split-K
    GEMV (2)."""
    out = node.outputs[0].type.shape
    n, k = out[-1], node.inputs[1].type.shape[1]
    m = math.prod(out[:-1])
    bias = len(node.inputs) == 3
    single = _dt(node).name == "f32"
    if m == 1:
        if n <= 16 and (k >= 512 if single else bias):
            return 2 if single else 3
        return 2 if not single and k >= 4096 else 1
    if single and k >= SPLIT_K_PER_TILE * math.ceil(m / GEMM_TILE) * math.ceil(n / GEMM_TILE):
        return 3 if bias else 2
    return 1


@lowering_rule("matmul", kernels=_batched_matmul_kernels)
def _matmul(node: Node) -> Counts:
    """One multiply-accumulate per (output element, reduction index): ``numel(out) · K``."""
    k = node.inputs[0].type.shape[-1]
    return macs(_dt(node), _out(node) * k)


@lowering_rule("linear", kernels=_linear_kernels)
def _linear(node: Node) -> Counts:
    """``numel(out) · in_features`` MACs, plus one add per output element for the bias."""
    counts = macs(_dt(node), _out(node) * node.inputs[1].type.shape[1])
    if len(node.inputs) == 3:
        counts += Counts.of(_dt(node), add=_out(node))
    return counts


@lowering_rule("gemm")
def _gemm(node: Node) -> Counts:
    """``M·N·K`` MACs; alpha ≠ 1 scales the product (M·N mul); C adds M·N (and beta ≠ 1 scales
    it: M·N mul)."""
    a = node.inputs[0].type.shape
    k = a[0] if node.attributes["trans_a"] else a[1]
    mn = _out(node)
    per = {"mul": mn * (node.attributes["alpha"] != 1.0)}
    if len(node.inputs) == 3:
        per["add"] = mn
        per["mul"] += mn * (node.attributes["beta"] != 1.0)
    return macs(_dt(node), mn * k) + Counts.of(_dt(node), **per)


def depthwise(node: Node) -> bool:
    """A convolution with one input channel per group (and several groups)."""
    return node.attributes["groups"] > 1 and node.inputs[1].type.shape[1] == 1


CHANNELS_LAST = (0, 3, 1, 2)
"""The permutation that views an [N, H, W, C] tensor as [N, C, H, W]: channels-last strides."""


def channels_last_input(node: Node) -> bool:
    """A regular convolution reading a channels-last view (an NHWC tensor permuted to NCHW, as
    ConvNeXt's downsampling layers do): PyTorch takes its strides as they are and runs cuDNN in
    NHWC, with neither a copy before nor layout transforms around the kernel."""
    source = node.inputs[0].producer
    return source is not None and source.op == "transpose" and \
        tuple(source.attributes["perm"]) == CHANNELS_LAST and not depthwise(node) and \
        node.inputs[1].type.shape[1] >= 8


FFMA_CONV_DEPTH = 288
"""A regular fp32 k×k convolution whose filter spans at most this many input elements
(C_in·Πk: 32 channels of 3×3) runs as cuDNN's NCHW FFMA kernel, one kernel: a sweep of 560
fp32 convolutions on an H100 (``bench/gpu_microbench.py conv-kernels``,
``docs/data/gpu_conv_kernels_h100.json``; a few of the largest, 112² at batch 16, take the
tensor-core path instead)."""


def _conv_kernels(node: Node) -> int:
    """Kernels cuDNN runs per convolution of NCHW tensors in eager PyTorch, as Nsight Compute
    names them in the H200 zoo: one for depthwise filters, for 1×1 filters at stride 1 (a
    GEMM) and where a group has fewer than 8 input channels (too few for tensor cores: an RGB
    stem, read in NCHW by an FFMA kernel), as for a regular k×k filter over 8 channels or, at
    fp32, over at most ``FFMA_CONV_DEPTH`` input elements (the H100 sweep of
    ``bench/gpu_microbench.py conv-kernels``); otherwise the input, and a k×k filter's weights,
    are transposed to NHWC around the tensor-core kernel, whose output is transposed back to
    NCHW at bf16/f16 (and at fp32 for a strided 1×1): a strided 1×1 filter 3 kernels, a k×k
    one 3 at fp32 and 4 at bf16/f16; a channels-last input (``channels_last_input``) needs only
    a k×k filter's weights transposed. PyTorch adds a bias in a kernel of its own, but for
    depthwise filters, whose native kernel adds it."""
    w = node.inputs[1].type.shape
    if depthwise(node):
        return 1
    bias = len(node.inputs) == 3
    if w[1] < 8:
        return 1 + bias
    if channels_last_input(node):        # NHWC already: the weights to NHWC (k×k), the kernel
        return (1 if all(k == 1 for k in w[2:]) else 2) + bias
    if any(k > 1 for k in w[2:]) and node.attributes["groups"] == 1 and (
            w[1] == 8 or (node.outputs[0].type.dtype.name == "f32" and
                          w[1] * math.prod(w[2:]) <= FFMA_CONV_DEPTH)):
        return 1 + bias
    if all(k == 1 for k in w[2:]):
        return (1 if all(s == 1 for s in node.attributes["stride"]) else 3) + bias
    return (3 if node.outputs[0].type.dtype.name == "f32" else 4) + bias


@lowering_rule("conv", kernels=_conv_kernels)
def _conv(node: Node) -> Counts:
    """Direct convolution. Regular: each output element takes ``C_in/groups · Πk`` MACs, so
    ``numel(out) · C_in/groups · Πk``. Transposed: each input element scatters into
    ``C_out/groups · Πk`` outputs: ``numel(x) · C_out/groups · Πk``. Bias: one add per output."""
    x, w = node.inputs[0], node.inputs[1]
    kernel = math.prod(w.type.shape[2:])
    per_element = w.type.shape[1] * kernel
    counts = macs(_dt(node), (numel(x) if node.attributes["transposed"] else _out(node)) *
                  per_element)
    if len(node.inputs) == 3:
        counts += Counts.of(_dt(node), add=_out(node))
    return counts


# ----------------------------------------------------------------------------- pooling
def _window_taps(node: Node) -> int:
    """Window positions a pooling node reads, summed over its outputs: ``Πk`` each (padding
    positions included, as the hardware loop runs), but only those inside the padded input
    where a ``ceil_mode`` window runs past its end (the kernel's loop stops there)."""
    a = node.attributes
    kernel = a["kernel_size"]
    n = len(kernel)
    x, out = node.inputs[0].type.shape[-n:], node.outputs[0].type.shape
    begin, end = pads(a["padding"], n)
    taps = 1
    for size, o, k, s, d, pb, pe in zip(x, out[-n:], kernel, a["stride"], a["dilation"], begin,
                                        end):
        taps *= sum(min(k, -(-(size + pb + pe - i * s) // d)) for i in range(o))
    return math.prod(out[:-n]) * taps


@lowering_rule("max_pool")
def _max_pool(node: Node) -> Counts:
    """One max per window position read beyond the first, per output element."""
    return Counts.of(_dt(node), max=_window_taps(node) - _out(node))


@lowering_rule("avg_pool")
def _avg_pool(node: Node) -> Counts:
    """One add per window position read beyond the first and one multiply by the reciprocal
    count, per output element."""
    n = _out(node)
    return Counts.of(_dt(node), add=_window_taps(node) - n, mul=n)


def _spatial_sum(node: Node) -> tuple[int, int]:
    """(elements read, outputs) of a global or adaptive pool over ``[N, C, *L]``."""
    x, out = node.inputs[0].type.shape, node.outputs[0].type.shape
    n_spatial = len(node.attributes.get("output_size", ())) or len(x) - 2
    lead = math.prod(x[:-n_spatial])
    read = 1
    for size, bins in zip(x[-n_spatial:], out[-n_spatial:]):
        # adaptive bin i spans [floor(i·L/O), ceil((i+1)·L/O)); the sum of widths over bins
        read *= sum(-(-(i + 1) * size // bins) - (i * size // bins) for i in range(bins))
    return lead * read, lead * math.prod(out[-n_spatial:])


@lowering_rule("global_avg_pool", "adaptive_avg_pool")
def _avg_reduce_pool(node: Node) -> Counts:
    """Adds: elements read minus outputs (each bin sums its window); one mul per output by the
    reciprocal window size. Adaptive bins follow PyTorch's floor/ceil boundaries."""
    read, outs = _spatial_sum(node)
    return Counts.of(_dt(node), add=read - outs, mul=outs)


@lowering_rule("global_max_pool", "adaptive_max_pool")
def _max_reduce_pool(node: Node) -> Counts:
    """Max: elements read minus outputs."""
    read, outs = _spatial_sum(node)
    return Counts.of(_dt(node), max=read - outs)


@lowering_rule("resize")
def _resize(node: Node) -> Counts:
    """Nearest: a gather, no arithmetic. (Multi)linear over n spatial dims: ``2^n - 1`` lerps per
    output element, each ``a + t·(b - a)`` = 1 add + 1 fma. Cubic: ``4^n`` fma per output."""
    n, outs = node.inputs[0].type.rank - 2, _out(node)
    mode = node.attributes["mode"]
    if mode == "nearest":
        return Counts()
    if mode == "linear":
        lerps = (2 ** n - 1) * outs
        return Counts.of(_dt(node), add=lerps, fma=lerps)
    return Counts.of(_dt(node), fma=4 ** n * outs)


# ----------------------------------------------------------------------------- reductions
def _reduced(node: Node) -> int:
    """Elements folded into each output: input elements / output elements."""
    return numel(node.inputs[0]) // max(_out(node), 1)


@lowering_rule("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod")
def _reduce(node: Node) -> Counts:
    """``R - 1`` combining ops per output for R reduced elements (add, max or mul); mean adds one
    multiply by 1/R per output."""
    outs, r = _out(node), _reduced(node)
    prim = {"reduce_sum": "add", "reduce_mean": "add", "reduce_max": "max",
            "reduce_min": "max", "reduce_prod": "mul"}[node.op]
    counts = Counts.of(_dt(node), **{prim: (r - 1) * outs})
    if node.op == "reduce_mean":
        counts += Counts.of(_dt(node), mul=outs)
    return counts


@lowering_rule("cumsum")
def _cumsum(node: Node) -> Counts:
    """``L - 1`` adds per line of ``L`` elements along the axis (the first element of a line is
    copied; an exclusive sum adds the same count, shifted)."""
    x = node.inputs[0].type
    length = x.shape[node.attributes["axis"]]
    return Counts.of(_dt(node), add=numel(node.inputs[0]) // max(length, 1) * (length - 1))


@lowering_rule("argmax", "argmin")
def _argreduce(node: Node) -> Counts:
    """``R - 1`` compares and ``R - 1`` selects (value and index) per output."""
    steps = (_reduced(node) - 1) * _out(node)
    return Counts.of(_dt(node), cmp=steps, select=steps)


@lowering_rule("topk")
def _topk(node: Node) -> Counts:
    """A bounded heap per row: each of the ``L`` entries is compared down a heap of ``k``
    (``ceil(log2(k + 1))`` compares and as many selects), then the ``k`` winners are popped in
    order (``k·ceil(log2(k + 1))`` more)."""
    length = node.inputs[0].type.shape[node.attributes["axis"]]
    k = node.attributes["k"]
    rows = numel(node.inputs[0]) // length
    steps = rows * (length + k) * max(1, math.ceil(math.log2(k + 1)))
    return Counts.of(_dt(node), cmp=steps, select=steps)


def softmax_counts(dt, rows: int, length: int, log: bool = False) -> Counts:
    """Numerically stable softmax of ``rows`` rows of ``length``: ``L-1`` max, ``L`` subtract,
    ``L`` exp, ``L-1`` add, then one reciprocal and ``L`` multiplies (log-softmax: one log and
    ``L`` subtracts instead)."""
    per_row = {"max": length - 1, "add": 2 * length - 1, "exp": length}
    if log:
        per_row["log"] = 1
        per_row["add"] += length
    else:
        per_row["div"] = 1
        per_row["mul"] = length
    return Counts.of(dt, **per_row) * rows


@lowering_rule("softmax", "log_softmax")
def _softmax(node: Node) -> Counts:
    """See ``softmax_counts``; rows = numel / length of the softmax axis."""
    x = node.inputs[0].type
    length = x.shape[node.attributes["axis"] % x.rank]
    return softmax_counts(x.dtype, x.numel // length, length, node.op == "log_softmax")


# ----------------------------------------------------------------------------- norms
def _norm(dt, groups: int, size: int, affine_elements: int, affine_ops: dict[str, int],
          rms: bool = False) -> Counts:
    """Statistics over ``groups`` groups of ``size`` elements. Layer/group/instance: mean
    (size-1 add, 1 mul), centering (size add), variance (size fma, 1 mul), rstd (1 add eps,
    1 sqrt, 1 div), normalize (size mul). RMS: sum of squares (size fma, 1 mul), rstd, normalize.
    Then the affine part per element."""
    if rms:
        per_group = {"fma": size, "mul": 1 + size, "add": 1, "sqrt": 1, "div": 1}
    else:
        per_group = {"add": 2 * size, "mul": 2 + size, "fma": size, "sqrt": 1, "div": 1}
    counts = Counts.of(dt, **per_group) * groups
    return counts + Counts.of(dt, **affine_ops) * affine_elements


def _affine(n_params: int) -> dict[str, int]:
    return {"fma": 1} if n_params == 2 else {"mul": 1} if n_params == 1 else {}


@lowering_rule("layer_norm", "rms_norm")
def _layer_norm(node: Node) -> Counts:
    """Groups are the rows over dims ``axis..end``; affine: fma per element with scale and bias,
    mul with scale only."""
    x = node.inputs[0].type
    start = node.attributes["axis"] % x.rank
    size = math.prod(x.shape[start:])
    return _norm(x.dtype, x.numel // size, size, x.numel, _affine(len(node.inputs) - 1),
                 rms=node.op == "rms_norm")


@lowering_rule("group_norm", "instance_norm")
def _group_norm(node: Node) -> Counts:
    """Groups: ``N · num_groups`` (instance norm: ``N · C``) over the remaining elements."""
    x = node.inputs[0].type
    groups = x.shape[0] * node.attributes.get("num_groups", x.shape[1])
    return _norm(x.dtype, groups, x.numel // groups, x.numel, _affine(len(node.inputs) - 1))


def _batch_norm_kernels(node: Node) -> int:
    """cuDNN's inference batch norm is one kernel at fp32; at bf16/f16 PyTorch runs its native
    kernel between two casts (3 kernels per aten::batch_norm in the H200 zoo profiles)."""
    return 1 if node.outputs[0].type.dtype.name == "f32" else 3


@lowering_rule("batch_norm", kernels=_batch_norm_kernels)
def _batch_norm(node: Node) -> Counts:
    """Inference batch norm: per channel a scale ``γ/√(var+eps)`` (1 add, 1 sqrt, 1 div, 1 mul);
    per element ``(x - mean)·scale + β`` (1 add, 1 fma)."""
    x = node.inputs[0].type
    return Counts.of(x.dtype, add=1, sqrt=1, div=1, mul=1) * x.shape[1] + \
        Counts.of(x.dtype, add=1, fma=1) * x.numel


# ----------------------------------------------------------------------------- attention
def fused_attention(node: Node, execution: str = "eager") -> bool:
    """PyTorch runs SDPA as one fused kernel (flash, memory-efficient or cuDNN attention; one
    kernel per call in the H200 zoo's Nsight Compute runs), except at fp32 when it is causal
    with grouped KV heads, and in a captured graph that runs its capture mask
    (``captured_math_path``), where it takes the math path. A fused kernel writes its output as
    [batch, query, head, value] in memory, so transposing the logical [batch, head, query,
    value] output's axes 1 and 2 is a view."""
    return not (node.outputs[0].type.dtype.name == "f32" and node.attributes["causal"] and
                node.attributes["enable_gqa"]) and not captured_math_path(node, execution)


CAPTURED_MATH_KERNELS = 22
"""Kernels of SDPA's math path in a captured graph, in place of the fused kernel: H200
captures of HF BERT-base and ViT-B at batch 128 and DistilBERT at 16, bf16 (21 more per layer
than eager, the transpose back to [batch, query, head, value] among them; 18 more at batch 1),
``docs/data/independent_capture_h200.json``."""

MATH_SCORE_BYTES = 39
"""Bytes SDPA's math path (``torch._scaled_dot_product_attention_math``) moves per element of
its fp32 score matrix: the product writes it (4), the mask is added in place (read and write,
8), ``_safe_softmax`` reads and writes it (8), tests it for -inf (4 + 1), reduces the test
(1) and selects (read 4 and the row's flag 1, write 4), and the product with v reads it (4).
At bf16/f16 it also casts the weights it returns back (``MATH_HALF_SCORE_BYTES``)."""

MATH_HALF_SCORE_BYTES = 6
"""Per score element, bf16/f16 only: the attention weights cast back to the input dtype (read
4, write 2), which the math path returns beside its output."""

MATH_HALF_OPERAND_BYTES = {"q": 20, "k": 20, "v": 12, "out": 8}
"""Bytes per element the bf16/f16 math path moves beyond reading its operands and writing its
result once: q, k and v cast to fp32 (write 4) and copied contiguous for the batched products
(read and write 8: HF passes them transposed), q and k scaled (read and write 8); the fp32
product written and read for its cast back (8)."""


def captured_math_path(node: Node, execution: str) -> bool:
    """An attention whose all-true capture mask was folded (``capture_mask``), replayed from a
    CUDA graph at bf16/f16: transformers builds the mask while the graph is captured, and
    PyTorch runs SDPA's math path on it with q, k and v cast to fp32 (SIMT fp32 products, an
    fp32 mask add and softmax), as H200 captures of HF encoders ran it, 2-3x slower than eager
    at batch 16 and more. fp32 models' captures were not recorded: taken as fused."""
    return execution == "cuda-graph" and node.op == "attention" and \
        node.attributes["capture_mask"] and node.outputs[0].type.dtype.bits == 16


def _attention_kernels(node: Node) -> int:
    """One fused kernel, or the math path's 17 (scores, mask, softmax, product and their
    copies, H200 profiles of the zoo)."""
    return 1 if fused_attention(node) else 17


@lowering_rule("attention", kernels=_attention_kernels)
def _attention(node: Node) -> Counts:
    """Math path of scaled dot-product attention, B = batch·heads of the output:
    ``Q·Kᵀ`` (B·Lq·Lk·E fma), scale (B·Lq·Lk mul), mask (B·Lq·Lk select for causal or boolean
    masks, add for float masks), softmax over Lk (B·Lq rows), ``P·V`` (B·Lq·Lk·Ev fma). A causal
    mask is applied to the full score matrix, as the math path does (a fused kernel skipping the
    masked half does half the matmul work)."""
    q, k, v = (i.type for i in node.inputs[:3])
    out = node.outputs[0].type
    lq, lk, e, ev = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    b = out.numel // (lq * ev)
    scores = b * lq * lk
    counts = Counts.of(q.dtype, fma=scores * (e + ev), mul=scores)
    masks = int(node.attributes["causal"]) + (len(node.inputs) == 4)
    if len(node.inputs) == 4 and node.inputs[3].type.dtype.is_float:
        counts += Counts.of(q.dtype, add=scores)
        masks -= 1
    counts += Counts.of(q.dtype, select=scores * masks)
    return counts + softmax_counts(q.dtype, b * lq, lk)


# ----------------------------------------------------------------------------- recurrent layers
RECURRENT_STEP: dict[str, dict[str, int]] = {
    # per hidden unit and step: sum the two gate products (G adds), 3 sigmoid and 2 tanh,
    # c = f·c + i·g (2 mul, 1 add), h = o·tanh(c) (1 mul)
    "lstm": {"add": 4 + 1, "exp": 3, "div": 3, "tanh": 2, "mul": 3},
    # r and z: sum products (2 add), 2 sigmoid; n = tanh(x_n + r·h_n) (1 mul, 1 add, 1 tanh);
    # h = (1 - z)·n + z·h (2 add, 2 mul)
    "gru": {"add": 2 + 2 + 1 + 2, "exp": 2, "div": 2, "tanh": 1, "mul": 3},
    "rnn_tanh": {"add": 1, "tanh": 1},
    "rnn_relu": {"add": 1, "max": 1},
}
"""Elementwise work per hidden unit per step (sigmoid = exp, add, div: its add is included)."""


def _recurrent_kernels(node: Node) -> int:
    """cuDNN's RNN: per layer and direction, a GEMM of the whole input sequence and per step a
    recurrent GEMM and a fused gate kernel, plus a few setup kernels (264-298 measured for 2
    layers × 64 steps on an H200)."""
    a, x = node.attributes, node.inputs[0].type
    steps = x.shape[1] if a["batch_first"] else x.shape[0]
    runs = a["num_layers"] * (2 if a["bidirectional"] else 1)
    return runs * (2 * steps + 1) + 6


@lowering_rule("recurrent", kernels=_recurrent_kernels, stepped=True)
def _recurrent(node: Node) -> Counts:
    """Per time step, batch element, layer and direction: the gate products
    ``G·H·(I_l + H)`` MACs (G = 4 LSTM, 3 GRU, 1 RNN; ``I_l`` the layer's input size), two bias
    adds per gate unit (``2·G·H``) when biased, and the elementwise gate arithmetic of
    ``RECURRENT_STEP`` per hidden unit."""
    from nexus_ir.ops.recurrent import GATES
    a, x = node.attributes, node.inputs[0].type
    h, dirs, gates = a["hidden_size"], 2 if a["bidirectional"] else 1, GATES[a["mode"]]
    steps, batch = (x.shape[1], x.shape[0]) if a["batch_first"] else (x.shape[0], x.shape[1])
    runs = steps * batch * dirs
    counts = Counts()
    for layer in range(a["num_layers"]):
        size_in = x.shape[2] if layer == 0 else dirs * h
        counts += macs(x.dtype, gates * h * (size_in + h)) * runs
    per_unit = dict(RECURRENT_STEP[a["mode"]])
    if a["has_biases"]:
        per_unit["add"] += 2 * gates
    return counts + Counts.of(x.dtype, **per_unit) * (runs * h * a["num_layers"])


# ----------------------------------------------------------------------------- data movement
@lowering_rule("transpose", "concat", "split", "slice", "pad", "embedding", "gather",
               "gather_elements", "index", "update")
def _movement(node: Node) -> Counts:
    """No arithmetic: these ops move data; the memory pass costs their bytes."""
    return Counts()


@lowering_rule("reshape", "flatten", "squeeze", "unsqueeze", "expand", "identity", kernels=0)
def _view(node: Node) -> Counts:
    """No arithmetic and no kernel: a view reinterprets its input's storage."""
    return Counts()


# ----------------------------------------------------------------------------- classic ML
def tree_depths(node: Node) -> np.ndarray:
    """Depth (compares on the longest root-to-leaf path) of every tree of a tree_ensemble."""
    from ._kernels import tree_max_depths
    a = node.attributes
    return tree_max_depths(np.asarray(a["tree_roots"], np.int64),
                           np.asarray(a["true_children"], np.int64),
                           np.asarray(a["false_children"], np.int64))


def _post_transform(dt, kind: str, rows: int, width: int) -> Counts:
    """Cost of the score transform: logistic = sigmoid per score, softmax per row, probit ≈ an
    erf per score."""
    if kind in ("softmax", "softmax_zero"):
        return softmax_counts(dt, rows, width)
    if kind == "logistic":
        return Counts.of(dt, exp=1, add=1, div=1) * (rows * width)
    if kind == "probit":
        return Counts.of(dt, erf=1, mul=2) * (rows * width)
    return Counts()


@lowering_rule("tree_ensemble")
def _tree_ensemble(node: Node) -> Counts:
    """Per sample, each tree walks root to leaf: one compare and one select per level. Without
    data every path is charged the tree's depth (the bound); with the ``tree_paths`` annotation
    (``passes.trees.annotate_tree_paths``: real paths of R calibration rows, C compares in all)
    N rows cost ``round(C·N/R)``. Then one add per tree and target to aggregate, base values
    (one add per target), and the post transform."""
    x = node.inputs[0].type
    rows, targets = x.shape[0], node.attributes["n_targets"]
    paths = node.annotations.get("tree_paths")
    if paths:
        compares = round(paths["compares"] * rows / paths["rows"])
    else:
        compares = int(tree_depths(node).sum()) * rows
    n_trees = len(node.attributes["tree_roots"])
    counts = Counts.of(x.dtype, cmp=compares, select=compares)
    counts += Counts.of("f32", add=n_trees * targets + targets * (
        node.attributes["base_values"].size > 0)) * rows
    return counts + _post_transform(node.outputs[0].type.dtype, node.attributes["post_transform"],
                                    rows, targets)


@lowering_rule("linear_classifier", "linear_regressor")
def _linear_model(node: Node) -> Counts:
    """``N·K·F`` fma, ``N·K`` intercept adds when intercepts are given, then the transform."""
    x = node.inputs[0].type
    k, f = node.attributes["coefficients"].shape
    rows = x.shape[0]
    counts = Counts.of(x.dtype, fma=rows * k * f,
                       add=rows * k * (node.attributes["intercepts"].size > 0))
    return counts + _post_transform(x.dtype, node.attributes["post_transform"], rows, k)


# ----------------------------------------------------------------------------- quantization
@lowering_rule("quantize")
def _quantize(node: Node) -> Counts:
    """Per element: multiply by 1/scale, round, add the zero point, clamp (2 max), convert."""
    return Counts.of(_dt(node), mul=1, round=1, add=1, max=2, convert=1) * _out(node)


@lowering_rule("dequantize")
def _dequantize(node: Node) -> Counts:
    """Per element: convert, subtract the zero point, multiply by the scale (at the output
    type)."""
    return Counts.of(node.outputs[0].type.dtype, convert=1, add=1, mul=1) * _out(node)
