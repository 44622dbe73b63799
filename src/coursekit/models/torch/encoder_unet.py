"""U-Nets with a pretrained encoder, in PyTorch: MobileNet-U-Net and ResNet34-U-Net.

Read it beside the chapter on encoder-based U-Nets.  U-Net (Ronneberger,
Fischer and Brox, 2015) learns its encoder from scratch; here the encoder is
an ImageNet classifier without its classifier (see ``torch/mobilenet.py``
and ``torch/resnet.py``), which already knows edges, textures and parts, and
only the decoder starts from random weights.  Both networks take sizes
divisible by 32 (five stride-2 steps) and return logits at the input's size.

**MobileNet-U-Net** follows the popular Keras ``mobilenet_unet`` (from the
image-segmentation-keras project): MobileNet v1 (Howard et al., 2017) as the
encoder and a U-Net decoder that up-samples by 2 (nearest neighbour),
concatenates the encoder's feature map of the same size and mixes them with a
3×3 convolution + batch norm + ReLU, at 1/16, 1/8, 1/4 and 1/2 of the input's
size.  Two changes: that version stops at 1/2 and returns half-size scores,
here one more up-sampling stage (with its own convolution) reaches the full
size before the 3×3 classifier; and it puts ReLU before batch norm, here the
usual order conv -> BN -> ReLU is used.  It also starts its decoder from the
1/16 features; here the decoder starts from the encoder's last (1/32) output.

**ResNet34-U-Net** has the decoder of LinkNet (Chaurasia and Culurciello,
2017) on ResNet34 (He et al., 2016).  Each decoder block shrinks the channels
by 4 with a 1×1 convolution, doubles the size with a 3×3 transposed
convolution and sets the channels with another 1×1 convolution (each with
batch norm and ReLU); its output is *added* to the encoder's feature map of
the same size, not concatenated, so the decoder stays as narrow as the
encoder and costs little.  The last block reaches 1/2 of the input's size,
and a head of transposed convolutions reaches the full size: a 3×3
transposed convolution with stride 2 (size 2n + 1), a 3×3 convolution
without padding (2n - 1), and a 2×2 transposed convolution (2n) that gives
the class scores.  The convolutions before batch norm have no bias (batch
norm adds one).

Module names match the Keras twins (``encoder.layer1.0.conv1`` here is
``encoder_layer1_0_conv1`` there).

**Pretrained input.**  The ImageNet weights were trained on converted images,
not on the course's [0, 1] RGB: torchvision's ResNet34 on ``(x - mean) / std``
with ImageNet's mean and std, Keras' MobileNet on ``x * 2 - 1``.  A pretrained
encoder converts its input first (``encoder.imagenet_input``, an
:class:`~coursekit.models.torch.imagenet.ImageNetInput` without parameters).
``imagenet_input="tf"`` gives a MobileNet-U-Net the same first step, to receive
the Keras encoder's weights with ``transfer_weights``.  Without pretrained
weights (and ``imagenet_input``) there is no such module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import check_divisible, check_head
from .blocks import ConvBNReLU
from .heads import apply_head
from .mobilenet import mobilenet_v1
from .resnet import resnet34

SIZE_MULTIPLE = 32  # five stride-2 steps in both encoders


def upsample_and_concatenate(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour up-sampling ×2, then the encoder's features of that size as more channels."""
    return torch.cat([F.interpolate(x, scale_factor=2, mode="nearest"), skip], dim=1)


