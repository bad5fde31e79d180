"""Execution modes, math modes and the GPU physics of the cost model on hand-built graphs, with
a target of round numbers so every figure is arithmetic written out here."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nexus_ir as nx
from passes.cost import attention_steps, module_entries

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


PHYSICS = """active_power_w = { value = 50.0, source = "test" }
min_kernel_s = { value = 2e-6, source = "test" }
min_vector_kernel_s = { value = 1e-6, source = "test" }
conv_efficiency = { value = 0.25, source = "test" }
norm_rows_per_s = { value = 1e9, source = "test" }
gemm_tile_lanes = { value = 64, source = "test" }
weights_resident_below_bytes = { value = 262144, source = "test" }
weights_evicted_above_bytes = { value = 786432, source = "test" }

[element_rate_per_s]
softmax = { value = 1e9, source = "test" }

[matrix_writeback]
f32 = { value = 0.5, source = "test" }

[attention.f32]
tile_rows = { value = 64, source = "test" }
tile_keys = { value = 64, source = "test" }
blocks_per_sm = { value = 2, source = "test" }
block_s = { value = 1e-6, source = "test" }
step_s = { value = 2e-6, source = "test" }
step_per_dim_s = { value = 1e-8, source = "test" }
mask_step_s = { value = 5e-7, source = "test" }
unaligned_mask_step_s = { value = 1e-6, source = "test" }

"""
"""The round target plus active power, kernel latencies, achieved rates, partial residency and
a fused fp32 attention kernel's tiles (8 slots: 2 blocks on each of 4 SMs)."""


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    path = tmp_path_factory.mktemp("targets") / "round.toml"
    path.write_text(TARGET)
    return str(path)


@pytest.fixture(scope="module")
def physics(tmp_path_factory):
    path = tmp_path_factory.mktemp("targets") / "physics.toml"
    path.write_text(TARGET.replace("[host_dispatch_s]", PHYSICS + "[host_dispatch_s]"))
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


@pytest.mark.parametrize("execution,kernels", [("eager", 3), ("cuda-graph", 3), ("fused", 1)])
def test_kernels_per_mode(target, execution, kernels):
    """eager and cuda-graph: cuDNN's 3×3 fp32 conv over 8 channels 1 kernel (FFMA on NCHW;
    over 64 it would be 3: ``tests/lowering/test_rules.py``), relu 1, add 1; fused: the relu
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
    when the device is idle: it ends at 21 µs + work. Then 20 µs to synchronize. Cold, so that
    the caller's input and output are in DRAM."""
    work = 16 / 1e11
    report = nx.compile(two_relus(), target=target, execution="eager", warm=False)
    assert report.metrics["latency_s"] == pytest.approx(21e-6 + work + 20e-6, rel=1e-9)
    assert [n.bound for n in report.nodes] == ["host", "host"]
    graph = nx.compile(two_relus(), target=target, execution="cuda-graph", warm=False)
    assert graph.metrics["latency_s"] == pytest.approx(2 * (work + 1e-6) + 20e-6, rel=1e-9)


def test_module_calls_are_counted_from_module_paths():
    """Paths a.b.x, a.c, a.b.y, then the model's own op: the containers are a and a.b (a.c and
    the a.b.* are leaves, whose calls the ops' dispatch times hold). The first node enters the
    model, a and a.b; the second nothing new; the third a.b again (a shared block); the last
    nothing."""
    g = nx.Graph("modules")
    x = g.add_input("x", "f32[4]")
    for source in ("a.b.x", "a.c", "a.b.y", ""):
        x = g.op("relu", x, source=source)
    g.set_outputs(x)
    assert [module_entries(g)[id(n)] for n in g] == [3, 0, 1, 0]


