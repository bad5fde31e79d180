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


def _cmd_compile(args: argparse.Namespace) -> int:
    from .api import compile as compile_model

    report = compile_model(args.model, target=args.target, bindings=_parse_bindings(args.bind),
                           capability=args.capability, output_units=args.output_units,
                           trust_pickle=args.trust_pickle)
    text = report.to_json() + "\n" if args.format == "json" else str(report) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _cmd_targets(args: argparse.Namespace) -> int:
    from lowering.target import list_targets, load_target

    if args.name is None:
        for name in list_targets():
            print(f"{name:<16} {load_target(name).description}")
        return 0
    target = load_target(args.name)
    print(f"{target.name}: {target.description} ({target.path})")
    for note in target.notes:
        print(f"  note: {note}")
    for key, value, source in target.provenance():
        print(f"  {key:<36} {value:<12.6g} {source}")
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

    comp = verbs.add_parser("compile", help="cost a model on a hardware target",
                            description="Compile a model to an energy report: primitive ops, "
                                        "transistor operations, bytes per memory level, time and "
                                        "joules on the target, and the six NEXUS metrics.")
    comp.add_argument("model", help="a .pt2 program, a NEXUS graph .json file, or example:NAME "
                                     "(e.g. example:cnn)")
    comp.add_argument("--target", default="h100",
                      help="bundled target name or .toml path (default: h100)")
    comp.add_argument("--bind", nargs="*", default=[], metavar="NAME=SIZE",
                      help="sizes of symbolic dims, e.g. batch=1")
    comp.add_argument("--format", choices=("table", "json"), default="table")
    comp.add_argument("--capability", type=float, default=None,
                      help="capability score (accuracy, F1, ...) for ECU and CpTO")
    comp.add_argument("--output-units", type=int, default=None,
                      help="tokens or samples per inference (default: from the output shape)")
    comp.add_argument("-o", "--output", default=None, help="write the report to this file")
    comp.add_argument("--trust-pickle", action="store_true",
                      help="allow model files whose loading unpickles (.pt2): only for files you "
                           "trust, since unpickling can run code")
    comp.set_defaults(handler=_cmd_compile)

    targets = verbs.add_parser("targets", help="list hardware targets, or show one with "
                                               "the source of every number")
    targets.add_argument("action", nargs="?", choices=("show",), help="show one target")
    targets.add_argument("name", nargs="?", default=None)
    targets.set_defaults(handler=_cmd_targets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 0
    if getattr(args, "action", None) == "show" and args.name is None:
        parser.error("targets show needs a target name")
    try:
        return args.handler(args)
    except NexusError as err:
        if args.debug:
            raise
        print(f"nexus: error: {err}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
