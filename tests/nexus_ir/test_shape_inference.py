"""Shape/dtype inference for every registered op. Expected shapes are derived by hand in the
comments (PyTorch/ONNX formulas), never computed by the code under test."""

import numpy as np
import pytest

import nexus_ir as nx
from nexus_ir import ShapeError

COVERED: set[str] = set()


def infer(op: str, *types: str, **attrs) -> str:
    """Build a graph with inputs of ``types`` (text form), apply ``op``, return the output
    type(s) as text."""
    COVERED.add(op)
    g = nx.Graph()
    values = [g.add_input(f"in{i}", t) for i, t in enumerate(types)]
    out = g.op(op, *values, **attrs)
    return ", ".join(str(v.type) for v in (out if isinstance(out, tuple) else (out,)))


def rejects(op: str, *types: str, match: str, **attrs) -> None:
    with pytest.raises((ShapeError, nx.AttrError), match=match):
        infer(op, *types, **attrs)


# ----------------------------------------------------------------------------- matmul family
def test_quantized_matrix_ops_take_mixed_8_bit_operands_and_an_int32_bias():
    """u8 activations × i8 weights (ONNX Runtime's QLinear kernels) give x's type; an int32
    bias sits beside integer operands (TFLite, QLinearConv); floats still must agree."""
    assert infer("matmul", "u8[3,4]", "i8[4,5]") == "u8[3,5]"
    assert infer("conv", "i8[1,3,8,8]", "i8[4,3,3,3]", "i32[4]") == "i8[1,4,6,6]"
    assert infer("linear", "i8[2,16]", "i8[4,16]", "i32[4]") == "i8[2,4]"
    rejects("matmul", "u8[3,4]", "i16[4,5]", match="must share one dtype")
    rejects("linear", "f32[2,16]", "f32[4,16]", "i32[4]", match="bias must have the inputs'")
    rejects("matmul", "f32[3,4]", "bf16[4,5]", match="must share one dtype")


def test_matmul_numpy_semantics():
    assert infer("matmul", "f32[3,4]", "f32[4,5]") == "f32[3,5]"
    assert infer("matmul", "f32[4]", "f32[4]") == "f32[]"                 # dot product
    assert infer("matmul", "f32[4]", "f32[2,4,5]") == "f32[2,5]"          # 1-D left: prepend 1
    assert infer("matmul", "f32[2,3,4]", "f32[4]") == "f32[2,3]"          # 1-D right: append 1
    # batch dims broadcast: [7,1,3,4] @ [5,4,2] -> batch [7,5]
    assert infer("matmul", "f32[7,1,3,4]", "f32[5,4,2]") == "f32[7,5,3,2]"
    assert infer("matmul", "bf16[b,h,s,64]", "bf16[b,h,64,s]") == "bf16[b,h,s,s]"
    rejects("matmul", "f32[3,4]", "f32[5,6]", match="inner dimensions differ: 4 vs 5")
    rejects("matmul", "f32[2,3,4]", "f32[3,4,5]", match=r"cannot broadcast shapes \[2\] and \[3\]")
    rejects("matmul", "f32[3,4]", "f16[4,5]", match="must share one dtype, got f32 and f16")


def test_gemm_and_linear():
    assert infer("gemm", "f32[8,16]", "f32[16,4]", "f32[4]") == "f32[8,4]"
    # transposes: A' = [16,8]^T = [8,16], B' = [4,16]^T = [16,4]
    assert infer("gemm", "f32[16,8]", "f32[4,16]", trans_a=True, trans_b=True) == "f32[8,4]"
    rejects("gemm", "f32[8,16]", "f32[16,4]", "f32[3]", match=r"cannot broadcast shapes \[3\] and \[8, 4\]")
    rejects("gemm", "f32[8,16]", "f32[16,4]", "f32[2,8,4]", match=r"does not broadcast to \[8, 4\]")
    assert infer("linear", "f32[batch,seq,768]", "f32[3072,768]", "f32[3072]") == \
        "f32[batch,seq,3072]"
    assert infer("linear", "f32[768]", "f32[10,768]") == "f32[10]"
    rejects("linear", "f32[2,768]", "f32[10,512]", match="input features differ")
    rejects("linear", "f32[2,8]", "f32[10,8]", "f32[9]", match="bias length differs")


