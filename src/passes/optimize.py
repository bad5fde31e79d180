"""Diagnose, recommend, rewrite: where the energy goes, which rewrites would save most, and the
rewrites themselves.

- ``diagnose(report, target)``: hotspots (top nodes and modules), each costed node's bound on the
  target (memory, compute, power, overhead), expensive activations, ops kept at a precision the
  target runs cheaper, and layers whose energy share far exceeds their FLOP share.
- Rewrites that change the model for real: ``swap_activations`` (declarative pattern rules:
  GELU→tanh-GELU or ReLU, SiLU→hardswish, sigmoid→hardsigmoid), ``quantize_weights``
  (per-output-channel symmetric int8/int4 scales from the actual weights; the weight becomes an
  integer constant and a ``dequantize`` node, which ONNX exports as DequantizeLinear) and
  ``prune_channels`` (structured, by L1 norm: weight shapes and every consumer shrink together)
  ``sparsify_weights`` (unstructured magnitude sparsity, recorded as an annotation that a
  target with a ``sparse_efficiency`` costs as skipped work) and ``quantize_activations``
  (weights and activations int8, activation scales from calibration inputs: QDQ pairs that a
  target fusing dequantize runs as int8 GEMMs).
- ``recommend(graph, target)``: applies each candidate to a copy, reruns the cost model, and
  ranks by predicted energy saved, with the output deviation on calibration inputs (through
  onnxruntime) beside it when inputs are given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nexus_ir import Constant, EnergyReport, Graph, NexusError, TensorType

from .pattern import RewriteRule, op, rewrite, var

PRUNE_RATIOS = (0.25, 0.5)
SHARE_RATIO = 3.0          # energy share / FLOP share that marks a layer FLOPs mislead about
MIN_SHARE = 0.01           # ... when it holds at least this share of the energy
ACTIVATIONS = ("gelu", "silu", "sigmoid", "tanh", "mish", "softplus", "elu", "selu", "erf",
               "exp", "softmax", "log_softmax")


# ---------------------------------------------------------------------------- diagnosis
@dataclass
class Diagnosis:
    """Findings about one report; each list holds (node or module, evidence) rows."""

    hot_nodes: list[tuple[str, str, float, float]] = field(default_factory=list)
    hot_modules: list[tuple[str, float, float]] = field(default_factory=list)
    bounds: dict[str, int] = field(default_factory=dict)
    expensive_activations: list[tuple[str, str, float]] = field(default_factory=list)
    high_precision: list[tuple[str, str, str, str, float]] = field(default_factory=list)
    flops_mislead: list[tuple[str, str, float, float]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The findings as text, most important first."""
        out = ["hotspots (share of energy):"]
        out += [f"  %{n} {op_:<16} {e:6.1%} of energy, {t:.3g} s" for n, op_, e, t in
                self.hot_nodes]
        out.append("modules:")
        out += [f"  {m:<28} {e:6.1%} of energy, {f:6.1%} of FLOPs" for m, e, f in
                self.hot_modules]
        out.append("what bounds each node: " + ", ".join(f"{k} {v}" for k, v in
                                                         sorted(self.bounds.items())))
        if self.flops_mislead:
            out.append(f"layers whose energy share is ≥ {SHARE_RATIO:g}× their FLOP share:")
            out += [f"  %{n} {op_:<16} {e:6.1%} of energy vs {f:6.1%} of FLOPs"
                    for n, op_, e, f in self.flops_mislead]
        if self.expensive_activations:
            out.append("expensive activations:")
            out += [f"  %{n} {op_:<16} {e:6.1%} of energy" for n, op_, e in
                    self.expensive_activations]
        if self.high_precision:
            out.append("ops kept at a precision the target runs cheaper:")
            out += [f"  %{n} {op_:<16} {dt} → {cheaper}: {ratio:.2g}× the energy per FMA"
                    for n, op_, dt, cheaper, ratio in self.high_precision]
        return out


