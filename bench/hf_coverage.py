"""Coverage of the PyTorch frontend on Hugging Face transformers architectures (decoders, encoders,
state-space and recurrent, vision, audio): each built from a small config (2 layers or stages,
width 128, random weights, nothing downloaded), exported and lowered, with the ATen ops it keeps
as ``opaque`` (unmodeled) named and counted.

    python3 bench/hf_coverage.py [NAME ...]      # needs torch==2.13.0 and transformers
"""

from __future__ import annotations

import collections
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

import nexus_ir as nx

SMALL = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
         "num_attention_heads": 4, "vocab_size": 1000}
"""The size every text config shares where its keys are the usual ones."""


def _tokens() -> dict[str, torch.Tensor]:
    return {"input_ids": torch.randint(1, 1000, (1, 32))}


def _image() -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.randn(1, 3, 64, 64)}


def architectures() -> dict[str, tuple[Callable[[], Any], Callable[[], dict[str, Any]]]]:
    """Name → (model builder, example inputs) for every architecture in the table."""
    import transformers as T

    vision = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
              "num_attention_heads": 4, "image_size": 64, "patch_size": 16}
    causal = {**SMALL, "num_key_value_heads": 2}
    stages = {"hidden_sizes": [32, 64, 128, 256], "depths": [1, 1, 1, 1]}
    return {
        "gpt2": (lambda: T.GPT2LMHeadModel(T.GPT2Config(n_embd=128, n_layer=2, n_head=4,
                                                         vocab_size=1000)), _tokens),
        "llama": (lambda: T.LlamaForCausalLM(T.LlamaConfig(**causal)), _tokens),
        "mistral": (lambda: T.MistralForCausalLM(T.MistralConfig(**causal)), _tokens),
        "qwen2": (lambda: T.Qwen2ForCausalLM(T.Qwen2Config(**causal)), _tokens),
        "phi3": (lambda: T.Phi3ForCausalLM(T.Phi3Config(**causal, pad_token_id=0)), _tokens),
        "gemma": (lambda: T.GemmaForCausalLM(T.GemmaConfig(**causal, head_dim=32)), _tokens),
        "gpt-neox": (lambda: T.GPTNeoXForCausalLM(T.GPTNeoXConfig(**SMALL)), _tokens),
        "gpt-j": (lambda: T.GPTJForCausalLM(T.GPTJConfig(n_embd=128, n_layer=2, n_head=4,
                                                          vocab_size=1000, rotary_dim=16)),
                  _tokens),
        "codegen": (lambda: T.CodeGenForCausalLM(T.CodeGenConfig(
            n_embd=128, n_layer=2, n_head=4, vocab_size=1000, rotary_dim=16)), _tokens),
        "opt": (lambda: T.OPTForCausalLM(T.OPTConfig(
            hidden_size=128, ffn_dim=256, num_hidden_layers=2, num_attention_heads=4,
            vocab_size=1000, word_embed_proj_dim=128)), _tokens),
        "falcon": (lambda: T.FalconForCausalLM(T.FalconConfig(
            hidden_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=1000)),
            _tokens),
        "bloom": (lambda: T.BloomForCausalLM(T.BloomConfig(hidden_size=128, n_layer=2, n_head=4,
                                                            vocab_size=1000)), _tokens),
        "bert": (lambda: T.BertModel(T.BertConfig(**SMALL)), _tokens),
        "roberta": (lambda: T.RobertaModel(T.RobertaConfig(**SMALL)), _tokens),
        "electra": (lambda: T.ElectraModel(T.ElectraConfig(**SMALL, embedding_size=64)), _tokens),
        "deberta-v2": (lambda: T.DebertaV2Model(T.DebertaV2Config(**SMALL)), _tokens),
        "mpnet": (lambda: T.MPNetModel(T.MPNetConfig(**SMALL)), _tokens),
        "t5-encoder": (lambda: T.T5EncoderModel(T.T5Config(d_model=128, d_ff=256, num_layers=2,
                                                           num_heads=4, vocab_size=1000)),
                       _tokens),
        "clip-text": (lambda: T.CLIPTextModel(T.CLIPTextConfig(**SMALL)), _tokens),
        "vit": (lambda: T.ViTModel(T.ViTConfig(**vision)), _image),
        "deit": (lambda: T.DeiTModel(T.DeiTConfig(**vision)), _image),
        "beit": (lambda: T.BeitModel(T.BeitConfig(**vision)), _image),
        "mobilevit": (lambda: T.MobileViTModel(T.MobileViTConfig(image_size=64)), _image),
        "efficientnet": (lambda: T.EfficientNetModel(T.EfficientNetConfig(image_size=64)), _image),
        "segformer": (lambda: T.SegformerModel(T.SegformerConfig()), _image),
        "wav2vec2": (lambda: T.Wav2Vec2Model(T.Wav2Vec2Config(
            **SMALL, conv_dim=(32, 32), conv_stride=(5, 2), conv_kernel=(10, 3),
            num_conv_pos_embeddings=16)), lambda: {"input_values": torch.randn(1, 4000)}),
        "mixtral": (lambda: T.MixtralForCausalLM(T.MixtralConfig(
            **causal, num_local_experts=4, num_experts_per_tok=2)), _tokens),
        "gpt-bigcode": (lambda: T.GPTBigCodeForCausalLM(T.GPTBigCodeConfig(
            n_embd=128, n_layer=2, n_head=4, vocab_size=1000)), _tokens),
        "stablelm": (lambda: T.StableLmForCausalLM(T.StableLmConfig(**causal)), _tokens),
        "starcoder2": (lambda: T.Starcoder2ForCausalLM(T.Starcoder2Config(**causal)), _tokens),
        "olmo": (lambda: T.OlmoForCausalLM(T.OlmoConfig(**SMALL)), _tokens),
        "persimmon": (lambda: T.PersimmonForCausalLM(T.PersimmonConfig(**SMALL)), _tokens),
        "mamba": (lambda: T.MambaModel(T.MambaConfig(hidden_size=128, num_hidden_layers=2,
                                                     vocab_size=1000, state_size=8)), _tokens),
        "rwkv": (lambda: T.RwkvModel(T.RwkvConfig(hidden_size=128, num_hidden_layers=2,
                                                  vocab_size=1000, attention_hidden_size=128,
                                                  intermediate_size=256)), _tokens),
        "distilbert": (lambda: T.DistilBertModel(T.DistilBertConfig(
            dim=128, hidden_dim=256, n_layers=2, n_heads=4, vocab_size=1000)), _tokens),
        "albert": (lambda: T.AlbertModel(T.AlbertConfig(**SMALL, embedding_size=64)), _tokens),
        "xlnet": (lambda: T.XLNetModel(T.XLNetConfig(d_model=128, d_inner=256, n_layer=2,
                                                     n_head=4, vocab_size=1000)), _tokens),
        "funnel": (lambda: T.FunnelModel(T.FunnelConfig(d_model=128, d_inner=256,
                                                        block_sizes=[1, 1], n_head=4,
                                                        vocab_size=1000)), _tokens),
        "bart": (lambda: T.BartModel(T.BartConfig(
            d_model=128, encoder_ffn_dim=256, decoder_ffn_dim=256, encoder_layers=2,
            decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
            vocab_size=1000)), _tokens),
        "resnet": (lambda: T.ResNetModel(T.ResNetConfig(**stages)), _image),
        "regnet": (lambda: T.RegNetModel(T.RegNetConfig(**stages)), _image),
        "convnext": (lambda: T.ConvNextModel(T.ConvNextConfig(**stages)), _image),
        "convnext-v2": (lambda: T.ConvNextV2Model(T.ConvNextV2Config(**stages)), _image),
        "poolformer": (lambda: T.PoolFormerModel(T.PoolFormerConfig(**stages)), _image),
        "mobilenet-v2": (lambda: T.MobileNetV2Model(T.MobileNetV2Config(image_size=64)), _image),
        "swin": (lambda: T.SwinModel(T.SwinConfig(image_size=64, embed_dim=32, depths=[1, 1],
                                                  num_heads=[2, 4], window_size=4)), _image),
        "dinov2": (lambda: T.Dinov2Model(T.Dinov2Config(**vision)), _image),
        "levit": (lambda: T.LevitModel(T.LevitConfig(image_size=64)), _image),
        "yolos": (lambda: T.YolosModel(T.YolosConfig(**{**vision, "image_size": [64, 64]},
                                                     num_detection_tokens=10)), _image),
        "hubert": (lambda: T.HubertModel(T.HubertConfig(
            **SMALL, conv_dim=(32, 32), conv_stride=(5, 2), conv_kernel=(10, 3),
            num_conv_pos_embeddings=16)), lambda: {"input_values": torch.randn(1, 4000)}),
        "whisper-encoder": (lambda: T.WhisperForAudioClassification(T.WhisperConfig(
            d_model=128, encoder_ffn_dim=256, encoder_layers=2, encoder_attention_heads=4,
            num_mel_bins=80, max_source_positions=100)),
            lambda: {"input_features": torch.randn(1, 80, 200)}),
    }


def main() -> None:
    from nexus_ir.app.api import prepare

    import transformers

    warnings.simplefilter("ignore")
    transformers.logging.set_verbosity_error()
    only = set(sys.argv[1:])
    print(f"{'architecture':<17}{'nodes':>7}{'lower s':>9}  unmodeled (ATen op x count)")
    complete = total = 0
    for name, (build, inputs) in architectures().items():
        if only and name not in only:
            continue
        total += 1
        torch.manual_seed(0)
        model = build().eval()
        if hasattr(model.config, "use_cache"):
            model.config.use_cache = False
        start = time.perf_counter()
        try:
            graph = prepare(model, inputs()).graph
        except nx.NexusError as err:
            print(f"{name:<17}{'':>7}{'':>9}  fails: {str(err).splitlines()[0][:90]}")
            continue
        seconds = time.perf_counter() - start
        kept = collections.Counter(n.attributes["target"] for n in graph if n.op == "opaque")
        complete += not kept
        listed = ", ".join(f"{op} x{count}" for op, count in sorted(kept.items())) or "none"
        print(f"{name:<17}{len(graph):>7}{seconds:>9.2f}  {listed}")
    print(f"\n{complete} of {total} architectures lower with no op unmodeled")


if __name__ == "__main__":
    main()
