"""Running models for measurement: a PyTorch module (eager, on a device and dtype) or an ONNX
model (onnxruntime, CPU or CUDA provider), wrapped as a ``Runner`` that ``meters.measure`` calls
back to back; and the flat inputs of an exported program for ``ncu.run_with_ranges``.

    python -m runtime.execute FILE.py:factory --input-shape x=1x3x224x224 [--dtype bf16]

runs the factory's model once on the GPU with an NVTX range per fx node (what ``nexus validate``
profiles under ncu).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_ir import NexusError
from nexus_ir.errors import install_hint

RUN_DTYPES = ("f32", "bf16", "f16")


@dataclass(frozen=True)
class Runner:
    """One inference (``call``), a wait for it to finish (``sync``), and what runs where."""

    call: Callable[[], Any]
    sync: Callable[[], None]
    description: str


def _torch_dtype(name: str) -> Any:
    from frontends.pytorch import torch_dtype

    if name not in RUN_DTYPES:
        raise NexusError(f"dtype '{name}': choose one of {', '.join(RUN_DTYPES)}")
    return torch_dtype(name)


def model_dtype(module: Any) -> str:
    """The dtype a module runs at by itself: that of its first floating parameter or buffer
    (f32 for a module without any)."""
    from frontends.pytorch import TORCH_DTYPES

    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return TORCH_DTYPES[str(tensor.dtype)]
    return "f32"


def prepare_torch(module: Any, inputs: Sequence[Any], device: str, dtype: str | None = None
                  ) -> tuple[Any, list[Any]]:
    """The module in eval mode on ``device`` at ``dtype`` (default: its own, ``model_dtype``);
    floating inputs cast likewise."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise NexusError("no CUDA device: PyTorch sees no GPU here (use --device cpu)")
    kind = _torch_dtype(dtype or model_dtype(module))
    module = module.eval().to(device=device, dtype=kind)
    moved = [x.to(device=device, dtype=kind) if x.is_floating_point() else x.to(device)
             for x in inputs]
    return module, moved


def cuda_graph(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` captured in a CUDA graph after warm-up on a side stream (as PyTorch's docs
    prescribe); returns the graph's replay, which reruns the same kernels on the same buffers."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    torch.cuda.synchronize()
    return graph.replay


def torch_runner(module: Any, inputs: Sequence[Any], device: str = "cuda",
                 dtype: str | None = None, execution: str = "eager",
                 graph: Callable[[Callable[[], Any]], Callable[[], Any]] = cuda_graph) -> Runner:
    """PyTorch inference under ``no_grad`` at ``dtype`` (default the module's own), eager or
    replayed from a CUDA graph (``execution="cuda-graph"``, captured by ``graph``)."""
    import torch

    dtype = dtype or model_dtype(module)
    module, moved = prepare_torch(module, inputs, device, dtype)

    def call() -> Any:
        with torch.no_grad():
            return module(*moved)

    if execution == "cuda-graph":
        if not device.startswith("cuda"):
            raise NexusError("--execution cuda-graph replays a CUDA graph: it needs --device cuda")
        call = graph(call)
    elif execution != "eager":
        raise NexusError(f"execution '{execution}' cannot be measured here: PyTorch runs eager "
                         "or cuda-graph (measure a fused model through its own runtime)")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    label = "eager PyTorch" if execution == "eager" else "CUDA-graph replay"
    return Runner(call, sync, f"{device} ({dtype}, {label})")


def onnx_runner(model: str | Path, feeds: Mapping[str, Any],
                provider: str = "CUDAExecutionProvider") -> Runner:
    """onnxruntime inference; fails in one line when the provider is not available."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise NexusError("ONNX models run through onnxruntime: "
                         f"{install_hint('measure')}") from None
    if provider not in ort.get_available_providers():
        raise NexusError(f"onnxruntime has no {provider} here (available: "
                         f"{', '.join(ort.get_available_providers())})")
    session = ort.InferenceSession(str(model), providers=[provider])
    return Runner(lambda: session.run(None, dict(feeds)), lambda: None,
                  f"onnxruntime {provider}")


def flat_inputs(program: Any, user_inputs: Sequence[Any]) -> list[Any]:
    """An ExportedProgram graph's flat inputs: parameters, buffers and constants from the
    program, user inputs in order, as ``graph_signature.input_specs`` lists them."""
    from torch.export.graph_signature import InputKind

    state = {**program.state_dict, **getattr(program, "constants", {})}
    user = list(user_inputs)
    return [user.pop(0) if spec.kind == InputKind.USER_INPUT else state[spec.target]
            for spec in program.graph_signature.input_specs]


def main(argv: Sequence[str] | None = None) -> None:
    """Run a factory's model once with NVTX ranges (the program ncu profiles)."""
    from frontends.pytorch import export, torch_factory
    from nexus_ir.types import parse_input_shapes

    from .ncu import run_with_ranges

    parser = argparse.ArgumentParser(prog="python -m runtime.execute")
    parser.add_argument("model")
    parser.add_argument("--input-shape", nargs="*", default=[])
    parser.add_argument("--dtype", default="f32")
    args = parser.parse_args(argv)
    model, inputs = prepare_torch(*torch_factory(args.model, parse_input_shapes(
        args.input_shape)), "cuda", args.dtype)
    program = export(model, inputs)
    run_with_ranges(program, flat_inputs(program, inputs))


if __name__ == "__main__":
    main()
