"""bench/zoo_ncu.py's parsing of Nsight Compute's raw CSV page, on text shaped like ncu's (no
GPU): per-kernel results grouped by marker kernels, and one result per range."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import zoo_ncu  # noqa: E402

HEADER = ('"ID","Process ID","Kernel Name","dram__bytes_read.sum","dram__bytes_write.sum",'
          '"gpu__time_duration.sum"\n"","","","byte","byte","nsecond"\n')


def _csv(rows: list[tuple[str, str, str, str]]) -> str:
    """ncu's stdout: its log lines, then the raw page (header, units row, one row per result)."""
    body = "".join(f'"{i}","7","{name}","{read}","{write}","{ns}"\n'
                   for i, (name, read, write, ns) in enumerate(rows))
    return "==PROF== Connected to process 7\n" + HEADER + body


def test_kernel_results_are_grouped_by_the_marker_kernels():
    text = _csv([("void at::native::spin_kernel(long)", "0", "0", "1,000"),
                 ("sgemm_128x64", "1,048,576", "2,048", "5,000"),
                 ("relu_kernel", "0", "4,096", "1,500"),
                 ("void at::native::spin_kernel(long)", "0", "0", "1,000"),
                 ("gemv_kernel", "512", "0", "2,000")])
    first, second = zoo_ncu.parse(text, ["a", "b"])
    assert first["model"] == "a" and first["kernels"] == 2
    assert first["dram_read_bytes"] == 1048576 and first["dram_write_bytes"] == 6144
    assert first["time_s"] == pytest.approx(6.5e-6)
    assert first["kernel_dram"] == [[1048576, 2048], [0, 4096]]
    assert second["kernels"] == 1 and second["kernel_names"] == ["gemv_kernel"]


def test_range_results_are_one_per_model_in_order():
    text = _csv([("range 0", "3,000,000", "250,000", "80,000"),
                 ("range 1", "12", "0", "9,000")])
    first, second = zoo_ncu.parse_ranges(text, ["mobilenet-v2", "gru"])
    assert first == {"model": "mobilenet-v2", "dram_read_bytes": 3e6,
                     "dram_write_bytes": 2.5e5, "time_s": pytest.approx(8e-5)}
    assert second["model"] == "gru" and second["dram_read_bytes"] == 12


def test_output_without_a_csv_page_is_none():
    assert zoo_ncu.parse("==ERROR== no kernels were profiled\n", ["a"]) is None
    assert zoo_ncu.parse_ranges("==ERROR== no ranges were profiled\n", ["a"]) is None


def test_an_unknown_replay_mode_is_refused_before_ncu_runs(tmp_path):
    with pytest.raises(SystemExit, match="replay mode .graph.: choose one of kernel, app-range"):
        zoo_ncu.run("f32", 1, str(tmp_path), "zoo", "graph")


def test_replay_check_sets_the_two_modes_side_by_side(tmp_path, capsys):
    kernel = {"dtype": "f32", "batch": 1, "models": [
        {"model": "vgg-ish", "dram_read_bytes": 15e6, "dram_write_bytes": 4e6},
        {"model": "lstm", "dram_read_bytes": 1e5, "dram_write_bytes": 4e4},
        {"model": "not-in-range", "dram_read_bytes": 1e6, "dram_write_bytes": 0.0}]}
    ranged = {"dtype": "f32", "batch": 1, "models": [
        {"model": "vgg-ish", "dram_read_bytes": 14e6, "dram_write_bytes": 2.72e6},
        {"model": "lstm", "dram_read_bytes": 2e5, "dram_write_bytes": 9e4}]}
    paths = []
    for name, doc in (("k.json", kernel), ("r.json", ranged)):
        (tmp_path / name).write_text(json.dumps(doc))
        paths.append(str(tmp_path / name))
    zoo_ncu.replay_check(*paths)
    assert capsys.readouterr().out == (
        "f32, batch 1: DRAM MB read + written\n"
        "| model | kernel replay | app-range replay | ratio |\n"
        "|---|---|---|---|\n"
        "| vgg-ish | 19.00 | 16.72 | 0.88 |\n"
        "| lstm | 0.14 | 0.29 | - |\n")
