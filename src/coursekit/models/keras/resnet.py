"""The ResNet34 backbone of the encoder-based U-Nets chapter, in Keras.

The twin of ``coursekit.models.torch.resnet`` (He, Zhang, Ren and Sun, CVPR
2016): a stem (7×7 stride-2 convolution, batch norm, ReLU, 3×3 stride-2 max
pooling), then four stages of 3, 4, 6 and 3 basic blocks with 64, 128, 256
and 512 channels.  Layer names are the torch module paths with dots turned
into underscores (``layer2_0_downsample_0``), after an optional prefix.

Stride-2 layers pad explicitly (``ZeroPadding2D`` then ``padding="valid"``):
TensorFlow's ``"same"`` puts the odd padding pixel at the bottom and right,
PyTorch pads both sides equally, and the two would see shifted windows.  The
max pooling pads with zeros where PyTorch pads with -inf; it follows a ReLU,
so every value is >= 0 and the maximum is the same.

``keras.applications`` has no ResNet34 (only ResNet50 and deeper), so there
are no Keras ImageNet weights to load: build the PyTorch model with
``pretrained=True`` and copy its weights with
``coursekit.models.transfer_weights``.  Those weights expect torchvision's input
(``(x - mean) / std`` with ImageNet's mean and std): build the Keras model with
``imagenet_input="torch"``, which puts that conversion first
(``<prefix>imagenet_input``, see ``keras/imagenet.py``), as the pretrained torch
model has it.
"""

from __future__ import annotations

import keras
from keras import layers

from ..common import RESNET34_STAGE_BLOCKS as STAGE_BLOCKS
from ..common import check_imagenet_input
from ..common import resnet34_stage_widths as stage_widths
from .blocks import batch_norm
from .imagenet import apply_imagenet_input


def conv(x, filters: int, kernel: int, stride: int, name: str):
    """Convolution without bias, padded like PyTorch's ``padding=kernel // 2``."""
    if stride == 1:
        return layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=name)(x)
    x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    return layers.Conv2D(filters, kernel, strides=stride, padding="valid", use_bias=False, name=name)(x)


def basic_block(x, filters: int, stride: int, name: str):
    """Two 3×3 convolutions with batch norm, added to a shortcut, then ReLU."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_downsample_0")(x)
        shortcut = batch_norm(f"{name}_downsample_1")(shortcut)
    y = conv(x, filters, 3, stride, f"{name}_conv1")
    y = layers.ReLU(name=f"{name}_relu1")(batch_norm(f"{name}_bn1")(y))
    y = batch_norm(f"{name}_bn2")(conv(y, filters, 3, 1, f"{name}_conv2"))
    return layers.ReLU(name=f"{name}_relu2")(layers.Add(name=f"{name}_add")([y, shortcut]))


def resnet34_features(x, width_multiplier: float = 1.0, prefix: str = "", imagenet_input: str | None = None) -> list:
    """ResNet34's feature maps at 1/2, 1/4, 1/8, 1/16 and 1/32 of the input's size.

    Builds the layers on tensor ``x``; every layer name starts with ``prefix``
    (``"encoder_"`` inside a U-Net whose torch twin holds it as ``encoder``).
    ``imagenet_input`` ("torch" for torchvision's weights) converts ``x`` first.
    """
    check_imagenet_input(imagenet_input, x.shape[-1])
    # torchvision's weights were trained on ImageNet-normalised input, not [0, 1] RGB (None: no layer)
    x = apply_imagenet_input(x, imagenet_input, f"{prefix}imagenet_input")
    widths = stage_widths(width_multiplier)
    stem = conv(x, widths[0], 7, 2, f"{prefix}conv1")
    stem = layers.ReLU(name=f"{prefix}relu")(batch_norm(f"{prefix}bn1")(stem))
    x = layers.ZeroPadding2D(1, name=f"{prefix}maxpool_pad")(stem)
    x = layers.MaxPooling2D(3, strides=2, name=f"{prefix}maxpool")(x)
    features = [stem]
    for stage, (blocks, filters) in enumerate(zip(STAGE_BLOCKS, widths), start=1):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 1 else 1
            x = basic_block(x, filters, stride, f"{prefix}layer{stage}_{block}")
        features.append(x)
    return features


def refuse_pretrained():
    """Raise the error that explains where ImageNet weights for a Keras ResNet34 come from."""
    raise ValueError("keras.applications has no ResNet34, so there are no Keras ImageNet weights: "
                     "build the torch model with pretrained=True (torchvision's weights) and copy them "
                     "with coursekit.models.transfer_weights(torch_model, keras_model), the Keras model built "
                     "with imagenet_input='torch' as torchvision's weights expect")


def resnet34(in_channels: int = 3, *, width_multiplier: float = 1.0, pretrained=False,
             input_size=None, imagenet_input: str | None = None) -> keras.Model:
    """A ResNet34 encoder as a model with five outputs (1/2 ... 1/32 of the input's size).

    ``pretrained`` raises: Keras has no ImageNet ResNet34 (see the module docstring);
    ``imagenet_input="torch"`` makes the twin of a pretrained torch encoder.
    """
    if pretrained:
        refuse_pretrained()
    height, width = (None, None) if input_size is None else input_size
    inputs = keras.Input((height, width, in_channels), name="image")
    return keras.Model(inputs, resnet34_features(inputs, width_multiplier, imagenet_input=imagenet_input),
                       name="resnet34")
