"""The ``nexus`` command line. Every failure is one line on stderr and a non-zero exit;
``--debug`` shows the traceback instead."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .errors import NexusError

EXIT_ERROR = 2


def _cmd_example(args: argparse.Namespace) -> int:
    from .api import example_graph
    from .examples import EXAMPLES

    if args.list:
        print("\n".join(EXAMPLES))
        return 0
    graph = example_graph(args.name)
    graph.verify()
    if args.bind:
        graph = graph.bind_symbols(_parse_bindings(args.bind))
    print(graph.to_json(indent=2) if args.format == "json" else graph.to_text(), end="")
    if args.format == "json":
        print()
    return 0


def _parse_bindings(items: Sequence[str]) -> dict[str, int]:
    bindings = {}
    for item in items:
        name, sep, size = item.partition("=")
        if not sep or not size.strip().isdigit():
            raise NexusError(f"--bind expects NAME=SIZE (e.g. batch=8), got '{item}'")
        bindings[name.strip()] = int(size)
    return bindings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nexus",
        description="NEXUS: a physics-grounded energy analyzer for ML models, built like a "
                    "compiler.")
    parser.add_argument("--version", action="version", version=f"nexus-ml {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND")
    example = verbs.add_parser("example", help="print a bundled example model as NEXUS IR",
                               description="Build a bundled example model in code, verify it "
                                           "and print its IR.")
    example.add_argument("name", nargs="?", default="cnn", help="example name (default: cnn)")
    example.add_argument("--format", choices=("text", "json"), default="text")
    example.add_argument("--bind", nargs="*", default=[], metavar="NAME=SIZE",
                         help="bind symbolic dims, e.g. batch=8")
    example.add_argument("--list", action="store_true", help="list the examples")
    example.set_defaults(handler=_cmd_example)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except NexusError as err:
        if args.debug:
            raise
        print(f"nexus: error: {err}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
