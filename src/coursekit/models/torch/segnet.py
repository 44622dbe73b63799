"""Chapter 3's encoder-decoders: SegNet, and the Keras tutorial's VGG-SegNet with its bug fixed, in PyTorch.

**SegNet** (Badrinarayanan, Kendall and Cipolla, 2017).  The encoder is
VGG16-BN's 13 convolutions: 3×3, batch norm, ReLU, and a 2×2 max-pooling
after each of the five blocks.  The decoder mirrors it block by block, from
the deepest up: first *unpool*, then convolve (3×3, batch norm, ReLU), the
last convolution of a block narrowing to the width of the next shallower
encoder block, whose indices the next decoder block unpools with.
Unpooling is SegNet's idea: each pooling remembers which of its four inputs
held the maximum, and the matching unpooling puts every value
back at that position and zeros in the other three.  The map it gives is
sparse, and the convolutions that follow fill it in; the boundaries come
back where the encoder saw them, at the cost of storing indices rather than
whole feature maps as U-Net does.  A last 3×3 convolution gives the class
scores at full resolution.

**VGG-SegNet** is the model of a popular Keras tutorial: the same
VGG16 encoder with batch norm (keras.applications' block layout), and a
decoder of 3×3 convolutions with batch norm of the same widths, ended by a
1×1 convolution to the classes followed by batch norm.  Its decoder doubles
the size with plain nearest-neighbour up-sampling (Keras ``UpSampling2D``),
not with the encoder's indices, so unlike SegNet it does not know where the
maxima were.  The tutorial had a worse bug: three of its five up-sampling
layers were written ``MaxPooling2D``, so the decoder kept shrinking and a
512×512 image came out as 8×8×21 scores.  Here all five up-sample, and
512×512 comes out as 512×512.  With 21 classes it has 29,460,329
parameters counting batch-norm statistics, as Keras reports for the tutorial's model.

Both halve the size five times and double it five times, so they take
heights and widths divisible by 32 and raise a ``ValueError`` otherwise.
The encoder is ``features``, laid out as torchvision's ``vgg16_bn``
(``pretrained=True`` loads its ImageNet weights, ``pretrained=<path>`` the same
state dict from a local file); decoder modules are named
``decoder.stage5.0.conv`` …, ``decoder_stage5_0_conv`` in the Keras twin.

Those weights were trained on ``(x - mean) / std`` with ImageNet's mean and std:
a pretrained SegNet starts with ``imagenet_input``, an
:class:`~coursekit.models.torch.imagenet.ImageNetInput` (no parameters) that
converts the course's [0, 1] RGB to that.  Built without weights it has none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import (
    SEGNET_DECODER_BLOCKS,
    WEIGHTS_INPUT,
    check_divisible,
    check_head,
    check_upsampling,
    imagenet_input_mode,
    scaled,
    weights_file,
)
from .blocks import ConvBNReLU
from .heads import apply_head
from .imagenet import imagenet_input_module, weights_source
from .vgg import imagenet_state_dict, load_features, vgg16_features

# from the deepest block up: the widths of each decoder block's convolutions


def decoder(width_multiplier: float) -> nn.ModuleDict:
    """The five decoder blocks, deepest first; each takes the (up-sampled) output of the previous one."""
    blocks = nn.ModuleDict()
    channels = scaled(512, width_multiplier)
    for name, widths in SEGNET_DECODER_BLOCKS:
        layers = []
        for width in widths:
            layers.append(ConvBNReLU(channels, scaled(width, width_multiplier), bias=True))  # as in SegNet
            channels = scaled(width, width_multiplier)
        blocks[name] = nn.Sequential(*layers)
    return blocks


SIZE_MULTIPLE = 32  # five 2×2 poolings


class SegNet(nn.Module):
    """VGG16-BN encoder; decoder that unpools with the encoder's max-pooling indices. Returns logits unless ``head``.

    ``upsampling="nearest"`` is chapter 3's ablation: the same network, whose
    decoder doubles the size by nearest-neighbour up-sampling and ignores the
    indices, so that a comparison isolates what the indices are worth.
    ``imagenet_input`` converts the input first, as ImageNet weights expect (see
    ``coursekit.models.common``); None leaves it as it is.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 21, width_multiplier: float = 1.0,
                 head: str | None = None, upsampling: str = "indices", imagenet_input: str | None = None):
        super().__init__()
        check_head(head)
        check_upsampling(upsampling)
        self.head = head
        self.upsampling = upsampling
        # pretrained weights were trained on ImageNet-normalised input, not [0, 1] RGB: convert first (None: no module)
        self.imagenet_input = imagenet_input_module(imagenet_input)
        self.features = vgg16_features(in_channels, width_multiplier, batch_norm=True, return_indices=True)
        self.unpool = nn.MaxUnpool2d(kernel_size=2, stride=2)
        self.decoder = decoder(width_multiplier)
        self.classifier = nn.Conv2d(scaled(64, width_multiplier), num_classes, kernel_size=3, padding=1)

    def encode(self, x: torch.Tensor):
        """The encoder's output, and for each pooling its indices and the size it pooled."""
        indices, sizes = [], []
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                sizes.append(x.shape[-2:])
                x, where = layer(x)
                indices.append(where)
            else:
                x = layer(x)
        return x, indices, sizes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_divisible(*x.shape[-2:], SIZE_MULTIPLE, "SegNet")
        if self.imagenet_input is not None:
            x = self.imagenet_input(x)
        x, indices, sizes = self.encode(x)
        for block, where, size in zip(self.decoder.values(), reversed(indices), reversed(sizes)):
            if self.upsampling == "indices":
                x = block(self.unpool(x, where, output_size=size))
            else:
                x = block(F.interpolate(x, size=tuple(size), mode="nearest"))
        return apply_head(self.classifier(x), self.head)


