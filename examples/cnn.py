"""A small CIFAR-style CNN (three conv blocks, about 0.3 M parameters) with its example input.

    nexus compile examples/cnn.py:small_cnn --format html -o cnn-report.html
"""

import torch
from torch import nn


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


class SmallCNN(nn.Module):
    """conv-bn-relu-pool ×3 (32, 64, 128 channels), global average pool, a linear classifier."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(_block(3, 32), _block(32, 64), _block(64, 128))
        self.classifier = nn.Linear(128, classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(image).mean(dim=(2, 3)))


def small_cnn() -> tuple[nn.Module, tuple[torch.Tensor]]:
    """The model (random weights, eval mode) and one 32×32 RGB image."""
    torch.manual_seed(0)
    return SmallCNN().eval(), (torch.randn(1, 3, 32, 32),)
