"""Lowering rules against counts derived by hand from each op's definition."""

import numpy as np
import pytest

import nexus_ir as nx
from lowering.primitives import Counts
from lowering.rules import UnmodeledOpError, has_rule, lower


def node(op: str, *types: str, **attrs) -> nx.Node:
    g = nx.Graph()
    values = [g.add_input(f"in{i}", t) for i, t in enumerate(types)]
    return g.add_node(op, values, attrs)


def test_every_registered_op_but_opaque_has_a_rule():
    missing = [op for op in nx.registered_ops() if op != "opaque" and not has_rule(op)]
    assert missing == []
    with pytest.raises(UnmodeledOpError, match=r"no lowering rule for opaque \(aten::foo\)"):
        g = nx.Graph()
        lower(g.add_node("opaque", [g.add_input("x", "f32[2]")], {"target": "aten::foo"},
                         output_types=[nx.TensorType([2], "f32")]))


def test_matrix_products():
    # [2,5,3,4] @ [4,6]: 2*5*3*6 outputs x K=4
    assert lower(node("matmul", "bf16[2,5,3,4]", "bf16[4,6]")) == Counts.of("bf16", fma=720)
    # linear with bias: 8*16 outputs x 32 in, + 128 bias adds
    assert lower(node("linear", "f32[8,32]", "f32[16,32]", "f32[16]")) == \
        Counts.of("f32", fma=8 * 16 * 32, add=128)
    # gemm alpha=2, C with beta=0.5: MN(K) fma, MN mul (alpha), MN add, MN mul (beta)
    assert lower(node("gemm", "f32[3,5]", "f32[5,7]", "f32[7]", alpha=2.0, beta=0.5)) == \
        Counts.of("f32", fma=105, mul=42, add=21)
    # a binary layer: XNOR and one popcount bit per MAC
    assert lower(node("matmul", "i1[4,64]", "i1[64,8]")) == \
        Counts.of("i1", xnor=4 * 8 * 64, popcount=4 * 8 * 64)


def test_convolutions():
    # 3x3 conv 16->32 on 8x8 with pad 1: 32*8*8 outputs x 16*9 MACs, + bias
    assert lower(node("conv", "f32[1,16,8,8]", "f32[32,16,3,3]", "f32[32]", padding=[1])) == \
        Counts.of("f32", fma=32 * 64 * 144, add=32 * 64)
    # depthwise: groups=16, weight [16,1,3,3]: 16*8*8 outputs x 9
    assert lower(node("conv", "f32[1,16,8,8]", "f32[16,1,3,3]", groups=16, padding=[1])) == \
        Counts.of("f32", fma=16 * 64 * 9)
    # transposed 16->8, k=4, s=2 on 7x7: each of 16*49 inputs scatters to 8*16 outputs
    assert lower(node("conv", "f32[1,16,7,7]", "f32[16,8,4,4]", stride=[2, 2], padding=[1],
                      transposed=True)) == Counts.of("f32", fma=16 * 49 * 8 * 16)


def test_pooling():
    # 3x3 max pool, 4x4 output: 8 max each
    assert lower(node("max_pool", "f32[1,2,9,9]", kernel_size=[3, 3], stride=[2, 2])) == \
        Counts.of("f32", max=2 * 16 * 8)
    assert lower(node("avg_pool", "f32[1,2,4,4]", kernel_size=[2, 2])) == \
        Counts.of("f32", add=2 * 4 * 3, mul=2 * 4)
    # ceil mode, L=6, k=3, s=2: windows [0,3) [2,5) [4,7), the last reading 2 of its 3
    # positions: 8 per dim, 64 per channel, 9 outputs
    assert lower(node("avg_pool", "f32[1,1,6,6]", kernel_size=[3, 3], stride=[2, 2],
                      ceil_mode=True)) == Counts.of("f32", add=64 - 9, mul=9)
    assert lower(node("max_pool", "f32[1,1,6]", kernel_size=[2], padding=[1], ceil_mode=True)) \
        == Counts.of("f32", max=8 - 4)                         # 4 windows of 2 in the padded 8
    # a 2560 window over a 2x2 map reads the 4 elements there: 3 adds per channel
    assert lower(node("avg_pool", "f32[1,4,2,2]", kernel_size=[2560, 2560], ceil_mode=True)) \
        == Counts.of("f32", add=4 * 3, mul=4)
    # global average of 7x7: 48 adds and one scale per channel
    assert lower(node("global_avg_pool", "f32[2,3,7,7]")) == Counts.of("f32", add=6 * 48, mul=6)
    # adaptive 5 -> 3 bins: [0,2) [1,4) [3,5) -> widths 2+3+2 = 7 per dim, 49 reads per channel,
    # 9 outputs per channel: 40 combines
    assert lower(node("adaptive_max_pool", "f32[1,1,5,5]", output_size=[3, 3])) == \
        Counts.of("f32", max=49 - 9)


