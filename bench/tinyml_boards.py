"""Fit the two MCU board targets on two MLPerf Tiny models; check the other two.

For each board (``stm32l4r5``, ``stm32h7a3``) the four MLPerf Tiny v1.1 benchmark models
(../shared/data/mlperf_tiny) are costed by NEXUS on the board's target. A model's latency splits
into the time of its MACs (which scales as 1 / the int8 matrix and depthwise rates), the time
per output element (``per_output_s``) and the rest; three costings per model measure the split.
On the calibration models (``CALIBRATION``) the fit finds multipliers ``s_rate`` and
``s_output`` of those two numbers (log space, a weak log-normal prior around the target's
values) from the published latencies, then the run power from the published energies
(least squares of ``E = P·t + E_dynamic``). It prints the fitted numbers (what the shipped target
files carry) and, for all four models, NEXUS's energy and latency against the published figures
(docs/data/mlperf_tiny_v1.1_nucleo.json) with the held-out error; "costed" is the energy on the
target files as given, before the fit.

    PYTHONPATH=src python3 bench/tinyml_boards.py [--targets DIR]

``--targets DIR`` costs target files from DIR (the priors) instead of the shipped ones.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import tomli_w
from scipy.optimize import least_squares

import nexus_ir as nx

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "data" / "mlperf_tiny"
PUBLISHED = ROOT / "docs" / "data" / "mlperf_tiny_v1.1_nucleo.json"
CALIBRATION = ("ic", "vww")
BOARDS = ("stm32l4r5", "stm32h7a3")
PRIOR_SIGMA = 1.0
NOISE_SIGMA = 0.05


def cost(model: Path, target: Path) -> tuple[float, float, float]:
    """Latency, energy and the energy that is not run power over time, on ``target``."""
    m = nx.compile(str(model), target=str(target)).metrics
    return m["latency_s"], m["energy_j"], m["energy_j"] - m["static_j"]


def variant(doc: dict, folder: Path, name: str, rate: float = 1.0, output: float = 1.0) -> Path:
    """The target document with its int8 rates times ``rate`` and ``per_output_s`` times
    ``output``, written as a file beside its base."""
    doc = json.loads(json.dumps(doc))
    doc["peak"]["matrix"]["i8"]["value"] *= rate
    doc["depthwise_fma_per_s"]["value"] *= rate
    doc["per_output_s"]["value"] *= output
    path = folder / f"{name}.toml"
    path.write_bytes(tomli_w.dumps(doc).encode())
    return path


def split(model: Path, doc: dict, folder: Path) -> dict[str, float]:
    """The model's latency as MAC time + per-output time + the rest, and its energies."""
    t0, e0, dyn = cost(model, variant(doc, folder, "base"))
    t_rate, _, _ = cost(model, variant(doc, folder, "rate", rate=2.0))
    t_out, _, _ = cost(model, variant(doc, folder, "out", output=2.0))
    macs = 2 * (t0 - t_rate)
    outputs = t_out - t0
    return {"macs_s": macs, "outputs_s": outputs, "rest_s": t0 - macs - outputs,
            "energy_j": e0, "dynamic_j": dyn}


def latency(parts: dict[str, float], s_rate: float, s_output: float) -> float:
    return parts["macs_s"] / s_rate + parts["outputs_s"] * s_output + parts["rest_s"]


def fit_board(board: str, targets: Path, published: dict) -> dict:
    doc = tomllib.loads((targets / f"{board}.toml").read_text())
    base = doc.get("base")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if base:
            (folder / f"{base}.toml").write_text((ROOT / "src/lowering/targets" /
                                                  f"{base}.toml").read_text())
            doc["base"] = str(folder / f"{base}.toml")
        parts = {key: split(MODELS / name, doc, folder)
                 for key, name in published["models"].items()}
    measured_t = {k: 1 / v for k, v in published["boards"][board]["inferences_per_s"].items()}
    measured_e = {k: v * 1e-6 for k, v in published["boards"][board]["energy_uj"].items()}

    def residuals(u: np.ndarray) -> np.ndarray:
        s_rate, s_output = np.exp(u)
        fit = [(math.log(latency(parts[k], s_rate, s_output)) - math.log(measured_t[k]))
               / NOISE_SIGMA for k in CALIBRATION]
        return np.array([*fit, *(u / PRIOR_SIGMA)])

    u = least_squares(residuals, np.zeros(2)).x
    s_rate, s_output = (float(x) for x in np.exp(u))
    times = {k: latency(p, s_rate, s_output) for k, p in parts.items()}
    power = sum((measured_e[k] - parts[k]["dynamic_j"]) * times[k] for k in CALIBRATION) / \
        sum(times[k] ** 2 for k in CALIBRATION)
    energy = {k: power * times[k] + parts[k]["dynamic_j"] for k in parts}
    return {"board": board, "s_rate": s_rate, "s_output": s_output, "power_w": power,
            "i8_fma_per_s": doc["peak"]["matrix"]["i8"]["value"] * s_rate,
            "depthwise_fma_per_s": doc["depthwise_fma_per_s"]["value"] * s_rate,
            "per_output_s": doc["per_output_s"]["value"] * s_output,
            "rows": {k: {"latency_s": times[k], "measured_latency_s": measured_t[k],
                         "energy_j": energy[k], "measured_energy_j": measured_e[k],
                         "costed_energy_j": parts[k]["energy_j"],
                         "calibration": k in CALIBRATION} for k in parts}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=Path, default=ROOT / "src/lowering/targets")
    parser.add_argument("-o", type=Path, help="write the fit and the table as JSON")
    args = parser.parse_args()
    published = json.loads(PUBLISHED.read_text())
    results = [fit_board(b, args.targets, published) for b in BOARDS]
    print(f"calibration set: {', '.join(CALIBRATION)} (MLPerf Tiny v1.1, Krai X-CUBE-AI 8.0); "
          "held out: the others")
    for r in results:
        print(f"\n{r['board']}: fitted s_rate {r['s_rate']:.3f}, s_output {r['s_output']:.3f}, "
              f"run power {r['power_w'] * 1e3:.1f} mW -> i8 {r['i8_fma_per_s']:.4g} FMA/s, "
              f"depthwise {r['depthwise_fma_per_s']:.4g} FMA/s, per output "
              f"{r['per_output_s']:.4g} s")
        print(f"  {'model':6} {'set':5} {'costed µJ':>11} {'fitted µJ':>10} {'published':>10} "
              f"{'error':>7} {'latency ms':>11} {'published':>10} {'error':>7}")
        for k, row in r["rows"].items():
            e_err = row["energy_j"] / row["measured_energy_j"] - 1
            t_err = row["latency_s"] / row["measured_latency_s"] - 1
            print(f"  {k:6} {'fit' if row['calibration'] else 'held':5} "
                  f"{row['costed_energy_j'] * 1e6:11.1f} {row['energy_j'] * 1e6:10.1f} "
                  f"{row['measured_energy_j'] * 1e6:10.1f} {e_err:+7.1%} "
                  f"{row['latency_s'] * 1e3:11.2f} {row['measured_latency_s'] * 1e3:10.2f} "
                  f"{t_err:+7.1%}")
    if args.o:
        args.o.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
