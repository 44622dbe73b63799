"""Segmentation metrics on NumPy label images, written once for both frameworks.

Taught in chapter 1 (Measuring a segmentation).  Every pixel score here is
computed from one confusion matrix, so they always agree with each other
(:class:`ConfusionMatrix` sums it over batches); the boundary scores of chapter 6
(boundary F1, HD95) compare outlines instead.

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
  the means are ``nan``.  Class accuracy (recall) asks about the target's
  pixels only, so it is ``nan`` for every class absent from the target.
* **Boundary scores** (boundary F1 and HD95, taught in chapter 6) compare the
  *boundaries* of each class's mask, not its pixels, one image at a time.  A
  boundary pixel is a pixel of the mask with a 4-neighbour outside it; the image
  frame counts as outside (as in MedPy's ``hd95``), so every non-empty mask has a
  boundary.  Pixels whose target is ``ignore_index`` are outside every class in
  both target and prediction.  **Empty masks:** a class absent from both the
  target and the prediction of an image scores ``nan`` there and is skipped in
  every mean, over classes and over images; a class present in only one of the
  two scores boundary F1 ``0`` and HD95 ``inf`` (there is nothing to measure a
  distance to), and an ``inf`` makes a mean HD95 ``inf``.
* **Objects** (:func:`match_objects`, chapter 6) compare instances, not pixels:
  each connected predicted region is matched one to one with a true object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def check_ignore_index(ignore_index) -> int | None:
    """``ignore_index`` as a Python int (or ``None``), refusing what cannot be a label.

    A float or a string would compare unequal to every integer label and so
    ignore nothing, without a word; ``True`` would quietly mean label 1.
    """
    if ignore_index is None:
        return None
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index must be an integer label or None, got {ignore_index!r}")
    return int(ignore_index)


def check_label_range(name: str, labels, num_classes: int, ignore_index: int | None) -> None:
    """Refuse a label that is neither a class index nor ``ignore_index``, naming the first one found.

    Training and evaluation raise this same error (:mod:`coursekit.train`), so
    that a stray value is never dropped in one and counted in the other.
    """
    labels = np.asarray(labels)
    if labels.size == 0 or (labels.min() >= 0 and labels.max() < num_classes):
        return  # the common case, without a mask the size of the data
    outside = (labels < 0) | (labels >= num_classes)
    if ignore_index is not None:
        outside &= labels != ignore_index
    if outside.any():
        _refuse_label(name, labels[outside][0], num_classes, ignore_index)


def _refuse_label(name: str, label, num_classes: int, ignore_index: int | None):
    raise ValueError(f"{name} holds label {label}, outside 0..{num_classes - 1} "
                     f"(num_classes={num_classes}, ignore_index={ignore_index})")


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
            _refuse_label(name, labels[(labels < 0) | (labels >= num_classes)][0], num_classes, ignore_index)
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


def class_accuracy_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class accuracy (recall) = TP / pixels of the class; ``nan`` for a class absent from the target."""
    cm = np.asarray(cm, dtype=np.float64)
    truth = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(truth > 0, np.diag(cm) / truth, np.nan)


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


