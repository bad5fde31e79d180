"""Exception types raised by the NEXUS IR.

Every error carries one message that names the problem and, where there is one, the fix.
"""

from __future__ import annotations


class NexusError(Exception):
    """Base class of every error NEXUS raises on purpose."""


class ShapeError(NexusError):
    """Operand types do not fit an op (shape, rank or dtype)."""


class AttrError(NexusError):
    """An op attribute is missing, unknown or of the wrong kind."""


class UnknownOpError(NexusError):
    """An op name nobody registered."""


class GraphError(NexusError):
    """A structural edit of a graph would leave it inconsistent."""


class SerializationError(NexusError):
    """JSON input or output that does not follow the NEXUS graph schema."""


class VerificationError(NexusError):
    """A graph failed verification; ``problems`` lists every finding. The message is one line
    (the CLI's promise): the count, then every problem, separated by "; "."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        count = len(self.problems)
        header = f"graph verification failed with {count} problem{'s' if count != 1 else ''}"
        super().__init__(f"{header}: {'; '.join(self.problems)}")


def install_hint(extra: str) -> str:
    """The command that installs the optional dependencies ``extra`` names, from an index and
    from a checkout of this repository."""
    return f"pip install 'nexus-ml[{extra}]' (from a checkout: pip install -e '.[{extra}]')"
