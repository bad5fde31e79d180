"""``nexus select`` (model choice: accuracy given or measured, against a cost, with the Pareto
front) and ``nexus sweep`` (a spec's cross product, cached, on a pool or a cluster)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import NexusError
from . import common


def _prepared(args: argparse.Namespace) -> list[Any]:
    """Every MODEL loaded and bound once (``api.prepare``): costed and run from the same
    graph, so a PyTorch model is exported once."""
    from ..types import parse_input_shapes
    from .api import prepare
    from .cli import model_and_shapes

    ready = []
    for given in args.models:
        model, own = model_and_shapes(given)
        shapes = {**parse_input_shapes(args.input_shape), **own}
        ready.append(prepare(model, shapes or None, bindings=common.parse_bindings(args.bind),
                             trust_pickle=args.trust_pickle))
    return ready


def _measured_accuracies(args: argparse.Namespace, ready: Sequence[Any]) -> list[float]:
    """Each model's top-1 accuracy on ``--eval``'s inputs and labels, its NEXUS graph run
    through PyTorch (``runtime.deviation``)."""
    from runtime.deviation import accuracy
    from runtime.torch_graph import unrunnable

    from .cli_optimize import load_eval

    found = []
    for given, prepared in zip(args.models, ready):
        why = unrunnable(prepared.graph)
        if why is not None:
            raise NexusError(f"--eval: {given} cannot be run to measure its accuracy ({why}); "
                             "give --accuracy instead")
        inputs, labels = load_eval(args.eval, prepared.graph)
        found.append(accuracy(prepared.graph, inputs, labels))
    return found


def cmd_select(args: argparse.Namespace) -> int:
    """Rank models by accuracy (given, or measured with ``--eval``) against the objective."""
    from .cli import _compile_all, _emit, model_and_shapes
    from .render_text import to_text
    from .select import COSTS, choice_table, choose

    args.format = common.output_format(args, ("table", "json", "html"))
    common.check_objective(args)
    if args.accuracy is not None:
        common.one_per_model("--accuracy", args.accuracy, args.models)
    ready = _prepared(args) if args.accuracy is None else args.models
    reports = _compile_all(args, ready, [args.target])
    names = [Path(model_and_shapes(m)[0]).name for m in args.models]
    scores = args.accuracy if args.accuracy is not None else _measured_accuracies(args, ready)
    choices = choose(names, scores, reports, args.objective)
    summary = choice_table(choices, args.objective)
    if args.format == "html":
        from .render_html import points_html
        key, unit = COSTS[args.objective]
        rows = [{"model": c.name, "target": args.target, "accuracy": c.accuracy,
                 key: c.cost, "front": "★" if c.on_front else ""} for c in choices]
        text = points_html(f"Accuracy against {args.objective} on {args.target}", rows,
                           ("model",), (key, f"{args.objective} per call ({unit})", True),
                           ("accuracy", "accuracy", False), [c.on_front for c in choices],
                           ("model", "accuracy", key, "front"))
    elif args.format == "json":
        text = json.dumps([vars(c) for c in choices], indent=2) + "\n"
    else:
        text = to_text(summary) + "\n"
    _emit(args, text, summary)
    return 0


def add_sweep_parser(verbs: Any) -> None:
    """The ``sweep`` command's options."""
    sweep = verbs.add_parser(
        "sweep", help="cost the cross product of models, bindings, targets, execution modes "
                      "and rewrites, cached, on a local pool, Dask or Ray",
        description="Run a sweep spec (TOML: models, targets, execution, rewrites, math, grid, "
                    "pue, [bind]; see nexus_ir/app/sweep.py). Points already in the cache are "
                    "read back; the rest are costed one task per model.")
    sweep.add_argument("spec", metavar="SPEC.toml")
    sweep.add_argument("-o", "--output", default=None,
                       help="the table: .csv or .parquet (default: print it)")
    sweep.add_argument("--html", default=None, metavar="OVERVIEW.html",
                       help="also write an HTML overview (energy against latency per point)")
    sweep.add_argument("--cache", default=None, metavar="DIR",
                       help="where results are cached by content hash (default: .nexus-cache "
                            "beside the spec)")
    sweep.add_argument("--no-cache", action="store_true", help="compute every point afresh")
    engines = sweep.add_mutually_exclusive_group()
    engines.add_argument("--jobs", type=int, default=None,
                         help="local worker processes (joblib/loky; default: one per core)")
    engines.add_argument("--dask", default=None, metavar="tcp://HOST:PORT",
                         help="run the tasks on this Dask scheduler")
    engines.add_argument("--ray", default=None, metavar="ADDRESS",
                         help="run the tasks on a Ray cluster: auto (the one this machine "
                              "joined), ray://HOST:PORT, or local (start one here)")
    sweep.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run a sweep spec and write or print its table."""
    import os

    from .render_text import to_text
    from .sweep import columns, dask_engine, local_engine, ray_engine, read_spec, sweep, \
        write_table

    spec = read_spec(args.spec)
    if args.jobs is not None and args.jobs < 1:
        raise NexusError(f"--jobs {args.jobs}: give 1 or more worker processes")
    for path in filter(None, (args.output, args.html)):
        common.check_folder(path)
    if args.output and not args.output.endswith((".csv", ".parquet")):
        raise NexusError(f"-o {args.output}: a sweep table is .csv or .parquet")
    engine = dask_engine(args.dask) if args.dask else ray_engine(args.ray) if args.ray else \
        local_engine(args.jobs or os.cpu_count() or 1)
    cache = None if args.no_cache else Path(args.cache) if args.cache else \
        Path(args.spec).resolve().parent / ".nexus-cache"
    with common.progress_console().status(f"sweeping {args.spec}"):
        result = sweep(spec, engine, cache)
    print(f"{len(result.rows)} points: {result.computed} computed, {result.cached} from the "
          f"cache" + (f" ({cache})" if cache else ""), file=sys.stderr)
    if args.output:
        write_table(result, spec, args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    if args.html:
        from .render_html import points_html
        names = columns(spec)
        coordinates = names[:names.index("status")]
        common.write_output(args.html, points_html(
            f"NEXUS sweep {Path(args.spec).name}", result.rows,
            [c for c in coordinates if c != "target"],
            ("latency_s", "latency per call (s)", True), ("energy_j", "energy per call (J)", True),
            columns=[*coordinates, "status", "energy_j", "latency_s", "energy_per_output_j",
                     "edp_js", *(["co2e_g"] if spec.grid else []), "fits"]))
        print(f"wrote {args.html}", file=sys.stderr)
    if not args.output:
        print(to_text([sweep_table(result.rows, columns(spec))]))
    return 0


def sweep_table(rows: list[dict[str, Any]], names: list[str]) -> Any:
    """The terminal table of a sweep: coordinates, energy, latency, per output, status."""
    from rich import box
    from rich.table import Table

    from ..units import si

    coordinates = names[:names.index("status")]
    table = Table(box=box.SIMPLE_HEAD, title="NEXUS sweep")
    for name in (*coordinates, "energy", "latency", "per output", "status"):
        table.add_column(name, justify="left" if name in (*coordinates, "status") else "right",
                         no_wrap=True)
    for r in rows:
        figures = [si(r[k], u) if r[k] is not None else "-" for k, u in
                   (("energy_j", "J"), ("latency_s", "s"), ("energy_per_output_j", "J"))]
        table.add_row(*(str(r.get(c, "")) for c in coordinates), *figures, r["status"])
    return table
