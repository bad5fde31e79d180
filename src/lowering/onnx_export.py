"""IR → ONNX with weights: the deployment end of NEXUS (rewritten graphs leave through here).

``to_onnx(graph)`` writes one ONNX node (or a short decomposition) per IR node at opset 17, every
constant with data as an initializer, symbolic dims as ``dim_param``s; ``onnx.checker`` passes on
the result and onnxruntime runs it. bf16 initializers are written as BFLOAT16; int4 tensors
travel in int8 containers (ONNX 17 has no
int4; the values stay within −8..7). Ops that ONNX 17 lacks are decomposed (GELU, SiLU, Mish, RMS
norm, rsqrt, attention with its causal mask); an op with no export (tree ensembles, recurrent
layers, opaque ops) or a constant without data is one NexusError naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nexus_ir import Graph, Node, NexusError, Value, to_numpy
from nexus_ir.dims import Dim
from nexus_ir.registry import registrar

OPSET = 17
_ONNX_TYPES = {"f64": "DOUBLE", "f32": "FLOAT", "f16": "FLOAT16", "bf16": "BFLOAT16",
               "i64": "INT64", "i32": "INT32", "i16": "INT16", "i8": "INT8", "u8": "UINT8",
               "i1": "BOOL", "i4": "INT8"}    # opset 17 has no int4: int4 values in int8


class _Builder:
    """ONNX nodes and initializers under construction, with fresh names."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}__{self.count}"

    def const(self, array: Any, hint: str = "c") -> str:
        name = self.fresh(hint)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def like(self, data: Any, value: Value, hint: str = "c") -> str:
        """A constant of ``data`` at ``value``'s float dtype (a decomposition's 0.5 or eps must
        match an f16 or bf16 operand: ONNX does not promote)."""
        dtype = _bfloat16() if value.type.dtype.name == "bf16" else to_numpy(value.type.dtype)
        return self.const(np.asarray(data, np.float32).astype(dtype), hint)

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        return self.const(np.asarray(list(values), dtype=np.int64), hint)

    def add(self, op: str, inputs: Sequence[str], output: str | None = None, **attrs: Any
            ) -> str:
        output = output or self.fresh(op.lower())
        self.nodes.append(self.helper.make_node(op, list(inputs), [output], **attrs))
        return output


Handler = Callable[[_Builder, Node, list[str], str], None]
HANDLERS: dict[str, Handler] = {}


_handles = registrar(HANDLERS)


def _simple(onnx_op: str, **fixed: Any) -> Handler:
    def handle(b: _Builder, node: Node, ins: list[str], out: str) -> None:
        b.add(onnx_op, ins, out, **fixed)
    return handle


for _ir, _onnx in {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp",
                   "log": "Log", "sqrt": "Sqrt", "abs": "Abs", "neg": "Neg", "erf": "Erf",
                   "reciprocal": "Reciprocal", "floor": "Floor", "ceil": "Ceil",
                   "round": "Round", "sin": "Sin", "cos": "Cos", "tan": "Tan", "sign": "Sign",
                   "softsign": "Softsign", "hardswish": "HardSwish", "selu": "Selu",
                   "identity": "Identity", "logical_not": "Not", "add": "Add", "sub": "Sub",
                   "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max",
                   "minimum": "Min", "eq": "Equal", "lt": "Less", "le": "LessOrEqual",
                   "gt": "Greater", "ge": "GreaterOrEqual", "logical_and": "And",
                   "logical_or": "Or", "logical_xor": "Xor", "where": "Where",
                   "matmul": "MatMul", "global_avg_pool": "GlobalAveragePool",
                   "global_max_pool": "GlobalMaxPool", "gather_elements": "GatherElements",
                   }.items():
    HANDLERS[_ir] = _simple(_onnx)


def _attr_handler(onnx_op: str, **names: str) -> Handler:
    """An op whose IR attributes map one to one onto ONNX attributes (``onnx=ir`` pairs)."""
    def handle(b: _Builder, node: Node, ins: list[str], out: str) -> None:
        b.add(onnx_op, ins, out, **{o: node.attributes[i] for o, i in names.items()})
    return handle


