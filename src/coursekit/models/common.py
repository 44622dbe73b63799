"""What the models of both frameworks share and that needs neither framework."""

from __future__ import annotations

import os

import numpy as np

HEADS = (None, "softmax", "sigmoid")


def check_head(head) -> None:
    """Models return logits; ``head`` adds a tutorial's activation where a chapter reproduces one."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")


SEGNET_UPSAMPLINGS = ("indices", "nearest")


def check_upsampling(upsampling: str) -> None:
    """SegNet's decoder up-samples with the encoder's pooling indices, or (the ablation) by nearest neighbour."""
    if upsampling not in SEGNET_UPSAMPLINGS:
        raise ValueError(f"upsampling must be one of {', '.join(map(repr, SEGNET_UPSAMPLINGS))}, "
                         f"got {upsampling!r}")


def check_divisible(height, width, multiple: int, model_name: str) -> None:
    """Raise a ValueError unless height and width are multiples of ``multiple``; ``None`` (not known yet) passes.

    The one size check of every model, in both frameworks (the Keras models
    run it in a ``SizeCheck`` layer).  Encoder-decoder models halve the size at
    every pooling and double it back: a size that does not divide leaves a
    skip and its decoder map a pixel apart.
    """
    if any(size is not None and size % multiple for size in (height, width)):
        raise ValueError(f"{model_name} needs a height and width divisible by {multiple}, got {height}×{width}")


def scaled(channels: int, width_multiplier: float) -> int:
    """A width times the multiplier, rounded, never below one channel."""
    return max(1, round(channels * width_multiplier))


def bilinear_kernel(channels: int, kernel_size: int) -> np.ndarray:
    """Weights of a transposed convolution that up-samples each channel bilinearly.

    For a stride ``f`` use ``kernel_size = 2f`` (and padding ``f/2``): the
    result equals bilinear interpolation with half-pixel centres (PyTorch's
    ``align_corners=False``) away from the border.  Shape ``channels ×
    channels × k × k``; channel ``c`` only feeds channel ``c``, so the layout
    is the same read as (in, out) or (out, in).  Used by both frameworks'
    FCNs (chapter 2).
    """
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1 - np.abs(np.arange(kernel_size) - centre) / factor
    weights = np.zeros((channels, channels, kernel_size, kernel_size), dtype=np.float32)
    weights[np.arange(channels), np.arange(channels)] = np.outer(taps, taps)
    return weights


# --- The architectures' tables, the same for both frameworks' twins ---------------------------------

# VGG16 (chapters 2 and 3): channels of each convolution, block by block; every block ends with a pooling
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

# SegNet's decoder (chapter 3), from the deepest block up: the widths of each block's convolutions
SEGNET_DECODER_BLOCKS = (("stage5", (512, 512, 512)), ("stage4", (512, 512, 256)), ("stage3", (256, 256, 128)),
                         ("stage2", (128, 64)), ("stage1", (64,)))

# ResNet34 (the encoder U-Net of chapter 7): residual blocks per stage and the stages' channels
RESNET34_STAGE_BLOCKS = (3, 4, 6, 3)
RESNET34_STAGE_WIDTHS = (64, 128, 256, 512)

# MobileNet v1: (pointwise channels, stride of the depthwise convolution) of blocks 1 to 13, its stem's
# channels, and the blocks whose outputs an encoder U-Net takes as features
MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
MOBILENET_STEM = 32
MOBILENET_FEATURE_BLOCKS = (1, 3, 5, 11, 13)


def resnet34_stage_widths(width_multiplier: float = 1.0) -> list[int]:
    """Channels of ResNet34's four stages: 64, 128, 256, 512 times the multiplier."""
    return [scaled(width, width_multiplier) for width in RESNET34_STAGE_WIDTHS]


