"""The building block every PyTorch model of the course shares, taught in chapter 1.

A 3×3 convolution with same padding, batch normalisation, then a ReLU: the
tiny FCN of chapter 1, SegNet's decoder (chapter 3), the U-Nets (chapter 4) and
the encoder U-Nets' decoders are stacks of it.  The Keras twin is
``coursekit.models.keras.blocks.conv_bn_relu``, with the same layer names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Module):
    """3×3 convolution (same padding), batch norm, ReLU.

    ``bias=False`` by default: batch norm subtracts the mean and adds its own
    shift, so a bias before it is a parameter that learns nothing.  SegNet and
    the tutorials' U-Nets keep one (``bias=True``) to match their papers' and the
    tutorials' parameter counts.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=bias)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))
