"""Checkers for chapters 5 (Medical image data): CT windowing and the shape of a resampled and sliced
CT batch; and 6 (Scoring medical segmentation): Dice per image and pooled, and a split of one image that
leaks no tile."""

from __future__ import annotations

import numpy as np

from .core import ExerciseFailed, Passed, _describe, check_answered, run_cases

__all__ = ["check_ct_window", "check_dice_per_image_and_pooled", "check_slice_batch_shapes", "check_split_tiles"]


# ---------------------------------------------------------------- CT windowing

def _reference_window(hu, level, width):
    low = level - width / 2
    return np.clip((np.asarray(hu, np.float64) - low) / width, 0.0, 1.0)


def check_ct_window(student_fn) -> Passed:
    """Chapter 5, exercise "CT windowing": ``ct_window(hu, level, width)`` -> values in [0, 1].

    The window spans ``level - width / 2`` to ``level + width / 2`` HU; values below map to 0,
    above to 1, linearly between.
    """
    rng = np.random.default_rng(505)
    ramp = np.linspace(-1100, 1100, 12).reshape(3, 4)
    cases = [(ramp, 50.0, 300.0),                       # soft tissue: -100 to 200 HU
             (ramp, -600.0, 1500.0),                    # lung
             (np.array([[-1000.0, 0.0], [40.0, 80.0]]), 40.0, 80.0),  # brain: air, water, grey matter, bleed
             (np.array([[-100.0, 50.0, 200.0]]), 50.0, 300.0)]        # exactly the ends and the centre
    for _ in range(3):
        cases.append((rng.uniform(-1024, 1500, size=(4, 5)), float(rng.uniform(-500, 400)),
                      float(rng.uniform(80, 2000))))
    return run_cases("ct_window", student_fn, cases, _reference_window, names=("hu", "level", "width"))


# ---------------------------------------------------------------- Dice per image and pooled

def _dice(t: np.ndarray, p: np.ndarray) -> float:
    size = t.sum() + p.sum()
    return float(2 * np.logical_and(t, p).sum() / size) if size else float("nan")


def _reference_dice_pair(targets, predictions):
    targets, predictions = np.asarray(targets) > 0, np.asarray(predictions) > 0
    per_image = np.array([_dice(t, p) for t, p in zip(targets, predictions)])
    mean = float(np.mean(per_image[~np.isnan(per_image)])) if (~np.isnan(per_image)).any() else float("nan")
    return np.array([mean, _dice(targets, predictions)])


def check_dice_per_image_and_pooled(student_fn) -> Passed:
    """Chapter 6, exercise "per image or pooled": ``dice_per_image_and_pooled(targets, predictions)``.

    ``targets`` and ``predictions`` are ``N×H×W`` 0/1 masks.  The answer is a pair: the mean
    of the images' Dice scores, skipping images where both masks are empty (their Dice is
    undefined), and the Dice of all pixels pooled; ``nan`` where nothing is defined.
    """
    rng = np.random.default_rng(606)
    big = np.zeros((6, 6), np.int64)
    big[1:5, 1:5] = 1
    speck = np.zeros((6, 6), np.int64)
    speck[2, 2] = 1
    empty = np.zeros((6, 6), np.int64)
    cases = [(np.stack([big, speck]), np.stack([big, empty])),              # a large hit and a missed speck
             (np.stack([big, empty, empty]), np.stack([big, empty, speck])),  # an empty image, a false alarm
             (np.stack([empty, empty]), np.stack([empty, empty])),          # nothing anywhere: undefined
             (np.stack([empty, big]), np.stack([empty, np.roll(big, 1, axis=1)]))]
    for _ in range(3):
        shape = (int(rng.integers(2, 5)), 5, 6)
        targets = (rng.uniform(size=shape) < rng.uniform(0.05, 0.5)).astype(np.int64)
        predictions = (rng.uniform(size=shape) < rng.uniform(0.05, 0.5)).astype(np.int64)
        targets[0] = 0
        predictions[0] = 0  # always one image with nothing to find and nothing found
        cases.append((targets, predictions))
    return run_cases("dice_per_image_and_pooled", student_fn, cases, _reference_dice_pair,
                     names=("targets", "predictions"))


# ---------------------------------------------------------------- predict the shapes

# The exercise: a 512×512×90 CT (RAS+, axis 2 feet to head) at 0.75×0.75×2.5 mm, resampled to
# 1.5×1.5×5 mm, cut into axial slices and stacked as a one-channel batch.
_SLICE_EXERCISE = {"shape": (512, 512, 90), "spacing": (0.75, 0.75, 2.5), "new_spacing": (1.5, 1.5, 5.0)}


def _slice_batches() -> tuple[tuple[int, ...], tuple[int, ...]]:
    x, y, z = (round(n * s / t) for n, s, t in zip(_SLICE_EXERCISE["shape"], _SLICE_EXERCISE["spacing"],
                                                   _SLICE_EXERCISE["new_spacing"]))
    return (z, y, x, 1), (z, 1, y, x)


