"""The U-Net family, in PyTorch: taught in the U-Net chapter.

U-Net (Ronneberger, Fischer and Brox, 2015, "U-Net: Convolutional Networks
for Biomedical Image Segmentation") has a *contracting path* that sees more
and more context, and an *expanding path* that brings the features back to
the input's resolution.  At every resolution level the expanding path
concatenates the contracting path's feature map of the same level (a *skip
connection*), so the decoder gets the fine detail the pooling threw away.

A level of either path is two 3×3 convolutions with ReLU.  Between levels of
the contracting path a 2×2 max-pooling halves the size and the next level
doubles the channels (64, 128, 256, 512, then 1024 at the bottom); each step
of the expanding path up-samples ×2 with a 2×2 convolution that halves the
channels, concatenates the skip and applies two 3×3 convolutions.  A final
1×1 convolution gives the class scores.  Three members of the family:

``unet``
    The widespread Keras tutorial version (``Unet((512, 512, 3), 21)``): same
    padding, so the output has the input's size; up-sampling is nearest ×2
    followed by a 2×2 convolution with ReLU; dropout 0.5 after the two deepest
    levels; He-normal initialisation.  31,033,045 parameters for 3 input
    channels and 21 classes.
``unet_bn``
    The modern habit: each 3×3 convolution is followed by batch norm, and
    up-sampling is a 2×2 transposed convolution with stride 2.  Its two tutorials
    (a Keras ``build_unet`` with one sigmoid output, a PyTorch ``Unet(3, 1)``
    with base width 32) both keep the bias of the convolutions before batch
    norm, although batch norm's shift makes it redundant; ``conv_bias=False``
    removes it.
``unet_valid``
    The paper's network: unpadded ("valid") convolutions, so every 3×3
    convolution trims one pixel at each border, and the skip is cropped to the
    decoder's size before the concatenation.  A 572×572 tile gives a 388×388
    segmentation map (the paper's Fig. 1); 23 convolutional layers in all
    (18 of 3×3, 4 up-convolutions, the 1×1 classifier).

Module names match the Keras layer names of ``coursekit.models.keras.unet``
(``encoder.0.0.conv`` here is ``encoder_0_0_conv`` there), which is how
``transfer_weights`` pairs them.  Levels are numbered from the top: decoder
level ``i`` up-samples to, and takes the skip of, encoder level ``i``.
``model.stages`` names the module of every stage (``encoder_0``, ...,
``bottom``, ..., ``classifier``; see ``unet_sizes.stage_names``), as the
Keras twin names its layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..common import check_divisible, check_head
from ..unet_sizes import check_valid, stage_names, widths
from .blocks import ConvBNReLU
from .heads import apply_head

# --- Building blocks --------------------------------------------------------------


class ConvReLU(nn.Module):
    """3×3 convolution and ReLU; ``padding=1`` keeps the size, ``padding=0`` trims a pixel per side."""

    def __init__(self, in_channels: int, out_channels: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


def double_conv(first: nn.Module, second: nn.Module, dropout: float) -> nn.Sequential:
    """A level: two convolutions, then dropout where asked (the deepest levels)."""
    blocks = [first, second] + ([nn.Dropout(dropout)] if dropout else [])
    return nn.Sequential(*blocks)


class UpsampleConv(nn.Module):
    """Nearest up-sampling ×2, then a 2×2 convolution with ReLU that sets the channels.

    Keras' ``padding="same"`` pads an even kernel on the bottom and right only
    (TensorFlow's rule); the explicit pad reproduces it, so the twins agree.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.relu(self.conv(F.pad(x, (0, 1, 0, 1))))


class UpConv(nn.Module):
    """2×2 transposed convolution with stride 2: doubles the size, sets the channels."""

    def __init__(self, in_channels: int, out_channels: int, relu: bool):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return F.relu(x) if self.relu else x


def center_crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The central ``size`` of a feature map; a no-op for same-padded U-Nets."""
    top = (x.shape[-2] - size[0]) // 2
    left = (x.shape[-1] - size[1]) // 2
    return x[..., top:top + size[0], left:left + size[1]]


class DecoderLevel(nn.Module):
    """Up-sample, concatenate the (cropped) skip, two convolutions.

    ``skip_first`` keeps each tutorial's channel order in the concatenation, so
    its trained weights would load channel for channel.
    """

    def __init__(self, up: nn.Module, convs: nn.Sequential, skip_first: bool):
        super().__init__()
        self.up = up
        self.convs = convs
        self.skip_first = skip_first

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        skip = center_crop(skip, x.shape[-2:])
        return self.convs(torch.cat([skip, x] if self.skip_first else [x, skip], dim=1))


# --- The network ------------------------------------------------------------------


class UNet(nn.Module):
    """Contracting path, bottom, expanding path, 1×1 classifier. Returns logits unless ``head`` is set."""

    def __init__(self, encoder: list[nn.Module], bottom: nn.Module, decoder: list[DecoderLevel],
                 classifier: nn.Conv2d, head: str | None = None, name: str = "unet"):
        super().__init__()
        check_head(head)
        self.encoder = nn.ModuleList(encoder)
        self.bottom = bottom
        self.decoder = nn.ModuleList(decoder)
        self.classifier = classifier
        self.head = head
        self.name = name

    @property
    def depth(self) -> int:
        return len(self.encoder)

    @property
    def stages(self) -> dict[str, nn.Module]:
        """The module of each stage, by the names of :func:`~coursekit.models.unet_sizes.stage_names`."""
        modules = {"bottom": self.bottom, "classifier": self.classifier}
        for level in range(self.depth):
            modules[f"encoder_{level}"] = self.encoder[level]
            modules[f"decoder_{level}_up"] = self.decoder[level].up
            modules[f"decoder_{level}"] = self.decoder[level]
        return {name: modules[name] for name in stage_names(self.depth)}

    def check_input_size(self, height: int, width: int) -> None:
        check_divisible(height, width, 2 ** self.depth, self.name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_size(*x.shape[-2:])
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for level in reversed(range(self.depth)):
            x = self.decoder[level](x, skips[level])
        return apply_head(self.classifier(x), self.head)


class ValidUNet(UNet):
    """The paper's unpadded U-Net: the output is smaller than the input (see :func:`output_size_for`)."""

    def check_input_size(self, height: int, width: int) -> None:
        check_valid(height, width, self.depth)


# --- Initialisation -----------------------------------------------------------------


def _he_normal_truncated_(weight: torch.Tensor) -> None:
    """Keras' ``he_normal``: a normal cut at 2 standard deviations, widened so its std is sqrt(2 / fan_in)."""
    std = math.sqrt(2.0 / weight[0].numel()) / 0.87962566103423978
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


def _init_like_keras_tutorial(model: UNet) -> None:
    """He-normal for the ReLU convolutions, Glorot-uniform for the classifier, zero biases (Keras' defaults)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            _he_normal_truncated_(module.weight)
            nn.init.zeros_(module.bias)
    nn.init.xavier_uniform_(model.classifier.weight)


def _init_like_paper(model: UNet) -> None:
    """Ronneberger et al. (2015): Gaussian weights with std sqrt(2 / N), N the inputs of one unit."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)


# --- Constructors (named in coursekit.models.registry) ---------------------------


def _contracting_path(in_channels: int, w: list[int], padding: int, dropout: float):
    """The encoder levels and the bottom of the plain U-Nets; dropout at the two deepest levels."""
    depth = len(w) - 1
    encoder, channels = [], in_channels
    for level in range(depth):
        level_dropout = dropout if level == depth - 1 else 0.0
        encoder.append(double_conv(ConvReLU(channels, w[level], padding), ConvReLU(w[level], w[level], padding),
                                   level_dropout))
        channels = w[level]
    bottom = double_conv(ConvReLU(w[depth - 1], w[depth], padding), ConvReLU(w[depth], w[depth], padding), dropout)
    return encoder, bottom


def unet(in_channels: int = 3, num_classes: int = 21, *, base_width: int = 64, depth: int = 4,
         dropout: float = 0.5, head: str | None = None, input_size=None) -> UNet:
    """The Keras tutorial's U-Net: same padding, nearest up-sampling + 2×2 conv, dropout at the two deepest levels.

    Takes any height and width divisible by ``2**depth`` (16 by default).
    """
    w = widths(base_width, depth)
    if input_size is not None:  # checked now, as the Keras twin does
        check_divisible(*input_size, 2 ** depth, 'unet')
    encoder, bottom = _contracting_path(in_channels, w, padding=1, dropout=dropout)
    decoder = [DecoderLevel(UpsampleConv(w[level + 1], w[level]),
                            double_conv(ConvReLU(2 * w[level], w[level], 1), ConvReLU(w[level], w[level], 1), 0.0),
                            skip_first=True)
               for level in range(depth)]
    model = UNet(encoder, bottom, decoder, nn.Conv2d(w[0], num_classes, kernel_size=1), head, "unet")
    _init_like_keras_tutorial(model)
    return model


def unet_bn(in_channels: int = 3, num_classes: int = 1, *, base_width: int = 64, depth: int = 4,
            conv_bias: bool = True, head: str | None = None, input_size=None) -> UNet:
    """U-Net with batch norm after every 3×3 convolution and 2×2 transposed convolutions for up-sampling.

    ``conv_bias=True`` keeps the (redundant) bias before batch norm, as both
    seeds do.  Takes any height and width divisible by ``2**depth``.
    """
    w = widths(base_width, depth)
    if input_size is not None:  # checked now, as the Keras twin does
        check_divisible(*input_size, 2 ** depth, 'unet_bn')

    def level_convs(in_ch: int, out_ch: int) -> nn.Sequential:
        return double_conv(ConvBNReLU(in_ch, out_ch, conv_bias), ConvBNReLU(out_ch, out_ch, conv_bias), 0.0)

    encoder = [level_convs(in_channels if level == 0 else w[level - 1], w[level]) for level in range(depth)]
    bottom = level_convs(w[depth - 1], w[depth])
    decoder = [DecoderLevel(UpConv(w[level + 1], w[level], relu=False), level_convs(2 * w[level], w[level]),
                            skip_first=False)
               for level in range(depth)]
    return UNet(encoder, bottom, decoder, nn.Conv2d(w[0], num_classes, kernel_size=1), head, "unet_bn")


def unet_valid(in_channels: int = 1, num_classes: int = 2, *, base_width: int = 64, depth: int = 4,
               dropout: float = 0.5, head: str | None = None, input_size=None) -> ValidUNet:
    """The paper's unpadded U-Net: 572×572 in, 388×388 out (:func:`input_size_for` gives the sizes).

    Overlap-tile strategy (the paper's Fig. 2): the output covers only the
    centre of the input, because the border pixels lack the context the valid
    convolutions need.  To segment a large image, cut it into output tiles of
    ``n`` pixels and feed each with the ``input_size_for(n)`` pixels around
    it, that is ``(input_size_for(n) - n) / 2`` pixels of context on each side
    (92 for the 572/388 tile); where the context falls outside the image,
    mirror the image.  The tiles then join without seams, and the image size
    is limited only by the number of tiles, not by GPU memory.

    Dropout at the end of the contracting path (the two deepest levels) as in
    the paper; it does not give the rate, 0.5 is the rate of the authors'
    released model and of most reimplementations.  The up-convolution is
    followed by a ReLU, as in the released model.
    """
    w = widths(base_width, depth)
    if input_size is not None:  # checked now, as the Keras twin does
        check_valid(*input_size, depth)
    encoder, bottom = _contracting_path(in_channels, w, padding=0, dropout=dropout)
    decoder = [DecoderLevel(UpConv(w[level + 1], w[level], relu=True),
                            double_conv(ConvReLU(2 * w[level], w[level], 0), ConvReLU(w[level], w[level], 0), 0.0),
                            skip_first=False)
               for level in range(depth)]
    model = ValidUNet(encoder, bottom, decoder, nn.Conv2d(w[0], num_classes, kernel_size=1), head, "unet_valid")
    _init_like_paper(model)
    return model
