"""Nsight Compute: parsing a CSV recorded on an H100 (the small example CNN, run by
``python -m runtime.execute`` under ``runtime.ncu.ncu_command``) and attributing its kernels to IR
nodes through the NVTX ranges."""

from pathlib import Path

import pytest

from nexus_ir import NexusError
from runtime.ncu import FLOP_INSTRUCTIONS, METRICS, attribute, ncu_command, parse_csv

FIXTURE = Path(__file__).parent.parent / "fixtures" / "ncu_small_cnn_h100.csv"
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def kernels():
    return parse_csv(FIXTURE.read_text())


def test_every_kernel_is_parsed_with_base_units(kernels):
    assert len(kernels) == 16 and [k.id for k in kernels] == list(range(16))
    first = kernels[0]           # the first conv: "5,792" ns, "53,248" bytes read in the CSV
    assert first.fx_node == "conv2d" and first.time_s == pytest.approx(5.792e-6)
    assert first.dram_read_bytes + first.dram_write_bytes == 53_248
    assert "cudnn" in first.name or "conv" in first.name.lower() or "gemm" in first.name.lower()
    # FLOPs from instruction counts: fadd + fmul + 2·ffma (+ half and double forms)
    assert first.flops == 2_170_880


def test_kernels_are_attributed_to_the_ir_nodes_of_their_ranges(kernels):
    import sys
    sys.path.insert(0, str(Path(__file__).parent.parent.parent / "examples"))
    from cnn import small_cnn
    from frontends.pytorch import export, from_exported

    model, inputs = small_cnn()
    graph = from_exported(export(model, inputs))
    per_node, outside = attribute(kernels, graph)
    assert outside == []
    ops = {n.name: n.op for n in graph.nodes}
    assert sorted(ops[name] for name in per_node) == sorted(
        ["conv"] * 3 + ["batch_norm"] * 3 + ["relu"] * 3 + ["max_pool"] * 3 +
        ["reduce_mean", "linear"])
    third_conv = [name for name in per_node if ops[name] == "conv"][2]
    assert per_node[third_conv].kernels == 3            # a conv cuDNN split into three kernels
    assert sum(c.kernels for c in per_node.values()) == 16
    assert sum(c.time_s for c in per_node.values()) == pytest.approx(sum(k.time_s
                                                                         for k in kernels))


def test_command_pins_clocks_off_and_states_cache_control():
    cmd = ncu_command(["python3", "x.py"], "none")
    assert cmd[:5] == ["ncu", "--clock-control", "none", "--cache-control", "none"]
    assert "--print-units" in cmd and cmd[cmd.index("--print-units") + 1] == "base"
    metrics = cmd[cmd.index("--metrics") + 1].split(",")
    assert set(METRICS.values()) | set(FLOP_INSTRUCTIONS) == set(metrics)
    with pytest.raises(NexusError, match="cache control 'some': choose all or none"):
        ncu_command(["x"], "some")


def test_malformed_outputs_fail_in_one_line():
    with pytest.raises(NexusError, match="no ncu CSV in this output"):
        parse_csv("==PROF== Disconnected\n")
    text = FIXTURE.read_text()
    with pytest.raises(NexusError, match="lacks the metrics lts__t_bytes.sum"):
        parse_csv(text.replace("lts__t_bytes.sum", "lts__other.sum"))
    header_end = text.index("\n", text.index('"ID","Process ID"'))
    units_end = text.index("\n", header_end + 1)
    units = text[header_end:units_end].replace('"ns"', '"usecond"')
    with pytest.raises(NexusError, match="gpu__time_duration is in 'usecond', expected ns"):
        parse_csv(text[:header_end] + units + text[units_end:])


def test_validation_page_draws_predicted_against_measured(kernels):
    import sys
    sys.path.insert(0, str(Path(__file__).parent.parent.parent / "examples"))
    import nexus_ir as nx
    from cnn import small_cnn
    from frontends.pytorch import export, from_exported
    from nexus_ir.app.render_html import validation_html

    model, inputs = small_cnn()
    graph = from_exported(export(model, inputs))
    report = nx.compile(graph, target="h100")
    measured, _ = attribute(kernels, graph)
    pairs = [(n, measured[n.name]) for n in report.nodes if n.name in measured]
    doc = {"model": "SmallCNN", "device": "cuda (f32, eager PyTorch)", "meter": "nvml",
           "energy_j": 0.05628, "cv": 0.011, "seconds_per_call": 4.459e-4,
           "report": report.to_dict()}
    page = validation_html(doc, pairs, "all")
    for chart in ("validate-flops", "validate-dram", "validate-time"):
        assert f"id='{chart}'" in page
    predicted = report.metrics["energy_j"]
    assert f"{(predicted - 0.05628) / 0.05628:+.1%} on h100" in page
    assert "--cache-control all" in page and "14 of 14 nodes" in page
