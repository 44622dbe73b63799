"""Chapter 2's fully convolutional networks FCN-32s, FCN-16s and FCN-8s, in PyTorch.

Long, Shelhamer and Darrell (2015) turned the VGG16 classifier into a
segmentation network in three steps, which this file follows in order.

1. **Convolutionalise.**  VGG16's first fully connected layer looks at the
   whole 7×7×512 map of the last pooling; written as a 7×7 convolution with
   4096 filters (``fc6``) it does the same at every position of a larger map.
   The second becomes a 1×1 convolution (``fc7``).  Each keeps its ReLU and
   its dropout of 0.5.  A 1×1 convolution ``score_fr`` turns each 4096-vector
   into class scores, on a grid 32 times coarser than the image.
2. **Up-sample.**  A transposed convolution with stride ``f`` and kernel
   ``2f``, its weights set to :func:`bilinear_kernel`, is bilinear
   interpolation ×``f``.  FCN-32s up-samples the scores ×32 in one go.
3. **Skip.**  Coarse scores know *what* but not exactly *where*.  FCN-16s
   up-samples them ×2 (``upscore2``), adds scores computed by a 1×1
   convolution on pool4 (``score_pool4``, stride 16), then up-samples ×16.
   FCN-8s adds pool3's scores the same way (``upscore_pool4``,
   ``score_pool3``) and up-samples ×8.

As in the paper, the ×2 up-samplings start as bilinear interpolation and are
learned, while the last one (×32, ×16 or ×8) stays fixed bilinear
interpolation: its weights are frozen (``requires_grad=False``).  The
transposed convolutions have no bias, also as in the paper's models.

**Sizes.**  The original pads the first convolution by 100 pixels and crops
every map back with hand-computed offsets, a trick of its Caffe
implementation.  Here the image is padded with zeros on the bottom and right
to the next multiple of 32 instead, ``fc6`` pads its 7×7 window by 3, and
every up-sampling multiplies the size exactly (kernel ``2f``, stride ``f``,
padding ``f/2``), so pool5, pool4 and pool3 line up with each other and the
scores can be added without cropping.  The result is cropped back to the
input's height and width: the model takes any size.

At width multiplier 1 and 21 classes the trainable parameters number
134,346,581 (FCN-32s), 134,364,410 (FCN-16s) and 134,376,863 (FCN-8s), plus
the frozen weights of the last up-sampling: 1,806,336, 451,584 and 112,896.
Module names match the Keras twin (``features.0`` here, ``features_0`` there).

**Pretrained.**  ``pretrained=True`` loads torchvision's ImageNet VGG16 (the
convolutions, and the first two fully connected layers as ``fc6`` and ``fc7``);
``pretrained=<path>`` loads the same state dict from a local file.  Those weights
were trained on ``(x - mean) / std`` with ImageNet's mean and std, so a pretrained
FCN starts with ``imagenet_input``, an :class:`~coursekit.models.torch.imagenet.ImageNetInput`
that converts the course's [0, 1] RGB to that; it has no parameters.  An FCN built
without weights has no such module and sees its input as it is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import WEIGHTS_INPUT, bilinear_kernel, check_head, imagenet_input_mode, scaled, weights_file
from .heads import apply_head
from .imagenet import check_state, imagenet_input_module, weights_source
from .vgg import imagenet_state_dict, load_features, pool_outputs, vgg16_features


def bilinear_upsampling(channels: int, factor: int, learnable: bool) -> nn.ConvTranspose2d:
    """A transposed convolution that starts as bilinear interpolation ×``factor``."""
    layer = nn.ConvTranspose2d(channels, channels, kernel_size=2 * factor, stride=factor,
                               padding=factor // 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(bilinear_kernel(channels, 2 * factor)))
    layer.weight.requires_grad_(learnable)
    return layer


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad with zeros on the bottom and right to the next multiple of ``multiple``."""
    height, width = x.shape[-2:]
    return F.pad(x, (0, -width % multiple, 0, -height % multiple))


