"""ATen ops that write into an existing tensor — how static and paged KV caches take a new token:
each becomes an ``update`` of the buffer that moves only the written elements (the positions
written are data, not shape: NEXUS counts how many, not which). In-place forms (``index_copy_``)
share their handler with the functional ones (the table lookup drops a trailing ``_``)."""

from __future__ import annotations

from nexus_ir import Value

from .base import aten


def _written(lw, buffer: Value, source: Value) -> Value:
    if source.type.dtype != buffer.type.dtype:
        source = lw.op("cast", source, to=buffer.type.dtype.name)
    return lw.op("update", buffer, source)


@aten("index_copy")
def _index_copy(lw, a, kw, node):
    """``index_copy(self, dim, index, source)``: ``source`` written along ``dim``."""
    return _written(lw, a[0], a[3])


@aten("index_put")
def _index_put(lw, a, kw, node):
    """``index_put(self, indices, values, accumulate)``: ``values`` written (or added) in
    place."""
    return _written(lw, a[0], a[2])


@aten("slice_scatter", "copy")
def _scatter(lw, a, kw, node):
    """``slice_scatter(self, src, ...)`` and ``copy_(self, src)``: ``src`` written into
    ``self``."""
    return _written(lw, a[0], a[1])