def test_eager_host_time_pays_each_module_call(tmp_path):
    """The relus above on the round target with 3 µs per module call: each is host-bound, so
    the eager call lasts 4 × 3 µs longer, all of it the device's wait on module calls
    (``module_wait_s``, which calibration scales apart); replayed from a CUDA graph, no host
    time at all."""
    g = nx.Graph("modules")
    x = g.add_input("x", "f32[4]")
    for source in ("a.b.x", "a.c", "a.b.y", ""):
        x = g.op("relu", x, source=source)
    g.set_outputs(x)
    plain, modules = tmp_path / "plain.toml", tmp_path / "modules.toml"
    plain.write_text(TARGET)
    modules.write_text(TARGET.replace("[host_dispatch_s]", 'host_module_s = { value = 3e-6, '
                                      'source = "test" }\n\n[host_dispatch_s]'))
    for execution, extra in (("eager", 4 * 3e-6), ("cuda-graph", 0.0)):
        with_modules, without = (nx.compile(g, target=str(t), execution=execution, warm=False)
                                 for t in (modules, plain))
        assert with_modules.metrics["latency_s"] - without.metrics["latency_s"] == \
            pytest.approx(extra, abs=1e-12)
        # every relu waits on the host: all of the module time is waited for
        assert with_modules.metrics["module_wait_s"] == pytest.approx(extra, abs=1e-12)
        assert without.metrics["module_wait_s"] == 0.0


def test_busy_floor_is_paid_over_the_whole_inference(target):
    report = nx.compile(two_relus(), target=target, execution="eager", warm=False)
    assert report.metrics["static_j"] == pytest.approx(100.0 * report.metrics["latency_s"])
    assert report.metrics["overhead_s"] == pytest.approx(
        report.metrics["latency_s"] - 2 * 16 / 1e11, rel=1e-9)


def test_views_cost_host_time_in_eager_only(target):
    g = nx.Graph("view")
    x = g.add_input("x", "f32[4,2]")
    g.set_outputs(g.op("relu", g.op("reshape", x, shape=[8])))
    eager = nx.compile(g, target=target, execution="eager", warm=False)
    graph = nx.compile(g, target=target, execution="cuda-graph", warm=False)
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
    """M=1, N=256, K=256: tiles 128 wide and 16 tall (M rounded up to 16): 2 tiles on 4 SMs make
    one wave of 4·16·128 outputs, 256 of them used: compute time fma / (peak · efficiency ·
    256/8192)."""
    g = nx.Graph("gemv")
    x = g.add_input("x", "f32[1,256]")
    g.set_outputs(g.op("matmul", x, g.add_constant("w", type_="f32[256,256]")))
    node, = nx.compile(g, target=target, math="highest", execution="cuda-graph").nodes
    compute = 256 * 256 / (1e12 * 0.5 * 256 / 8192)              # 4.19 µs, above the memory
    assert node.time_s == pytest.approx(compute + 1e-6, rel=1e-9)
    assert node.bound == "compute"


def test_gemms_on_vector_lanes_use_their_own_tile(physics):
    """bf16 has no matrix rate on the round target: its fma runs on the vector lanes, in tiles
    64 wide: 4 tiles of 16×64 on 4 SMs make one wave of 4096 outputs, 256 of them used; then
    the matrix kernel's 2 µs of latency and the gap."""
    g = nx.Graph("gemv")
    x = g.add_input("x", "bf16[1,256]")
    g.set_outputs(g.op("matmul", x, g.add_constant("w", type_="bf16[256,256]")))
    node, = nx.compile(g, target=physics, execution="cuda-graph").nodes
    compute = 256 * 256 / (1e12 * 0.5 * 256 / 4096)
    assert node.time_s == pytest.approx(compute + 2e-6 + 1e-6, rel=1e-9)   # + latency + gap


def test_weights_stay_on_chip_below_the_cache_footprint(target):
    g = nx.Graph("mm")
    x = g.add_input("x", "f32[1,256]")
    g.set_outputs(g.op("matmul", x, g.add_constant("w", type_="f32[256,256]")))
    warm = nx.compile(g, target=target)
    cold = nx.compile(g, target=target, warm=False)
    assert warm.metrics["weights_on_chip"] == 1.0 and cold.metrics["weights_on_chip"] == 0.0
    # warm, the weights and the caller's input and output stay in the cache between calls
    assert warm.metrics["off_chip_bytes"] == 0
    assert cold.metrics["off_chip_bytes"] == 256 * 256 * 4 + 2 * 256 * 4


