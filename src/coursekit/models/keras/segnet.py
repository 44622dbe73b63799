"""Chapter 3's encoder-decoders: SegNet, and the Keras tutorial's VGG-SegNet with its bug fixed, in Keras.

The twin of ``coursekit.models.torch.segnet``; read its docstring for the
architectures.  In short: **SegNet** (Badrinarayanan, Kendall and Cipolla,
2017) is a VGG16-BN encoder whose five max-poolings remember where each
maximum was, and a mirrored decoder that *unpools* with those positions —
every value goes back where its maximum came from, zeros elsewhere — before
its 3×3 convolutions; a 3×3 convolution gives the class scores.

Keras has no unpooling layer, so this file writes the pair:
:class:`MaxPoolingWithArgmax` wraps ``tf.nn.max_pool_with_argmax``, which
returns the maxima and their positions as flat indices into the input
tensor, and :class:`MaxUnpooling2D` scatters the values back to those
positions in a tensor of the input's shape.  They need the TensorFlow
backend.

**VGG-SegNet**, a popular Keras tutorial's model, decodes with ``UpSampling2D`` (nearest
neighbour) instead of indices, and ends with a 1×1 convolution and batch
norm.  The tutorial wrote ``MaxPooling2D`` in three of the five places where
``UpSampling2D`` belongs, so a 512×512 image gave 8×8×21 scores; here it
gives 512×512×21, with the tutorial's 29,460,329 parameters (21 classes,
batch-norm statistics counted).

Both take heights and widths divisible by 32 (``ValueError`` otherwise).
Layers are named after the torch twin's modules: ``features_<i>`` at
torchvision's ``vgg16_bn`` indices, ``decoder_stage5_0_conv`` ….  Keras has
no ImageNet VGG16-BN; for pretrained weights build the torch twin with
``pretrained=True`` and copy it over with ``transfer_weights`` into a model
built with ``imagenet_input="torch"``: torchvision's weights were trained on
``(x - mean) / std`` with ImageNet's mean and std, and that option makes the
first layer (``imagenet_input``, see ``keras/imagenet.py``) convert the course's
[0, 1] RGB to it, as the pretrained torch twin does.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from ..common import SEGNET_DECODER_BLOCKS, check_head, check_imagenet_input, check_upsampling, scaled
from .blocks import batch_norm, conv_bn_relu, image_input
from .heads import add_head
from .imagenet import apply_imagenet_input
from .vgg import vgg16_features

SIZE_MULTIPLE = 32  # five 2×2 poolings


def _halved(size):
    return None if size is None else size // 2


@keras.saving.register_keras_serializable(package="coursekit")
class MaxPoolingWithArgmax(layers.Layer):
    """2×2 max-pooling that also returns, for each maximum, its flat index in the input tensor."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # XLA has no kernel for MaxPoolWithArgmax; this keeps Keras' jit_compile="auto" off
        self.supports_jit = False

    def call(self, x):
        _, argmax = tf.nn.max_pool_with_argmax(x, ksize=2, strides=2, padding="VALID",
                                               include_batch_in_index=True)
        # The values come from a plain max-pooling: TensorFlow's graph optimiser moves a ReLU
        # from before a lone max-pooling to after it, which breaks the argmax output (it then
        # drops all its optimisations, with a warning).  Two consumers of the ReLU stop that.
        values = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID")
        return values, argmax

    def compute_output_spec(self, x):
        shape = (x.shape[0], _halved(x.shape[1]), _halved(x.shape[2]), x.shape[3])
        return keras.KerasTensor(shape, dtype=x.dtype), keras.KerasTensor(shape, dtype="int64")


@keras.saving.register_keras_serializable(package="coursekit")
class MaxUnpooling2D(layers.Layer):
    """Put each value back at the position its argmax names, in a map twice as high and wide; zeros elsewhere."""

    def call(self, inputs):
        values, argmax = inputs
        shape = tf.shape(values, out_type=tf.int64)
        unpooled_shape = tf.stack([shape[0], 2 * shape[1], 2 * shape[2], shape[3]])
        flat = tf.scatter_nd(tf.reshape(argmax, [-1, 1]), tf.reshape(values, [-1]),
                             tf.reduce_prod(unpooled_shape, keepdims=True))
        return tf.reshape(flat, unpooled_shape)

    def compute_output_shape(self, input_shapes):
        shape = input_shapes[0]
        return (shape[0], None if shape[1] is None else 2 * shape[1],
                None if shape[2] is None else 2 * shape[2], shape[3])


