"""The building blocks every Keras model of the course shares, taught in chapter 1.

Twins of ``coursekit.models.torch.blocks``: the same layers under the same
names (``<name>_conv``, ``<name>_bn``), so that ``transfer_weights`` can copy a
model from one framework to the other and both compute the same function.
"""

from __future__ import annotations

import keras
from keras import layers

from ..common import check_divisible


def batch_norm(name: str, epsilon: float = 1e-5):
    """Batch norm with PyTorch's defaults (epsilon 1e-5, running averages moved 10 % per step).

    Keras' own defaults (1e-3 and 1 %) would make the twins differ after
    training.  MobileNet passes ``epsilon=1e-3``, the value its weights were
    trained with.
    """
    return layers.BatchNormalization(epsilon=epsilon, momentum=0.9, name=name)


def conv_bn_relu(x, filters: int, name: str, bias: bool = False):
    """3×3 convolution (same padding), batch norm, ReLU; ``bias`` as in the torch twin's ``ConvBNReLU``."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=bias, name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


@keras.saving.register_keras_serializable(package="coursekit")
class SizeCheck(layers.Layer):
    """Passes the image through; raises a clear ``ValueError`` for a size the model cannot take.

    Without it an unfit size fails deep inside, where a skip connection meets
    a decoder output one pixel smaller, with a TensorFlow shape error.  It sees
    the size when the model is called directly (``model(images)``); ``fit`` and
    ``predict`` trace the model for any size, so with ``input_size=None`` they
    still give TensorFlow's error: pass ``input_size`` to be told when building.
    The torch twins call :func:`coursekit.models.common.check_divisible` in
    ``forward``.
    """

    def __init__(self, multiple: int, model_name: str, **kwargs):
        super().__init__(**kwargs)
        self.multiple = multiple
        self.model_name = model_name

    def call(self, image):
        check_divisible(image.shape[1], image.shape[2], self.multiple, self.model_name)
        return image

    def get_config(self) -> dict:
        return {**super().get_config(), "multiple": self.multiple, "model_name": self.model_name}


def image_input(in_channels: int, input_size, multiple: int, model_name: str):
    """The input tensor and the same tensor after its size check; ``input_size=None`` takes any fit size.

    A given ``input_size`` is checked now, when the model is built.
    """
    height, width = (None, None) if input_size is None else input_size
    check_divisible(height, width, multiple, model_name)
    image = keras.Input((height, width, in_channels), name="image")
    return image, SizeCheck(multiple, model_name, name="size_check")(image)
