"""Diagnose, rewrite, recommend: findings with evidence, rewrites that change only what they
name and keep the model's outputs, and a ranking that follows the cost model."""

import sys
from pathlib import Path

import numpy as np
import pytest

import nexus_ir as nx
from passes import diagnose, recommend
from passes.rewrites import SWAPS, quantize_weights, swap_activations
from runtime.deviation import output_deviation

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).parent.parent.parent / "examples"))


@pytest.fixture(scope="module")
def mlp_graph():
    from frontends.pytorch import from_torch

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 64),
                              torch.nn.SiLU(), torch.nn.Linear(64, 10), torch.nn.Sigmoid())
    return from_torch(mlp.eval(), (torch.randn(8, 32),))


def signature(graph):
    """Each node's op, attributes and operands, operands named by where they come from (the
    position of their producer, or the input/constant name): renaming does not count."""
    position = {id(n): i for i, n in enumerate(graph)}
    return [(n.op, dict(n.attributes),
             [f"node{position[id(v.producer)]}" if v.producer is not None else v.name
              for v in n.inputs]) for n in graph]


def test_swap_changes_only_the_swapped_nodes(mlp_graph):
    swapped, counts = swap_activations(mlp_graph, ["silu->hardswish"])
    assert counts == {"silu->hardswish": 1}
    before, after = signature(mlp_graph), signature(swapped)
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == 1
    assert changed[0][0][0] == "silu" and changed[0][1][0] == "hardswish"
    assert [n.op for n in mlp_graph].count("silu") == 1          # the original is untouched


def test_swap_restricted_to_a_module(mlp_graph):
    gelu_source = next(n.source for n in mlp_graph if n.op == "gelu")
    _, inside = swap_activations(mlp_graph, ["gelu->relu"], module=gelu_source)
    _, outside = swap_activations(mlp_graph, ["gelu->relu"], module="elsewhere")
    assert inside == {"gelu->relu": 1} and outside == {"gelu->relu": 0}
    with pytest.raises(nx.NexusError, match="unknown activation swap 'relu->gelu'"):
        swap_activations(mlp_graph, ["relu->gelu"])


def test_int8_weights_stay_within_quantization_error(mlp_graph):
    quantized, count = quantize_weights(mlp_graph, 8)
    assert count == 3
    dq = [n for n in quantized if n.op == "dequantize"]
    assert len(dq) == 3 and all(n.inputs[0].type.dtype.name == "i8" for n in dq)
    w = next(c for c in mlp_graph.constants.values() if c.name.endswith("0.weight"))
    q = next(c for c in quantized.constants.values() if c.name.startswith(w.name + "_i8"))
    s = quantized.constants[q.name.replace("_i8", "_scale")]
    # per output channel: |w − q·s| ≤ s/2, and the largest weight of each row maps to ±127
    recon = np.asarray(q.data, np.float32) * np.asarray(s.data)[:, None]
    assert np.all(np.abs(np.asarray(w.data) - recon) <= np.asarray(s.data)[:, None] / 2 + 1e-7)
    assert np.all(np.abs(np.asarray(q.data)).max(axis=1) == 127)
    feeds = [{"input": np.random.default_rng(i).standard_normal((8, 32)).astype(np.float32)}
             for i in range(3)]
    assert output_deviation(mlp_graph, quantized, feeds) < 0.02
    int4, _ = quantize_weights(mlp_graph, 4)
    assert output_deviation(mlp_graph, int4, feeds) > output_deviation(mlp_graph, quantized,
                                                                       feeds)


def test_quantized_cnn_runs_in_onnxruntime_close_to_the_original():
    from cnn import small_cnn
    from frontends.pytorch import from_torch

    model, (x,) = small_cnn()
    graph = from_torch(model, (x,))
    quantized, count = quantize_weights(graph, 8)
    assert count == 4                                  # three convs and the classifier
    feeds = [{graph.inputs[0].name: np.random.default_rng(i).standard_normal(
        (1, 3, 32, 32)).astype(np.float32)} for i in range(2)]
    assert output_deviation(graph, quantized, feeds) < 0.02


