"""NEXUS IR: typed dataflow graphs with bit widths, the foundation every NEXUS pass stands on.

Build a graph, verify it, print it, serialize it::

    import nexus_ir as nx
    g = nx.Graph("mlp")
    x = g.add_input("x", "f32[batch,784]")
    w = g.add_constant("fc.weight", type_="f32[10,784]")
    g.set_outputs(g.op("relu", g.op("linear", x, w, source="fc"), source="act"))
    g.verify()
    print(g)
"""

from __future__ import annotations

from . import dims, ops  # noqa: F401  (importing ops registers the core op set)
from .attrs import (ANY, ARRAY, BOOL, DIMS, DTYPE, FLOAT, FLOATS, INT, INTS, STR, Attr, Kind,
                    one_of, optional)
from .dtypes import (ALL_DTYPES, DType, DTypeKind, bf16, dtype, f4e2m1, f8e4m3, f8e5m2, f16, f32,
                     f64, from_numpy, i1, i4, i8, i16, i32, i64, tf32, to_numpy, u8)
from .errors import (AttrError, GraphError, NexusError, SerializationError, ShapeError,
                     UnknownOpError, VerificationError)
from .graph import Constant, Graph, Node, Value
from .report import EnergyReport, ModuleCost, NodeCost, register_renderer
from .registry import OpDef, define_op, get_op, is_registered, register_op, registered_ops
from .types import TensorType

__version__ = "0.1.0"


PUBLIC_FACE = ("compile", "prepare", "load_graph", "example_graph", "llm")
"""Names of the public face (``nexus_ir.app``) that ``nexus_ir`` re-exports lazily."""


def __getattr__(name: str):
    """``nx.compile`` and the other public functions, imported from ``nexus_ir.app`` on first
    use so that ``import nexus_ir`` stays light (DESIGN.md: the package init is the one place
    the core refers to the floor above it)."""
    if name in PUBLIC_FACE:
        from . import app
        return getattr(app, name)
    raise AttributeError(f"module 'nexus_ir' has no attribute {name!r}")


def _lazy_renderer(kind: str):
    def render(report: EnergyReport) -> str:
        from .app import render_html, render_text
        return {"text": render_text.report_text, "html": render_html.report_html,
                "notebook": render_html.notebook_html}[kind](report)
    return render


for _kind in ("text", "html", "notebook"):
    register_renderer(_kind, _lazy_renderer(_kind))


__all__ = [
    "ALL_DTYPES", "ANY", "ARRAY", "BOOL", "DIMS", "DTYPE", "FLOAT", "FLOATS", "INT", "INTS", "STR",
    "Attr", "AttrError", "Constant", "EnergyReport", "ModuleCost", "NodeCost", "compile", "DType", "DTypeKind", "Graph", "GraphError", "Kind",
    "NexusError", "Node", "OpDef", "SerializationError", "ShapeError", "TensorType",
    "UnknownOpError", "Value", "VerificationError", "bf16", "define_op", "dims", "dtype",
    "f4e2m1", "f8e4m3", "f8e5m2", "f16", "f32", "f64", "from_numpy", "get_op", "i1", "i4", "i8",
    "i16", "i32", "i64", "is_registered", "one_of", "optional", "register_op", "registered_ops",
    "tf32", "to_numpy", "u8",
]
