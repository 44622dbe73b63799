"""Checkers for chapter 1 (Segmentation basics): one-hot masks, the IoU of one class, soft Dice."""

from __future__ import annotations

import numpy as np

from .core import Passed, run_cases

__all__ = ["check_class_iou", "check_one_hot", "check_soft_dice"]


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

    return run_cases("one_hot", student_fn, cases, reference, names=("mask", "num_classes"))


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
    return run_cases("class_iou", student_fn, cases, _reference_iou, names=("target", "prediction", "cls"))


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

    return run_cases("soft_dice", student_fn, cases, reference, names=("probs", "target", "smooth"))