def decoder_block(x, name: str, widths, width_multiplier: float):
    for position, width in enumerate(widths):
        x = conv_bn_relu(x, scaled(width, width_multiplier), f"decoder_{name}_{position}", bias=True)  # as SegNet
    return x


def check_not_pretrained(pretrained) -> None:
    if pretrained:
        raise ValueError("keras.applications has no ImageNet VGG16-BN: build the torch model with "
                         "pretrained=True and copy its weights with coursekit.models.transfer_weights into a "
                         "Keras model built with imagenet_input='torch'")


def segnet(in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
           head: str | None = None, pretrained=False, input_size=None,
           upsampling: str = "indices", imagenet_input: str | None = None) -> keras.Model:
    """SegNet: VGG16-BN encoder, decoder unpooling with the encoder's argmax. Returns logits unless ``head``.

    ``upsampling="nearest"`` is chapter 3's ablation: the same layers, but the
    decoder up-samples by nearest neighbour and never sees the indices.
    ``imagenet_input="torch"`` builds the twin that receives a pretrained torch
    SegNet's weights (see the module docstring).
    """
    check_head(head)
    check_not_pretrained(pretrained)
    check_upsampling(upsampling)
    check_imagenet_input(imagenet_input, in_channels)
    image, x = image_input(in_channels, input_size, SIZE_MULTIPLE, "SegNet")
    # torchvision's weights were trained on ImageNet-normalised input, not [0, 1] RGB (None: no layer)
    x = apply_imagenet_input(x, imagenet_input)
    if upsampling == "nearest":
        x = vgg16_features(x, width_multiplier, batch_norm=True)[-1]
        for name, widths in SEGNET_DECODER_BLOCKS:
            x = layers.UpSampling2D(2, name=f"upsample_{name}")(x)
            x = decoder_block(x, name, widths, width_multiplier)
        logits = layers.Conv2D(num_classes, 3, padding="same", name="classifier")(x)
        return keras.Model(image, add_head(logits, head), name="segnet_nearest")
    argmaxes = []

    def pool_with_argmax(x, name):
        values, argmax = MaxPoolingWithArgmax(name=name)(x)
        argmaxes.append(argmax)
        return values

    x = vgg16_features(x, width_multiplier, batch_norm=True, pool=pool_with_argmax)[-1]
    for (name, widths), argmax in zip(SEGNET_DECODER_BLOCKS, reversed(argmaxes)):
        x = MaxUnpooling2D(name=f"unpool_{name}")([x, argmax])
        x = decoder_block(x, name, widths, width_multiplier)
    logits = layers.Conv2D(num_classes, 3, padding="same", name="classifier")(x)
    return keras.Model(image, add_head(logits, head), name="segnet")


def vgg_segnet(in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
               head: str | None = None, pretrained=False, input_size=None,
               imagenet_input: str | None = None) -> keras.Model:
    """The Keras tutorial's VGG-SegNet with ``UpSampling2D`` where it had ``MaxPooling2D``. Returns logits.

    ``head="softmax"`` ends it with the tutorial's softmax.  ``imagenet_input="torch"``
    builds the twin that receives a pretrained torch VGG-SegNet's weights.
    """
    check_head(head)
    check_not_pretrained(pretrained)
    check_imagenet_input(imagenet_input, in_channels)
    image, x = image_input(in_channels, input_size, SIZE_MULTIPLE, "VGG-SegNet")
    # torchvision's weights were trained on ImageNet-normalised input, not [0, 1] RGB (None: no layer)
    x = apply_imagenet_input(x, imagenet_input)
    x = vgg16_features(x, width_multiplier, batch_norm=True)[-1]
    for name, widths in SEGNET_DECODER_BLOCKS:
        x = layers.UpSampling2D(2, name=f"upsample_{name}")(x)  # the tutorial's bug: MaxPooling2D, three times
        x = decoder_block(x, name, widths, width_multiplier)
    x = layers.Conv2D(num_classes, 1, name="classifier")(x)
    logits = batch_norm("classifier_bn")(x)
    return keras.Model(image, add_head(logits, head), name="vgg_segnet")
