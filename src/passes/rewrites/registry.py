"""The rewrite registry: every rewrite NEXUS offers is registered here, and ``recommend``,
``diagnose`` and ``nexus optimize`` enumerate it.

A rewrite family is one function and one decorator. The function looks at a graph and yields
the candidates that apply, each a name and a function making the rewritten copy::

    @register_rewrite("drop-identity")
    def drop_identity(graph, ctx):
        if any(n.op == "identity" for n in graph):
            yield Candidate("drop identities", lambda g: my_rewrite(g))

``ctx`` is a ``RewriteContext``: calibration feeds and, where the caller can run graphs, a
function measuring activation ranges (``runtime.deviation.activation_ranges``: rewrites may not
import the runtime, so the caller hands it down). A candidate becomes a ``RewritePass`` with
``as_pass()``, so the pass manager runs it like any pass and reruns the analyses it
invalidates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nexus_ir import Graph
from nexus_ir.registry import add_unique

from ..base import PassContext, RewritePass

Apply = Callable[[Graph], "tuple[Graph, int]"]
Ranges = Callable[[Graph, Sequence[Mapping[str, Any]]], dict[str, float]]


@dataclass(frozen=True)
class RewriteContext:
    """What a rewrite family may use to decide and to build its candidates."""

    feeds: Sequence[Mapping[str, Any]] = ()
    ranges: Ranges | None = None
    target: Any = None          # the lowering.target.Target costed on, when one is


@dataclass(frozen=True)
class Candidate:
    """One applicable rewrite: ``apply(graph)`` returns the rewritten copy and how many places
    it changed."""

    name: str
    apply: Apply

    def as_pass(self) -> "CandidatePass":
        return CandidatePass(self)


class CandidatePass(RewritePass):
    """A candidate as a rewrite pass; how many places it changed goes to
    ``ctx.results[name]``."""

    def __init__(self, candidate: Candidate):
        self.candidate, self.name = candidate, candidate.name

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        out, changed = self.candidate.apply(graph)
        ctx.results[self.name] = {"changed": changed}
        return out


Offers = Callable[[Graph, RewriteContext], Iterable[Candidate]]


_REWRITES: dict[str, Offers] = {}


def register_rewrite(name: str, replace: bool = False) -> Callable[[Offers], Offers]:
    """Decorator: register ``offers(graph, ctx) -> candidates`` as the rewrite family ``name``."""
    def decorate(offers: Offers) -> Offers:
        return add_unique(_REWRITES, name, offers, "rewrite", replace)
    return decorate


def registered_rewrites() -> list[str]:
    """Names of the registered rewrite families, in registration order."""
    return list(_REWRITES)


def candidates(graph: Graph, ctx: RewriteContext | None = None) -> dict[str, Candidate]:
    """Every candidate of every registered family that applies to ``graph``, by name."""
    ctx = ctx or RewriteContext()
    found: dict[str, Candidate] = {}
    for offers in _REWRITES.values():
        found.update((c.name, c) for c in offers(graph, ctx))
    return found


def in_module(source: str, module: str | None) -> bool:
    """A node of module path ``source`` lies under ``module`` (every node when None)."""
    return module is None or source == module or source.startswith(module + ".")


def weighted(graph: Graph) -> list[Any]:
    """Nodes of matrix ops whose weight operand is a constant with data."""
    return [n for n in graph if n.traits.gemm is not None and n.traits.weights and
            len(n.inputs) > n.traits.weights[0] and
            n.inputs[n.traits.weights[0]].is_constant and
            getattr(n.inputs[n.traits.weights[0]], "data", None) is not None]


def top_modules(nodes: Iterable[Any]) -> list[str]:
    """The top-level modules of ``nodes``, in order."""
    found: list[str] = []
    for n in nodes:
        top = n.source.split(".")[0] if n.source else ""
        if top and top not in found:
            found.append(top)
    return found