def diagnose(report: EnergyReport, target: Any, top: int = 10) -> Diagnosis:
    """Where the energy of ``report`` goes on ``target`` and why (see the module docstring)."""
    from lowering.target import load_target

    target = load_target(target) if isinstance(target, str) else target
    d = Diagnosis()
    modeled = [n for n in report.nodes if n.modeled and n.energy_j]
    total = report.metrics["energy_j"]
    for n in sorted(modeled, key=lambda n: -n.energy_j)[:top]:
        d.hot_nodes.append((n.name, n.op, n.energy_j / total, n.time_s))
    for m in report.per_module(2)[:top]:
        d.hot_modules.append((m.module, *report.share(m)))
    for n in modeled:
        d.bounds[n.bound] = d.bounds.get(n.bound, 0) + 1
        energy_share, flop_share = report.share(n)
        if energy_share >= MIN_SHARE and energy_share >= SHARE_RATIO * flop_share:
            d.flops_mislead.append((n.name, n.op, energy_share, flop_share))
        if n.op in ACTIVATIONS and energy_share >= MIN_SHARE / 2:
            d.expensive_activations.append((n.name, n.op, energy_share))
        cheaper = _cheaper_precision(n.dtype, target) if n.macs else None
        if cheaper is not None:
            d.high_precision.append((n.name, n.op, n.dtype, *cheaper))
    return d


def _cheaper_precision(dt: str | None, target: Any) -> tuple[str, float] | None:
    """The lowest-energy 16-bit float the target lists a matrix rate for (a cast without
    calibration; 8-bit formats need the quantize rewrite), and the energy ratio
    ``e(dt)/e(cheaper)`` per FMA."""
    if dt not in ("f32", "f64"):
        return None
    listed = {d for (cls, d) in target.peak if cls == "matrix" and d in ("bf16", "f16")}
    options = [(target.energy_pj("fma", d), d) for d in sorted(listed)]
    if not options:
        return None
    energy, best = min(options)
    return best, target.energy_pj("fma", dt) / energy


# ---------------------------------------------------------------------------- rewrites
SWAPS: dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]] = {
    "gelu->gelu_tanh": ("gelu", {"approximate": "none"}, "gelu", {"approximate": "tanh"}),
    "gelu->relu": ("gelu", {}, "relu", {}),
    "silu->hardswish": ("silu", {}, "hardswish", {}),
    "sigmoid->hardsigmoid": ("sigmoid", {}, "hardsigmoid", {}),
}


def _in_module(prefix: str | None) -> Callable[[Any], bool]:
    return lambda m: prefix is None or m.root.source == prefix or \
        m.root.source.startswith(prefix + ".")


def swap_rule(swap: str, module: str | None = None) -> RewriteRule:
    """A declarative rule for one activation swap (``SWAPS``), optionally only under
    ``module``."""
    if swap not in SWAPS:
        raise NexusError(f"unknown activation swap '{swap}' (known: {', '.join(SWAPS)})")
    source, source_attrs, target, target_attrs = SWAPS[swap]
    return RewriteRule(swap, op(source, var("x"), **source_attrs),
                       replace=lambda m: m.build(target, m["x"], **target_attrs),
                       where=_in_module(module))


def swap_activations(graph: Graph, swaps: Sequence[str], module: str | None = None
                     ) -> tuple[Graph, dict[str, int]]:
    """A copy of ``graph`` with the swaps applied; how many nodes each rule changed."""
    out = graph.clone()
    return out, rewrite(out, [swap_rule(s, module) for s in swaps])


WEIGHT_SLOTS = {"linear": 1, "matmul": 1, "conv": 1, "gemm": 1}


FORMATS = {"i8": 127.0, "i4": 7.0, "f8e4m3": 448.0}
"""Quantized formats: the largest magnitude each represents (the scale maps max|x| onto it)."""


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


