"""The ``nexus`` command line. Every failure is one line on stderr and a non-zero exit;
``--debug`` shows the traceback instead."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import NexusError
from ..report import SCHEMA_VERSION, EnergyReport
from ..types import parse_input_shapes
from . import cli_choice, cli_measure, cli_optimize, cli_tinyml, common
from .common import parse_bindings

EXIT_ERROR = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
"""Ctrl-C: the shell's convention, 128 + SIGINT."""


def _cmd_example(args: argparse.Namespace) -> int:
    from .api import example_graph
    from .examples import EXAMPLES

    if args.list:
        print("\n".join(EXAMPLES))
        return 0
    graph = example_graph(args.name)
    graph.verify()
    if args.bind:
        graph = graph.bind_symbols(parse_bindings(args.bind))
    print(graph.to_json(indent=2) if args.format == "json" else graph.to_text(), end="")
    if args.format == "json":
        print()
    return 0


def model_and_shapes(given: str) -> tuple[str, dict[str, Any]]:
    """A MODEL argument with its own example shapes after ``@`` (``net.py:f@tokens=1x64:i64``,
    several joined by ``,``), so that compare can size a CNN and a transformer differently."""
    model, sep, shapes = given.rpartition("@")
    if not sep or not model or "=" not in shapes:
        return given, {}
    return model, parse_input_shapes(shapes.split(","))


def _compile_all(args: argparse.Namespace, models: Sequence[Any], targets: Sequence[str]
                 ) -> list[EnergyReport]:
    """Compile every model (a MODEL argument, or one already prepared: ``api.Prepared``) on
    every target, showing the current step on stderr."""
    from .api import compile as compile_model

    shared = parse_input_shapes(args.input_shape)
    calibration = common.calibration_data(getattr(args, "calibration_data", None))
    reports = []
    with common.progress_console().status("starting") as status:
        for given in models:
            if isinstance(given, str):
                model, own = model_and_shapes(given)
                shapes, bindings, label = {**shared, **own}, parse_bindings(args.bind), model
            else:
                model, shapes, bindings, label = given, {}, None, given.graph.name
            for target in targets:
                def step(text: str, where: str = f"{label} on {target}") -> None:
                    status.update(f"[bold]{where}[/bold]: {text}")
                reports.append(compile_model(
                    model, shapes or None, target=target, bindings=bindings,
                    capability=getattr(args, "capability", None),
                    output_units=getattr(args, "output_units", None),
                    trust_pickle=args.trust_pickle, progress=step,
                    execution=args.execution, math=args.math,
                    calibration=calibration,
                    dtype=getattr(args, "cost_dtype", None),
                    grid=getattr(args, "grid", None), pue=getattr(args, "pue", 1.0),
                    exact_bits=getattr(args, "exact_bits", False)))
    return reports


def _print_summary(summary: Sequence[Any]) -> None:
    """The terminal summary: in colour on a terminal, plain fixed-width text otherwise."""
    if sys.stdout.isatty():
        from rich.console import Console
        Console().print(*summary)
    else:
        from .render_text import to_text
        print(to_text(summary))


def _emit(args: argparse.Namespace, text: str, summary: Sequence[Any]) -> None:
    """Write ``text`` to ``-o`` (and the terminal summary to stdout), or print it."""
    if args.output:
        common.write_output(args.output, text)
        if args.format != "table":
            _print_summary(summary)
        print(f"wrote {args.output}", file=sys.stderr)
    elif args.format == "table":
        _print_summary(summary)
    else:
        sys.stdout.write(text)


def _cmd_compile(args: argparse.Namespace) -> int:
    from .render_text import report_renderables, to_text

    args.format = common.output_format(args, ("table", "json", "html", "csv"))
    report, = _compile_all(args, [args.model], [args.target])
    summary = report_renderables(report, args.depth, args.top, common.terminal_width(),
                                 by_energy=args.sort == "energy")
    text = {"json": lambda: report.to_json() + "\n", "csv": report.to_csv,
            "html": report.to_html, "table": lambda: to_text(
                report_renderables(report, args.depth, args.top, by_energy=args.sort ==
                                   "energy")) + "\n"}[args.format]()
    _emit(args, text, summary)
    return 0


