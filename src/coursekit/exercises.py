"""Checkers for the chapters' exercises.

Each ``check_*`` function runs a student's function on hidden cases and
compares it with a reference.  On success it returns a short report; on the
first wrong answer it raises :class:`ExerciseFailed`, naming the input, the
expected value and what came back, never the reference code itself.
The chapter that teaches each exercise is named in its checker's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ExerciseFailed(AssertionError):
    """A student's answer gave a wrong result on a hidden case."""


@dataclass
class Passed:
    exercise: str
    cases: int

    def __repr__(self) -> str:
        return f"✔ {self.exercise}: all {self.cases} hidden cases pass"

    _repr_pretty_ = lambda self, p, cycle: p.text(repr(self))  # noqa: E731


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 36:
            return f"array of shape {value.shape}, dtype {value.dtype}:\n{np.array2string(value, precision=4)}"
        return f"array of shape {value.shape}, dtype {value.dtype}"
    return repr(value)


def _same(expected, got, tol: float) -> bool:
    if isinstance(expected, np.ndarray):
        got = np.asarray(got)
        if got.shape != expected.shape:
            return False
        return bool(np.allclose(got.astype(np.float64), expected.astype(np.float64), atol=tol, equal_nan=True))
    try:
        got = float(got)
    except (TypeError, ValueError):
        return False
    if np.isnan(expected):
        return bool(np.isnan(got))
    return abs(got - expected) <= tol


def _check(exercise: str, student_fn, cases, reference, tol: float = 1e-6) -> Passed:
    for number, args in enumerate(cases, 1):
        expected = reference(*args)
        try:
            got = student_fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        except NotImplementedError:
            raise ExerciseFailed(f"{exercise}: not answered yet (the function raises NotImplementedError)") from None
        if not _same(expected, got, tol):
            shown = "\n".join(f"  argument {i + 1}: {_describe(a)}" for i, a in enumerate(args))
            raise ExerciseFailed(f"{exercise}: hidden case {number} of {len(cases)} is wrong.\n"
                                 f"input:\n{shown}\nexpected: {_describe(expected)}\ngot: {_describe(got)}")
    return Passed(exercise, len(cases))


def _label_images(rng, count, num_classes, shape=(4, 5)):
    return [rng.integers(0, num_classes, shape) for _ in range(count)]


def check_one_hot(student_fn) -> Passed:
    """Chapter 1, exercise "one-hot masks": ``one_hot(mask, num_classes)`` -> ``H×W×C`` float32 of 0/1."""
    rng = np.random.default_rng(101)
    cases = [(np.array([[0, 1], [2, 1]]), 3), (np.zeros((2, 3), np.int64), 2)]
    cases += [(m, 4) for m in _label_images(rng, 3, 4)]
    cases += [(np.array([[1, 1]]), 5)]  # classes 0, 2, 3, 4 absent: their planes stay empty

    def reference(mask, num_classes):
        return (np.asarray(mask)[..., None] == np.arange(num_classes)).astype(np.float32)

    return _check("one_hot", student_fn, cases, reference)


def _reference_iou(target, prediction, cls):
    t, p = target == cls, prediction == cls
    union = np.logical_or(t, p).sum()
    return float(np.logical_and(t, p).sum() / union) if union else float("nan")


def check_class_iou(student_fn) -> Passed:
    """Chapter 1, exercise "IoU of one class": ``class_iou(target, prediction, cls)``.

    A class absent from both target and prediction has IoU ``nan``.
    """
    rng = np.random.default_rng(202)
    cases = [(np.array([[0, 1], [1, 1]]), np.array([[1, 1], [0, 1]]), 1),
             (np.array([[0, 0], [0, 0]]), np.array([[0, 0], [0, 0]]), 1),   # absent from both
             (np.array([[2, 2], [0, 0]]), np.array([[0, 0], [0, 0]]), 2)]   # missed entirely
    for t, p in zip(_label_images(rng, 4, 3), _label_images(rng, 4, 3)):
        cases.append((t, p, int(rng.integers(0, 3))))
    return _check("class_iou", student_fn, cases, _reference_iou)


def check_soft_dice(student_fn) -> Passed:
    """Chapter 1, exercise "soft Dice": ``soft_dice(probs, target, smooth=1.0)`` for one class.

    ``probs`` are predicted probabilities, ``target`` 0/1, both ``H×W``;
    the answer is ``(2 Σ p g + s) / (Σ p + Σ g + s)``.
    """
    rng = np.random.default_rng(303)
    cases = [(np.array([[0.9, 0.2], [0.1, 0.8]]), np.array([[1.0, 0.0], [0.0, 1.0]]), 1.0),
             (np.zeros((2, 2)), np.zeros((2, 2)), 1.0),   # empty class, empty prediction: Dice 1
             (np.full((2, 2), 0.5), np.ones((2, 2)), 0.0)]
    for _ in range(4):
        cases.append((rng.uniform(size=(3, 4)), (rng.uniform(size=(3, 4)) > 0.5).astype(np.float64),
                      float(rng.choice([1.0, 0.5]))))

    def reference(probs, target, smooth=1.0):
        return float((2 * (probs * target).sum() + smooth) / (probs.sum() + target.sum() + smooth))

    return _check("soft_dice", student_fn, cases, reference)
