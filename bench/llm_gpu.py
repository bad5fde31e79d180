"""LLM prefill and decode energy per token on the GPU against ``nexus llm``.

    PYTHONPATH=src:bench python3 bench/llm_gpu.py measure OUT [BxC,…]  # NVIDIA GPU, ≈ 3 min
    PYTHONPATH=src:bench python3 bench/llm_gpu.py analyze docs/data/llm_h200*.json

``measure``: random-init Llama-style models of ~1B and 8B shape built from transformers'
``LlamaConfig`` (no weights downloaded), bf16, Hugging Face eager with its default
``DynamicCache``, for each batch × context (``BATCHES`` × ``CONTEXTS``, or the ``BxC`` points
given): a prefill (``logits_to_keep=1``, as generation runs it) and a request (the prefill and
``GENERATE`` greedy decode steps), each in windows of ≥ 2 s on NVML's total-energy counter. Decode
energy per step = (E_request − E_prefill) / ``GENERATE``. ``analyze``: NEXUS's shipped target in
eager execution, no calibration, for the same points (``nexus_ir.app.llm.llm``), with median errors
and Spearman.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

GENERATE = 32
MODELS: dict[str, dict[str, Any]] = {
    "llama-1b": {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
                 "num_key_value_heads": 8, "intermediate_size": 8192, "vocab_size": 128256,
                 "head_dim": 64, "tie_word_embeddings": True},
    "llama-8b": {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
                 "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
                 "head_dim": 128, "tie_word_embeddings": False},
}
BATCHES = (1, 8, 32)
CONTEXTS = (128, 1024, 4096)


def _model(config: dict[str, Any]) -> Any:
    """A random-init bf16 Llama of ``config`` on the GPU (built on the meta device first)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**config))
    model = model.to_empty(device="cuda").to(torch.bfloat16).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    return model


def measure(out_dir: str, points: list[tuple[int, int]] | None = None) -> None:
    import torch

    import gpu_probe as gp

    energy = gp.Energy()
    torch.zeros(1, device="cuda")
    doc: dict[str, Any] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                           "busy_floor_w": gp.idle_watts(energy, 3.0), "generate": GENERATE,
                           "rows": []}
    grid = points or [(b, c) for b in BATCHES for c in CONTEXTS]
    stem = "llm_h200" if points is None else "llm_h200_points"
    for name, config in MODELS.items():
        model = _model(config)
        for batch, context in grid:
            ids = torch.randint(0, config["vocab_size"], (batch, context), device="cuda")

            def prefill(ids: Any = ids) -> Any:
                return model(ids, use_cache=True, logits_to_keep=1)

            def request() -> None:
                out = prefill()
                cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
                for _ in range(GENERATE):
                    out = model(token, past_key_values=cache, use_cache=True,
                                logits_to_keep=1)
                    token = out.logits[:, -1:].argmax(-1)

            with torch.no_grad():
                request()
                p = gp.window(energy, prefill, 2.0)
                r = gp.window(energy, request, 2.0)
            row = {"model": name, "batch": batch, "context": context, "config": config,
                   "prefill_j": p["j_per_call"], "prefill_s": p["s_per_call"],
                   "request_j": r["j_per_call"], "request_s": r["s_per_call"],
                   "decode_j_per_step": (r["j_per_call"] - p["j_per_call"]) / GENERATE,
                   "decode_s_per_step": (r["s_per_call"] - p["s_per_call"]) / GENERATE}
            doc["rows"].append(row)
            print(f"{name} b{batch} ctx{context}: prefill {row['prefill_j']:.4g} J "
                  f"{row['prefill_s'] * 1e3:.4g} ms, decode {row['decode_j_per_step']:.4g} "
                  f"J {row['decode_s_per_step'] * 1e3:.4g} ms per step", flush=True)
            del ids
            torch.cuda.empty_cache()
            Path(out_dir, f"{stem}.json").write_text(json.dumps(doc, indent=1))
        del model
        torch.cuda.empty_cache()


def analyze(paths: list[str], target: str = "h200") -> None:
    from scipy.stats import spearmanr

    from nexus_ir.app.llm import llm

    docs = [json.loads(Path(p).read_text()) for p in paths]
    doc = {**docs[0], "rows": [r for d in docs for r in d["rows"]]}
    print(f"{doc['device']}, HF eager, bf16, {doc['generate']} decode steps; NEXUS {target}, "
          "eager, shipped (nothing fitted)")
    print("| model | batch | context | prefill J/token measured | NEXUS | error | decode J/token "
          "measured | NEXUS | error |")
    print("|---|---|---|---|---|---|---|---|---|")
    errors: dict[str, list[float]] = {"prefill": [], "decode": []}
    pairs: dict[str, list[tuple[float, float]]] = {"prefill": [], "decode": []}
    for row in doc["rows"]:
        config = {"model_type": "llama", "_name_or_path": row["model"], **row["config"]}
        rows = llm(config, target, batch=[row["batch"]], context=[row["context"]],
                   generate=doc["generate"], execution="eager")
        measured = {"prefill": row["prefill_j"] / (row["batch"] * row["context"]),
                    "decode": row["decode_j_per_step"] / row["batch"]}
        cells = []
        for r in rows:
            m = measured[r.phase]
            errors[r.phase].append(abs(r.j_per_token / m - 1))
            pairs[r.phase].append((r.j_per_token, m))
            cells += [f"{m:.4g}", f"{r.j_per_token:.4g}", f"{r.j_per_token / m - 1:+.1%}"]
        print(f"| {row['model']} | {row['batch']} | {row['context']} | " + " | ".join(cells)
              + " |")
    for phase in ("prefill", "decode"):
        predicted, measured_values = zip(*pairs[phase])
        rho = spearmanr(predicted, measured_values)[0]
        print(f"{phase}: median |error| {statistics.median(errors[phase]):.1%} over "
              f"{len(errors[phase])} points, Spearman {rho:.3f}")
    predicted, measured_values = zip(*pairs["prefill"], *pairs["decode"])
    print(f"all points: Spearman {spearmanr(predicted, measured_values)[0]:.3f}")


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(sys.argv[2], [tuple(map(int, p.split("x"))) for p in sys.argv[3].split(",")]
                if len(sys.argv) > 3 else None)
    else:
        analyze(sys.argv[2:])