HANDLERS.update({
    "leaky_relu": _attr_handler("LeakyRelu", alpha="alpha"),
    "elu": _attr_handler("Elu", alpha="alpha"),
    "celu": _attr_handler("Celu", alpha="alpha"),
    "hardsigmoid": _attr_handler("HardSigmoid", alpha="alpha", beta="beta"),
    "softmax": _attr_handler("Softmax", axis="axis"),
    "log_softmax": _attr_handler("LogSoftmax", axis="axis"),
    "concat": _attr_handler("Concat", axis="axis"),
    "transpose": _attr_handler("Transpose", perm="perm"),
    "gather": _attr_handler("Gather", axis="axis"),
    "gemm": _attr_handler("Gemm", transA="trans_a", transB="trans_b", alpha="alpha",
                          beta="beta"),
})


@_handles("ne")
def _ne(b, node, ins, out):
    b.add("Not", [b.add("Equal", ins)], out)


@_handles("mod")
def _mod(b, node, ins, out):
    b.add("Mod", ins, out, fmod=int(node.outputs[0].type.dtype.is_float))


@_handles("rsqrt")
def _rsqrt(b, node, ins, out):
    b.add("Reciprocal", [b.add("Sqrt", ins)], out)


@_handles("silu")
def _silu(b, node, ins, out):
    b.add("Mul", [ins[0], b.add("Sigmoid", ins)], out)


@_handles("mish")
def _mish(b, node, ins, out):
    b.add("Mul", [ins[0], b.add("Tanh", [b.add("Softplus", ins)])], out)


@_handles("softplus")
def _softplus(b, node, ins, out):
    beta = node.attributes["beta"]
    if beta == 1.0:
        b.add("Softplus", ins, out)
        return
    scale = b.like(beta, node.inputs[0])
    b.add("Div", [b.add("Softplus", [b.add("Mul", [ins[0], scale])]), scale], out)