def test_softmax_norms_and_reductions():
    # softmax rows of L=10, 6 rows: 9 max, 19 add, 10 exp, 1 div, 10 mul per row
    assert lower(node("softmax", "f32[2,3,10]")) == \
        Counts.of("f32", max=54, add=114, exp=60, div=6, mul=60)
    # layer norm over D=4 with scale and bias, 3 rows: per row add 2D, mul 2+D, fma D, sqrt,
    # div; affine fma per element
    assert lower(node("layer_norm", "f32[3,4]", "f32[4]", "f32[4]")) == \
        Counts.of("f32", add=3 * 8, mul=3 * 6, fma=3 * 4 + 12, sqrt=3, div=3)
    # rms norm, scale only, 2 rows of 8: fma 8, mul 1+8, add 1, sqrt, div per row; mul per element
    assert lower(node("rms_norm", "f32[2,8]", "f32[8]")) == \
        Counts.of("f32", fma=16, mul=2 * 9 + 16, add=2, sqrt=2, div=2)
    # batch norm: per channel (4) add, sqrt, div, mul; per element add + fma
    assert lower(node("batch_norm", "f32[2,4,3,3]", *["f32[4]"] * 4)) == \
        Counts.of("f32", add=4 + 72, sqrt=4, div=4, mul=4, fma=72)
    assert lower(node("reduce_mean", "f32[4,6]", axes=[1])) == Counts.of("f32", add=20, mul=4)
    assert lower(node("argmax", "f32[4,6]", axis=1)) == Counts.of("f32", cmp=20, select=20)
    # running sums along 3 of [2,3,4]: 8 lines of 3, 2 adds each
    assert lower(node("cumsum", "f32[2,3,4]", axis=1)) == Counts.of("f32", add=16)
    assert lower(node("cumsum", "i64[5,7]", axis=-1, exclusive=True)) == Counts.of("i64", add=30)


def test_attention_counts_both_products_and_the_softmax():
    # B·H = 2·4, Lq = 5, Lk = 7, E = 16, Ev = 8, causal
    counts = lower(node("attention", "f16[2,4,5,16]", "f16[2,4,7,16]", "f16[2,4,7,8]",
                        causal=True))
    scores = 8 * 5 * 7
    softmax = Counts.of("f16", max=6, add=13, exp=7, div=1, mul=7) * (8 * 5)
    assert counts == Counts.of("f16", fma=scores * (16 + 8), mul=scores, select=scores) + softmax


def test_elementwise_and_activations():
    assert lower(node("gelu", "f32[10]")) == Counts.of("f32", mul=30, add=10, erf=10)
    assert lower(node("gelu", "f32[10]", approximate="tanh")) == \
        Counts.of("f32", mul=60, add=20, tanh=10)
    assert lower(node("relu", "bf16[3,3]")) == Counts.of("bf16", max=9)
    assert lower(node("add", "f32[4,1]", "f32[5]")) == Counts.of("f32", add=20)   # broadcast
    assert lower(node("where", "i1[6]", "f16[6]", "f16[6]")) == Counts.of("f16", select=6)
    assert lower(node("clip", "f32[5]", min=0.0)) == Counts.of("f32", max=5)
    assert lower(node("reshape", "f32[2,3]", shape=[6])) == Counts()


def test_tree_ensemble_bounds_compares_by_depth():
    # tree 0: root(0) -> leaf 1 | inner 2 -> leaves 3, 4 (depth 2); tree 1: a lone leaf (depth 0)
    attrs = dict(n_targets=1, tree_roots=[0, 5], feature_ids=[0, 0, 1, 0, 0, 0],
                 thresholds=[0.5, 0, 0.2, 0, 0, 0], modes=[1, 0, 1, 0, 0, 0],
                 true_children=[1, -1, 3, -1, -1, -1], false_children=[2, -1, 4, -1, -1, -1],
                 leaf_values=np.zeros((6, 1)), post_transform="logistic")
    counts = lower(node("tree_ensemble", "f32[10,2]", **attrs))
    # per row: 2 compares + 2 selects, 2 aggregate adds (one per tree), logistic = exp+add+div
    assert counts == Counts.of("f32", cmp=20, select=20, add=20 + 10, exp=10, div=10)


