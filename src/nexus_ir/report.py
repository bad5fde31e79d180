"""``EnergyReport``: what ``compile()`` returns — per-node and per-module costs, totals, the six
NEXUS metrics, the target with its provenance, and the unmodeled ops.

Reports are reproducible: the same graph, target and options give the same JSON bytes (no
timestamps; keys sorted; floats in their shortest round-trip form).
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import SerializationError

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class NodeCost:
    """Costs of one node. ``modeled`` is False for ops without a lowering rule: their numbers
    are absent (None), never zero."""

    name: str
    op: str
    source: str
    modeled: bool
    macs: int | None = None
    flops: int | None = None
    transistor_ops: float | None = None
    off_chip_bytes: int | None = None
    on_chip_bytes: int | None = None
    time_s: float | None = None
    bound: str | None = None
    compute_j: float | None = None
    memory_j: float | None = None
    static_j: float | None = None
    energy_j: float | None = None
    unmodeled_reason: str | None = None


@dataclass(frozen=True)
class ModuleCost:
    """Costs summed over the nodes under one module path (``layer1`` holds ``layer1.0.conv1``)."""

    module: str
    nodes: int
    macs: int
    flops: int
    energy_j: float
    compute_j: float
    memory_j: float
    static_j: float
    time_s: float


_SUMMED = ("macs", "flops", "energy_j", "compute_j", "memory_j", "static_j", "time_s")


@dataclass
class EnergyReport:
    """The energy report of one model on one target."""

    model: str
    target: str
    target_description: str
    provenance: list[tuple[str, float, str]]
    bindings: dict[str, int]
    nodes: list[NodeCost]
    metrics: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    @property
    def unmodeled(self) -> list[NodeCost]:
        return [n for n in self.nodes if not n.modeled]

    def per_module(self, depth: int = 1) -> list[ModuleCost]:
        """Costs grouped by the first ``depth`` components of each node's source, by energy."""
        groups: dict[str, list[NodeCost]] = {}
        for n in self.nodes:
            if n.modeled:
                key = ".".join(n.source.split(".")[:depth]) if n.source else "(top)"
                groups.setdefault(key, []).append(n)
        rows = [ModuleCost(key, len(members),
                           *(sum(getattr(m, f) or 0 for m in members) for f in _SUMMED))
                for key, members in groups.items()]
        return sorted(rows, key=lambda r: (-r.energy_j, r.module))

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "target": {"name": self.target, "description": self.target_description,
                       "provenance": [{"key": k, "value": v, "source": s}
                                      for k, v, s in self.provenance]},
            "bindings": dict(sorted(self.bindings.items())),
            "options": self.options,
            "metrics": self.metrics,
            "nodes": [asdict(n) for n in self.nodes],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Deterministic JSON (sorted keys, no timestamps)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "EnergyReport":
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise SerializationError(f"unsupported report schema_version "
                                     f"{doc.get('schema_version')!r}; this NEXUS reads "
                                     f"{SCHEMA_VERSION}")
        try:
            target = doc["target"]
            return cls(doc["model"], target["name"], target["description"],
                       [(p["key"], p["value"], p["source"]) for p in target["provenance"]],
                       dict(doc["bindings"]), [NodeCost(**n) for n in doc["nodes"]],
                       dict(doc["metrics"]), dict(doc.get("options", {})))
        except (KeyError, TypeError) as err:
            raise SerializationError(f"malformed energy report: {err}") from None

    @classmethod
    def from_json(cls, text: str) -> "EnergyReport":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as err:
            raise SerializationError(f"energy report is not valid JSON: {err}") from None

    def to_dataframe(self) -> Any:
        """Per-node costs as a pandas DataFrame (pandas must be installed). Huge integer counts
        become floats rather than overflowing int64."""
        try:
            import pandas as pd
        except ImportError:
            from .errors import NexusError
            raise NexusError("to_dataframe() needs pandas: pip install pandas") from None
        rows = [asdict(n) for n in self.nodes]
        for row in rows:
            for key in ("macs", "flops"):
                if row[key] is not None and row[key] >= 2**63:
                    row[key] = float(row[key])
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ text and notebooks
    def summary_rows(self) -> list[tuple[str, str]]:
        m = self.metrics

        def opt(value: Any, fmt: str) -> str:
            return "n/a (give a capability score)" if value is None else format(value, fmt)

        return [
            ("energy per inference", f"{m['energy_j']:.4g} J (compute {m['compute_j']:.3g}, "
                                     f"memory {m['memory_j']:.3g}, static {m['static_j']:.3g})"),
            ("latency", f"{m['latency_s']:.4g} s"), ("EDP", f"{m['edp_js']:.4g} J·s"),
            ("FLOPs / MACs", f"{m['flops']:,} / {m['macs']:,}"),
            ("parameters / model bytes", f"{m['parameters']:,} / {m['model_bytes']:,}"),
            ("peak activation bytes", f"{m['peak_activation_bytes']:,}"),
            ("SAF-T (TO per output unit)", f"{m['saf_t']:.4g}"),
            ("LSRT", f"{m['lsrt']:.4f}"),
            ("MCER (memory/compute energy)", "n/a" if m["mcer"] is None else f"{m['mcer']:.4g}"),
            ("DDEV", f"{m['ddev']:.4g}"),
            ("ECU (J per capability unit)", opt(m["ecu"], ".4g")),
            ("CpTO (capability per TO)", opt(m["cpto"], ".4g")),
        ]

    def __str__(self) -> str:
        lines = [f"NEXUS energy report: {self.model} on {self.target} ({self.target_description})"]
        if self.bindings:
            lines.append("bindings: " + ", ".join(f"{k}={v}" for k, v in
                                                  sorted(self.bindings.items())))
        width = max(len(k) for k, _ in self.summary_rows())
        lines += [f"  {k:<{width}}  {v}" for k, v in self.summary_rows()]
        lines.append("top modules by energy:")
        for row in self.per_module()[:8]:
            share = row.energy_j / self.metrics["energy_j"] if self.metrics["energy_j"] else 0
            lines.append(f"  {row.module:<24} {row.energy_j:10.4g} J {share:6.1%}  "
                         f"{row.macs:>14,} MACs")
        if self.unmodeled:
            lines.append("unmodeled ops (not in the totals): " +
                         ", ".join(f"%{n.name} ({n.op})" for n in self.unmodeled))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                        f"<td>{html.escape(v)}</td></tr>" for k, v in self.summary_rows())
        return (f"<div><b>NEXUS energy report</b>: {html.escape(self.model)} on "
                f"{html.escape(self.target)}<table>{cells}</table></div>")

