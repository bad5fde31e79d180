"""Exporting modules (``torch.export``) and the driver that walks an exported program through
the ATen table; ``.pt2`` files, example tensors, and PyTorch factories.

``from_torch(module, example_inputs)`` exports the module (or takes an ``ExportedProgram``) and
maps each ATen op to IR ops through the ``ATEN`` table. Every node keeps its module path from
``nn_module_stack`` as ``source``. Parameters, buffers and lifted constants become IR constants;
their data is attached when it is real (a view of the module's own tensor: a bf16 weight as
ml_dtypes' bfloat16, no copy) and absent on the meta device, where nothing is materialized. Symbolic
sizes (``torch.export.Dim``) become named IR symbols. An ATen op the table lacks becomes an
``opaque`` node with the ATen name and the exported output types, and a warning lists them: the
frontend never fails on a valid exported program because of an op it does not know.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping

import contextlib
import io
import logging
import operator
import warnings
from collections.abc import Iterator, Sequence
from typing import Any


from nexus_ir import Graph, NexusError, TensorType, Value, collector

from . import aten as _aten_table  # noqa: F401  (fills ATEN)
from . import aten_cache as _cache_writes  # noqa: F401  (fills ATEN: cache writes)
from . import aten_einsum as _einsum  # noqa: F401  (fills ATEN: einsum)
from . import aten_movement as _movement  # noqa: F401  (fills ATEN: data movement)
from .base import (ATEN, Handler, Lowering, UnmappedOpsWarning, dim_of, flatten, module_path,
                   opaque, opaque_node, tensor_type, torch_dtype)
from .masks import drop_unused, maskless_attention, without_mask


# ----------------------------------------------------------------------------- the driver
def _auxiliary_outputs(lw: Lowering, node: Any, args: Sequence[Any]) -> list[Any]:
    """Outputs after the first of an op the handler lowered to one value (a norm's saved mean
    and rstd, a max pool's indices). Unread ones are dropped; a read one becomes an ``opaque``
    node, so whatever consumes it is reported, never costed as zero."""
    read = {user.args[1] for user in node.users if user.target is operator.getitem}
    outputs: list[Any] = []
    for index, fake in enumerate(node.meta["val"][1:], start=1):
        if index not in read or not hasattr(fake, "shape") or fake.numel() == 0:
            outputs.append(None)            # unread, not a tensor, or empty: nothing to cost
            continue
        outputs.append(opaque_node(lw, f"{node.target} output {index}", args,
                                    [tensor_type(fake)]).outputs[0])
    return outputs


def _handler(target: Any) -> Handler | None:
    name = getattr(target, "__name__", str(target))      # e.g. "add.Tensor"
    base = name.split(".")[0]
    # an in-place variant (relu_, add_) computes what the functional op does
    return ATEN.get(name) or ATEN.get(base) or ATEN.get(base.removesuffix("_"))


def from_exported(program: Any, name: str = "model") -> Graph:
    """Lower an ``ExportedProgram`` to a NEXUS graph."""
    import torch
    from torch.export.graph_signature import InputKind

    graph = Graph(name)
    lw = Lowering(graph)
    kinds = {spec.arg.name: spec for spec in program.graph_signature.input_specs}
    state = {**program.state_dict, **getattr(program, "constants", {})}
    shared: dict[tuple[Any, ...], Value] = {}
    maskless, dropped = maskless_attention(program), []
    for node in program.graph.nodes:
        if node.op == "placeholder":
            spec = kinds.get(node.name)
            fake = node.meta["val"]
            if spec is not None and spec.kind != InputKind.USER_INPUT and spec.target:
                role = "parameter" if spec.kind == InputKind.PARAMETER else \
                    "buffer" if spec.kind == InputKind.BUFFER else "constant"
                lw.values[node.name] = _constant(graph, spec.target, fake, state.get(spec.target),
                                                 role, shared)
            elif hasattr(fake, "shape"):
                lw.values[node.name] = graph.add_input(node.name, tensor_type(fake))
            continue
        if node.op == "output":
            outs = [lw.value(v) for v in flatten(node.args[0])]
            graph.set_outputs(*[v for v in outs if isinstance(v, Value)])
            continue
        if node.op != "call_function":
            continue
        lw.source = module_path(node)
        args, kwargs = lw.value(list(node.args)), {k: lw.value(v) for k, v in node.kwargs.items()}
        if node.name in maskless:
            args, mask = without_mask(args, kwargs)
            dropped.append(mask)
        if node.target is operator.getitem:
            lw.values[node.name] = args[0][args[1]]
            continue
        if isinstance(node.meta.get("val"), (int, torch.SymInt)):
            lw.values[node.name] = dim_of(node.meta["val"])     # size arithmetic, not a tensor op
            continue
        handler = _handler(node.target)
        if handler is None:
            lw.values[node.name] = opaque(lw, node, args)
            continue
        result = handler(lw, args, kwargs, node)
        if isinstance(node.meta.get("val"), (list, tuple)) and isinstance(result, Value):
            result = (result, *_auxiliary_outputs(lw, node, args))
        lw.values[node.name] = result
        _mark_origin(result, node.name)
    drop_unused(graph, dropped)
    if lw.unmapped:
        listed = ", ".join(f"{k} x{v}" for k, v in sorted(lw.unmapped.items()))
        warnings.warn(f"ops kept as opaque (unmodeled): {listed}", UnmappedOpsWarning,
                      stacklevel=2)
    return graph


def _storage_key(tensor: Any) -> tuple[Any, ...] | None:
    """What makes two real tensors one weight (tied embeddings read under two names): the
    same storage, offset, shape, strides and dtype. None on the meta device."""
    if tensor is None or tensor.is_meta:
        return None
    return (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
            tuple(tensor.stride()), tensor.dtype)


def _constant(graph: Graph, target: str, fake: Any, real: Any, role: str,
              shared: dict[tuple[Any, ...], Value]) -> Value:
    """A weight: data attached when the tensor is real, absent on the meta device; a tensor
    sharing its storage with one lowered before is that constant (``shared``).

    The data is a read-only numpy view of the module's own CPU tensor, not a copy (copying made
    lowering slower than the export itself, and a bf16 model's f32 copy took 2.5 times its
    weights' memory): lower the module after it is trained. bf16 is viewed as ml_dtypes'
    bfloat16 and f16 as numpy's float16, bits unchanged; sub-byte types are held as float32
    numbers, and f8 data is left out (the type still records it)."""
    key = _storage_key(real)
    if key in shared:
        return shared[key]
    type_ = tensor_type(fake)
    data = None
    if real is not None and not real.is_meta:
        tensor = real.detach().cpu()
        if type_.dtype.bits < 8:
            tensor = tensor.float()
        if str(tensor.dtype) == "torch.bfloat16":
            import ml_dtypes
            data = tensor.view(torch_dtype("i16")).numpy().view(ml_dtypes.bfloat16)
        elif str(tensor.dtype) not in ("torch.float8_e4m3fn", "torch.float8_e5m2"):
            data = tensor.numpy()
        if data is not None:
            data.setflags(write=False)
    const = graph.add_constant(target, data, type_, role)
    if key is not None:
        shared[key] = const
    return const


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence what torch.export prints and logs while it traces (graph dumps, guard warnings):
    its failure is reported as one line by the caller instead."""
    noise = io.StringIO()
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)        # torch logs its failures' tracebacks at ERROR
    try:
        with contextlib.redirect_stdout(noise), contextlib.redirect_stderr(noise):
            yield
    finally:
        logging.disable(previous)


