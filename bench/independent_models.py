"""Models NEXUS was never fitted on, for checking what the validation zoo taught it: Hugging Face
transformers architectures built from their default configurations (random weights, no
download), in the zoo's ``{name: (build, inputs for a batch)}`` form. They build the same on the
GPU machine and here (same transformers release), so Nsight Compute's counts there and NEXUS's
predictions here are of one model. SDPA attention is asked for explicitly: eager PyTorch and the
exported graph then run the same attention.

    from independent_models import independent
"""

from __future__ import annotations

from collections.abc import Callable
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
