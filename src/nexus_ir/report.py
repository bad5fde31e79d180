"""``EnergyReport``: what ``compile()`` returns — per-node and per-module costs, totals, the six
NEXUS metrics, the target with its provenance, and the unmodeled ops.

Reports are reproducible: the same graph, target and options give the same JSON bytes (no
timestamps; keys sorted; floats in their shortest round-trip form).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from collections.abc import Callable
from typing import Any

from .errors import NexusError, SerializationError
from .units import si

Renderer = Callable[["EnergyReport"], str]
_RENDERERS: dict[str, Renderer] = {}


def register_renderer(kind: str, render: Renderer) -> None:
    """Install the function that renders a report as ``kind`` ("text", "html", "notebook").

    The core owns the report's data and leaves drawing to the public face
    (``nexus_ir.app``), which must not be imported from here: ``nexus_ir/__init__`` installs
    the app's renderers lazily, and a user may install another."""
    _RENDERERS[kind] = render


def renderer(kind: str) -> Renderer:
    """The installed renderer for ``kind``."""
    try:
        return _RENDERERS[kind]
    except KeyError:
        raise NexusError(f"no {kind} renderer is installed for reports; import nexus_ir "
                         "(which installs the built-in ones) or call "
                         "nexus_ir.report.register_renderer") from None

SCHEMA_VERSION = 2
SCHEMA_FILE = Path(__file__).parent / "report.schema.json"


@dataclass(frozen=True)
class NodeCost:
    """Costs of one node. ``modeled`` is False for ops without a lowering rule: their numbers
    are absent (None), never zero."""

    name: str
    op: str
    source: str
    modeled: bool
    dtype: str | None = None
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


CALL_OVERHEAD = "(launch and sync)"


def module_key(source: str, depth: int) -> str:
    """The module a node of ``source`` belongs to at ``depth``: its first ``depth`` path
    components, ``(top)`` for a node outside every module."""
    return ".".join(source.split(".")[:depth]) if source else "(top)"
