"""Checkers for chapter 3 (SegNet): pooling that remembers, unpooling, SegNet's shapes, the tutorial's bug.

Index convention, as PyTorch's ``MaxPool2d(return_indices=True)``: the
position of a maximum is a flat index ``row * width + column`` into the
plane that was pooled, and a tie goes to the first position in reading order.
"""

from __future__ import annotations

import numpy as np

from .core import ExerciseFailed, NotChecked, Passed, _same, check_answered, not_answered, run_cases

__all__ = ["check_max_pool_with_indices", "check_max_unpool", "check_median_frequency_weights",
           "check_segnet_decoder_stage", "check_segnet_shapes", "check_vgg_segnet_fix"]


def _reference_pool(x):
    height, width = x.shape
    windows = x.reshape(height // 2, 2, width // 2, 2).transpose(0, 2, 1, 3).reshape(height // 2, width // 2, 4)
    inside = windows.argmax(-1)
    rows = 2 * np.arange(height // 2)[:, None] + inside // 2
    columns = 2 * np.arange(width // 2)[None, :] + inside % 2
    return windows.max(-1), rows * width + columns


def _feature_maps(rng, shapes):
    # distinct values, so every window has one maximum; negative ones too, so zero is no safe guess
    return [rng.permutation(h * w).reshape(h, w).astype(np.float64) - h * w / 3 for h, w in shapes]


_SHAPES = [(4, 4), (2, 6), (6, 2), (4, 8), (8, 6)]  # tall and wide ones show a swapped row and column


def check_max_pool_with_indices(student_fn) -> Passed:
    """Chapter 3, exercise "pooling that remembers": ``max_pool_with_indices(x)`` -> ``(values, indices)``.

    ``x`` is one ``H×W`` plane with even sides; ``values`` the 2×2 maxima
    (``H/2×W/2``), ``indices`` their flat positions ``row * W + column`` in ``x``.
    """
    rng = np.random.default_rng(303)
    cases = [(m,) for m in _feature_maps(rng, _SHAPES)]
    cases.insert(0, (np.array([[1.0, 6, 2, 1], [3, 2, 0, 4], [5, 1, 7, 3], [2, 0, 1, 8]]),))
    return run_cases("max_pool_with_indices", student_fn, cases, _reference_pool, compare=_compare_pool,
                     names=("x",))


def _compare_pool(expected, got, case) -> str | None:
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return f"return a pair (values, indices), got {type(got).__name__}"
    wrong = [what for what, e, g in zip(("values", "indices"), expected, got) if not _same(e, g, 1e-6)]
    return f"the {' and the '.join(wrong)} are not right" if wrong else None


def check_max_unpool(student_fn) -> Passed:
    """Chapter 3, exercise "unpooling": ``max_unpool(values, indices, shape)`` -> an array of ``shape``.

    Each value goes to its flat index ``row * width + column`` in a plane of
    ``shape`` (``(height, width)``); every other cell is zero.  ``shape`` is
    given because an odd size cannot be recovered from the pooled one.
    """
    rng = np.random.default_rng(404)
    cases = []
    for x in _feature_maps(rng, _SHAPES):
        values, indices = _reference_pool(x)
        cases.append((values, indices, x.shape))
    odd = rng.permutation(35).reshape(5, 7).astype(np.float64) + 1  # pooled from its even 4×6 corner
    values, indices = _reference_pool(odd[:4, :6])
    rows, columns = np.divmod(indices, 6)
    cases.append((values, rows * 7 + columns, (5, 7)))

    def reference(values, indices, shape):
        out = np.zeros(shape)
        out.flat[np.asarray(indices).ravel()] = np.asarray(values).ravel()
        return out

    return run_cases("max_unpool", student_fn, cases, reference, names=("values", "indices", "shape"))


# --- Predict a shape ------------------------------------------------------------------

SHAPES_QUESTION = {"batch": 2, "height": 224, "width": 320, "num_classes": 21}
_VGG_WIDTHS = (64, 128, 256, 512, 512)


def segnet_shapes(batch: int, height: int, width: int, num_classes: int, pool: int = 3) -> dict:
    """The shapes asked about, worked out from SegNet's architecture (a test checks them on the real model)."""
    channels = _VGG_WIDTHS[pool - 1]
    return {"indices": (batch, channels, height >> pool, width >> pool),
            "unpooled": (batch, channels, height >> (pool - 1), width >> (pool - 1)),
            "output": (batch, num_classes, height, width)}


def _what_is_wrong(expected: tuple, got) -> str:
    try:
        got = tuple(int(g) for g in got)
    except (TypeError, ValueError):
        return f"give a tuple of four integers (N, C, H, W), got {got!r}"
    if len(got) != 4:
        return f"a torch tensor here has four axes (N, C, H, W), your answer has {len(got)}"
    names = ("batch", "channels", "height", "width")
    wrong = [name for name, e, g in zip(names, expected, got) if e != g]
    if got == (expected[0], expected[1], expected[3], expected[2]):
        return "height and width are swapped"
    if got[1:] == (expected[2], expected[3], expected[1]):
        return "channels come second in PyTorch (N, C, H, W), not last"
    return "wrong " + " and ".join(wrong)


def check_segnet_shapes(answer: dict) -> Passed:
    """Chapter 3, exercise "predict SegNet's shapes": a dict of three (N, C, H, W) tuples.

    The question: a full-width torch SegNet with 21 classes gets a batch of two
    3×224×320 images.  Keys: ``"indices"`` (what the third pooling returns as
    indices), ``"unpooled"`` (what the matching unpooling gives decoder stage
    3), ``"output"`` (the logits).  A wrong entry is named with what is wrong
    about it (batch, channels, height or width), not with the answer.
    """
    expected = segnet_shapes(**SHAPES_QUESTION)
    check_answered("segnet_shapes", answer)
    if not isinstance(answer, dict):
        raise ExerciseFailed(f"segnet_shapes: give a dict with the keys {sorted(expected)}, "
                             f"got {type(answer).__name__}")
    missing = sorted(set(expected) - set(answer))
    if missing:
        raise ExerciseFailed(f"segnet_shapes: the answer lacks {missing}")
    for key in expected:
        check_answered(f"segnet_shapes[{key!r}]", answer[key])
    problems = [f"  {key}: {_what_is_wrong(shape, answer[key])}" for key, shape in expected.items()
                if tuple(answer[key]) != shape]
    if problems:
        raise ExerciseFailed("segnet_shapes: not yet right:\n" + "\n".join(problems))
    return Passed("segnet_shapes", len(expected))


# --- Debug the tutorial's model ---------------------------------------------------------------------

_FIX_CASES = (((64, 64, 3), 4, 4), ((96, 64, 1), 2, 2), ((32, 128, 3), 21, 2))


def _conv_output_shapes(model) -> list:
    import keras

    return sorted(tuple(layer.output.shape[1:]) for layer in model.layers
                  if isinstance(layer, keras.layers.Conv2D))


def check_vgg_segnet_fix(student_builder) -> Passed | NotChecked:
    """Chapter 3, exercise "find the tutorial's bug": ``builder(input_shape, n_classes, width)`` -> a Keras model.

    On hidden narrow cases the fixed model must return scores of the input's
    height and width, have exactly the parameters of the tutorial's model as printed
    (batch-norm statistics counted, as Keras' summary does), and run every
    convolution at the same resolution as ``coursekit``'s VGG-SegNet: a model
    resized to the right size only at the end does not pass.
    """
    import importlib.util

    from ..models import build

    if importlib.util.find_spec("tensorflow") is None:  # the tutorial is Keras code: PyTorch alone cannot run it
        return NotChecked("vgg_segnet fix", "the tutorial's model is Keras code, and Keras is not installed")

    def reference(input_shape, n_classes, width):
        return build("vgg_segnet", "keras", in_channels=input_shape[2], num_classes=n_classes, width=width,
                     input_size=input_shape[:2])

    return run_cases("vgg_segnet fix", student_builder, _FIX_CASES, reference, compare=_compare_segnet_fix,
                     names=("input_shape", "n_classes", "width"), show_values=False)


def _compare_segnet_fix(reference, model, case) -> str | None:
    from ..models import count_params

    input_shape, n_classes, _ = case
    if not hasattr(model, "output"):
        return f"the builder must return a Keras model, got {type(model).__name__}"
    got_shape = tuple(model.output.shape[1:])
    if got_shape != (*input_shape[:2], n_classes):
        return (f"the output is {'×'.join(map(str, got_shape))}, "
                f"expected {input_shape[0]}×{input_shape[1]}×{n_classes}")
    got_params, expected_params = count_params(model, False), count_params(reference, False)
    if got_params != expected_params:
        return (f"{got_params:,} parameters, expected {expected_params:,} "
                "(the fix should not add or remove weights)")
    if _conv_output_shapes(model) != _conv_output_shapes(reference):
        return ("the output has the right size, but some convolutions run at the wrong resolution "
                "(is the size repaired only at the end?)")
    return None


def _reference_median_frequency(masks, num_classes, ignore_index):
    from ..losses import class_frequency_weights

    return class_frequency_weights(masks, num_classes, ignore_index=ignore_index)


def _balancing_cases(rng) -> list[tuple]:
    # every class appears somewhere, but not in every image: counting all pixels instead of those of the
    # images where a class appears gives other weights; void (the ignore index) must not be counted at all
    cases = [(np.array([[[0, 0, 0, 1], [0, 0, 1, 1]], [[0, 0, 0, 0], [0, 2, 0, 0]]]), 3, 255)]
    for shape, classes, void in (((3, 6, 5), 4, 4), ((5, 4, 4), 5, 255), ((2, 8, 8), 3, 3)):
        masks = rng.integers(0, classes, shape)
        masks[0][masks[0] == classes - 1] = 0       # the last class is missing from the first image
        masks[-1, :, :2] = void                     # and void covers a strip of the last one
        masks[-1, 0, 2] = classes - 1               # while the last class appears somewhere
        cases.append((masks, classes, void))
    return cases


def check_median_frequency_weights(student_fn) -> Passed:
    """Chapter 3, exercise "Weigh the rare classes": ``median_frequency_weights(masks, num_classes, ignore_index)``.

    ``masks`` is ``N×H×W`` labels; pixels labelled ``ignore_index`` count for
    nothing.  ``f_c`` = pixels of class ``c`` / pixels (not ignored) of the
    images in which ``c`` appears; the answer is ``median(f) / f_c`` for every
    class, as ``losses.class_frequency_weights`` computes it.  Every class
    appears in some image of the hidden cases.
    """
    rng = np.random.default_rng(311)
    return run_cases("median_frequency_weights", student_fn, _balancing_cases(rng), _reference_median_frequency,
                     tol=1e-6, names=("masks", "num_classes", "ignore_index"))


# --- Build a decoder stage ------------------------------------------------------------------

_STAGE_IMAGES = ((2, 64, 96), (1, 96, 32))  # N, H, W: sides that five poolings divide, tall and wide
_STAGE_WIDTH = 4  # the checker's SegNet: 4 to 32 channels instead of 64 to 512


class _SegNetStages:
    """A narrow SegNet of ``framework`` with "trained" batch norms, and every decoder stage's inputs and output.

    The stages' real inputs are the checker's hidden cases: the map from the stage below (or the encoder) and
    the indices of the matching pooling, on random images.  The reference is the model's own forward pass.
    """

    def __init__(self, framework: str, rng):
        from ..models import build
        from ..models.common import SEGNET_DECODER_BLOCKS
        from .twins import randomise_batch_norms

        self.framework = framework
        self.blocks = dict(SEGNET_DECODER_BLOCKS)
        self.model = build("segnet", framework, num_classes=3, width=_STAGE_WIDTH)
        randomise_batch_norms(self.model, framework, rng)
        if framework == "torch":
            self.model.eval()

    def in_channels(self, stage: str) -> int:
        names = list(self.blocks)
        below = names.index(stage) - 1
        return self._width(512) if below < 0 else self._width(self.blocks[names[below]][-1])

    def widths(self, stage: str) -> tuple[int, ...]:
        return tuple(self._width(w) for w in self.blocks[stage])

    @staticmethod
    def _width(channels: int) -> int:
        from ..models.common import scaled

        return scaled(channels, _STAGE_WIDTH / 64)

    def stages(self, images: np.ndarray) -> dict[str, tuple]:
        """For each stage, deepest first: ``(x, indices, output)`` as the framework's tensors, of N×C×H×W images."""
        if self.framework == "torch":
            import torch

            with torch.no_grad():
                x, indices, sizes = self.model.encode(torch.from_numpy(images))
                found = {}
                for (name, block), where, size in zip(self.model.decoder.items(), reversed(indices), reversed(sizes)):
                    output = block(self.model.unpool(x, where, output_size=size))
                    found[name], x = (x, where, output), output
            return found
        import keras

        names = list(self.blocks)
        tensors = []
        for name in names:
            tensors += self.model.get_layer(f"unpool_{name}").input  # [x, argmax]
            tensors.append(self.model.get_layer(f"decoder_{name}_{len(self.blocks[name]) - 1}_relu").output)
        values = keras.Model(self.model.input, tensors)(images.transpose(0, 2, 3, 1), training=False)
        return {name: tuple(values[3 * i:3 * i + 3]) for i, name in enumerate(names)}

    def reference_weights(self, stage: str) -> list:
        from .twins import weights_of

        if self.framework == "torch":
            return weights_of(self.model.decoder[stage], "torch")
        layers = [self.model.get_layer(f"decoder_{stage}_{i}_{part}")
                  for i in range(len(self.blocks[stage])) for part in ("conv", "bn")]
        return weights_of(layers, "keras")

    def block_on(self, stage: str, x):
        """The model's convolutions of ``stage`` applied to ``x``: the answer of a stage that up-sampled ``x``
        some other way than with the indices."""
        if self.framework == "torch":
            import torch

            with torch.no_grad():
                return self.model.decoder[stage](x)
        for i in range(len(self.blocks[stage])):
            for part in ("conv", "bn", "relu"):
                x = self.model.get_layer(f"decoder_{stage}_{i}_{part}")(x, **({"training": False} if part == "bn"
                                                                               else {}))
        return x

    def unpool(self, stage: str, x, indices):
        """The model's unpooling of ``stage`` applied to ``x``."""
        if self.framework == "torch":
            return self.model.unpool(x, indices)
        return self.model.get_layer(f"unpool_{stage}")([x, indices])

    def nearest(self, x):
        """``x`` doubled by nearest neighbour, in the framework's layout."""
        if self.framework == "torch":
            return x.repeat_interleave(2, -1).repeat_interleave(2, -2)
        import keras

        return keras.ops.repeat(keras.ops.repeat(x, 2, axis=1), 2, axis=2)

    def spatial(self, shape) -> tuple:
        return tuple(shape[-2:]) if self.framework == "torch" else tuple(shape[1:3])

    def channels(self, shape) -> int:
        return shape[1] if self.framework == "torch" else shape[-1]


def _stage_layout(framework: str, widths) -> str:
    conv = "Conv2d(3×3, padding 1, with bias), BatchNorm2d" if framework == "torch" else \
        "Conv2D(3, padding='same', with bias), BatchNormalization"
    return f"the unpooling, then for each of the widths {list(widths)}: {conv}, ReLU"


def _call_stage(stage_model, x, indices, framework: str):
    if framework == "torch":
        import torch

        with torch.no_grad():
            return stage_model.eval()(x, indices)
    return stage_model([x, indices], training=False)


def _diagnose_stage(got: np.ndarray, expected: np.ndarray, x, indices, segnet: _SegNetStages,
                    stage: str) -> str | None:
    from .twins import as_numpy, close

    framework = segnet.framework
    if got.shape != expected.shape:
        x_shape = tuple(x.shape)
        if got.ndim == 4 and segnet.spatial(got.shape) == segnet.spatial(x_shape):
            return "the output has the input's height and width: the stage starts by unpooling ×2 with the indices"
        if got.ndim == 4 and segnet.channels(got.shape) != segnet.channels(expected.shape):
            return (f"the output has {segnet.channels(got.shape)} channels: the stage's last convolution gives "
                    f"{segnet.channels(expected.shape)}, the width of the shallower block it hands on to")
        return "the output has the wrong shape"
    if close(got, expected):
        return None
    difference = float(np.abs(got - expected).max())
    if close(got, as_numpy(segnet.block_on(stage, segnet.nearest(x)), framework)):
        return ("this is nearest-neighbour up-sampling followed by the right convolutions: the values must go back "
                "to the positions the indices name, with zeros in the other three of each 2×2 window")
    if segnet.channels(x.shape) == segnet.channels(expected.shape):  # the order can be swapped without an error
        convolved_first = segnet.unpool(stage, segnet.block_on(stage, x), indices)
        if close(got, as_numpy(convolved_first, framework)):
            return ("the convolutions ran before the unpooling: the stage unpools first, so that its convolutions "
                    "fill in the sparse map")
    if got.min() < 0:
        return (f"the output has negative values (down to {got.min():.3g}): every convolution of the stage, the "
                "last one too, is followed by batch norm and a ReLU")
    if close(got, expected, tol=1e-2):
        hint = (" Keras' BatchNormalization has epsilon=1e-3 by default; SegNet's, as PyTorch's, uses 1e-5"
                if framework == "keras" else "")
        return f"nearly: the output differs from SegNet's by up to {difference:.3g}.{hint}"
    return (f"the output differs from SegNet's by up to {difference:.3g}: is it unpool first, then each "
            "convolution followed by its batch norm and ReLU, in the order of the widths?")


def check_segnet_decoder_stage(student_builder, framework: str = "torch") -> Passed:
    """Chapter 3, exercise "Build a decoder stage": ``decoder_stage(in_channels, widths)`` -> a stage of ``framework``.

    The stage unpools its input ×2 with the indices of the matching encoder
    pooling, then applies, for each entry of ``widths``, a 3×3 convolution
    with bias (same padding), batch norm (epsilon 1e-5) and a ReLU.  PyTorch:
    an ``nn.Module`` called as ``stage(x, indices)``, with
    ``MaxPool2d(2, return_indices=True)``'s indices; Keras: a ``keras.Model``
    called as ``stage([x, argmax])``, with the flat indices of coursekit's
    ``MaxPoolingWithArgmax``.  The checker builds each of the five stages of a
    narrow SegNet, copies the model's weights into it in order and compares
    outputs on the stage's real inputs for hidden images.
    """
    from .basics import _check_framework
    from .twins import as_numpy, copy_weights_in_order

    _check_framework(framework)
    rng = np.random.default_rng(333)
    segnet = _SegNetStages(framework, rng)
    images = [rng.normal(size=shape[:1] + (3,) + shape[1:]).astype(np.float32) for shape in _STAGE_IMAGES]
    found = [segnet.stages(batch) for batch in images]
    total, number = len(segnet.blocks) * len(found), 0
    for stage in segnet.blocks:
        in_channels, widths = segnet.in_channels(stage), segnet.widths(stage)
        built_as = f"  SegNet's {stage}: in_channels {in_channels}, widths {widths}"
        where = f"decoder_stage: hidden case {number + 1} of {total}"
        try:
            built = student_builder(in_channels, widths)
        except NotImplementedError:
            raise not_answered("decoder_stage") from None
        except Exception as err:  # the student's bug: say for which stage
            raise ExerciseFailed(f"{where} raised {type(err).__name__}: {err}\ninput:\n{built_as}") from err
        copy_weights_in_order(built, segnet.reference_weights(stage), framework, where,
                              _stage_layout(framework, widths))
        for stages in found:
            number += 1
            where = f"decoder_stage: hidden case {number} of {total}"
            x, indices, output = stages[stage]
            shown = f"{built_as}\n  x: shape {tuple(x.shape)}\n  indices: shape {tuple(indices.shape)}"
            try:
                got = as_numpy(_call_stage(built, x, indices, framework), framework)
            except Exception as err:  # noqa: BLE001 - the student's stage failed on this input
                raise ExerciseFailed(f"{where} raised {type(err).__name__}: {err}\ninput:\n{shown}") from err
            expected = as_numpy(output, framework)
            reason = _diagnose_stage(got, expected, x, indices, segnet, stage)
            if reason is not None:
                raise ExerciseFailed(f"{where} is wrong: {reason}\ninput:\n{shown}\n"
                                     f"expected: shape {expected.shape}\ngot: shape {got.shape}")
    return Passed("decoder_stage", number)