@_handles("gelu")
def _gelu(b, node, ins, out):
    """0.5·x·(1 + erf(x/√2)), or the tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""
    x = ins[0]
    half, one = b.like(0.5, node.inputs[0]), b.like(1.0, node.inputs[0])
    if node.attributes["approximate"] == "tanh":
        cube = b.add("Mul", [b.add("Mul", [x, x]), x])
        inner = b.add("Add", [x, b.add("Mul", [cube, b.like(0.044715, node.inputs[0])])])
        core = b.add("Tanh", [b.add("Mul", [inner, b.like(math.sqrt(2 / math.pi), node.inputs[0])])])
    else:
        core = b.add("Erf", [b.add("Div", [x, b.like(math.sqrt(2.0), node.inputs[0])])])
    b.add("Mul", [b.add("Mul", [x, half]), b.add("Add", [core, one])], out)


@_handles("clip")
def _clip(b, node, ins, out):
    bounds = [b.like(v, node.inputs[0]) if v is not None else "" for v in
              (node.attributes["min"], node.attributes["max"])]
    while bounds and bounds[-1] == "":
        bounds.pop()
    b.add("Clip", [ins[0], *bounds], out)


@_handles("cast")
def _cast(b, node, ins, out):
    from onnx import TensorProto

    b.add("Cast", ins, out, to=getattr(TensorProto, _ONNX_TYPES[node.attributes["to"].name]))


@_handles("linear")
def _linear(b, node, ins, out):
    """x·Wᵀ (+ b), W transposed into its own initializer once."""
    weight_t = b.add("Transpose", [ins[1]], perm=[1, 0])
    if len(ins) == 2:
        b.add("MatMul", [ins[0], weight_t], out)
    else:
        b.add("Add", [b.add("MatMul", [ins[0], weight_t]), ins[2]], out)


def _spatial(node: Node) -> int:
    return node.inputs[0].type.rank - 2


@_handles("conv")
def _conv(b, node, ins, out):
    a = node.attributes
    attrs = {"strides": list(a["stride"]), "pads": list(a["padding"]),
             "dilations": list(a["dilation"]), "group": a["groups"]}
    if a["transposed"]:
        b.add("ConvTranspose", ins, out, output_padding=list(a["output_padding"]), **attrs)
    else:
        b.add("Conv", ins, out, **attrs)


@_handles("max_pool", "avg_pool")
def _pool(b, node, ins, out):
    a = node.attributes
    attrs = {"kernel_shape": list(a["kernel_size"]), "strides": list(a["stride"]),
             "pads": list(a["padding"]), "ceil_mode": int(a["ceil_mode"])}
    if node.op == "max_pool":
        b.add("MaxPool", ins, out, dilations=list(a["dilation"]), **attrs)
    else:
        if any(d != 1 for d in a["dilation"]):
            raise NexusError(f"node %{node.name}: dilated average pooling has no ONNX 17 form")
        b.add("AveragePool", ins, out, count_include_pad=int(a["count_include_pad"]), **attrs)


@_handles("adaptive_avg_pool", "adaptive_max_pool")
def _adaptive(b, node, ins, out):
    if any(d != 1 for d in node.outputs[0].type.shape[2:]):
        raise NexusError(f"node %{node.name}: adaptive pooling exports only to a 1x1 output "
                         "(GlobalAveragePool/GlobalMaxPool)")
    b.add("GlobalAveragePool" if node.op == "adaptive_avg_pool" else "GlobalMaxPool", ins, out)


@_handles("batch_norm")
def _batch_norm(b, node, ins, out):
    b.add("BatchNormalization", ins, out, epsilon=node.attributes["eps"])


@_handles("layer_norm")
def _layer_norm(b, node, ins, out):
    a = node.attributes
    scale = ins[1] if len(ins) > 1 else b.like(np.ones(node.inputs[0].type.shape[a["axis"]:]),
                                                       node.inputs[0])
    b.add("LayerNormalization", [ins[0], scale, *ins[2:3]], out, axis=a["axis"],
          epsilon=a["eps"])


@_handles("rms_norm")
def _rms_norm(b, node, ins, out):
    """x / sqrt(mean(x², axes ≥ axis) + eps) (· weight)."""
    a = node.attributes
    rank = node.inputs[0].type.rank
    axes = list(range(a["axis"] % rank, rank))
    mean = b.add("ReduceMean", [b.add("Mul", [ins[0], ins[0]])], axes=axes, keepdims=1)
    norm = b.add("Div", [ins[0], b.add("Sqrt", [b.add("Add", [mean, b.like(
        a["eps"], node.inputs[0])])])])
    b.add("Mul", [norm, ins[1]], out) if len(ins) > 1 else b.add("Identity", [norm], out)


@_handles("reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_sum")
def _reduce(b, node, ins, out):
    a = node.attributes
    onnx_op = {"reduce_mean": "ReduceMean", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin",
               "reduce_prod": "ReduceProd", "reduce_sum": "ReduceSum"}[node.op]
    axes = list(a["axes"]) if a["axes"] is not None else list(range(node.inputs[0].type.rank))
    if onnx_op == "ReduceSum":
        b.add(onnx_op, [ins[0], b.ints(axes)], out, keepdims=int(a["keepdims"]))
    else:
        b.add(onnx_op, ins, out, axes=axes, keepdims=int(a["keepdims"]))


@_handles("resize")
def _resize(b, node, ins, out):
    """ONNX Resize with PyTorch's coordinates: nearest as ``asymmetric``/``floor``, the linear
    family and cubic (a = -0.75, ONNX's default) as ``pytorch_half_pixel`` or
    ``align_corners``; sizes after the input's own batch and channel dims."""
    a = node.attributes
    if a["mode"] == "nearest":
        coordinates = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        coordinates = {"coordinate_transformation_mode": "align_corners" if a["align_corners"]
                       else "pytorch_half_pixel"}
    if a["scales"] is not None:
        scales = b.const(np.asarray([1.0, 1.0, *a["scales"]], np.float32), "scales")
        b.add("Resize", [ins[0], "", scales], out, mode=a["mode"], **coordinates)
        return
    if not all(isinstance(d, int) for d in a["sizes"]):
        raise NexusError(f"node %{node.name}: resize sizes {list(a['sizes'])} must be bound")
    leading = b.add("Slice", [b.add("Shape", [ins[0]]), b.ints([0]), b.ints([2])])
    sizes = b.add("Concat", [leading, b.ints(a["sizes"])], axis=0)
    b.add("Resize", [ins[0], "", "", sizes], out, mode=a["mode"], **coordinates)


@_handles("index")
def _index(b, node, ins, out):
    """The indexed dims merged into one (a Reshape: the dims before them copied, those after
    given) and gathered at their linear index, each index wrapped into its dim first (``Mod``:
    negative indices count from the end)."""
    from onnx import TensorProto

    data = node.inputs[0].type
    axis = node.attributes["axis"] % data.rank
    sizes = data.shape[axis:axis + len(ins) - 1]
    after = data.shape[axis + len(sizes):]
    if not all(isinstance(d, int) for d in (*sizes, *after)):
        raise NexusError(f"node %{node.name}: the indexed dims and those after them "
                         f"({list(sizes)}, {list(after)}) must be bound to sizes")
    linear = None
    for index, size in zip(ins[1:], sizes):
        wide = b.add("Cast", [index], to=TensorProto.INT64)     # whatever the index type
        extent = b.const(np.int64(size), "size")
        wrapped = b.add("Mod", [wide, extent])
        linear = wrapped if linear is None else b.add("Add", [b.add("Mul", [linear, extent]),
                                                              wrapped])
    merged = b.add("Reshape", [ins[0], b.ints([0] * axis + [-1, *after])])
    b.add("Gather", [merged, linear], out, axis=axis)


@_handles("cumsum")
def _cumsum(b, node, ins, out):
    a = node.attributes
    axis = b.const(np.asarray(a["axis"], dtype=np.int64), "axis")     # a 0-D tensor
    b.add("CumSum", [ins[0], axis], out, exclusive=int(a["exclusive"]), reverse=int(a["reverse"]))


@_handles("argmax", "argmin")
def _argmax(b, node, ins, out):
    b.add("ArgMax" if node.op == "argmax" else "ArgMin", ins, out, axis=node.attributes["axis"],
          keepdims=int(node.attributes["keepdims"]))


def _shape_target(node: Node, dims: Sequence[Dim]) -> list[int]:
    """A reshape/expand target as ONNX ints: a symbol equal to the input's dim at the same
    position is 0 (copy), one other symbol is -1 (infer)."""
    source = node.inputs[0].type.shape
    target = []
    for i, d in enumerate(dims):
        if isinstance(d, int):
            target.append(d)
        elif i < len(source) and source[i] == d:
            target.append(0)
        else:
            target.append(-1)
    if target.count(-1) > 1:
        raise NexusError(f"node %{node.name}: reshape to {list(dims)} has several sizes ONNX "
                         "cannot infer; bind the symbolic sizes first (--bind / bindings=)")
    return target


@_handles("reshape", "flatten")
def _reshape(b, node, ins, out):
    dims = node.outputs[0].type.shape
    b.add("Reshape", [ins[0], b.ints(_shape_target(node, dims))], out)


@_handles("expand")
def _expand(b, node, ins, out):
    dims = node.outputs[0].type.shape
    b.add("Expand", [ins[0], b.ints([d if isinstance(d, int) else 1 for d in dims])], out)


@_handles("squeeze", "unsqueeze")
def _squeeze(b, node, ins, out):
    axes = node.attributes["axes"]
    if axes is None:
        axes = [i for i, d in enumerate(node.inputs[0].type.shape) if d == 1]
    b.add("Squeeze" if node.op == "squeeze" else "Unsqueeze", [ins[0], b.ints(axes)], out)


@_handles("slice")
def _slice(b, node, ins, out):
    a = node.attributes
    ends = [e if isinstance(e, int) else 2**63 - 1 for e in a["ends"]]
    steps = list(a["steps"]) or [1] * len(a["axes"])
    b.add("Slice", [ins[0], b.ints([s if isinstance(s, int) else 0 for s in a["starts"]]),
                    b.ints(ends), b.ints(a["axes"]), b.ints(steps)], out)


@_handles("pad")
def _pad(b, node, ins, out):
    a = node.attributes
    mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}.get(a["mode"])
    if mode is None:
        raise NexusError(f"node %{node.name}: {a['mode']} padding has no ONNX 17 form")
    b.add("Pad", [ins[0], b.ints(a["pads"]), b.like(a["value"], node.inputs[0])], out, mode=mode)


