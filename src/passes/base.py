"""Passes: the unit of analysis and rewriting.

An analysis pass reads a graph and writes ``node.annotations[<its name>]`` (and may leave a
graph-level result in ``ctx.results[<its name>]``); a rewrite pass returns a graph (a rewritten
copy, or the same graph edited). Passes are registered by name so pipelines, dependencies and the
CLI can name them. A custom analysis pass is one function and one decorator::

    @analysis_pass("weight_bytes")
    def weight_bytes(node, ctx):
        return sum(v.type.nbytes for v in node.inputs if v.is_constant)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nexus_ir import Graph, NexusError
from nexus_ir.registry import add_unique


@dataclass
class PassContext:
    """What passes share during one pipeline run: options (e.g. the target) and graph-level
    results keyed by pass name."""

    options: Mapping[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)


class Pass:
    """Base of all passes. ``requires`` names analyses that must be current before it runs."""

    name: str = ""
    requires: tuple[str, ...] = ()

    def run(self, graph: Graph, ctx: PassContext) -> Graph | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class AnalysisPass(Pass):
    """Reads the graph; writes ``node.annotations[self.name]``; returns None."""

    def run(self, graph: Graph, ctx: PassContext) -> None:
        raise NotImplementedError


class RewritePass(Pass):
    """Returns the rewritten graph. ``preserves`` names analyses that stay valid after it; all
    others are invalidated and re-run by the pass manager."""

    preserves: tuple[str, ...] = ()

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        raise NotImplementedError


class FunctionAnalysisPass(AnalysisPass):
    """An analysis pass made from a function, per node or per graph (see ``analysis_pass``)."""

    def __init__(self, name: str, fn: Callable[..., Any], requires: tuple[str, ...], per: str):
        if per not in ("node", "graph"):
            raise NexusError(f"analysis pass {name}: per must be 'node' or 'graph', got {per!r}")
        self.name, self.fn, self.requires, self.per = name, fn, tuple(requires), per
        self.__doc__ = fn.__doc__

    def run(self, graph: Graph, ctx: PassContext) -> None:
        if self.per == "graph":
            ctx.results[self.name] = self.fn(graph, ctx)
            return
        for node in graph:
            node.annotations.pop(self.name, None)
            value = self.fn(node, ctx)
            if value is not None:
                node.annotations[self.name] = value


_PASSES: dict[str, Callable[[], Pass]] = {}


def register_pass(factory: Callable[[], Pass], name: str | None = None,
                  replace: bool = False) -> Callable[[], Pass]:
    """Make a pass available by name; ``factory`` builds a fresh instance (a Pass subclass with
    a no-argument constructor, or any callable)."""
    key = name or getattr(factory, "name", "")
    if not key:
        raise NexusError("a registered pass needs a name")
    return add_unique(_PASSES, key, factory, "pass", replace)


def analysis_pass(name: str, *, requires: tuple[str, ...] = (), per: str = "node",
                  replace: bool = False) -> Callable[[Callable[..., Any]], FunctionAnalysisPass]:
    """Decorator: turn ``fn(node, ctx) -> value`` into a registered analysis pass.

    The value (unless None) is stored as ``node.annotations[name]``. With ``per="graph"`` the
    function is ``fn(graph, ctx) -> result`` and the result goes to ``ctx.results[name]``.
    """
    def decorate(fn: Callable[..., Any]) -> FunctionAnalysisPass:
        instance = FunctionAnalysisPass(name, fn, requires, per)
        register_pass(lambda: instance, name, replace=replace)
        return instance
    return decorate


def get_pass(name: str) -> Pass:
    """A fresh instance of the pass registered as ``name``."""
    factory = _PASSES.get(name)
    if factory is None:
        known = ", ".join(sorted(_PASSES)) or "none"
        raise NexusError(f"unknown pass '{name}' (registered: {known})")
    return factory()


def registered_passes() -> list[str]:
    return sorted(_PASSES)


def annotations_of(graph: Graph, name: str) -> dict[str, Any]:
    """``{node name: annotation}`` for every node carrying annotation ``name``."""
    return {n.name: n.annotations[name] for n in graph if name in n.annotations}


__all__ = ["AnalysisPass", "FunctionAnalysisPass", "Pass", "PassContext", "RewritePass",
           "analysis_pass", "annotations_of", "get_pass", "register_pass", "registered_passes"]
