"""The rewriting commands of ``nexus``: ``diagnose`` (where the energy goes, which registered
rewrites would save most) and ``optimize`` (apply one, check accuracy, export ONNX)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import NexusError
from ..types import parse_input_shapes
from . import common
from .common import parse_bindings


def graph_of(args: argparse.Namespace) -> Any:
    """The model as a verified graph with its sizes bound (what ``compile`` costs)."""
    from .api import prepare

    return prepare(args.model, parse_input_shapes(args.input_shape) or None,
                   bindings=parse_bindings(args.bind), trust_pickle=args.trust_pickle,
                   require_bound=False).graph


def cmd_diagnose(args: argparse.Namespace) -> int:
    from passes import diagnose, recommend

    from .api import compile as compile_model

    with common.progress_console().status(f"costing {args.model} and its rewrites"):
        graph = graph_of(args)
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


def cmd_optimize(args: argparse.Namespace) -> int:
    from lowering.onnx_export import to_onnx
    from passes import recommend
    from runtime.deviation import accuracy, activation_ranges, output_deviation

    if args.max_accuracy_drop is not None and not args.eval:
        raise NexusError("--max-accuracy-drop needs --eval DATA.npz (the model's inputs by "
                         "name and their 'labels')")
    with common.progress_console().status(f"costing {args.model} and its rewrites"):
        graph = graph_of(args)
        ranked = recommend(graph, args.target, _random_feeds(graph),
                           deviation=output_deviation, ranges=activation_ranges)
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
