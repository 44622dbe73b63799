"""Two baselines that a trained network must beat before its score means anything.

Taught in chapter 2 (FCN) and used by every chapter that trains a model.  A
score is only informative beside what no learning at all achieves:

- *majority class*: predict the class that covers most training pixels,
  everywhere.  On ISBI 2012, where 78 % of the pixels are cell interior, this
  already scores a cell Dice near 0.89 while finding no membrane at all.
- *Otsu thresholding* (Otsu 1979): split each image's grey levels into two
  groups at the threshold that maximises the variance between them, then name
  each side with the training class that is most enriched on it.  It is the classical
  answer for microscopy with a dark and a bright class.

Both work on NumPy arrays of any dataset: images ``N×H×W×C`` in [0, 1] and
masks ``N×H×W`` of class indices.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MajorityClass", "OtsuThreshold", "otsu_threshold"]


def _check(images: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be N×H×W×C, got shape {images.shape}")
    if masks is not None and np.shape(masks) != images.shape[:3]:
        raise ValueError(f"masks must be N×H×W matching the images {images.shape[:3]}, got {np.shape(masks)}")
    return images


def _grey(images: np.ndarray) -> np.ndarray:
    return images.mean(axis=-1)


class MajorityClass:
    """Predicts the most frequent training class at every pixel."""

    def fit(self, images, masks, ignore_index: int | None = None) -> MajorityClass:
        """Learn the most frequent label of ``masks``; pixels labelled ``ignore_index`` (CamVid's void) do not count."""
        _check(images, masks)
        labels = np.asarray(masks).ravel()
        if ignore_index is not None:
            labels = labels[labels != ignore_index]
        self.label_ = int(np.bincount(labels).argmax())
        return self

    def predict(self, images) -> np.ndarray:
        images = _check(images)
        return np.full(images.shape[:3], self.label_, np.int64)


def otsu_threshold(grey: np.ndarray, bins: int = 256) -> float:
    """The grey level that maximises the between-group variance of ``grey`` (Otsu 1979).

    ``grey`` holds values in [0, 1]; the answer is the upper edge of the last
    bin of the dark group.  An image of one grey level has no split: its value.
    """
    grey = np.asarray(grey, np.float64).ravel()
    counts, edges = np.histogram(grey, bins=bins, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_dark = np.cumsum(counts)
    weight_bright = weight_dark[-1] - weight_dark
    sum_dark = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_dark = sum_dark / weight_dark
        mean_bright = (sum_dark[-1] - sum_dark) / weight_bright
        between = weight_dark * weight_bright * (mean_dark - mean_bright) ** 2
    between = np.nan_to_num(between[:-1], nan=-1.0)
    if between.max() <= 0:
        return float(grey.mean()) if grey.size else 0.5
    return float(edges[1 + int(between.argmax())])


class OtsuThreshold:
    """Otsu's threshold per image; each side is named by the training class most enriched on it.

    ``fit`` learns only that naming (which class is dark, which bright) from
    the training masks, by the share of each class's pixels that falls on each
    side, so the baseline is fair on any dataset, multi-class
    ones included, where it can at best find two of the classes.
    """

    def fit(self, images, masks) -> OtsuThreshold:
        images = _check(images, masks)
        masks = np.asarray(masks)
        num_classes = int(masks.max()) + 1
        votes = np.zeros((2, num_classes), np.int64)
        for image, mask in zip(images, masks):
            bright = self._bright(image)
            votes[0] += np.bincount(mask[~bright], minlength=num_classes)
            votes[1] += np.bincount(mask[bright], minlength=num_classes)
        # each side is named by the class most enriched on it (its share of that class's pixels), not by
        # its majority: on ISBI 2012 the cells outnumber the membranes on both sides
        totals = votes.sum(axis=0)
        enrichment = np.divide(votes, totals, out=np.zeros(votes.shape), where=totals > 0)
        self.dark_label_, self.bright_label_ = (int(v.argmax()) for v in enrichment)
        return self

    @staticmethod
    def _bright(image: np.ndarray) -> np.ndarray:
        grey = _grey(image[None])[0]
        return grey >= otsu_threshold(grey)

    def predict(self, images) -> np.ndarray:
        images = _check(images)
        out = np.empty(images.shape[:3], np.int64)
        for i, image in enumerate(images):
            out[i] = np.where(self._bright(image), self.bright_label_, self.dark_label_)
        return out