class FCN(nn.Module):
    """VGG16 made fully convolutional, with skips for output stride 16 or 8. Returns logits unless ``head``.

    ``imagenet_input`` ("torch", "caffe" or "tf", see ``coursekit.models.common``)
    converts the [0, 1] RGB input first, as ImageNet weights expect; None (the
    default) leaves it as it is.
    """

    def __init__(self, stride: int, in_channels: int = 3, num_classes: int = 21,
                 width_multiplier: float = 1.0, head: str | None = None, imagenet_input: str | None = None):
        super().__init__()
        if stride not in (32, 16, 8):
            raise ValueError(f"FCN's output stride is 32, 16 or 8, got {stride}")
        check_head(head)
        self.stride, self.head = stride, head
        # pretrained weights were trained on ImageNet-normalised input, not [0, 1] RGB: convert first (None: no module)
        self.imagenet_input = imagenet_input_module(imagenet_input)
        self.features = vgg16_features(in_channels, width_multiplier)
        fc_width = scaled(4096, width_multiplier)
        self.fc6 = nn.Conv2d(scaled(512, width_multiplier), fc_width, kernel_size=7, padding=3)
        self.drop6 = nn.Dropout(0.5)
        self.fc7 = nn.Conv2d(fc_width, fc_width, kernel_size=1)
        self.drop7 = nn.Dropout(0.5)
        self.score_fr = nn.Conv2d(fc_width, num_classes, kernel_size=1)
        if stride <= 16:
            self.upscore2 = bilinear_upsampling(num_classes, 2, learnable=True)
            self.score_pool4 = nn.Conv2d(scaled(512, width_multiplier), num_classes, kernel_size=1)
        if stride == 8:
            self.upscore_pool4 = bilinear_upsampling(num_classes, 2, learnable=True)
            self.score_pool3 = nn.Conv2d(scaled(256, width_multiplier), num_classes, kernel_size=1)
        self.final_upscore = bilinear_upsampling(num_classes, stride, learnable=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.imagenet_input is not None:
            x = self.imagenet_input(x)
        _, _, pool3, pool4, pool5 = pool_outputs(self.features, pad_to_multiple(x, 32))
        x = self.drop6(F.relu(self.fc6(pool5)))
        x = self.drop7(F.relu(self.fc7(x)))
        scores = self.score_fr(x)
        if self.stride <= 16:
            scores = self.upscore2(scores) + self.score_pool4(pool4)
        if self.stride == 8:
            scores = self.upscore_pool4(scores) + self.score_pool3(pool3)
        return apply_head(self.final_upscore(scores)[..., :height, :width], self.head)

    def load_vgg16_state(self, state: dict, source: str = "torchvision's vgg16 weights") -> None:
        """Copy torchvision's VGG16: convolutions, and the two first fully connected layers as fc6 and fc7.

        The fully connected weights only change shape: torchvision flattens the
        7×7×512 map channel by channel, as a 7×7 convolution's weight is laid out.
        A missing key or a shape that does not fit is a ValueError naming it
        (``source`` says where the weights came from).
        """
        check_state(state, {"classifier.0.weight": (self.fc6.out_channels, self.fc6.weight[0].numel()),
                            "classifier.0.bias": (self.fc6.out_channels,),
                            "classifier.3.weight": (self.fc7.out_channels, self.fc7.in_channels),
                            "classifier.3.bias": (self.fc7.out_channels,)}, source)
        load_features(self.features, state, source)
        with torch.no_grad():
            self.fc6.weight.copy_(state["classifier.0.weight"].view_as(self.fc6.weight))
            self.fc6.bias.copy_(state["classifier.0.bias"])
            self.fc7.weight.copy_(state["classifier.3.weight"].view_as(self.fc7.weight))
            self.fc7.bias.copy_(state["classifier.3.bias"])


def _fcn(stride: int, in_channels: int, num_classes: int, width_multiplier: float, head, pretrained,
         imagenet_input: str | None) -> FCN:
    """An FCN; any image size works (the input is padded to a multiple of 32 and the logits cropped back).

    ``pretrained``: False, True (torchvision's ImageNet VGG16, downloaded once) or
    the path of a file holding that state dict.  A pretrained FCN converts its input
    as those weights expect (``imagenet_input="torch"``) unless told otherwise.
    """
    mode = imagenet_input_mode(pretrained, imagenet_input, WEIGHTS_INPUT["vgg16", "torch"], in_channels)
    state = imagenet_state_dict("vgg16", in_channels, width_multiplier, pretrained) if pretrained else None
    model = FCN(stride, in_channels, num_classes, width_multiplier, head, imagenet_input=mode)
    if state is not None:
        model.load_vgg16_state(state, weights_source(weights_file(pretrained), "vgg16"))
    return model


def fcn32s(in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
           head: str | None = None, pretrained=False, input_size=None,
           imagenet_input: str | None = None) -> FCN:
    """FCN-32s: scores of pool5 up-sampled ×32 by fixed bilinear interpolation.

    ``pretrained``: True downloads torchvision's ImageNet VGG16, a path loads it from a file;
    see :func:`_fcn` and the module docstring for the input conversion it brings.
    """
    return _fcn(32, in_channels, num_classes, width_multiplier, head, pretrained, imagenet_input)


def fcn16s(in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
           head: str | None = None, pretrained=False, input_size=None,
           imagenet_input: str | None = None) -> FCN:
    """FCN-16s: pool5's scores ×2 (learned) plus pool4's, then ×16 (fixed).

    ``pretrained``: True downloads torchvision's ImageNet VGG16, a path loads it from a file;
    see :func:`_fcn` and the module docstring for the input conversion it brings.
    """
    return _fcn(16, in_channels, num_classes, width_multiplier, head, pretrained, imagenet_input)


def fcn8s(in_channels: int = 3, num_classes: int = 21, *, width_multiplier: float = 1.0,
          head: str | None = None, pretrained=False, input_size=None,
          imagenet_input: str | None = None) -> FCN:
    """FCN-8s: FCN-16s's fused scores ×2 (learned) plus pool3's, then ×8 (fixed).

    ``pretrained``: True downloads torchvision's ImageNet VGG16, a path loads it from a file;
    see :func:`_fcn` and the module docstring for the input conversion it brings.
    """
    return _fcn(8, in_channels, num_classes, width_multiplier, head, pretrained, imagenet_input)
