"""Execution modes, math modes and the GPU physics of the cost model on hand-built graphs, with
a target of round numbers so every figure is arithmetic written out here."""

import pytest

import nexus_ir as nx

TARGET = """
name = "round"
description = "round numbers for hand arithmetic"
process_nm = 4
static_power_w = { value = 10.0, source = "test" }
busy_floor_w = { value = 100.0, source = "test" }
kernel_overhead_s = { value = 1e-6, source = "test" }
kernel_gap_s = { value = 1e-6, source = "test" }
sync_s = { value = 2e-5, source = "test" }
host_kernel_s = { value = 5e-6, source = "test" }
matrix_efficiency = { value = 0.5, source = "test" }
gemm_tile = { value = 128, source = "test" }
sms = { value = 4, source = "test" }
tf32_conv = { value = 1, source = "test" }
tf32_matmul = { value = 0, source = "test" }
cache_retains_weights = { value = 1, source = "test" }
energy_per_transistor_fj = { value = 1.0, source = "test" }

[host_dispatch_s]
view = { value = 2e-6, source = "test" }
conv = { value = 3e-5, source = "test" }
default = { value = 1e-5, source = "test" }

[expected_error]
eager = { value = 0.2, source = "test validation" }

[compute.fma]
f32 = { value = 1.0, source = "test" }
tf32 = { value = 0.5, source = "test" }

[[memory]]
name = "sram"
on_chip = true
capacity_bytes = { value = 1048576, source = "test" }
pj_per_byte = { value = 10.0, source = "test" }
bandwidth_bytes_per_s = { value = 1e12, source = "test" }

[[memory]]
name = "dram"
on_chip = false
capacity_bytes = { value = 1e12, source = "test" }
pj_per_byte = { value = 100.0, source = "test" }
bandwidth_bytes_per_s = { value = 1e11, source = "test" }

[peak.matrix]
f32 = { value = 1e12, source = "test" }
tf32 = { value = 4e12, source = "test" }

[peak.vector]
default = { value = 1e12, source = "test" }
"""


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    path = tmp_path_factory.mktemp("targets") / "round.toml"
    path.write_text(TARGET)
    return str(path)


def conv_relu_add() -> nx.Graph:
    """3×3 conv (8→8 channels, 16×16) → relu → add of the graph input: a residual block."""
    g = nx.Graph("block")
    x = g.add_input("x", "f32[1,8,16,16]")
    w = g.add_constant("w", type_="f32[8,8,3,3]")
    y = g.op("relu", g.op("conv", x, w, padding=[1, 1]))
    g.set_outputs(g.op("add", y, x))
    return g


def two_relus() -> nx.Graph:
    g = nx.Graph("relus")
    x = g.add_input("x", "f32[4]")
    g.set_outputs(g.op("relu", g.op("relu", x)))
    return g


def kernels_by_op(report) -> dict[str, int]:
    return {n.op: n.kernels for n in report.nodes}


@pytest.mark.parametrize("execution,kernels", [("eager", 6), ("cuda-graph", 6), ("fused", 1)])
def test_kernels_per_mode(target, execution, kernels):
    """eager and cuda-graph: cuDNN's 3×3 fp32 conv 4 kernels, relu 1, add 1; fused: the relu
    and the add run in the conv's epilogue."""
    report = nx.compile(conv_relu_add(), target=target, execution=execution)
    assert report.metrics["kernels"] == kernels
    assert report.metrics["execution"] == execution


def test_fused_epilogues_never_write_the_tensor_between(target):
    eager = nx.compile(conv_relu_add(), target=target, execution="eager")
    fused = nx.compile(conv_relu_add(), target=target, execution="fused")
    tensor = 8 * 16 * 16 * 4
    by_op = {n.op: n for n in eager.nodes}
    fused_by_op = {n.op: n for n in fused.nodes}
    # the conv no longer writes its output, the relu neither reads it nor writes its own, and
    # the add reads only the graph input
    assert fused_by_op["conv"].on_chip_bytes == by_op["conv"].on_chip_bytes - tensor
    assert fused_by_op["relu"].on_chip_bytes == 0
    assert fused_by_op["add"].on_chip_bytes == by_op["add"].on_chip_bytes - tensor


def test_eager_time_follows_the_host_when_the_device_waits(target):
    """Each relu of f32[4]: 16 bytes from or to DRAM, 1.6e-10 s of device work. Eager: the host
    issues the first at 10 µs, it ends 1 µs (gap) + work later; the second is issued at 20 µs,
    when the device is idle: it ends at 21 µs + work. Then 20 µs to synchronize."""
    work = 16 / 1e11
    report = nx.compile(two_relus(), target=target, execution="eager")
    assert report.metrics["latency_s"] == pytest.approx(21e-6 + work + 20e-6, rel=1e-9)
    assert [n.bound for n in report.nodes] == ["host", "host"]
    graph = nx.compile(two_relus(), target=target, execution="cuda-graph")
    assert graph.metrics["latency_s"] == pytest.approx(2 * (work + 1e-6) + 20e-6, rel=1e-9)


