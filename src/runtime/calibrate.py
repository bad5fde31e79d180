"""Fit a target to measurements: multiplicative corrections of its own numbers, regularized
toward them.

Each measurement (``nexus measure -o m.json``) holds the measured energy per inference and the
NEXUS report predicted on the base target. The report's energy splits into components (in
``COEFFICIENTS`` order): compute energy per execution class (matrix, vector, special), memory
energy off chip and on chip, the floor power over the time the device works, the floor power
over the time spent on overheads (host dispatch the device waits for, gaps between kernels, the
per-call launch and synchronize), the floor power over the part of that wait spent on eager
calls of modules that hold other modules (``module_wait_s``: its own coefficient, since only
eager rows have it and a shared one traded it against the busy floor), and the active power
over kernel time. The fit scales each component by ``θ_j = exp(u_j)``:

    E = Σ_j θ_j · C_j

and minimizes ``Σ_i ((log E_i − log y_i) / ε)² + Σ_j (u_j / σ)²``
(``scipy.optimize.least_squares``): relative errors, so a 10 mJ and a 10 J model count alike,
with ``ε`` the error a measurement is trusted to (``NOISE_SIGMA``, 10 %), and a log-normal prior
of width σ (``PRIOR_SIGMA``, 0.5: a factor of ~1.6) around the target's own value, so that few
measurements move only what they determine and every fitted number stays positive, within
``BOUNDS`` of the target's. A coefficient is *determined* when the data's information about
``u_j`` (the diagonal of JᵀJ at the solution: Σ_i (share of component j in E_i / ε)²) exceeds
the prior's, 1/σ²; the others stay at the target's value. With none determined (one measurement
whose energy is spread over many components, say) the fit refuses. Leave-one-model-out cross-validation says how well it predicts a model it has not
seen.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lowering.target import read_target_document
from nexus_ir import NexusError

MEASUREMENT_SCHEMA = "nexus-measurement/1"
COEFFICIENTS = ("s_matrix", "s_vector", "s_special", "s_off_chip", "s_on_chip", "s_floor",
                "s_overhead", "s_module", "s_active")
PRIOR_SIGMA = 0.5
NOISE_SIGMA = 0.1
BOUNDS = (0.2, 5.0)
"""Fitted multipliers stay within these factors of the target's own numbers."""


def components(report: Mapping[str, Any]) -> np.ndarray:
    """The report's energy split into the fit's components (joules, ``COEFFICIENTS`` order)."""
    m = report["metrics"]
    by_class = m["compute_j_by_class"]
    latency = m["latency_s"]
    overhead_share = min(m["overhead_s"] / latency, 1.0) if latency else 0.0
    module_share = min(m.get("module_wait_s", 0.0) / latency, overhead_share) if latency else 0.0
    active = m.get("active_j", 0.0)
    floor = m["static_j"] - active
    return np.array([by_class["matrix"], by_class["vector"], by_class["special"],
                     m["off_chip_j"], m["memory_j"] - m["off_chip_j"],
                     floor * (1 - overhead_share), floor * (overhead_share - module_share),
                     floor * module_share, active], dtype=np.float64)


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


@dataclass(frozen=True)
class Fit:
    """Multipliers of the target's components (1 where not determined) and which the data
    determined."""

    multipliers: dict[str, float]
    determined: tuple[str, ...]

    def predict(self, report: Mapping[str, Any]) -> float:
        """Energy the corrected target gives for a report."""
        return float(np.dot([self.multipliers[c] for c in COEFFICIENTS], components(report)))


