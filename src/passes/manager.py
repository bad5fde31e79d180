"""The pass manager: an ordered pipeline with dependencies, invalidation and timing.

Before a pass runs, the analyses it ``requires`` are made current (run if missing or invalid).
After a rewrite pass, every analysis that had run and is not in the rewrite's ``preserves`` is
invalid; the manager re-runs those on the new graph right away, in their original order, so the
graph that comes out carries current annotations only. Each run is timed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nexus_ir import Graph, NexusError

from .base import AnalysisPass, Pass, PassContext, RewritePass, get_pass


@dataclass(frozen=True)
class PassTiming:
    """One pass execution: its name, wall seconds, and why it ran."""

    name: str
    seconds: float
    reason: str  # "pipeline", "required by X", or "rerun after X"


class PassManager:
    """Run passes over a graph in order, honouring dependencies and invalidation."""

    def __init__(self, pipeline: Sequence[str | Pass], options: Mapping[str, Any] | None = None):
        self.pipeline = [get_pass(p) if isinstance(p, str) else p for p in pipeline]
        self.ctx = PassContext(options=dict(options or {}))
        self.timings: list[PassTiming] = []
        self._valid: dict[str, AnalysisPass] = {}

    def run(self, graph: Graph) -> Graph:
        """Run the pipeline; returns the final graph (a new object if a rewrite made one)."""
        for p in self.pipeline:
            graph = self._run(p, graph, "pipeline", ())
        return graph

    def _require(self, name: str, graph: Graph, by: str, chain: tuple[str, ...]) -> None:
        if name in self._valid:
            return
        if name in chain:
            raise NexusError(f"pass dependency cycle: {' -> '.join([*chain, name])}")
        needed = get_pass(name)
        if not isinstance(needed, AnalysisPass):
            raise NexusError(f"pass '{by}' requires '{name}', which is not an analysis pass")
        self._run(needed, graph, f"required by {by}", chain)

    def _run(self, p: Pass, graph: Graph, reason: str, chain: tuple[str, ...]) -> Graph:
        for dep in p.requires:
            self._require(dep, graph, p.name, (*chain, p.name))
        start = time.perf_counter()
        result = p.run(graph, self.ctx)
        self.timings.append(PassTiming(p.name, time.perf_counter() - start, reason))
        if isinstance(p, AnalysisPass):
            self._valid[p.name] = p
            return graph
        if not isinstance(p, RewritePass) or not isinstance(result, Graph):
            raise NexusError(f"pass '{p.name}' must be an AnalysisPass, or a RewritePass that "
                             "returns a Graph")
        stale = [a for name, a in self._valid.items() if name not in p.preserves]
        for a in stale:
            del self._valid[a.name]
            self.ctx.results.pop(a.name, None)
        for a in stale:
            if a.name not in self._valid:
                self._run(a, result, f"rerun after {p.name}", chain)
        return result

    def timing_table(self) -> str:
        """Per-pass timings as aligned text, slowest first."""
        rows = sorted(self.timings, key=lambda t: -t.seconds)
        width = max((len(t.name) for t in rows), default=4)
        lines = [f"{'pass':<{width}}  {'ms':>9}  why"]
        lines += [f"{t.name:<{width}}  {t.seconds * 1e3:9.3f}  {t.reason}" for t in rows]
        return "\n".join(lines)