def mobilenet_feature_channels(width_multiplier: float = 1.0) -> list[int]:
    """Channels of MobileNet's five feature maps (after blocks 1, 3, 5, 11 and 13)."""
    return [scaled(MOBILENET_BLOCKS[block - 1][0], width_multiplier) for block in MOBILENET_FEATURE_BLOCKS]


# --- ImageNet weights and the input they were trained on --------------------------------------------
#
# The course feeds every model RGB images in [0, 1].  ImageNet weights were trained on something else,
# and each source on its own convention; keras.applications calls them "modes" (see
# ``keras.applications.imagenet_utils.preprocess_input``), and so does coursekit:
#
# * "torch": torchvision's weights (VGG16, VGG16-BN, ResNet34): RGB in [0, 1], then per channel
#   (x - mean) / std with ImageNet's mean and standard deviation below;
# * "caffe": keras.applications' VGG16 (and ResNet50 ...), converted from the authors' Caffe models:
#   RGB in [0, 255] turned into BGR, minus ImageNet's mean pixel in BGR order, not scaled;
# * "tf": keras.applications' MobileNet (and the other models trained in TensorFlow): x * 2 - 1, in [-1, 1].
#
# A model built with pretrained weights converts its input as the first thing it does (the
# ``ImageNetInput`` layer of each framework, in ``torch/imagenet.py`` and ``keras/imagenet.py``).

IMAGENET_INPUTS = ("torch", "caffe", "tf")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, for "torch"
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # B, G, R in [0, 255], for "caffe"

# The weights ``pretrained`` loads, by backbone and framework, and the input mode they expect
WEIGHTS_INPUT = {("vgg16", "torch"): "torch", ("vgg16_bn", "torch"): "torch", ("resnet34", "torch"): "torch",
                 ("vgg16", "keras"): "caffe", ("mobilenet", "keras"): "tf"}
# The backbone each model's ``pretrained`` loads (when its framework has weights for it, see WEIGHTS_INPUT)
MODEL_BACKBONE = {"fcn32s": "vgg16", "fcn16s": "vgg16", "fcn8s": "vgg16", "segnet": "vgg16_bn",
                  "vgg_segnet": "vgg16_bn", "resnet34_unet": "resnet34", "mobilenet_unet": "mobilenet"}


def check_imagenet_input(mode, in_channels: int) -> None:
    """``mode`` is None (no conversion) or one of IMAGENET_INPUTS, and then the images have 3 channels."""
    if mode is None:
        return
    if mode not in IMAGENET_INPUTS:
        raise ValueError(f"imagenet_input must be None or one of {', '.join(map(repr, IMAGENET_INPUTS))}, "
                         f"got {mode!r}")
    if in_channels != 3:
        raise ValueError(f"imagenet_input={mode!r} converts RGB images and needs in_channels=3, got {in_channels}")


def imagenet_input_mode(pretrained, imagenet_input, weights_mode: str | None, in_channels: int) -> str | None:
    """The input conversion a model gets: ``imagenet_input`` if given, else its weights' mode when pretrained.

    A model without pretrained weights converts nothing unless asked: ``imagenet_input`` is for
    a twin that will receive pretrained weights from the other framework with ``transfer_weights``.
    """
    mode = imagenet_input if imagenet_input is not None else (weights_mode if pretrained else None)
    check_imagenet_input(mode, in_channels)
    return mode


def weights_file(pretrained) -> str | None:
    """The local weights file ``pretrained`` names (a str or os.PathLike), or None for True / False.

    A missing file is a ``FileNotFoundError`` that names it.
    """
    if pretrained is None or isinstance(pretrained, bool):
        return None
    if not isinstance(pretrained, (str, os.PathLike)):
        raise TypeError("pretrained must be True, False or the path of a weights file, "
                        f"got {type(pretrained).__name__}")
    path = os.fspath(pretrained)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pretrained weights file {path!r} does not exist (pretrained=<path> loads "
                                "ImageNet weights from a local file; pretrained=True downloads them)")
    return path
