"""The MobileNet (v1) backbone of the encoder-based U-Nets chapter, in Keras.

The twin of ``coursekit.models.torch.mobilenet`` (Howard et al., 2017): a
3×3 stride-2 convolution with 32 channels, then 13 depthwise separable
blocks (depthwise 3×3 + batch norm + ReLU6, pointwise 1×1 + batch norm +
ReLU6), all thinned by the width multiplier α.  It returns the feature maps
at 1/2, 1/4, 1/8, 1/16 and 1/32 of the input's size.

Layer names are ``keras.applications.MobileNet``'s (``conv1``, ``conv_dw_1``,
``conv_pw_1_bn`` ...) after an optional prefix, so ImageNet weights are copied
by name from the application model (``pretrained=True``); its batch norm uses
epsilon 1e-3, and so do both twins here.

One difference from the application: its stride-2 layers pad one pixel at the
bottom and right only (TensorFlow's ``"same"``), these pad one pixel on every
side, as PyTorch does, so the twins agree.  The pretrained weights only see
their sampling grid shifted by one pixel, which fine-tuning absorbs.

The application's weights were trained on inputs scaled to [-1, 1]
(``keras.applications.mobilenet.preprocess_input``, "tf" mode: ``x * 2 - 1``),
not on the course's [0, 1]: a pretrained encoder's first layer,
``<prefix>imagenet_input`` (an :class:`~coursekit.models.keras.imagenet.ImageNetInput`,
no weights), does that conversion.  ``pretrained=<path>`` loads the weights from
a local ``.h5`` / ``.weights.h5`` file (the application without its classifier)
instead of downloading them.
"""

from __future__ import annotations

import keras
from keras import layers

from ..common import MOBILENET_BLOCKS as BLOCKS
from ..common import MOBILENET_FEATURE_BLOCKS as FEATURE_BLOCKS
from ..common import MOBILENET_STEM, WEIGHTS_INPUT, check_imagenet_input, imagenet_input_mode, scaled, weights_file
from . import blocks
from .imagenet import application, apply_imagenet_input, load_weights_file

IMAGENET_WIDTHS = (0.25, 0.5, 0.75, 1.0)


def batch_norm(name: str):
    """Batch norm with Keras MobileNet's epsilon (its weights were trained with it) and PyTorch's momentum."""
    return blocks.batch_norm(name, epsilon=1e-3)


def pad_for_stride(x, stride: int, name: str):
    """PyTorch's symmetric padding before a stride-2 3×3 layer ("same" already matches at stride 1)."""
    return layers.ZeroPadding2D(1, name=name)(x) if stride == 2 else x


def separable_block(x, filters: int, stride: int, block: int, prefix: str = ""):
    """Depthwise 3×3 + BN + ReLU6, then pointwise 1×1 + BN + ReLU6 (block 1 to 13)."""
    depthwise, pointwise = f"{prefix}conv_dw_{block}", f"{prefix}conv_pw_{block}"
    x = pad_for_stride(x, stride, f"{prefix}conv_pad_{block}")
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same" if stride == 1 else "valid",
                               use_bias=False, name=depthwise)(x)
    x = layers.ReLU(6.0, name=f"{depthwise}_relu")(batch_norm(f"{depthwise}_bn")(x))
    x = layers.Conv2D(filters, 1, use_bias=False, name=pointwise)(x)
    return layers.ReLU(6.0, name=f"{pointwise}_relu")(batch_norm(f"{pointwise}_bn")(x))