def test_tree_ensemble_charges_real_paths_when_annotated():
    from passes.trees import annotate_tree_paths, path_lengths
    attrs = dict(n_targets=1, tree_roots=[0, 5], feature_ids=[0, 0, 1, 0, 0, 0],
                 thresholds=[0.5, 0, 0.2, 0, 0, 0], modes=[1, 0, 1, 0, 0, 0],
                 true_children=[1, -1, 3, -1, -1, -1], false_children=[2, -1, 4, -1, -1, -1],
                 leaf_values=np.zeros((6, 1)))
    g = nx.Graph()
    x = g.add_input("x", "f32[4,2]")
    g.set_outputs(g.op("tree_ensemble", x, **attrs))
    # x0 <= 0.5 stops after 1 compare; otherwise 2. NaN goes false (no missing-tracks array).
    rows = np.array([[0.1, 0], [0.9, 0], [0.5, 9], [np.nan, 0]])
    tree = next(iter(g.nodes))
    np.testing.assert_array_equal(path_lengths(tree, rows), [[1, 0], [2, 0], [1, 0], [2, 0]])
    assert annotate_tree_paths(g, {"x": rows}) == 1
    assert lower(tree).total("cmp") == 6
    paths = tree.annotations["tree_paths"]
    assert (paths["rows"], paths["compares"], paths["per_row"]) == (4, 6, [1, 2, 1, 2])
    assert paths["distribution"] == {"mean": 1.5, "std": 0.5, "min": 1.0, "max": 2.0,
                                     "p50": 1.5, "p90": 2.0, "p99": 2.0}


def test_topk_is_a_bounded_heap_per_row():
    # rows 3, L 10, k 3: (L + k)·ceil(log2(k + 1)) = 13·2 compares and selects per row
    assert lower(node("topk", "f32[3,10]", k=3)) == Counts.of("f32", cmp=78, select=78)


def test_quantize_and_linear_models():
    assert lower(node("quantize", "f32[4,4]", "f32[]")) == \
        Counts.of("f32", mul=16, round=16, add=16, max=32, convert=16)
    assert lower(node("linear_classifier", "f32[5,3]", coefficients=np.ones((2, 3)),
                      intercepts=[0.0, 1.0], post_transform="softmax")) == \
        Counts.of("f32", fma=30, add=10) + Counts.of("f32", max=1, add=3, exp=2, div=1, mul=2) * 5


def test_symbolic_shapes_must_be_bound_first():
    with pytest.raises(nx.ShapeError, match=r"symbolic shape f32\[b,4\]; bind \['b'\]"):
        lower(node("relu", "f32[b,4]"))


def test_recurrent_layers_cost_per_time_step():
    # 1-layer unidirectional LSTM, T=7, B=2, I=3, H=5, biased: per step and batch element
    # 4·5·(3+5) MACs; per hidden unit 5 adds + 8 bias adds, 3 exp, 3 div, 2 tanh, 3 mul
    g = nx.Graph()
    inputs = [g.add_input(f"v{i}", t) for i, t in enumerate(
        ["f32[7,2,3]", "f32[1,2,5]", "f32[1,2,5]", "f32[20,3]", "f32[20,5]", "f32[20]",
         "f32[20]"])]
    lstm = g.add_node("recurrent", inputs, {"mode": "lstm", "hidden_size": 5})
    units = 7 * 2 * 5
    assert lower(lstm) == Counts.of("f32", fma=7 * 2 * 4 * 5 * 8, add=13 * units,
                                    exp=3 * units, div=3 * units, tanh=2 * units, mul=3 * units)


# ---------------------------------------------------------------------------- kernels per op
def kernels(n: nx.Node) -> int:
    from lowering.rules import cost_facts
    return cost_facts(n.op).kernels_of(n)