# ----------------------------------------------------------------------------- convolution
def test_conv_output_sizes():
    # ResNet stem: (224 + 2*3 - 7)//2 + 1 = 223//2 + 1 = 112
    assert infer("conv", "f32[1,3,224,224]", "f32[64,3,7,7]", stride=[2, 2], padding=[3, 3]) \
        == "f32[1,64,112,112]"
    # dilation 2 on a 3x3 kernel spans 5: (10 - 5)//1 + 1 = 6
    assert infer("conv", "f32[1,1,10,10]", "f32[1,1,3,3]", dilation=[2, 2]) == "f32[1,1,6,6]"
    # ONNX-style pads [h_begin=0, w_begin=1, h_end=2, w_end=3]:
    # h: (10+0+2-3)+1 = 10, w: (10+1+3-3)+1 = 12
    assert infer("conv", "f32[1,1,10,10]", "f32[1,1,3,3]", padding=[0, 1, 2, 3]) == \
        "f32[1,1,10,12]"
    # groups=4: C_in 32 = weight dim1 8 * 4; (8-3)+1 = 6
    assert infer("conv", "f32[2,32,8,8]", "f32[64,8,3,3]", "f32[64]", groups=4) == "f32[2,64,6,6]"
    # depthwise 3x3, pad 1 keeps the size
    assert infer("conv", "f32[1,32,8,8]", "f32[32,1,3,3]", groups=32, padding=[1, 1]) == \
        "f32[1,32,8,8]"
    # conv1d: (100 - 5)//3 + 1 = 32
    assert infer("conv", "f32[4,16,100]", "f32[32,16,5]", stride=[3]) == "f32[4,32,32]"
    # conv3d, stride (1,2,2), pad 1: d (8+2-3)+1 = 8; h,w (16+2-3)//2+1 = 8
    assert infer("conv", "f32[1,2,8,16,16]", "f32[4,2,3,3,3]", stride=[1, 2, 2], padding=[1]) == \
        "f32[1,4,8,8,8]"
    # symbolic spatial size with 'same' padding stays symbolic; stride 2 gives a floor division
    assert infer("conv", "f32[b,3,h,w]", "f32[8,3,3,3]", padding=[1, 1]) == "f32[b,8,h,w]"
    assert infer("conv", "f32[b,3,h,w]", "f32[8,3,3,3]", padding=[1, 1], stride=[2, 2]) == \
        "f32[b,8,(h-1)//2+1,(w-1)//2+1]"


def test_transposed_conv_output_sizes():
    # (L-1)*s - pb - pe + d*(k-1) + output_padding + 1
    # (7-1)*2 - 1 - 1 + 3 + 0 + 1 = 14; C_out = weight dim1 8 * groups 1
    assert infer("conv", "f32[1,16,7,7]", "f32[16,8,4,4]", stride=[2, 2], padding=[1, 1],
                 transposed=True) == "f32[1,8,14,14]"
    # k=3, s=2, p=1, output_padding=1: 12 - 2 + 2 + 1 + 1 = 14
    assert infer("conv", "f32[1,16,7,7]", "f32[16,8,3,3]", stride=[2, 2], padding=[1, 1],
                 output_padding=[1, 1], transposed=True) == "f32[1,8,14,14]"
    # groups 2: C_out = 4 * 2 = 8; k=2, s=2: 12 + 1 + 1 = 14
    assert infer("conv", "f32[1,16,7,7]", "f32[16,4,2,2]", stride=[2, 2], groups=2,
                 transposed=True) == "f32[1,8,14,14]"


