"""Segmentation metrics on NumPy label images, written once for both frameworks.

Taught in chapter 1 (Measuring a segmentation).  Every score here is computed
from one confusion matrix, so they always agree with each other.

Conventions
-----------
* ``target`` and ``prediction`` are integer label images of the same shape
  (``H×W`` or a batch ``N×H×W``) holding class indices ``0 .. num_classes-1``.
* Pixels whose target equals ``ignore_index`` are left out of every score
  (their prediction is not looked at).
* **Absent classes.**  A class that appears neither in the target nor in the
  prediction has no pixels to be right or wrong about: its IoU and Dice are
  ``nan``, and ``mean_iou``/``mean_dice`` average over the other classes.  A
  class present in only one of the two scores 0.  If no class is present at all
  the means are ``nan``.
"""

from __future__ import annotations

import numpy as np


def _check_labels(target, prediction, num_classes: int, ignore_index: int | None):
    target = np.asarray(target)
    prediction = np.asarray(prediction)
    if target.shape != prediction.shape:
        raise ValueError(f"target has shape {target.shape} but prediction has shape {prediction.shape}; "
                         "pass label images (argmax of the scores), not one-hot or logits")
    for name, labels in (("target", target), ("prediction", prediction)):
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"{name} must hold integer class labels, not {labels.dtype}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    keep = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    for name, labels in (("target", target[keep]), ("prediction", prediction[keep])):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            bad = labels[(labels < 0) | (labels >= num_classes)][0]
            raise ValueError(f"{name} holds label {bad}, outside 0..{num_classes - 1} "
                             f"(num_classes={num_classes}, ignore_index={ignore_index})")
    return target[keep].astype(np.int64), prediction[keep].astype(np.int64)


def confusion_matrix(target, prediction, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Count pixels by (true class, predicted class).

    Row ``i``, column ``j`` holds the number of pixels of class ``i`` predicted
    as class ``j``; the diagonal holds the correct pixels.
    """
    t, p = _check_labels(target, prediction, num_classes, ignore_index)
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def pixel_accuracy_from_confusion(cm: np.ndarray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class IoU = TP / (TP + FP + FN); ``nan`` for a class absent from both."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def dice_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class Dice = 2 TP / (2 TP + FP + FN); ``nan`` for a class absent from both."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    sizes = cm.sum(0) + cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes > 0, 2 * tp / sizes, np.nan)


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def pixel_accuracy(target, prediction, num_classes: int, ignore_index: int | None = None) -> float:
    """Fraction of (non-ignored) pixels whose predicted class is right."""
    return pixel_accuracy_from_confusion(confusion_matrix(target, prediction, num_classes, ignore_index))


def iou_per_class(target, prediction, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Intersection over union of each class (Jaccard index); see the absent-class rule above."""
    return iou_from_confusion(confusion_matrix(target, prediction, num_classes, ignore_index))


def mean_iou(target, prediction, num_classes: int, ignore_index: int | None = None) -> float:
    """Mean of the per-class IoU over the classes present in target or prediction."""
    return _nanmean(iou_per_class(target, prediction, num_classes, ignore_index))


def dice_per_class(target, prediction, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Dice coefficient (F1 score) of each class; see the absent-class rule above."""
    return dice_from_confusion(confusion_matrix(target, prediction, num_classes, ignore_index))


def mean_dice(target, prediction, num_classes: int, ignore_index: int | None = None) -> float:
    """Mean of the per-class Dice over the classes present in target or prediction."""
    return _nanmean(dice_per_class(target, prediction, num_classes, ignore_index))


def dice_from_iou(iou):
    """Dice of a class from its IoU: ``D = 2 J / (1 + J)`` (the two rank models alike)."""
    iou = np.asarray(iou, dtype=np.float64)
    return 2 * iou / (1 + iou)


def scores(target, prediction, num_classes: int, ignore_index: int | None = None) -> dict:
    """All chapter-1 scores at once, from one confusion matrix."""
    cm = confusion_matrix(target, prediction, num_classes, ignore_index)
    iou, dice = iou_from_confusion(cm), dice_from_confusion(cm)
    return {"pixel_accuracy": pixel_accuracy_from_confusion(cm), "miou": _nanmean(iou),
            "mean_dice": _nanmean(dice), "iou": iou, "dice": dice, "confusion": cm}