def _cmd_llm(args: argparse.Namespace) -> int:
    from frontends.factory import FACTORY_SPEC, load_factory

    from .llm import llm, sweep_html, sweep_table
    from .render_text import to_text

    args.format = common.output_format(args, ("table", "json", "csv", "html"))
    model = load_factory(args.model)[0] if FACTORY_SPEC.match(args.model) else args.model
    rows = llm(model, args.target, batch=args.batch, context=args.context,
               generate=args.generate, execution=args.execution, weights=args.weights,
               kv=args.kv)
    summary = [sweep_table(rows)]
    text = {"json": lambda: rows.to_json() + "\n", "csv": rows.to_csv,
            "html": lambda: sweep_html(rows), "table": lambda: to_text(summary) + "\n"}[
        args.format]()
    _emit(args, text, summary)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .render_text import comparison_renderables, to_text

    if len(args.models) * len(args.target) < 2:
        raise NexusError("compare needs two models or more, or one model and two --target "
                         "names or more")
    if args.label:
        common.one_per_model("--label", args.label, args.models)
    args.format = common.output_format(args, ("table", "json", "html"))
    common.check_objective(args)
    reports = _compile_all(args, args.models, args.target)
    names = args.label or [Path(model_and_shapes(m)[0]).name for m in args.models]
    labels = [name for name in names for _ in args.target]
    if args.objective:
        key = common.OBJECTIVES[args.objective]
        ranked = sorted(zip(reports, labels), key=lambda pair: pair[0].metrics[key])
        reports, labels = [r for r, _ in ranked], [label for _, label in ranked]
    summary = comparison_renderables(reports, labels, common.terminal_width())
    if args.format == "html":
        from .render_html import comparison_html
        text = comparison_html(reports, labels)
    elif args.format == "json":
        from .compare import comparison
        text = json.dumps({"schema_version": SCHEMA_VERSION,
                           "comparison": comparison(reports, labels),
                           "reports": [r.to_dict() for r in reports]},
                          indent=2, sort_keys=True, allow_nan=False) + "\n"
    else:
        text = to_text(comparison_renderables(reports, labels)) + "\n"
    _emit(args, text, summary)
    return 0


def _cmd_targets(args: argparse.Namespace) -> int:
    from lowering.target import list_targets, load_target

    if args.name is None:
        for name in list_targets():
            target = load_target(name)
            print(f"{name:<16} {target.confidence:<16} {target.description}")
        return 0
    target = load_target(args.name)
    print(f"{target.name}: {target.description} ({target.path}; numbers: {target.confidence})")
    for note in target.notes:
        print(f"  note: {note}")
    for key, value, source in target.provenance():
        print(f"  {key:<36} {value:<12.6g} {source}")
    return 0


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options every command that loads models shares."""
    parser.add_argument("--bind", nargs="*", default=[], metavar="NAME=SIZE",
                        help="sizes of symbolic dims, e.g. batch=1")
    parser.add_argument("--input-shape", nargs="*", default=[], metavar="NAME=DIMS[:DTYPE]",
                        help="example input shapes, e.g. image=1x3x224x224:f32 (needed for a "
                             "PyTorch factory; binds symbolic sizes of other models)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow model files whose loading unpickles (.pt2, .pkl, .joblib): "
                             "only for files you trust, since unpickling can run code")
    parser.add_argument("-o", "--output", default=None, help="write the output to this file")


def _add_grid_options(parser: argparse.ArgumentParser) -> None:
    """Carbon: the grid an inference draws from and the data centre's PUE (app.carbon)."""
    parser.add_argument("--grid", default=None,
                        help="carbon per inference on this grid: a country (FR, DEU) or a cloud "
                             "region (gcp:europe-west1, aws:us-east-1), from CodeCarbon's tables")
    parser.add_argument("--pue", type=float, default=1.0,
                        help="power usage effectiveness of the data centre, with --grid "
                             "(default 1.0: the IT load alone)")