def test_conv_errors():
    rejects("conv", "f32[1,3,8,8]", "f32[8,4,3,3]",
            match=r"input channels differ from weight dim 1 x groups \(1\): 3 vs 4")
    rejects("conv", "f32[1,3,2,2]", "f32[8,3,3,3]", match="does not fit input of size 2")
    rejects("conv", "f32[1,3,8,8]", "f32[8,3,3,3]", padding=[1, 1, 1], match=r"give 1 or 2 \(symmetric\) or 4")
    rejects("conv", "f32[1,3,8,8]", "f32[8,3,3,3]", output_padding=[1, 1],
            match="output_padding applies to transposed")
    rejects("conv", "f32[1,3,8,8]", "f32[8,3,3,3]", groups="2", match="'groups' must be int")
    rejects("conv", "f32[1,3,8,8]", "f32[8,3,3,3]", strides=[2, 2],
            match=r"unknown attribute 'strides' \(allowed: stride, padding")


# ----------------------------------------------------------------------------- pooling
def test_pooling_sizes():
    # ResNet max pool 3x3 s2 p1 on 112: (112+2-3)//2+1 = 56
    assert infer("max_pool", "f32[1,64,112,112]", kernel_size=[3, 3], stride=[2, 2],
                 padding=[1, 1]) == "f32[1,64,56,56]"
    # stride defaults to the kernel: 7//2 = 3
    assert infer("avg_pool", "f32[1,8,7,7]", kernel_size=[2, 2]) == "f32[1,8,3,3]"
    # ceil mode: ceil((7-2)/2)+1 = 4; the last window starts at 6 < 7, kept
    assert infer("max_pool", "f32[1,8,7,7]", kernel_size=[2, 2], ceil_mode=True) == \
        "f32[1,8,4,4]"
    # ceil mode drop rule: L=6,k=2,s=2,p=1: ceil((6+2-2)/2)+1 = 4, but (4-1)*2 = 6 >= 6+1? no ->
    # kept at 4. L=5,k=3,s=3,p=1: ceil((5+2-3)/3)+1 = 3; (3-1)*3 = 6 >= 5+1 -> dropped to 2
    assert infer("max_pool", "f32[1,1,6]", kernel_size=[2], padding=[1], ceil_mode=True) == \
        "f32[1,1,4]"
    assert infer("max_pool", "f32[1,1,5]", kernel_size=[3], padding=[1], ceil_mode=True) == \
        "f32[1,1,2]"
    # ceil mode lets a window longer than the input give one output, as PyTorch does (Hugging
    # Face's EfficientNet pools 2x2 maps with a 2560 window): ceil((2-2560)/2560)+1 = 1
    assert infer("avg_pool", "f32[1,4,2,2]", kernel_size=[2560, 2560], ceil_mode=True) == \
        "f32[1,4,1,1]"
    rejects("avg_pool", "f32[1,4,2,2]", kernel_size=[2560, 2560],
            match="window of extent 2560 does not fit input of size 2 with padding 0")
    # dilated max pool: extent 5 on 9: (9-5)//1+1 = 5
    assert infer("max_pool", "f32[1,1,9]", kernel_size=[3], stride=[1], dilation=[2]) == \
        "f32[1,1,5]"
    assert infer("global_avg_pool", "f32[2,512,7,7]") == "f32[2,512,1,1]"
    assert infer("global_max_pool", "f32[2,16,5]") == "f32[2,16,1]"
    assert infer("adaptive_avg_pool", "f32[2,512,13,9]", output_size=[7, 7]) == "f32[2,512,7,7]"
    assert infer("adaptive_max_pool", "f32[2,4,13,9]", output_size=[None, 3]) == "f32[2,4,13,3]"
    rejects("max_pool", "f32[1,1,8,8]", kernel_size=[2, 2], padding=[2, 2],
            match="exceeds half the kernel size")
    rejects("max_pool", "f32[1,1,h]", kernel_size=[2], ceil_mode=True, match="bind the symbol")


def test_resize():
    assert infer("resize", "f32[1,3,8,8]", scales=[2.0, 2.0]) == "f32[1,3,16,16]"
    assert infer("resize", "f32[1,3,h,w]", scales=[2.0, 2.0]) == "f32[1,3,2*h,2*w]"
    assert infer("resize", "f32[1,3,10,10]", scales=[0.5, 1.5], mode="linear") == \
        "f32[1,3,5,15]"
    assert infer("resize", "f32[1,3,8,8]", sizes=[5, 7]) == "f32[1,3,5,7]"
    rejects("resize", "f32[1,3,8,8]", match="exactly one of sizes and scales")


