"""Run a NEXUS graph with PyTorch: what measures a rewritten graph (pruned, swapped, quantized)
on a GPU without exporting it first.

``GraphModule(graph)`` holds the graph's constants as buffers and executes its nodes in order, one
PyTorch call per IR op (unfused, like eager PyTorch); ``.to(device, dtype)`` moves it like any
module (integer weights keep their dtype). Sizes must be bound (``graph.bind_symbols``). An op without a PyTorch form is one
NexusError naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from nexus_ir import Graph, Node, NexusError
from nexus_ir.registry import registrar

Kernel = Callable[[Node, list[Any]], Any]
KERNELS: dict[str, Kernel] = {}


_kernel = registrar(KERNELS)


for _name, _fn in {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                   "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
                   "neg": torch.neg, "erf": torch.erf, "reciprocal": torch.reciprocal,
                   "floor": torch.floor, "ceil": torch.ceil, "round": torch.round,
                   "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "sign": torch.sign,
                   "softsign": F.softsign, "hardswish": F.hardswish, "selu": F.selu,
                   "silu": F.silu, "mish": F.mish, "rsqrt": torch.rsqrt,
                   "identity": lambda x: x, "logical_not": torch.logical_not}.items():
    KERNELS[_name] = lambda node, a, fn=_fn: fn(a[0])
for _name, _fn in {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
                   "pow": torch.pow, "maximum": torch.maximum, "minimum": torch.minimum,
                   "eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le,
                   "gt": torch.gt, "ge": torch.ge, "logical_and": torch.logical_and,
                   "logical_or": torch.logical_or, "logical_xor": torch.logical_xor,
                   "matmul": torch.matmul}.items():
    KERNELS[_name] = lambda node, a, fn=_fn: fn(a[0], a[1])


@_kernel("where")
def _where(node, a):
    return torch.where(a[0], a[1], a[2])


@_kernel("mod")
def _mod(node, a):
    return torch.fmod(a[0], a[1]) if a[0].is_floating_point() else torch.remainder(a[0], a[1])


@_kernel("gelu")
def _gelu(node, a):
    return F.gelu(a[0], approximate=node.attributes["approximate"])


@_kernel("leaky_relu", "elu", "celu")
def _alpha(node, a):
    fn = {"leaky_relu": F.leaky_relu, "elu": F.elu, "celu": F.celu}[node.op]
    return fn(a[0], node.attributes["alpha"])


@_kernel("hardsigmoid")
def _hardsigmoid(node, a):
    return torch.clamp(node.attributes["alpha"] * a[0] + node.attributes["beta"], 0.0, 1.0)


@_kernel("softplus")
def _softplus(node, a):
    return F.softplus(a[0], node.attributes["beta"], node.attributes["threshold"])


@_kernel("clip")
def _clip(node, a):
    return torch.clamp(a[0], node.attributes["min"], node.attributes["max"])


@_kernel("linear")
def _linear(node, a):
    return F.linear(*a)


@_kernel("gemm")
def _gemm(node, a):
    at = node.attributes
    x = a[0].T if at["trans_a"] else a[0]
    w = a[1].T if at["trans_b"] else a[1]
    y = at["alpha"] * (x @ w)
    return y + at["beta"] * a[2] if len(a) > 2 else y


def _symmetric(node: Node, padding: tuple[int, ...]) -> list[int]:
    half = len(padding) // 2
    begins, ends = list(padding[:half]), list(padding[half:])
    if begins != ends:
        raise NexusError(f"node %{node.name}: asymmetric padding {list(padding)} has no "
                         "PyTorch form here")
    return begins


@_kernel("conv")
def _conv(node, a):
    at = node.attributes
    n = a[0].dim() - 2
    padding = _symmetric(node, at["padding"])
    if at["transposed"]:
        fn = getattr(F, f"conv_transpose{n}d")
        return fn(a[0], a[1], a[2] if len(a) > 2 else None, list(at["stride"]), padding,
                  list(at["output_padding"]), at["groups"], list(at["dilation"]))
    fn = getattr(F, f"conv{n}d")
    return fn(a[0], a[1], a[2] if len(a) > 2 else None, list(at["stride"]), padding,
              list(at["dilation"]), at["groups"])


@_kernel("max_pool", "avg_pool")
def _pool(node, a):
    at = node.attributes
    n = a[0].dim() - 2
    padding = _symmetric(node, at["padding"])
    if node.op == "max_pool":
        return getattr(F, f"max_pool{n}d")(a[0], list(at["kernel_size"]), list(at["stride"]),
                                           padding, list(at["dilation"]), at["ceil_mode"])
    return getattr(F, f"avg_pool{n}d")(a[0], list(at["kernel_size"]), list(at["stride"]),
                                       padding, at["ceil_mode"], at["count_include_pad"])


@_kernel("global_avg_pool", "global_max_pool")
def _global_pool(node, a):
    dims = list(range(2, a[0].dim()))
    if node.op == "global_avg_pool":
        return a[0].mean(dim=dims, keepdim=True)
    return a[0].amax(dim=dims, keepdim=True)


@_kernel("adaptive_avg_pool", "adaptive_max_pool")
def _adaptive(node, a):
    n = a[0].dim() - 2
    size = [int(d) for d in node.outputs[0].type.shape[2:]]
    kind = "avg" if node.op == "adaptive_avg_pool" else "max"
    return getattr(F, f"adaptive_{kind}_pool{n}d")(a[0], size)


@_kernel("batch_norm")
def _batch_norm(node, a):
    x, weight, bias, mean, var = a
    return F.batch_norm(x, mean, var, weight, bias, False, 0.0, node.attributes["eps"])


@_kernel("layer_norm", "rms_norm")
def _norm(node, a):
    shape = [int(d) for d in node.inputs[0].type.shape[node.attributes["axis"]:]]
    eps = node.attributes["eps"]
    if node.op == "rms_norm":
        return F.rms_norm(a[0], shape, a[1] if len(a) > 1 else None, eps)
    return F.layer_norm(a[0], shape, *(a[1:3] + [None] * (3 - len(a))), eps=eps)


@_kernel("group_norm")
def _group_norm(node, a):
    return F.group_norm(a[0], node.attributes["num_groups"], *a[1:3], eps=node.attributes["eps"])


@_kernel("softmax", "log_softmax")
def _softmax(node, a):
    fn = F.softmax if node.op == "softmax" else F.log_softmax
    return fn(a[0], dim=node.attributes["axis"])


@_kernel("reduce_mean", "reduce_sum", "reduce_max", "reduce_min", "reduce_prod")
def _reduce(node, a):
    axes = node.attributes["axes"]
    axes = list(range(a[0].dim())) if axes is None else list(axes)
    keep = node.attributes["keepdims"]
    x = a[0]
    if node.op == "reduce_mean":
        return x.mean(dim=axes, keepdim=keep)
    if node.op == "reduce_sum":
        return x.sum(dim=axes, keepdim=keep)
    if node.op == "reduce_prod":
        for axis in sorted(axes, reverse=True):
            x = x.prod(dim=axis, keepdim=keep)
        return x
    return (x.amax if node.op == "reduce_max" else x.amin)(dim=axes, keepdim=keep)


@_kernel("cumsum")
def _cumsum(node, a):
    axis, x = node.attributes["axis"], a[0]
    if node.attributes["reverse"]:
        x = x.flip(axis)
    y = x.cumsum(axis, dtype=x.dtype)
    if node.attributes["exclusive"]:
        y = y - x
    return y.flip(axis) if node.attributes["reverse"] else y


@_kernel("argmax", "argmin")
def _argmax(node, a):
    fn = torch.argmax if node.op == "argmax" else torch.argmin
    return fn(a[0], dim=node.attributes["axis"], keepdim=node.attributes["keepdims"])


def _out_shape(node: Node) -> list[int]:
    shape = node.outputs[0].type.shape
    if not all(isinstance(d, int) for d in shape):
        raise NexusError(f"node %{node.name}: bind symbolic sizes before running the graph")
    return list(shape)


@_kernel("reshape", "flatten", "squeeze", "unsqueeze")
def _reshape(node, a):
    return a[0].reshape(_out_shape(node))


@_kernel("expand")
def _expand(node, a):
    return a[0].expand(_out_shape(node))


@_kernel("transpose")
def _transpose(node, a):
    return a[0].permute(*node.attributes["perm"])


@_kernel("concat")
def _concat(node, a):
    return torch.cat(a, dim=node.attributes["axis"])


@_kernel("split")
def _split(node, a):
    return torch.split(a[0], [int(s) for s in node.attributes["sizes"]],
                       dim=node.attributes["axis"])


@_kernel("slice")
def _slice(node, a):
    at = node.attributes
    index = [slice(None)] * a[0].dim()
    steps = list(at["steps"]) or [1] * len(at["axes"])
    for axis, start, end, step in zip(at["axes"], at["starts"], at["ends"], steps):
        index[axis] = slice(int(start), int(end) if isinstance(end, int) else None, step)
    return a[0][tuple(index)]


@_kernel("gather", "index")
def _gather(node, a):
    axis = node.attributes["axis"] % a[0].dim()
    return a[0][(slice(None),) * axis + tuple(a[1:])]


@_kernel("resize")
def _resize(node, a):
    at = node.attributes
    mode = {"nearest": "nearest", "cubic": "bicubic"}.get(at["mode"]) or \
        ("linear", "bilinear", "trilinear")[a[0].dim() - 3]
    size = list(at["sizes"]) if at["sizes"] is not None else None
    scales = list(at["scales"]) if at["scales"] is not None else None
    return F.interpolate(a[0], size=size, scale_factor=scales, mode=mode,
                         align_corners=at["align_corners"] if mode != "nearest" else None)


@_kernel("gather_elements")
def _gather_elements(node, a):
    return torch.gather(a[0], node.attributes["axis"], a[1])


@_kernel("embedding")
def _embedding(node, a):
    return F.embedding(a[1], a[0])


@_kernel("cast")
def _cast(node, a):
    from frontends.pytorch import torch_dtype

    kind = torch_dtype(node.attributes["to"].name)
    if kind is None:
        raise NexusError(f"node %{node.name}: torch has no {node.attributes['to']} dtype")
    return a[0].to(kind)


@_kernel("pad")
def _pad(node, a):
    at = node.attributes
    half = len(at["pads"]) // 2
    begins, ends = at["pads"][:half], at["pads"][half:]
    pairs = [p for b, e in reversed(list(zip(begins, ends))) for p in (b, e)]
    mode = {"constant": "constant", "reflect": "reflect", "replicate": "replicate",
            "circular": "circular"}[at["mode"]]
    return F.pad(a[0], pairs, mode=mode, value=at["value"] if mode == "constant" else None)


@_kernel("attention")
def _attention(node, a):
    at = node.attributes
    mask = a[3] if len(a) > 3 else None
    return F.scaled_dot_product_attention(a[0], a[1], a[2], attn_mask=mask,
                                          is_causal=at["causal"], scale=at["scale"],
                                          enable_gqa=at["enable_gqa"])


def _per_axis(value: Any, axis: int | None, rank: int) -> Any:
    if axis is None or value.dim() == 0:
        return value
    shape = [1] * rank
    shape[axis % rank] = -1
    return value.reshape(shape)


@_kernel("quantize")
def _quantize(node, a):
    x, scale = a[0], a[1]
    rank, axis = x.dim(), node.attributes["axis"]
    target = node.outputs[0].type.dtype
    scaled = x / _per_axis(scale, axis, rank)
    if target.is_float:                                     # float8: round to nearest
        return scaled.clamp(-448, 448).to(torch.float8_e4m3fn).to(x.dtype)
    bits = target.bits
    zero = _per_axis(a[2], axis, rank).to(x.dtype) if len(a) > 2 else 0
    return torch.clamp(torch.round(scaled) + zero, -(2 ** (bits - 1)),
                       2 ** (bits - 1) - 1).to(torch.int8)


@_kernel("dequantize")
def _dequantize(node, a):
    q, scale = a[0], a[1]
    rank, axis = q.dim(), node.attributes["axis"]
    values = q.to(scale.dtype)
    if len(a) > 2:
        values = values - _per_axis(a[2], axis, rank).to(scale.dtype)
    return values * _per_axis(scale, axis, rank)


HELD_AS_FLOAT32 = ("bf16", "f16", "f64")
"""Float dtypes whose constant data NEXUS may hold as float32 numbers; torch runs them at their
own dtype. (Float8 data stays float32: the dequantize that reads it computes in float32.)"""


def unrunnable(graph: Graph) -> str | None:
    """Why ``graph`` cannot run here (an op without a kernel, a constant without data), or None;
    checked without building anything."""
    missing = sorted({n.op for n in graph if n.op not in KERNELS})
    if missing:
        return f"no kernel for {', '.join(missing)}"
    empty = next((name for name, c in graph.constants.items() if c.data is None), None)
    return f"constant %{empty} has no data: running needs real weights" if empty else None


class GraphModule(torch.nn.Module):
    """A NEXUS graph as a PyTorch module: constants are buffers (at their IR dtype), forward
    runs the nodes."""

    def __init__(self, graph: Graph):
        from frontends.pytorch import torch_dtype

        super().__init__()
        problem = unrunnable(graph)
        if problem:
            raise NexusError(f"cannot run with PyTorch: {problem}")
        self.graph = graph
        self.slots: dict[str, str] = {}
        for i, (name, const) in enumerate(graph.constants.items()):
            slot = f"c{i}"
            data = const.data
            tensor = torch.from_numpy(data.view("int16").copy()).view(torch.bfloat16) \
                if data.dtype.name == "bfloat16" else torch.as_tensor(data.copy())
            if const.type.dtype.name in HELD_AS_FLOAT32:     # bf16/f16 data held as float32
                tensor = tensor.to(torch_dtype(const.type.dtype.name))
            self.register_buffer(slot, tensor)
            self.slots[name] = slot

    def values(self, *inputs: Any) -> dict[str, Any]:
        """Every value of the graph (inputs, constants, node outputs) by name, for one run."""
        values: dict[str, Any] = {v.name: x for v, x in zip(self.graph.inputs, inputs)}
        values.update({name: getattr(self, slot) for name, slot in self.slots.items()})
        for node in self.graph:
            result = KERNELS[node.op](node, [values[v.name] for v in node.inputs])
            outs = result if isinstance(result, (tuple, list)) else (result,)
            values.update({o.name: r for o, r in zip(node.outputs, outs)})
        return values

    def forward(self, *inputs: Any) -> Any:
        values = self.values(*inputs)
        results = [values[v.name] for v in self.graph.outputs]
        return results[0] if len(results) == 1 else tuple(results)


def run_graph(graph: Graph, feeds: Mapping[str, Any]) -> Any:
    """Run ``graph`` once on the CPU with numpy or torch inputs given by input name."""
    module = GraphModule(graph)
    with torch.no_grad():
        return module(*[torch.as_tensor(feeds[v.name]) for v in graph.inputs])
