"""HTML rendering of energy reports: one self-contained page per report (plotly.js inlined, so it
works offline), a light chart-free fragment for notebooks, and a comparison page.

The page's charts: energy by module (treemap), the compute/memory/static split per module, FLOP
share beside energy share per layer (where FLOPs mislead), and a roofline of the nodes. The page
marks itself when the charts are drawn (``data-charts-drawn`` on ``<body>``) and counts script
errors (``data-errors``), so a headless browser can check it; ``#depth=N`` in the address opens
the module table at depth N. Output is deterministic: fixed element ids, no timestamps.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..units import si
from .common import fit_verdict

if TYPE_CHECKING:
    from ..report import EnergyReport

SPLIT_COLORS = {"compute": "#4C78A8", "memory": "#F58518", "static": "#9D9D9D"}
BOUND_COLORS = {"compute": "#4C78A8", "memory": "#F58518", "power": "#E45756",
                "overhead": "#9D9D9D", "view": "#BAB0AC"}
UNIT_SUFFIXES = (("_js", "J·s"), ("_j", "J"), ("_s", "s"), ("_g", "g"))
"""Units read off a figure's key, for the tables people read (JSON keeps the numbers)."""
TOP_MODULES = 15
TOP_LAYERS = 25

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;
max-width:1280px}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;margin-top:28px}
.sub{color:#666;margin-bottom:16px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 12px;background:#fafafa}
.card .k{font-size:.8em;color:#666} .card .v{font-size:1.15em;font-weight:600;margin-top:2px}
.card .d{font-size:.72em;color:#888;margin-top:2px}
table.nx{border-collapse:collapse;font-size:.85em;margin-top:6px}
table.nx th,table.nx td{border-bottom:1px solid #eee;padding:3px 8px;text-align:right}
table.nx th:first-child,table.nx td:first-child{text-align:left}
table.nx td.l{text-align:left}
.bar{display:inline-block;height:10px;vertical-align:middle}
.chart{width:100%;min-height:420px}
.warn{color:#b00020}
"""

_BOOT = """
document.body.dataset.errors = "0";
window.addEventListener("error", function () {
  document.body.dataset.errors = String(Number(document.body.dataset.errors) + 1);
});
var depthLink = location.hash.match(/depth=(\d+)/);
var depthSelect = document.getElementById("module-depth");
if (depthLink && depthSelect) {
  depthSelect.value = depthLink[1];
  depthSelect.onchange();
}
var figures = JSON.parse(document.getElementById("nexus-figures").textContent);
Promise.all(figures.map(function (f) {
  return Plotly.newPlot(f.id, f.figure.data, f.figure.layout,
                        {displaylogo: false, responsive: true});
})).then(function () {
  document.body.dataset.chartsDrawn = String(figures.length);
}).catch(function (err) {
  console.error(err);
  document.body.dataset.errors = String(Number(document.body.dataset.errors) + 1);
});
"""

METRIC_NOTES = {
    "SAF-T": "transistor ops per output unit",
    "LSRT": "share of time not switching",
    "MCER": "memory ÷ compute energy",
    "DDEV": "variation of energy across inputs",
    "ECU": "joules per capability unit",
    "CpTO": "capability per transistor op",
}


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _card(key: str, value: str, note: str = "") -> str:
    extra = f"<div class='d'>{_esc(note)}</div>" if note else ""
    return (f"<div class='card'><div class='k'>{_esc(key)}</div>"
            f"<div class='v'>{_esc(value)}</div>{extra}</div>")


def _opt(value: float | None, fmt: str, missing: str) -> str:
    return missing if value is None else format(value, fmt)


def summary_cards(report: "EnergyReport") -> str:
    """The totals and the six NEXUS metrics as cards."""
    m = report.metrics
    cards = [
        ("energy per call", si(m["energy_j"], "J"),
         f"compute {si(m['compute_j'], 'J')} · memory {si(m['memory_j'], 'J')} · static "
         f"{si(m['static_j'], 'J')}"),
        ("energy per output", si(m["energy_j"] / m["output_units"], "J"),
         f"{m['output_units']:,} outputs a call (samples, or tokens)"),
        ("latency", si(m["latency_s"], "s"), "predicted, per call"),
        ("EDP", si(m["edp_js"], "J·s"), "energy × latency"),
        ("FLOPs", f"{m['flops']:,}", f"MACs {m['macs']:,}"),
        ("parameters", f"{m['parameters']:,}", f"{m['model_bytes']:,} bytes"),
        ("peak activations", f"{m['peak_activation_bytes']:,} B", ""),
        *([("TFLM arena", f"{m['arena_bytes']:,} B", f"+ {si(m['persistent_bytes'], 'B')} "
            f"persistent; flash {si(m['flash_bytes'], 'B')}; "
            + fit_verdict(m["fits"]))] if m.get("arena_bytes") is not None
          else []),
        ("SAF-T", f"{m['saf_t']:.4g}", METRIC_NOTES["SAF-T"]),
        ("LSRT", f"{m['lsrt']:.4f}", METRIC_NOTES["LSRT"]),
        ("MCER", _opt(m["mcer"], ".4g", "n/a"), METRIC_NOTES["MCER"]),
        ("DDEV", "n/a" if m["ddev"] is None else f"{m['ddev']:.4g}", METRIC_NOTES["DDEV"]),
        ("ECU", _opt(m["ecu"], ".4g", "n/a"), METRIC_NOTES["ECU"] + " (needs --capability)"),
        ("CpTO", _opt(m["cpto"], ".4g", "n/a"), METRIC_NOTES["CpTO"] + " (needs --capability)"),
    ]
    return "<div class='cards'>" + "".join(_card(*c) for c in cards) + "</div>"


def _split_bar(row: Any) -> str:
    """An inline compute/memory/static bar (CSS only) for one module or node."""
    total = row.energy_j or 0
    if not total:
        return ""
    return "".join(f"<span class='bar' title='{kind} {getattr(row, kind + '_j') / total:.1%}' "
                   f"style='width:{120 * getattr(row, kind + '_j') / total:.1f}px;"
                   f"background:{color}'></span>" for kind, color in SPLIT_COLORS.items())


def module_table(report: "EnergyReport", depth: int | None = None, top: int = TOP_MODULES
                 ) -> str:
    """The top modules by energy with their split and FLOP share beside energy share, at every
    module depth the model has, ``depth`` (default: the report's ``auto_depth``) shown first; a
    selector switches depth."""
    depth = depth or report.auto_depth()
    deepest = report.deepest_module
    tables = []
    for level in range(1, deepest + 1):
        rows = []
        for row in report.per_module(level)[:top]:
            energy_share, flop_share = report.share(row)
            rows.append(f"<tr><td>{_esc(row.module)}</td><td>{si(row.energy_j, 'J')}</td>"
                        f"<td>{energy_share:.1%}</td><td>{flop_share:.1%}</td>"
                        f"<td class='l'>{_split_bar(row)}</td><td>{row.macs:,}</td>"
                        f"<td>{si(row.time_s, 's')}</td></tr>")
        hidden = "" if level == min(depth, deepest) else " hidden"
        tables.append(f"<table class='nx' data-depth='{level}'{hidden}><tr><th>module</th>"
                      "<th>energy</th><th>energy %</th><th>FLOP %</th><th>compute / memory / "
                      "static</th><th>MACs</th><th>time</th></tr>" + "".join(rows) + "</table>")
    options = "".join(f"<option value='{level}'{' selected' if level == min(depth, deepest) else ''}>"
                      f"{level}</option>" for level in range(1, deepest + 1))
    selector = ("<label>module depth <select id='module-depth' onchange=\"document.querySelectorAll("
                "'table[data-depth]').forEach(function (t) {t.hidden = t.dataset.depth !== "
                f"this.value;}}, this)\">{options}</select></label>")
    return selector + "".join(tables)


def unmodeled_section(report: "EnergyReport") -> str:
    if not report.unmodeled:
        return "<p>Every op is modeled.</p>"
    rows = "".join(f"<tr><td>%{_esc(n.name)}</td><td class='l'>{_esc(n.op)}</td>"
                   f"<td class='l'>{_esc(n.source)}</td>"
                   f"<td class='l'>{_esc(n.unmodeled_reason or '')}</td></tr>"
                   for n in report.unmodeled)
    return (f"<p class='warn'>{len(report.unmodeled)} op(s) could not be costed and are not in "
            "the totals.</p><table class='nx'><tr><th>node</th><th>op</th><th>module</th>"
            f"<th>why</th></tr>{rows}</table>")


def provenance_section(report: "EnergyReport") -> str:
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{v:.6g}</td><td class='l'>{_esc(s)}</td></tr>"
                   for k, v, s in report.provenance)
    return ("<table class='nx'><tr><th>number</th><th>value</th><th>source</th></tr>"
            f"{rows}</table>")


def _header(report: "EnergyReport") -> str:
    bindings = ", ".join(f"{k}={v}" for k, v in sorted(report.bindings.items()))
    return (f"<h1>NEXUS energy report: {_esc(report.model)}</h1><div class='sub'>on "
            f"<b>{_esc(report.target)}</b> ({_esc(report.target_description)})"
            f"{' · ' + _esc(bindings) if bindings else ''} · nexus-ml {_esc(__version__)}</div>")


def split_legend() -> str:
    """What the split bars' colours mean."""
    return "<p class='legend'>" + " ".join(
        f"<span class='bar' style='width:12px;background:{color}'></span> {kind}"
        for kind, color in SPLIT_COLORS.items()) + " energy</p>"


def share_bars(report: "EnergyReport", depth: int | None = None, top: int = 8) -> str:
    """A script-free bar chart of the modules spending most: energy share beside FLOP share."""
    rows = []
    for row in report.per_module(depth or report.auto_depth())[:top]:
        energy, flops = report.share(row)
        rows.append(f"<tr><td>{_esc(row.module)}</td><td class='l'>"
                    f"<span class='bar' style='width:{240 * energy:.1f}px;background:#E45756'>"
                    f"</span> {energy:.1%} of energy<br><span class='bar' style='width:"
                    f"{240 * flops:.1f}px;background:#72B7B2'></span> {flops:.1%} of FLOPs"
                    "</td></tr>")
    return "<table class='nx'>" + "".join(rows) + "</table>"


def notebook_html(report: "EnergyReport") -> str:
    """A script-free HTML fragment for notebooks: cards, the modules spending most as bars
    (energy share beside FLOP share), the module table with its legend, unmodeled ops."""
    return (f"<div><style>{_CSS}</style>{_header(report)}{summary_cards(report)}"
            f"<h2>Modules spending most</h2>{share_bars(report)}"
            f"<h2>Top modules by energy</h2>{split_legend()}{module_table(report)}"
            f"<h2>Unmodeled ops</h2>{unmodeled_section(report)}</div>")


# ---------------------------------------------------------------------------- figures
def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "template": "plotly_white",
            "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, **extra}


def treemap_figure(report: "EnergyReport") -> Any:
    """Energy by module: every module path is a box (an index such as ``features.0`` keeps its
    parent's name), every modeled node a leaf named by its op."""
    import plotly.graph_objects as go

    boxes: dict[str, tuple[str, str, float]] = {"": (report.model, "", 0.0)}  # id → label, parent, J
    for n in report.nodes:
        if not n.modeled or not n.energy_j:
            continue
        parent = ""
        for part in (n.source or "(top)").split("."):
            path = f"{parent}.{part}" if parent else part
            boxes.setdefault(path, (path if part.isdigit() else part, parent, 0.0))
            parent = path
        boxes[f"{parent}/%{n.name}"] = (f"{n.op} · %{n.name}", parent, n.energy_j)
    ids = [f"m:{key}" for key in boxes]
    labels, parents, values = zip(*boxes.values())
    parents = [f"m:{p}" if key else "" for key, p in zip(boxes, parents)]
    trace = go.Treemap(ids=ids, labels=list(labels), parents=parents, values=list(values),
                       branchvalues="remainder", maxdepth=3,
                       hovertemplate="%{label}<br>%{value:.4g} J<extra></extra>")
    return go.Figure(trace, _layout("Energy by module (click to zoom)", height=520))


def split_figure(report: "EnergyReport", depth: int | None = None, top: int = TOP_MODULES
                 ) -> Any:
    """Compute / memory / static energy of the whole model and the top modules."""
    import plotly.graph_objects as go

    modules = report.per_module(depth or report.auto_depth())[:top]
    m = report.metrics
    names = ["(whole model)"] + [r.module for r in modules]
    traces = [go.Bar(name=kind, orientation="h", y=names, marker_color=color,
                     x=[m[f"{kind}_j"]] + [getattr(r, f"{kind}_j") for r in modules])
              for kind, color in SPLIT_COLORS.items()]
    return go.Figure(traces, _layout("Compute / memory / static energy (J)", barmode="stack",
                                     height=max(320, 28 * len(names) + 120),
                                     yaxis={"autorange": "reversed"}))


def share_figure(report: "EnergyReport", top: int = TOP_LAYERS) -> Any:
    """FLOP share beside energy share for the most energetic layers: where FLOPs mislead."""
    import plotly.graph_objects as go

    nodes = sorted((n for n in report.nodes if n.modeled and n.energy_j),
                   key=lambda n: (-n.energy_j, n.name))[:top]
    names = [f"{n.source or '(top)'} ({n.op})" for n in nodes]
    names = [name if names.count(name) == 1 else f"{name} %{n.name}"
             for name, n in zip(names, nodes)]
    shares = [report.share(n) for n in nodes]
    traces = [go.Bar(name="energy share", orientation="h", y=names,
                     x=[e for e, _ in shares], marker_color="#E45756"),
              go.Bar(name="FLOP share", orientation="h", y=names,
                     x=[f for _, f in shares], marker_color="#72B7B2")]
    return go.Figure(traces, _layout(
        f"FLOP share vs energy share, top {len(nodes)} layers by energy", barmode="group",
        height=max(360, 34 * len(names) + 120), xaxis={"tickformat": ".0%"},
        yaxis={"autorange": "reversed"}))


def roofline_figure(report: "EnergyReport") -> Any:
    """Attained FLOP/s against arithmetic intensity per node — FLOPs per byte of the level that
    takes longer to move them (off chip, or on chip for an L2-resident op) — under both
    bandwidth slopes and the compute ceilings. Nodes that move nothing are drawn at the right
    edge."""
    import plotly.graph_objects as go

    points = [n for n in report.nodes if n.modeled and n.flops and n.time_s]
    roof = report.roofline
    on_bw = roof.get("on_chip_bytes_per_s")

    def moved(n: Any) -> int:
        """The bytes of the level that takes longer to move them (off or on chip)."""
        if on_bw and n.on_chip_bytes and (n.on_chip_bytes or 0) / on_bw > \
                (n.off_chip_bytes or 0) / roof["off_chip_bytes_per_s"]:
            return n.on_chip_bytes
        return n.off_chip_bytes or 0
    intensities = [n.flops / moved(n) for n in points if moved(n)]
    x_max = max([*intensities, 1.0]) * 4
    x_min = min([*intensities, 1.0]) / 4
    traces = []
    for bound, color in BOUND_COLORS.items():
        members = [n for n in points if n.bound == bound]
        if members:
            traces.append(go.Scatter(
                name=f"{bound}-bound", mode="markers", marker={"color": color, "size": 8},
                x=[n.flops / moved(n) if moved(n) else x_max for n in members],
                y=[n.flops / n.time_s for n in members],
                text=[f"{n.source or '(top)'} ({n.op}) %{n.name}" for n in members],
                hovertemplate="%{text}<br>%{x:.3g} FLOP/B, %{y:.3g} FLOP/s<extra></extra>"))
    for level, bandwidth, color in (("off-chip", roof.get("off_chip_bytes_per_s"), "#333"),
                                    ("on-chip", on_bw, "#999")):
        if not bandwidth:
            continue
        for ceiling in roof.get("ceilings", []):
            peak = ceiling["flops_per_s"]
            knee = peak / bandwidth
            xs = [x_min, min(max(knee, x_min), x_max), x_max]
            traces.append(go.Scatter(
                name=f"{ceiling['exec_class']} {roof['dtype']} roof, {level} bandwidth",
                mode="lines", line={"dash": "dash" if ceiling["exec_class"] == "vector"
                                    else "solid", "color": color},
                x=xs, y=[min(peak, bandwidth * x) for x in xs]))
    return go.Figure(traces, _layout(
        f"Roofline on {report.target} ({len(points)} nodes with FLOPs)", height=480,
        xaxis={"type": "log", "title": {"text": "FLOPs per byte of the level that bounds "
                                                "the node (off chip or on chip)"}},
        yaxis={"type": "log", "title": {"text": "attained FLOP/s"}}))


def _page(title: str, body: str, figures: Sequence[tuple[str, Any]]) -> str:
    """A whole page: plotly.js inlined once, the figures as JSON, the boot script."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    payload = "[" + ",".join(f'{{"id": {json.dumps(fid)}, "figure": {pio.to_json(fig)}}}'
                             for fid, fig in figures) + "]"
    payload = payload.replace("</", "<\\/")
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_esc(title)}</title><style>{_CSS}</style>"
            f"<script>{get_plotlyjs()}</script></head><body>{body}"
            f"<script type='application/json' id='nexus-figures'>{payload}</script>"
            f"<script>{_BOOT}</script></body></html>\n")


def _chart(fid: str) -> str:
    return f"<div class='chart' id='{fid}'></div>"


def report_html(report: "EnergyReport") -> str:
    """The self-contained HTML page of one report."""
    figures = [("energy-treemap", treemap_figure(report)), ("energy-split", split_figure(report)),
               ("flop-vs-energy", share_figure(report)), ("roofline", roofline_figure(report))]
    body = (_header(report) + summary_cards(report)
            + "<h2>Where the energy goes</h2>" + _chart("energy-treemap")
            + "<h2>Compute, memory and static energy</h2>" + _chart("energy-split")
            + "<h2>FLOP share vs energy share</h2><p>A layer whose energy share far exceeds its "
              "FLOP share is where a FLOP count misleads: memory traffic, static power over its "
              "time, or per-kernel overhead dominate it.</p>" + _chart("flop-vs-energy")
            + "<h2>Roofline</h2>" + _chart("roofline")
            + "<h2>Top modules</h2>" + split_legend() + module_table(report)
            + "<h2>Unmodeled ops</h2>" + unmodeled_section(report)
            + f"<h2>Target {_esc(report.target)} and its provenance</h2>"
            + provenance_section(report))
    return _page(f"NEXUS: {report.model} on {report.target}", body, figures)


def distinct(labels: Sequence[str], within: Sequence[str] | None = None) -> list[str]:
    """``labels`` with repeats numbered (``main_graph``, ``main_graph (2)``); with ``within``
    (each row's target), only repeats on the same target count."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for label, group in zip(labels, within or [""] * len(labels)):
        seen[label, group] = seen.get((label, group), 0) + 1
        count = seen[label, group]
        out.append(label if count == 1 else f"{label} ({count})")
    return out


def comparison_html(reports: Sequence["EnergyReport"], names: Sequence[str] | None = None
                    ) -> str:
    """A page comparing several reports: a table, the energy split per row, and energy beside
    FLOPs relative to the first row. ``names`` label the rows (default: each graph's name); a
    name given twice is numbered, so that two models never share a bar."""
    import plotly.graph_objects as go

    labels = distinct([f"{n} on {r.target}" for n, r in
                       zip(names or [r.model for r in reports], reports)])
    split = go.Figure([go.Bar(name=kind, orientation="h", y=labels, marker_color=color,
                              x=[r.metrics[f"{kind}_j"] for r in reports])
                       for kind, color in SPLIT_COLORS.items()],
                      _layout("Energy per inference (J)", barmode="stack",
                              height=max(300, 40 * len(labels) + 120),
                              yaxis={"autorange": "reversed"}))
    base = reports[0].metrics
    ratios = go.Figure([go.Bar(name=key, orientation="h", y=labels,
                               x=[r.metrics[key] / base[key] if base[key] else 0
                                  for r in reports])
                        for key in ("energy_j", "flops", "latency_s")],
                       _layout("Relative to the first row: energy, FLOPs, latency",
                               barmode="group", height=max(300, 60 * len(labels) + 120),
                               yaxis={"autorange": "reversed"}))
    from .compare import comparison

    def percent(share: float | None) -> str:
        return "n/a" if share is None else f"{100 * share:.3g} %"
    rows = "".join(
        f"<tr><td>{_esc(f['label'])}</td><td class='l'>{_esc(f['target'])}</td>"
        f"<td>{si(f['energy_j'], 'J')}</td><td>{si(f['energy_per_output_j'], 'J')}</td>"
        f"<td>{si(f['latency_s'], 's')}</td><td>{si(f['edp_js'], 'J·s')}</td>"
        f"<td>{_opt(f['memory_pj_per_byte'], '.3g', 'n/a')}</td>"
        f"<td>{percent(f['bandwidth_use'])}</td><td>{percent(f['power_use'])}</td>"
        f"<td>{f['flops']:,}</td><td>{r.metrics['parameters']:,}</td>"
        f"<td>{r.metrics['saf_t']:.4g}</td><td>{_opt(r.metrics['mcer'], '.4g', 'n/a')}</td>"
        f"<td>{f['unmodeled']}</td></tr>"
        for f, r in zip(comparison(reports, labels), reports))
    table = ("<table class='nx'><tr><th>model</th><th>target</th><th>energy</th>"
             "<th>per output</th><th>latency</th><th>EDP</th><th>pJ per byte moved</th>"
             "<th>off-chip bandwidth used</th><th>of board power limit</th><th>FLOPs</th>"
             "<th>parameters</th><th>SAF-T</th><th>MCER</th><th>unmodeled</th></tr>"
             f"{rows}</table>")
    body = (f"<h1>NEXUS comparison</h1><div class='sub'>{len(reports)} reports · nexus-ml "
            f"{_esc(__version__)}</div>{table}<h2>Energy split</h2>{_chart('compare-split')}"
            f"<h2>Energy vs FLOPs</h2>{_chart('compare-ratios')}")
    return _page("NEXUS comparison", body, [("compare-split", split), ("compare-ratios", ratios)])


def validation_html(measurement: Any, pairs: Sequence[tuple[Any, Any]], cache_control: str
                    ) -> str:
    """Predicted vs measured per node (FLOPs, DRAM bytes, time; log-log with the y = x line)
    and the energy per inference, from ``nexus validate``."""
    import plotly.graph_objects as go

    figures = []
    for key, label, predicted, observed in (
            ("flops", "FLOPs", lambda n: n.flops, lambda c: c.flops),
            ("dram", "DRAM bytes", lambda n: n.off_chip_bytes, lambda c: c.dram_bytes),
            ("time", "time (s)", lambda n: n.time_s, lambda c: c.time_s)):
        points = [(predicted(n), observed(c), f"%{n.name} {n.op} {n.source}") for n, c in pairs
                  if predicted(n) and observed(c)]
        values = [v for p, o, _ in points for v in (p, o)] or [1.0]
        span = [min(values) / 2, max(values) * 2]
        figure = go.Figure([
            go.Scatter(name="nodes", mode="markers", x=[p for p, _, _ in points],
                       y=[o for _, o, _ in points], text=[t for _, _, t in points],
                       hovertemplate="%{text}<br>predicted %{x:.3g}, measured %{y:.3g}"
                                     "<extra></extra>"),
            go.Scatter(name="y = x", mode="lines", x=span, y=span,
                       line={"dash": "dash", "color": "#333"})],
            _layout(f"{label}: predicted vs measured (ncu), {len(points)} of {len(pairs)} nodes "
                    "(zeros cannot be drawn on log axes)", height=420,
                    xaxis={"type": "log", "title": {"text": f"NEXUS {label}"}},
                    yaxis={"type": "log", "title": {"text": f"measured {label}"}}))
        figures.append((f"validate-{key}", figure))
    m = measurement
    predicted = m["report"]["metrics"]["energy_j"]
    body = (f"<h1>NEXUS validation: {_esc(m['model'])}</h1><div class='sub'>{_esc(m['device'])}"
            f" · meter {_esc(m['meter'])} · ncu --clock-control none --cache-control "
            f"{_esc(cache_control)}</div><div class='cards'>"
            + _card("measured energy", si(m["energy_j"], "J"), f"CV {m['cv']:.3f}")
            + _card("predicted energy", si(predicted, "J"),
                    f"{(predicted - m['energy_j']) / m['energy_j']:+.1%} on "
                    f"{m['report']['target']['name']}")
            + _card("measured time", si(m["seconds_per_call"], "s"), "per call")
            + "</div>" + "".join(_chart(fid) for fid, _ in figures))
    return _page(f"NEXUS validation: {m['model']}", body, figures)


def points_html(title: str, rows: Sequence[dict[str, Any]], label_keys: Sequence[str],
                x: tuple[str, str, bool], y: tuple[str, str, bool], marked: Sequence[bool] = (),
                columns: Sequence[str] = ()) -> str:
    """A page of points (a sweep's, or candidate models'): one scatter of ``y`` against ``x``
    (each a (row key, axis title, log axis) triple), a trace per target, hover naming each point
    by its ``label_keys``; ``marked`` points (a Pareto front) joined by a line; then a table of
    ``columns``. Rows without both figures are listed in the table only."""
    import plotly.graph_objects as go

    def name(row: dict[str, Any]) -> str:
        return " · ".join(f"{row[k]}" for k in label_keys if row.get(k) not in (None, ""))
    drawn = [r for r in rows if r.get(x[0]) is not None and r.get(y[0]) is not None]
    traces = [go.Scatter(name=str(target), mode="markers", x=[r[x[0]] for r in group],
                         y=[r[y[0]] for r in group], text=[name(r) for r in group],
                         hovertemplate="%{text}<br>%{x:.4g}, %{y:.4g}<extra></extra>")
              for target in dict.fromkeys(r.get("target") for r in drawn)
              for group in [[r for r in drawn if r.get("target") == target]]]
    front = sorted((r for r, m in zip(rows, marked) if m and r in drawn), key=lambda r: r[x[0]])
    if front:
        traces.append(go.Scatter(name="Pareto front", mode="lines", x=[r[x[0]] for r in front],
                                 y=[r[y[0]] for r in front], line={"dash": "dash"}))
    figure = go.Figure(traces, _layout(title, height=520,
                                       xaxis={"title": x[1], "type": "log" if x[2] else "linear"},
                                       yaxis={"title": y[1], "type": "log" if y[2] else "linear"}))

    def cell(column: str, value: Any) -> str:
        unit = next((u for suffix, u in UNIT_SUFFIXES if column.endswith(suffix)), None)
        if isinstance(value, float):
            return si(value, unit) if unit else f"{value:.4g}"
        return _esc("" if value is None else value)
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body_rows = "".join("<tr>" + "".join(f"<td class='l'>{cell(c, r.get(c))}</td>" if i == 0
                                        else f"<td>{cell(c, r.get(c))}</td>"
                                        for i, c in enumerate(columns)) + "</tr>" for r in rows)
    body = (f"<h1>{_esc(title)}</h1><div class='sub'>{len(rows)} points · nexus-ml "
            f"{_esc(__version__)}</div>{_chart('points')}"
            f"<table class='nx'><tr>{head}</tr>{body_rows}</table>")
    return _page(title, body, [("points", figure)])