# ----------------------------------------------------------------------------- elementwise
def test_unary_ops_keep_type():
    for op in nx.registered_ops("elementwise"):
        d = nx.get_op(op)
        if d.min_inputs == 1 and op not in ("logical_not",):
            assert infer(op, "f16[2,s,3]") == "f16[2,s,3]"
    rejects("gelu", "i32[4]", match="must be a float type, got i32")
    assert infer("relu", "i8[4]") == "i8[4]"            # relu is defined on integers
    assert infer("logical_not", "i1[4]") == "i1[4]"
    assert infer("clip", "f32[4]", min=0.0, max=6.0) == "f32[4]"
    rejects("clip", "f32[4]", min=1.0, max=0.0, match="min 1.0 exceeds max 0.0")
    assert infer("gelu", "f32[4]", approximate="tanh") == "f32[4]"
    rejects("gelu", "f32[4]", approximate="erf", match="must be one of 'none', 'tanh'")


def test_binary_broadcasting_corners():
    assert infer("add", "f32[8,1,6,1]", "f32[7,1,5]") == "f32[8,7,6,5]"   # numpy docs example
    assert infer("mul", "f32[]", "f32[3,4]") == "f32[3,4]"                # scalar
    assert infer("sub", "f32[0,3]", "f32[1,3]") == "f32[0,3]"             # empty dim broadcasts
    assert infer("div", "f32[b,1]", "f32[1,s]") == "f32[b,s]"
    assert infer("maximum", "f32[b,4]", "f32[4]") == "f32[b,4]"
    assert infer("pow", "f32[s,4]", "f32[7,4]") == "f32[7,4]"    # symbol meets static: static
    for op in ("minimum", "mod"):
        assert infer(op, "i32[2,3]", "i32[3]") == "i32[2,3]"
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        assert infer(op, "f32[2,3]", "f32[3]") == "i1[2,3]"
    for op in ("logical_and", "logical_or", "logical_xor"):
        assert infer(op, "i1[2,1]", "i1[1,5]") == "i1[2,5]"
    rejects("add", "f32[2,3]", "f32[4,3]", match=r"cannot broadcast shapes \[2, 3\] and \[4, 3\]")
    rejects("add", "f32[a]", "f32[b]", match="dim a vs b")
    rejects("logical_and", "f32[2]", "i1[2]", match="must be boolean")
    assert infer("where", "i1[4,1]", "f32[1,5]", "f32[]") == "f32[4,5]"
    rejects("where", "f32[4]", "f32[4]", "f32[4]", match="condition must be boolean")
    assert infer("cast", "f32[2,3]", to="bf16") == "bf16[2,3]"
    rejects("cast", "f32[2]", to="f12", match="'to' must be dtype")


# ----------------------------------------------------------------------------- reductions
def test_reductions_and_softmax():
    for op in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"):
        assert infer(op, "f32[2,3,4]", axes=[1]) == "f32[2,4]"
    assert infer("reduce_mean", "f32[2,3,4]", axes=[-1, 0], keepdims=True) == "f32[1,3,1]"
    assert infer("reduce_sum", "f32[2,3,4]") == "f32[]"                  # all axes
    assert infer("argmax", "f32[2,10]", axis=1) == "i64[2]"
    assert infer("argmin", "f32[2,10]", axis=-1, keepdims=True) == "i64[2,1]"
    assert infer("softmax", "f32[b,h,s,s]", axis=-1) == "f32[b,h,s,s]"
    assert infer("log_softmax", "bf16[2,5]", axis=1) == "bf16[2,5]"
    rejects("reduce_sum", "f32[2,3]", axes=[2], match="axis 2 is out of range for rank 2")
    rejects("reduce_sum", "f32[2,3]", axes=[1, -1], match="repeat an axis")
    assert infer("cumsum", "i64[b,32]", axis=-1) == "i64[b,32]"
    assert infer("cumsum", "f32[2,3]", axis=0, exclusive=True, reverse=True) == "f32[2,3]"
    rejects("cumsum", "i1[2,3]", axis=1, match="cumsum input must be a number, got i1")
    rejects("cumsum", "f32[2,3]", axis=2, match="axis 2 is out of range for rank 2")
    assert infer("softmax", "i8[1,10]") == "i8[1,10]"        # TFLite's quantized softmax
    rejects("softmax", "bool[2,3]", match="float or quantized integer type")


