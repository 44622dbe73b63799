"""What ImageNet weights need, in PyTorch: the input they were trained on, and reading them from a file.

**The input.**  Every model of the course takes RGB images in [0, 1].  A network
that starts from ImageNet weights must see its input as those weights saw it in
training, or its first convolutions answer to colours that are off by a mean and
a scale: torchvision's weights were trained on ``(x - mean) / std`` per channel,
with ImageNet's mean (0.485, 0.456, 0.406) and standard deviation (0.229, 0.224,
0.225).  :class:`ImageNetInput` makes that conversion inside the model, as its
first operation, so that data loaders, chapters and exercises stay the same for
pretrained and from-scratch models.  It also knows keras.applications'
conventions ("caffe" and "tf", see ``coursekit.models.common``), for a torch twin
that receives Keras' weights with ``transfer_weights``.  Models built without
pretrained weights have no such layer.

**A local file.**  ``pretrained=<path>`` loads a state dict saved with
``torch.save`` under torchvision's key names (``features.0.weight``,
``classifier.0.weight``, ``layer1.0.conv1.weight`` ...) instead of downloading it:
:func:`read_state_dict` reads it and :func:`check_state` names the first key that
is missing or has another shape.  :func:`write_fake_weights` writes such a file
with random values, for a run on a machine without network.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import torch
from torch import nn

from ..common import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, check_imagenet_input


class ImageNetInput(nn.Module):
    """Convert RGB images in [0, 1] (N×3×H×W) to the input ImageNet weights were trained on.

    ``mode`` is "torch" (torchvision's weights: ``(x - mean) / std`` with ImageNet's
    mean and std), "caffe" (keras.applications' VGG16: ``x * 255``, RGB to BGR, minus
    the mean pixel (103.939, 116.779, 123.68) in BGR order) or "tf" (keras.applications'
    MobileNet: ``x * 2 - 1``).

    It has no parameters and no buffers: the constants are made in ``forward`` on the
    input's device and dtype (as torchvision's detection models do), so the model's
    parameters, state dict and summary stay those of its weights.
    """

    def __init__(self, mode: str):
        super().__init__()
        check_imagenet_input(mode, 3)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "tf":
            return x * 2 - 1
        if self.mode == "torch":
            mean = torch.as_tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            std = torch.as_tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            return (x - mean) / std
        mean = torch.as_tensor(CAFFE_MEAN_BGR, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return x.flip(1) * 255 - mean  # channel 0 becomes B

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def imagenet_input_module(mode: str | None) -> ImageNetInput | None:
    """The conversion module for ``mode``, or None (no conversion: the model is unchanged)."""
    return None if mode is None else ImageNetInput(mode)


def weights_source(path: str | None, weights: str) -> str:
    """How error messages name where the weights came from."""
    return f"torchvision's {weights} weights" if path is None else f"weights file {path!r}"


def read_state_dict(path: str, weights: str) -> dict:
    """The state dict saved with ``torch.save`` at ``path``, which should hold torchvision's ``weights``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # not a torch file, a pickled model, a truncated download ...
        raise ValueError(f"could not read weights file {path!r} as a torch state dict (torchvision's "
                         f"{weights}, saved with torch.save(model.state_dict(), path)): {error}") from error
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights file {path!r} does not hold a state dict (a dict of tensors by name, "
                         f"as torch.save(torchvision.models.{weights}().state_dict(), path) writes it)")
    return dict(state)


def check_state(state: Mapping, expected: Mapping, source: str) -> None:
    """Raise a ValueError naming the first key of ``expected`` (key -> shape) that ``state`` lacks or shapes otherwise.

    Keys ``state`` has beyond ``expected`` (a classifier the model does not use) are fine;
    so is a missing ``num_batches_tracked`` (older checkpoints have none; it is only a counter).
    """
    for key, shape in expected.items():
        if key not in state:
            if key.endswith("num_batches_tracked"):
                continue
            raise ValueError(f"{source} has no key {key!r} (the model needs it with shape {tuple(shape)}); "
                             f"its first keys are {list(state)[:4]}")
        if tuple(state[key].shape) != tuple(shape):
            raise ValueError(f"{source}: key {key!r} has shape {tuple(state[key].shape)}, "
                             f"the model needs {tuple(shape)}")


def shapes(module: nn.Module, prefix: str = "") -> dict:
    """``module``'s state-dict keys (after ``prefix``) and shapes."""
    return {prefix + key: tuple(value.shape) for key, value in module.state_dict().items()}


def torchvision_shapes(arch: str) -> dict:
    """The keys and shapes of torchvision's ``arch`` state dict ("vgg16", "vgg16_bn" or "resnet34").

    Written from coursekit's own modules, which use torchvision's names, plus the
    classifier coursekit leaves out.
    """
    if arch in ("vgg16", "vgg16_bn"):
        from .vgg import vgg16_features

        expected = shapes(vgg16_features(batch_norm=arch == "vgg16_bn"), "features.")
        # torchvision's classifier: Linear(512·7·7, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout,
        # Linear(4096, 1000)
        for index, (out, inputs) in zip((0, 3, 6), ((4096, 512 * 7 * 7), (4096, 4096), (1000, 4096))):
            expected.update({f"classifier.{index}.weight": (out, inputs), f"classifier.{index}.bias": (out,)})
        return expected
    if arch == "resnet34":
        from .resnet import ResNet34

        return {**shapes(ResNet34()), "fc.weight": (1000, 512), "fc.bias": (1000,)}
    raise ValueError(f"no torchvision weights for {arch!r} here; known: vgg16, vgg16_bn, resnet34")


def fake_tensor(key: str, shape: tuple, generator: torch.Generator) -> torch.Tensor:
    """Random values that behave like trained ones: He-scaled weights, positive variances."""
    if key.endswith("num_batches_tracked"):
        return torch.tensor(0, dtype=torch.long)
    if key.endswith(".weight") and len(shape) > 1:
        fan_in = math.prod(shape[1:])
        return torch.randn(shape, generator=generator) * math.sqrt(2 / fan_in)
    if key.endswith(("running_var", ".weight")):  # batch norm's variance and scale
        return torch.rand(shape, generator=generator) + 0.5
    return torch.randn(shape, generator=generator) * 0.1  # biases, batch norm's shift and mean


def write_fake_weights(arch: str, path, seed: int = 0) -> str:
    """Save a state dict with torchvision's ``arch`` keys and shapes and random values at ``path``.

    For a run without network: ``build(..., pretrained=path)`` then goes through the
    same name mapping, shape checks and input conversion as with the real weights.
    """
    generator = torch.Generator().manual_seed(seed)
    state = {key: fake_tensor(key, shape, generator) for key, shape in torchvision_shapes(arch).items()}
    path = os.fspath(path)
    torch.save(state, path)
    return path
