"""Chapter 1's first model: a small fully convolutional network, in PyTorch.

Read it beside chapter 1, "A first model".  Three stages of two 3×3
convolutions (each followed by batch norm and ReLU) see larger and larger
neighbourhoods; two max-poolings between them shrink the feature map by 4;
a 1×1 convolution turns each feature vector into class scores; bilinear
up-sampling brings the scores back to the input's size.  Nothing in it
depends on the image size, so it takes any height and width divisible by 4.

Module names match the Keras layer names (``stage1.0.conv`` here is
``stage1_0_conv`` there), which is how ``transfer_weights`` pairs them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import check_divisible
from .blocks import ConvBNReLU

SIZE_MULTIPLE = 4  # two 2×2 poolings


class TinyFCN(nn.Module):
    """Three convolution stages, a 1×1 classifier, bilinear up-sampling ×4. Returns logits."""

    def __init__(self, in_channels: int = 3, num_classes: int = 4, *, width: int = 16):
        super().__init__()
        self.stage1 = nn.Sequential(ConvBNReLU(in_channels, width), ConvBNReLU(width, width))
        self.stage2 = nn.Sequential(ConvBNReLU(width, 2 * width), ConvBNReLU(2 * width, 2 * width))
        self.stage3 = nn.Sequential(ConvBNReLU(2 * width, 4 * width), ConvBNReLU(4 * width, 4 * width))
        self.pool = nn.MaxPool2d(2)
        self.classifier = nn.Conv2d(4 * width, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        check_divisible(height, width, SIZE_MULTIPLE, "tiny_fcn")
        x = self.stage1(x)             # full resolution
        x = self.stage2(self.pool(x))  # 1/2
        x = self.stage3(self.pool(x))  # 1/4
        scores = self.classifier(x)
        return F.interpolate(scores, size=(height, width), mode="bilinear", align_corners=False)


def tiny_fcn(in_channels: int = 3, num_classes: int = 4, *, width: int = 16, input_size=None) -> TinyFCN:
    """Chapter 1's model; any size divisible by 4, a given ``input_size`` checked now, as in Keras."""
    if input_size is not None:
        check_divisible(*input_size, SIZE_MULTIPLE, "tiny_fcn")
    return TinyFCN(in_channels, num_classes, width=width)
