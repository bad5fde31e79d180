"""The cost pipeline end to end on hand-built graphs, against sums written out by hand."""

import math

import numpy as np
import pytest

import nexus_ir as nx
from lowering.primitives import transistors
from lowering.target import load_target

HOROWITZ = "horowitz-45nm"


def one_op(op: str, dt: str) -> nx.Graph:
    g = nx.Graph(f"{op}_{dt}")
    a, b = g.add_input("a", f"{dt}[1]"), g.add_input("b", f"{dt}[1]")
    g.set_outputs(g.op(op, a, b))
    return g


@pytest.mark.parametrize("op,dt,pj", [("add", "i8", 0.03), ("add", "i32", 0.1), ("mul", "i8", 0.2),
                                      ("mul", "i32", 3.1), ("add", "f16", 0.4), ("add", "f32", 0.9),
                                      ("mul", "f16", 1.1), ("mul", "f32", 3.7)])
def test_one_op_graph_reproduces_isscc_2014(op, dt, pj):
    report = nx.compile(one_op(op, dt), target=HOROWITZ)
    assert report.nodes[0].compute_j == pytest.approx(pj * 1e-12, rel=1e-12)
    assert report.metrics["compute_j"] == pytest.approx(pj * 1e-12, rel=1e-12)


def test_matmul_bias_relu_energy_by_hand():
    g = nx.Graph("mlp")
    x = g.add_input("x", "f32[2,3]")
    w = g.add_constant("w", type_="f32[3,4]")
    b = g.add_constant("b", type_="f32[4]")
    g.set_outputs(g.op("relu", g.op("add", g.op("matmul", x, w), b)))
    report = nx.compile(g, target=HOROWITZ)
    # compute: 24 fma x (3.7 + 0.9) + 8 add x 0.9 + 8 max x 0.9·(34·32)/2336 (max priced on add)
    compute_pj = 24 * (3.7 + 0.9) + 8 * 0.9 + 8 * 0.9 * (34 * 32) / 2336
    # off chip: x 24 B (input) + w 48 B + b 16 B (weights stream) + output 32 B; intermediates
    # (32 B each) stay in the 1 MB SRAM
    off_chip = 24 + 48 + 16 + 32
    # on chip: every byte read or written passes the SRAM: matmul 24+48+32, add 32+16+32,
    # relu 32+32
    on_chip = (24 + 48 + 32) + (32 + 16 + 32) + (32 + 32)
    memory_pj = off_chip * 243.75 + on_chip * 12.5
    m = report.metrics
    assert m["compute_j"] == pytest.approx(compute_pj * 1e-12, rel=1e-12)
    assert m["memory_j"] == pytest.approx(memory_pj * 1e-12, rel=1e-12)
    assert m["off_chip_bytes"] == off_chip and m["on_chip_bytes"] == on_chip
    assert m["static_j"] == 0.0                       # the reference target has no static power
    assert m["energy_j"] == pytest.approx((compute_pj + memory_pj) * 1e-12, rel=1e-12)
    assert m["macs"] == 24 and m["flops"] == 48 + 8 + 8


def matmul_graph(dt: str) -> nx.Graph:
    g = nx.Graph(f"mm_{dt}")
    x = g.add_input("x", f"{dt}[64,256]")
    g.set_outputs(g.op("matmul", x, g.add_constant("w", type_=f"{dt}[256,128]")))
    return g


def test_precision_orders_compute_energy_by_the_targets_ratio():
    t = load_target(HOROWITZ)
    energy = {dt: nx.compile(matmul_graph(dt), target=HOROWITZ).metrics["compute_j"]
              for dt in ("i8", "bf16", "f32", "i1")}
    assert energy["i8"] / energy["f32"] == pytest.approx(t.energy_pj("fma", "i8") /
                                                         t.energy_pj("fma", "f32"))
    assert energy["i8"] < energy["bf16"] < energy["f32"]
    assert energy["i1"] < energy["i8"]                          # XNOR + popcount is cheapest
    assert energy["i1"] == pytest.approx(64 * 128 * 256 * (t.energy_pj("xnor", "i1") +
                                                           t.energy_pj("popcount", "i1")) * 1e-12)


