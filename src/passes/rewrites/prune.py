"""Structured channel pruning by L1 norm: weight shapes and every consumer shrink together."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nexus_ir import Constant, Graph, NexusError

from .common import rebuild
from .registry import Candidate, RewriteContext, in_module, register_rewrite, weighted

PRUNE_RATIOS = (0.25, 0.5)


def _channel_axis(node: Any) -> int | None:
    """Where ``node``'s output channels sit if it owns them (its ``channels`` trait)."""
    return node.traits.channels(node) if node.traits.channels is not None else None


def _keeps_channels(user: Any, value: Any, channels_last: bool) -> bool:
    """Whether ``user`` passes the channels of ``value`` through unchanged (its traits: an
    elementwise op anywhere; pooling and batch norm over NCHW; a reduction or a flatten that
    leaves the batch and channel axes alone)."""
    traits, rank = user.traits, value.type.rank
    if traits.channelwise == "any":
        return True
    if channels_last:
        return False
    if traits.channelwise == "channels-first":
        return True
    if traits.kind == "reduction" and "axes" in user.attributes:
        axes = [a % rank for a in user.attributes["axes"] or ()]
        return bool(axes) and 0 not in axes and 1 not in axes
    if traits.view and "start_axis" in user.attributes:
        return user.attributes["start_axis"] == 1 and all(d == 1 for d in value.type.shape[2:])
    return False


def _channel_chain(producer: Any) -> tuple[list[Any], Any] | None:
    """From a channel owner's output, the single-reader chain of ops that keep the channels,
    ending in one channel owner reading them as its input features; None when the channels
    escape anywhere else."""
    channels_last = _channel_axis(producer) == -1
    chain, value = [], producer.outputs[0]
    while True:
        users = value.users
        if len(users) != 1 or value in value.graph.outputs:
            return None
        user = users[0]
        if user.inputs[0] is not value or any(v is value for v in user.inputs[1:]):
            return None
        if user.traits.channels is not None:
            return (chain, user) if _channel_axis(user) is not None else None
        if not _keeps_channels(user, value, channels_last):
            return None
        chain.append(user)
        value = user.outputs[0]


def prune_channels(graph: Graph, ratio: float, module: str | None = None) -> tuple[Graph, int]:
    """Structured pruning by L1 norm: every conv/linear whose output channels reach exactly one
    conv/linear through ops that keep channels loses the ``ratio`` of its output channels with
    the smallest L1 weight norms; its bias, the batch-norm parameters on the way and the
    reader's input channels shrink with it. Returns the graph and the number of layers
    pruned."""
    if not 0.0 < ratio < 1.0:
        raise NexusError(f"prune ratio {ratio}: give a fraction between 0 and 1")
    data: dict[str, np.ndarray] = {}
    pruned = 0
    for node in graph:
        if _channel_axis(node) is None or not in_module(node.source, module):
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
    return (rebuild(graph, data) if pruned else graph.clone()), pruned


@register_rewrite("prune")
def prune_candidates(graph: Graph, ctx: RewriteContext) -> Iterator[Candidate]:
    """Prune 25 % and 50 % of the channels of every layer whose channels can shrink."""
    if weighted(graph):
        for ratio in PRUNE_RATIOS:
            yield Candidate(f"prune {ratio:.0%} channels", lambda g, r=ratio: prune_channels(g, r))