def conv(x: str, w: str, bias: bool = False, **attrs) -> nx.Node:
    g = nx.Graph()
    values = [g.add_input("x", x), g.add_constant("w", type_=w)]
    if bias:                                   # one per output channel: "f32[64,3,7,7]" -> "f32[64]"
        values.append(g.add_constant("b", type_=w.split(",")[0] + "]"))
    return g.add_node("conv", values, attrs)


@pytest.mark.parametrize("x,w,attrs,bias,expected", [
    ("f32[1,3,224,224]", "f32[64,3,7,7]", {"stride": [2, 2]}, False, 1),   # RGB stem: FFMA, NCHW
    ("bf16[1,3,224,224]", "bf16[768,3,16,16]", {"stride": [16, 16]}, True, 2),  # + bias add
    ("f32[1,32,56,56]", "f32[32,1,3,3]", {"groups": 32}, True, 1),     # depthwise adds its bias
    ("f32[1,64,56,56]", "f32[256,64,1,1]", {}, False, 1),              # 1x1 stride 1: a GEMM
    ("bf16[1,256,56,56]", "bf16[512,256,1,1]", {"stride": [2, 2]}, False, 3),  # NHWC in and out
    ("f32[1,64,56,56]", "f32[64,64,3,3]", {}, False, 3),               # input, weights to NHWC
    ("bf16[1,64,56,56]", "bf16[64,64,3,3]", {}, False, 4),             # + output back to NCHW
    ("f32[1,64,56,56]", "f32[64,64,3,3]", {}, True, 4),                # + bias add
    ("f32[1,32,16,16]", "f32[64,32,3,3]", {}, False, 1),    # 32·3·3 = 288 deep: FFMA, NCHW
    ("f32[1,32,16,16]", "f32[64,32,3,3]", {}, True, 2),     # + bias add
    ("bf16[1,32,16,16]", "bf16[64,32,3,3]", {}, False, 4),  # bf16: tensor cores from 16 in
    ("bf16[1,8,16,16]", "bf16[16,8,3,3]", {}, False, 1),    # 8 channels: FFMA at any dtype
    ("f32[1,64,16,16]", "f32[64,32,3,3]", {"groups": 2}, False, 3),  # grouped: not swept
    ("f32[1,8,16,16]", "f32[16,8,1,1]", {"stride": [2, 2]}, False, 3),  # 1x1: unchanged
])
def test_convolution_kernels_follow_cudnn_in_eager_pytorch(x, w, attrs, bias, expected):
    """The kernels Nsight Compute names for each kind of convolution on an H200 (rules.py)."""
    assert kernels(conv(x, w, bias, padding=[0, 0], **attrs)) == expected


@pytest.mark.parametrize("x,w,bias,expected", [
    ("f32[197,384]", "f32[1152,384]", True, 1),     # 7x36 tiles of 32x32, K 384 < 8 * 252
    ("f32[197,1536]", "f32[384,1536]", True, 3),    # 7x12 tiles, K 1536 >= 8 * 84: split-K
    ("f32[128,512]", "f32[512,512]", False, 2),     # 4x16 tiles, K 512 >= 8 * 64, no epilogue
    ("bf16[197,1536]", "bf16[384,1536]", True, 1),  # cuBLASLt at half precision: one kernel
    ("f32[1,4096]", "f32[10,4096]", True, 2),       # dot product and its reduction
    ("f32[1,256]", "f32[10,256]", True, 1),         # a short dot product: one GEMV
    ("bf16[1,128]", "bf16[10,128]", True, 3),       # GEMV, reduction, bias epilogue
    ("bf16[1,4096]", "bf16[4096,4096]", True, 2),   # split-K GEMV
    ("bf16[1,784]", "bf16[4096,784]", True, 1),
])
def test_linear_kernels_follow_cublas_in_eager_pytorch(x, w, bias, expected):
    g = nx.Graph()
    values = [g.add_input("x", x), g.add_constant("w", type_=w)]
    if bias:
        values.append(g.add_constant("b", type_=w.split(",")[0] + "]"))
    assert kernels(g.add_node("linear", values, {})) == expected


