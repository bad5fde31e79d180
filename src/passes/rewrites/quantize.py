"""Quantization as pattern rules that insert Q/DQ nodes.

- ``quantize_weights``: every matrix op's weight (a float constant with data) is stored as
  ``bits`` integers (or ``i8``, ``i4``, ``f8e4m3``) with one symmetric scale per output channel
  (the first axis of ``linear``/``conv`` weights, the last of ``matmul``), ``scale = max|w| /
  max representable``, read through ``dequantize(w_q, scale[, 0])`` (ONNX: DequantizeLinear).
- ``quantize_activations``: weights as above, and every float activation a matrix op reads
  through ``quantize → dequantize`` with one symmetric scale from its largest |value| over
  calibration feeds. A target that fuses dequantize runs those ops as int8 / fp8 GEMMs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from nexus_ir import Constant, Graph, NexusError, TensorType, Value, registry

from ..pattern import Match, RewriteRule, const, op, rewrite, var
from .registry import (Candidate, RewriteContext, in_module, register_rewrite, top_modules,
                       weighted)

FORMATS = {"i8": 127.0, "i4": 7.0, "f8e4m3": 448.0}
"""Quantized formats: the largest magnitude each represents (the scale maps max|x| onto it)."""
MAX_MODULES = 8      # per-module candidates for at most this many top-level modules


def _quantized_values(data: np.ndarray, scale: np.ndarray, fmt: str) -> np.ndarray:
    """``data / scale`` in ``fmt``: rounded and saturated integers, or float8 values (E4M3,
    round to nearest) held as float32 numbers."""
    scaled = data / scale
    if fmt == "f8e4m3":
        import ml_dtypes
        return np.clip(scaled, -448, 448).astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
    limit = FORMATS[fmt]
    return np.clip(np.round(scaled), -limit - 1, limit).astype(np.int8)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise NexusError(f"quantized format '{fmt}': choose one of {', '.join(FORMATS)}")


def _gemm_ops() -> list[str]:
    return registry.ops_where(lambda t: t.gemm is not None and bool(t.weights))


def _weight_pattern(name: str) -> Any:
    """``name(x…, w, rest…)`` with the op's weight slot captured as ``w``."""
    slot = registry.traits(name).weights[0]
    return op(name, *[var(f"in{i}") for i in range(slot)], const(capture="w"), rest=True)


def _quantizable(weight: Value) -> bool:
    return isinstance(weight, Constant) and weight.data is not None and \
        weight.type.dtype.is_float and weight.type.rank >= 2


def _weight_rule(graph: Graph, name: str, fmt: str, module: str | None,
                 replaced: list[Constant]) -> RewriteRule:
    def replace(m: Match) -> Value:
        node, weight = m.root, m["w"]
        data = np.asarray(weight.data, dtype=np.float32)
        axis = weight.type.rank - 1 if node.op == "matmul" else 0
        scale = np.abs(data).max(axis=tuple(i for i in range(data.ndim) if i != axis))
        scale = np.where(scale > 0, scale / FORMATS[fmt], 1.0).astype(np.float32)
        shape = [1] * data.ndim
        shape[axis] = -1
        q = graph.add_constant(graph.fresh_name(f"{weight.name}_{fmt}"),
                               _quantized_values(data, scale.reshape(shape), fmt),
                               TensorType(list(weight.type.shape), fmt), weight.role)
        params = [graph.add_constant(graph.fresh_name(f"{weight.name}_scale"), scale,
                                     role="constant")]
        if fmt != "f8e4m3":
            params.append(graph.add_constant(graph.fresh_name(f"{weight.name}_zero"),
                                             np.zeros(scale.shape, np.int8),
                                             TensorType(list(scale.shape), fmt), "constant"))
        dq = m.build("dequantize", q, *params, axis=axis, to=weight.type.dtype.name)
        node.set_input(node.inputs.index(weight), dq)
        replaced.append(weight)
        return node.outputs[0]
    return RewriteRule(f"quantize {name} weights to {fmt}", _weight_pattern(name), replace,
                       where=lambda m: _quantizable(m["w"]) and in_module(m.root.source, module))


