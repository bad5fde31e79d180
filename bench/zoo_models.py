"""More zoo architectures in plain PyTorch (no torchvision, timm or transformers definitions):
an inverted-residual CNN with squeeze-excite and hard-swish (MobileNetV3-style), a ConvNeXt-style
CNN, a densely connected CNN, a Swin-style windowed-attention transformer, an encoder-only
transformer, and LSTM and GRU sequence models. Random weights, eval mode; shapes are chosen to
be typical of each family, not copies of a published configuration."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeezed: int):
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(channels, squeezed, 1), nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        s = F.relu(self.reduce(x.mean(dim=(2, 3), keepdim=True)))
        return x * F.hardsigmoid(self.expand(s))


class MBConv3(nn.Module):
    """Expand 1x1, depthwise k×k, optional squeeze-excite, project 1x1; hard-swish or ReLU."""

    def __init__(self, c_in: int, hidden: int, c_out: int, k: int, stride: int, se: bool,
                 hswish: bool):
        super().__init__()
        act = nn.Hardswish if hswish else nn.ReLU
        layers: list[nn.Module] = []
        if hidden != c_in:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act()]
        layers += [nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), act()]
        if se:
            layers.append(SqueezeExcite(hidden, max(8, hidden // 4)))
        layers += [nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet_v3() -> nn.Module:
    """MobileNetV3-Large-like: 15 inverted residual blocks over 224x224 images."""
    blocks = [  # c_in, hidden, c_out, kernel, stride, squeeze-excite, hard-swish
        (16, 16, 16, 3, 1, False, False), (16, 64, 24, 3, 2, False, False),
        (24, 72, 24, 3, 1, False, False), (24, 72, 40, 5, 2, True, False),
        (40, 120, 40, 5, 1, True, False), (40, 120, 40, 5, 1, True, False),
        (40, 240, 80, 3, 2, False, True), (80, 200, 80, 3, 1, False, True),
        (80, 184, 80, 3, 1, False, True), (80, 480, 112, 3, 1, True, True),
        (112, 672, 112, 3, 1, True, True), (112, 672, 160, 5, 2, True, True),
        (160, 960, 160, 5, 1, True, True)]
    return nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish(),
                         *[MBConv3(*b) for b in blocks],
                         nn.Conv2d(160, 960, 1, bias=False), nn.BatchNorm2d(960), nn.Hardswish(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(960, 1280),
                         nn.Hardswish(), nn.Linear(1280, 1000)).eval()


class ChannelsLastNorm(nn.Module):
    """LayerNorm over the channels of an NCHW tensor (permute, normalize, permute back)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7, LayerNorm, pointwise MLP (4×, GELU) as Linear layers, layer scale."""

    def __init__(self, d: int):
        super().__init__()
        self.dw = nn.Conv2d(d, d, 7, padding=3, groups=d)
        self.norm = nn.LayerNorm(d)
        self.up, self.down = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.gamma = nn.Parameter(torch.full((d,), 1e-6))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.gamma * self.down(F.gelu(self.up(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


def convnext() -> nn.Module:
    """ConvNeXt-T-like at reduced depth (2-2-4-2 blocks, widths 96-192-384-768)."""
    widths, depths = (96, 192, 384, 768), (2, 2, 4, 2)
    layers: list[nn.Module] = [nn.Conv2d(3, 96, 4, 4), ChannelsLastNorm(96)]
    for i, (d, n) in enumerate(zip(widths, depths)):
        if i:
            layers += [ChannelsLastNorm(widths[i - 1]), nn.Conv2d(widths[i - 1], d, 2, 2)]
        layers += [ConvNeXtBlock(d) for _ in range(n)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(768),
                         nn.Linear(768, 1000)).eval()


class DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(),
                                  nn.Conv2d(c_in, 4 * growth, 1, bias=False),
                                  nn.BatchNorm2d(4 * growth), nn.ReLU(),
                                  nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.body(x)], dim=1)


def densenet() -> nn.Module:
    """DenseNet-style: growth 32, dense blocks of 6-12-16 layers with transitions, 224x224."""
    growth, c = 32, 64
    layers: list[nn.Module] = [nn.Conv2d(3, c, 7, 2, 3, bias=False), nn.BatchNorm2d(c),
                               nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    for i, n in enumerate((6, 12, 16)):
        for _ in range(n):
            layers.append(DenseLayer(c, growth))
            c += growth
        if i < 2:
            layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False),
                       nn.AvgPool2d(2)]
            c //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(c, 1000)).eval()


class WindowBlock(nn.Module):
    """Swin-style block: attention inside w×w windows (cyclically shifted by w/2 when
    ``shift``), then an MLP; NHWC tokens."""

    def __init__(self, d: int, heads: int, window: int, shift: bool):
        super().__init__()
        self.heads, self.window, self.shift = heads, window, window // 2 if shift else 0
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        b, h, w, d = x.shape
        s, win = self.shift, self.window
        y = self.norm1(x)
        if s:
            y = torch.roll(y, (-s, -s), dims=(1, 2))
        y = y.view(b, h // win, win, w // win, win, d).permute(0, 1, 3, 2, 4, 5)
        y = y.reshape(-1, win * win, d)
        q, k, v = self.qkv(y).view(y.shape[0], win * win, 3, self.heads, d // self.heads
                                   ).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5
        y = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(-1, win * win, d)
        y = self.proj(y).view(b, h // win, w // win, win, win, d).permute(0, 1, 3, 2, 4, 5)
        y = y.reshape(b, h, w, d)
        if s:
            y = torch.roll(y, (s, s), dims=(1, 2))
        x = x + y
        return x + self.mlp(self.norm2(x))


class PatchMerge(nn.Module):
    """2x2 neighbouring tokens concatenated and projected: half the resolution, twice the width."""

    def __init__(self, d: int):
        super().__init__()
        self.norm, self.reduce = nn.LayerNorm(4 * d), nn.Linear(4 * d, 2 * d, bias=False)

    def forward(self, x):
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]],
                      dim=-1)
        return self.reduce(self.norm(x))


class Swin(nn.Module):
    """Swin-T-like at reduced depth: 4x4 patches, window 7, stages 2-2-2-2, widths 96…768."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 96, 4, 4)
        stages: list[nn.Module] = []
        for i, (d, heads) in enumerate(zip((96, 192, 384, 768), (3, 6, 12, 24))):
            if i:
                stages.append(PatchMerge(d // 2))
            stages += [WindowBlock(d, heads, 7, shift=j % 2 == 1) for j in range(2)]
        self.stages = nn.Sequential(*stages)
        self.norm, self.head = nn.LayerNorm(768), nn.Linear(768, 1000)

    def forward(self, x):
        x = self.stages(self.patch(x).permute(0, 2, 3, 1))
        return self.head(self.norm(x.mean(dim=(1, 2))))


class BertLayer(nn.Module):
    """Post-norm encoder layer with bidirectional SDPA attention and a GELU MLP."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.up, self.down = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = self.norm1(x + self.proj(a))
        return self.norm2(x + self.down(F.gelu(self.up(x))))


class Encoder(nn.Module):
    """BERT-base-like encoder (6 of its 12 layers): token, position and type embeddings, 768
    wide, 12 heads, sequence 128, a pooled classification head."""

    def __init__(self, vocab: int = 30522, d: int = 768, layers: int = 6, heads: int = 12,
                 context: int = 512):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.norm = nn.LayerNorm(d)
        self.layers = nn.Sequential(*[BertLayer(d, heads) for _ in range(layers)])
        self.pool, self.head = nn.Linear(d, d), nn.Linear(d, 2)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.layers(self.norm(self.tokens(ids) + self.positions(positions)))
        return self.head(torch.tanh(self.pool(x[:, 0])))


class Recurrent(nn.Module):
    """A 2-layer LSTM or GRU (hidden 512) over 64 steps of 256 features, a head on the last
    step."""

    def __init__(self, kind: str):
        super().__init__()
        self.rnn = getattr(nn, kind)(256, 512, num_layers=2, batch_first=True)
        self.head = nn.Linear(512, 10)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y[:, -1])


ZOO_MODELS = {
    "mobilenet-v3": (mobilenet_v3, "image224"),
    "convnext": (convnext, "image224"),
    "densenet": (densenet, "image224"),
    "swin": (lambda: Swin().eval(), "image224"),
    "encoder": (lambda: Encoder().eval(), "tokens128"),
    "lstm": (lambda: Recurrent("LSTM").eval(), "sequence64"),
    "gru": (lambda: Recurrent("GRU").eval(), "sequence64"),
}
"""Name → (builder, input kind) for bench/validate_zoo.py."""
