"""Frontends: PyTorch (torch.export), ONNX, scikit-learn and XGBoost models → ``nexus_ir.Graph``,
found through the registry (``register_frontend``: by object type and by file suffix).
Each frontend imports its heavy dependency inside its own module, through ``require``."""

from __future__ import annotations

import importlib
from types import ModuleType

from nexus_ir import NexusError
from nexus_ir.errors import install_hint


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or fail with one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise NexusError(f"this model needs the Python package '{module.split('.')[0]}', which "
                         f"is not installed: {install_hint(extra)}") from None


from . import builtin  # noqa: E402,F401  (registers the built-in frontends, lazily)
from .factory import FACTORY_SPEC, load_factory  # noqa: E402
from .registry import (Frontend, frontend_for_file, frontend_for_object, load_file,  # noqa: E402
                       load_object, register_frontend, registered_frontends)

__all__ = ["FACTORY_SPEC", "Frontend", "frontend_for_file", "frontend_for_object", "load_factory",
           "load_file", "load_object", "register_frontend", "registered_frontends", "require"]