def _add_execution_options(parser: argparse.ArgumentParser) -> None:
    """How the model runs: the execution mode and the fp32 math mode (passes.cost)."""
    parser.add_argument("--execution", default="eager", choices=("eager", "cuda-graph", "fused"),
                        help="eager PyTorch (host dispatch per op; default), cuda-graph "
                             "(the same kernels replayed), fused (a graph compiler: epilogues "
                             "fused, one kernel per op)")
    parser.add_argument("--exact-bits", action="store_true",
                        help="read every bit of large weights for switching activity (default: "
                             "a 16,384-element sample of each weight over 2^15 elements)")
    parser.add_argument("--math", default="default", choices=("default", "tf32", "highest"),
                        help="fp32 math as PyTorch sets it: default (TF32 convolutions, FP32 "
                             "matmuls), tf32 (both TF32), highest (neither)")


def _add_dtype_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dtype", dest="cost_dtype", choices=("bf16", "f16", "f32"),
                        default=None, help="cost a PyTorch model cast to this dtype (with its "
                                           "floating inputs); default: as it is")


MODEL_HELP = ("a model: .onnx, .pt2, .tflite, XGBoost .json/.ubj, .skops, .pkl/.joblib (with "
              "--trust-pickle), a NEXUS graph .json, path/to/file.py:factory (returns an "
              "nn.Module, an estimator… or (model, example_inputs)), or example:NAME")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nexus",
        description="NEXUS: a physics-grounded energy analyzer for ML models, built like a "
                    "compiler.")
    parser.add_argument("--version", action="version", version=f"nexus-ml {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--load", action="append", default=[], metavar="PLUGINS.py",
                        help="run this Python file first, to register your own ops, passes, "
                             "rewrites, frontends or meters (repeatable; only files you trust)")
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
    comp.add_argument("model", help=MODEL_HELP)
    comp.add_argument("--target", default="h100",
                      help="bundled target name or .toml path (default: h100; see nexus targets)")
    comp.add_argument("--format", choices=("table", "json", "html", "csv"), default=None,
                      help="table (terminal), json (schema in nexus_ir/report.schema.json), html "
                           "(self-contained page with charts), csv (one row per node); default: "
                           "from -o's extension (.txt .json .html .csv), else table")
    comp.add_argument("--capability", type=float, default=None,
                      help="capability score (accuracy, F1, ...) for ECU and CpTO")
    comp.add_argument("--output-units", type=int, default=None,
                      help="tokens or samples per inference (default: from the output shape)")
    common.add_calibration_option(comp)
    _add_grid_options(comp)
    comp.add_argument("--depth", type=int, default=None,
                      help="module depth of the terminal table (default: the shallowest at "
                           "which no module holds over half the energy, e.g. GPT-2's blocks)")
    comp.add_argument("--top", type=int, default=10,
                      help="modules in the terminal table: the ones spending most")
    comp.add_argument("--sort", choices=("model", "energy"), default="model",
                      help="order of the terminal table's modules: as in the model (default) "
                           "or by energy")
    _add_model_options(comp)
    _add_execution_options(comp)
    _add_dtype_option(comp)
    comp.set_defaults(handler=_cmd_compile)

    compare = verbs.add_parser("compare", help="several models, or one model on several "
                                               "targets, side by side",
                               description="Compile every MODEL on every --target and compare "
                                           "energy, its split, latency and FLOPs side by side.")
    compare.add_argument("models", nargs="+", metavar="MODEL",
                         help=MODEL_HELP + "; MODEL@NAME=DIMS[:DTYPE],… gives one model its own "
                              "example shapes (--input-shape applies to all)")
    compare.add_argument("--target", nargs="+", default=["h100"],
                         help="one or more target names or .toml paths (default: h100)")
    compare.add_argument("--format", choices=("table", "json", "html"), default=None,
                         help="default: from -o's extension, else table")
    compare.add_argument("--label", action="append", default=[],
                         help="a row's name, once per MODEL in order (default: the file's "
                              "name, or the factory as given)")
    compare.add_argument("--objective", choices=common.OBJECTIVES, default=None,
                         help="rank the rows by this, lowest first (default: in the order "
                              "given); carbon needs --grid")
    _add_grid_options(compare)
    _add_model_options(compare)
    _add_execution_options(compare)
    _add_dtype_option(compare)
    compare.set_defaults(handler=_cmd_compare)

    select = verbs.add_parser("select", help="rank models by accuracy against energy, latency "
                                             "or carbon, with the Pareto front",
                              description="Cost every MODEL on the target and mark the Pareto "
                                          "front of accuracy (given) against the objective.")
    select.add_argument("models", nargs="+", metavar="MODEL",
                        help=MODEL_HELP + "; MODEL@NAME=DIMS[:DTYPE],… for its own shapes")
    scores = select.add_mutually_exclusive_group(required=True)
    scores.add_argument("--accuracy", type=float, nargs="+",
                        help="each model's accuracy (or any score, higher is better), in order")
    scores.add_argument("--eval", default=None, metavar="DATA.npz",
                        help="measure each model's top-1 accuracy on these inputs (by graph "
                             "input name) and their 'labels', running its NEXUS graph")
    select.add_argument("--target", default="h100")
    select.add_argument("--objective", choices=tuple(common.OBJECTIVES), default="energy")
    select.add_argument("--format", choices=("table", "json", "html"), default=None,
                        help="default: from -o's extension, else table")
    _add_grid_options(select)
    _add_model_options(select)
    _add_execution_options(select)
    select.set_defaults(handler=cli_choice.cmd_select)
    cli_choice.add_sweep_parser(verbs)
    cli_tinyml.add_parsers(verbs, _add_model_options)

    diagnose_cmd = verbs.add_parser("diagnose", help="where the energy goes and which rewrites "
                                                     "would save most",
                                    description="Hotspots, what bounds each node, expensive "
                                                "activations, precision the target runs cheaper, "
                                                "layers FLOPs mislead about, and candidate "
                                                "rewrites ranked by predicted energy saved.")
    diagnose_cmd.add_argument("model", help=MODEL_HELP)
    diagnose_cmd.add_argument("--target", default="h100")
    diagnose_cmd.add_argument("--top", type=int, default=10, help="hotspots to list")
    common.add_calibration_option(diagnose_cmd)
    _add_model_options(diagnose_cmd)
    diagnose_cmd.set_defaults(handler=cli_optimize.cmd_diagnose)

    optimize_cmd = verbs.add_parser("optimize", help="apply the rewrite that saves most and "
                                                     "export it to ONNX")
    optimize_cmd.add_argument("model", help=MODEL_HELP)
    optimize_cmd.add_argument("--target", default="h100")
    optimize_cmd.add_argument("--rewrite", default=None,
                              help="apply this candidate (names as nexus diagnose lists them) "
                                   "instead of the one predicted to save most")
    optimize_cmd.add_argument("--eval", default=None, metavar="DATA.npz",
                              help="inputs by graph input name and 'labels': report top-1 "
                                   "accuracy before and after")
    optimize_cmd.add_argument("--max-deviation", type=float, default=0.05,
                              help="largest output deviation (max |Δ| / max |output| on 3 random "
                                   "inputs) a rewrite may cause (default 0.05). A rewrite whose "
                                   "deviation cannot be measured (ops NEXUS cannot run, weights "
                                   "without data) is written only when --rewrite names it; one "
                                   "saving under 1%% of the energy never is")
    optimize_cmd.add_argument("--max-accuracy-drop", type=float, default=None,
                              help="only rewrites losing at most this much accuracy (0.01 = one "
                                   "point); needs --eval")
    _add_model_options(optimize_cmd)
    optimize_cmd.set_defaults(handler=cli_optimize.cmd_optimize)

    def add_measure_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("model", help="path/to/file.py:factory (PyTorch) or an .onnx file")
        p.add_argument("--input-shape", nargs="*", default=[], metavar="NAME=DIMS[:DTYPE]")
        p.add_argument("--dtype", default=None, choices=("f32", "bf16", "f16"),
                       help="run the model at this dtype (default: its own parameters' dtype)")
        p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
        p.add_argument("--meter", default=None,
                       help="nvml, rapl, or a meter registered with register_meter (--load); "
                            "default: nvml on cuda, rapl on cpu")
        p.add_argument("--window", type=float, default=1.0, help="seconds per window (>= 1)")
        p.add_argument("--windows", type=int, default=5)
        p.add_argument("--target", default="h100", help="target of the prediction beside it")
        p.add_argument("-o", "--output", default=None, help="write the measurement (JSON)")
        _add_execution_options(p)

    measure_cmd = verbs.add_parser("measure", help="measure energy per inference with NVML or "
                                                   "RAPL, beside the prediction")
    add_measure_options(measure_cmd)
    measure_cmd.set_defaults(handler=cli_measure.cmd_measure)
    validate = verbs.add_parser("validate", help="predicted vs measured: energy per model; "
                                                 "FLOPs, DRAM bytes and time per node (ncu)")
    add_measure_options(validate)
    validate.add_argument("--cache-control", default="all", choices=("all", "none"))
    validate.add_argument("--plot", default=None, metavar="PATH.html",
                          help="predicted vs measured per node as an HTML page")
    validate.set_defaults(handler=cli_measure.cmd_validate)
    calibrate = verbs.add_parser("calibrate", help="fit a target's coefficients to "
                                                   "measurements (regularized) and write a "
                                                   "target file")
    calibrate.add_argument("measurements", nargs="+", help="files from nexus measure -o")
    calibrate.add_argument("--target", required=True, help="the target they were predicted on")
    calibrate.add_argument("-o", "--output", required=True, help="the calibrated .toml")
    calibrate.set_defaults(handler=cli_measure.cmd_calibrate)

    llm_cmd = verbs.add_parser("llm", help="joules per token of a decoder LLM over batch and "
                                           "context: prefill and decode, and whether it fits",
                               description="Cost a transformers decoder (a config.json, its "
                               "folder, or path/to/file.py:factory returning a config or "
                               "model; no weights needed) per batch × context: prefill and "
                               "decode J/token, time to first token and per output token, "
                               "tokens/s, J per request, memory and whether it fits.")
    llm_cmd.add_argument("model", help="config.json, a folder holding one, or file.py:factory")
    llm_cmd.add_argument("--target", default="h200", help="hardware target (default h200)")
    llm_cmd.add_argument("--batch", type=int, nargs="+", default=[1], help="batch sizes")
    llm_cmd.add_argument("--context", type=int, nargs="+", default=[512],
                         help="prompt lengths in tokens")
    llm_cmd.add_argument("--generate", type=int, default=256, help="tokens generated per request")
    llm_cmd.add_argument("--execution", default="eager", choices=("eager", "cuda-graph", "fused"),
                         help="eager (transformers' DynamicCache), cuda-graph or fused (engines: "
                              "the cache is written in place)")
    llm_cmd.add_argument("--weights", default="bf16",
                         choices=("bf16", "f16", "fp8", "int8", "int4"),
                         help="weight format (int8/int4/fp8 are dequantized)")
    llm_cmd.add_argument("--kv", default="bf16", choices=("bf16", "f16", "fp8"),
                         help="KV-cache format")
    llm_cmd.add_argument("--format", default=None, choices=("table", "json", "csv", "html"),
                         help="default: from -o's extension, else table")
    llm_cmd.add_argument("-o", "--output", help="write the output here (the table still prints)")
    llm_cmd.set_defaults(handler=_cmd_llm)

    targets = verbs.add_parser("targets", help="list hardware targets, or show one with "
                                               "the source of every number")
    targets.add_argument("action", nargs="?", choices=("show",), help="show one target")
    targets.add_argument("name", nargs="?", default=None)
    targets.set_defaults(handler=_cmd_targets)
    return parser