class VGGSegNet(nn.Module):
    """The Keras tutorial's VGG-SegNet, fixed: nearest up-sampling where it pooled. Returns logits unless ``head``."""

    def __init__(self, in_channels: int = 3, num_classes: int = 21, width_multiplier: float = 1.0,
                 head: str | None = None, imagenet_input: str | None = None):
        super().__init__()
        check_head(head)
        self.head = head
        # pretrained weights were trained on ImageNet-normalised input, not [0, 1] RGB: convert first (None: no module)
        self.imagenet_input = imagenet_input_module(imagenet_input)
        self.features = vgg16_features(in_channels, width_multiplier, batch_norm=True)
        self.decoder = decoder(width_multiplier)
        self.classifier = nn.Conv2d(scaled(64, width_multiplier), num_classes, kernel_size=1)
        self.classifier_bn = nn.BatchNorm2d(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_divisible(*x.shape[-2:], SIZE_MULTIPLE, "VGG-SegNet")
        if self.imagenet_input is not None:
            x = self.imagenet_input(x)
        x = self.features(x)
        for block in self.decoder.values():
            x = block(F.interpolate(x, scale_factor=2, mode="nearest"))
        return apply_head(self.classifier_bn(self.classifier(x)), self.head)


def load_vgg16_bn(model, state: dict | None, pretrained) -> None:
    """Copy torchvision's ImageNet VGG16-BN ``state`` (if any) into the encoder; errors name where it came from."""
    if state is not None:
        load_features(model.features, state, weights_source(weights_file(pretrained), "vgg16_bn"))


def segnet(in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
           head: str | None = None, pretrained=False, input_size=None,
           upsampling: str = "indices", imagenet_input: str | None = None) -> SegNet:
    """SegNet; ``pretrained`` loads torchvision's ImageNet VGG16-BN into the encoder.

    ``pretrained=True`` downloads the weights, a path loads them from a local
    file; a pretrained SegNet converts its input as they expect
    (``imagenet_input="torch"``, see the module docstring).
    ``upsampling="nearest"`` builds the ablation without indices (same
    parameters).  The model takes any size divisible by 32; a given
    ``input_size`` (height, width) is checked now, as the Keras twin does.
    """
    if input_size is not None:
        check_divisible(*input_size, SIZE_MULTIPLE, "SegNet")
    mode = imagenet_input_mode(pretrained, imagenet_input, WEIGHTS_INPUT["vgg16_bn", "torch"], in_channels)
    state = imagenet_state_dict("vgg16_bn", in_channels, width_multiplier, pretrained) if pretrained else None
    model = SegNet(in_channels, num_classes, width_multiplier, head, upsampling, imagenet_input=mode)
    load_vgg16_bn(model, state, pretrained)
    return model


def vgg_segnet(in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
               head: str | None = None, pretrained=False, input_size=None,
               imagenet_input: str | None = None) -> VGGSegNet:
    """The Keras tutorial's VGG-SegNet with up-sampling fixed; ``head="softmax"`` adds the tutorial's softmax.

    ``pretrained`` (True, or the path of a local file) loads torchvision's ImageNet
    VGG16-BN into the encoder, and the model then converts its input as those
    weights expect (``imagenet_input="torch"``).
    """
    if input_size is not None:
        check_divisible(*input_size, SIZE_MULTIPLE, "VGG-SegNet")
    mode = imagenet_input_mode(pretrained, imagenet_input, WEIGHTS_INPUT["vgg16_bn", "torch"], in_channels)
    state = imagenet_state_dict("vgg16_bn", in_channels, width_multiplier, pretrained) if pretrained else None
    model = VGGSegNet(in_channels, num_classes, width_multiplier, head, imagenet_input=mode)
    load_vgg16_bn(model, state, pretrained)
    return model
