"""PyTorch frontend: ``torch.export`` programs to NEXUS IR.

One module per concern: ``base`` (dtypes, tensor types, the lowering state and the ATen
handler table), ``aten`` (the ATen op table, its data-movement ops in ``aten_movement``),
``export`` (exporting modules, the driver that walks an exported program, ``.pt2`` files,
example tensors and factories). Importing torch happens inside the functions that need it.
"""

from .base import ATEN, TORCH_DTYPES, UnmappedOpsWarning, torch_dtype
from .export import (ORIGIN, example_tensor, export, from_exported, from_torch, is_torch_model,
                     load_pt2, positional_inputs, torch_factory)

__all__ = ["ATEN", "ORIGIN", "TORCH_DTYPES", "UnmappedOpsWarning", "example_tensor", "export",
           "from_exported", "from_torch", "is_torch_model", "load_pt2", "positional_inputs",
           "torch_dtype", "torch_factory"]
