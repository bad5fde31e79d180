"""bench/gpu_microbench.py's CPU reports over sweep files, on small fake sweeps (no GPU)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import gpu_microbench  # noqa: E402

import nexus_ir as nx  # noqa: E402
from passes.cost import cost_graph  # noqa: E402


def _nexus_seconds(m: int, n: int, k: int) -> float:
    g = nx.Graph("linear")
    x = g.add_input("x", f"f32[{m},{k}]")
    w = g.add_constant("w", type_=f"f32[{n},{k}]")
    b = g.add_constant("b", type_=f"f32[{n}]")
    g.set_outputs(g.op("linear", x, w, b))
    return cost_graph(g, "h100", execution="cuda-graph", warm=False).nodes[0].time_s


def test_linear_report_groups_by_rows_and_names_the_kernel_families(tmp_path, capsys):
    shapes = [(16, 4096, 4096, 2.0, {"scal_kernel<float>": 1, "sgemm_largek_lds64": 1}),
              (16, 768, 3072, 4.0, {"cutlass::Kernel2<cutlass_80_simt_sgemm>": 1}),
              (1, 1000, 2048, 0.5, {"gemv2T_kernel_val<int, int, float>": 1})]
    rows = [{"m": m, "n": n, "k": k, "bias": True, "names": names, "kernel_us": 0.0,
             "graph_s": times * _nexus_seconds(m, n, k)} for m, n, k, times, names in shapes]
    rows.append({**rows[0], "bias": False, "graph_s": 1.0})        # without bias: not reported
    path = tmp_path / "gpu_linear_kernels.json"
    path.write_text(json.dumps({"device": "fake H100", "torch": "2.11", "rows": rows}))
    gpu_microbench.linear_kernels_report(str(path))
    assert capsys.readouterr().out == (
        "fake H100, torch 2.11: fp32 linear with bias, measured / NEXUS time\n"
        "     1 rows: median 0.50x (0.50-0.50x over 1); gemv 1\n"
        "    16 rows: median 3.00x (2.00-4.00x over 2); sgemm_largek 1, cutlass 1\n")