@_handles("embedding")
def _embedding(b, node, ins, out):
    b.add("Gather", [ins[0], ins[1]], out, axis=0)


@_handles("quantize", "dequantize")
def _quant(b, node, ins, out):
    axis = node.attributes["axis"]
    extra = {} if axis is None else {"axis": axis}
    b.add("QuantizeLinear" if node.op == "quantize" else "DequantizeLinear", ins, out, **extra)


@_handles("attention")
def _attention(b, node, ins, out):
    """softmax(q·kᵀ·scale + mask)·v, the causal mask as an additive constant."""
    q, k, v = node.inputs[:3]
    if node.attributes["enable_gqa"] and q.type.shape[-3] != k.type.shape[-3]:
        raise NexusError(f"node %{node.name}: grouped-query attention export is not supported")
    rank = k.type.rank
    perm = [*range(rank - 2), rank - 1, rank - 2]
    scale = node.attributes["scale"] or 1.0 / math.sqrt(q.type.shape[-1])
    scores = b.add("Mul", [b.add("MatMul", [ins[0], b.add("Transpose", [ins[1]], perm=perm)]),
                           b.like(scale, q)])
    if node.attributes["causal"]:
        lq, lk = q.type.shape[-2], k.type.shape[-2]
        if not isinstance(lq, int) or not isinstance(lk, int):
            raise NexusError(f"node %{node.name}: a causal mask needs static sequence lengths; "
                             "bind them first")
        mask = np.triu(np.full((lq, lk), -np.inf, np.float32), k=1 + lk - lq)
        scores = b.add("Add", [scores, b.like(mask, q, "causal_mask")])
    if len(ins) == 4:
        mask = ins[3]
        if node.inputs[3].type.dtype.name == "i1":
            mask = b.add("Where", [mask, b.like(0.0, q), b.like(-np.inf, q)])
        scores = b.add("Add", [scores, mask])
    b.add("MatMul", [b.add("Softmax", [scores], axis=-1), ins[2]], out)