PLUGIN_GROUP = "nexus_ml.plugins"


def load_plugins(paths: Sequence[str]) -> None:
    """Register what installed packages (entry points in ``nexus_ml.plugins``) and the files
    given with ``--load`` define; a file that fails to run is one clear error."""
    import runpy
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_GROUP):
        entry.load()
    for path in paths:
        if not Path(path).is_file():
            raise NexusError(f"--load {path}: no such file")
        try:
            runpy.run_path(path, run_name=f"nexus_plugin_{Path(path).stem}")
        except Exception as err:  # the user's file: what it raises is reported in one line
            raise NexusError(f"--load {path} failed: {type(err).__name__}: {err}") from err


def _show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    """Warnings (e.g. ops kept unmodeled) as one line on stderr, without source lines."""
    print(f"nexus: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 0
    if getattr(args, "action", None) == "show" and args.name is None:
        parser.error("targets show needs a target name")
    warnings.showwarning = _show_warning
    try:
        load_plugins(args.load)
        return args.handler(args)
    except NexusError as err:
        if args.debug:
            raise
        print(f"nexus: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("nexus: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # a bug of ours: still one line, the traceback with --debug
        if args.debug:
            raise
        print(f"nexus: internal error: {type(err).__name__}: {err} (rerun with --debug for the "
              "traceback and report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
