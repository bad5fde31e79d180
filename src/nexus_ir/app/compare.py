"""Hardware and model choice side by side: the figures ``nexus compare`` shows per row, each at
full precision (JSON keeps them so), and the normalised views that make targets of very
different size comparable — energy per sample, energy per byte moved, the share of the off-chip
bandwidth and of the board power limit an inference averages — and whether the model fits each
target's memories (a microcontroller's flash and RAM, a GPU's HBM)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..report import EnergyReport


def _ratio(value: float, base: float) -> float | None:
    return value / base if base else None


def figures(report: "EnergyReport", base: "EnergyReport") -> dict[str, Any]:
    """One comparison row: the report's totals, its ratios to ``base`` (the first row), and
    the normalised views (``None`` where a figure is undefined: no FLOPs, no power limit)."""
    m, b = report.metrics, base.metrics
    moved = m["off_chip_bytes"] + m["on_chip_bytes"]
    return {
        "target": report.target, "energy_j": m["energy_j"],
        "energy_ratio": _ratio(m["energy_j"], b["energy_j"]), "latency_s": m["latency_s"],
        "co2e_g": m.get("co2e_g"), "energy_per_output_j": m["energy_j"] / m["output_units"],
        "edp_js": m["edp_js"],
        "memory_pj_per_byte": m["memory_j"] / moved * 1e12 if moved else None,
        "bandwidth_use": m["bandwidth_use"], "power_use": m["power_use"],
        "split": {kind: _ratio(m[f"{kind}_j"], m["energy_j"])
                  for kind in ("compute", "memory", "static")},
        "flops": m["flops"], "flops_ratio": _ratio(m["flops"], b["flops"]),
        "pj_per_flop": m["energy_j"] / m["flops"] * 1e12 if m["flops"] else None,
        "unmodeled": len(m["unmodeled"]), "fits": m["fits"],
        "memory_needed": m["memory_needed"]}


def comparison(reports: Sequence["EnergyReport"], labels: Sequence[str]) -> list[dict[str, Any]]:
    """Every row's figures, labelled, ratios against the first row."""
    return [{"label": label, **figures(r, reports[0])} for label, r in zip(labels, reports)]