def quantize_weights(graph: Graph, bits: int = 8, module: str | None = None,
                     fmt: str | None = None) -> tuple[Graph, int]:
    """A copy of ``graph`` whose matrix-op weights (constants with data) are stored as ``bits``
    integers (or in ``fmt``: ``i8``, ``i4``, ``f8e4m3``) with one symmetric scale per output
    channel (the first axis of ``linear``/``conv`` weights, the last of ``matmul``) computed
    from the weights, ``scale = max|w| / max representable``. Each becomes
    ``dequantize(w_q, scale[, 0])`` in front of its op. Returns the graph and the number of
    weights quantized."""
    fmt = fmt or f"i{bits}"
    _check_format(fmt)
    out = graph.clone()
    done = 0
    for node in list(out.nodes):
        slot = WEIGHT_SLOTS.get(node.op)
        if slot is None or len(node.inputs) <= slot or module is not None and not (
                node.source == module or node.source.startswith(module + ".")):
            continue
        weight = node.inputs[slot]
        if not isinstance(weight, Constant) or weight.data is None or \
                not weight.type.dtype.is_float or weight.type.rank < 2:
            continue
        data = np.asarray(weight.data, dtype=np.float32)
        axis = weight.type.rank - 1 if node.op == "matmul" else 0
        reduce_axes = tuple(i for i in range(data.ndim) if i != axis)
        scale = np.abs(data).max(axis=reduce_axes) / FORMATS[fmt]
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        shape = [1] * data.ndim
        shape[axis] = -1
        q = out.add_constant(out.fresh_name(f"{weight.name}_{fmt}"),
                             _quantized_values(data, scale.reshape(shape), fmt),
                             TensorType(list(weight.type.shape), fmt))
        params = [out.add_constant(out.fresh_name(f"{weight.name}_scale"), scale)]
        if fmt != "f8e4m3":
            params.append(out.add_constant(out.fresh_name(f"{weight.name}_zero"),
                                           np.zeros(scale.shape, np.int8),
                                           TensorType(list(scale.shape), fmt)))
        with out.insertion_point(node):
            dq = out.op("dequantize", q, *params, axis=axis, to=weight.type.dtype.name,
                        source=node.source)
        node.set_input(slot, dq)
        if not weight.users:
            out.erase_constant(weight)
        done += 1
    out.verify()
    return out, done


# ---------------------------------------------------------------------------- recommendation
@dataclass(frozen=True)
class Recommendation:
    """One candidate rewrite, applied to a copy and costed."""

    name: str
    changed: int
    energy_j: float
    saved_j: float
    saved_fraction: float
    deviation: float | None
    graph: Graph = field(repr=False, compare=False)


MAX_MODULES = 8      # per-module candidates for at most this many top-level modules


def _swap_candidate(swap: str) -> Callable[[Graph], tuple[Graph, int]]:
    def make(graph: Graph) -> tuple[Graph, int]:
        rewritten, counts = swap_activations(graph, [swap])
        return rewritten, sum(counts.values())
    return make


def _weighted_modules(graph: Graph) -> list[str]:
    """Top-level modules holding matrix ops with weight data, in graph order."""
    found: list[str] = []
    for n in graph:
        if n.op in WEIGHT_SLOTS and len(n.inputs) > 1 and isinstance(n.inputs[1], Constant) \
                and n.inputs[1].data is not None and n.source:
            top = n.source.split(".")[0]
            if top not in found:
                found.append(top)
    return found


def candidates(graph: Graph, feeds: Sequence[Mapping[str, Any]] = ()
               ) -> dict[str, Callable[[Graph], tuple[Graph, int]]]:
    """Every rewrite NEXUS knows that applies to ``graph``: name → function making the copy.
    Weight quantization is offered for the whole model and for each top-level module;
    activation quantization only with calibration ``feeds``."""
    ops = {n.op for n in graph}
    found: dict[str, Callable[[Graph], tuple[Graph, int]]] = {}
    for swap, (source, attrs, _, _) in SWAPS.items():
        if source in ops and any(n.op == source and all(n.attributes.get(k) == v
                                                        for k, v in attrs.items())
                                 for n in graph):
            found[f"swap {swap}"] = _swap_candidate(swap)
    has_weights = any(n.op in WEIGHT_SLOTS and len(n.inputs) > 1 and
                      isinstance(n.inputs[1], Constant) and n.inputs[1].data is not None
                      for n in graph)
    if not has_weights:
        return found
    modules = _weighted_modules(graph)
    if feeds:
        found["weights+activations int8"] = lambda g: quantize_activations(g, feeds)
        found["weights+activations fp8"] = lambda g: quantize_activations(g, feeds, "f8e4m3")
    for bits in (8, 4):
        found[f"weights int{bits}"] = lambda g, b=bits: quantize_weights(g, b)
        if len(modules) > 1:
            for module in modules[:MAX_MODULES]:
                found[f"weights int{bits} in {module}"] = \
                    lambda g, b=bits, m=module: quantize_weights(g, b, m)
    for ratio in PRUNE_RATIOS:
        found[f"prune {ratio:.0%} channels"] = lambda g, r=ratio: prune_channels(g, r)
    found["sparsify 50% weights"] = lambda g: sparsify_weights(g, 0.5)
    return found