def class_accuracy_per_class(target, prediction, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Per class, the share of its pixels predicted as it (its recall)."""
    return class_accuracy_from_confusion(confusion_matrix(target, prediction, num_classes, ignore_index))


def mean_class_accuracy(target, prediction, num_classes: int, ignore_index: int | None = None) -> float:
    """The mean of the per-class accuracies: the SegNet paper's "class average accuracy" (chapter 3).

    Pixel accuracy counts pixels, so large classes (road, sky) dominate it;
    this counts classes alike, so a model that never finds poles loses a full
    eleventh of it on CamVid however few pixels poles cover.
    """
    return _nanmean(class_accuracy_per_class(target, prediction, num_classes, ignore_index))


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
    return _scores_of(confusion_matrix(target, prediction, num_classes, ignore_index))


def _scores_of(cm: np.ndarray) -> dict:
    iou, dice, accuracy = iou_from_confusion(cm), dice_from_confusion(cm), class_accuracy_from_confusion(cm)
    return {"pixel_accuracy": pixel_accuracy_from_confusion(cm), "mean_class_accuracy": _nanmean(accuracy),
            "mean_iou": _nanmean(iou), "mean_dice": _nanmean(dice), "iou_per_class": iou, "dice_per_class": dice,
            "class_accuracy_per_class": accuracy, "confusion": cm}


class ConfusionMatrix:
    """A confusion matrix summed over batches, for scores over a whole dataset.

    ``update(target, prediction)`` adds one batch; the scores then equal those of
    :func:`confusion_matrix` on all batches at once.  Averaging per-batch mIoUs
    instead would weigh a small last batch like a full one and would not be the
    dataset's mIoU.  Taught in chapter 1 (Training).
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None):
        if int(num_classes) != num_classes or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self._matrix = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, target, prediction) -> ConfusionMatrix:
        """Add a batch of label images (any shape, as :func:`confusion_matrix` takes)."""
        self._matrix += confusion_matrix(target, prediction, self.num_classes, self.ignore_index)
        return self

    def reset(self) -> None:
        self._matrix[...] = 0

    @property
    def matrix(self) -> np.ndarray:
        """The counts so far (a copy): row = true class, column = predicted class."""
        return self._matrix.copy()

    def iou_per_class(self) -> np.ndarray:
        return iou_from_confusion(self._matrix)

    def dice_per_class(self) -> np.ndarray:
        return dice_from_confusion(self._matrix)

    def mean_iou(self) -> float:
        """Mean IoU over the classes seen so far in target or prediction."""
        return _nanmean(self.iou_per_class())

    def mean_dice(self) -> float:
        """Mean Dice over the classes seen so far in target or prediction."""
        return _nanmean(self.dice_per_class())

    def pixel_accuracy(self) -> float:
        return pixel_accuracy_from_confusion(self._matrix)

    def mean_class_accuracy(self) -> float:
        """Mean over the classes seen so far in the target of the share of their pixels found."""
        return _nanmean(class_accuracy_from_confusion(self._matrix))

    def scores(self) -> dict:
        """The same dictionary as :func:`scores`, for everything seen so far."""
        return _scores_of(self.matrix)

    def __repr__(self) -> str:
        return (f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
                f"pixels={int(self._matrix.sum())})")


# ---------------------------------------------------------------------------
# Boundary scores: boundary F1 and HD95 (chapter 6).


def boundary(mask) -> np.ndarray:
    """The boundary pixels of a boolean mask (any number of dimensions).

    A pixel of the mask is on its boundary when one of its face neighbours (4 in
    2-D, 6 in 3-D) is outside the mask or outside the array.
    """
    from scipy import ndimage

    mask = np.asarray(mask, bool)
    if not mask.any():
        return mask.copy()
    cross = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=cross, border_value=0)


def _check_spacing(spacing, ndim: int):
    if spacing is None:
        return None
    sizes = tuple(float(s) for s in np.ravel(spacing))
    if len(sizes) != ndim or not all(np.isfinite(sizes)) or min(sizes) <= 0:
        raise ValueError(f"spacing must hold {ndim} positive pixel sizes (one per axis), got {spacing}")
    return sizes


