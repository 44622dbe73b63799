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

Those weights (``pretrained=True`` downloads them, ``pretrained=<path>`` reads a
``torch.save`` of the same state dict) were trained on ``(x - mean) / std`` with
ImageNet's mean and std: a pretrained ResNet34 converts its [0, 1] RGB input to
that first, with ``imagenet_input``, an
:class:`~coursekit.models.torch.imagenet.ImageNetInput` (no parameters).  Built
without weights it has no such module.
"""

from __future__ import annotations

import torch
from torch import nn

from ..common import RESNET34_STAGE_BLOCKS as STAGE_BLOCKS
from ..common import WEIGHTS_INPUT, check_imagenet_input, imagenet_input_mode, weights_file
from ..common import resnet34_stage_widths as stage_widths
from .imagenet import check_state, imagenet_input_module, read_state_dict, shapes, weights_source


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
    ``w = stage_widths(width_multiplier)``.  ``imagenet_input`` converts the input
    first, as ImageNet weights expect (see ``coursekit.models.common``); None
    leaves it as it is.
    """

    def __init__(self, in_channels: int = 3, width_multiplier: float = 1.0, imagenet_input: str | None = None):
        super().__init__()
        widths = stage_widths(width_multiplier)
        self.channels = [widths[0]] + widths
        check_imagenet_input(imagenet_input, in_channels)
        # torchvision's weights were trained on ImageNet-normalised input, not [0, 1] RGB (None: no module)
        self.imagenet_input = imagenet_input_module(imagenet_input)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = make_stage(widths[0], widths[0], STAGE_BLOCKS[0], stride=1)
        self.layer2 = make_stage(widths[0], widths[1], STAGE_BLOCKS[1], stride=2)
        self.layer3 = make_stage(widths[1], widths[2], STAGE_BLOCKS[2], stride=2)
        self.layer4 = make_stage(widths[2], widths[3], STAGE_BLOCKS[3], stride=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.imagenet_input is not None:
            x = self.imagenet_input(x)
        stem = self.relu(self.bn1(self.conv1(x)))
        c1 = self.layer1(self.maxpool(stem))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return [stem, c1, c2, c3, c4]


def load_imagenet_resnet34(backbone: ResNet34, pretrained=True) -> ResNet34:
    """Copy torchvision's ImageNet ResNet34 weights (without ``fc``) into ``backbone``.

    The backbone must have the paper's size (width multiplier 1.0) and take
    3-channel images.  ``pretrained=True`` downloads the weights once through
    torchvision, imported here, not at module level, so that the rest of coursekit
    works without it; a path reads them from a file saved with ``torch.save``.
    A missing key or a shape that does not fit is a ValueError naming it.
    """
    if backbone.conv1.in_channels != 3 or backbone.channels[-1] != 512:
        raise ValueError("ImageNet weights exist only for 3 input channels and width_multiplier=1.0, "
                         f"got {backbone.conv1.in_channels} channels and {backbone.channels[-1]} final width")
    path = weights_file(pretrained)
    if path is not None:
        state = read_state_dict(path, "resnet34")
    else:
        try:
            from torchvision.models import ResNet34_Weights
        except ImportError as error:
            raise ImportError("pretrained=True needs torchvision for the ImageNet ResNet34 weights: "
                              "pip install torchvision (Colab has it), or pass pretrained=<path of a weights "
                              "file>") from error
        state = ResNet34_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    check_state(state, shapes(backbone), weights_source(path, "resnet34"))
    backbone.load_state_dict({key: value for key, value in state.items() if not key.startswith("fc.")})
    return backbone


def resnet34(in_channels: int = 3, *, width_multiplier: float = 1.0, pretrained=False,
             input_size=None, imagenet_input: str | None = None) -> ResNet34:
    """A ResNet34 encoder; ``pretrained`` (True, or the path of a local file) loads torchvision's ImageNet weights.

    A pretrained encoder converts its input as those weights expect
    (``imagenet_input="torch"``); see the module docstring.
    """
    mode = imagenet_input_mode(pretrained, imagenet_input, WEIGHTS_INPUT["resnet34", "torch"], in_channels)
    backbone = ResNet34(in_channels, width_multiplier, imagenet_input=mode)
    return load_imagenet_resnet34(backbone, pretrained) if pretrained else backbone