def _outputs(graph: Graph, feed: Mapping[str, Any]) -> np.ndarray:
    """The first output of one run (PyTorch, ``runtime.torch_graph``: every IR dtype runs,
    float8 included, where ONNX opset 17 has none)."""
    from runtime.torch_graph import run_graph

    result = run_graph(graph, feed)
    result = result[0] if isinstance(result, tuple) else result
    return result.float().numpy()


def output_deviation(original: Graph, rewritten: Graph, feeds: Sequence[Mapping[str, np.ndarray]]
                     ) -> float:
    """Largest |Δ| of the first output over the feeds, relative to the original's largest
    |output|."""
    worst, scale = 0.0, 0.0
    for feed in feeds:
        a, b = _outputs(original, feed), _outputs(rewritten, feed)
        worst = max(worst, float(np.abs(a - b).max()))
        scale = max(scale, float(np.abs(a).max()))
    return worst / scale if scale else worst


def accuracy(graph: Graph, inputs: Mapping[str, np.ndarray], labels: np.ndarray) -> float:
    """Top-1 accuracy of the graph's first output (class scores on its last axis) against
    ``labels``."""
    labels = np.asarray(labels).reshape(-1)
    predicted = _outputs(graph, inputs).reshape(len(labels), -1).argmax(axis=1)
    return float((predicted == labels).mean())


def recommend(graph: Graph, target: Any = "h100", feeds: Sequence[Mapping[str, Any]] = (),
              cost: Callable[[Graph, Any], EnergyReport] | None = None) -> list[Recommendation]:
    """Candidates ranked by predicted energy saved (largest first)."""
    from nexus_ir.api import compile as compile_graph

    cost = cost or (lambda g, t: compile_graph(g, target=t))
    base = cost(graph, target).metrics["energy_j"]
    ranked = []
    for name, make in candidates(graph, feeds).items():
        rewritten, changed = make(graph)
        if not changed:
            continue
        energy = cost(rewritten, target).metrics["energy_j"]
        deviation = output_deviation(graph, rewritten, feeds) if feeds else None
        ranked.append(Recommendation(name, changed, energy, base - energy,
                                     (base - energy) / base if base else 0.0, deviation,
                                     rewritten))
    return sorted(ranked, key=lambda r: (-r.saved_j, r.name))


# ---------------------------------------------------------------------------- pruning
CHANNEL_OPS = frozenset({"relu", "gelu", "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid",
                         "leaky_relu", "elu", "clip", "identity", "max_pool", "avg_pool",
                         "global_avg_pool", "global_max_pool", "adaptive_avg_pool",
                         "batch_norm"})


