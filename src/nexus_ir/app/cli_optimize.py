"""The rewriting commands of ``nexus``: ``diagnose`` (where the energy goes, which registered
rewrites would save most) and ``optimize`` (apply one, check accuracy, export ONNX)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..errors import NexusError
from ..types import parse_input_shapes
from . import common
from .common import parse_bindings


def graph_of(args: argparse.Namespace) -> Any:
    """The model as a verified graph with its sizes bound (what ``compile`` costs)."""
    from .api import prepare

    return prepare(args.model, parse_input_shapes(args.input_shape) or None,
                   bindings=parse_bindings(args.bind), trust_pickle=args.trust_pickle).graph


def cmd_diagnose(args: argparse.Namespace) -> int:
    from lowering.target import load_target
    from passes import diagnose, recommend
    from passes.recommend import MIN_SAVED_FRACTION

    from .api import compile as compile_model

    with common.progress_console().status(f"costing {args.model} and its rewrites"):
        graph = graph_of(args)
        data = common.calibration_data(args.calibration_data)
        report = compile_model(graph, target=args.target) if data is None else compile_model(
            args.model, parse_input_shapes(args.input_shape) or None, target=args.target,
            bindings=parse_bindings(args.bind), trust_pickle=args.trust_pickle,
            calibration=data)
        others = [mode for mode in load_target(args.target).execution_modes
                  if mode != report.metrics["execution"]]
        findings = diagnose(report, args.target, args.top, {
            mode: compile_model(graph, target=args.target, execution=mode).metrics["energy_j"]
            for mode in others})
        ranked = recommend(graph, args.target)
    print(f"NEXUS diagnosis: {report.model} on {report.target}, "
          f"{common.si(report.metrics['energy_j'], 'J')} per call" +
          ("" if report.metrics["ddev"] is None else
           f" (DDEV {report.metrics['ddev']:.3g} across the calibration inputs)"))
    print("\n".join(findings.lines()))
    paying = [r for r in ranked if r.pays]
    print("recommended rewrites (predicted on the target; nexus optimize applies one):")
    if not paying:
        print(f"  none saves {MIN_SAVED_FRACTION:.0%} or more" if ranked else
              "  none applies (activation swaps need GELU/SiLU/sigmoid; weight quantization "
              "needs weights with data)")
    _rewrite_rows(paying)
    if len(paying) < len(ranked):
        print(f"rewrites that apply but save less than {MIN_SAVED_FRACTION:.0%} on "
              f"{report.target}:")
        _rewrite_rows([r for r in ranked if not r.pays])
    return 0


def _rewrite_rows(ranked: list[Any]) -> None:
    for r in ranked:
        print(f"  {r.name:<26} {r.changed:>4} changes  {common.si(r.energy_j, 'J'):>9}  saves "
              f"{common.si(r.saved_j, 'J'):>9} ({r.saved_fraction:+.1%})")


def _random_feeds(graph: Any, count: int = 3) -> list[dict[str, Any]]:
    """Inputs to compare outputs on: normal values for floats, zeros for integer inputs (token
    ids and indices must stay in range)."""
    import numpy as np

    from ..dtypes import to_numpy

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


def load_eval(path: str, graph: Any) -> tuple[dict[str, Any], Any]:
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


def _refusal(r: Any, args: argparse.Namespace, unmeasured: str | None,
             accuracy_lost: float | None) -> str | None:
    """Why recommendation ``r`` may not be written (None: it may): it saves nothing, its
    output deviation or accuracy drop is over budget, or its deviation cannot be measured."""
    from passes.recommend import MIN_SAVED_FRACTION

    if not r.pays:
        return f"saves {r.saved_fraction:+.1%} of the energy (less than {MIN_SAVED_FRACTION:.0%})"
    if r.deviation is None:
        return f"its output deviation cannot be measured (NEXUS cannot run the graph: " \
               f"{unmeasured})"
    if r.deviation > args.max_deviation:
        return f"output deviation {r.deviation:.3g} exceeds --max-deviation {args.max_deviation:g}"
    if accuracy_lost is not None and accuracy_lost > args.max_accuracy_drop:
        return f"accuracy drops {accuracy_lost:.2%}, more than --max-accuracy-drop " \
               f"{args.max_accuracy_drop:g}"
    return None


def cmd_optimize(args: argparse.Namespace) -> int:
    from passes import recommend
    from runtime.deviation import accuracy, activation_ranges, output_deviation
    from runtime.torch_graph import unrunnable

    if args.max_accuracy_drop is not None and not args.eval:
        raise NexusError("--max-accuracy-drop needs --eval DATA.npz (the model's inputs by "
                         "name and their 'labels')")
    with common.progress_console().status(f"costing {args.model} and its rewrites"):
        graph = graph_of(args)
        unmeasured = unrunnable(graph)
        ranked = recommend(graph, args.target, [] if unmeasured else _random_feeds(graph),
                           deviation=output_deviation, ranges=activation_ranges)
        scores: dict[str, float] = {}
        if args.eval:
            inputs, labels = load_eval(args.eval, graph)
            original = accuracy(graph, inputs, labels)
            scores = {r.name: accuracy(r.graph, inputs, labels) for r in ranked}
    budget = args.max_accuracy_drop is not None
    refusals = {r.name: _refusal(r, args, unmeasured,
                                 original - scores[r.name] if budget else None) for r in ranked}
    if args.rewrite:
        chosen = next((r for r in ranked if r.name == args.rewrite), None)
        if chosen is None:
            raise NexusError(f"rewrite '{args.rewrite}' does not apply to this model (applicable: "
                             f"{', '.join(r.name for r in ranked) or 'none'})")
        refusal = refusals[chosen.name]
        if not chosen.pays:
            raise NexusError(f"rewrite '{chosen.name}' not written: it {refusal} on "
                             f"{args.target}; nexus diagnose lists the ones that pay")
        if refusal and chosen.deviation is not None:
            raise NexusError(f"rewrite '{chosen.name}' not written: {refusal} (raise the budget "
                             "to accept it, or pick another from nexus diagnose)")
        writer = _writer(chosen.graph, args.output)
        if refusal:
            print(f"warning: {refusal}; written because --rewrite names it", file=sys.stderr)
    else:
        chosen, writer = None, None
        for r in (r for r in ranked if refusals[r.name] is None):
            try:
                chosen, writer = r, _writer(r.graph, args.output)
                break
            except NexusError as err:        # the best one ONNX cannot hold: take the next
                refusals[r.name], chosen = str(err), None
                print(f"passed over {r.name} ({r.saved_fraction:+.1%}): {err}", file=sys.stderr)
        if chosen is None:
            if not ranked:
                print(f"no registered rewrite applies to {args.model}; nothing written")
                return 0
            print(f"no rewrite qualifies on {args.target}; nothing written:")
            for r in ranked[:5]:
                print(f"  {r.name:<26} {refusals[r.name]}")
            return 0
    before = chosen.energy_j + chosen.saved_j
    deviation = "not measured" if chosen.deviation is None else \
        f"{chosen.deviation:.3g} (max |Δ| / max |output| on 3 random inputs)"
    print(f"{chosen.name}: {chosen.changed} changes; predicted {common.si(before, 'J')} → "
          f"{common.si(chosen.energy_j, 'J')} per inference on {args.target} "
          f"({-chosen.saved_fraction:+.1%}); output deviation {deviation}")
    if scores:
        print(f"accuracy on {args.eval}: {scores[chosen.name]:.2%}, original {original:.2%} "
              f"(delta {scores[chosen.name] - original:+.2%})")
    writer()
    return 0


def _writer(graph: Any, path: str | None) -> Callable[[], None]:
    """What writes the rewritten graph to ``path``: NEXUS graph JSON for ``.json`` (every graph
    has one), ONNX otherwise (built and checked now: a graph ONNX cannot hold is one
    NexusError); without a path, a note that nothing is written."""
    from pathlib import Path

    from lowering.onnx_export import to_onnx

    def done(write: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            write()
            print(f"wrote {path}", file=sys.stderr)
        return run

    if path is None:
        return lambda: print("nothing written: give -o PATH.onnx (or PATH.json for the NEXUS "
                             "graph)", file=sys.stderr)
    if Path(path).suffix == ".json":
        return done(lambda: common.write_output(path, graph.to_json()))
    try:
        model = to_onnx(graph)
    except NexusError as err:
        raise NexusError(f"{err}; -o {Path(path).with_suffix('.json')} writes the rewritten "
                         "graph as NEXUS JSON instead") from None
    return done(lambda: common.write_output(path, model.SerializeToString()))
