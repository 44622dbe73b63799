"""Checkers for chapter 4 (U-Net): the unpadded U-Net's sizes, its shapes, a decoder level, the elastic warp, the border
weights."""

from __future__ import annotations

import numpy as np

from ..data.transforms import upsample_displacements, warp
from ..losses import unet_weight_map
from ..models.unet_sizes import _output_size_or_none
from .core import ExerciseFailed, Passed, _same, check_answered, not_answered, run_cases

__all__ = ["check_border_weights", "check_unet_decoder_level", "check_valid_output_size", "check_valid_unet_shapes",
           "check_warp_pair"]


def check_valid_output_size(student_fn) -> Passed:
    """Chapter 4, exercise "the unpadded U-Net's output size": ``valid_output_size(input_size, depth)``.

    Returns the output height of the paper's U-Net (two unpadded 3×3
    convolutions per level, 2×2 pooling, 2×2 up-convolutions) for an input of
    ``input_size`` pixels, or ``None`` when the network cannot take it (a size
    before a pooling is odd, or a map shrinks to nothing).
    """
    cases = [(572, 4), (188, 4), (508, 4), (700, 4), (573, 4), (570, 4), (124, 3), (92, 2), (60, 2),
             (30, 1), (16, 1), (140, 4), (1000, 3), (17, 1)]
    return run_cases("valid_output_size", student_fn, cases, _output_size_or_none, compare=_same_size_or_none,
                     names=("input_size", "depth"))


def _same_size_or_none(expected, got, case) -> str | None:
    if expected is None:
        return None if got is None else ""
    right = got is not None and not isinstance(got, bool) and float(got) == expected
    return None if right else ""


# The predict-a-shape exercise: the paper's network (depth 4, base width 64, one input
# channel, two classes) in PyTorch on a 1×1×508×508 tile.
_SHAPE_EXERCISE = {"input": (1, 1, 508, 508), "depth": 4, "base_width": 64, "num_classes": 2}


def _valid_unet_shapes(input_shape, depth, base_width, num_classes):
    n, _, size, _ = input_shape
    for _ in range(depth):
        size = (size - 4) // 2
    size -= 4
    bottom = (n, base_width * 2 ** depth, size, size)
    output = (n, num_classes, _output_size_or_none(input_shape[2], depth), _output_size_or_none(input_shape[3], depth))
    return bottom, output


def check_valid_unet_shapes(bottom, output) -> Passed:
    """Chapter 4, exercise "predict the shapes": the unpadded U-Net (depth 4, width 64, 2 classes) on 1×1×508×508.

    ``bottom`` is the shape of the deepest level's output and ``output`` the
    shape of the class scores, both as PyTorch tuples ``(N, C, H, W)``.
    """
    expected_bottom, expected_output = _valid_unet_shapes(**{
        "input_shape": _SHAPE_EXERCISE["input"], "depth": _SHAPE_EXERCISE["depth"],
        "base_width": _SHAPE_EXERCISE["base_width"], "num_classes": _SHAPE_EXERCISE["num_classes"]})
    for what, expected, got in (("bottom", expected_bottom, bottom), ("output", expected_output, output)):
        check_answered(f"valid_unet_shapes ({what})", got)
        try:
            got_tuple = tuple(int(d) for d in got)
        except (TypeError, ValueError):
            raise ExerciseFailed(f"valid_unet_shapes: {what} must be a tuple (N, C, H, W), got {got!r}") from None
        if got_tuple == expected:
            continue
        hint = ""
        if len(got_tuple) == 4 and got_tuple[1:] == (*expected[2:], expected[1]):
            hint = " (that is channels last, as Keras has it; PyTorch puts channels second)"
        elif len(got_tuple) == 4 and got_tuple[2] == _SHAPE_EXERCISE["input"][2] // (16 if what == "bottom" else 1):
            hint = " (that is what a same-padded U-Net would give; these convolutions are unpadded)"
        elif len(got_tuple) == 4 and got_tuple[2:] == expected[2:]:
            hint = " (the height and width are right; count the channels again)"
        elif len(got_tuple) == 4 and got_tuple[1] == expected[1]:
            hint = " (the channels are right; walk the height through every convolution again)"
        raise ExerciseFailed(f"valid_unet_shapes: the {what} shape is not {got_tuple}{hint}.\n"
                             f"input: a tensor of shape {_SHAPE_EXERCISE['input']} into the paper's U-Net\n"
                             f"expected: a different tuple\ngot: {got_tuple}")
    return Passed("valid_unet_shapes", 2)


