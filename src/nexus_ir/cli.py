"""The ``nexus`` command line. Every failure is one line on stderr and a non-zero exit;
``--debug`` shows the traceback instead."""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import NexusError
from .report import SCHEMA_VERSION, EnergyReport
from .types import TensorType

EXIT_ERROR = 2
EXIT_INTERNAL = 3
INPUT_SHAPE = re.compile(r"^(?P<name>[^=\s]+)=(?P<dims>\d+(?:x\d+)*)(?::(?P<dtype>\w+))?$")


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


def _progress_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _compile_all(args: argparse.Namespace, models: Sequence[str], targets: Sequence[str]
                 ) -> list[EnergyReport]:
    """Compile every model on every target, showing the current step on stderr."""
    from .api import compile as compile_model

    shapes = _parse_input_shapes(args.input_shape)
    reports = []
    with _progress_console().status("starting") as status:
        for model in models:
            for target in targets:
                def step(text: str, where: str = f"{model} on {target}") -> None:
                    status.update(f"[bold]{where}[/bold]: {text}")
                reports.append(compile_model(
                    model, shapes or None, target=target, bindings=_parse_bindings(args.bind),
                    capability=getattr(args, "capability", None),
                    output_units=getattr(args, "output_units", None),
                    trust_pickle=args.trust_pickle, progress=step))
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
        Path(args.output).write_text(text, encoding="utf-8")
        if args.format != "table":
            _print_summary(summary)
        print(f"wrote {args.output}", file=sys.stderr)
    elif args.format == "table":
        _print_summary(summary)
    else:
        sys.stdout.write(text)


def _cmd_compile(args: argparse.Namespace) -> int:
    from .render_text import report_renderables, to_text

    report, = _compile_all(args, [args.model], [args.target])
    summary = report_renderables(report, args.depth, args.top)
    text = {"json": lambda: report.to_json() + "\n", "csv": report.to_csv,
            "html": report.to_html, "table": lambda: to_text(summary) + "\n"}[args.format]()
    _emit(args, text, summary)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .render_text import comparison_renderables, to_text

    if len(args.models) * len(args.target) < 2:
        raise NexusError("compare needs two models or more, or one model and two --target "
                         "names or more")
    reports = _compile_all(args, args.models, args.target)
    summary = comparison_renderables(reports)
    if args.format == "html":
        from .render_html import comparison_html
        text = comparison_html(reports)
    elif args.format == "json":
        text = json.dumps({"schema_version": SCHEMA_VERSION,
                           "reports": [r.to_dict() for r in reports]},
                          indent=2, sort_keys=True, allow_nan=False) + "\n"
    else:
        text = to_text(summary) + "\n"
    _emit(args, text, summary)
    return 0


