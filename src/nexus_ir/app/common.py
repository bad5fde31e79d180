"""What the ``nexus`` commands share: the progress console and ``--bind`` parsing."""

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
