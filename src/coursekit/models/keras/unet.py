"""The U-Net family, in Keras: taught in the U-Net chapter.

The same networks, blocks and layer names as ``coursekit.models.torch.unet``
(Ronneberger, Fischer and Brox, 2015); read that module's docstring for the
ideas.  Channels last; the models return logits unless ``head`` is set.

``unet``
    The Keras tutorial's U-Net (``Unet((512, 512, 3), 21)``): same padding,
    nearest up-sampling ×2 then a 2×2 convolution with ReLU, dropout 0.5 after
    the two deepest levels, He-normal initialisation.
``unet_bn``
    Batch norm after every 3×3 convolution, 2×2 transposed convolutions for
    up-sampling.  Batch norm uses PyTorch's defaults (epsilon 1e-5, running
    averages updated by 10 % per step) so the twins compute the same
    function; the Keras tutorial used Keras' defaults (1e-3, 1 %).
``unet_valid``
    The paper's unpadded U-Net: 572×572 in, 388×388 out; the skips are
    cropped by a fixed number of pixels per level (``skip_crop``), which is
    why the model also takes ``input_size=None``.

The size rules are plain Python shared with the PyTorch module, and so are
the names of the stages: ``model.depth`` and ``model.stages`` (stage name ->
the layer whose output it is, see ``unet_sizes.stage_names``) are set on
each model, as the PyTorch twin has them.
"""

from __future__ import annotations

from types import MappingProxyType

import keras
from keras import layers

from ..common import check_head
from ..unet_sizes import check_valid, skip_crop, stage_names, widths
from .blocks import conv_bn_relu, image_input
from .heads import add_head


def paper_init():
    """The paper's initialisation: Gaussian with std sqrt(2 / fan_in), not truncated as Keras' "he_normal".

    A new instance per layer: Keras gives an unseeded instance the same values at every call.
    """
    return keras.initializers.VarianceScaling(2.0, mode="fan_in", distribution="untruncated_normal")


# --- Building blocks --------------------------------------------------------------


def conv_relu(x, filters: int, name: str, padding: str, initializer):
    """3×3 convolution with ReLU; ``"same"`` keeps the size, ``"valid"`` trims a pixel per side."""
    return layers.Conv2D(filters, 3, padding=padding, activation="relu", kernel_initializer=initializer,
                         name=f"{name}_conv")(x)


def upsample_conv(x, filters: int, name: str):
    """Nearest up-sampling ×2, then a 2×2 convolution with ReLU.

    ``padding="same"`` pads an even kernel on the bottom and right only; the
    PyTorch twin pads the same way explicitly.
    """
    x = layers.UpSampling2D(2, name=f"{name}_upsample")(x)
    return layers.Conv2D(filters, 2, padding="same", activation="relu", kernel_initializer="he_normal",
                         name=f"{name}_conv")(x)


def up_conv(x, filters: int, name: str, activation=None, initializer="glorot_uniform"):
    """2×2 transposed convolution with stride 2: doubles the size, sets the channels."""
    return layers.Conv2DTranspose(filters, 2, strides=2, activation=activation, kernel_initializer=initializer,
                                  name=f"{name}_conv")(x)


# --- The network ------------------------------------------------------------------


def assemble(name: str, in_channels: int, input_size, w: list[int], level_convs, up, *,
             num_classes: int, dropout: float, skip_first: bool, crop: bool, head, classifier_init):
    """Contracting path, bottom, expanding path, 1×1 classifier.

    ``level_convs(x, filters, prefix, dropout)`` makes a level's two
    convolutions, ``up(x, filters, prefix)`` its up-sampling; ``crop`` crops
    the skips (unpadded U-Net); ``skip_first`` keeps the tutorials' channel order.
    A same-padded U-Net checks its input size (divisible by ``2**depth``) as
    the torch twin does; the unpadded one is checked by :func:`check_valid`.
    """
    depth = len(w) - 1
    if crop:
        height, width = (None, None) if input_size is None else input_size
        inputs = x = keras.Input((height, width, in_channels), name="image")
    else:
        inputs, x = image_input(in_channels, input_size, 2 ** depth, name)
    skips, stages = [], {}
    for level in range(depth):
        x = stages[f"encoder_{level}"] = level_convs(x, w[level], f"encoder_{level}",
                                                     dropout if level == depth - 1 else 0.0)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"encoder_{level}_pool")(x)
    x = stages["bottom"] = level_convs(x, w[depth], "bottom", dropout)
    for level in reversed(range(depth)):
        x = stages[f"decoder_{level}_up"] = up(x, w[level], f"decoder_{level}_up")
        skip = skips[level]
        if crop:
            skip = layers.Cropping2D(skip_crop(level, depth), name=f"decoder_{level}_crop")(skip)
        x = layers.Concatenate(name=f"decoder_{level}_concat")([skip, x] if skip_first else [x, skip])
        x = stages[f"decoder_{level}"] = level_convs(x, w[level], f"decoder_{level}_convs", 0.0)
    scores = stages["classifier"] = layers.Conv2D(num_classes, 1, kernel_initializer=classifier_init,
                                                  name="classifier")(x)
    return expose_stages(keras.Model(inputs, add_head(scores, head), name=name), depth, stages)