"""The ``per_module`` row of the per-inference launch and synchronize."""

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
    roofline: dict[str, Any] = field(default_factory=dict)
    target_confidence: str = "unstated"

    # ------------------------------------------------------------------ views
    @property
    def unmodeled(self) -> list[NodeCost]:
        return [n for n in self.nodes if not n.modeled]

    def auto_depth(self, most: float = 0.5, fewest: int = 3) -> int:
        """The module depth a reader wants first: the shallowest at which at least ``fewest``
        modules appear and none holds more than ``most`` of the energy (GPT-2's blocks, not one
        ``transformer.h``); the deepest level when none qualifies."""
        total = self.metrics["energy_j"]
        for depth in range(1, self.deepest_module + 1):
            rows = [r for r in self.per_module(depth) if r.module != CALL_OVERHEAD]
            if len(rows) >= fewest and all(r.energy_j <= most * total for r in rows):
                return depth
        return self.deepest_module

    @property
    def deepest_module(self) -> int:
        """How many components the longest module path has (1 for a model without any)."""
        return max([len(n.source.split(".")) for n in self.nodes if n.source] + [1])

    def per_module(self, depth: int = 1) -> list[ModuleCost]:
        """Costs grouped by the first ``depth`` components of each node's source, by energy;
        the per-inference launch and synchronize, outside every node, is a row of its own."""
        groups: dict[str, list[NodeCost]] = {}
        for n in self.nodes:
            if n.modeled:
                key = module_key(n.source, depth)
                groups.setdefault(key, []).append(n)
        rows = [ModuleCost(key, len(members),
                           *(sum(getattr(m, f) or 0 for m in members) for f in _SUMMED))
                for key, members in groups.items()]
        call = self.metrics.get("call_overhead_s") or 0.0
        if call:
            joules = self.metrics["energy_j"] - sum(r.energy_j for r in rows)
            rows.append(ModuleCost(CALL_OVERHEAD, 0, 0, 0, joules, 0.0, 0.0, joules, call))
        return sorted(rows, key=lambda r: (-r.energy_j, r.module))

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "target": {"name": self.target, "description": self.target_description,
                       "confidence": self.target_confidence,
                       "provenance": [{"key": k, "value": v, "source": s}
                                      for k, v, s in self.provenance]},
            "bindings": dict(sorted(self.bindings.items())),
            "options": self.options,
            "metrics": self.metrics,
            "nodes": [asdict(n) for n in self.nodes],
            "roofline": self.roofline,
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
                       dict(doc["metrics"]), dict(doc.get("options", {})),
                       dict(doc.get("roofline", {})), target.get("confidence", "unstated"))
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

    def to_csv(self) -> str:
        """Per-node costs as CSV, one row per node in graph order; absent values are empty
        cells. Deterministic like the JSON."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        names = [f.name for f in fields(NodeCost)]
        writer.writerow(names)
        for n in self.nodes:
            writer.writerow(["" if getattr(n, k) is None else getattr(n, k) for k in names])
        return out.getvalue()

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML report (charts drawn offline, no CDN); written to ``path`` when
        given. Needs plotly."""
        page = renderer("html")(self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    # ------------------------------------------------------------------ text and notebooks
    def share(self, row: "ModuleCost | NodeCost") -> tuple[float, float]:
        """(energy share, FLOP share) of a module or node in this report's totals."""
        energy, flops = self.metrics["energy_j"], self.metrics["flops"]
        return ((row.energy_j or 0) / energy if energy else 0.0,
                (row.flops or 0) / flops if flops else 0.0)

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs of the totals and the six metrics, as printed everywhere."""
        m = self.metrics

        def opt(value: Any, fmt: str) -> str:
            return "n/a (give a capability score)" if value is None else format(value, fmt)

        batch = self.bindings.get("batch")
        call = f"one call{f', batch {batch}' if batch is not None else ''}"
        units = m["output_units"]
        active = f" (active {si(m['active_j'], 'J')})" if m.get("active_j") else ""
        rows = [
            ("energy per call", f"{si(m['energy_j'], 'J')} ({call})"),
            ("energy per output", f"{si(m['energy_j'] / units, 'J')} ({units:,} outputs a "
                                  "call: samples, or tokens of a sequence)"),
            ("energy split", f"compute {si(m['compute_j'], 'J')} · memory "
                             f"{si(m['memory_j'], 'J')} · static {si(m['static_j'], 'J')}"
                             + active),
            ("latency per call", si(m["latency_s"], "s")), ("EDP", si(m["edp_js"], "J·s")),
            ("FLOPs / MACs", f"{m['flops']:,} / {m['macs']:,}"),
            ("parameters / buffers", f"{m['parameters']:,} / {m['buffers']:,}"),
            ("model bytes", f"{m['model_bytes']:,} ({si(m['model_bytes'], 'B')})"),
            ("peak activations", f"{m['peak_activation_bytes']:,} B "
                                 f"({si(m['peak_activation_bytes'], 'B')})"),
            ("SAF-T (TO per output)", f"{m['saf_t']:.4g}"),
            ("LSRT", f"{m['lsrt']:.4f}"),
            ("MCER (memory/compute)", "n/a" if m["mcer"] is None else f"{m['mcer']:.4g}"),
            ("DDEV", "n/a (give calibration inputs: --calibration-data DATA.npz)"
             if m["ddev"] is None else f"{m['ddev']:.4g}"),
            ("ECU (per capability)", "n/a (give a capability score)" if m["ecu"] is None
             else si(m["ecu"], "J")),
            ("CpTO (capability per TO)", opt(m["cpto"], ".4g")),
        ]
        if m.get("carbon"):
            c = m["carbon"]
            rows.insert(3, ("carbon per call", f"{si(m['co2e_g'], 'g')} CO2e, "
                                               f"{si(c['per_million_g'], 'g')} per million (grid "
                                               f"{c['grid']} {c['g_per_kwh']:.4g} g/kWh × PUE "
                                               f"{c['pue']:g}; {c['source']})"))
        return rows if units != 1 else [r for r in rows if r[0] != "energy per output"]

    def __str__(self) -> str:
        return renderer("text")(self)

    def __repr__(self) -> str:
        m = self.metrics
        unmodeled = len(self.unmodeled)
        return (f"<EnergyReport {self.model} on {self.target}: {si(m['energy_j'], 'J')} and "
                f"{si(m['latency_s'], 's')} per call, {m['macs']:,} MACs, {len(self.nodes)} "
                f"nodes" + (f", {unmodeled} unmodeled" if unmodeled else "") + ">")

    def _repr_html_(self) -> str:
        return renderer("notebook")(self)
