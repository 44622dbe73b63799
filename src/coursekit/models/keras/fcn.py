"""Chapter 2's fully convolutional networks FCN-32s, FCN-16s and FCN-8s, in Keras.

The twin of ``coursekit.models.torch.fcn`` (read its docstring for the ideas
of Long, Shelhamer and Darrell, 2015): VGG16 convolutions; ``fc6`` a 7×7
and ``fc7`` a 1×1 convolution, 4096 wide, with ReLU and dropout 0.5;
``score_fr`` to class scores; learned ×2 up-samplings (``upscore2``,
``upscore_pool4``) fused with 1×1 scores of pool4 and pool3; a fixed bilinear
up-sampling (``final_upscore``, not trainable) back to the image.

Sizes are handled as in the torch model: the image is padded with zeros on
the bottom and right to a multiple of 32 (:class:`PadToMultiple`) and the
logits are cropped back to it (:class:`CropLike`), so any height and width
works.  ``padding="same"`` equals the torch padding everywhere here: 3×3 and
7×7 convolutions with stride 1, and transposed convolutions with kernel
``2f`` and stride ``f``, which TensorFlow crops by ``f/2`` on every side.

**Pretrained.**  ``pretrained=True`` copies keras.applications' ImageNet VGG16
(``pretrained=<path>``: the same weights from a local ``.h5`` / ``.weights.h5``
file).  Those weights were trained on "caffe" input: ``x * 255``, RGB turned into
BGR, minus ImageNet's mean pixel (103.939, 116.779, 123.68) in BGR order.  So a
pretrained FCN's first layer, ``imagenet_input`` (an
:class:`~coursekit.models.keras.imagenet.ImageNetInput`, no weights), converts the
course's [0, 1] RGB to that, before the padding.  The torch twin's torchvision
weights expect another input ("torch": ImageNet mean and std); a model that
receives weights with ``transfer_weights`` is built with the ``imagenet_input`` of
the weights' source (``imagenet_input="torch"`` here for torchvision's), and
``transfer_weights`` refuses twins whose conversions differ.  Built without
weights, the FCN has no such layer.
"""

from __future__ import annotations

import keras
from keras import layers, ops

# numpy only, but it lives beside the torch model, so importing it imports torch too
from ..common import WEIGHTS_INPUT, bilinear_kernel, check_head, imagenet_input_mode, scaled
from .heads import add_head
from .imagenet import apply_imagenet_input
from .vgg import imagenet_vgg16, load_features, vgg16_features


@keras.saving.register_keras_serializable(package="coursekit")
class PadToMultiple(layers.Layer):
    """Pad with zeros on the bottom and right so that height and width are multiples of ``multiple``."""

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.multiple = multiple

    def call(self, x):
        height, width = ops.shape(x)[1], ops.shape(x)[2]
        return ops.pad(x, [[0, 0], [0, -height % self.multiple], [0, -width % self.multiple], [0, 0]])

    def compute_output_shape(self, input_shape):
        def padded(size):
            return None if size is None else size + -size % self.multiple
        return (input_shape[0], padded(input_shape[1]), padded(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="coursekit")
class CropLike(layers.Layer):
    """Crop ``x`` to the height and width of ``reference``, keeping the top-left corner."""

    def call(self, inputs):
        x, reference = inputs
        return x[:, :ops.shape(reference)[1], :ops.shape(reference)[2], :]

    def compute_output_shape(self, input_shapes):
        x_shape, reference_shape = input_shapes
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[3])


def bilinear_upsampling(x, factor: int, learnable: bool, name: str):
    """A transposed convolution that starts as bilinear interpolation ×``factor`` (no bias)."""
    channels = x.shape[-1]
    layer = layers.Conv2DTranspose(channels, 2 * factor, strides=factor, padding="same", use_bias=False,
                                   trainable=learnable, name=name)
    y = layer(x)
    # torch's in × out × kh × kw -> Keras' kh × kw × out × in
    layer.set_weights([bilinear_kernel(channels, 2 * factor).transpose(2, 3, 1, 0)])
    return y


def fully_connected_as_convolutions(pool5, width_multiplier: float):
    """fc6 (7×7) and fc7 (1×1), 4096 wide, each with ReLU and dropout 0.5."""
    fc_width = scaled(4096, width_multiplier)
    x = layers.Conv2D(fc_width, 7, padding="same", activation="relu", name="fc6")(pool5)
    x = layers.Dropout(0.5, name="drop6")(x)
    x = layers.Conv2D(fc_width, 1, activation="relu", name="fc7")(x)
    return layers.Dropout(0.5, name="drop7")(x)