def test_diagnosis_finds_what_the_report_says(mlp_graph):
    report = nx.compile(mlp_graph, target="h100")
    d = diagnose(report, "h100", top=3)
    by_energy = sorted((n for n in report.nodes if n.modeled and n.energy_j),
                       key=lambda n: -n.energy_j)
    assert [name for name, *_ in d.hot_nodes] == [n.name for n in by_energy[:3]]
    assert sum(d.bounds.values()) == len([n for n in report.nodes if n.modeled and n.energy_j])
    for name, op_, energy_share, flop_share in d.flops_mislead:
        assert energy_share >= 3 * flop_share
    assert {op_ for _, op_, *_ in d.high_precision} == {"linear"}   # f32 FMAs; bf16 is cheaper
    assert {op_ for _, op_, _ in d.expensive_activations} >= {"gelu", "silu", "sigmoid"}
    assert any("hotspots" in line for line in d.lines())


def test_recommendations_rank_by_the_cost_model(mlp_graph):
    ranked = recommend(mlp_graph, "h100")
    assert [r.saved_j for r in ranked] == sorted((r.saved_j for r in ranked), reverse=True)
    base = nx.compile(mlp_graph, target="h100").metrics["energy_j"]
    for r in ranked:
        assert r.energy_j == pytest.approx(nx.compile(r.graph, target="h100").metrics["energy_j"])
        assert r.saved_j == pytest.approx(base - r.energy_j)
    names = {r.name for r in ranked}
    assert {"swap gelu->relu", "swap gelu->gelu_tanh", "swap silu->hardswish",
            "swap sigmoid->hardsigmoid", "weights int8", "weights int4",
            "prune 25% channels", "prune 50% channels", "sparsify 50% weights",
            "precision bf16", "precision f16"} | {
        f"weights int{b} in {m}" for b in (8, 4) for m in ("0", "2", "4")} == names
    one = next(r for r in ranked if r.name == "weights int8 in 2")
    assert one.changed == 1 and [n.source for n in one.graph if n.op == "dequantize"] == ["2"]
    # hand check: GELU's erf costs a transcendental per element, ReLU a compare: the swap saves
    gelu = next(r for r in ranked if r.name == "swap gelu->relu")
    assert gelu.saved_j > 0 and set(SWAPS) >= {n.split(" ")[1] for n in names if "swap" in n}


def test_a_dequantized_weight_is_fused_into_its_matrix_op_where_the_target_fuses():
    """Weight-only int8 on a target whose runtime fuses: the linear reads x, the int8 weight and
    its scales and zero points; the dequantize moves nothing and launches no kernel."""
    g = nx.Graph("w8")
    x = g.add_input("x", "f32[1,256]")
    w = g.add_constant("w", np.random.default_rng(0).standard_normal((512, 256)).astype(
        np.float32))
    g.set_outputs(g.op("linear", x, w))
    import dataclasses

    from lowering.target import Quantity, load_target

    eager = load_target("h100")
    deployed = dataclasses.replace(eager, fused_dequantize=Quantity(1.0, "test"))
    quantized, _ = quantize_weights(g, 8)
    report = nx.compile(quantized, target=deployed, warm=False)    # weights from HBM each call
    dq = next(n for n in report.nodes if n.op == "dequantize")
    linear = next(n for n in report.nodes if n.op == "linear")
    assert dq.off_chip_bytes == dq.on_chip_bytes == 0 and dq.bound != "overhead"
    assert linear.off_chip_bytes == 256 * 4 + 512 * 256 + 512 * 4 + 512 + 512 * 4
    plain = nx.compile(g, target=deployed, warm=False)
    assert plain.nodes[0].off_chip_bytes == 256 * 4 + 512 * 256 * 4 + 512 * 4
    assert report.metrics["energy_j"] < plain.metrics["energy_j"]
    # eager h100 (no fusion): the dequantize is its own kernel, writing the f32 weight out
    unfused = nx.compile(quantized, target=eager)
    eager_dq = next(n for n in unfused.nodes if n.op == "dequantize")
    assert eager_dq.bound == "overhead" or eager_dq.time_s > 0
    assert unfused.metrics["energy_j"] > nx.compile(g, target=eager).metrics["energy_j"]