def _warp_cases():
    rng = np.random.default_rng(404)
    cases = []
    # pure shifts: one moves rows only, the other columns only, so swapped axes show at once
    for dy, dx in ((3.0, 0.0), (0.0, -2.0)):
        image = rng.uniform(size=(9, 11, 1)).astype(np.float32)
        mask = rng.integers(0, 3, size=(9, 11))
        field = np.stack([np.full((9, 11), dy), np.full((9, 11), dx)])
        cases.append((image, mask, field))
    # smooth random fields on blocky masks of three classes, as the chapter's augmentation makes
    for shape, channels in (((12, 10), 1), ((16, 16), 3), ((10, 14), 1)):
        image = rng.uniform(size=(*shape, channels)).astype(np.float32)
        mask = np.kron(rng.integers(0, 3, size=(shape[0] // 2, shape[1] // 2)), np.ones((2, 2), np.int64))
        field = upsample_displacements(rng.normal(0, 2.5, size=(2, 3, 3)), shape)
        cases.append((image, mask, field))
    return cases


def check_warp_pair(student_fn) -> Passed:
    """Chapter 4, exercise "debug the elastic deformation": ``warp_pair(image, mask, field)``.

    Samples the image (``H×W×C``) bicubically and the mask (``H×W`` class
    indices) by nearest neighbour at ``pixel + field``, where ``field[0]``
    moves rows and ``field[1]`` columns, mirroring at the borders; the image is
    clipped to its own range.  The same as :func:`coursekit.data.transforms.warp`.
    """
    return run_cases("warp_pair", student_fn, _warp_cases(), warp, compare=_compare_warp,
                     names=("image", "mask", "field"))


def _compare_warp(expected, got, case) -> str | None:
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return f"return a pair (image, mask), got {type(got).__name__}"
    image, mask = (np.asarray(g) for g in got)
    held = sorted(np.unique(case[1]).tolist())
    invented = sorted(set(np.unique(mask).tolist()) - set(held))
    if invented:
        return (f"the warped mask holds labels {invented} that the mask never had (it held {held}); "
                "interpolating class indices invents classes")
    if not _same(expected[1], mask, 1e-6):
        return "the warped mask is not right"
    if not _same(expected[0], image, 1e-4):
        return "the warped image is not right"
    return None


def _instance_cases():
    rng = np.random.default_rng(505)
    two_touching = np.zeros((10, 12), np.int64)
    two_touching[2:8, 1:6] = 1
    two_touching[2:8, 7:11] = 2  # one background column between them
    one = np.zeros((8, 8), np.int64)
    one[2:5, 2:6] = 1
    none = np.zeros((6, 7), np.int64)
    three = np.zeros((14, 14), np.int64)
    three[1:6, 1:6], three[1:6, 8:13], three[8:13, 3:11] = 1, 2, 3
    cases = [(two_touching, 10.0, 5.0), (one, 10.0, 5.0), (none, 10.0, 5.0), (three, 10.0, 5.0),
             (three, 4.0, 2.0)]
    blobs = np.kron(rng.integers(0, 4, size=(5, 5)), np.ones((3, 3), np.int64))  # numbers may repeat apart
    cases.append((blobs, 10.0, 3.0))
    return cases


def check_border_weights(student_fn) -> Passed:
    """Chapter 4, exercise "the border weights": ``border_weights(instances, w0, sigma)``.

    The U-Net paper's border term ``w0 · exp(-(d1 + d2)² / (2σ²))`` on
    background pixels (0 on the instances themselves, and 0 everywhere when an
    image holds fewer than two instances); ``d1``, ``d2`` are the Euclidean
    distances to the nearest and the second-nearest instance.  The class
    balance ``w_c`` is left out.
    """
    def reference(instances, w0, sigma):
        return unet_weight_map(instances, w0=w0, sigma=sigma, class_weights=(0.0, 0.0))

    return run_cases("border_weights", student_fn, _instance_cases(), reference, tol=1e-4,
                     names=("instances", "w0", "sigma"))


# --- Build it: a decoder level of the paper's U-Net ---------------------------------------------------------

_LEVEL_IMAGES = ((2, 188, 204), (1, 204, 188))  # N, H, W: valid sizes for depth 4 (outputs 4×20 and 20×4)


class _ValidUNetLevels:
    """A narrow unpadded U-Net of ``framework``, its decoder levels' layers, and each level's real inputs.

    The reference is the model's own forward pass; the alternatives are the answers of the mistakes the
    checker names (a corner crop, the concatenation in the other order).
    """

    def __init__(self, framework: str):
        from ..models import build

        self.framework = framework
        self.model = build("unet_valid", framework, in_channels=1, num_classes=2, width=4)
        if framework == "torch":
            self.model.eval()
        self.depth = self.model.depth

    def layers(self, level: int) -> tuple:
        """``up``, ``conv1``, ``conv2`` of decoder level ``level``: each applies its ReLU itself."""
        if self.framework == "torch":
            block = self.model.decoder[level]
            return block.up, block.convs[0], block.convs[1]
        return tuple(self.model.get_layer(f"decoder_{level}_{name}")
                     for name in ("up_conv", "convs_0_conv", "convs_1_conv"))

    def levels(self, images: np.ndarray) -> dict[int, tuple]:
        """For each decoder level: ``(x, skip, output)``, the framework's tensors, of N×1×H×W images."""
        if self.framework == "torch":
            import torch

            found, hooks = {}, []
            for level, block in enumerate(self.model.decoder):
                hooks.append(block.register_forward_hook(
                    lambda module, args, output, level=level: found.__setitem__(level, (*args, output))))
            try:
                with torch.no_grad():
                    self.model(torch.from_numpy(images))
            finally:
                for hook in hooks:
                    hook.remove()
            return found
        import keras

        tensors = []
        for level in range(self.depth):
            tensors += [self.model.get_layer(f"decoder_{level}_up_conv").input,
                        self.model.stages[f"encoder_{level}"].output,
                        self.model.get_layer(f"decoder_{level}_convs_1_conv").output]
        values = keras.Model(self.model.input, tensors)(images.transpose(0, 2, 3, 1), training=False)
        return {level: tuple(values[3 * level:3 * level + 3]) for level in range(self.depth)}

    def run(self, level: int, x, skip, *, corner: bool = False, skip_first: bool = False):
        """The level with one of the named mistakes: the skip cropped at its top-left corner, or put first."""
        up, conv1, conv2 = self.layers(level)
        if self.framework == "torch":
            import torch

            with torch.no_grad():
                x = up(x)
                skip = self._crop(skip, tuple(x.shape[-2:]), corner)
                return conv2(conv1(torch.cat([skip, x] if skip_first else [x, skip], dim=1)))
        import keras

        x = up(x)
        skip = self._crop(skip, tuple(x.shape[1:3]), corner)
        return conv2(conv1(keras.ops.concatenate([skip, x] if skip_first else [x, skip], axis=-1)))

    def _crop(self, skip, size, corner: bool):
        spatial = tuple(skip.shape[-2:]) if self.framework == "torch" else tuple(skip.shape[1:3])
        top, left = (0, 0) if corner else ((spatial[0] - size[0]) // 2, (spatial[1] - size[1]) // 2)
        if self.framework == "torch":
            return skip[..., top:top + size[0], left:left + size[1]]
        return skip[:, top:top + size[0], left:left + size[1], :]


def _level_crash_hint(err: Exception) -> str:
    message = str(err).lower()
    if any(word in message for word in ("size", "shape", "dimension", "match", "channels")):
        return ("\nthe skip is larger than the up-sampled map (the encoder's valid convolutions lost fewer pixels "
                "at that level than the path down and up again): crop it to the up-sampled map's height and width "
                "before the concatenation; conv1 expects the two maps' channels together")
    return ""


def _diagnose_level(got: np.ndarray, expected: np.ndarray, unet: _ValidUNetLevels, level: int, x, skip) -> str | None:
    from .twins import as_numpy, close

    framework = unet.framework
    if got.shape != expected.shape:
        return "the output has the wrong shape"
    if close(got, expected):
        return None
    if close(got, as_numpy(unet.run(level, x, skip, corner=True), framework)):
        return ("the skip is cropped at its top-left corner: the up-sampled map lies over the skip's centre, "
                "since the valid convolutions trimmed every border alike")
    if close(got, as_numpy(unet.run(level, x, skip, skip_first=True), framework)):
        return ("the skip comes first in the concatenation: this model puts the up-sampled map first, and conv1's "
                "weights belong to the channels in that order")
    return (f"the output differs from the model's by up to {float(np.abs(got - expected).max()):.3g}: up-sample "
            "with up, crop the skip (not resize it), concatenate along the channels, then conv1 and conv2")


def check_unet_decoder_level(student_fn, framework: str = "torch") -> Passed:
    """Chapter 4, exercise "A decoder level": ``decoder_level(x, skip, up, conv1, conv2)`` -> the level's output.

    One level of the paper's unpadded U-Net, in ``framework``: ``up`` (the 2×2
    up-convolution, with its ReLU) doubles ``x``; the encoder's ``skip``, larger,
    is cropped to the centre to the up-sampled map's height and width; the two
    are concatenated along the channels, up-sampled map first; ``conv1`` and
    ``conv2`` (valid 3×3 convolutions with ReLU) follow.  The layers are the
    model's own; the cases are each of the four levels of a narrow
    ``unet_valid`` on its real inputs for hidden images of two shapes.
    """
    from .basics import _check_framework
    from .twins import as_numpy

    _check_framework(framework)
    rng = np.random.default_rng(444)
    unet = _ValidUNetLevels(framework)
    total, number = len(_LEVEL_IMAGES) * unet.depth, 0
    for shape in _LEVEL_IMAGES:
        levels = unet.levels(rng.normal(size=(shape[0], 1, *shape[1:])).astype(np.float32))
        for level in reversed(range(unet.depth)):
            number += 1
            x, skip, output = levels[level]
            where = f"decoder_level: hidden case {number} of {total}"
            shown = (f"input:\n  decoder level {level} of an image of {'×'.join(map(str, shape[1:]))}\n"
                     f"  x: shape {tuple(x.shape)}\n  skip: shape {tuple(skip.shape)}")
            try:
                got = student_fn(x, skip, *unet.layers(level))
            except NotImplementedError:
                raise not_answered("decoder_level") from None
            except Exception as err:  # the student's bug: say on which input, with a hint where one fits
                raise ExerciseFailed(f"{where} raised {type(err).__name__}: {err}\n{shown}"
                                     + _level_crash_hint(err)) from err
            got, expected = as_numpy(got, framework), as_numpy(output, framework)
            reason = _diagnose_level(got, expected, unet, level, x, skip)
            if reason is not None:
                raise ExerciseFailed(f"{where} is wrong: {reason}\n{shown}\n"
                                     f"expected: shape {expected.shape}\ngot: shape {got.shape}")
    return Passed("decoder_level", number)