def fcn(stride: int, in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
        head: str | None = None, pretrained=False, input_size=None,
        imagenet_input: str | None = None) -> keras.Model:
    """FCN with output stride 32, 16 or 8, for any image size. Returns logits unless ``head``.

    ``pretrained``: False, True (keras.applications' ImageNet VGG16, downloaded once)
    or the path of a file with those weights.  A pretrained FCN converts its input as
    they expect (``imagenet_input="caffe"``) unless told otherwise; see the module docstring.
    """
    if stride not in (32, 16, 8):
        raise ValueError(f"FCN's output stride is 32, 16 or 8, got {stride}")
    check_head(head)
    mode = imagenet_input_mode(pretrained, imagenet_input, WEIGHTS_INPUT["vgg16", "keras"], in_channels)
    vgg = imagenet_vgg16(in_channels, width_multiplier, pretrained=pretrained) if pretrained else None
    height, width = (None, None) if input_size is None else input_size
    image = keras.Input((height, width, in_channels), name="image")
    # pretrained weights were trained on "caffe" input (BGR, 0-255, mean subtracted), not [0, 1] RGB: convert first
    x = apply_imagenet_input(image, mode)
    _, _, pool3, pool4, pool5 = vgg16_features(PadToMultiple(32, name="pad")(x), width_multiplier)
    x = fully_connected_as_convolutions(pool5, width_multiplier)
    scores = layers.Conv2D(num_classes, 1, name="score_fr")(x)
    if stride <= 16:
        scores = bilinear_upsampling(scores, 2, learnable=True, name="upscore2")
        scores = layers.Add(name="fuse_pool4")([scores, layers.Conv2D(num_classes, 1, name="score_pool4")(pool4)])
    if stride == 8:
        scores = bilinear_upsampling(scores, 2, learnable=True, name="upscore_pool4")
        scores = layers.Add(name="fuse_pool3")([scores, layers.Conv2D(num_classes, 1, name="score_pool3")(pool3)])
    scores = bilinear_upsampling(scores, stride, learnable=False, name="final_upscore")
    logits = CropLike(name="crop")([scores, image])
    model = keras.Model(image, add_head(logits, head), name=f"fcn{stride}s")
    if vgg is not None:
        copy_vgg16_weights(model, vgg)
    return model


def copy_vgg16_weights(model: keras.Model, vgg: keras.Model) -> None:
    """Copy keras.applications' VGG16: convolutions, and its fc1 and fc2 reshaped into fc6 and fc7.

    Keras flattens the 7×7×512 map row by row, channels last, which is the
    layout of a 7×7 convolution's kernel, so a reshape is all it takes.
    """
    load_features(model, vgg)
    for source, target in (("fc1", "fc6"), ("fc2", "fc7")):
        kernel, bias = vgg.get_layer(source).get_weights()
        layer = model.get_layer(target)
        layer.set_weights([kernel.reshape(layer.kernel.shape), bias])


def fcn32s(in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
           head: str | None = None, pretrained=False, input_size=None,
           imagenet_input: str | None = None) -> keras.Model:
    """FCN-32s: scores of pool5 up-sampled ×32 by fixed bilinear interpolation.

    ``pretrained``: True downloads keras.applications' ImageNet VGG16, a path loads it from a file;
    see :func:`fcn` and the module docstring for the input conversion it brings.
    """
    return fcn(32, in_channels, num_classes, width_multiplier=width_multiplier, head=head,
               pretrained=pretrained, input_size=input_size, imagenet_input=imagenet_input)


def fcn16s(in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
           head: str | None = None, pretrained=False, input_size=None,
           imagenet_input: str | None = None) -> keras.Model:
    """FCN-16s: pool5's scores ×2 (learned) plus pool4's, then ×16 (fixed).

    ``pretrained``: True downloads keras.applications' ImageNet VGG16, a path loads it from a file;
    see :func:`fcn` and the module docstring for the input conversion it brings.
    """
    return fcn(16, in_channels, num_classes, width_multiplier=width_multiplier, head=head,
               pretrained=pretrained, input_size=input_size, imagenet_input=imagenet_input)


def fcn8s(in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
          head: str | None = None, pretrained=False, input_size=None,
          imagenet_input: str | None = None) -> keras.Model:
    """FCN-8s: FCN-16s's fused scores ×2 (learned) plus pool3's, then ×8 (fixed).

    ``pretrained``: True downloads keras.applications' ImageNet VGG16, a path loads it from a file;
    see :func:`fcn` and the module docstring for the input conversion it brings.
    """
    return fcn(8, in_channels, num_classes, width_multiplier=width_multiplier, head=head,
               pretrained=pretrained, input_size=input_size, imagenet_input=imagenet_input)