def export(model: Any, example_inputs: Sequence[Any], dynamic_shapes: Any = None) -> Any:
    """``torch.export`` of ``model`` on ``example_inputs`` (tensors, or types such as
    ``"f32[1,3,224,224]"``), quietly; a failure is one NexusError line."""
    import torch

    from torch._subclasses.fake_tensor import FakeTensorMode

    fake = FakeTensorMode(allow_non_fake_inputs=True)
    example_inputs = [example_tensor(x, fake) for x in example_inputs]
    with torch.no_grad(), warnings.catch_warnings():
        # Every nn.RNN/LSTM/GRU export warns about its _flat_weights attribute; it is harmless.
        warnings.filterwarnings("ignore", message=r"The tensor attributes .*_flat_weights")
        try:
            with _quiet():
                return torch.export.export(model, tuple(example_inputs),
                                           dynamic_shapes=dynamic_shapes)
        except Exception as err:  # torch raises many types here; the user needs the first line
            first = next((line for line in str(err).splitlines() if line.strip()), "")
            raise NexusError(f"torch.export could not trace {type(model).__name__}: "
                             f"{type(err).__name__}: {first} (rerun with --debug / see "
                             "torch.export's documentation for the fix)") from err


def from_torch(model: Any, example_inputs: Sequence[Any] | None = None, *,
               dynamic_shapes: Any = None, name: str | None = None) -> Graph:
    """Export ``model`` (an ``nn.Module`` with example inputs, or an ``ExportedProgram``) and
    lower it to NEXUS IR."""
    import torch

    if isinstance(model, torch.export.ExportedProgram):
        return from_exported(model, name or "model")
    if example_inputs is None:
        raise NexusError("a PyTorch module needs example_inputs to be exported: tensors (meta "
                         "tensors are fine) or types such as 'f32[1,3,224,224]'")
    program = export(model, example_inputs, dynamic_shapes)
    with collector.paused():          # the IR built here stays reachable: nothing to collect
        graph = from_exported(program, name or type(model).__name__)
    names = _dim_names(program, dynamic_shapes)
    return graph.bind_symbols(names) if names else graph


