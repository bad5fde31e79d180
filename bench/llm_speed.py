"""Speed of ``nexus llm``: a Llama-3-8B-shaped decoder (no weights) over 3 batches × 3 contexts,
prefill and decode, on the h200 target. The two phase graphs are built once with symbolic batch,
sequence and cache length; each point binds them and costs (target: ≤ 10 s for the sweep).

    PYTHONPATH=src python3 bench/llm_speed.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "src"))

LLAMA3_8B = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
             "vocab_size": 128256, "tie_word_embeddings": False, "_name_or_path": "llama3-8b"}


def main() -> None:
    import nexus_ir as nx
    from frontends.llm import decoder_graph, decoder_spec
    from nexus_ir.app.llm import llm

    start = time.perf_counter()
    spec = decoder_spec(LLAMA3_8B)
    graphs = {phase: decoder_graph(spec, phase) for phase in ("prefill", "decode")}
    built = time.perf_counter() - start
    start = time.perf_counter()
    nx.compile(graphs["decode"], target="h200", bindings={"batch": 1, "past": 512})
    first = time.perf_counter() - start
    start = time.perf_counter()
    rows = llm(LLAMA3_8B, "h200", batch=[1, 8, 64], context=[512, 2048, 8192], generate=256)
    sweep = time.perf_counter() - start
    costed = sum(r.fits for r in rows)
    nodes = sum(len(g.nodes) for g in graphs.values())
    print("| step | seconds | per point |")
    print("|---|---|---|")
    print(f"| build both phase graphs ({nodes} nodes) | {built:.2f} | |")
    print(f"| first costing (one decode step) | {first:.2f} | |")
    print(f"| whole sweep: 9 points × 2 phases ({costed} rows costed, the rest do not fit) | "
          f"{sweep:.2f} | {sweep / max(costed, 1):.3f} |")


if __name__ == "__main__":
    main()
