"""What the ``nexus`` commands share: the progress console, ``--bind`` parsing, SI units."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import NexusError
from ..units import si

__all__ = ["parse_bindings", "progress_console", "si"]


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