ORIGIN = "torch_origin"


def _mark_origin(result: Any, fx_name: str) -> None:
    """Record on each IR node that produces an fx node's value which fx value it is:
    ``annotations["torch_origin"] = {IR value name: (fx node name, output index or None)}``."""
    outputs = [(result, None)] if isinstance(result, Value) else \
        [(v, i) for i, v in enumerate(result)] if isinstance(result, tuple) else []
    for value, index in outputs:
        if isinstance(value, Value) and value.producer is not None:
            value.producer.annotations.setdefault(ORIGIN, {})[value.name] = (fx_name, index)



def example_tensor(spec: Any, fake: Any = None) -> Any:
    """A tensor to export with: tensors pass through; a ``TensorType`` or its text
    (``"f32[1,3,224,224]"``) becomes a tensor of that static shape and dtype without storage
    (a FakeTensor of ``fake``, torch's fake mode: no memory is allocated whatever the shape),
    or zeros without a fake mode."""
    import torch

    if isinstance(spec, str):
        spec = TensorType.parse(spec)
    if not isinstance(spec, TensorType):
        return spec
    if not spec.is_static:
        raise NexusError(f"example input {spec} has symbolic sizes; give sizes and declare the "
                         "dynamic ones with dynamic_shapes=torch.export.Dim(...)")
    kind = torch_dtype(spec.dtype.name)
    if kind is None:
        raise NexusError(f"example input dtype {spec.dtype} has no torch dtype")
    shape = [int(d) for d in spec.shape]
    if fake is None:
        return torch.zeros(shape, dtype=kind)
    with fake:
        return torch.empty(shape, dtype=kind)