def surface_distances(mask_a, mask_b, spacing=None) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each boundary point of ``mask_a`` to the boundary of ``mask_b``, and back.

    Returns two 1-D arrays: one distance per boundary pixel of ``a`` (to the
    nearest boundary pixel of ``b``) and one per boundary pixel of ``b``.  A
    Euclidean distance transform of each boundary's complement gives the exact
    nearest-point distances without comparing every pair.  ``spacing`` is the
    size of a pixel along each axis (default 1), so that distances come in
    physical units.  Both masks must be non-empty.
    """
    from scipy.ndimage import distance_transform_edt

    a, b = np.asarray(mask_a, bool), np.asarray(mask_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"masks have shapes {a.shape} and {b.shape}; they must be the same")
    if not a.any() or not b.any():
        raise ValueError("surface distances need two non-empty masks; see the empty-mask rule of this module")
    spacing = _check_spacing(spacing, a.ndim)
    edge_a, edge_b = boundary(a), boundary(b)
    to_b = distance_transform_edt(~edge_b, sampling=spacing)[edge_a]
    to_a = distance_transform_edt(~edge_a, sampling=spacing)[edge_b]
    return to_b, to_a


def _boundary_f1_of_masks(t: np.ndarray, p: np.ndarray, tolerance: float) -> float:
    if not t.any() and not p.any():
        return float("nan")
    if not t.any() or not p.any():
        return 0.0
    t_to_p, p_to_t = surface_distances(t, p)
    precision = np.mean(p_to_t <= tolerance)
    recall = np.mean(t_to_p <= tolerance)
    return float(2 * precision * recall / (precision + recall)) if precision + recall > 0 else 0.0


def _hd95_of_masks(t: np.ndarray, p: np.ndarray, spacing) -> float:
    if not t.any() and not p.any():
        return float("nan")
    if not t.any() or not p.any():
        return float("inf")
    return float(np.percentile(np.concatenate(surface_distances(t, p, spacing)), 95))


def _per_image_per_class(target, prediction, num_classes, ignore_index, score) -> np.ndarray:
    """``score(target_mask, prediction_mask)`` for each class, averaged over the images where it is defined."""
    _check_labels(target, prediction, num_classes, ignore_index)  # shapes, dtypes, label range
    target, prediction = np.asarray(target), np.asarray(prediction)
    if target.ndim not in (2, 3):
        raise ValueError(f"boundary scores take H×W images or N×H×W batches, got shape {target.shape}")
    if target.ndim == 2:
        target, prediction = target[None], prediction[None]
    table = np.full((len(target), num_classes), np.nan)
    for i, (t, p) in enumerate(zip(target, prediction)):
        valid = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
        for c in range(num_classes):
            table[i, c] = score((t == c) & valid, (p == c) & valid)
    counted = ~np.isnan(table)
    with np.errstate(invalid="ignore"):  # inf - inf never happens; 0/0 only where nothing is counted
        means = np.where(counted, table, 0).sum(0) / counted.sum(0)
    return np.where(counted.any(0), means, np.nan)


def boundary_f1_per_class(target, prediction, num_classes: int, tolerance: float = 2,
                          ignore_index: int | None = None) -> np.ndarray:
    """Boundary F1 (BF score, Csurka et al. 2013, "What is a good evaluation measure for semantic
    segmentation?") of each class.

    For one class in one image: precision is the fraction of predicted boundary
    pixels within ``tolerance`` pixels (Euclidean) of the target's boundary,
    recall the fraction of target boundary pixels within ``tolerance`` of the
    predicted boundary, and BF = 2PR / (P + R).  It rewards outlines that follow
    the true ones, which pixel-counting scores barely notice.  For an ``N×H×W``
    batch each class's BF is the mean over the images where it is defined (as
    Csurka et al. average per image).  Empty masks: see the module docstring.
    Defined in chapter 1, used to compare decoders in chapters 2 and 3, and
    beside the other boundary scores in chapter 6.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
    return _per_image_per_class(target, prediction, num_classes, ignore_index,
                                lambda t, p: _boundary_f1_of_masks(t, p, tolerance))


def mean_boundary_f1(target, prediction, num_classes: int, tolerance: float = 2,
                     ignore_index: int | None = None) -> float:
    """Mean of :func:`boundary_f1_per_class` over the classes where it is defined."""
    return _nanmean(boundary_f1_per_class(target, prediction, num_classes, tolerance, ignore_index))