def fit(measurements: Sequence[Mapping[str, Any]], sigma: float = PRIOR_SIGMA) -> Fit:
    """The regularized fit of the module doc; NexusError (one line) when nothing is
    determined."""
    from scipy.optimize import least_squares

    if not measurements:
        raise NexusError("calibration needs measurements (files from nexus measure -o)")
    y = np.array([m["energy_j"] for m in measurements], dtype=np.float64)
    if (y <= 0).any():
        raise NexusError("measured energies must be positive")
    parts = np.stack([components(m["report"]) for m in measurements])
    log_y = np.log(y)

    def residuals(u: np.ndarray) -> np.ndarray:
        predicted = parts @ np.exp(u)
        return np.concatenate([(np.log(np.maximum(predicted, 1e-300)) - log_y) / NOISE_SIGMA,
                               u / sigma])

    low, high = (math.log(b) for b in BOUNDS)
    solution = least_squares(residuals, np.zeros(len(COEFFICIENTS)), bounds=(low, high))
    jacobian = solution.jac[:len(y)]
    information = (jacobian ** 2).sum(axis=0)
    determined = tuple(c for c, info in zip(COEFFICIENTS, information) if info > 1 / sigma ** 2)
    if not determined:
        raise NexusError(f"these {len(y)} measurements determine none of the target's "
                         "coefficients (each moves the prediction less than the prior allows); "
                         "measure more models, batch sizes or dtypes")
    multipliers = {c: float(math.exp(u)) if c in determined else 1.0
                   for c, u in zip(COEFFICIENTS, solution.x)}
    return Fit(multipliers, determined)


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
    unchanged = Fit({c: 1.0 for c in COEFFICIENTS}, ())
    for held in models:
        try:
            fitted = fit([m for m in measurements if m["model"] != held])
        except NexusError:              # the others determine nothing: the target as it is
            fitted = unchanged
        held_errors = [abs(fitted.predict(m["report"]) - m["energy_j"]) / m["energy_j"]
                       for m in measurements if m["model"] == held]
        per_model[held] = statistics.mean(held_errors)
        errors += held_errors
    return CrossValidation(per_model, statistics.median(errors))


def _scaled(q: Mapping[str, Any], factor: float, source: str) -> dict[str, Any]:
    return {"value": float(q["value"]) * factor, "source": f"{source} (×{factor:.4g} of: "
                                                          f"{q['source']})"}


def calibrated_target(base_path: Path, fitted: Fit, name: str, source: str) -> dict[str, Any]:
    """The base target's TOML document with the determined corrections applied to its numbers:
    energy scales per execution class, pJ/byte per level, the floor and active power, and the
    host and gap times (scaled so that the floor power over them moves by ``s_overhead``; the
    host time per module call by ``s_module``)."""
    doc = read_target_document(base_path)
    doc["name"] = name
    doc["description"] = f"{doc.get('description', '')} — calibrated on measurements".strip()
    s = fitted.multipliers
    scales = dict(doc.get("energy_scale", {}))
    for cls in ("matrix", "vector", "special"):
        if f"s_{cls}" in fitted.determined:
            scales[cls] = _scaled(scales.get(cls, {"value": 1.0, "source": "unscaled"}),
                                  s[f"s_{cls}"], source)
    if scales:
        doc["energy_scale"] = scales
    for level in doc.get("memory", []):
        key = "s_on_chip" if level.get("on_chip") else "s_off_chip"
        if key in fitted.determined:
            level["pj_per_byte"] = _scaled(level["pj_per_byte"], s[key], source)
    floor_key = "busy_floor_w" if "busy_floor_w" in doc else "static_power_w"
    if "s_floor" in fitted.determined:
        doc[floor_key] = _scaled(doc[floor_key], s["s_floor"], source)
    if "s_active" in fitted.determined and "active_power_w" in doc:
        doc["active_power_w"] = _scaled(doc["active_power_w"], s["s_active"], source)
    if "s_overhead" in fitted.determined:
        time_factor = s["s_overhead"] / s["s_floor"]
        for key in ("kernel_overhead_s", "kernel_gap_s", "sync_s", "host_kernel_s"):
            if key in doc:
                doc[key] = _scaled(doc[key], time_factor, source)
        if "host_dispatch_s" in doc:
            doc["host_dispatch_s"] = {k: _scaled(q, time_factor, source)
                                      for k, q in doc["host_dispatch_s"].items()}
    if "s_module" in fitted.determined and "host_module_s" in doc:
        doc["host_module_s"] = _scaled(doc["host_module_s"], s["s_module"] / s["s_floor"], source)
    return doc