def _channel_chain(producer: Any) -> tuple[list[Any], Any] | None:
    """From a conv/linear's output, the single-reader chain of per-channel ops (and, for convs,
    spatial reductions and the flatten after a global pool) that ends in one conv/linear reading
    the channels as its input features; None when the channels escape anywhere else."""
    axis_last = producer.op == "linear"
    chain, value = [], producer.outputs[0]
    while True:
        users = value.users
        if len(users) != 1 or value in value.graph.outputs:
            return None
        user = users[0]
        if user.inputs[0] is not value or any(v is value for v in user.inputs[1:]):
            return None
        if user.op in ("conv", "linear"):
            if user.op == "conv" and (user.attributes["groups"] != 1 or
                                      user.attributes["transposed"]):
                return None
            return chain, user
        rank = value.type.rank
        keeps_axis = user.op in CHANNEL_OPS and not (axis_last and user.op in (
            "max_pool", "avg_pool", "global_avg_pool", "global_max_pool", "adaptive_avg_pool",
            "batch_norm"))
        if not axis_last and user.op in ("reduce_mean", "reduce_max", "reduce_sum"):
            axes = user.attributes["axes"] or ()
            keeps_axis = 1 not in [a % rank for a in axes] and 0 not in [a % rank for a in axes]
        if not axis_last and user.op == "flatten":
            keeps_axis = user.attributes["start_axis"] == 1 and all(
                d == 1 for d in value.type.shape[2:])
        if not keeps_axis:
            return None
        chain.append(user)
        value = user.outputs[0]


def _rebuild(graph: Graph, data: Mapping[str, np.ndarray]) -> Graph:
    """A new graph with the same nodes replayed (types re-inferred) and the constants named in
    ``data`` replaced by new arrays; constants no node reads are dropped."""
    out = Graph(graph.name)
    values: dict[int, Any] = {}
    for v in graph.inputs:
        values[id(v)] = out.add_input(v.name, v.type)
    for c in graph.constants.values():
        if c.users or c in graph.outputs:
            values[id(c)] = out.add_constant(c.name, data[c.name]) if c.name in data else \
                out.add_constant(c.name, c.data, c.type)
    for node in graph:
        made = out.add_node(node.op, [values[id(v)] for v in node.inputs], node.attributes,
                            source=node.source, name=[o.name for o in node.outputs])
        values.update({id(o): m for o, m in zip(node.outputs, made.outputs)})
    out.set_outputs(*[values[id(v)] for v in graph.outputs])
    out.verify()
    return out


def prune_channels(graph: Graph, ratio: float, module: str | None = None) -> tuple[Graph, int]:
    """Structured pruning by L1 norm: every conv/linear whose output channels reach exactly one
    conv/linear through per-channel ops loses the ``ratio`` of its output channels with the
    smallest L1 weight norms; its bias, the batch-norm parameters on the way and the reader's
    input channels shrink with it. Returns the graph and the number of layers pruned."""
    if not 0.0 < ratio < 1.0:
        raise NexusError(f"prune ratio {ratio}: give a fraction between 0 and 1")
    data: dict[str, np.ndarray] = {}
    pruned = 0
    for node in graph:
        if node.op not in ("conv", "linear") or module is not None and not (
                node.source == module or node.source.startswith(module + ".")):
            continue
        if node.op == "conv" and (node.attributes["groups"] != 1 or node.attributes["transposed"]):
            continue
        weights = node.inputs[1:]
        found = _channel_chain(node)
        if found is None or not all(isinstance(w, Constant) and w.data is not None
                                    for w in weights):
            continue
        chain, reader = found
        if not isinstance(reader.inputs[1], Constant) or reader.inputs[1].data is None or \
                reader.inputs[1].name in data:
            continue
        w = np.asarray(data.get(weights[0].name, weights[0].data))
        channels = w.shape[0]
        keep_count = max(1, round(channels * (1.0 - ratio)))
        norms = np.abs(w.reshape(channels, -1)).sum(axis=1)
        keep = np.sort(np.argsort(-norms, kind="stable")[:keep_count])
        for c in weights:
            data[c.name] = np.asarray(data.get(c.name, c.data))[keep]
        for n in chain:
            for c in n.inputs[1:]:
                if isinstance(c, Constant) and c.type.rank == 1 and c.type.shape[0] == channels:
                    data[c.name] = np.asarray(c.data)[keep]
        r = reader.inputs[1]
        data[r.name] = np.asarray(data.get(r.name, r.data))[:, keep]
        pruned += 1
    return (_rebuild(graph, data) if pruned else graph.clone()), pruned


