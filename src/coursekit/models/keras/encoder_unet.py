"""U-Nets with a pretrained encoder, in Keras: MobileNet-U-Net and ResNet34-U-Net.

The twins of ``coursekit.models.torch.encoder_unet`` (read its docstring for
the design): the same blocks, in the same order, with the same names
(``encoder_layer1_0_conv1``, ``decoder16_deconv2`` ...).  Channels last;
both return logits at the input's size for sizes divisible by 32.

**MobileNet-U-Net**: MobileNet v1 encoder (Howard et al., 2017), a U-Net
decoder that up-samples ×2, concatenates the encoder's features at 1/16,
1/8, 1/4 and 1/2 of the input's size and applies conv + BN + ReLU, then one
more up-sampling stage to the full size (the popular Keras version stops at
half size) and a 3×3 classifier.  ``pretrained=True`` copies
``keras.applications.MobileNet``'s ImageNet weights into the encoder
(``pretrained=<path>``: from a local ``.h5`` / ``.weights.h5`` file).  They were
trained on ``x * 2 - 1`` ("tf" input), so the pretrained encoder's first layer,
``encoder_imagenet_input``, converts the course's [0, 1] RGB to that.

**ResNet34-U-Net**: ResNet34 encoder (He et al., 2016) with LinkNet's
decoder (Chaurasia and Culurciello, 2017), whose outputs are added to the
encoder's features.  Keras has no ImageNet ResNet34, so ``pretrained=True``
raises; copy torchvision's weights from the torch twin with
``transfer_weights``, into a model built with ``imagenet_input="torch"`` so that
it converts its input as those weights expect (the pretrained torch twin does;
``transfer_weights`` refuses twins whose conversions differ).  Without
pretrained weights (and ``imagenet_input``) neither model converts anything.

Transposed convolutions are written so that they equal PyTorch's.  Torch's
``ConvTranspose2d(3, stride=2, padding=1, output_padding=1)`` keeps rows
1 to 2n of the full 2n + 1 output, while Keras' ``padding="same"`` keeps rows
0 to 2n - 1, one pixel off; so the Keras layer uses ``padding="valid"`` (the
full output) and crops the first row and column.
"""

from __future__ import annotations

import keras
from keras import layers

from ..common import (
    WEIGHTS_INPUT,
    check_head,
    imagenet_input_mode,
    mobilenet_feature_channels,
    resnet34_stage_widths,
    weights_file,
)
from .blocks import batch_norm, conv_bn_relu, image_input
from .heads import add_head
from .mobilenet import check_imagenet_widths, load_imagenet_mobilenet, mobilenet_v1_features
from .resnet import refuse_pretrained, resnet34_features

SIZE_MULTIPLE = 32  # five stride-2 steps in both encoders


def upsample_and_concatenate(x, skip, name: str):
    """Nearest-neighbour up-sampling ×2, then the encoder's features of that size as more channels."""
    x = layers.UpSampling2D(2, name=f"{name}_up")(x)
    return layers.Concatenate(name=f"{name}_concat")([x, skip])