def test_busy_floor_is_paid_over_the_whole_inference(target):
    report = nx.compile(two_relus(), target=target, execution="eager")
    assert report.metrics["static_j"] == pytest.approx(100.0 * report.metrics["latency_s"])
    assert report.metrics["overhead_s"] == pytest.approx(
        report.metrics["latency_s"] - 2 * 16 / 1e11, rel=1e-9)


def test_views_cost_host_time_in_eager_only(target):
    g = nx.Graph("view")
    x = g.add_input("x", "f32[4,2]")
    g.set_outputs(g.op("relu", g.op("reshape", x, shape=[8])))
    eager = nx.compile(g, target=target, execution="eager")
    graph = nx.compile(g, target=target, execution="cuda-graph")
    # reshape: 2 µs on the host, no kernel; the relu (32 B in, 32 B out, both DRAM) is issued
    # at 12 µs
    assert eager.metrics["latency_s"] == pytest.approx(12e-6 + 1e-6 + 64 / 1e11 + 20e-6)
    assert graph.metrics["latency_s"] == pytest.approx(1e-6 + 64 / 1e11 + 20e-6)


def test_math_modes_follow_pytorch(target):
    """fp32 conv: TF32 by default (0.5 pJ per fma) unless highest (1 pJ); fp32 matmul: FP32 by
    default, TF32 with math='tf32'."""
    macs = 8 * 16 * 16 * 8 * 9
    default = nx.compile(conv_relu_add(), target=target)
    highest = nx.compile(conv_relu_add(), target=target, math="highest")
    assert default.metrics["compute_j_by_class"]["matrix"] == pytest.approx(macs * 0.5e-12)
    assert highest.metrics["compute_j_by_class"]["matrix"] == pytest.approx(macs * 1e-12)
    assert default.metrics["math"] == "default"
    g = nx.Graph("mm")
    x = g.add_input("x", "f32[256,256]")
    g.set_outputs(g.op("matmul", x, g.add_constant("w", type_="f32[256,256]")))
    fma = 256 ** 3
    assert nx.compile(g, target=target).metrics["compute_j_by_class"]["matrix"] == \
        pytest.approx(fma * 1e-12)
    assert nx.compile(g, target=target, math="tf32").metrics["compute_j_by_class"]["matrix"] \
        == pytest.approx(fma * 0.5e-12)


def test_small_gemms_fill_whole_waves(target):
    """M=1, N=256, K=256: 2 output tiles of 128×128 on 4 SMs make one wave of 4·128² outputs,
    256 of them used: compute time fma / (peak · efficiency · 256/65536)."""
    g = nx.Graph("gemv")
    x = g.add_input("x", "f32[1,256]")
    g.set_outputs(g.op("matmul", x, g.add_constant("w", type_="f32[256,256]")))
    node, = nx.compile(g, target=target, math="highest", execution="cuda-graph").nodes
    compute = 256 * 256 / (1e12 * 0.5 * 256 / 65536)            # 33.6 µs, above the memory
    assert node.time_s == pytest.approx(compute + 1e-6, rel=1e-9)
    assert node.bound == "compute"


def test_warm_weights_stay_on_chip(target):
    g = nx.Graph("mm")
    x = g.add_input("x", "f32[1,256]")
    g.set_outputs(g.op("matmul", x, g.add_constant("w", type_="f32[256,256]")))
    warm = nx.compile(g, target=target)
    cold = nx.compile(g, target=target, warm=False)
    assert warm.metrics["warm_weights"] and not cold.metrics["warm_weights"]
    assert cold.metrics["off_chip_bytes"] - warm.metrics["off_chip_bytes"] == 256 * 256 * 4


def test_reports_state_the_expected_error_of_their_mode(target):
    eager = nx.compile(two_relus(), target=target)
    assert eager.metrics["expected_error"] == {"median_abs_error": 0.2,
                                               "source": "test validation"}
    assert nx.compile(two_relus(), target=target, execution="fused"
                      ).metrics["expected_error"] is None


@pytest.mark.parametrize("option,value,message", [
    ("execution", "jit", "execution 'jit': choose one of eager, cuda-graph, fused"),
    ("math", "fast", "math 'fast': choose one of default, tf32, highest")])
def test_bad_modes_are_one_line(target, option, value, message):
    with pytest.raises(nx.NexusError, match=message):
        nx.compile(two_relus(), target=target, **{option: value})