# ----------------------------------------------------------------------------- norms
def test_norms():
    assert infer("layer_norm", "f32[b,s,768]", "f32[768]", "f32[768]") == "f32[b,s,768]"
    assert infer("layer_norm", "f32[2,3,4]", "f32[3,4]", axis=-2) == "f32[2,3,4]"
    assert infer("rms_norm", "bf16[b,s,4096]", "bf16[4096]", eps=1e-6) == "bf16[b,s,4096]"
    assert infer("batch_norm", "f32[8,64,7,7]", *["f32[64]"] * 4) == "f32[8,64,7,7]"
    assert infer("instance_norm", "f32[8,64,7,7]", "f32[64]", "f32[64]") == "f32[8,64,7,7]"
    assert infer("group_norm", "f32[8,64,7,7]", "f32[64]", "f32[64]", num_groups=32) == \
        "f32[8,64,7,7]"
    rejects("group_norm", "f32[8,30,7,7]", num_groups=4, match="30 channels do not split into 4")
    rejects("layer_norm", "f32[2,768]", "f32[512]", match="must cover the normalized dims")
    rejects("batch_norm", "f32[8,64,7,7]", *["f32[32]"] * 4, match="must have length C")
    rejects("batch_norm", "f32[8,64]", match="takes exactly 5 inputs, got 1")


# ----------------------------------------------------------------------------- attention
def test_attention():
    assert infer("attention", "f16[b,12,s,64]", "f16[b,12,s,64]", "f16[b,12,s,64]",
                 causal=True) == "f16[b,12,s,64]"
    # cross attention, value dim differs from key dim: [.., Lq, Ev]
    assert infer("attention", "f32[2,8,10,64]", "f32[2,8,77,64]", "f32[2,8,77,32]") == \
        "f32[2,8,10,32]"
    # grouped-query attention: 32 query heads over 8 kv heads
    assert infer("attention", "bf16[1,32,s,128]", "bf16[1,8,s,128]", "bf16[1,8,s,128]",
                 enable_gqa=True) == "bf16[1,32,s,128]"
    assert infer("attention", "f32[2,4,10,16]", "f32[2,4,12,16]", "f32[2,4,12,16]",
                 "i1[10,12]") == "f32[2,4,10,16]"
    rejects("attention", "f32[1,32,4,8]", "f32[1,8,4,8]", "f32[1,8,4,8]",
            match="cannot broadcast")
    rejects("attention", "f32[1,30,4,8]", "f32[1,8,4,8]", "f32[1,8,4,8]", enable_gqa=True,
            match="30 are not a multiple of k/v heads 8")
    rejects("attention", "f32[2,10,64]", "f32[2,10,32]", "f32[2,10,64]", match="head dims differ")
    rejects("attention", "f32[2,10,8]", "f32[2,10,8]", "f32[2,10,8]", "f32[2,5,10]",
            match="cannot broadcast")


