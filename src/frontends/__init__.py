"""Frontends: PyTorch (torch.export), ONNX, scikit-learn and XGBoost models → ``nexus_ir.Graph``.
Each frontend imports its heavy dependency inside its own module, through ``require``."""

from __future__ import annotations

import importlib
from types import ModuleType

from nexus_ir import NexusError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or fail with one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise NexusError(f"this model needs the Python package '{module.split('.')[0]}', which "
                         f"is not installed: pip install 'nexus-ml[{extra}]'") from None
