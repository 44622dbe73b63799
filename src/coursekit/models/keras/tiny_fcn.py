"""Chapter 1's first model: a small fully convolutional network, in Keras.

The same blocks, in the same order and with the same names as
``coursekit.models.torch.tiny_fcn``: three stages of two 3×3 convolutions
with batch norm and ReLU, two max-poolings, a 1×1 classifier and bilinear
up-sampling ×4.  Channels last; returns logits.
"""

from __future__ import annotations

import keras
from keras import layers

from .blocks import conv_bn_relu, image_input

SIZE_MULTIPLE = 4  # two 2×2 poolings


def tiny_fcn(in_channels: int = 3, num_classes: int = 4, *, width: int = 16, input_size=None) -> keras.Model:
    """Three convolution stages, a 1×1 classifier, bilinear up-sampling ×4. Returns logits.

    ``input_size`` (height, width) may be left ``None`` for a model that takes
    any size divisible by 4.
    """
    inputs, x = image_input(in_channels, input_size, SIZE_MULTIPLE, "tiny_fcn")
    x = conv_bn_relu(x, width, "stage1_0")
    x = conv_bn_relu(x, width, "stage1_1")
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = conv_bn_relu(x, 2 * width, "stage2_0")
    x = conv_bn_relu(x, 2 * width, "stage2_1")
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = conv_bn_relu(x, 4 * width, "stage3_0")
    x = conv_bn_relu(x, 4 * width, "stage3_1")
    scores = layers.Conv2D(num_classes, 1, name="classifier")(x)
    logits = layers.UpSampling2D(4, interpolation="bilinear", name="upsample")(scores)
    return keras.Model(inputs, logits, name="tiny_fcn")