def quantize_weights(graph: Graph, bits: int = 8, module: str | None = None,
                     fmt: str | None = None) -> tuple[Graph, int]:
    """A copy of ``graph`` with its matrix-op weights quantized (module doc), optionally only
    under ``module``; returns the graph and the number of weights quantized."""
    fmt = fmt or f"i{bits}"
    _check_format(fmt)
    out = graph.clone()
    replaced: list[Constant] = []
    fired = rewrite(out, [_weight_rule(out, name, fmt, module, replaced)
                          for name in _gemm_ops()])
    for weight in replaced:
        if not weight.users and weight.name in out.constants:
            out.erase_constant(weight)
    out.verify()
    return out, sum(fired.values())


def _activation_rule(graph: Graph, name: str, slot: int, fmt: str,
                     ranges: Mapping[str, float]) -> RewriteRule:
    def replace(m: Match) -> Value:
        node, value = m.root, m["x"]
        scale = np.float32(max(ranges.get(value.name, 0.0), 1e-8) / FORMATS[fmt])
        params = [graph.add_constant(graph.fresh_name(f"{value.name}_scale"), scale,
                                     role="constant")]
        if fmt != "f8e4m3":
            params.append(graph.add_constant(graph.fresh_name(f"{value.name}_zero"), np.int8(0),
                                             role="constant"))
        q = m.build("quantize", value, *params, to=fmt)
        node.set_input(slot, m.build("dequantize", q, *params, to=value.type.dtype.name))
        return node.outputs[0]

    def eligible(m: Match) -> bool:
        value = m["x"]
        return not value.is_constant and value.type.dtype.is_float and not (
            value.producer is not None and value.producer.op == "dequantize")
    operands = [var("x") if i == slot else var(f"in{i}") for i in range(slot + 1)]
    return RewriteRule(f"quantize {name} operand {slot} to {fmt}",
                       op(name, *operands, rest=True), replace, where=eligible)


def quantize_activations(graph: Graph, ranges_of: Callable[[Graph], Mapping[str, float]],
                         fmt: str = "i8") -> tuple[Graph, int]:
    """Weights and activations in ``fmt`` (``i8`` or ``f8e4m3``; module doc), activation
    scales from ``ranges_of(weight-quantized graph)``: the largest |value| of each value over
    calibration inputs (``runtime.deviation.quantize_calibrated`` measures them). Returns the
    graph and the activations quantized."""
    _check_format(fmt)
    out, _ = quantize_weights(graph, fmt=fmt)
    ranges = ranges_of(out)
    rules = []
    for name in _gemm_ops():
        slots = range(registry.traits(name).weights[0] + 1) if name == "matmul" else (0,)
        rules += [_activation_rule(out, name, slot, fmt, ranges) for slot in slots]
    fired = rewrite(out, rules)
    out.verify()
    return out, sum(fired.values())


def _with_ranges(ctx: RewriteContext, fmt: str) -> Callable[[Graph], tuple[Graph, int]]:
    return lambda graph: quantize_activations(graph, lambda q: ctx.ranges(q, ctx.feeds), fmt)


@register_rewrite("quantize")
def quantize_candidates(graph: Graph, ctx: RewriteContext) -> Iterator[Candidate]:
    """Weights int8 and int4 for the whole model and for each top-level module; weights and
    activations int8 and fp8 when calibration feeds (and a way to run the graph) are given."""
    nodes = weighted(graph)
    if not nodes:
        return
    if ctx.feeds and ctx.ranges is not None:
        yield Candidate("weights+activations int8", _with_ranges(ctx, "i8"))
        yield Candidate("weights+activations fp8", _with_ranges(ctx, "f8e4m3"))
    modules = top_modules(nodes)
    for bits in (8, 4):
        yield Candidate(f"weights int{bits}", lambda g, b=bits: quantize_weights(g, b))
        if len(modules) > 1:
            for module in modules[:MAX_MODULES]:
                yield Candidate(f"weights int{bits} in {module}",
                                lambda g, b=bits, m=module: quantize_weights(g, b, m))