@pytest.mark.parametrize("n", [2048, 8192, 32768])
def test_weights_on_chip_fall_linearly_between_the_footprints(physics, n):
    """x[1,8] @ w[8,n] (f32): footprint = weights 32n + peak activations (x and the output,
    32 + 4n) + inputs and outputs again (32 + 4n) = 40n + 64 bytes; all weights stay below
    256 KiB, none above 768 KiB, linearly between, and the caller's input and output with
    them."""
    g = nx.Graph("mm")
    x = g.add_input("x", "f32[1,8]")
    g.set_outputs(g.op("matmul", x, g.add_constant("w", type_="f32[8,%d]" % n)))
    report = nx.compile(g, target=physics, execution="cuda-graph")
    footprint = 40 * n + 64
    share = min(1.0, max(0.0, (786432 - footprint) / (786432 - 262144)))
    assert report.metrics["weights_on_chip"] == pytest.approx(share)
    assert report.nodes[0].off_chip_bytes == round(32 * (1 - share)) + \
        round(4 * n * (1 - share)) + round(32 * n * (1 - share))


@pytest.mark.parametrize("n,streamed", [(256, 0.0), (8192, 1.0)])
def test_matrix_outputs_go_off_chip_in_part_while_weights_stream(physics, n, streamed):
    """x[1,64] @ w[64,n] then relu (f32). n = 256: 64 KiB of weights stay (footprint below
    256 KiB), nothing goes off chip. n = 8192: 2 MiB of weights stream (footprint above
    768 KiB); the matmul reads them and writes half (``matrix_writeback`` 0.5) of its on-chip
    output, 32 KiB, off chip; the caller's input and output stream like the weights, the relu's
    input stays."""
    g = nx.Graph("mm")
    y = g.op("matmul", g.add_input("x", "f32[1,64]"), g.add_constant("w", type_=f"f32[64,{n}]"))
    g.set_outputs(g.op("relu", y))
    matmul, relu = nx.compile(g, target=physics, execution="cuda-graph").nodes
    assert matmul.off_chip_bytes == round(streamed * (256 + 64 * n * 4 + 0.5 * n * 4))
    assert relu.off_chip_bytes == round(streamed * n * 4)


def test_active_power_is_paid_over_device_time(physics):
    """relu of f32[1024] from and to DRAM (cold): 8192 bytes at 1e11 B/s of work, then the
    shortest kernel's 1 µs of latency and 1 µs of gap; the floor is paid over all of it, the
    active power (50 W) over the work alone."""
    g = nx.Graph("relu")
    g.set_outputs(g.op("relu", g.add_input("x", "f32[1024]")))
    report = nx.compile(g, target=physics, execution="cuda-graph", warm=False)
    node, work = report.nodes[0], 8192 / 1e11
    assert node.time_s == pytest.approx(work + 1e-6 + 1e-6, rel=1e-9)
    assert node.static_j == pytest.approx(100.0 * node.time_s + 50.0 * work, rel=1e-9)
    assert report.metrics["active_j"] == pytest.approx(50.0 * work, rel=1e-9)


def test_active_power_follows_the_share_of_sms_a_gemm_keeps_busy(physics):
    """The gemv of ``test_small_gemms_fill_whole_waves``: 2 tiles keep 2 of 4 SMs busy."""
    g = nx.Graph("gemv")
    x = g.add_input("x", "f32[1,256]")
    g.set_outputs(g.op("matmul", x, g.add_constant("w", type_="f32[256,256]")))
    report = nx.compile(g, target=physics, math="highest", execution="cuda-graph", warm=False)
    compute = 256 * 256 / (1e12 * 0.5 * 256 / 8192)
    assert report.metrics["active_j"] == pytest.approx(50.0 * 0.5 * compute, rel=1e-9)
    assert report.nodes[0].time_s == pytest.approx(compute + 2e-6 + 1e-6, rel=1e-9)


def test_ops_below_the_roofline_run_at_their_measured_rate(physics):
    """softmax of 10⁴ elements at 1e9 per second; layer norm of 10⁴ rows at 1e9 rows per
    second; each then its kernel's latency and gap."""
    g = nx.Graph("rates")
    x = g.add_input("x", "f32[1000,10]")
    g.set_outputs(g.op("softmax", x))
    node, = nx.compile(g, target=physics, execution="cuda-graph").nodes
    assert node.time_s == pytest.approx(1e4 / 1e9 + 1e-6 + 1e-6, rel=1e-9)
    assert node.bound == "compute"
    g = nx.Graph("norm")
    g.set_outputs(g.op("layer_norm", g.add_input("x", "f32[10000,8]")))
    node, = nx.compile(g, target=physics, execution="cuda-graph").nodes
    assert node.time_s == pytest.approx(1e4 / 1e9 + 1e-6 + 1e-6, rel=1e-9)