# ---------------------------------------------------------------------------- sparsity
SPARSITY = "sparsity"


def sparsify_weights(graph: Graph, ratio: float, module: str | None = None
                     ) -> tuple[Graph, int]:
    """Unstructured magnitude sparsity: in every matrix op's weight (a constant with data) the
    ``ratio`` of entries with the smallest magnitudes become zero, and the op records the zero
    fraction of its weight as ``annotations["sparsity"]``, which a target with a
    ``sparse_efficiency`` turns into skipped work. Returns the graph and the ops sparsified."""
    if not 0.0 < ratio < 1.0:
        raise NexusError(f"sparsity {ratio}: give a fraction between 0 and 1")
    data: dict[str, np.ndarray] = {}
    chosen: dict[str, float] = {}
    for node in graph:
        slot = WEIGHT_SLOTS.get(node.op)
        if slot is None or len(node.inputs) <= slot or module is not None and not (
                node.source == module or node.source.startswith(module + ".")):
            continue
        weight = node.inputs[slot]
        if not isinstance(weight, Constant) or weight.data is None or weight.name in data:
            continue
        w = np.asarray(weight.data, dtype=np.float32)
        cut = np.quantile(np.abs(w), ratio)
        data[weight.name] = np.where(np.abs(w) <= cut, 0.0, w).astype(w.dtype)
        chosen[node.name] = float((data[weight.name] == 0).mean())
    out = _rebuild(graph, data) if data else graph.clone()
    for node in out:
        if node.name in chosen:
            node.annotations[SPARSITY] = chosen[node.name]
    return out, len(chosen)


# ---------------------------------------------------------------------------- activations
def activation_ranges(graph: Graph, feeds: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Largest |value| of every float value over the calibration feeds (a PyTorch run of the
    graph, ``runtime.torch_graph``)."""
    import torch

    from runtime.torch_graph import GraphModule

    module = GraphModule(graph)
    ranges: dict[str, float] = {}
    with torch.no_grad():
        for feed in feeds:
            values = module.values(*[torch.as_tensor(np.asarray(feed[v.name]))
                                     for v in graph.inputs])
            for name, value in values.items():
                if value.is_floating_point() and value.numel():
                    ranges[name] = max(ranges.get(name, 0.0), float(value.abs().max()))
    return ranges


def quantize_activations(graph: Graph, feeds: Sequence[Mapping[str, Any]], fmt: str = "i8"
                         ) -> tuple[Graph, int]:
    """Weights and activations in ``fmt`` (``i8`` or ``f8e4m3``): weights per output channel
    (``quantize_weights``), and every float activation a matrix op reads through
    ``quantize → dequantize`` with one symmetric scale from its largest |value| over the
    calibration ``feeds``. A target that fuses dequantize runs those ops as int8 / fp8 GEMMs.
    Returns the graph and the activations quantized."""
    if not feeds:
        raise NexusError("activation quantization needs calibration inputs (feeds)")
    _check_format(fmt)
    out, _ = quantize_weights(graph, fmt=fmt)
    ranges = activation_ranges(out, feeds)
    done = 0
    for node in list(out.nodes):
        slots = (0, 1) if node.op == "matmul" else (0,) if node.op in WEIGHT_SLOTS else ()
        for slot in slots:
            value = node.inputs[slot]
            if value.is_constant or not value.type.dtype.is_float or \
                    value.producer is not None and value.producer.op == "dequantize":
                continue
            scale = np.float32(max(ranges.get(value.name, 0.0), 1e-8) / FORMATS[fmt])
            params = [out.add_constant(out.fresh_name(f"{value.name}_scale"), scale)]
            if fmt != "f8e4m3":
                params.append(out.add_constant(out.fresh_name(f"{value.name}_zero"),
                                               np.int8(0)))
            with out.insertion_point(node):
                q = out.op("quantize", value, *params, to=fmt, source=node.source)
                dq = out.op("dequantize", q, *params, to=value.type.dtype.name,
                            source=node.source)
            node.set_input(slot, dq)
            done += 1
    out.verify()
    return out, done
