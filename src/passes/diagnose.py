"""Diagnosis: where the energy of a report goes on a target and why — ops it could not cost,
hotspots (top nodes and modules), each costed node's bound (memory, compute, power, overhead),
one finding for a model whose time is launches rather than work (with what other execution
modes would spend), expensive activations (ops with the ``transcendental`` trait), ops kept at
a precision the target runs cheaper (grouped), and layers whose energy share far exceeds their
FLOP share for a reason other than launches. Every finding names its module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lowering.target import load_target
from nexus_ir import EnergyReport, registry
from nexus_ir.units import si

SHARE_RATIO = 3.0          # energy share / FLOP share that marks a layer FLOPs mislead about
MIN_SHARE = 0.01           # ... when it holds at least this share of the energy


LAUNCH_BOUNDS = ("host", "overhead", "latency")   # nodes whose time is not their work
LAUNCH_SHARE = 0.5         # launch-bound nodes holding this share of the energy: one finding


@dataclass
class Diagnosis:
    """Findings about one report; each list holds (node or module, evidence) rows, and
    ``sources`` names each node's module so that every finding says where it is."""

    hot_nodes: list[tuple[str, str, float, float]] = field(default_factory=list)
    hot_modules: list[tuple[str, float, float]] = field(default_factory=list)
    bounds: dict[str, int] = field(default_factory=dict)
    expensive_activations: list[tuple[str, str, float]] = field(default_factory=list)
    high_precision: list[tuple[str, str, str, str, float]] = field(default_factory=list)
    flops_mislead: list[tuple[str, str, float, float]] = field(default_factory=list)
    unmodeled: list[tuple[str, str, str]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    launch: dict[str, Any] = field(default_factory=dict)
    top: int = 10

    def where(self, name: str, op_: str) -> str:
        """A node as a reader knows it: its module and op kind, the SSA id as a detail."""
        return f"{self.sources.get(name) or '(top)'} ({op_}) [%{name}]"

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
        out += [f"  {self.where(n, op_):<44} {e:6.1%} of energy, {si(t, 's')}"
                for n, op_, e, t in self.hot_nodes]
        out.append("modules:")
        out += [f"  {m:<28} {e:6.1%} of energy, {f:6.1%} of FLOPs" for m, e, f in
                self.hot_modules]
        out.append("what bounds each node: " + ", ".join(f"{k} {v}" for k, v in
                                                         sorted(self.bounds.items())))
        if self.launch:
            out.append(self._launch_line())
        if self.flops_mislead:
            out.append(f"layers whose energy share is ≥ {SHARE_RATIO:g}× their FLOP share:")
            out += [f"  {self.where(n, op_):<44} {e:6.1%} of energy vs {f:6.1%} of FLOPs"
                    for n, op_, e, f in self.flops_mislead]
        if self.expensive_activations:
            out.append("expensive activations:")
            out += [f"  {self.where(n, op_):<44} {e:6.1%} of energy" for n, op_, e in
                    self.expensive_activations]
        if self.high_precision:
            out += self._precision_lines()
        return out

    def _launch_line(self) -> str:
        """One finding for a model whose time is launches, not work, with what the other
        execution modes would spend."""
        g = self.launch
        line = (f"launch-bound: {g['nodes']} of {g['of']} nodes wait on the host or on kernel "
                f"latency and hold {g['share']:.0%} of the energy (static power "
                f"{g['static_share']:.0%})")
        options = [f"{mode} {si(joules, 'J')} ({joules / g['energy_j'] - 1:+.0%})"
                   for mode, joules in g.get("alternatives", {}).items()]
        if options:
            line += "; run as " + ", ".join(options)
        return line + "; more samples per call spread the launches (--bind batch=N)"

    def _precision_lines(self) -> list[str]:
        """The ops at a wide float grouped by op kind, the first ``top`` named."""
        kinds: dict[str, int] = {}
        for _, op_, *_ in self.high_precision:
            kinds[op_] = kinds.get(op_, 0) + 1
        _, _, dt, cheaper, ratio = self.high_precision[0]
        listed = ", ".join(f"{count} {op_}" for op_, count in kinds.items())
        out = [f"ops kept at a precision the target runs cheaper: {listed} at {dt} ({cheaper} "
               f"costs {ratio:.2g}× less per FMA; the precision rewrite applies it):"]
        out += [f"  {self.where(n, op_)}" for n, op_, *_ in self.high_precision[:self.top]]
        more = len(self.high_precision) - self.top
        return out + ([f"  … and {more} more"] if more > 0 else [])


def diagnose(report: EnergyReport, target: Any, top: int = 10,
             alternatives: dict[str, float] | None = None) -> Diagnosis:
    """Where the energy of ``report`` goes on ``target`` and why (see the module docstring);
    ``alternatives`` (energy per call in other execution modes, by mode) join the launch-bound
    finding."""
    target = load_target(target) if isinstance(target, str) else target
    d = Diagnosis(top=top)
    modeled = [n for n in report.nodes if n.modeled and n.energy_j]
    d.sources = {n.name: n.source for n in report.nodes}
    d.unmodeled = [(n.name, n.source, n.unmodeled_reason or n.op) for n in report.nodes
                   if not n.modeled]
    total = report.metrics["energy_j"]
    for n in sorted(modeled, key=lambda n: -n.energy_j)[:top]:
        d.hot_nodes.append((n.name, n.op, n.energy_j / total, n.time_s))
    for m in report.per_module(2)[:top]:
        d.hot_modules.append((m.module, *report.share(m)))
    waiting = [n for n in modeled if n.bound in LAUNCH_BOUNDS]
    launch_share = sum(n.energy_j for n in waiting) / total if total else 0.0
    if launch_share >= LAUNCH_SHARE:
        d.launch = {"nodes": len(waiting), "of": len(modeled), "share": launch_share,
                    "static_share": report.metrics["static_j"] / total, "energy_j": total,
                    "alternatives": dict(alternatives or {})}
    for n in modeled:
        d.bounds[n.bound] = d.bounds.get(n.bound, 0) + 1
        energy_share, flop_share = report.share(n)
        if energy_share >= MIN_SHARE and energy_share >= SHARE_RATIO * flop_share and \
                not (d.launch and n.bound in LAUNCH_BOUNDS):
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
