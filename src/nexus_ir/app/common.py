"""What the ``nexus`` commands share: the progress console, ``--bind`` parsing, SI units."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import NexusError


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


def si(value: float | None, unit: str) -> str:
    """``value`` with an SI prefix for people to read (5.06 mJ, 70.5 µs); '—' for None."""
    if value is None:
        return "—"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""),
                           (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= factor or factor == 1e-12:
            break
    return f"{value / factor:.3g} {prefix}{unit}"
