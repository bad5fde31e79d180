"""Diagnosis: where the energy of a report goes on a target and why — ops it could not cost,
hotspots (top nodes and
modules), each costed node's bound (memory, compute, power, overhead), expensive activations
(ops with the ``transcendental`` trait), ops kept at a precision the target runs cheaper, and
layers whose energy share far exceeds their FLOP share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lowering.target import load_target
from nexus_ir import EnergyReport, registry

SHARE_RATIO = 3.0          # energy share / FLOP share that marks a layer FLOPs mislead about
MIN_SHARE = 0.01           # ... when it holds at least this share of the energy


@dataclass
class Diagnosis:
    """Findings about one report; each list holds (node or module, evidence) rows."""

    hot_nodes: list[tuple[str, str, float, float]] = field(default_factory=list)
    hot_modules: list[tuple[str, float, float]] = field(default_factory=list)
    bounds: dict[str, int] = field(default_factory=dict)
    expensive_activations: list[tuple[str, str, float]] = field(default_factory=list)
    high_precision: list[tuple[str, str, str, str, float]] = field(default_factory=list)
    flops_mislead: list[tuple[str, str, float, float]] = field(default_factory=list)
    unmodeled: list[tuple[str, str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The findings as text, most important first."""
        out = []
        if self.unmodeled:
            count = len(self.unmodeled)
            out.append(f"unmodeled ({count} node{'s' * (count != 1)}; their cost is not in "
                       "these totals):")
            out += [f"  %{n} {source or '(no module)':<28} {reason}"
                    for n, source, reason in self.unmodeled]
        out.append("hotspots (share of energy):")
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
    target = load_target(target) if isinstance(target, str) else target
    d = Diagnosis()
    modeled = [n for n in report.nodes if n.modeled and n.energy_j]
    d.unmodeled = [(n.name, n.source, n.unmodeled_reason or n.op) for n in report.nodes
                   if not n.modeled]
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
        if registry.traits(n.op).transcendental and energy_share >= MIN_SHARE / 2:
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