def mobilenet_unet(in_channels: int = 3, num_classes: int = 2, *, width_multiplier: float = 1.0,
                   head: str | None = None, pretrained=False, input_size=None,
                   imagenet_input: str | None = None) -> keras.Model:
    """MobileNet-U-Net; ``pretrained`` loads keras.applications' ImageNet MobileNet into the encoder.

    ``pretrained=True`` downloads the weights, a path loads them from a local file;
    the pretrained encoder converts its input as they expect (``imagenet_input="tf"``).
    """
    check_head(head)
    if pretrained:
        check_imagenet_widths(in_channels, width_multiplier)
        weights_file(pretrained)  # a missing file is named before the model is built
    mode = imagenet_input_mode(pretrained, imagenet_input, WEIGHTS_INPUT["mobilenet", "keras"], in_channels)
    inputs, image = image_input(in_channels, input_size, SIZE_MULTIPLE, "mobilenet_unet")
    f2, f4, f8, f16, f32 = mobilenet_v1_features(image, width_multiplier, prefix="encoder_", imagenet_input=mode)
    c2, c4, c8, c16, _ = mobilenet_feature_channels(width_multiplier)
    x = conv_bn_relu(upsample_and_concatenate(f32, f16, "decode16"), c16, "decode16")
    x = conv_bn_relu(upsample_and_concatenate(x, f8, "decode8"), c8, "decode8")
    x = conv_bn_relu(upsample_and_concatenate(x, f4, "decode4"), c4, "decode4")
    x = conv_bn_relu(upsample_and_concatenate(x, f2, "decode2"), c2, "decode2")
    x = conv_bn_relu(layers.UpSampling2D(2, name="decode1_up")(x), c2 // 2, "decode1")
    logits = layers.Conv2D(num_classes, 3, padding="same", name="classifier")(x)
    model = keras.Model(inputs, add_head(logits, head), name="mobilenet_unet")
    return load_imagenet_mobilenet(model, width_multiplier, "encoder_", pretrained) if pretrained else model


def transposed_conv_x2(x, filters: int, name: str):
    """PyTorch's ``ConvTranspose2d(3, stride=2, padding=1, output_padding=1)`` without bias: size n -> 2n."""
    x = layers.Conv2DTranspose(filters, 3, strides=2, padding="valid", use_bias=False, name=name)(x)
    return layers.Cropping2D(((1, 0), (1, 0)), name=f"{name}_crop")(x)


def decoder_block(x, filters: int, name: str):
    """LinkNet's block: 1×1 conv to C/4, 3×3 transposed conv ×2, 1×1 conv to ``filters``; each + BN + ReLU."""
    middle = max(1, x.shape[-1] // 4)
    x = layers.Conv2D(middle, 1, use_bias=False, name=f"{name}_conv1")(x)
    x = layers.ReLU(name=f"{name}_relu1")(batch_norm(f"{name}_bn1")(x))
    x = transposed_conv_x2(x, middle, f"{name}_deconv2")
    x = layers.ReLU(name=f"{name}_relu2")(batch_norm(f"{name}_bn2")(x))
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv3")(x)
    return layers.ReLU(name=f"{name}_relu3")(batch_norm(f"{name}_bn3")(x))


def resnet34_unet(in_channels: int = 3, num_classes: int = 2, *, width_multiplier: float = 1.0,
                  head: str | None = None, pretrained=False, input_size=None,
                  imagenet_input: str | None = None) -> keras.Model:
    """ResNet34-U-Net.  ``pretrained`` raises: Keras has no ImageNet ResNet34 (copy torch's weights).

    ``imagenet_input="torch"`` builds the twin that receives a pretrained torch model's weights.
    """
    if pretrained:
        refuse_pretrained()
    check_head(head)
    inputs, image = image_input(in_channels, input_size, SIZE_MULTIPLE, "resnet34_unet")
    _, e4, e8, e16, e32 = resnet34_features(image, width_multiplier, prefix="encoder_", imagenet_input=imagenet_input)
    c4, c8, c16, _ = resnet34_stage_widths(width_multiplier)
    d = layers.Add(name="skip16")([decoder_block(e32, c16, "decoder16"), e16])
    d = layers.Add(name="skip8")([decoder_block(d, c8, "decoder8"), e8])
    d = layers.Add(name="skip4")([decoder_block(d, c4, "decoder4"), e4])
    d = decoder_block(d, c4, "decoder2")
    d = layers.Conv2DTranspose(c4 // 2, 3, strides=2, activation="relu", name="final_deconv")(d)  # 2n + 1
    d = layers.Conv2D(c4 // 2, 3, activation="relu", name="final_conv")(d)  # 2n - 1
    logits = layers.Conv2DTranspose(num_classes, 2, name="classifier")(d)  # 2n
    return keras.Model(inputs, add_head(logits, head), name="resnet34_unet")
