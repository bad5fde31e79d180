"""Declarative pattern rewriting.

A rule pairs a pattern with a replacement. Patterns are built from three pieces:

- ``op(name, *operands, **attrs)`` matches a node applying ``name`` (or any of a tuple of names)
  whose operands match the operand patterns, and whose attributes equal the given values or
  satisfy the given predicates;
- ``var(name)`` matches any value and binds it (the same name twice must bind the same value);
- ``const(value)`` matches a constant whose data is present and every element equals ``value``
  (``const()`` matches any constant).

Example, ``mul(x, 1) -> x``::

    rule = RewriteRule("mul-one", op("mul", var("x"), const(1.0), commutative=True),
                       replace=lambda m: m["x"],
                       where=lambda m: m["x"].type == m.root.outputs[0].type)
    rewrite(graph, [rule])

The replacement receives a ``Match``: captured values by name, the matched root node, and
``m.build(op, *inputs, **attrs)`` which inserts a new node before the root, with its source. It
returns the value(s) that replace the root's outputs (types must be equal), or None to decline.
Matched nodes left without users are erased.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nexus_ir import Constant, Graph, GraphError, Node, Value
from nexus_ir.attrs import values_equal

from .base import PassContext, RewritePass


class Pattern:
    """Base of value patterns."""

    def match(self, value: Value, m: "Match") -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class VarPattern(Pattern):
    name: str
    where: Callable[[Value], bool] | None = None

    def match(self, value: Value, m: "Match") -> bool:
        if self.where is not None and not self.where(value):
            return False
        return m._bind(self.name, value)


@dataclass(frozen=True)
class ConstPattern(Pattern):
    value: float | int | None = None
    name: str | None = None

    def match(self, value: Value, m: "Match") -> bool:
        if not isinstance(value, Constant):
            return False
        if self.value is not None and (value.data is None or value.data.size == 0
                                       or not bool(np.all(value.data == self.value))):
            return False
        return self.name is None or m._bind(self.name, value)


@dataclass(frozen=True)
class OpPattern(Pattern):
    ops: tuple[str, ...]
    operands: tuple[Pattern, ...]
    attrs: tuple[tuple[str, Any], ...] = ()
    name: str | None = None
    commutative: bool = False
    single_use: bool = True
    rest: bool = False

    def match_node(self, node: Node, m: "Match") -> bool:
        count = len(node._inputs)
        if node.op not in self.ops or count < len(self.operands) or \
                count > len(self.operands) and not self.rest:
            return False
        for key, want in self.attrs:
            if key not in node.attributes:
                return False
            got = node.attributes[key]
            if not (want(got) if callable(want) else values_equal(got, want)):
                return False
        orders = [self.operands]
        if self.commutative and len(self.operands) == 2:
            orders.append(self.operands[::-1])
        for order in orders:
            saved = m._save()
            if all(p.match(v, m) for p, v in zip(order, node._inputs)):
                m.nodes.append(node)
                return self.name is None or m._bind(self.name, node)
            m._restore(saved)
        return False

    def match(self, value: Value, m: "Match") -> bool:
        node = value.producer
        if node is None or len(node.outputs) != 1:
            return False
        if self.single_use and (len(value._users) != 1 or value in value.graph.outputs):
            return False
        return self.match_node(node, m)


def op(name: str | Sequence[str], *operands: Pattern, capture: str | None = None,
       commutative: bool = False, single_use: bool = True, rest: bool = False,
       **attrs: Any) -> OpPattern:
    """Match a node applying ``name`` (or one of several names). Nested op patterns by default
    require the inner value to have a single user, so the rewrite never duplicates work. With
    ``rest`` the node may have more operands than patterns given (a bias, say); those match
    anything."""
    names = (name,) if isinstance(name, str) else tuple(name)
    return OpPattern(names, operands, tuple(attrs.items()), capture, commutative, single_use,
                     rest)


def var(name: str, where: Callable[[Value], bool] | None = None) -> VarPattern:
    """Match any value (optionally one satisfying ``where``) and capture it as ``name``."""
    return VarPattern(name, where)


def const(value: float | int | None = None, capture: str | None = None) -> ConstPattern:
    """Match a constant whose every element equals ``value`` (any constant if None)."""
    return ConstPattern(value, capture)


@dataclass
class Match:
    """A successful match: captures by name, the root node, and the nodes matched."""

    root: Node
    graph: Graph
    captures: dict[str, Any] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)

    def __getitem__(self, name: str) -> Any:
        return self.captures[name]

    def _bind(self, name: str, item: Any) -> bool:
        bound = self.captures.get(name)
        if bound is None:
            self.captures[name] = item
            return True
        return bound is item

    def _save(self) -> tuple[dict[str, Any], int]:
        return dict(self.captures), len(self.nodes)

    def _restore(self, saved: tuple[dict[str, Any], int]) -> None:
        self.captures = saved[0]
        del self.nodes[saved[1]:]

    def build(self, op_name: str, *inputs: Value, **attrs: Any) -> Value:
        """Insert ``op_name(inputs)`` before the matched root, carrying the root's source."""
        node = self.graph.add_node(op_name, inputs, attrs, source=self.root.source,
                                   before=self.root)
        return node.outputs[0]


Replacement = Callable[[Match], "Value | Sequence[Value] | None"]


@dataclass(frozen=True)
class RewriteRule:
    """``pattern`` (rooted at an op) rewritten by ``replace`` where ``where`` holds."""

    name: str
    pattern: OpPattern
    replace: Replacement
    where: Callable[[Match], bool] | None = None

    def try_apply(self, node: Node, graph: Graph) -> bool:
        m = Match(node, graph)
        if not self.pattern.match_node(node, m):
            return False
        if self.where is not None and not self.where(m):
            return False
        result = self.replace(m)
        if result is None:
            return False
        new = [result] if isinstance(result, Value) else list(result)
        if len(new) != len(node.outputs):
            raise GraphError(f"rule {self.name}: replacement gives {len(new)} values for "
                             f"{len(node.outputs)} outputs")
        for old, value in zip(node.outputs, new):
            if old.type != value.type:
                raise GraphError(f"rule {self.name}: replacement %{value.name} has type "
                                 f"{value.type} but %{old.name} has {old.type}; guard the rule "
                                 "with where=")
            graph.replace_all_uses(old, value)
        for matched in reversed(m.nodes):
            if matched.graph is graph and not any(o._users or o in graph.outputs
                                                  for o in matched.outputs):
                graph.erase_node(matched)
        return True


def rewrite(graph: Graph, rules: Sequence[RewriteRule], max_sweeps: int = 16) -> dict[str, int]:
    """Apply ``rules`` in place, sweeping the graph until nothing matches (at most
    ``max_sweeps`` sweeps); returns how often each rule fired."""
    fired = {r.name: 0 for r in rules}
    for _ in range(max_sweeps):
        changed = False
        for node in graph:
            if node.graph is not graph:
                continue
            for rule in rules:
                if rule.try_apply(node, graph):
                    fired[rule.name] += 1
                    changed = True
                    break
        if not changed:
            break
    return fired


class PatternRewritePass(RewritePass):
    """A rewrite pass applying ``rules`` to a copy of the graph; the counts of fired rules go to
    ``ctx.results[name]``."""

    def __init__(self, name: str, rules: Sequence[RewriteRule], preserves: tuple[str, ...] = ()):
        self.name, self.rules, self.preserves = name, list(rules), preserves

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        out = graph.clone()
        ctx.results[self.name] = rewrite(out, self.rules)
        return out
