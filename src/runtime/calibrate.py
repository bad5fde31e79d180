"""Fit a target's coefficients to measurements, by non-negative least squares.

Each measurement (``nexus measure -o m.json``) holds the measured energy per inference and the
NEXUS report predicted on the base target. The fit explains measured joules as

    E = s_matrix·C_matrix + s_vector·C_vector + s_special·C_special
        + p_off·B_off + p_on·B_on + P_static·T_work + e_kernel·K

with the report's compute energy per execution class (C), bytes per memory level (B), time
spent working (T_work = latency − K·t_overhead) and kernel count (K). All coefficients are ≥ 0
(``scipy.optimize.nnls``); the per-kernel overhead time is ``e_kernel / P_static``. The fit is
linear in the base target's predictions (times included), which is what makes it a least-squares
problem; a refit from the calibrated target converges in a step or two. Leave-one-model-out
cross-validation reports how well it predicts a model it has not seen.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lowering.target import read_target_document
from nexus_ir import NexusError

MEASUREMENT_SCHEMA = "nexus-measurement/1"
COEFFICIENTS = ("s_matrix", "s_vector", "s_special", "p_off_j_per_byte", "p_on_j_per_byte",
                "static_power_w", "e_kernel_j")


def features(report: Mapping[str, Any]) -> np.ndarray:
    """The fit's columns for one report (``EnergyReport.to_dict()``), in ``COEFFICIENTS`` order."""
    m = report["metrics"]
    overhead = next(p["value"] for p in report["target"]["provenance"]
                    if p["key"] == "kernel_overhead_s")
    by_class = m["compute_j_by_class"]
    return np.array([by_class["matrix"], by_class["vector"], by_class["special"],
                     m["off_chip_bytes"], m["on_chip_bytes"],
                     max(m["latency_s"] - m["kernels"] * overhead, 0.0), m["kernels"]],
                    dtype=np.float64)


def load_measurements(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Measurement documents, checked: one line naming the file and the problem otherwise."""
    docs = []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise NexusError(f"measurement file {path} does not exist") from None
        except json.JSONDecodeError as err:
            raise NexusError(f"{path} is not JSON: {err}") from None
        if doc.get("schema") != MEASUREMENT_SCHEMA:
            raise NexusError(f"{path} is not a NEXUS measurement (schema {doc.get('schema')!r}; "
                             f"expected {MEASUREMENT_SCHEMA!r}, written by nexus measure -o)")
        docs.append(doc)
    return docs


def fit(measurements: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """NNLS coefficients from measurements, minimizing relative residuals (each row divided by
    its measured energy: a 10 mJ and a 10 J model count alike). Columns that are zero in every
    measurement (no transcendentals measured, say) cannot be fitted and are absent from the
    result (the target keeps its own numbers for them)."""
    from scipy.optimize import nnls

    if len(measurements) < 2:
        raise NexusError(f"calibration needs several measurements, got {len(measurements)}")
    y = np.array([m["energy_j"] for m in measurements], dtype=np.float64)
    if (y <= 0).any():
        raise NexusError("measured energies must be positive")
    a = np.stack([features(m["report"]) for m in measurements]) / y[:, None]
    y = np.ones_like(y)                  # relative residuals: energies span decades
    norms = np.linalg.norm(a, axis=0)
    used = norms > 0
    solution, _ = nnls(a[:, used] / norms[used], y)
    coefficients = np.zeros(len(COEFFICIENTS))
    coefficients[used] = solution / norms[used]
    return {name: float(c) for name, c, u in zip(COEFFICIENTS, coefficients, used) if u}


def predict(coefficients: Mapping[str, float], report: Mapping[str, Any]) -> float:
    """Energy the fitted model gives for a report's features."""
    x = features(report)
    return float(sum(coefficients.get(name, 0.0) * value
                     for name, value in zip(COEFFICIENTS, x)))


@dataclass(frozen=True)
class CrossValidation:
    """Leave-one-model-out: each model predicted by a fit on the others."""

    per_model_mape: dict[str, float]
    median_ape: float


def leave_one_model_out(measurements: Sequence[Mapping[str, Any]]) -> CrossValidation:
    models = sorted({m["model"] for m in measurements})
    if len(models) < 2:
        raise NexusError("leave-one-model-out needs measurements of two models or more")
    per_model: dict[str, float] = {}
    errors: list[float] = []
    for held in models:
        coefficients = fit([m for m in measurements if m["model"] != held])
        held_errors = [abs(predict(coefficients, m["report"]) - m["energy_j"]) / m["energy_j"]
                       for m in measurements if m["model"] == held]
        per_model[held] = statistics.mean(held_errors)
        errors += held_errors
    return CrossValidation(per_model, statistics.median(errors))


def calibrated_target(base_path: Path, coefficients: Mapping[str, float], name: str,
                      source: str) -> dict[str, Any]:
    """The base target's TOML document with the fitted numbers written in, each with ``source``."""
    doc = read_target_document(base_path)
    doc["name"] = name
    doc["description"] = f"{doc.get('description', '')} — calibrated on measurements".strip()
    quantity = lambda value: {"value": float(value), "source": source}  # noqa: E731
    scales = {cls: quantity(coefficients[f"s_{cls}"]) for cls in ("matrix", "vector", "special")
              if f"s_{cls}" in coefficients}
    if scales:
        doc["energy_scale"] = scales
    static = coefficients.get("static_power_w")
    if static:
        doc["static_power_w"] = quantity(static)
        if coefficients.get("e_kernel_j") is not None:
            doc["kernel_overhead_s"] = quantity(coefficients["e_kernel_j"] / static)
    for level in doc.get("memory", []):
        key = "p_on_j_per_byte" if level.get("on_chip") else "p_off_j_per_byte"
        if key in coefficients:
            level["pj_per_byte"] = quantity(coefficients[key] * 1e12)
    return doc
