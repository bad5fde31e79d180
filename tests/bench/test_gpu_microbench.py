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


def _conv_row(c_in: int, size: int, batch: int, graph_s: float | None, names: dict) -> dict:
    row = {"dtype": "float32", "k": 3, "stride": 1, "c_in": c_in, "c_out": c_in, "size": size,
           "batch": batch, "names": names, "kernel_us": 2e6 * (graph_s or 1e-3)}
    return row if graph_s is None else {**row, "graph_s": graph_s}


def test_conv_simt_report_takes_fp32_lane_convolutions_of_50_m_macs_timed_back_to_back(
        tmp_path, capsys):
    simt = {"void implicit_convolve_sgemm<float, float>": 1}
    rows = [_conv_row(64, 56, 16, 1e-3, simt),        # 16·64·56²·64·9 = 1,849,688,064 MACs
            _conv_row(64, 56, 16, 1e-3, {"sm90_xmma_fprop_tf32f32_tf32f32": 1}),  # tensor cores
            _conv_row(8, 8, 1, 1e-3, simt)]           # 36,864 MACs: latency, left out
    path = tmp_path / "gpu_conv_kernels.json"
    path.write_text(json.dumps({"device": "fake H100", "cudnn": 91900, "rows": rows}))
    gpu_microbench.conv_simt_report(str(path))
    out = capsys.readouterr().out
    lanes = 33.45e12                                  # the h100 target's f32 vector peak
    assert "timed back to back from a CUDA graph" in out
    assert f"f32   1 of >= 50 M MACs: share of the FP32 lanes median " \
           f"{1_849_688_064 / 1e-3 / lanes:.3f}" in out
    assert "bf16" not in out


def test_conv_simt_report_falls_back_to_lone_calls_and_says_so(tmp_path, capsys):
    rows = [_conv_row(64, 56, 16, None, {"void implicit_convolve_sgemm<float, float>": 1})]
    path = tmp_path / "gpu_conv_kernels.json"
    path.write_text(json.dumps({"device": "fake H100", "cudnn": 91900, "rows": rows}))
    gpu_microbench.conv_simt_report(str(path))
    out = capsys.readouterr().out
    assert "timed in one profiled call" in out
    assert f"median {1_849_688_064 / 2e-3 / 33.45e12:.3f}" in out