# ----------------------------------------------------------------------------- data movement
def test_reshape_and_friends():
    assert infer("reshape", "f32[2,3,4]", shape=[6, -1]) == "f32[6,4]"
    assert infer("reshape", "f32[b,12,64]", shape=["b", -1]) == "f32[b,768]"
    assert infer("reshape", "f32[b,768]", shape=["b", -1, 64]) == "f32[b,12,64]"
    rejects("reshape", "f32[2,3]", shape=[4, -1], match=r"cannot reshape f32\[2,3\] \(6 elements\)")
    rejects("reshape", "f32[2,3]", shape=[-1, -1], match="one -1")
    rejects("reshape", "f32[2,3]", shape=[7], match="cannot reshape")
    assert infer("transpose", "f32[b,s,h,d]", perm=[0, 2, 1, 3]) == "f32[b,h,s,d]"
    rejects("transpose", "f32[2,3]", perm=[0, 0], match="not a permutation of 2 dims")
    assert infer("concat", "f32[2,3]", "f32[2,5]", "f32[2,1]", axis=1) == "f32[2,9]"
    assert infer("concat", "f32[b,3]", "f32[c,3]", axis=0) == "f32[b+c,3]"
    rejects("concat", "f32[2,3]", "f32[3,3]", axis=1, match="dim 0 differs between inputs: 2 vs 3")
    assert infer("split", "f32[4,10]", axis=1, sizes=[3, 7]) == "f32[4,3], f32[4,7]"
    rejects("split", "f32[4,10]", axis=1, sizes=[3, 6], match="do not add up to dim 1")
    assert infer("flatten", "f32[b,32,1,1]") == "f32[b,32]"
    assert infer("flatten", "f32[2,3,4,5]", start_axis=1, end_axis=2) == "f32[2,12,5]"
    assert infer("squeeze", "f32[1,3,1,4]") == "f32[3,4]"
    assert infer("squeeze", "f32[1,3,1,4]", axes=[-2]) == "f32[1,3,4]"
    rejects("squeeze", "f32[1,3]", axes=[1], match="cannot squeeze dim 1 of size 3")
    assert infer("unsqueeze", "f32[3,4]", axes=[0, 3]) == "f32[1,3,4,1]"
    assert infer("expand", "f32[3,1]", shape=[2, 3, 5]) == "f32[2,3,5]"
    assert infer("expand", "f32[3,1]", shape=[-1, 4]) == "f32[3,4]"          # -1 keeps the dim
    rejects("expand", "f32[3,2]", shape=[3, 4], match="cannot broadcast")
    assert infer("pad", "f32[1,3,8,8]", pads=[0, 0, 1, 2, 0, 0, 3, 4]) == "f32[1,3,12,14]"
    rejects("pad", "f32[8,8]", pads=[1, 1], match="needs 4")


def test_slice_clamping():
    # python semantics: x[1:3] -> 2, x[-3:] -> 3, x[::2] of 7 -> 4, x[5:2:-1] -> 3, x[8:] -> 0
    assert infer("slice", "f32[10,7]", axes=[0], starts=[1], ends=[3]) == "f32[2,7]"
    assert infer("slice", "f32[10,7]", axes=[0], starts=[-3], ends=[2**63 - 1]) == "f32[3,7]"
    assert infer("slice", "f32[10,7]", axes=[1], starts=[0], ends=[7], steps=[2]) == "f32[10,4]"
    assert infer("slice", "f32[10,7]", axes=[0], starts=[5], ends=[2], steps=[-1]) == "f32[3,7]"
    assert infer("slice", "f32[10,7]", axes=[0], starts=[12], ends=[20]) == "f32[0,7]"
    # a cache write keeps the buffer's type whatever it writes
    assert infer("update", "bf16[b,8,past,64]", "bf16[b,8,1,64]") == "bf16[b,8,past,64]"
    rejects("update", "f32[4]", "f16[1]", match="source f16 and buffer f32 dtypes differ")
    assert infer("slice", "f32[b,s,64]", axes=[1], starts=[1], ends=[2**63 - 1]) == "f32[b,s-1,64]"
    assert infer("slice", "f32[b,s,64]", axes=[1], starts=[0], ends=["t"]) == \
        "f32[b,max(0,min(s,t)),64]"
    rejects("slice", "f32[4]", axes=[0], starts=[0], ends=[4], steps=[0], match="step cannot be 0")
    rejects("slice", "f32[s]", axes=[0], starts=[0], ends=[4], steps=[2], match="bind the symbol")


