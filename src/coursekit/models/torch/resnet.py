"""The ResNet34 backbone of the encoder-based U-Nets chapter, in PyTorch.

ResNet (He, Zhang, Ren and Sun, "Deep Residual Learning for Image
Recognition", CVPR 2016) learns residuals: each block computes
``relu(x + F(x))``, so a block that has nothing to add can stay close to
the identity and very deep networks still train.  ResNet34 is:

1. a stem: 7×7 convolution with stride 2, batch norm, ReLU, then 3×3 max
   pooling with stride 2 (the image shrinks by 4 before any block);
2. four stages of *basic blocks* (two 3×3 convolutions with batch norm),
   3, 4, 6 and 3 blocks with 64, 128, 256 and 512 channels; the first
   block of stages 2-4 halves the size with a stride-2 convolution, and
   its shortcut then needs a 1×1 stride-2 convolution (``downsample``) so
   that the two branches can be added.

A segmentation network uses it as an encoder: ``forward`` returns the
feature maps at 1/2, 1/4, 1/8, 1/16 and 1/32 of the input's size instead of
class scores (the classifier ``fc`` is left out).

Module names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0`` ...), so torchvision's ImageNet weights load with
``load_state_dict``; the Keras twin names its layers ``layer1_0_conv1``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..common import RESNET34_STAGE_BLOCKS as STAGE_BLOCKS
from ..common import resnet34_stage_widths as stage_widths


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm, added to a shortcut, then ReLU.

    The shortcut is the input itself, or a 1×1 convolution with batch norm
    when the block changes the size or the number of channels.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        residual = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(residual + shortcut)


def make_stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` basic blocks; only the first may change the size and the channels."""
    layers = [BasicBlock(in_channels, out_channels, stride)]
    layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet34(nn.Module):
    """ResNet34 without its classifier; ``forward`` returns five feature maps.

    The features are at 1/2 (stem, before pooling), 1/4, 1/8, 1/16 and 1/32 of
    the input's size, with ``channels`` = (w0, w0, w1, w2, w3) where
    ``w = stage_widths(width_multiplier)``.
    """

    def __init__(self, in_channels: int = 3, width_multiplier: float = 1.0):
        super().__init__()
        widths = stage_widths(width_multiplier)
        self.channels = [widths[0]] + widths
        self.conv1 = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = make_stage(widths[0], widths[0], STAGE_BLOCKS[0], stride=1)
        self.layer2 = make_stage(widths[0], widths[1], STAGE_BLOCKS[1], stride=2)
        self.layer3 = make_stage(widths[1], widths[2], STAGE_BLOCKS[2], stride=2)
        self.layer4 = make_stage(widths[2], widths[3], STAGE_BLOCKS[3], stride=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stem = self.relu(self.bn1(self.conv1(x)))
        c1 = self.layer1(self.maxpool(stem))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return [stem, c1, c2, c3, c4]


def load_imagenet_resnet34(backbone: ResNet34) -> ResNet34:
    """Copy torchvision's ImageNet ResNet34 weights (without ``fc``) into ``backbone``.

    The backbone must have the paper's size (width multiplier 1.0) and take
    3-channel images.  torchvision is imported here, not at module level, so
    the rest of coursekit works without it; it downloads the weights once.
    """
    if backbone.conv1.in_channels != 3 or backbone.channels[-1] != 512:
        raise ValueError("ImageNet weights exist only for 3 input channels and width_multiplier=1.0, "
                         f"got {backbone.conv1.in_channels} channels and {backbone.channels[-1]} final width")
    try:
        from torchvision.models import ResNet34_Weights
    except ImportError as error:
        raise ImportError("pretrained=True needs torchvision for the ImageNet ResNet34 weights: "
                          "pip install torchvision (Colab has it)") from error
    state = ResNet34_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    backbone.load_state_dict({key: value for key, value in state.items() if not key.startswith("fc.")})
    return backbone


def resnet34(in_channels: int = 3, *, width_multiplier: float = 1.0, pretrained: bool = False,
             input_size=None) -> ResNet34:
    """A ResNet34 encoder; ``pretrained=True`` loads torchvision's ImageNet weights."""
    backbone = ResNet34(in_channels, width_multiplier)
    return load_imagenet_resnet34(backbone) if pretrained else backbone
