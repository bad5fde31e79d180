"""Model choice: rank candidate models by accuracy against a cost (energy, latency, EDP or
carbon per call) and find the Pareto front — the models no other beats on both — before any
of them runs on the target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import NexusError

COSTS = {"energy": ("energy_j", "J"), "latency": ("latency_s", "s"), "edp": ("edp_js", "J·s"),
         "carbon": ("co2e_g", "g")}


@dataclass(frozen=True)
class Choice:
    """One candidate: its name, accuracy, the cost the choice is made on, and whether no other
    candidate is at least as accurate and as cheap, and better in one of them."""

    name: str
    accuracy: float
    cost: float
    on_front: bool


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For each (accuracy, cost): True when no other point dominates it (accuracy ≥ and
    cost ≤, one of them strictly)."""
    return [not any(a2 >= a and c2 <= c and (a2 > a or c2 < c) for a2, c2 in points)
            for a, c in points]


def choose(names: Sequence[str], accuracies: Sequence[float], reports: Sequence[Any],
           objective: str = "energy") -> list[Choice]:
    """The candidates by accuracy, most accurate first, with the Pareto front marked on
    accuracy against ``objective``'s metric (``COSTS``)."""
    if len(accuracies) != len(names):
        raise NexusError(f"{len(accuracies)} accuracies for {len(names)} models: give one per "
                         "model, in order")
    key, _ = COSTS[objective]
    if any(key not in r.metrics for r in reports):
        raise NexusError(f"--objective {objective} needs its figure in every report "
                         "(carbon: give --grid)")
    costs = [r.metrics[key] for r in reports]
    front = pareto_front(list(zip(accuracies, costs)))
    choices = [Choice(n, a, c, f) for n, a, c, f in zip(names, accuracies, costs, front)]
    return sorted(choices, key=lambda c: (-c.accuracy, c.cost))


def choice_table(choices: Sequence[Choice], objective: str) -> list[Any]:
    """The choices as rich renderables (a heading and a table), the front marked."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..units import si

    _, unit = COSTS[objective]
    heading = Text(f"accuracy against {objective} per call (★ = Pareto front: no other model "
                   "is as accurate and cheaper)")
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("", "model", "accuracy", objective):
        table.add_column(name, justify="left" if name in ("", "model") else "right",
                         no_wrap=True)
    for c in choices:
        table.add_row("★" if c.on_front else "", c.name, f"{c.accuracy:.4g}", si(c.cost, unit))
    return [heading, table]