def hd95_per_class(target, prediction, num_classes: int, spacing=None,
                   ignore_index: int | None = None) -> np.ndarray:
    """95th-percentile Hausdorff distance (HD95) of each class, between boundaries.

    For one class in one image: the distances from every target boundary pixel
    to the predicted boundary and from every predicted boundary pixel to the
    target boundary are pooled, and HD95 is their 95th percentile (linear
    interpolation; the pooled convention of MedPy's ``hd95``).  The Hausdorff
    distance is their maximum, which a single stray pixel decides; the 95th
    percentile ignores the worst 5 %.  ``spacing`` is the (row, column) pixel size,
    so that distances come in physical units (default: pixels).  For an
    ``N×H×W`` batch, the mean over the images where it is defined.  Empty masks:
    see the module docstring.  Taught in chapter 6.
    """
    spacing = _check_spacing(spacing, 2)
    return _per_image_per_class(target, prediction, num_classes, ignore_index,
                                lambda t, p: _hd95_of_masks(t, p, spacing))


def mean_hd95(target, prediction, num_classes: int, spacing=None, ignore_index: int | None = None) -> float:
    """Mean of :func:`hd95_per_class` over the classes where it is defined (``inf`` if one is ``inf``)."""
    return _nanmean(hd95_per_class(target, prediction, num_classes, spacing, ignore_index))


# --- Objects: instances matched one to one (chapter 6) ---------------------------------------------


@dataclass(frozen=True)
class ObjectMatch:
    """What :func:`match_objects` found: counts, the merges, the predicted objects and the object F1."""

    true: int          # true objects with pixels in the region
    predicted: int     # predicted objects (connected components)
    matched: int       # pairs with IoU above the threshold: each true object matches at most one predicted one
    merged: list       # labels of predicted objects that cover two or more true objects (half of each, at least)
    labels: np.ndarray = field(repr=False)  # the predicted objects, numbered 1.. (0: background)
    f1: float = float("nan")  # 2·matched / (true + predicted); nan when both are 0


def match_objects(true_instances, predicted_mask, threshold: float = 0.5) -> ObjectMatch:
    """Match the connected components of ``predicted_mask`` to the true instances, one to one.

    ``true_instances`` numbers the true objects (0 background, 1, 2, ... one
    number per object, as DSB 2018's nuclei); the predicted objects are the
    4-connected components of ``predicted_mask`` (non-zero pixels).  A predicted
    object matches a true one when their IoU exceeds ``threshold``; above 0.5 a
    match is unique, since two objects cannot both overlap more than half of a
    third.  The object F1 counts matches against all true and all predicted
    objects, so that spurious specks and missed objects both cost.  A predicted
    object that covers at least half of each of two or more true objects is a
    *merge*, the error that a pixel score barely sees.  Taught in chapter 6.
    """
    from scipy import ndimage

    true_instances = np.asarray(true_instances)
    predicted_mask = np.asarray(predicted_mask)
    if true_instances.shape != predicted_mask.shape:
        raise ValueError(f"true_instances {true_instances.shape} and predicted_mask {predicted_mask.shape} "
                         "must have the same shape")
    if not np.issubdtype(true_instances.dtype, np.integer) or (true_instances.size and true_instances.min() < 0):
        raise ValueError("true_instances must hold whole numbers 0 (background), 1, 2, ... one per object")
    labels, count = ndimage.label(predicted_mask != 0)
    # overlap[i, j]: pixels shared by true object i and predicted object j (row and column 0: background)
    overlap = np.zeros((int(true_instances.max(initial=0)) + 1, count + 1), np.int64)
    np.add.at(overlap, (true_instances.ravel(), labels.ravel()), 1)
    true_area, predicted_area = overlap.sum(1), overlap.sum(0)
    union = true_area[1:, None] + predicted_area[None, 1:] - overlap[1:, 1:]
    matched = int((overlap[1:, 1:] / np.maximum(union, 1) > threshold).sum())
    present = true_area[1:] > 0
    covers = present[:, None] & (overlap[1:, 1:] >= 0.5 * true_area[1:, None])
    merged = [j + 1 for j in range(count) if covers[:, j].sum() >= 2]
    total = int(present.sum()) + count
    return ObjectMatch(int(present.sum()), count, matched, merged, labels,
                       2 * matched / total if total else float("nan"))
