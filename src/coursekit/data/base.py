"""The dataset shape every loader in coursekit returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    """

    images: np.ndarray
    masks: np.ndarray
    classes: tuple[str, ...]
    palette: np.ndarray
    source: str
    instances: np.ndarray | None = None  # N×H×W instance ids (0 = none), where the data has them
    weight_maps: np.ndarray | None = None  # N×H×W per-pixel loss weights (chapter 4), used by train.fit

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

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index], self.masks[index]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_frequencies(self) -> np.ndarray:
        """Fraction of all pixels that belongs to each class."""
        counts = np.bincount(self.masks.ravel(), minlength=self.num_classes)
        return counts / counts.sum()
