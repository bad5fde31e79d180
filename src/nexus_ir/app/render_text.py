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


def _pct(part: float | None, whole: float) -> str:
    return f"{(part or 0) / whole:.1%}" if whole else "-"


def report_renderables(report: "EnergyReport", depth: int = 2, top: int = 10) -> list[Any]:
    """The rich renderables of one report, in print order."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .common import si

    bindings = ", ".join(f"{k}={v}" for k, v in sorted(report.bindings.items()))
    title = Text.assemble(("NEXUS energy report: ", "bold"), (report.model, "bold cyan"),
                          " on ", (report.target, "bold"), f" ({report.target_description})")
    parts: list[Any] = [title]
    if bindings:
        parts.append(Text(f"bindings: {bindings}"))
    m = report.metrics
    kept = m["weights_on_chip"]
    run = f"execution: {m['execution']}, fp32 math {m['math']}" + \
        (f", {kept:.0%} of weights warm in the on-chip cache" if kept else "")
    error = m["expected_error"]
    run += f"; expected error: median {error['median_abs_error']:.0%} ({error['source']})" \
        if error else "; expected error: not validated for this target and mode"
    parts.append(Text(run))
    if "memory_needed" in m:
        levels = ", ".join(f"{name} {si(need, 'B')} of {si(m['memory_capacity'][name], 'B')}"
                           for name, need in m["memory_needed"].items())
        parts.append(Text(f"memory needed: {levels} — " +
                          ("fits" if m["fits"] else "does NOT fit")))

    summary = Table(box=box.SIMPLE, show_header=False, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in report.summary_rows():
        summary.add_row(label, value)
    parts.append(summary)

    modules = report.per_module(depth)
    table = Table(title=f"top {min(top, len(modules))} of {len(modules)} modules by energy "
                        f"(depth {depth})", title_justify="left", box=box.SIMPLE_HEAD)
    for name, justify in (("module", "left"), ("energy J", "right"), ("energy %", "right"),
                          ("FLOP %", "right"), ("compute", "right"), ("memory", "right"),
                          ("static", "right"), ("MACs", "right"), ("time s", "right")):
        table.add_column(name, justify=justify, no_wrap=name == "module")
    for row in modules[:top]:
        energy_share, flop_share = report.share(row)
        table.add_row(row.module, f"{row.energy_j:.4g}", f"{energy_share:.1%}",
                      f"{flop_share:.1%}", _pct(row.compute_j, row.energy_j),
                      _pct(row.memory_j, row.energy_j), _pct(row.static_j, row.energy_j),
                      f"{row.macs:,}", f"{row.time_s:.3g}")
    parts.append(table)

    if report.unmodeled:
        listed = ", ".join(f"%{n.name} ({n.op})" for n in report.unmodeled)
        parts.append(Text(f"unmodeled ops (not in the totals): {listed}", style="bold red"))
    parts.append(Text(f"target {report.target}: {len(report.provenance)} sourced numbers "
                      f"(nexus targets show {report.target})", style="dim"))
    return parts


def comparison_renderables(reports: Sequence["EnergyReport"]) -> list[Any]:
    """A side-by-side table of several reports; ratios are against the first row."""
    from rich import box
    from rich.table import Table

    table = Table(title="NEXUS comparison (× = relative to the first row; split = compute / "
                        "memory / static %)", title_justify="left",
                  box=box.SIMPLE_HEAD)
    for name in ("model", "target", "energy J", "× energy", "split %",
                 "latency s", "GFLOPs", "× FLOPs", "pJ/FLOP", "unmodeled"):
        table.add_column(name, justify="left" if name in ("model", "target") else "right",
                         no_wrap=True, min_width=len(name))
    base = reports[0].metrics
    for r in reports:
        m = r.metrics
        split = "/".join(f"{100 * m[f'{kind}_j'] / m['energy_j']:.1f}" if m["energy_j"] else "-"
                         for kind in ("compute", "memory", "static"))
        table.add_row(
            r.model, r.target, f"{m['energy_j']:.3g}",
            f"{m['energy_j'] / base['energy_j']:.3g}" if base["energy_j"] else "-", split,
            f"{m['latency_s']:.3g}", f"{m['flops'] / 1e9:.4g}",
            f"{m['flops'] / base['flops']:.3g}" if base["flops"] else "-",
            f"{m['energy_j'] / m['flops'] * 1e12:.4g}" if m["flops"] else "-",
            str(len(m["unmodeled"])))
    return [table]


def to_text(renderables: Sequence[Any], width: int = TEXT_WIDTH) -> str:
    """Renderables as plain text (no colour, fixed width), deterministic."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      legacy_windows=False, soft_wrap=False)
    for item in renderables:
        console.print(item)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").split("\n"))


def report_text(report: "EnergyReport", depth: int = 2, top: int = 10) -> str:
    """One report as plain text."""
    return to_text(report_renderables(report, depth, top))
