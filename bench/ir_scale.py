"""IR scaling benchmark: build, verify, print and JSON round-trip graphs of 1k, 10k and 100k
nodes; print microseconds per node for each stage. The IR must stay linear: total time per node
at 100k within 1.5x of 1k.

The graphs are transformer-like residual MLP blocks (linear, gelu, add, layer_norm) with a
symbolic batch dim and shape-only weights, so shape inference works on symbolic expressions.

    python3 bench/ir_scale.py [--sizes 1000 10000 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import time

import nexus_ir as nx

WIDTH = 64


def build(n_nodes: int) -> nx.Graph:
    g = nx.Graph(f"blocks_{n_nodes}")
    x = g.add_input("x", f"f32[batch,seq,{WIDTH}]")
    for i in range(n_nodes // 4):
        src = f"blocks.{i}"
        w = g.add_constant(f"{src}.fc.weight", type_=f"f32[{WIDTH},{WIDTH}]")
        gamma = g.add_constant(f"{src}.ln.weight", type_=f"f32[{WIDTH}]")
        beta = g.add_constant(f"{src}.ln.bias", type_=f"f32[{WIDTH}]")
        h = g.op("linear", x, w, source=f"{src}.fc")
        h = g.op("gelu", h, source=f"{src}.act")
        h = g.op("add", h, x, source=f"{src}")
        x = g.op("layer_norm", h, gamma, beta, source=f"{src}.ln")
    g.set_outputs(x)
    return g


def measure(n_nodes: int, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` seconds for each stage."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        gc.collect()
        times = {}
        t0 = time.perf_counter()
        g = build(n_nodes)
        times["build"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        g.verify()
        times["verify"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        text = g.to_text()
        times["print"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = nx.Graph.from_json(g.to_json())
        times["json"] = time.perf_counter() - t0
        assert len(back) == len(g) and len(text) > 0
        for k, v in times.items():
            best[k] = min(best.get(k, v), v)
    best["total"] = sum(best[k] for k in ("build", "verify", "print", "json"))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    stages = ("build", "verify", "print", "json", "total")
    print(f"{'nodes':>8} " + " ".join(f"{s + ' us/node':>16}" for s in stages))
    per_node = {}
    for n in args.sizes:
        result = measure(n, args.repeat)
        per_node[n] = {k: v / n * 1e6 for k, v in result.items()}
        print(f"{n:>8} " + " ".join(f"{per_node[n][s]:>16.2f}" for s in stages), flush=True)
    small, large = min(per_node), max(per_node)
    ratio = per_node[large]["total"] / per_node[small]["total"]
    verdict = "PASS" if ratio <= 1.5 else "FAIL"
    print(f"time per node at {large} / at {small}: {ratio:.2f}x (target <= 1.5x) {verdict}")


if __name__ == "__main__":
    main()
