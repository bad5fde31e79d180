"""What the ``nexus`` commands share: the progress console, ``--bind`` parsing, SI units,
calibration data, the output format and the terminal width."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import NexusError
from ..units import si

__all__ = ["OBJECTIVES", "add_calibration_option", "calibration_data", "check_folder",
           "check_objective", "fit_verdict", "memory_levels", "one_per_model", "output_format",
           "parse_bindings", "progress_console", "si", "terminal_width", "write_output"]


def memory_levels(metrics: Any) -> str:
    """"flash 98.4 kB of 2.1 MB, sram 23 kB of 655 kB": each memory a report's model needs,
    beside its capacity (``memory_needed``, ``memory_capacity``)."""
    return ", ".join(f"{name} {si(need, 'B')} of {si(metrics['memory_capacity'][name], 'B')}"
                     for name, need in metrics["memory_needed"].items())


def fit_verdict(fits: bool) -> str:
    return "fits" if fits else "does NOT fit"


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


OBJECTIVES = {"energy": "energy_j", "latency": "latency_s", "edp": "edp_js", "carbon": "co2e_g"}
"""What compare --objective ranks by: the metric each names."""

FORMAT_OF_SUFFIX = {".txt": "table", ".json": "json", ".html": "html", ".htm": "html",
                    ".csv": "csv"}


def output_format(args: argparse.Namespace, formats: Sequence[str]) -> str:
    """The format to write: ``--format``, else what ``-o``'s extension says, else ``table``;
    a ``--format`` that contradicts the extension, or an extension the command cannot write
    without one, is refused."""
    if args.output:
        check_folder(args.output)
    suffix = Path(args.output).suffix.lower() if args.output else ""
    implied = FORMAT_OF_SUFFIX.get(suffix)
    if args.format and implied and implied != args.format:
        raise NexusError(f"--format {args.format} contradicts -o {args.output} ({implied}); "
                         "drop one of them")
    chosen = args.format or implied or "table"
    if chosen not in formats:
        raise NexusError(f"-o {args.output}: this command writes {', '.join(formats)}, not "
                         f"{chosen}; give --format")
    return chosen


def terminal_width() -> int:
    """Columns of the terminal the summary prints to (the text width off a terminal)."""
    import shutil

    from .render_text import TEXT_WIDTH
    return shutil.get_terminal_size((TEXT_WIDTH, 24)).columns if sys.stdout.isatty() \
        else TEXT_WIDTH


def check_folder(path: str | Path) -> None:
    """The folder a file is to be written into exists: one clear line otherwise, said before
    any costing."""
    if not Path(path).parent.is_dir():
        raise NexusError(f"cannot write {path}: the folder {Path(path).parent} does not exist "
                         "(create it first)")


def write_output(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically: into a temporary file beside it, then renamed over
    it, so a failed write leaves the previous file whole; a symlink at ``path`` is replaced by
    the file, never written through. A missing folder is one clear error."""
    import os
    import tempfile

    target = Path(path)
    check_folder(target)
    if target.is_dir():
        raise NexusError(f"cannot write {target}: it is a folder; give a file name")
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_objective(args: argparse.Namespace) -> None:
    """An ``--objective`` the other options can serve: carbon needs a grid."""
    if args.objective == "carbon" and args.grid is None:
        raise NexusError("--objective carbon needs --grid (a country such as FR, or a cloud "
                         "region such as gcp:europe-west1)")


def one_per_model(option: str, values: Sequence[Any], models: Sequence[str]) -> None:
    """An option given once per MODEL, in order: refused when the counts differ."""
    if len(values) != len(models):
        raise NexusError(f"{option} is given {len(values)} times for {len(models)} models: "
                         "give one per MODEL, in order")
