"""The VGG16 backbone shared by FCN (chapter 2) and SegNet (chapter 3), in PyTorch.

VGG16 (Simonyan and Zisserman, 2015) is five blocks of 3×3 convolutions with
ReLU — two, two, three, three and three of them, 64, 128, 256, 512 and 512
channels wide — each block ended by a 2×2 max-pooling that halves the map.
After the five poolings a pixel of the last map stands for a 32×32 patch
of the image, which is why FCN and SegNet both think in multiples of 32.

VGG16-BN puts a batch norm between each convolution and its ReLU; SegNet's
encoder (Badrinarayanan, Kendall and Cipolla, 2017) is that variant.

The layers sit in one ``nn.Sequential`` called ``features`` at the same
indices as in torchvision's ``vgg16`` / ``vgg16_bn`` (convolutions of VGG16
at 0, 2, 5, 7, …, poolings at 4, 9, 16, 23, 30), so torchvision's ImageNet
weights load with ``load_state_dict``.  ``width_multiplier`` scales every
width (64 channels become ``round(64 * m)``) so that the course's quick
profile can run the same architecture narrow on a CPU.

torchvision's weights were trained on standardised images, ``(x - mean) / std``
with ImageNet's per-channel mean and std, not on the course's [0, 1] RGB: a
model that loads them (``pretrained=True``, or ``pretrained=<path>`` for a local
file) converts its input first with ``ImageNetInput`` (``torch/imagenet.py``).
"""

from __future__ import annotations

from torch import nn

# VGG16_BLOCKS: the channels of each convolution, block by block
from ..common import VGG16_BLOCKS, scaled, weights_file
from .imagenet import check_state, read_state_dict, shapes


def vgg16_features(in_channels: int = 3, width_multiplier: float = 1.0, batch_norm: bool = False,
                   return_indices: bool = False) -> nn.Sequential:
    """VGG16's 13 convolutions and 5 poolings, laid out as torchvision's ``features``.

    ``batch_norm`` gives VGG16-BN; ``return_indices`` makes each pooling also
    return where its maxima were, which SegNet's decoder needs.
    """
    modules: list[nn.Module] = []
    channels = in_channels
    for block in VGG16_BLOCKS:
        for width in block:
            out = scaled(width, width_multiplier)
            modules.append(nn.Conv2d(channels, out, kernel_size=3, padding=1))
            if batch_norm:
                modules.append(nn.BatchNorm2d(out))
            modules.append(nn.ReLU(inplace=True))
            channels = out
        modules.append(nn.MaxPool2d(kernel_size=2, stride=2, return_indices=return_indices))
    return nn.Sequential(*modules)


def pool_outputs(features: nn.Sequential, x):
    """Run ``features`` on ``x`` and return the output of each of its five poolings."""
    outputs = []
    for layer in features:
        x = layer(x)
        if isinstance(layer, nn.MaxPool2d):
            outputs.append(x)
    return outputs


def imagenet_state_dict(arch: str, in_channels: int, width_multiplier: float, pretrained=True) -> dict:
    """The ImageNet state dict of torchvision's ``arch`` ("vgg16" or "vgg16_bn").

    ``pretrained=True`` downloads it once through torchvision; a path (str or
    ``os.PathLike``) reads a file saved with ``torch.save`` under torchvision's key
    names instead, for a machine without network.  The weights only fit the
    full-width network on RGB images, so anything else is refused first.
    """
    if in_channels != 3 or width_multiplier != 1.0:
        raise ValueError("pretrained weights need in_channels=3 and width_multiplier=1.0, "
                         f"got in_channels={in_channels}, width_multiplier={width_multiplier}")
    path = weights_file(pretrained)
    if path is not None:
        return read_state_dict(path, arch)
    try:
        from torchvision import models
    except ImportError as error:
        raise ImportError("pretrained=True needs torchvision: `pip install torchvision` "
                          "(Colab has it already), or pass pretrained=<path of a weights file>") from error
    return getattr(models, arch)(weights="DEFAULT").state_dict()


def load_features(features: nn.Sequential, state: dict, source: str = "torchvision's VGG16 weights") -> None:
    """Copy the ``features.*`` entries of a torchvision VGG state dict into ``features``.

    Every key of ``features`` must be there with its shape; the error names the first that is not.
    """
    check_state(state, shapes(features, "features."), source)
    features.load_state_dict({key.removeprefix("features."): value for key, value in state.items()
                              if key.startswith("features.")})