def mobilenet_v1_features(x, width_multiplier: float = 1.0, prefix: str = "",
                          imagenet_input: str | None = None) -> list:
    """MobileNet v1's feature maps after blocks 1, 3, 5, 11 and 13 (1/2 ... 1/32 of the input's size).

    Builds the layers on tensor ``x``; every layer name starts with ``prefix``
    (``"encoder_"`` inside a U-Net whose torch twin holds it as ``encoder``).
    ``imagenet_input`` ("tf" for keras.applications' weights) converts ``x`` first.
    """
    check_imagenet_input(imagenet_input, x.shape[-1])
    # keras.applications' MobileNet weights were trained on x * 2 - 1, not [0, 1] RGB (None: no layer)
    x = apply_imagenet_input(x, imagenet_input, f"{prefix}imagenet_input")
    x = pad_for_stride(x, 2, f"{prefix}conv1_pad")
    x = layers.Conv2D(scaled(MOBILENET_STEM, width_multiplier), 3, strides=2, use_bias=False, name=f"{prefix}conv1")(x)
    x = layers.ReLU(6.0, name=f"{prefix}conv1_relu")(batch_norm(f"{prefix}conv1_bn")(x))
    features = []
    for block, (filters, stride) in enumerate(BLOCKS, start=1):
        x = separable_block(x, scaled(filters, width_multiplier), stride, block, prefix)
        if block in FEATURE_BLOCKS:
            features.append(x)
    return features


def check_imagenet_widths(in_channels: int, width_multiplier: float) -> None:
    """Weights exist for 3-channel inputs and α in 0.25, 0.5, 0.75 and 1.0."""
    if in_channels != 3 or width_multiplier not in IMAGENET_WIDTHS:
        raise ValueError(f"ImageNet MobileNet weights exist for 3 input channels and width_multiplier in "
                         f"{IMAGENET_WIDTHS}, got {in_channels} channels and {width_multiplier}")


def load_imagenet_mobilenet(model: keras.Model, width_multiplier: float = 1.0, prefix: str = "",
                            pretrained=True) -> keras.Model:
    """Copy ``keras.applications.MobileNet``'s ImageNet weights into the layers named ``prefix + name``.

    ``pretrained=True``: the application downloads them once (it needs the
    internet; Colab has it).  A path loads them from that ``.h5`` / ``.weights.h5``
    file instead (the application without its classifier, see ``keras/imagenet.py``).
    Weights exist for 3-channel inputs and α in 0.25, 0.5, 0.75 and 1.0.
    """
    check_imagenet_widths(model.inputs[0].shape[-1], width_multiplier)
    path = weights_file(pretrained)
    if path is not None:
        reference = load_weights_file(application("mobilenet", width_multiplier), path,
                                      f"keras.applications.MobileNet(alpha={width_multiplier}, include_top=False)")
    else:
        try:
            reference = application("mobilenet", width_multiplier, weights="imagenet")
        except Exception as error:  # the download fails in many ways: no network, proxy, full disk
            raise RuntimeError("could not get the ImageNet MobileNet weights from keras.applications "
                               "(they are downloaded once; is the internet reachable? pretrained=<path of a "
                               "weights file> loads them from disk)") from error
    for layer in reference.layers:
        if layer.weights:
            model.get_layer(prefix + layer.name).set_weights(layer.get_weights())
    return model


def mobilenet_v1(in_channels: int = 3, *, width_multiplier: float = 1.0, pretrained=False,
                 input_size=None, imagenet_input: str | None = None) -> keras.Model:
    """A MobileNet v1 encoder as a model with five outputs; ``pretrained`` (True or a path) loads ImageNet weights.

    Pretrained, it converts its input as those weights expect (``imagenet_input="tf"``).
    """
    if pretrained:
        check_imagenet_widths(in_channels, width_multiplier)
        weights_file(pretrained)  # a missing file is named before the model is built
    mode = imagenet_input_mode(pretrained, imagenet_input, WEIGHTS_INPUT["mobilenet", "keras"], in_channels)
    height, width = (None, None) if input_size is None else input_size
    inputs = keras.Input((height, width, in_channels), name="image")
    model = keras.Model(inputs, mobilenet_v1_features(inputs, width_multiplier, imagenet_input=mode),
                        name="mobilenet_v1")
    return load_imagenet_mobilenet(model, width_multiplier, pretrained=pretrained) if pretrained else model
