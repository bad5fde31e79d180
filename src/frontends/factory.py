"""Models built by the user's own code: ``path/to/file.py:factory``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from nexus_ir import NexusError

FACTORY_SPEC = re.compile(r"^(?P<file>.+\.py):(?P<factory>[A-Za-z_]\w*)$")


def load_factory(spec: str) -> tuple[Any, Any]:
    """Run ``path/to/file.py:factory`` and return ``(model, example_inputs or None)``: the
    factory returns a model (an ``nn.Module``, an estimator, a Graph, …) or a pair
    ``(model, example_inputs)``. The file is executed as Python: point it only at code you
    trust, as you would ``python file.py``."""
    match = FACTORY_SPEC.match(spec)
    if match is None:
        raise NexusError(f"'{spec}' is not a factory reference; write path/to/file.py:function")
    path = Path(match["file"])
    if not path.is_file():
        raise NexusError(f"factory file {path} does not exist")
    module_spec = importlib.util.spec_from_file_location(f"nexus_factory_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SystemExit as stop:
        raise NexusError(f"importing {path} called sys.exit({stop.code!r}) instead of defining "
                         "the factory; guard scripts with if __name__ == '__main__'") from None
    except Exception as err:  # the user's file: any error it raises is reported as one line
        raise NexusError(f"importing {path} failed: {type(err).__name__}: {err}") from err
    factory = getattr(module, match["factory"], None)
    if not callable(factory):
        found = sorted(k for k, v in vars(module).items()
                       if callable(v) and not k.startswith("_") and
                       getattr(v, "__module__", None) == module.__name__)
        raise NexusError(f"{path} defines no function '{match['factory']}' (callables there: "
                         f"{', '.join(found) or 'none'})")
    try:
        made = factory()
    except SystemExit as stop:
        raise NexusError(f"{spec} called sys.exit({stop.code!r}) instead of returning a model") \
            from None
    except Exception as err:
        raise NexusError(f"{spec} raised {type(err).__name__}: {err}") from err
    if isinstance(made, tuple) and len(made) == 2:
        return made
    return made, None