def test_pruning_removes_the_stated_fraction_and_the_graph_still_runs():
    from cnn import small_cnn
    from frontends.pytorch import from_torch
    from passes.rewrites import prune_channels

    model, (x,) = small_cnn()
    graph = from_torch(model, (x,))
    pruned, layers = prune_channels(graph, 0.5)
    assert layers == 3                       # the three convs; the classifier feeds the output
    convs = [n for n in pruned if n.op == "conv"]
    assert [n.inputs[1].type.shape for n in convs] == [(16, 3, 3, 3), (32, 16, 3, 3),
                                                       (64, 32, 3, 3)]
    bn = [n for n in pruned if n.op == "batch_norm"]
    assert [n.inputs[1].type.shape for n in bn] == [(16,), (32,), (64,)]
    linear = next(n for n in pruned if n.op == "linear")
    assert linear.inputs[1].type.shape == (10, 64)
    # MACs by hand: 32²·16·27 + 16²·32·16·9 + 8²·64·32·9 + 64·10
    assert nx.compile(pruned).metrics["macs"] == 1024 * 16 * 27 + 256 * 32 * 144 + \
        64 * 64 * 288 + 640
    # the kept filters are those with the largest L1 norms, in their original order
    w = np.asarray(graph.constants["features.0.0.weight"].data)
    keep = np.sort(np.argsort(-np.abs(w).reshape(32, -1).sum(axis=1), kind="stable")[:16])
    np.testing.assert_array_equal(np.asarray(pruned.constants["features.0.0.weight"].data),
                                  w[keep])
    feeds = [{graph.inputs[0].name: np.zeros((1, 3, 32, 32), np.float32)}]
    assert np.isfinite(output_deviation(graph, pruned, feeds))
    with pytest.raises(nx.NexusError, match="prune ratio 1.5: give a fraction between 0 and 1"):
        prune_channels(graph, 1.5)


def test_pruning_leaves_channels_that_escape_alone(mlp_graph):
    from passes.rewrites import prune_channels

    pruned, layers = prune_channels(mlp_graph, 0.25)
    assert layers == 2                       # fc1 → GELU → fc2 and fc2 → SiLU → fc3; not fc3
    shapes = [n.inputs[1].type.shape for n in pruned if n.op == "linear"]
    assert shapes == [(48, 32), (48, 48), (10, 48)]


def test_sparsity_is_an_annotation_the_target_costs(mlp_graph):
    import dataclasses

    from lowering.target import Quantity, load_target
    from passes.rewrites import sparsify_weights

    sparse, count = sparsify_weights(mlp_graph, 0.5)
    assert count == 3
    linears = [n for n in sparse if n.op == "linear"]
    for node in linears:
        w = np.asarray(node.inputs[1].data)
        assert node.annotations["sparsity"] == pytest.approx((w == 0).mean())
        assert 0.5 <= node.annotations["sparsity"] < 0.51
    dense_hw = load_target("h100")
    sparse_hw = dataclasses.replace(dense_hw, sparse_efficiency=Quantity(0.8, "test"))
    before = nx.compile(mlp_graph, target=sparse_hw).metrics["compute_j_by_class"]["matrix"]
    on_sparse = nx.compile(sparse, target=sparse_hw)
    on_dense = nx.compile(sparse, target=dense_hw)
    # the same weights on both targets: only the sparse one skips (1 − s·0.8) of the work
    s = linears[0].annotations["sparsity"]
    ratio = on_sparse.metrics["compute_j_by_class"]["matrix"] / \
        on_dense.metrics["compute_j_by_class"]["matrix"]
    assert ratio == pytest.approx(1 - 0.8 * s, rel=0.02)
    assert on_sparse.metrics["compute_j_by_class"]["matrix"] < before
    with pytest.raises(nx.NexusError, match="sparsity 2: give a fraction between 0 and 1"):
        sparsify_weights(mlp_graph, 2)