def _measured_model(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """(runner, the model NEXUS compiles for the same run, a label) for measure/validate."""
    from runtime.execute import onnx_runner, torch_runner

    from .api import torch_factory

    if args.model.endswith(".onnx"):
        from frontends.onnx import load_model
        import numpy as np
        shapes = _parse_input_shapes(args.input_shape)
        if not shapes:
            raise NexusError("an ONNX model needs --input-shape for every input to be run")
        feeds = {k: np.random.default_rng(0).standard_normal(
            v.shape if isinstance(v, TensorType) else v).astype(np.float32)
            for k, v in shapes.items()}
        provider = "CUDAExecutionProvider" if args.device == "cuda" else "CPUExecutionProvider"
        load_model(args.model)            # a missing or corrupt file fails here, in one line
        return onnx_runner(args.model, feeds, provider), args.model, Path(args.model).stem
    model, inputs = torch_factory(args.model, _parse_input_shapes(args.input_shape))
    predicted = (copy.deepcopy(model).to("cpu"), tuple(x.to("cpu") for x in inputs))
    return torch_runner(model, inputs, args.device, args.dtype), predicted, type(model).__name__


def _meter(args: argparse.Namespace) -> Any:
    from runtime.meters import NvmlMeter, RaplMeter

    kind = args.meter or ("nvml" if args.device == "cuda" else "rapl")
    return NvmlMeter() if kind == "nvml" else RaplMeter()


def _measure_document(args: argparse.Namespace) -> dict[str, Any]:
    """Measure one model and predict it: the measurement file's contents."""
    from runtime.calibrate import MEASUREMENT_SCHEMA
    from runtime.meters import measure

    from .api import compile as compile_model

    meter = _meter(args)
    runner, model, label = _measured_model(args)
    with _progress_console().status(f"measuring {label} ({runner.description})"):
        result = measure(runner.call, meter, window_s=args.window, windows=args.windows,
                         sync=runner.sync)
    if isinstance(model, tuple):
        module, inputs = model
        from runtime.execute import prepare_torch
        module, inputs = prepare_torch(module, inputs, "cpu", args.dtype)
        report = compile_model(module, tuple(inputs), target=args.target)
    else:
        report = compile_model(model, {k: v for k, v in _parse_input_shapes(
            args.input_shape).items()}, target=args.target)
    domain = result.domains[0] if len(result.domains) == 1 else "package-0"
    return {"schema": MEASUREMENT_SCHEMA, "model": label, "spec": args.model,
            "inputs": args.input_shape, "dtype": args.dtype, "device": runner.description,
            "meter": meter.name, "domain": domain, "energy_j": result.joules[domain],
            "cv": result.cv[domain], "above_idle_j": result.above_idle_j[domain],
            "idle_w": result.idle_w.get(domain), "seconds_per_call": result.seconds_per_call,
            "windows": result.windows, "calls_per_window": result.calls_per_window,
            "report": report.to_dict()}


def _print_measurement(doc: Mapping[str, Any]) -> None:
    predicted = doc["report"]["metrics"]["energy_j"]
    print(f"{doc['model']} on {doc['device']}, meter {doc['meter']} ({doc['domain']})")
    print(f"  measured   {doc['energy_j']:.4g} J per inference (CV {doc['cv']:.3f}, "
          f"{doc['windows']} windows of {doc['calls_per_window']} calls), "
          f"{doc['above_idle_j']:.4g} J above {doc['idle_w']:.4g} W idle, "
          f"{doc['seconds_per_call']:.4g} s per inference")
    print(f"  predicted  {predicted:.4g} J on {doc['report']['target']['name']} "
          f"({(predicted - doc['energy_j']) / doc['energy_j']:+.1%}), latency "
          f"{doc['report']['metrics']['latency_s']:.4g} s")


def _measured(args: argparse.Namespace) -> dict[str, Any]:
    """Measure, print, and write the measurement when ``-o`` asks for it."""
    doc = _measure_document(args)
    _print_measurement(doc)
    if args.output:
        Path(args.output).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    return doc


def _cmd_measure(args: argparse.Namespace) -> int:
    _measured(args)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from runtime.ncu import attribute, profile

    from .api import compile as compile_model

    if args.model.endswith(".onnx"):
        raise NexusError("per-node validation runs PyTorch models (file.py:factory) under ncu")
    doc = _measured(args)
    from frontends.pytorch import export, from_exported
    from runtime.execute import prepare_torch

    from .api import torch_factory
    module, inputs = prepare_torch(*torch_factory(args.model, _parse_input_shapes(
        args.input_shape)), "cpu", args.dtype)
    graph = from_exported(export(module, inputs))
    report = compile_model(graph, target=args.target)
    with _progress_console().status(f"profiling under ncu (cache control {args.cache_control})"):
        kernels = profile(["-m", "runtime.execute", args.model, "--dtype", args.dtype,
                           "--input-shape", *args.input_shape], args.cache_control)
    measured, outside = attribute(kernels, graph)
    print(f"per node (ncu, --clock-control none, --cache-control {args.cache_control}; "
          f"{len(kernels)} kernels, {len(outside)} outside any node):")
    print(f"  {'node':<10}{'op':<16}{'kernels':>8}{'FLOPs pred':>14}{'FLOPs ncu':>14}"
          f"{'DRAM B pred':>14}{'DRAM B ncu':>14}{'time pred':>12}{'time ncu':>12}")
    pairs = [(node, measured[node.name]) for node in report.nodes
             if node.modeled and node.name in measured]
    for node, got in pairs:
        print(f"  %{node.name:<9}{node.op:<16}{got.kernels:>8}{node.flops:>14,}"
              f"{got.flops:>14,.0f}{node.off_chip_bytes:>14,}{got.dram_bytes:>14,.0f}"
              f"{node.time_s:>12.3g}{got.time_s:>12.3g}")
    if args.plot:
        from .render_html import validation_html
        Path(args.plot).write_text(validation_html(doc, pairs, args.cache_control),
                                   encoding="utf-8")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from lowering.target import load_target
    from runtime.calibrate import (calibrated_target, fit, leave_one_model_out,
                                   load_measurements, write_target)

    docs = load_measurements(args.measurements)
    base = load_target(args.target)
    names = {d["report"]["target"]["name"] for d in docs}
    if names != {base.name}:
        raise NexusError(f"the measurements were predicted on {', '.join(sorted(names))}; "
                         f"calibrate them against that target, not {base.name}")
    coefficients = fit(docs)
    models = sorted({d["model"] for d in docs})
    cv = leave_one_model_out(docs) if len(models) > 1 else None
    source = (f"calibrated: NNLS over {len(docs)} measurements of {len(models)} models"
              + (f", leave-one-model-out median error {cv.median_ape:.1%}" if cv else ""))
    print(f"fitted on {len(docs)} measurements of {len(models)} models:")
    for name, value in coefficients.items():
        print(f"  {name:<18} {value:.6g}")
    if cv:
        print(f"leave-one-model-out: median absolute error {cv.median_ape:.1%}")
        for model, error in cv.per_model_mape.items():
            print(f"  {model:<24} {error:.1%}")
    name = Path(args.output).stem
    write_target(calibrated_target(base.path, coefficients, name, source), args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _graph_of(args: argparse.Namespace) -> Any:
    """The model as a verified graph with its sizes bound (what ``compile`` costs)."""
    from .api import (FACTORY_SPEC, _is_torch_model, _positional_inputs, bindings_from_inputs,
                      load_factory, load_graph)

    model: Any = args.model
    shapes = _parse_input_shapes(args.input_shape)
    inputs: Any = shapes or None
    if FACTORY_SPEC.match(model):
        model, made = load_factory(model)
        inputs = inputs or made
    torch_model = _is_torch_model(model)
    if torch_model and (inputs is None or isinstance(inputs, Mapping)):
        inputs = _positional_inputs(model, inputs or {})
    graph = load_graph(model, inputs, args.trust_pickle)
    graph.verify()
    bound = {} if torch_model else bindings_from_inputs(graph, shapes)
    bound.update(_parse_bindings(args.bind))
    return graph.bind_symbols(bound) if bound else graph


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from passes.optimize import diagnose, recommend

    from .api import compile as compile_model

    with _progress_console().status(f"costing {args.model} and its rewrites"):
        graph = _graph_of(args)
        report = compile_model(graph, target=args.target)
        findings = diagnose(report, args.target, args.top)
        ranked = recommend(graph, args.target)
    print(f"NEXUS diagnosis: {report.model} on {report.target}, "
          f"{report.metrics['energy_j']:.4g} J per inference")
    print("\n".join(findings.lines()))
    print("recommended rewrites (predicted on the target; nexus optimize applies one):")
    if not ranked:
        print("  none applies (activation swaps need GELU/SiLU/sigmoid; weight quantization "
              "needs weights with data)")
    for r in ranked:
        print(f"  {r.name:<26} {r.changed:>4} changes  {r.energy_j:.4g} J  saves "
              f"{r.saved_j:+.4g} J ({r.saved_fraction:+.1%})")
    return 0


def _random_feeds(graph: Any, count: int = 3) -> list[dict[str, Any]]:
    """Inputs to compare outputs on: normal values for floats, zeros for integer inputs (token
    ids and indices must stay in range)."""
    import numpy as np

    from .dtypes import to_numpy

    rng = np.random.default_rng(0)
    feeds = []
    for _ in range(count):
        feed = {}
        for v in graph.inputs:
            shape = [int(d) for d in v.type.shape]
            kind = to_numpy(v.type.dtype)
            feed[v.name] = rng.standard_normal(shape).astype(kind) if v.type.dtype.is_float \
                else np.zeros(shape, kind)
        feeds.append(feed)
    return feeds


def _load_eval(path: str, graph: Any) -> tuple[dict[str, Any], Any]:
    """Inputs (by graph input name) and labels from an ``.npz`` file."""
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise NexusError(f"cannot read evaluation data {path}: {err}") from None
    missing = [v.name for v in graph.inputs if v.name not in data] + \
        ([] if "labels" in data else ["labels"])
    if missing:
        raise NexusError(f"{path} lacks {', '.join(missing)} (it holds "
                         f"{', '.join(data.files)}); save inputs by graph input name and "
                         "'labels'")
    return {v.name: data[v.name] for v in graph.inputs}, data["labels"]


def _cmd_optimize(args: argparse.Namespace) -> int:
    from lowering.onnx_export import to_onnx
    from passes.optimize import accuracy, recommend

    if args.max_accuracy_drop is not None and not args.eval:
        raise NexusError("--max-accuracy-drop needs --eval DATA.npz (the model's inputs by "
                         "name and their 'labels')")
    with _progress_console().status(f"costing {args.model} and its rewrites"):
        graph = _graph_of(args)
        ranked = recommend(graph, args.target, _random_feeds(graph))
        scores: dict[str, float] = {}
        if args.eval:
            inputs, labels = _load_eval(args.eval, graph)
            original = accuracy(graph, inputs, labels)
            scores = {r.name: accuracy(r.graph, inputs, labels) for r in ranked}
    allowed = [r for r in ranked if args.max_accuracy_drop is None or
               original - scores[r.name] <= args.max_accuracy_drop]
    if args.rewrite:
        chosen = next((r for r in ranked if r.name == args.rewrite), None)
        if chosen is None:
            raise NexusError(f"rewrite '{args.rewrite}' does not apply to this model (applicable: "
                             f"{', '.join(r.name for r in ranked) or 'none'})")
    else:
        chosen = next((r for r in allowed if r.saved_j > 0), None)
        if chosen is None:
            bound = "" if args.max_accuracy_drop is None else \
                f" within an accuracy drop of {args.max_accuracy_drop:g}"
            print(f"no rewrite lowers the predicted energy on {args.target}{bound}; "
                  "nothing written")
            return 0
    before = chosen.energy_j + chosen.saved_j
    print(f"{chosen.name}: {chosen.changed} changes; predicted {before:.4g} J → "
          f"{chosen.energy_j:.4g} J per inference on {args.target} ({-chosen.saved_fraction:+.1%}); "
          f"output deviation {chosen.deviation:.3g} (max |Δ| / max |output| on 3 random inputs)")
    if scores:
        print(f"accuracy on {args.eval}: {scores[chosen.name]:.2%}, original {original:.2%} "
              f"(delta {scores[chosen.name] - original:+.2%})")
    to_onnx(chosen.graph, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
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


def _parse_input_shapes(items: Sequence[str]) -> dict[str, TensorType | tuple[int, ...]]:
    """``NAME=1x3x224x224:f32`` → {NAME: TensorType}; without ``:dtype``, a bare shape (the
    model's own dtype, float32 for a PyTorch module)."""
    shapes: dict[str, TensorType | tuple[int, ...]] = {}
    for item in items:
        match = INPUT_SHAPE.match(item.strip())
        if match is None:
            raise NexusError(f"--input-shape expects NAME=DIMS[:DTYPE] (e.g. "
                             f"image=1x3x224x224:f32), got '{item}'")
        dims = tuple(int(d) for d in match["dims"].split("x"))
        shapes[match["name"]] = TensorType(list(dims), match["dtype"]) if match["dtype"] else dims
    return shapes


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


MODEL_HELP = ("a model: .onnx, .pt2, XGBoost .json/.ubj, .skops, .pkl/.joblib (with "
              "--trust-pickle), a NEXUS graph .json, path/to/file.py:factory (returns an "
              "nn.Module, an estimator… or (model, example_inputs)), or example:NAME")


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
    comp.add_argument("model", help=MODEL_HELP)
    comp.add_argument("--target", default="h100",
                      help="bundled target name or .toml path (default: h100; see nexus targets)")
    comp.add_argument("--format", choices=("table", "json", "html", "csv"), default="table",
                      help="table (terminal), json (schema in nexus_ir/report.schema.json), html "
                           "(self-contained page with charts), csv (one row per node)")
    comp.add_argument("--capability", type=float, default=None,
                      help="capability score (accuracy, F1, ...) for ECU and CpTO")
    comp.add_argument("--output-units", type=int, default=None,
                      help="tokens or samples per inference (default: from the output shape)")
    comp.add_argument("--depth", type=int, default=2,
                      help="module depth of the terminal table (default 2: layer1.0)")
    comp.add_argument("--top", type=int, default=10, help="modules in the terminal table")
    _add_model_options(comp)
    comp.set_defaults(handler=_cmd_compile)

    compare = verbs.add_parser("compare", help="several models, or one model on several "
                                               "targets, side by side",
                               description="Compile every MODEL on every --target and compare "
                                           "energy, its split, latency and FLOPs side by side.")
    compare.add_argument("models", nargs="+", metavar="MODEL", help=MODEL_HELP)
    compare.add_argument("--target", nargs="+", default=["h100"],
                         help="one or more target names or .toml paths (default: h100)")
    compare.add_argument("--format", choices=("table", "json", "html"), default="table")
    _add_model_options(compare)
    compare.set_defaults(handler=_cmd_compare)

    diagnose_cmd = verbs.add_parser("diagnose", help="where the energy goes and which rewrites "
                                                     "would save most",
                                    description="Hotspots, what bounds each node, expensive "
                                                "activations, precision the target runs cheaper, "
                                                "layers FLOPs mislead about, and candidate "
                                                "rewrites ranked by predicted energy saved.")
    diagnose_cmd.add_argument("model", help=MODEL_HELP)
    diagnose_cmd.add_argument("--target", default="h100")
    diagnose_cmd.add_argument("--top", type=int, default=10, help="hotspots to list")
    _add_model_options(diagnose_cmd)
    diagnose_cmd.set_defaults(handler=_cmd_diagnose)

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
    optimize_cmd.add_argument("--max-accuracy-drop", type=float, default=None,
                              help="only rewrites losing at most this much accuracy (0.01 = one "
                                   "point); needs --eval")
    _add_model_options(optimize_cmd)
    optimize_cmd.set_defaults(handler=_cmd_optimize)

    def add_measure_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("model", help="path/to/file.py:factory (PyTorch) or an .onnx file")
        p.add_argument("--input-shape", nargs="*", default=[], metavar="NAME=DIMS[:DTYPE]")
        p.add_argument("--dtype", default="f32", choices=("f32", "bf16", "f16"))
        p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
        p.add_argument("--meter", default=None, choices=("nvml", "rapl"),
                       help="default: nvml on cuda, rapl on cpu")
        p.add_argument("--window", type=float, default=1.0, help="seconds per window (>= 1)")
        p.add_argument("--windows", type=int, default=5)
        p.add_argument("--target", default="h100", help="target of the prediction beside it")
        p.add_argument("-o", "--output", default=None, help="write the measurement (JSON)")

    measure_cmd = verbs.add_parser("measure", help="measure energy per inference with NVML or "
                                                   "RAPL, beside the prediction")
    add_measure_options(measure_cmd)
    measure_cmd.set_defaults(handler=_cmd_measure)
    validate = verbs.add_parser("validate", help="predicted vs measured: energy per model; "
                                                 "FLOPs, DRAM bytes and time per node (ncu)")
    add_measure_options(validate)
    validate.add_argument("--cache-control", default="all", choices=("all", "none"))
    validate.add_argument("--plot", default=None, metavar="PATH.html",
                          help="predicted vs measured per node as an HTML page")
    validate.set_defaults(handler=_cmd_validate)
    calibrate = verbs.add_parser("calibrate", help="fit a target's coefficients to "
                                                   "measurements (NNLS) and write a target file")
    calibrate.add_argument("measurements", nargs="+", help="files from nexus measure -o")
    calibrate.add_argument("--target", required=True, help="the target they were predicted on")
    calibrate.add_argument("-o", "--output", required=True, help="the calibrated .toml")
    calibrate.set_defaults(handler=_cmd_calibrate)

    targets = verbs.add_parser("targets", help="list hardware targets, or show one with "
                                               "the source of every number")
    targets.add_argument("action", nargs="?", choices=("show",), help="show one target")
    targets.add_argument("name", nargs="?", default=None)
    targets.set_defaults(handler=_cmd_targets)
    return parser


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
        return args.handler(args)
    except NexusError as err:
        if args.debug:
            raise
        print(f"nexus: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # a bug of ours: still one line, the traceback with --debug
        if args.debug:
            raise
        print(f"nexus: internal error: {type(err).__name__}: {err} (rerun with --debug for the "
              "traceback and report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
