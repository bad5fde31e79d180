"""Recommendation: every registered rewrite that applies (``passes.rewrites``) is run on a copy
through the pass manager with the cost pipeline after it, and the candidates are ranked by
predicted energy saved, with the output deviation on calibration feeds beside them when the
caller gives a way to measure it (``runtime.deviation``: passes do not run graphs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nexus_ir import EnergyReport, Graph

from lowering.target import load_target

from .cost import cost_graph
from .manager import PassManager
from .rewrites import RewriteContext, candidates
from .rewrites.registry import Ranges

Deviation = Callable[[Graph, Graph, Sequence[Mapping[str, Any]]], float]
MIN_SAVED_FRACTION = 0.01      # a rewrite saving less of the energy than this saves nothing


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

    @property
    def pays(self) -> bool:
        """Saves at least ``MIN_SAVED_FRACTION`` of the predicted energy."""
        return self.saved_fraction >= MIN_SAVED_FRACTION


def recommend(graph: Graph, target: Any = "h100", feeds: Sequence[Mapping[str, Any]] = (),
              cost: Callable[[Graph, Any], EnergyReport] | None = None,
              deviation: Deviation | None = None, ranges: Ranges | None = None
              ) -> list[Recommendation]:
    """Candidates ranked by predicted energy saved (largest first). ``deviation(original,
    rewritten, feeds)`` and ``ranges(graph, feeds)`` (activation ranges, which weights+
    activations quantization needs) come from the caller, who can run graphs."""
    cost = cost or cost_graph
    base = cost(graph, target).metrics["energy_j"]
    ranked = []
    loaded = load_target(target) if isinstance(target, str) else target
    for name, candidate in candidates(graph, RewriteContext(feeds, ranges, loaded)).items():
        rewrite_pass = candidate.as_pass()
        manager = PassManager([rewrite_pass])
        rewritten = manager.run(graph)
        changed = manager.ctx.results[name]["changed"]
        if not changed:
            continue
        energy = cost(rewritten, target).metrics["energy_j"]
        shift = deviation(graph, rewritten, feeds) if feeds and deviation else None
        ranked.append(Recommendation(name, changed, energy, base - energy,
                                     (base - energy) / base if base else 0.0, shift, rewritten))
    return sorted(ranked, key=lambda r: (-r.saved_j, r.name))
