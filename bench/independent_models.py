"""Models NEXUS was never fitted on, for checking what the validation zoo taught it: Hugging Face
transformers architectures built from their default configurations (random weights, no
download), in the zoo's ``{name: (build, inputs for a batch)}`` form. They build the same on the
GPU machine and here (same transformers release), so Nsight Compute's counts there and NEXUS's
predictions here are of one model. SDPA attention is asked for explicitly: eager PyTorch and the
exported graph then run the same attention.

    from independent_models import independent
    PYTHONPATH=src:bench python3 bench/independent_models.py capture OUT   # on the GPU, ≈ 1 min
    PYTHONPATH=src:bench:examples python3 bench/independent_models.py host OUT   # GPU, ≈ 1 min
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

Builder = tuple[Callable[[], torch.nn.Module], Callable[[int], tuple[torch.Tensor, ...]]]


def _image(batch: int) -> tuple[torch.Tensor, ...]:
    return (torch.randn(batch, 3, 224, 224),)


def _tokens(batch: int) -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 1000, (batch, 128)),)


def _hf(model_class: str, config_class: str, attention: bool = False, **config: Any
        ) -> Callable[[], torch.nn.Module]:
    """A builder of ``transformers.<model_class>`` from ``<config_class>(**config)``, with SDPA
    attention where the architecture has attention."""
    def build() -> torch.nn.Module:
        import transformers
        settings = getattr(transformers, config_class)(**config)
        if attention:
            settings._attn_implementation = "sdpa"
        return getattr(transformers, model_class)(settings).eval()
    return build


def independent() -> dict[str, Builder]:
    """The independent check: six vision and five text architectures at their default sizes
    (ResNet-50, ConvNeXt-T, MobileNetV2, ViT-B/16, Swin-T, RegNet-Y; BERT-base, GPT-2,
    DistilBERT, RoBERTa-base, ALBERT-base: its default configuration is xxlarge)."""
    return {
        "hf-resnet50": (_hf("ResNetForImageClassification", "ResNetConfig"), _image),
        "hf-convnext-tiny": (_hf("ConvNextForImageClassification", "ConvNextConfig"), _image),
        "hf-mobilenet-v2": (_hf("MobileNetV2ForImageClassification", "MobileNetV2Config"),
                            _image),
        "hf-vit-base": (_hf("ViTForImageClassification", "ViTConfig", True), _image),
        "hf-swin-tiny": (_hf("SwinForImageClassification", "SwinConfig", True), _image),
        "hf-regnet": (_hf("RegNetForImageClassification", "RegNetConfig"), _image),
        "hf-bert-base": (_hf("BertModel", "BertConfig", True), _tokens),
        "hf-gpt2": (_hf("GPT2LMHeadModel", "GPT2Config", True, use_cache=False), _tokens),
        "hf-distilbert": (_hf("DistilBertModel", "DistilBertConfig", True), _tokens),
        "hf-roberta": (_hf("RobertaModel", "RobertaConfig", True), _tokens),
        "hf-albert": (_hf("AlbertModel", "AlbertConfig", True, hidden_size=768,
                                num_attention_heads=12, intermediate_size=3072), _tokens),
    }


CAPTURED = (("hf-bert-base", "bf16", 128), ("hf-vit-base", "bf16", 128),
            ("hf-distilbert", "bf16", 16), ("hf-bert-base", "bf16", 1))
"""Configurations whose CUDA-graph replay ran 2-3x slower than eager (docs/validation.md), and
one that did not."""


def _kernels(fn: Callable[[], Any]) -> list[dict[str, Any]]:
    """Every kernel name one call of ``fn`` runs on the GPU, with its count and microseconds."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    found: dict[str, list[float]] = {}
    for e in prof.events():
        if e.device_type.name == "CUDA":
            entry = found.setdefault(e.name[:160], [0, 0.0])
            entry[0] += 1
            entry[1] += e.device_time
    return [{"name": k, "count": c, "us": us} for k, (c, us) in
            sorted(found.items(), key=lambda kv: -kv[1][1])]


def capture(out_dir: str) -> None:
    """On the GPU: the kernels of ``CAPTURED`` run eagerly and replayed from a CUDA graph, with
    the time per call of each: what differs when transformers runs under capture."""
    import gpu_probe as gp
    from runtime.execute import cuda_graph, prepare_torch

    rows = []
    for name, dtype, batch in CAPTURED:
        build, inputs_for = independent()[name]
        torch.manual_seed(0)
        module, inputs = prepare_torch(build().eval(), inputs_for(batch), "cuda", dtype)
        with torch.no_grad():
            eager = lambda: module(*inputs)  # noqa: E731
            replay = cuda_graph(eager)
            rows.append({"model": name, "dtype": dtype, "batch": batch,
                         "eager_s": gp.event_time(eager, 10), "graph_s": gp.event_time(replay, 10),
                         "eager_kernels": _kernels(eager), "graph_kernels": _kernels(replay)})
        print(f"{name} {dtype} b{batch}: eager {rows[-1]['eager_s'] * 1e3:.2f} ms, graph "
              f"{rows[-1]['graph_s'] * 1e3:.2f} ms", flush=True)
        del module, inputs, replay
        torch.cuda.empty_cache()
    Path(out_dir, "independent_capture_h200.json").write_text(json.dumps({"rows": rows},
                                                                          indent=1))


HOSTED = (("hf-distilbert", "f32"), ("hf-bert-base", "f32"), ("hf-vit-base", "f32"),
          ("encoder", "f32"), ("vit-b16", "f32"))
"""HF architectures beside the zoo's encoder and ViT at batch 1, where eager time is the host's."""


def host(out_dir: str) -> None:
    """On the GPU: where eager batch-1 time goes on the host, HF modules beside the zoo's. Per
    model: seconds per call (CUDA events over 20 calls), the host time of its top-level aten
    ops in one profiled call (the profiler's CPU durations, summed; the profiler slows them)
    and how many there are, its kernels, and the nn.Module calls of one more call (counted by
    forward pre-hooks, attached last)."""
    from torch.profiler import ProfilerActivity, profile

    import gpu_probe as gp
    from runtime.execute import prepare_torch
    from validate_zoo import zoo

    builders = {**zoo(), **independent()}
    rows = []
    for name, dtype in HOSTED:
        build, inputs_for = builders[name]
        torch.manual_seed(0)
        module, inputs = prepare_torch(build().eval(), inputs_for(1), "cuda", dtype)
        calls = [0]
        with torch.no_grad():
            eager = lambda: module(*inputs)  # noqa: E731
            seconds = gp.event_time(eager, 20)
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                eager()
                torch.cuda.synchronize()
            hooks = [m.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
                     for m in module.modules()]
            eager()
        top = [e for e in prof.events() if e.device_type.name == "CPU" and
               e.cpu_parent is None and e.name.startswith("aten::")]
        rows.append({"model": name, "dtype": dtype, "batch": 1, "seconds_per_call": seconds,
                     "aten_ops": len(top), "aten_host_s": sum(e.cpu_time_total for e in top) / 1e6,
                     "kernels": sum(1 for e in prof.events() if e.device_type.name == "CUDA"),
                     "module_calls": calls[0]})
        print(json.dumps(rows[-1]), flush=True)
        for hook in hooks:
            hook.remove()
        del module, inputs
        torch.cuda.empty_cache()
    Path(out_dir, "independent_host_h200.json").write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["capture"]:
        capture(sys.argv[2])
    elif sys.argv[1:2] == ["host"]:
        host(sys.argv[2])