def test_gathers():
    assert infer("embedding", "f32[50257,768]", "i64[b,s]") == "f32[b,s,768]"
    rejects("embedding", "f32[10,4]", "f32[3]", match="indices must be an integer type")
    # ONNX Gather: data[:axis] + indices + data[axis+1:]
    assert infer("gather", "f32[5,6,7]", "i64[2,3]", axis=1) == "f32[5,2,3,7]"
    assert infer("gather", "f32[5,6]", "i32[]", axis=0) == "f32[6]"
    # ONNX GatherElements / torch.gather: the indices' shape
    assert infer("gather_elements", "f32[5,6]", "i64[5,2]", axis=1) == "f32[5,2]"
    rejects("gather_elements", "f32[5,6]", "i64[5]", match="must have the rank of data")


def test_topk_values_and_indices():
    assert infer("topk", "f32[b,10]", k=3) == "f32[b,3], i64[b,3]"
    assert infer("topk", "f32[4,10]", k=2, axis=0, largest=False) == "f32[2,10], i64[2,10]"
    rejects("topk", "f32[4,10]", k=11, match="k=11 must be in 1..10")


# ----------------------------------------------------------------------------- classic ML
def _stump(feature: int = 2) -> dict:
    """One tree: node 0 tests x[feature] <= 0.5, leaves 1 and 2, two targets."""
    return dict(n_targets=2, tree_roots=[0], feature_ids=[feature, 0, 0],
                thresholds=[0.5, 0.0, 0.0], modes=[1, 0, 0], true_children=[1, -1, -1],
                false_children=[2, -1, -1], leaf_values=np.array([[0, 0], [1, 0], [0, 1]], float))


def test_tree_ensemble_and_linear_models():
    assert infer("tree_ensemble", "f32[n,4]", **_stump()) == "f32[n,2]"
    rejects("tree_ensemble", "f32[n,2]", **_stump(feature=2),
            match="a split reads feature 2 but x has 2 features")
    bad = _stump()
    bad["false_children"] = [1, -1, -1]                  # node 1 reached twice
    rejects("tree_ensemble", "f32[n,4]", **bad, match="node 1 is reached twice")
    bad = _stump()
    bad["leaf_values"] = np.zeros((3, 1))
    rejects("tree_ensemble", "f32[n,4]", **bad, match=r"leaf_values must have shape \(3, 2\)")
    coef = np.ones((3, 5))
    for op in ("linear_classifier", "linear_regressor"):
        assert infer(op, "f32[n,5]", coefficients=coef, intercepts=[0.0, 1.0, 2.0]) == "f32[n,3]"
    rejects("linear_classifier", "f32[n,4]", coefficients=coef, match="x features differ")
    rejects("linear_regressor", "f32[n,5]", coefficients=coef, intercepts=[1.0],
            match="intercepts must be empty or have 3 entries")


def test_quantize_dequantize():
    assert infer("quantize", "f32[4,8]", "f32[]", "i8[]") == "i8[4,8]"
    assert infer("quantize", "f32[4,8]", "f32[4]", "i8[4]", axis=0, to="i4") == "i4[4,8]"
    assert infer("dequantize", "i8[4,8]", "f32[8]", axis=1) == "f32[4,8]"
    assert infer("dequantize", "f8e4m3[4,8]", "f32[]", to="bf16") == "bf16[4,8]"
    rejects("quantize", "f32[4,8]", "f32[4]", match="per-tensor scale must have one element")
    rejects("quantize", "f32[4,8]", "f32[5]", axis=0, match="scale length differs from dim 0")
    rejects("dequantize", "f32[4]", "f32[]", match="must be a quantized type, got f32")


def test_opaque_needs_explicit_types_and_keeps_attributes():
    COVERED.add("opaque")
    g = nx.Graph()
    x = g.add_input("x", "f32[3]")
    with pytest.raises(ShapeError, match="output types cannot be inferred; pass output_types"):
        g.add_node("opaque", [x], {"target": "aten::weird.default"})
    n = g.add_node("opaque", [x], {"target": "aten::weird.default", "k": 3},
                   output_types=[nx.TensorType([3, 2], "f32")])
    assert n.attributes["k"] == 3 and str(n.output.type) == "f32[3,2]"