def test_attention_is_one_fused_kernel_whose_head_transpose_is_a_view():
    """Fused SDPA writes [batch, query, head, value]: transposing heads and queries back and
    merging them is free; the fp32 causal grouped-query math path is 17 kernels and its
    output's transpose a copy. transformers 5.25 reshapes the output to its own shape before
    the transpose: a view that changes nothing, the transpose still free."""
    def graph(dt: str, causal: bool, gqa: bool, same_shape: bool) -> nx.Graph:
        g = nx.Graph("sdpa")
        q = g.add_input("q", f"{dt}[1,8,64,32]")
        kv = f"{dt}[1,{2 if gqa else 8},64,32]"
        a = g.op("attention", q, g.add_input("k", kv), g.add_input("v", kv), causal=causal,
                 enable_gqa=gqa)
        if same_shape:
            a = g.op("reshape", a, shape=[1, 8, 64, 32])
        merged = g.op("reshape", g.op("transpose", a, perm=[0, 2, 1, 3]), shape=[1, 64, 256])
        g.set_outputs(merged)
        return g
    for dt, causal, gqa, expected in [("bf16", True, True, 1), ("f32", False, False, 1),
                                      ("f32", True, True, 17 + 1)]:
        for same_shape in (False, True):
            report = nx.compile(graph(dt, causal, gqa, same_shape), target="h200")
            assert report.metrics["kernels"] == expected, (dt, causal, gqa, same_shape)
    g = nx.Graph("reshaped")                     # a reshape that changes the shape: a copy
    a = g.op("attention", *(g.add_input(n, "f32[1,8,64,32]") for n in "qkv"))
    g.set_outputs(g.op("reshape", g.op("transpose", g.op("reshape", a, shape=[1, 8, 32, 64]),
                                       perm=[0, 2, 1, 3]), shape=[1, 32, 512]))
    assert nx.compile(g, target="h200").metrics["kernels"] == 1 + 1


@pytest.mark.parametrize("dt,w,groups,expected", [
    ("bf16", "bf16[32,16,2,2]", 1, 2 + 1),      # the weights to NHWC, the kernel, the bias
    ("f32", "f32[32,16,2,2]", 1, 2 + 1),
    ("bf16", "bf16[32,16,1,1]", 1, 1 + 1),      # 1x1 weights are NHWC already
    ("bf16", "bf16[16,1,3,3]", 16, 1 + 1),      # depthwise: the permute is copied first
])
def test_a_convolution_of_a_channels_last_view_needs_no_layout_transforms(dt, w, groups,
                                                                          expected):
    """ConvNeXt's downsampling: an NHWC tensor permuted to NCHW goes to cuDNN as it is (no copy,
    no input or output transform), where a contiguous NCHW input costs 4-5 kernels at bf16."""
    g = nx.Graph("channels-last")
    x = g.op("transpose", g.add_input("x", f"{dt}[1,8,8,16]"), perm=[0, 3, 1, 2])
    g.set_outputs(g.op("conv", x, g.add_constant("w", type_=w), g.add_constant(
        "b", type_=f"{dt}[{w.split('[')[1].split(',')[0]}]"), groups=groups,
        padding=[0, 0]))
    assert nx.compile(g, target="h200").metrics["kernels"] == expected


def test_a_batched_matmul_copies_only_a_strided_batched_operand():
    g = nx.Graph("bmm")
    x = g.add_input("x", "f32[4,4,16,32]")
    w = g.add_constant("w", type_="f32[4,4,32,16]")
    contiguous = g.op("matmul", x, w)
    strided = g.op("matmul", g.op("transpose", x, perm=[1, 0, 2, 3]), w)
    broadcast = g.op("matmul", g.add_input("v", "f32[16,32]"), w)
    assert [kernels(n.producer) for n in (contiguous, strided, broadcast)] == [1, 2, 1]


def test_a_runtime_that_invokes_one_kernel_per_op_counts_one():
    """The kernel counts above are eager PyTorch's on a CUDA GPU; TFLite Micro and ONNX Runtime
    on a CPU (targets with ``kernel_per_op``) run a biased 3×3 convolution as one kernel."""
    g = nx.Graph("conv")
    x = g.add_input("x", "f32[1,64,8,8]")
    w, b = g.add_constant("w", type_="f32[64,64,3,3]"), g.add_constant("b", type_="f32[64]")
    g.set_outputs(g.op("conv", x, w, b, padding=[1, 1]))
    assert {t: nx.compile(g, target=t).metrics["kernels"] for t in
            ("h200", "x86-server", "cortex-m")} == {"h200": 4, "x86-server": 1, "cortex-m": 1}