def _attention(shape: str, causal: bool = False, mask: str | None = None,
               keys: str | None = None) -> nx.Graph:
    g = nx.Graph("attention")
    q = g.add_input("q", shape)
    k, v = (g.add_input(name, keys or shape) for name in "kv")
    extra = [g.add_input("mask", mask)] if mask else []
    g.set_outputs(g.op("attention", q, k, v, *extra, causal=causal))
    return g


@pytest.mark.parametrize("shape,causal,mask,seconds", [
    # 2·4 heads × 2 query tiles = 16 blocks on 8 slots: 2 waves of 2 key steps, each step
    # 2 µs + 1e-8·(32 + 32)
    ("f32[2,4,128,32]", False, None, 2 * 1e-6 + 4 * (2e-6 + 64e-8)),
    # causal, 16 heads × 4 tiles of 1-4 steps: 8 waves; the balanced path 16·10/8 + 4 = 24
    # steps is shorter than 8 waves of the longest block (32)
    ("f32[1,16,256,32]", True, None, 8 * 1e-6 + 24 * (2e-6 + 64e-8)),
    # causal, one head: 4 blocks in one wave, the longest (4 steps) sets the time
    ("f32[1,1,256,32]", True, None, 1e-6 + 4 * (2e-6 + 64e-8)),
    # a mask with 16-byte rows (128 f32) and one with 196-byte rows (49 f32): one block each
    ("f32[1,1,64,32]", False, "f32[1,1,64,64]", 1e-6 + 2e-6 + 64e-8 + 5e-7),
    ("f32[1,2,49,32]", False, "f32[1,1,49,49]", 1e-6 + 2e-6 + 64e-8 + 5e-7 + 1e-6),
])
def test_fused_attention_runs_at_the_time_of_its_tiles(physics, shape, causal, mask, seconds):
    """Waves of blocks and key steps by hand (``[attention.f32]`` of PHYSICS), then the matrix
    kernel's 2 µs latency and one gap."""
    report = nx.compile(_attention(shape, causal, mask), target=physics, execution="cuda-graph")
    node, = report.nodes
    assert report.metrics["kernels"] == 1
    assert node.time_s == pytest.approx(seconds + 2e-6 + 1e-6, rel=1e-9)


def test_attention_outside_the_measured_family_keeps_the_counted_rate(physics):
    """One query against 128 keys (decode) and a dtype without a table are costed from their
    counts, as before: the same time on the target with and without the attention table."""
    without = physics.replace("physics.toml", "no_attention.toml")
    text = open(physics).read()
    open(without, "w").write(text[:text.index("[attention.f32]")] +
                             text[text.index("[host_dispatch_s]"):])
    for g in (_attention("f32[1,4,1,32]", keys="f32[1,4,128,32]"), _attention("f16[1,4,64,32]")):
        with_table, = nx.compile(g, target=physics, execution="cuda-graph").nodes
        plain, = nx.compile(g, target=without, execution="cuda-graph").nodes
        assert with_table.time_s == plain.time_s


@given(heads=st.integers(1, 300), length=st.integers(1, 2048),
       rows=st.sampled_from([64, 128]), keys=st.sampled_from([64, 128]),
       slots=st.integers(1, 600))