@_handles("split")
def _split(b, node, ins, out):
    raise AssertionError("split has several outputs; handled in to_onnx")


def _value_info(value: Value) -> Any:
    from onnx import TensorProto, helper

    dtype = _ONNX_TYPES.get(value.type.dtype.name)
    if dtype is None:
        raise NexusError(f"value %{value.name} is {value.type.dtype}, which ONNX cannot hold")
    return helper.make_tensor_value_info(value.name, getattr(TensorProto, dtype),
                                         [d if isinstance(d, int) else str(d)
                                          for d in value.type.shape])


def _bfloat16() -> Any:
    """numpy's bfloat16 (ml_dtypes, which onnx's numpy_helper writes as BFLOAT16)."""
    import ml_dtypes
    return ml_dtypes.bfloat16


def _initializer(b: _Builder, value: Any) -> None:
    if value.data is None:
        raise NexusError(f"constant %{value.name} has no data: a graph with shape-only weights "
                         "(meta device, example models) cannot be exported; build it with real "
                         "weights")
    if value.type.dtype.name.startswith("f8"):
        raise NexusError(f"constant %{value.name} is {value.type.dtype}: ONNX opset {OPSET} has "
                         "no float8, so fp8 rewrites are costed and run (runtime.torch_graph) "
                         "but not exported")
    try:          # int4 values travel in int8 containers, bf16 in ml_dtypes' bfloat16
        numpy_type = np.int8 if value.type.dtype.name == "i4" else _bfloat16() \
            if value.type.dtype.name == "bf16" else to_numpy(value.type.dtype)
    except NexusError:
        raise NexusError(f"constant %{value.name} is {value.type.dtype}, which has no numpy "
                         "container for an ONNX initializer") from None
    b.initializers.append(b.numpy_helper.from_array(
        np.asarray(value.data).astype(numpy_type).reshape(
            [int(d) for d in value.type.shape]), value.name))


def to_onnx(graph: Graph, path: str | Path | None = None) -> Any:
    """The graph as an ONNX ModelProto (opset 17), checked; saved to ``path`` when given."""
    import onnx
    from onnx import helper

    b = _Builder()
    for constant in graph.used_constants():                 # unused buffers are left out
        _initializer(b, constant)
    unsupported = sorted({n.op for n in graph if n.op not in HANDLERS})
    if unsupported:
        raise NexusError(f"cannot export to ONNX: no ONNX form for {', '.join(unsupported)}")
    for node in graph:
        ins = [v.name for v in node.inputs]
        if node.op == "split":
            a = node.attributes
            b.nodes.append(helper.make_node(
                "Split", [ins[0], b.ints(a["sizes"])], [o.name for o in node.outputs],
                axis=a["axis"]))
            continue
        HANDLERS[node.op](b, node, ins, node.outputs[0].name)
    model = helper.make_model(
        helper.make_graph(b.nodes, graph.name, [_value_info(v) for v in graph.inputs],
                          [_value_info(v) for v in graph.outputs], b.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="nexus-ml")
    model.ir_version = 8
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.shape_inference.InferenceError as err:
        if "bfloat16" not in str(err):
            raise
        op = str(err).split("op_type:", 1)[-1].split(")", 1)[0]
        raise NexusError(f"cannot export to ONNX: opset {OPSET} has no bf16 {op}") from None
    if path is not None:
        onnx.save(model, str(path))
    return model
