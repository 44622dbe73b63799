"""The VGG16 backbone shared by FCN (chapter 2) and SegNet (chapter 3), in Keras.

The twin of ``coursekit.models.torch.vgg``: five blocks of 3×3 convolutions
with ReLU (64, 128, 256, 512, 512 channels; two, two, three, three, three
convolutions), each ended by a 2×2 max-pooling (Simonyan and Zisserman,
2015).  VGG16-BN adds a batch norm after each convolution.

Layers are named after the torch module path, ``features_<index>`` with
torchvision's indices, which is how ``transfer_weights`` pairs them.
``pretrained=True`` copies the ImageNet weights of
``keras.applications.VGG16`` (downloaded on first use), ``pretrained=<path>``
the same weights from a local ``.h5`` / ``.weights.h5`` file; Keras has no
VGG16-BN, so for the batch-norm variant load torchvision's weights into the
torch twin and copy them with ``transfer_weights``.

Mind the input: keras.applications' VGG16 weights were trained on "caffe" input
(``keras.applications.vgg16.preprocess_input``: [0, 255], BGR, mean pixel
subtracted), torchvision's on [0, 1] RGB standardised with ImageNet's mean and
std.  A pretrained model converts the course's [0, 1] RGB to what its weights
expect in its first layer, ``imagenet_input`` (``keras/imagenet.py``).
"""

from __future__ import annotations

import keras
from keras import layers

# VGG16_BLOCKS: the channels of each convolution, block by block
from ..common import VGG16_BLOCKS, scaled, weights_file
from . import blocks
from .imagenet import application, load_weights_file


def max_pooling(x, name: str):
    return layers.MaxPooling2D(2, name=name)(x)


def vgg16_features(x, width_multiplier: float = 1.0, batch_norm: bool = False, pool=max_pooling) -> list:
    """Apply VGG16's 13 convolutions and 5 poolings to ``x``; return the output of each pooling.

    Layer ``features_<i>`` is module ``features.<i>`` of torchvision's
    ``vgg16`` (or ``vgg16_bn`` with ``batch_norm``).  ``pool(x, name)`` makes
    each pooling; SegNet passes one that also records where the maxima were.
    """
    outputs = []
    index = 0
    for block in VGG16_BLOCKS:
        for width in block:
            x = layers.Conv2D(scaled(width, width_multiplier), 3, padding="same", name=f"features_{index}")(x)
            if batch_norm:
                index += 1
                x = blocks.batch_norm(f"features_{index}")(x)
            x = layers.ReLU(name=f"features_{index + 1}")(x)
            index += 2
        x = pool(x, f"features_{index}")
        outputs.append(x)
        index += 1
    return outputs


def conv_indices() -> list[int]:
    """Indices of VGG16's 13 convolutions in ``features`` (without batch norm)."""
    indices, index = [], 0
    for block in VGG16_BLOCKS:
        for _ in block:
            indices.append(index)
            index += 2
        index += 1
    return indices


def imagenet_vgg16(in_channels: int, width_multiplier: float, include_top: bool = True,
                   pretrained=True) -> keras.Model:
    """keras.applications' VGG16 with ImageNet weights, or a clear error when they do not fit or cannot be had.

    ``pretrained=True`` downloads them on first use; a path (str or ``os.PathLike``)
    loads them from that file (see ``keras/imagenet.py``), for a machine without
    network.  The file holds the model with its classifier (``include_top=True``).
    """
    if in_channels != 3 or width_multiplier != 1.0:
        raise ValueError("pretrained weights need in_channels=3 and width_multiplier=1.0, "
                         f"got in_channels={in_channels}, width_multiplier={width_multiplier}")
    path = weights_file(pretrained)
    if path is not None:
        if not include_top:
            raise ValueError("a VGG16 weights file is read with its classifier (include_top=True)")
        return load_weights_file(application("vgg16"), path, "keras.applications.VGG16(include_top=True)")
    try:
        return keras.applications.VGG16(weights="imagenet", include_top=include_top)
    except Exception as error:  # the download fails in many ways (no network, proxy, disk)
        raise RuntimeError("pretrained=True could not get the ImageNet weights of keras.applications.VGG16 "
                           f"(they are downloaded on first use; is there internet? pretrained=<path of a "
                           f"weights file> loads them from disk): {error}") from error


def load_features(model: keras.Model, vgg: keras.Model) -> None:
    """Copy the 13 convolutions of keras.applications' VGG16 into ``model``'s ``features_<i>``."""
    convolutions = [layer for layer in vgg.layers if isinstance(layer, layers.Conv2D)]
    for index, source in zip(conv_indices(), convolutions):
        model.get_layer(f"features_{index}").set_weights(source.get_weights())