def test_causal_attention_is_never_slower_and_never_shorter_than_its_longest_block(
        heads, length, rows, keys, slots):
    waves, full = attention_steps(heads, length, False, rows, keys, slots)
    same_waves, causal = attention_steps(heads, length, True, rows, keys, slots)
    assert same_waves == waves == -(-heads * -(-length // rows) // slots)
    assert full == waves * -(-length // keys)
    assert -(-length // keys) <= causal + 1e-9 and causal <= full + 1e-9


def test_an_rgb_stem_fills_three_of_eight_tf32_channels(physics):
    """3→8 channels, 3×3, 16×16: 55296 fma as TF32 at 4e12 · conv_efficiency 0.25 · 3/8 (TF32
    takes 8 channels per instruction); one kernel (too few input channels for cuDNN's layout
    transforms): 2 µs of latency, 1 gap."""
    g = nx.Graph("stem")
    x = g.add_input("x", "f32[1,3,16,16]")
    g.set_outputs(g.op("conv", x, g.add_constant("w", type_="f32[8,3,3,3]"), padding=[1, 1]))
    node, = nx.compile(g, target=physics, execution="cuda-graph").nodes
    compute = 55296 / (4e12 * 0.25 * 3 / 8)
    assert node.time_s == pytest.approx(compute + 2e-6 + 1e-6, rel=1e-9)


def _layout(op: str, shape: str, reader: str, **attributes) -> dict[str, int]:
    g = nx.Graph("layout")
    y = g.op(op, g.add_input("x", shape), **attributes)
    if reader == "matmul":
        z = g.op("matmul", y, g.add_constant("w", type_="f32[%d,4]" % y.type.shape[-1]))
    elif reader == "reshape":
        z = g.op("relu", g.op("reshape", y, shape=[-1]))
    else:
        z = g.op(reader, y)
    g.set_outputs(z)
    return g


@pytest.mark.parametrize("op,shape,attributes,reader,kernels", [
    ("transpose", "f32[4,8]", {"perm": [1, 0]}, "matmul", 0),       # a transposed GEMM operand
    ("transpose", "f32[4,8]", {"perm": [1, 0]}, "relu", 0),         # elementwise: strides
    ("transpose", "f32[4,8]", {"perm": [1, 0]}, "reshape", 1),      # flattening needs a copy
    ("transpose", "f32[4,8]", {"perm": [1, 0]}, "softmax", 1),      # softmax wants it contiguous
    ("transpose", "f32[1,4,8]", {"perm": [1, 0, 2]}, "softmax", 0),  # moves a size-1 dim only
    ("slice", "f32[4,8]", {"axes": [0], "starts": [1], "ends": [3]}, "softmax", 0),  # outer rows
    ("slice", "f32[4,8]", {"axes": [1], "starts": [1], "ends": [3]}, "softmax", 1)])
def test_strided_layout_changes_are_views_where_pytorch_keeps_strides(
        target, op, shape, attributes, reader, kernels):
    report = nx.compile(_layout(op, shape, reader, **attributes), target=target,
                        execution="cuda-graph")
    node = next(n for n in report.nodes if n.op == op)
    assert report.metrics["kernels"] == kernels + 1                  # the reader launches one
    assert (node.on_chip_bytes == 0) == (kernels == 0)


def test_a_transpose_returned_by_the_graph_is_materialized(target):
    g = nx.Graph("out")
    g.set_outputs(g.op("transpose", g.add_input("x", "f32[4,8]"), perm=[1, 0]))
    assert nx.compile(g, target=target, execution="cuda-graph").metrics["kernels"] == 1


def test_recurrent_layers_reread_their_hidden_weights_each_step(target):
    """LSTM, T=5, B=1, I=4, H=3: w_hh (12×3 f32, 144 bytes) read again at steps 2-5; fp32 runs
    as TF32 where cuDNN's default does."""
    g = nx.Graph("lstm")
    shapes = ["f32[5,1,4]", "f32[1,1,3]", "f32[1,1,3]", "f32[12,4]", "f32[12,3]", "f32[12]",
              "f32[12]"]
    inputs = [g.add_input(f"v{i}", t) for i, t in enumerate(shapes)]
    node = g.add_node("recurrent", inputs, {"mode": "lstm", "hidden_size": 3})
    g.set_outputs(*node.outputs)
    report = nx.compile(g, target=target, execution="cuda-graph")
    moved = sum(v.type.nbytes for v in [*inputs, *node.outputs])
    assert report.nodes[0].on_chip_bytes == moved + 144 * 4
    assert report.metrics["compute_j_by_class"]["matrix"] == pytest.approx(
        5 * 4 * 3 * (4 + 3) * 0.5e-12)                            # TF32 fma at 0.5 pJ


def test_reports_state_the_expected_error_of_their_mode(target):
    eager = nx.compile(two_relus(), target=target)
    assert eager.metrics["expected_error"] == {"median_abs_error": 0.2,
                                               "source": "test validation"}
    fused = nx.compile(two_relus(), target=target, execution="fused")
    assert fused.metrics["expected_error"] is None
    text = " ".join(str(fused).split())                  # the terminal width wraps lines
    assert "expected error: unvalidated for this target and mode" in text
    assert "expected error: median 20% (test validation)" in " ".join(str(eager).split())


@pytest.mark.parametrize("option,value,message", [
    ("execution", "jit", "execution 'jit': choose one of eager, cuda-graph, fused"),
    ("math", "fast", "math 'fast': choose one of default, tf32, highest")])
def test_bad_modes_are_one_line(target, option, value, message):
    with pytest.raises(nx.NexusError, match=message):
        nx.compile(two_relus(), target=target, **{option: value})


@pytest.fixture(scope="module")
def half_target(tmp_path_factory):
    """The round target with bf16 matrix work (0.25 pJ per fma, 8e12 fma/s)."""
    path = tmp_path_factory.mktemp("targets") / "half.toml"
    path.write_text(TARGET.replace("[compute.fma]\n", '[compute.fma]\nbf16 = { value = 0.25, '
                                   'source = "test" }\n').replace(
        "[peak.matrix]\n", '[peak.matrix]\nbf16 = { value = 8e12, source = "test" }\n'))
    return str(path)


@pytest.mark.parametrize("length", [128, 512])
def test_a_captured_graph_runs_the_capture_mask_on_the_math_path(half_target, length):
    """bf16 attention over 4 heads of 32 whose all-true capture mask was folded: eager (and an
    attention without the flag, captured) is one fused kernel; replayed from a CUDA graph it is
    SDPA's math path in fp32: 22 kernels, its 4·L·L·64 fma at the fp32 energy (1 pJ, not 0.25)
    and beyond its operands and result 39 + 6 bytes per element of the 4·L·L score matrix,
    20 per element of q and of k, 12 of v and 8 of the output (casts, scaling, copies) on
    chip, off chip too once the fp32 scores (4·4·L·L bytes) outgrow the 1 MiB on chip
    (L = 512). Cold, so q, k, v and the output move off chip as well."""
    def graph(capture_mask: bool) -> nx.Graph:
        g = nx.Graph("sdpa")
        q, k, v = (g.add_input(n, f"bf16[1,4,{length},32]") for n in "qkv")
        g.set_outputs(g.op("attention", q, k, v, capture_mask=capture_mask))
        return g
    tensor = 4 * length * 32 * 2
    scores = 4 * length * length
    fma = scores * 64
    for capture_mask, execution in ((True, "eager"), (False, "cuda-graph")):
        fused = nx.compile(graph(capture_mask), target=half_target, execution=execution,
                           warm=False)
        assert fused.metrics["kernels"] == 1
        assert fused.nodes[0].on_chip_bytes == 4 * tensor
        assert fused.metrics["compute_j_by_class"]["matrix"] == pytest.approx(fma * 0.25e-12)
    math_path = nx.compile(graph(True), target=half_target, execution="cuda-graph", warm=False)
    node = math_path.nodes[0]
    assert math_path.metrics["kernels"] == 22
    assert math_path.metrics["compute_j_by_class"]["matrix"] == pytest.approx(fma * 1e-12)
    elements = tensor // 2
    extra = 45 * scores + (20 + 20 + 12 + 8) * elements
    assert node.on_chip_bytes == 4 * tensor + extra
    assert node.off_chip_bytes == 4 * tensor + (extra if 4 * scores > 1048576 else 0)


def test_a_depthwise_convolution_pays_per_output_and_per_fma(tmp_path):
    """A depthwise 7×7 over 16 channels of 32×32 (16,384 outputs, 49 fma each) on the round
    target with depthwise_fma_per_s = 1e11 and depthwise_output_s = 1e-10: compute time
    16,384 × 1e-10 + 802,816 / 1e11 s, replayed from a CUDA graph."""
    path = tmp_path / "depthwise.toml"
    path.write_text(TARGET.replace("[host_dispatch_s]", 'depthwise_fma_per_s = { value = 1e11, '
                                   'source = "test" }\ndepthwise_output_s = { value = 1e-10, '
                                   'source = "test" }\n\n[host_dispatch_s]'))
    g = nx.Graph("depthwise")
    x = g.add_input("x", "f32[1,16,32,32]")
    g.set_outputs(g.op("conv", x, g.add_constant("w", type_="f32[16,1,7,7]"), groups=16,
                       padding=[3, 3]))
    from passes.cost import cost_graph
    cost_graph(g, str(path), execution="cuda-graph")
    timing = next(iter(g)).annotations["timing"]
    assert timing["compute_s"] == pytest.approx(16384 * 1e-10 + 16384 * 49 / 1e11, rel=1e-9)
