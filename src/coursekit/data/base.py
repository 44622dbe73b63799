"""The dataset shape every loader in coursekit returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import check_ignore_index


def pair_size(size, name: str = "size") -> tuple[int, int]:
    """``(height, width)`` from one number (a square) or a pair; both must be positive."""
    height, width = (size, size) if np.isscalar(size) else size
    if height < 1 or width < 1:
        raise ValueError(f"{name} must be positive, got {size}")
    return int(height), int(width)


@dataclass
class ArrayDataset:
    """Images and masks held in memory.

    ``images`` is ``N×H×W×C`` float32 in [0, 1], ``masks`` is ``N×H×W`` int64
    class indices; ``classes`` names each index and ``palette`` colours it
    (``num_classes×3`` uint8).  ``source`` says where the data came from:
    ``disk``, ``download``, ``sample`` or ``synthetic``.  ``instances``, where
    present, numbers each object (1, 2, ...) so that touching objects of one
    class stay apart.  ``weight_maps``, where set, weighs each pixel's loss
    when :func:`coursekit.train.fit` trains with ``loss="weighted_cross_entropy"``
    (for example :func:`coursekit.losses.unet_weight_map` of the instances).
    ``ignore_index``, where set, is the mask value of pixels that belong to no
    class (PASCAL VOC's 255 on object borders, say): :func:`coursekit.train.fit`
    and :func:`coursekit.train.evaluate` then neither train on nor score them.
    """

    images: np.ndarray
    masks: np.ndarray
    classes: tuple[str, ...]
    palette: np.ndarray
    source: str
    instances: np.ndarray | None = None  # N×H×W instance ids (0 = none), where the data has them
    weight_maps: np.ndarray | None = None  # N×H×W per-pixel loss weights (chapter 4), used by train.fit
    ignore_index: int | None = None  # the mask value of pixels left out of losses and scores

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(f"images must be N×H×W×C, got shape {self.images.shape}")
        if self.masks.shape != self.images.shape[:3]:
            raise ValueError(f"masks have shape {self.masks.shape}, images {self.images.shape}: "
                             "every image needs a mask of its own height and width")
        for column in ("instances", "weight_maps"):
            values = getattr(self, column)
            if values is not None and values.shape != self.masks.shape:
                raise ValueError(f"{column} have shape {values.shape}, masks {self.masks.shape}")
        if len(self.palette) < len(self.classes):
            raise ValueError(f"palette has {len(self.palette)} colours for {len(self.classes)} classes")
        self.ignore_index = check_ignore_index(self.ignore_index)
        if self.ignore_index is not None and 0 <= self.ignore_index < len(self.classes):
            raise ValueError(f"ignore_index {self.ignore_index} is class {self.classes[self.ignore_index]!r}, "
                             "which would then be neither trained on nor scored; use a value outside "
                             f"0..{len(self.classes) - 1}, such as 255")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index], self.masks[index]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_frequencies(self) -> np.ndarray:
        """Fraction of the pixels that belongs to each class (ignored pixels belong to none and are not counted)."""
        labels = self.masks.ravel() if self.ignore_index is None else self.masks[self.masks != self.ignore_index]
        counts = np.bincount(labels, minlength=self.num_classes)
        return counts / counts.sum()
