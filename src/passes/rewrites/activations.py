"""Activation swaps as declarative pattern rules: GELU→tanh-GELU or ReLU, SiLU→hardswish,
sigmoid→hardsigmoid."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from nexus_ir import Graph, NexusError

from ..pattern import RewriteRule, op, rewrite, var
from .registry import Candidate, RewriteContext, in_module, register_rewrite

SWAPS: dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]] = {
    "gelu->gelu_tanh": ("gelu", {"approximate": "none"}, "gelu", {"approximate": "tanh"}),
    "gelu->relu": ("gelu", {}, "relu", {}),
    "silu->hardswish": ("silu", {}, "hardswish", {}),
    "sigmoid->hardsigmoid": ("sigmoid", {}, "hardsigmoid", {}),
}


def _under(module: str | None) -> Callable[[Any], bool]:
    return lambda m: in_module(m.root.source, module)


def swap_rule(swap: str, module: str | None = None) -> RewriteRule:
    """A declarative rule for one activation swap (``SWAPS``), optionally only under
    ``module``."""
    if swap not in SWAPS:
        raise NexusError(f"unknown activation swap '{swap}' (known: {', '.join(SWAPS)})")
    source, source_attrs, target, target_attrs = SWAPS[swap]
    return RewriteRule(swap, op(source, var("x"), **source_attrs),
                       replace=lambda m: m.build(target, m["x"], **target_attrs),
                       where=_under(module))


def swap_activations(graph: Graph, swaps: Sequence[str], module: str | None = None
                     ) -> tuple[Graph, dict[str, int]]:
    """A copy of ``graph`` with the swaps applied; how many nodes each rule changed."""
    out = graph.clone()
    return out, rewrite(out, [swap_rule(s, module) for s in swaps])


def _swap(swap: str) -> Callable[[Graph], tuple[Graph, int]]:
    def make(graph: Graph) -> tuple[Graph, int]:
        rewritten, counts = swap_activations(graph, [swap])
        return rewritten, sum(counts.values())
    return make


@register_rewrite("activation-swap")
def swap_candidates(graph: Graph, ctx: RewriteContext) -> Iterator[Candidate]:
    """One candidate per swap whose source activation the graph holds."""
    for swap, (source, attrs, _, _) in SWAPS.items():
        if any(n.op == source and all(n.attributes.get(k) == v for k, v in attrs.items())
               for n in graph):
            yield Candidate(f"swap {swap}", _swap(swap))