def _dim_names(program: Any, dynamic_shapes: Any) -> dict[str, str]:
    """torch's symbols (``s27``) → the names of the user's ``torch.export.Dim`` objects, read off
    the ``dynamic_shapes`` spec (positional: one entry per input, a dict or list per tensor)."""
    if not dynamic_shapes:
        return {}
    from torch.export.graph_signature import InputKind

    user = [spec.arg.name for spec in program.graph_signature.input_specs
            if spec.kind == InputKind.USER_INPUT]
    fakes = {n.name: n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"}
    specs = list(dynamic_shapes.values()) if isinstance(dynamic_shapes, dict) \
        else list(dynamic_shapes)
    names: dict[str, str] = {}
    for arg, spec in zip(user, specs):
        per_dim = spec.items() if isinstance(spec, dict) else enumerate(spec or ())
        for index, dim in per_dim:
            symbol = dim_of(fakes[arg].shape[index]) if hasattr(fakes[arg], "shape") else None
            name = getattr(dim, "__name__", None)
            if isinstance(symbol, str) and symbol.isidentifier() and name and \
                    name.isidentifier() and name != symbol:
                names[symbol] = name
    return names


def load_pt2(path: str, trust_pickle: bool = False) -> Graph:
    """Lower a saved ``.pt2`` ExportedProgram. ``torch.export.load`` unpickles the file's weights
    and constants (``weights_only=False``), which can run code, so it needs ``trust_pickle``."""
    from pathlib import Path

    import torch

    if not trust_pickle:
        raise NexusError(f"{path}: loading a .pt2 file unpickles its weights and constants, "
                         "which can run code; pass trust_pickle=True (CLI: --trust-pickle) only "
                         "for files you trust")
    if not Path(path).exists():
        raise NexusError(f"model file {path} does not exist")
    try:
        with _quiet():
            program = torch.export.load(path)
    except Exception as err:          # torch raises RuntimeError, zip and pickle errors here
        first = next((line for line in str(err).splitlines() if line.strip()), "")
        raise NexusError(f"{path} is not a valid .pt2 file ({type(err).__name__}: "
                         f"{first[:200]}); save it again with torch.export.save") from None
    return from_exported(program, Path(path).stem)


def is_torch_model(model: Any) -> bool:
    """An ``nn.Module`` or ``ExportedProgram`` (without importing torch when nobody has)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, (torch.nn.Module,
                                                    torch.export.ExportedProgram))


def positional_inputs(module: Any, named: Mapping[str, Any]) -> list[Any]:
    """Example inputs given by name (``{"x": (1, 3, 224, 224)}``) in the order of the module's
    ``forward`` parameters; a bare shape means float32, and an optional parameter left out
    before one given takes its default (a transformers ``attention_mask=None``)."""
    params = [p for p in inspect.signature(module.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in params]
    unknown = sorted(set(named) - set(names))
    if unknown:
        raise NexusError(f"{type(module).__name__}.forward has no parameter "
                         f"{', '.join(map(repr, unknown))} (its inputs: {', '.join(names)})")
    missing = [p.name for p in params if p.name not in named and p.default is p.empty]
    if missing:
        raise NexusError(f"{type(module).__name__}.forward needs an example for "
                         f"{', '.join(map(repr, missing))}: give its shape (CLI: --input-shape "
                         f"{missing[0]}=1x3x224x224:f32)")
    given = params[:max(names.index(k) for k in named) + 1] if named else []
    return [_example(named[p.name]) if p.name in named else p.default for p in given]


def _example(value: Any) -> Any:
    """An example input as given: a bare shape tuple means float32 zeros."""
    return TensorType(list(value), "f32") if isinstance(value, tuple) else value


def torch_factory(spec: str, shapes: Mapping[str, Any] | None = None) -> tuple[Any, list[Any]]:
    """A PyTorch factory's module and example tensors: from ``shapes`` ({forward parameter:
    shape or TensorType}) when given, else the factory's own example inputs."""
    import torch

    from ..factory import load_factory

    model, made = load_factory(spec)
    if not is_torch_model(model):
        raise NexusError(f"{spec} returns a {type(model).__name__}; this command runs PyTorch "
                         "modules")
    if shapes:
        return model, [example_tensor(x) for x in positional_inputs(model, shapes)]
    if not made:
        raise NexusError(f"{spec} gives no example inputs: add --input-shape")
    return model, [torch.as_tensor(x) for x in made]
