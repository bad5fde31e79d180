"""ONNX frontend: ``.onnx`` files and ``ModelProto`` objects to NEXUS IR.

``from_onnx(path_or_model)`` checks the file, loads external weights only from inside the
model's folder, upgrades opsets older than 13 with ONNX's version converter, runs ONNX shape
inference (symbolic dims kept as named symbols) and maps each node through the ``HANDLERS``
table, keyed by ``(domain, op_type)``: the standard ``ai.onnx`` ops and the ``ai.onnx.ml``
classic-ML ops (tree ensembles with their full structure, linear models, SVMs, scalers,
normalizers, encoders).

Shape arithmetic (``Shape → Gather → Concat → Reshape`` and friends) is evaluated at load time,
symbolically where sizes are symbols, so reshapes get their real target shapes and no IR node is
spent on it. Anything the table lacks, or a handler cannot express, becomes an ``opaque`` node
typed by ONNX shape inference and is reported with an ``UnmappedOpsWarning``: the frontend never
fails on a valid model because of an op it does not know, and never costs it as zero.
"""

from . import ml, standard  # noqa: F401  (importing them fills HANDLERS)
from .convert import HANDLERS, from_onnx, onnx_op
from .load import ONNX_DTYPES, UnmappedOpsWarning, load_model

__all__ = ["HANDLERS", "ONNX_DTYPES", "UnmappedOpsWarning", "from_onnx", "load_model", "onnx_op"]
