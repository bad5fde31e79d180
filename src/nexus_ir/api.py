"""The public face of NEXUS: the one module of ``nexus_ir`` that reaches into frontends, passes
and lowering, lazily inside its functions. ``compile()`` arrives with the cost model."""

from __future__ import annotations

from .examples import EXAMPLES
from .errors import NexusError
from .graph import Graph


def example_graph(name: str = "cnn") -> Graph:
    """A bundled example graph by name (``nexus example --list`` shows them)."""
    try:
        return EXAMPLES[name]()
    except KeyError:
        raise NexusError(f"unknown example '{name}'; choose one of {', '.join(EXAMPLES)}") from None
