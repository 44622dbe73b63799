"""The MobileNet (v1) backbone of the encoder-based U-Nets chapter, in PyTorch.

MobileNet (Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto and
Adam, "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", 2017) replaces most 3×3 convolutions by *depthwise separable*
ones: a depthwise 3×3 convolution filters each channel on its own, then a
pointwise 1×1 convolution mixes the channels.  For C input and C' output
channels that costs 9·C + C·C' weights instead of 9·C·C', 8 to 9 times fewer
for the widths used here.  The network is:

1. a full 3×3 convolution with stride 2 and 32 channels;
2. 13 depthwise separable blocks (depthwise 3×3 + batch norm + ReLU6, then
   pointwise 1×1 + batch norm + ReLU6) with 64, 128, 128, 256, 256, 512
   (six times), 1024 and 1024 channels; blocks 2, 4, 6 and 12 use stride 2.

The width multiplier α (``width_multiplier``) thins every layer to
``int(α·channels)``, as in the paper.  ``forward`` returns the feature maps
after blocks 1, 3, 5, 11 and 13, at 1/2, 1/4, 1/8, 1/16 and 1/32 of the
input's size.

A depthwise convolution is ``nn.Conv2d(C, C, 3, groups=C)``.  Module names
are those of ``keras.applications.MobileNet`` (``conv1``, ``conv1_bn``,
``conv_dw_1``, ``conv_dw_1_bn``, ``conv_pw_1``, ``conv_pw_1_bn`` ...):
torchvision has no MobileNet v1, so the only ImageNet weights are Keras',
and these names let them reach this model through the Keras twin and
``coursekit.models.transfer_weights``.  Batch norm keeps Keras' epsilon 1e-3
for the same reason (in both twins, so they still compute the same function).

Keras' MobileNet weights were trained on ``x * 2 - 1`` (the "tf" convention),
not on the course's [0, 1] RGB: a torch twin that will receive them is built
with ``imagenet_input="tf"``, which puts an
:class:`~coursekit.models.torch.imagenet.ImageNetInput` first, as the pretrained
Keras model has one.
"""

from __future__ import annotations

import torch
from torch import nn

from ..common import MOBILENET_BLOCKS as BLOCKS
from ..common import MOBILENET_FEATURE_BLOCKS as FEATURE_BLOCKS
from ..common import MOBILENET_STEM, check_imagenet_input, scaled
from ..common import mobilenet_feature_channels as feature_channels
from .imagenet import imagenet_input_module

BN_EPSILON = 1e-3


class MobileNetV1(nn.Module):
    """MobileNet v1 without its classifier; ``forward`` returns five feature maps.

    ``imagenet_input`` converts the input first, as ImageNet weights expect (see
    ``coursekit.models.common``); None leaves it as it is.
    """

    def __init__(self, in_channels: int = 3, width_multiplier: float = 1.0, imagenet_input: str | None = None):
        super().__init__()
        check_imagenet_input(imagenet_input, in_channels)
        # Keras' MobileNet weights were trained on x * 2 - 1, not [0, 1] RGB (None: no module)
        self.imagenet_input = imagenet_input_module(imagenet_input)
        channels = scaled(MOBILENET_STEM, width_multiplier)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=2, padding=1, bias=False)
        self.conv1_bn = nn.BatchNorm2d(channels, eps=BN_EPSILON)
        for block, (filters, stride) in enumerate(BLOCKS, start=1):
            out_channels = scaled(filters, width_multiplier)
            self.add_module(f"conv_dw_{block}", nn.Conv2d(channels, channels, 3, stride=stride, padding=1,
                                                          groups=channels, bias=False))
            self.add_module(f"conv_dw_{block}_bn", nn.BatchNorm2d(channels, eps=BN_EPSILON))
            self.add_module(f"conv_pw_{block}", nn.Conv2d(channels, out_channels, 1, bias=False))
            self.add_module(f"conv_pw_{block}_bn", nn.BatchNorm2d(out_channels, eps=BN_EPSILON))
            channels = out_channels
        self.channels = feature_channels(width_multiplier)
        self.relu6 = nn.ReLU6(inplace=True)

    def separable_block(self, x: torch.Tensor, block: int) -> torch.Tensor:
        """Depthwise 3×3 + BN + ReLU6, then pointwise 1×1 + BN + ReLU6."""
        x = self.relu6(getattr(self, f"conv_dw_{block}_bn")(getattr(self, f"conv_dw_{block}")(x)))
        return self.relu6(getattr(self, f"conv_pw_{block}_bn")(getattr(self, f"conv_pw_{block}")(x)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.imagenet_input is not None:
            x = self.imagenet_input(x)
        x = self.relu6(self.conv1_bn(self.conv1(x)))
        features = []
        for block in range(1, len(BLOCKS) + 1):
            x = self.separable_block(x, block)
            if block in FEATURE_BLOCKS:
                features.append(x)
        return features


def refuse_pretrained():
    """Raise the error that explains where ImageNet weights for a torch MobileNet v1 come from."""
    raise ValueError("torchvision has no MobileNet v1 (only v2 and v3), so there are no torch ImageNet weights "
                     "for it: build the Keras model with pretrained=True (keras.applications.MobileNet) and copy "
                     "its weights with coursekit.models.transfer_weights(keras_model, torch_model), the torch "
                     "model built with imagenet_input='tf' as the Keras weights expect")


def mobilenet_v1(in_channels: int = 3, *, width_multiplier: float = 1.0, pretrained=False,
                 input_size=None, imagenet_input: str | None = None) -> MobileNetV1:
    """A MobileNet v1 encoder.  ``pretrained`` raises: torchvision has no MobileNet v1.

    ``imagenet_input="tf"`` makes the twin of a pretrained Keras encoder (see the module docstring).
    """
    if pretrained:
        refuse_pretrained()
    return MobileNetV1(in_channels, width_multiplier, imagenet_input=imagenet_input)
