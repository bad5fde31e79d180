"""The public face of NEXUS (floor 4 of DESIGN.md): ``compile()`` and the other user-facing
functions, the ``nexus`` command line, report rendering and the bundled examples. It may import
every floor below; nothing below imports it (``nexus_ir/__init__`` re-exports it lazily)."""

from .api import compile, example_graph, load_graph, prepare
from .llm import llm

__all__ = ["compile", "example_graph", "llm", "load_graph", "prepare"]