class MobileNetUNet(nn.Module):
    """MobileNet v1 encoder, U-Net decoder with concatenated skips, full-size logits."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, *, width_multiplier: float = 1.0,
                 head: str | None = None, pretrained=False, imagenet_input: str | None = None):
        super().__init__()
        check_head(head)
        self.head = head
        self.encoder = mobilenet_v1(in_channels, width_multiplier=width_multiplier, pretrained=pretrained,
                                    imagenet_input=imagenet_input)
        c2, c4, c8, c16, c32 = self.encoder.channels  # channels at 1/2 ... 1/32
        self.decode16 = ConvBNReLU(c32 + c16, c16)
        self.decode8 = ConvBNReLU(c16 + c8, c8)
        self.decode4 = ConvBNReLU(c8 + c4, c4)
        self.decode2 = ConvBNReLU(c4 + c2, c2)
        self.decode1 = ConvBNReLU(c2, c2 // 2)  # the stage the tutorial's model lacks: back to full size
        self.classifier = nn.Conv2d(c2 // 2, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_divisible(*x.shape[-2:], SIZE_MULTIPLE, "mobilenet_unet")
        f2, f4, f8, f16, f32 = self.encoder(x)
        x = self.decode16(upsample_and_concatenate(f32, f16))
        x = self.decode8(upsample_and_concatenate(x, f8))
        x = self.decode4(upsample_and_concatenate(x, f4))
        x = self.decode2(upsample_and_concatenate(x, f2))
        x = self.decode1(F.interpolate(x, scale_factor=2, mode="nearest"))
        return apply_head(self.classifier(x), self.head)


class DecoderBlock(nn.Module):
    """LinkNet's block: 1×1 conv to C/4, 3×3 transposed conv ×2, 1×1 conv to ``out``; each + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        middle = max(1, in_channels // 4)
        self.conv1 = nn.Conv2d(in_channels, middle, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(middle)
        self.deconv2 = nn.ConvTranspose2d(middle, middle, 3, stride=2, padding=1, output_padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(middle)
        self.conv3 = nn.Conv2d(middle, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.deconv2(x)))
        return F.relu(self.bn3(self.conv3(x)))


class ResNet34UNet(nn.Module):
    """ResNet34 encoder, LinkNet decoder with added skips, transposed-convolution head, full-size logits."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, *, width_multiplier: float = 1.0,
                 head: str | None = None, pretrained=False, imagenet_input: str | None = None):
        super().__init__()
        check_head(head)
        self.head = head
        # pretrained, the encoder converts its input as torchvision's weights expect (encoder.imagenet_input)
        self.encoder = resnet34(in_channels, width_multiplier=width_multiplier, pretrained=pretrained,
                                imagenet_input=imagenet_input)
        _, c4, c8, c16, c32 = self.encoder.channels
        self.decoder16 = DecoderBlock(c32, c16)
        self.decoder8 = DecoderBlock(c16, c8)
        self.decoder4 = DecoderBlock(c8, c4)
        self.decoder2 = DecoderBlock(c4, c4)
        self.final_deconv = nn.ConvTranspose2d(c4, c4 // 2, 3, stride=2)
        self.final_conv = nn.Conv2d(c4 // 2, c4 // 2, 3)
        self.classifier = nn.ConvTranspose2d(c4 // 2, num_classes, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_divisible(*x.shape[-2:], SIZE_MULTIPLE, "resnet34_unet")
        _, e4, e8, e16, e32 = self.encoder(x)
        d = self.decoder16(e32) + e16
        d = self.decoder8(d) + e8
        d = self.decoder4(d) + e4
        d = self.decoder2(d)
        d = F.relu(self.final_conv(F.relu(self.final_deconv(d))))
        return apply_head(self.classifier(d), self.head)


def mobilenet_unet(in_channels: int = 3, num_classes: int = 2, *, width_multiplier: float = 1.0,
                   head: str | None = None, pretrained=False, input_size=None,
                   imagenet_input: str | None = None) -> MobileNetUNet:
    """MobileNet-U-Net.  ``pretrained`` raises: torchvision has no MobileNet v1 (copy Keras' weights).

    Build it with ``imagenet_input="tf"`` to receive a pretrained Keras twin's
    weights (their input convention comes with them only that way).  Any size
    divisible by 32; a given ``input_size`` is checked now, as in Keras.
    """
    if input_size is not None:
        check_divisible(*input_size, SIZE_MULTIPLE, "mobilenet_unet")
    return MobileNetUNet(in_channels, num_classes, width_multiplier=width_multiplier, head=head,
                         pretrained=pretrained, imagenet_input=imagenet_input)


def resnet34_unet(in_channels: int = 3, num_classes: int = 2, *, width_multiplier: float = 1.0,
                  head: str | None = None, pretrained=False, input_size=None,
                  imagenet_input: str | None = None) -> ResNet34UNet:
    """ResNet34-U-Net.  ``pretrained`` loads torchvision's ImageNet ResNet34 into the encoder.

    ``pretrained=True`` downloads the weights, a path loads them from a local file;
    the pretrained encoder then converts its input as they expect
    (``imagenet_input="torch"``, see the module docstring).  Any size divisible by
    32; a given ``input_size`` is checked now, as in Keras.
    """
    if input_size is not None:
        check_divisible(*input_size, SIZE_MULTIPLE, "resnet34_unet")
    return ResNet34UNet(in_channels, num_classes, width_multiplier=width_multiplier, head=head,
                        pretrained=pretrained, imagenet_input=imagenet_input)
