"""The cyclic garbage collector around NEXUS's big steps: paused while many objects that all
stay reachable are built (a graph from JSON), frozen while a built graph is costed (collections
then skip its nodes and weights instead of traversing them on every allocation burst)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No collection inside: every object made here stays reachable, and collections triggered
    by the allocation count alone make building large graphs superlinear."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """Everything alive on entry moved out of the collector's reach until exit (``gc.freeze``):
    costing a graph allocates many short-lived objects, and each collection would otherwise walk
    the whole graph — 250 ms a collection on a 70B-parameter decoder's graph."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