def _shape_hint(got: tuple[int, ...], expected: tuple[int, ...], framework: str) -> str:
    if sorted(got) == sorted(expected):
        return " (the right numbers in the wrong order: where does each framework put the channels?)"
    if len(got) == 4 and got[0] == _SLICE_EXERCISE["shape"][2]:
        return " (that many slices is the volume before resampling; 2.5 mm to 5 mm halves the slice count)"
    if len(got) == 4 and 512 in got:
        return " (the slices are still 512 pixels wide: resampling 0.75 mm to 1.5 mm halves them)"
    if len(got) == 4 and got[0] == 2 * _SLICE_EXERCISE["shape"][2]:
        return " (more slices than before: going from 2.5 mm to 5 mm voxels leaves fewer, not more)"
    if len(got) != 4:
        return f" ({framework} wants four axes: slices, channels and two image axes)"
    return ""


def check_slice_batch_shapes(keras_shape, torch_shape) -> Passed:
    """Chapter 5, exercise "predict the shapes": the batch of axial slices of a resampled CT.

    ``keras_shape`` is the ``N×H×W×C`` shape of the batch Keras takes, ``torch_shape`` the
    ``N×C×H×W`` shape PyTorch takes, both as tuples.
    """
    for answer in (keras_shape, torch_shape):
        check_answered("slice_batch_shapes", answer)
    expected_keras, expected_torch = _slice_batches()
    for framework, expected, got in (("Keras", expected_keras, keras_shape), ("PyTorch", expected_torch, torch_shape)):
        try:
            got_tuple = tuple(int(d) for d in got)
        except (TypeError, ValueError):
            raise ExerciseFailed(f"slice_batch_shapes: the {framework} shape must be a tuple of ints, "
                                 f"got {got!r}") from None
        if got_tuple != expected:
            raise ExerciseFailed(f"slice_batch_shapes: the {framework} batch is not {got_tuple}"
                                 f"{_shape_hint(got_tuple, expected, framework)}.\n"
                                 f"input: a {_SLICE_EXERCISE['shape']} CT at {_SLICE_EXERCISE['spacing']} mm, "
                                 f"resampled to {_SLICE_EXERCISE['new_spacing']} mm and cut into axial slices\n"
                                 f"expected: a different tuple\ngot: {got_tuple}")
    return Passed("slice_batch_shapes", 2)


# ---------------------------------------------------------------- a split that leaks no tile

_SPLIT_CASES = [(64, 96, 16, 8, 0.25), (64, 96, 16, 16, 0.25), (50, 70, 10, 5, 0.3), (32, 128, 32, 16, 0.5),
                (40, 60, 8, 4, 0.4)]


def _reference_split(height, width, tile, stride, val_fraction):
    val_width = round(val_fraction * width)
    tops = range(0, height - tile + 1, stride)
    train = [(t, left) for t in tops for left in range(0, width - val_width - tile + 1, stride)]
    val = [(t, left) for t in tops for left in range(width - val_width, width - tile + 1, stride)]
    return train, val


def _corners(value) -> set[tuple[int, int]] | None:
    """The ``(top, left)`` pairs of a student's list, or None when it is not such a list."""
    try:
        return {(int(top), int(left)) for top, left in value}
    except (TypeError, ValueError):
        return None


def _coverage(corners, shape, tile) -> np.ndarray:
    covered = np.zeros(shape, bool)
    for top, left in corners:
        covered[top:top + tile, left:left + tile] = True
    return covered


def check_split_tiles(student_fn) -> Passed:
    """Chapter 6, exercise "find the leak": ``split_tiles(height, width, tile, stride, val_fraction)``.

    Returns ``(train, val)``, lists of the ``(top, left)`` corners of square tiles.  The last
    ``round(val_fraction * width)`` columns are the validation region: validation tiles lie
    inside it, training tiles outside it, and each region is tiled from its own left edge with
    the given stride, so that no pixel is in both a training and a validation tile.
    """
    return run_cases("split_tiles", student_fn, _SPLIT_CASES, _reference_split, compare=_compare_split,
                     names=("height", "width", "tile", "stride", "val_fraction"), show_values=False)


def _compare_split(expected, answer, case) -> str | None:
    height, width, tile, _, _ = case
    try:
        train_answer, val_answer = answer
    except (TypeError, ValueError):
        return f"return a pair (train, val), got {_describe(answer)}"
    train, val = _corners(train_answer), _corners(val_answer)
    for what, corners, given in (("training", train, train_answer), ("validation", val, val_answer)):
        if corners is None:
            return f"the {what} tiles must be a list of (top, left) pairs, got {_describe(given)}"
    for top, left in sorted(train | val):
        if top < 0 or left < 0 or top + tile > height or left + tile > width:
            return f"the tile at ({top}, {left}) reaches outside the image"
    shared = _coverage(train, (height, width), tile) & _coverage(val, (height, width), tile)
    if shared.any():
        ys, xs = np.nonzero(shared)
        return (f"{int(shared.sum())} pixels are in a training tile and in a validation tile (the first at row "
                f"{ys[0]}, column {xs[0]}): the leak is still there\nexpected: no shared pixel\n"
                f"got: {int(shared.sum())} shared pixels")
    for what, right, got in (("training", set(expected[0]), train), ("validation", set(expected[1]), val)):
        if got != right:
            missing, extra = sorted(right - got), sorted(got - right)
            among = f", among them {missing[:3]}" if missing else ""
            unexpected = f", among them {extra[:3]} not expected" if extra else ""
            return (f"the {what} tiles are not the expected ones\nexpected: {len(right)} tiles{among}\n"
                    f"got: {len(got)} tiles{unexpected}")
    return None
