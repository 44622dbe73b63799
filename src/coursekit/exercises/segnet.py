"""Checkers for chapter 3 (SegNet): pooling that remembers, unpooling, SegNet's shapes, the tutorial's bug.

Index convention, as PyTorch's ``MaxPool2d(return_indices=True)``: the
position of a maximum is a flat index ``row * width + column`` into the
plane that was pooled, and a tie goes to the first position in reading order.
"""

from __future__ import annotations

import numpy as np

from .core import ExerciseFailed, Passed, _same, check_answered, run_cases

__all__ = ["check_max_pool_with_indices", "check_max_unpool", "check_median_frequency_weights", "check_segnet_shapes",
           "check_vgg_segnet_fix"]


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


def check_vgg_segnet_fix(student_builder) -> Passed:
    """Chapter 3, exercise "find the tutorial's bug": ``builder(input_shape, n_classes, width)`` -> a Keras model.

    On hidden narrow cases the fixed model must return scores of the input's
    height and width, have exactly the parameters of the tutorial's model as printed
    (batch-norm statistics counted, as Keras' summary does), and run every
    convolution at the same resolution as ``coursekit``'s VGG-SegNet: a model
    resized to the right size only at the end does not pass.
    """
    from ..models import build

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

