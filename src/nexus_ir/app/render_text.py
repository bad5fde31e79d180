"""Terminal rendering of energy reports with rich: the summary, the six metrics, the top modules
with their compute/memory/static split and FLOP share beside energy share, the unmodeled ops, and
side-by-side comparisons. ``report_text`` gives the same output as plain text (no colour) for
``str(report)``, logs and golden tests."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..report import EnergyReport

TEXT_WIDTH = 120
SPLIT_WIDTH = 90           # terminal columns from which the module table shows the split


def _pct(part: float | None, whole: float) -> str:
    return f"{(part or 0) / whole:.1%}" if whole else "-"


def report_renderables(report: "EnergyReport", depth: int | None = None, top: int = 10,
                       width: int = TEXT_WIDTH, by_energy: bool = False) -> list[Any]:
    """The rich renderables of one report, in print order, for a terminal ``width`` columns
    wide (the module table drops its split column below ``SPLIT_WIDTH``); ``depth`` None is
    the report's ``auto_depth``."""
    depth = depth or report.auto_depth()
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .common import fit_verdict, memory_levels, si

    bindings = ", ".join(f"{k}={v}" for k, v in sorted(report.bindings.items()))
    title = Text.assemble(("NEXUS energy report: ", "bold"), (report.model, "bold cyan"),
                          " on ", (report.target, "bold"), f" ({report.target_description})")
    parts: list[Any] = [title]
    if bindings:
        parts.append(Text(f"bindings: {bindings}"))
    m = report.metrics
    kept = m["weights_on_chip"]
    tf32 = any(key in ("tf32_conv", "tf32_matmul") for key, _, _ in report.provenance)
    run = f"execution: {m['execution']}" + (f", fp32 math {m['math']}" if tf32 else "") + \
        (f", {kept:.0%} of weights warm in the on-chip cache" if kept else "")
    error = m["expected_error"]
    run += f"; expected error: median {error['median_abs_error']:.0%} ({error['source']})" \
        if error else "; expected error: unvalidated for this target and mode" + (
            " (its numbers are datasheet-derived estimates)"
            if report.target_confidence == "estimate" else "")
    if m.get("weight_bits_read", 1.0) < 1.0:
        run += f"; switching activity from a sample of the weights' bits " \
               f"({m['weight_bits_read']:.1%} read; --exact-bits reads all)"
    parts.append(Text(run))
    if "memory_needed" in m:
        arena = f" (TFLM arena {si(m['arena_bytes'], 'B')} + persistent " \
            f"{si(m['persistent_bytes'], 'B')})" if m.get("arena_bytes") is not None else ""
        parts.append(Text(f"memory needed: {memory_levels(m)}{arena} — "
                          f"{fit_verdict(m['fits'])}"))

    summary = Table(box=box.SIMPLE, show_header=False, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in report.summary_rows():
        summary.add_row(label, value)
    parts.append(summary)

    parts.append(module_table(report, depth, top, width, by_energy))

    if report.unmodeled:
        listed = ", ".join(f"%{n.name} ({n.op})" for n in report.unmodeled)
        parts.append(Text(f"unmodeled ops (not in the totals): {listed}", style="bold red"))
    parts.append(Text(f"target {report.target}: {len(report.provenance)} sourced numbers "
                      f"(nexus targets show {report.target})", style="dim"))
    return parts


def module_table(report: "EnergyReport", depth: int, top: int, width: int,
                 by_energy: bool) -> Any:
    """The ``top`` modules spending most, in model order (first node) or ``by_energy``; SI
    units; the compute/memory/static split only where ``width`` leaves room for it."""
    from rich import box
    from rich.table import Table

    from ..report import module_key
    from .common import si

    modules = report.per_module(depth)
    first = {}
    for index, node in enumerate(report.nodes):
        first.setdefault(module_key(node.source, depth), index)
    shown = modules[:top]
    if not by_energy:
        shown.sort(key=lambda row: first.get(row.module, len(report.nodes)))
    order = "by energy" if by_energy else "in model order"
    table = Table(title=f"{len(shown)} of {len(modules)} modules spending most, {order} "
                        f"(depth {depth})", title_justify="left", box=box.SIMPLE_HEAD)
    split = width >= SPLIT_WIDTH
    columns = ["module", "energy", "energy %", "FLOP %", *(["c / m / s %"] if split else []),
               "MACs", "time"]
    for name in columns:
        table.add_column(name, justify="left" if name == "module" else "right",
                         no_wrap=True, overflow="ellipsis" if name == "module" else "fold",
                         min_width=None if name == "module" else len(name))
    for row in shown:
        energy_share, flop_share = report.share(row)
        parts = "/".join(_pct(getattr(row, f"{kind}_j"), row.energy_j).rstrip("%")
                         for kind in ("compute", "memory", "static"))
        table.add_row(row.module, si(row.energy_j, "J"), f"{energy_share:.1%}",
                      f"{flop_share:.1%}", *([parts] if split else []),
                      si(row.macs, "").strip() if row.macs else "0", si(row.time_s, "s"))
    return table


COMPARE_ALWAYS = ("model", "target", "energy", "× energy", "latency")
COMPARE_OPTIONAL = ("fits", "carbon", "per output", "EDP", "pJ/B", "BW %", "power %", "split %",
                    "FLOPs", "× FLOPs", "pJ/FLOP", "unmodeled")
"""The comparison's columns: those always shown, then those added while the width allows."""


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def comparison_renderables(reports: Sequence["EnergyReport"],
                           labels: Sequence[str] | None = None,
                           width: int = TEXT_WIDTH) -> list[Any]:
    """A side-by-side table of several reports, rows named by ``labels`` (default: each
    graph's name); ratios are against the first row. Columns of ``COMPARE_OPTIONAL`` join, in
    that order, while the table still fits ``width``: a number is never cut."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .common import si
    from .compare import comparison
    from .render_html import distinct

    names = distinct(labels or [r.model for r in reports], [r.target for r in reports])
    rows = []
    for f in comparison(reports, names):
        rows.append({
            "model": f["label"], "target": f["target"], "energy": si(f["energy_j"], "J"),
            "× energy": _fmt(f["energy_ratio"], ".3g"), "latency": si(f["latency_s"], "s"),
            "carbon": "" if f["co2e_g"] is None else si(f["co2e_g"], "g"),
            "per output": si(f["energy_per_output_j"], "J"), "EDP": si(f["edp_js"], "J·s"),
            "pJ/B": _fmt(f["memory_pj_per_byte"], ".3g"),
            "BW %": f"{100 * f['bandwidth_use']:.2g}",
            "power %": _fmt(f["power_use"] and 100 * f["power_use"], ".2g"),
            "split %": "/".join(_fmt(share and 100 * share, ".1f")
                                for share in f["split"].values()),
            "FLOPs": si(f["flops"], "").strip(), "× FLOPs": _fmt(f["flops_ratio"], ".3g"),
            "pJ/FLOP": _fmt(f["pj_per_flop"], ".4g"), "unmodeled": str(f["unmodeled"]),
            "fits": "" if f["fits"] else "NO"})     # the column appears when a row does not

    def column_width(name: str) -> int:
        return max(len(name), *(len(row[name]) for row in rows)) + 3
    columns = [c for c in COMPARE_ALWAYS if c != "model"]
    room = width - 2 - min(column_width("model"), 40) - sum(map(column_width, columns))
    for name in COMPARE_OPTIONAL:
        if any(row[name] for row in rows) and column_width(name) <= room:
            columns.append(name)
            room -= column_width(name)
    columns = ["model", *(c for c in (*COMPARE_ALWAYS, *COMPARE_OPTIONAL) if c in columns)]
    table = Table(box=box.SIMPLE_HEAD)
    for name in columns:
        table.add_column(name, justify="left" if name in ("model", "target") else "right",
                         no_wrap=True, overflow="ellipsis" if name == "model" else "fold",
                         min_width=None if name == "model" else column_width(name) - 3)
    for row in rows:
        table.add_row(*(row[name] for name in columns))
    notes = {"pJ/B": "pJ/B = memory energy per byte moved", "BW %": "BW = share of the "
             "off-chip bandwidth used", "power %": "power = average power / board limit",
             "split %": "split = compute / memory / static %"}
    title = Text("NEXUS comparison (× = relative to the first row" + "".join(
        f"; {text}" for name, text in notes.items() if name in columns) + ")")
    return [title, table]


def to_text(renderables: Sequence[Any], width: int = TEXT_WIDTH) -> str:
    """Renderables as plain text (no colour, fixed width), deterministic."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      legacy_windows=False, soft_wrap=False)
    for item in renderables:
        console.print(item)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").split("\n"))


def report_text(report: "EnergyReport", depth: int | None = None, top: int = 10) -> str:
    """One report as plain text."""
    return to_text(report_renderables(report, depth, top))