def test_recurrent_layers():
    # 2-layer bidirectional LSTM, I=8, H=16, batch_first: weights per layer/direction
    # w_ih [64, I_l], w_hh [64, 16], b_ih, b_hh [64]; I_1 = 2·16
    weights = []
    for layer in range(2):
        for _ in range(2):
            weights += [f"f32[64,{8 if layer == 0 else 32}]", "f32[64,16]", "f32[64]", "f32[64]"]
    assert infer("recurrent", "f32[3,5,8]", "f32[4,3,16]", "f32[4,3,16]", *weights, mode="lstm",
                 hidden_size=16, num_layers=2, bidirectional=True, batch_first=True) == \
        "f32[3,5,32], f32[4,3,16], f32[4,3,16]"
    # a GRU over [T, B, I] without biases: y [T, B, H], h_n [1, B, H]
    assert infer("recurrent", "f32[t,2,4]", "f32[1,2,6]", "f32[18,4]", "f32[18,6]", mode="gru",
                 hidden_size=6, has_biases=False) == "f32[t,2,6], f32[1,2,6]"
    rejects("recurrent", "f32[t,2,4]", "f32[1,2,6]", "f32[18,5]", "f32[18,6]", mode="gru",
            hidden_size=6, has_biases=False, match=r"layer 0 weight shape differs from \[18, 4\]")
    rejects("recurrent", "f32[t,2,4]", "f32[1,2,6]", "f32[18,4]", "f32[18,6]", mode="lstm",
            hidden_size=6, has_biases=False, match="unidirectional lstm takes 5 inputs, got 4")


def test_index_by_several_tensors_on_consecutive_dims():
    # x[:, rows, cols] with rows [4,1] and cols [3]: the broadcast [4,3] takes dims 1 and 2
    assert infer("index", "f32[2,5,6,7]", "i64[4,1]", "i64[3]", axis=1) == "f32[2,4,3,7]"
    assert infer("index", "f32[b,s,h]", "i64[b]", "i64[b]") == "f32[b,h]"   # CLIP's pooling
    rejects("index", "f32[2,5]", "i64[3]", "i64[3]", axis=1, match="overrun")
    rejects("index", "f32[2,5]", "f32[3]", "i64[3]", match="indices must be an integer type")
    rejects("index", "f32[2,5]", "i64[3]", "i64[4]", match="broadcast")


def test_every_registered_op_has_an_inference_case():
    """Runs last in this module: adding an op without a test here fails."""
    missing = sorted(set(nx.registered_ops()) - COVERED)
    assert not missing, f"ops without a shape-inference test: {missing}"


def test_window_attributes_are_spelled_out_per_dim():
    """Defaults that depend on the operands become explicit, so cost rules read one form."""
    g = nx.Graph()
    x = g.add_input("x", "f32[1,3,8,8]")
    conv = g.add_node("conv", [x, g.add_constant("w", type_="f32[4,3,3,3]")], {"padding": [1]})
    assert dict(conv.attributes) == {"stride": (1, 1), "padding": (1, 1, 1, 1),
                                     "dilation": (1, 1), "groups": 1, "transposed": False,
                                     "output_padding": ()}
    up = g.add_node("conv", [conv.output, g.add_constant("u", type_="f32[4,2,2,2]")],
                    {"stride": [2, 2], "transposed": True})
    assert up.attributes["output_padding"] == (0, 0) and str(up.output.type) == "f32[1,2,16,16]"
    pool = g.add_node("avg_pool", [up.output], {"kernel_size": [2, 2], "padding": [0, 0, 1, 1]})
    assert pool.attributes["stride"] == (2, 2) and pool.attributes["padding"] == (0, 0, 1, 1)
    assert pool.attributes["dilation"] == (1, 1) and str(pool.output.type) == "f32[1,2,8,8]"
    g.set_outputs(pool.output)
    assert nx.Graph.from_json(g.to_json()).to_text() == g.to_text()
    with pytest.raises(ShapeError, match="conv: stride has 3 entries for 2 spatial dims"):
        g.add_node("conv", [x, g.add_constant("v", type_="f32[4,3,3,3]")], {"stride": [1, 1, 1]})
