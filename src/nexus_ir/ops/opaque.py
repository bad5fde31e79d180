"""``opaque``: an op NEXUS does not model, kept in the graph with its original name.

Its output types come from the frontend (they cannot be inferred); any further attributes of the
original op are kept. Reports list every opaque node as unmodeled: its cost is unknown, never 0.
"""

from __future__ import annotations

from ..attrs import STR, Attr
from ..registry import define_op

define_op("opaque", infer=None, inputs=(0, None), category="opaque", open_attrs=True,
          attrs={"target": Attr(STR, doc="the original op, e.g. aten::foo.default or ai.onnx::Bar")},
          doc=__doc__ or "")
