"""The microcontroller commands: ``nexus arena`` (TFLM's memory plan: arena, per-tensor offsets,
flash and whether it fits; as a table, JSON, CSV or an HTML chart) and ``nexus stream`` (what
overlapping sliding windows recompute, and a ring-buffer schedule's RAM)."""

from __future__ import annotations

import argparse
import csv
import io
import json
from typing import Any

from ..units import si

DEFAULT_MCU = "stm32l4r5"


def add_parsers(verbs: Any, add_model_options: Any) -> None:
    """The ``arena`` and ``stream`` commands' options."""
    arena = verbs.add_parser(
        "arena", help="TFLite Micro's tensor arena of a model on a microcontroller: size, "
                      "per-tensor offsets, flash, fit",
        description="Plan the model's activations as TFLite Micro's greedy planner does "
                    "(passes.arena) on a microcontroller target and print the arena, every "
                    "buffer's offset and lifetime, the persistent allocations, the flash and "
                    "whether both fit.")
    arena.add_argument("model")
    arena.add_argument("--target", default=DEFAULT_MCU,
                       help=f"a microcontroller target (default: {DEFAULT_MCU}; cortex-m, "
                            "stm32h7a3)")
    arena.add_argument("--format", choices=("table", "json", "csv", "html"), default=None,
                       help="default: from -o's extension, else table")
    add_model_options(arena)
    arena.set_defaults(handler=cmd_arena, execution="eager", math="default")

    stream = verbs.add_parser(
        "stream", help="a streaming model on overlapping sliding windows: compute each window "
                       "recomputes, RAM of a ring-buffer schedule",
        description="For a model invoked on a window of frames that moves by --hop frames, "
                    "the share of each layer's outputs the previous window already computed, "
                    "and the RAM a ring-buffer schedule would need (passes.streaming).")
    stream.add_argument("model")
    stream.add_argument("--hop", type=int, required=True,
                        help="frames the window moves between invocations (below its length)")
    stream.add_argument("--axis", type=int, default=None,
                        help="the input's time axis in the IR's layout (channels-first; "
                             "default: its longest spatial axis)")
    stream.add_argument("--input", default=None, help="the streamed input (default: the first)")
    stream.add_argument("--format", choices=("table", "json"), default=None,
                        help="default: from -o's extension, else table")
    add_model_options(stream)
    stream.set_defaults(handler=cmd_stream)


def cmd_arena(args: argparse.Namespace) -> int:
    """Print or write the arena plan of a model on a microcontroller target."""
    from rich.table import Table
    from rich.text import Text

    from nexus_ir import NexusError

    from . import common
    from .cli import _compile_all, _emit

    args.format = common.output_format(args, ("table", "json", "csv", "html"))
    report, = _compile_all(args, [args.model], [args.target])
    m = report.metrics
    if m["arena_plan"] is None:
        raise NexusError(f"target {args.target} is no microcontroller (it does not keep "
                         "activations on chip): give --target stm32l4r5, stm32h7a3 or cortex-m")
    buffers = m["arena_plan"]["buffers"]
    doc = {"model": report.model, "target": report.target,
           "kernel_library": m["arena_plan"]["kernel_library"], "arena_bytes": m["arena_bytes"],
           "persistent_bytes": m["persistent_bytes"], "flash_bytes": m["flash_bytes"],
           "memory_needed": m["memory_needed"], "memory_capacity": m["memory_capacity"],
           "fits": m["fits"], "buffers": buffers}
    table = Table(title=f"{report.model} on {report.target}: TFLM arena "
                        f"{m['arena_bytes']:,} B ({m['arena_plan']['kernel_library']} kernels)")
    for column in ("buffer", "kind", "bytes", "offset", "scopes"):
        table.add_column(column, justify="right" if column in ("bytes", "offset") else "left")
    for b in sorted(buffers, key=lambda b: (b["offset"], b["first_scope"])):
        table.add_row(b["name"], b["kind"], f"{b['bytes']:,}", f"{b['offset']:,}",
                      f"{b['first_scope']}–{b['last_scope']}")
    summary = [table, Text(f"arena {si(m['arena_bytes'], 'B')} + persistent (estimated) "
                           f"{si(m['persistent_bytes'], 'B')}; flash {si(m['flash_bytes'], 'B')} "
                           f"(weights, quantization parameters, code estimate); "
                           f"{common.memory_levels(m)} — {common.fit_verdict(m['fits'])}")]
    if args.format == "html":
        from .render_arena import arena_html
        text = arena_html(doc)
    elif args.format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(buffers[0]) if buffers else ["name"])
        writer.writeheader()
        writer.writerows(buffers)
        text = out.getvalue()
    else:
        text = json.dumps(doc, indent=1) + "\n"
    _emit(args, text, summary)
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    """Print or write the sliding-window analysis of a streaming model."""
    from rich.table import Table
    from rich.text import Text

    from passes.streaming import sliding_windows

    from . import common
    from .api import load_graph
    from .cli import _emit
    from .common import parse_bindings

    args.format = common.output_format(args, ("table", "json"))
    graph = load_graph(args.model, trust_pickle=args.trust_pickle)
    if args.bind:
        graph = graph.bind_symbols(parse_bindings(args.bind))
    result = sliding_windows(graph, args.hop, args.axis, args.input)
    table = Table(title=f"{graph.name}: window of {result['window']} frames along axis "
                        f"{result['axis']} of %{result['input']}, hop {result['hop']}")
    for column in ("layer", "op", "outputs", "recomputed", "share", "ring state", "working"):
        table.add_column(column, justify="left" if column in ("layer", "op") else "right")
    for row in result["layers"]:
        table.add_row(row["source"] or row["name"], row["op"], str(row["outputs"]),
                      str(row["recomputed"]), f"{row['recomputed_share']:.0%}",
                      si(row["state_bytes"], "B"), si(row["working_bytes"], "B"))
    summary = [table, Text(
        f"recomputed: {result['recomputed_share']:.1%} of the {result['macs']:,} MACs of the "
        f"layers along the time axis, per window; "
        f"a ring-buffer schedule needs {si(result['ring_buffer_bytes'], 'B')} "
        f"({si(result['state_bytes'], 'B')} of state kept between windows + "
        f"{si(result['working_bytes'], 'B')} working)")]
    _emit(args, json.dumps(result, indent=1) + "\n", summary)
    return 0