def expose_stages(model: keras.Model, depth: int, stage_outputs: dict) -> keras.Model:
    """Give ``model`` the twins' ``depth`` and ``stages``: each stage's name -> the layer that outputs it.

    Plain attributes on the functional model (the checkpoints save weights
    only); read-only, and not a dict, so that Keras does not track the layers
    a second time.
    """
    producer = {id(layer.output): layer for layer in model.layers}
    model.depth = depth
    model.stages = MappingProxyType({name: producer[id(stage_outputs[name])] for name in stage_names(depth)})
    return model


def two_convs(block):
    """A level from a one-convolution ``block(x, filters, name)``: two of them, dropout where asked."""
    def level_convs(x, filters: int, prefix: str, dropout: float):
        x = block(x, filters, f"{prefix}_0")
        x = block(x, filters, f"{prefix}_1")
        return layers.Dropout(dropout, name=f"{prefix}_dropout")(x) if dropout else x
    return level_convs


# --- Constructors (named in coursekit.models.registry) ---------------------------


def unet(in_channels: int = 3, num_classes: int = 21, *, base_width: int = 64, depth: int = 4,
         dropout: float = 0.5, head: str | None = None, input_size=None) -> keras.Model:
    """The Keras tutorial's U-Net; any height and width divisible by ``2**depth`` (16 by default)."""
    check_head(head)
    block = two_convs(lambda x, filters, name: conv_relu(x, filters, name, "same", "he_normal"))
    return assemble("unet", in_channels, input_size, widths(base_width, depth), block, upsample_conv,
                    num_classes=num_classes, dropout=dropout, skip_first=True, crop=False, head=head,
                    classifier_init="glorot_uniform")


def unet_bn(in_channels: int = 3, num_classes: int = 1, *, base_width: int = 64, depth: int = 4,
            conv_bias: bool = True, head: str | None = None, input_size=None) -> keras.Model:
    """U-Net with batch norm and transposed convolutions; ``conv_bias=True`` as both tutorials."""
    check_head(head)
    block = two_convs(lambda x, filters, name: conv_bn_relu(x, filters, name, conv_bias))
    return assemble("unet_bn", in_channels, input_size, widths(base_width, depth), block, up_conv,
                    num_classes=num_classes, dropout=0.0, skip_first=False, crop=False, head=head,
                    classifier_init="glorot_uniform")


def unet_valid(in_channels: int = 1, num_classes: int = 2, *, base_width: int = 64, depth: int = 4,
               dropout: float = 0.5, head: str | None = None, input_size=None) -> keras.Model:
    """The paper's unpadded U-Net: 572×572 in, 388×388 out; see ``input_size_for`` and the overlap-tile note
    in ``coursekit.models.torch.unet.unet_valid``."""
    check_head(head)
    if input_size is not None:
        check_valid(*input_size, depth)
    block = two_convs(lambda x, filters, name: conv_relu(x, filters, name, "valid", paper_init()))

    def up(x, filters: int, name: str):
        return up_conv(x, filters, name, activation="relu", initializer=paper_init())

    return assemble("unet_valid", in_channels, input_size, widths(base_width, depth), block, up,
                    num_classes=num_classes, dropout=dropout, skip_first=False, crop=True, head=head,
                    classifier_init=paper_init())