def test_weights_and_activations_int8_run_close_and_cost_as_int8_where_fused():
    import dataclasses

    from cnn import small_cnn
    from frontends.pytorch import from_torch
    from lowering.target import Quantity, load_target
    from passes import PassManager
    from passes.cost import counts_of
    from runtime.deviation import quantize_calibrated

    model, (x,) = small_cnn()
    graph = from_torch(model, (x,))
    feeds = [{graph.inputs[0].name: np.random.default_rng(i).standard_normal(
        (1, 3, 32, 32)).astype(np.float32)} for i in range(4)]
    quantized, count = quantize_calibrated(graph, feeds)
    assert count == 4                           # the inputs of three convs and the classifier
    matrix = [n for n in quantized if n.op in ("conv", "linear")]
    assert all(v.producer.op == "dequantize" for n in matrix for v in n.inputs[:2])
    assert output_deviation(graph, quantized, feeds) < 0.05
    fused = dataclasses.replace(load_target("h100"), fused_dequantize=Quantity(1.0, "test"))
    # unfused, the fp32 convolution runs as TF32, as cuDNN runs it by default
    for target, dtype in ((fused, "i8"), (load_target("h100"), "tf32")):
        done = PassManager(["primitive_counts"], options={"target": target}).run(quantized)
        conv = next(n for n in done if n.op == "conv")
        assert {d for (p, d) in counts_of(conv) if p == "fma"} == {dtype}
    with pytest.raises(nx.NexusError, match="activation quantization needs calibration inputs"):
        quantize_calibrated(graph, [])


def test_fp8_weights_and_activations_cost_as_fp8_where_fused(mlp_graph):
    import dataclasses

    import ml_dtypes

    from lowering.target import Quantity, load_target
    from passes import PassManager
    from passes.cost import counts_of
    from runtime.deviation import quantize_calibrated

    feeds = [{"input": np.random.default_rng(i).standard_normal((8, 32)).astype(np.float32)}
             for i in range(3)]
    fp8, count = quantize_calibrated(mlp_graph, feeds, "f8e4m3")
    assert count == 3
    weights = [c for c in fp8.constants.values() if c.type.dtype.name == "f8e4m3"]
    assert len(weights) == 3
    for w in weights:          # every stored value is exactly representable in E4M3
        values = np.asarray(w.data)
        assert np.array_equal(values.astype(ml_dtypes.float8_e4m3fn).astype(np.float32), values)
        assert np.abs(values).max() == 448.0
    int8, _ = quantize_calibrated(mlp_graph, feeds)
    assert output_deviation(mlp_graph, int8, feeds) < output_deviation(mlp_graph, fp8, feeds) \
        < 0.15
    fused = dataclasses.replace(load_target("h100"), fused_dequantize=Quantity(1.0, "test"))
    done = PassManager(["primitive_counts"], options={"target": fused}).run(fp8)
    linear = next(n for n in done if n.op == "linear")
    assert {d for (p, d) in counts_of(linear) if p == "fma"} == {"f8e4m3"}
    with pytest.raises(nx.NexusError, match="quantized format 'f8e5m2': choose one of i8, i4, "
                                            "f8e4m3"):
        quantize_calibrated(mlp_graph, feeds, "f8e5m2")


def test_quantized_exports_run_in_onnxruntime_within_quantization_error(mlp_graph):
    """int8 weight-only CNN and int8 weights+activations MLP, exported with their QDQ nodes,
    against the original graphs' outputs."""
    import onnxruntime

    from cnn import small_cnn
    from frontends.pytorch import from_torch
    from lowering.onnx_export import to_onnx
    from runtime.deviation import quantize_calibrated

    def ort_output(graph, feed):
        session = onnxruntime.InferenceSession(to_onnx(graph).SerializeToString(),
                                               providers=["CPUExecutionProvider"])
        return session.run(None, feed)[0]

    model, (x,) = small_cnn()
    cnn = from_torch(model, (x,))
    feed = {cnn.inputs[0].name: np.random.default_rng(1).standard_normal(
        (1, 3, 32, 32)).astype(np.float32)}
    reference = ort_output(cnn, feed)
    quantized, _ = quantize_weights(cnn, 8)
    error = np.abs(ort_output(quantized, feed) - reference).max() / np.abs(reference).max()
    assert error < 0.02
    feeds = [{"input": np.random.default_rng(i).standard_normal((8, 32)).astype(np.float32)}
             for i in range(3)]
    w8a8, _ = quantize_calibrated(mlp_graph, feeds)
    exported = to_onnx(w8a8)
    assert [n.op_type for n in exported.graph.node].count("QuantizeLinear") == 3
    reference = ort_output(mlp_graph, feeds[0])
    error = np.abs(ort_output(w8a8, feeds[0]) - reference).max() / np.abs(reference).max()
    assert error < 0.05
