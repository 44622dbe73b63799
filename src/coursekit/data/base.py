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


def _checked_slices(slices, examples: int) -> list[tuple[str, int]]:
    """``slices`` as a list of ``(volume file name, slice index)``, one for each of ``examples``."""
    slices = list(slices)
    if len(slices) != examples:
        raise ValueError(f"slices has {len(slices)} entries for {examples} images: one (volume, slice index) "
                         "pair per image")
    for i, entry in enumerate(slices):
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], (int, np.integer)) and not isinstance(entry[1], bool)):
            raise ValueError(f"slices[{i}] is {entry!r}; each entry must be a (volume file name, slice index) pair "
                             "such as ('liver_0.nii.gz', 12)")
    return [(name, int(index)) for name, index in slices]


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
    ``fov``, where the images have one, is each image's field of view, ``True``
    inside (DRIVE's circular one, chapter 5); ``slices`` says where each example
    was cut from a volume, as ``(volume file name, slice index)`` (CT, chapter 5).
    """

    images: np.ndarray
    masks: np.ndarray
    classes: tuple[str, ...]
    palette: np.ndarray
    source: str
    instances: np.ndarray | None = None  # N×H×W instance ids (0 = none), where the data has them
    weight_maps: np.ndarray | None = None  # N×H×W per-pixel loss weights (chapter 4), used by train.fit
    ignore_index: int | None = None  # the mask value of pixels left out of losses and scores
    fov: np.ndarray | None = None  # N×H×W bool field of view (chapter 5), where the data has one
    slices: list | None = None  # (volume file name, slice index) of each example cut from a volume (chapter 5)

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(f"images must be N×H×W×C, got shape {self.images.shape}")
        if self.masks.shape != self.images.shape[:3]:
            raise ValueError(f"masks have shape {self.masks.shape}, images {self.images.shape}: "
                             "every image needs a mask of its own height and width")
        for column in ("instances", "weight_maps", "fov"):
            values = getattr(self, column)
            if values is not None and values.shape != self.masks.shape:
                raise ValueError(f"{column} have shape {values.shape}, masks {self.masks.shape}")
        if self.fov is not None and self.fov.dtype != bool:
            raise ValueError(f"fov must be a bool array, True inside the field of view, got dtype {self.fov.dtype} "
                             "(a 0/255 mask image becomes one with fov > 0)")
        if self.slices is not None:
            self.slices = _checked_slices(self.slices, len(self.images))
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

    def load(self) -> ArrayDataset:
        """Itself: it is in memory already.  So ``load_dataset(...).load()`` gives arrays whatever was found,
        files on disk (a :class:`~coursekit.data.FileDataset`) or a stand-in generated in memory."""
        return self

    def class_frequencies(self) -> np.ndarray:
        """Fraction of the pixels that belongs to each class (ignored pixels belong to none and are not counted)."""
        labels = self.masks.ravel() if self.ignore_index is None else self.masks[self.masks != self.ignore_index]
        counts = np.bincount(labels, minlength=self.num_classes)
        return counts / counts.sum()
