"""The building blocks every Keras model of the course shares, taught in chapter 1.

Twins of ``coursekit.models.torch.blocks``: the same layers under the same
names (``<name>_conv``, ``<name>_bn``), so that ``transfer_weights`` can copy a
model from one framework to the other and both compute the same function.
"""

from __future__ import annotations

from keras import layers


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
