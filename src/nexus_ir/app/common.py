"""What the ``nexus`` commands share: the progress console, ``--bind`` parsing, SI units."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import NexusError
from ..units import si

__all__ = ["add_calibration_option", "calibration_data", "parse_bindings", "progress_console",
           "si"]


def progress_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def parse_bindings(items: Sequence[str]) -> dict[str, int]:
    bindings = {}
    for item in items:
        name, sep, size = item.partition("=")
        if not sep or not size.strip().isdigit():
            raise NexusError(f"--bind expects NAME=SIZE (e.g. batch=8), got '{item}'")
        bindings[name.strip()] = int(size)
    return bindings


def calibration_data(path: str | None) -> dict[str, Any] | None:
    """The arrays of a calibration ``.npz`` by input name (no pickles), None without one."""
    if path is None:
        return None
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as err:
        raise NexusError(f"cannot read calibration data {path}: {err} (save arrays by input "
                         "name with numpy.savez)") from None


def add_calibration_option(parser: Any) -> None:
    """``--calibration-data``: the inputs compile and diagnose read data statistics from."""
    parser.add_argument("--calibration-data", default=None, metavar="DATA.npz",
                        help="inputs to read data statistics from (arrays by input name, the "
                             "first axis counting the inputs; rows for classic models): "
                             "switching activity and DDEV, the spread of energy across them")