def elementwise_chain(elements: int) -> nx.Graph:
    g = nx.Graph("chain")
    y = g.add_input("x", f"f32[{elements}]")
    for op in ("relu", "neg", "exp", "sigmoid"):
        y = g.op(op, y)
    g.set_outputs(y)
    return g


def test_residency_keeps_a_small_chain_on_chip_and_spills_a_large_one():
    capacity = load_target(HOROWITZ).on_chip.capacity_bytes.value          # 1 MiB
    small = int(capacity // 4 // 8)            # 128 KiB tensors: the live pair fits
    report = nx.compile(elementwise_chain(small), target=HOROWITZ)
    size = small * 4
    assert report.metrics["off_chip_bytes"] == 2 * size            # the input once, output once
    large = int(capacity // 4 * 10)            # each tensor ten times the capacity
    report = nx.compile(elementwise_chain(large), target=HOROWITZ)
    size = large * 4
    # every one of the 4 nodes reads its input from and writes its output to DRAM
    assert report.metrics["off_chip_bytes"] == 4 * 2 * size
    assert [n.off_chip_bytes for n in report.nodes] == [2 * size] * 4


def test_tiled_matmul_rereads_operands_when_they_overflow_the_chip():
    g = nx.Graph("big")
    a = g.add_input("a", "f32[2048,2048]")
    g.set_outputs(g.op("matmul", a, g.add_constant("b", type_="f32[2048,2048]")))
    report = nx.compile(g, target=HOROWITZ)
    # capacity 1 MiB = 262144 f32; tile side t = isqrt(262144/2) = 362; reads = 2·M·N·K·4/t
    reads = int(2 * 2048 ** 3 * 4 / 362)
    assert report.nodes[0].off_chip_bytes == reads + 2048 * 2048 * 4      # + the output write


def test_70b_decoder_at_32k_context_counts_exactly_without_overflow():
    from nexus_ir.app.examples import decoder
    d, ffn, heads, kv, hd, vocab, layers, seq = 8192, 28672, 64, 8, 128, 128256, 80, 32768
    g = decoder(layers=layers, d_model=d, ffn=ffn, heads=heads, kv_heads=kv, vocab=vocab,
                dtype="f32", name="llama70b")
    report = nx.compile(g, target="h100", bindings={"batch": 1, "seq": seq})
    m = report.metrics
    # per token: q and o projections d·d each, k and v d·(kv·hd) each, three MLP matrices d·ffn;
    # attention: Q·Kᵀ and P·V over the full causal score matrix, per head; then the LM head
    projections = d * d * 2 + d * kv * hd * 2 + 3 * d * ffn
    attention = heads * seq * seq * hd * 2
    macs = layers * (seq * projections + attention) + seq * d * vocab
    assert m["macs"] == macs == 3_684_807_062_061_056                # exact Python ints
    # f32 FMAs toggle (34·24² + 28·8 + 2336)/2 = 11072 transistors each: far past 2^63
    assert m["transistor_ops"] > 2**63 and math.isfinite(m["transistor_ops"])
    assert m["transistor_ops"] >= macs * 11072
    assert m["parameters"] == layers * (d * d * 2 + d * kv * hd * 2 + 3 * d * ffn + 2 * d) + \
        2 * vocab * d + d
    assert m["output_units"] == seq                                 # tokens
    assert report.to_json()                                         # serializes big ints


def test_six_metrics_follow_their_definitions():
    g = nx.Graph("tiny")
    x = g.add_input("x", "f32[4,16]")
    y = g.op("softmax", g.op("linear", x, g.add_constant("w", type_="f32[8,16]")))
    g.set_outputs(y)
    report = nx.compile(g, target="a100", capability=0.9)   # a target with static power only
    m, nodes = report.metrics, report.nodes
    assert m["output_units"] == 4                                   # samples of a [4, 8] output
    assert m["saf_t"] == pytest.approx(sum(n.transistor_ops for n in nodes) / 4)
    assert all(n.static_j == pytest.approx(55.0 * n.time_s) for n in nodes)   # static = P·t
    assert m["mcer"] == pytest.approx(m["memory_j"] / m["compute_j"])
    assert m["ecu"] == pytest.approx(m["energy_j"] / 0.9)
    assert m["cpto"] == pytest.approx(0.9 / m["transistor_ops"])
    assert m["edp_js"] == pytest.approx(m["energy_j"] * m["latency_s"])
    assert m["ddev"] is None                     # no per-input data: not computed, never 0
    assert 0.0 < m["lsrt"] < 1.0


def test_lsrt_and_ddev_definitions_directly():
    from passes import PassManager
    from passes.cost import COST_PIPELINE
    g = nx.Graph("t")
    x = g.add_input("x", "f32[1024,1024]")
    g.set_outputs(g.op("exp", x))
    pm = PassManager(list(COST_PIPELINE), options={"target": "h100",
                                                   "per_input_energy_j": [1.0, 2.0, 3.0]})
    out = pm.run(g)
    t = next(iter(out)).annotations["timing"]
    m = pm.ctx.results["metrics"]
    # the latency is the node's time plus the per-call launch and synchronize
    assert m["lsrt"] == pytest.approx(1 - t["compute_s"] / (t["time_s"] + m["call_overhead_s"]))
    # CV of [1, 2, 3]: population std sqrt(2/3) over mean 2
    assert m["ddev"] == pytest.approx(math.sqrt(2 / 3) / 2)


def test_unmodeled_ops_are_listed_not_zero():
    g = nx.Graph("mixed")
    x = g.add_input("x", "f32[4]")
    odd = g.add_node("opaque", [g.op("relu", x)], {"target": "aten::weird"},
                     output_types=[nx.TensorType([4], "f32")])
    g.set_outputs(g.op("exp", odd.output))
    report = nx.compile(g, target="h100")
    assert [n.name for n in report.unmodeled] == [odd.name]
    assert report.unmodeled[0].energy_j is None
    assert report.unmodeled[0].unmodeled_reason == "no lowering rule for opaque (aten::weird)"
    assert report.metrics["unmodeled"] == [odd.name]
    assert f"unmodeled ops (not in the totals): %{odd.name} (opaque)" in str(report)


def test_report_is_reproducible_and_round_trips():
    from nexus_ir.app.examples import example_cnn
    a = nx.compile(example_cnn(), bindings={"batch": 2}).to_json()
    b = nx.compile(example_cnn(), bindings={"batch": 2}).to_json()
    assert a == b
    again = nx.EnergyReport.from_json(a)
    assert again.to_json() == a
    modules = again.per_module()
    assert modules[0].module == "features" and modules[0].macs == 2 * (442368 + 1179648)


def test_report_dataframe_has_one_row_per_node():
    pd = pytest.importorskip("pandas", reason="pandas is in the dev extra")
    from nexus_ir.app.examples import example_cnn
    report = nx.compile(example_cnn(), bindings={"batch": 1})
    frame = report.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(report.nodes)
    assert int(frame["macs"].sum()) == report.metrics["macs"]
    # eager at batch 1: the convolutions wait for the host to dispatch them
    assert frame.loc[frame["op"] == "conv", "bound"].tolist() == ["host", "host"]


def test_compile_binds_symbols_from_example_inputs_and_complains_when_unbound():
    from nexus_ir.app.examples import example_cnn
    report = nx.compile(example_cnn(), {"image": np.zeros((3, 3, 32, 32), np.float32)})
    assert report.bindings == {"batch": 3} and report.metrics["output_units"] == 3
    with pytest.warns(UserWarning, match=r"^batch \(the inputs' leading dim\) is not given: "
                      r"costed at batch 1, as FLOP counters do \(--bind batch=N"):
        alone = nx.compile(example_cnn())
    assert alone.bindings == {"batch": 1} and alone.metrics["macs"] == 1_622_336
    for shapes in (["f32[batch,seq]"], ["f32[4,batch]"], ["f32[batch,4]", "f32[2*batch,4]"]):
        g = nx.Graph("g")
        g.set_outputs(*[g.op("relu", g.add_input(f"x{i}", t)) for i, t in enumerate(shapes)])
        with pytest.raises(nx.NexusError, match=r"unbound symbols \[.*\]; give them sizes "
                                                r"\(CLI: --bind"):
            nx.compile(g)
    with pytest.raises(nx.NexusError, match=r"has shape \[3, 1, 32, 32\] but the graph declares"):
        nx.compile(example_cnn(), {"image": (3, 1, 32, 32)})
    with pytest.raises(nx.NexusError, match="cannot compile a object: NEXUS takes a nexus_ir.Graph, a PyTorch"):
        nx.compile(object())


def test_a_large_matmul_on_h100_lands_on_its_measured_rate_and_power():
    """PHYSICS.md §3: a bf16 8192³ matmul on an H100 ran at ~720 TFLOP/s drawing ~690 W,
    near the 700 W board limit. The achieved matrix rate and the power bound (the headroom
    above the busy floor and the active power of the SMs its tiles keep busy) both land
    there."""
    g = nx.Graph("mm8192")
    a = g.add_input("a", "bf16[8192,8192]")
    g.set_outputs(g.op("matmul", a, g.add_constant("b", type_="bf16[8192,8192]")))
    node = nx.compile(g, target="h100").nodes[0]
    assert node.bound in ("compute", "power")
    assert node.energy_j / node.time_s == pytest.approx(690.0, rel=0.03)
    assert 2 * 8192 ** 3 / node.time_s == pytest.approx(720e12, rel=0.05)

def test_a_recurrent_layer_launches_kernels_per_time_step_on_every_target():
    """A 2-layer LSTM over 50 steps: per layer one GEMM of the whole input sequence, then a
    recurrent GEMM and a gate kernel per step, plus 6 setup kernels (cuDNN's count):
    2·(2·50 + 1) + 6 = 208. Each pays at least the target's per-kernel gap: it is costed step
    by step, not as one kernel."""
    from lowering.target import load_target
    g = nx.Graph("lstm")
    shapes = ["f32[50,1,64]", "f32[2,1,128]", "f32[2,1,128]", "f32[512,64]", "f32[512,128]",
              "f32[512]", "f32[512]", "f32[512,128]", "f32[512,128]", "f32[512]", "f32[512]"]
    inputs = [g.add_input(f"v{i}", t) for i, t in enumerate(shapes)]
    node = g.add_node("recurrent", inputs, {"mode": "lstm", "hidden_size": 128,
                                            "num_layers": 2})
    g.set_outputs(node.outputs[0])
    for name, execution in (("h200", "cuda-graph"), ("x86-server", "eager")):
        report = nx.compile(g, target=name, execution=execution)
        target = load_target(name)
        assert report.metrics["kernels"] == 208
        assert report.nodes[0].time_s >= 208 * target.number("kernel_gap_s")


def test_cuda_graph_replay_is_refused_where_the_target_is_no_gpu():
    with pytest.raises(nx.NexusError, match="execution 'cuda-graph' is not modeled on target "
                                            "x86-server: CUDA-graph replay needs a GPU target "
                                            "giving sms and kernel_gap_s; choose eager or fused"):
        nx.compile("example:cnn", target="x86-server", execution="cuda-graph",
                   bindings={"batch": 1})
    from lowering.target import load_target
    assert load_target("h200").execution_modes == ("eager", "cuda-graph", "fused")
    assert load_target("a100").execution_modes == ("eager", "fused")
