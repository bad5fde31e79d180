"""The HTML page of a microcontroller memory plan (``nexus arena -o plan.html``): every arena
buffer drawn where TFLM's planner puts it — scopes across, bytes up — and the offset table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import fit_verdict, memory_levels, si
from .render_html import _chart, _esc, _layout, _page


def arena_html(plan: Mapping[str, Any]) -> str:
    """A self-contained page of ``plan`` (the document ``nexus arena`` writes as JSON): one bar
    per buffer spanning its scopes and its byte range, tensors and scratch buffers apart."""
    import plotly.graph_objects as go

    buffers = plan["buffers"]
    traces = []
    for kind in ("tensor", "scratch"):
        chosen = [b for b in buffers if b["kind"] == kind]
        if not chosen:
            continue
        traces.append(go.Bar(
            name=kind, x=[(b["first_scope"] + b["last_scope"]) / 2 for b in chosen],
            width=[b["last_scope"] - b["first_scope"] + 0.9 for b in chosen],
            base=[b["offset"] for b in chosen], y=[b["bytes"] for b in chosen],
            text=[b["name"] for b in chosen], textposition="none",
            hovertemplate="%{text}<br>%{y:,} B at offset %{base:,}<extra></extra>"))
    title = (f"{plan['model']} on {plan['target']}: TFLM arena {plan['arena_bytes']:,} B "
             f"({plan['kernel_library']} kernels)")
    figure = go.Figure(traces, _layout(title, height=560, barmode="overlay",
                                       xaxis={"title": "scope (0: inputs, k: operator k)"},
                                       yaxis={"title": "arena offset (bytes)"}))
    rows = "".join(f"<tr><td class='l' style='max-width:48em;word-break:break-all'>"
                   f"{_esc(b['name'])}</td><td>{_esc(b['kind'])}</td>"
                   f"<td>{b['bytes']:,}</td><td>{b['offset']:,}</td>"
                   f"<td>{b['first_scope']}–{b['last_scope']}</td></tr>"
                   for b in sorted(buffers, key=lambda b: (b["offset"], b["first_scope"])))
    body = (f"<h1>{_esc(title)}</h1><div class='sub'>persistent (estimated) "
            f"{si(plan['persistent_bytes'], 'B')} · flash {si(plan['flash_bytes'], 'B')} · "
            f"{_esc(memory_levels(plan))} — {fit_verdict(plan['fits'])}</div>"
            f"{_chart('arena')}<table class='nx'><tr><th>buffer</th><th>kind</th><th>bytes</th>"
            f"<th>offset</th><th>scopes</th></tr>{rows}</table>")
    return _page(title, body, [("arena", figure)])
