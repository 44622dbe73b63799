"""The course's medical datasets, read in the layouts their owners distribute.

Taught in chapter 5 (Medical image data).  ``load_dataset(name)`` looks for the data in
this order and says in ``source`` what it found:

1. ``disk``: the real dataset under ``root`` (default ``$COURSEKIT_DATA`` or
   ``~/.coursekit/data``), in ``<root>/<name>/`` or one folder below it (so an unzipped
   ``<root>/drive/DRIVE/`` is found too), in any layout listed below; ``root`` may also be
   the dataset folder itself.  Data that :func:`coursekit.data.download` fetched reports
   ``download`` instead.
2. ``download``: with ``download=True``, the login-free mirror of
   :mod:`coursekit.data.download`, checked by checksum.
3. ``sample``: a few real images shipped with coursekit (ISBI 2012: three slices; DSB 2018:
   one image of 125 nuclei), training split only.
4. ``synthetic``: a stand-in that imitates the dataset (``membranes`` for ISBI 2012,
   ``cells`` for DSB 2018, ``vessels`` for DRIVE).  Liver, lung, corneal nerves and
   esophagus have no faithful stand-in: without their files ``load_dataset`` raises
   :class:`DatasetNotFound` with instructions to get them.

Falling back to a sample or a stand-in issues a :class:`DataFallbackWarning`.

Every dataset behaves alike: ``len``, ``data[i] -> (image, mask)`` with the image
``H×W×C`` float32 in [0, 1] and the mask ``H×W`` int64 class indices, ``classes``,
``palette``, ``num_classes`` and ``source``.  Extra per-example data, where the dataset has
it, is a column indexed like the dataset: ``data.instances[i]`` (DSB 2018 nuclei numbered
1, 2, ...), ``data.fov[i]`` (DRIVE's field of view), ``data.slices[i]`` (a CT volume's file
and slice index).  Small datasets come as an :class:`ArrayDataset` in memory; large ones
as a :class:`FileDataset` that reads each example when it is indexed.

Images and masks are paired by name and sorted by name (``2.png`` before ``10.png``), never
by the order in which the file system lists them.  Each problem a student's copy may have
(an image without a mask, different counts, a mask with values its dataset does not use,
sizes that differ, a file that cannot be read) raises a :class:`DatasetError` that names the
file and says what is wrong.
"""

from __future__ import annotations

import inspect
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ..colours import palette as make_palette
from . import synthetic
from .base import ArrayDataset, pair_size
from .download import MARKER, REGISTRY, ByHand, data_root
from .download import download as fetch_dataset
from .io import (
    IMAGE_SUFFIXES,
    NIFTI_SUFFIXES,
    DatasetError,
    DatasetNotFound,
    as_label_image,
    encode_mask,
    natural_key,
    read_image,
    read_mask,
    read_stack,
    read_volume,
    suffix_of,
    to_float_image,
    volume_shape,
)

SAMPLES = Path(__file__).resolve().parent / "samples"
BINARY_255 = {0: 0, 255: 1}  # masks stored black (0) and white (255)
# DSB 2018's TIFFs (StarDist's subset, and the sample coursekit ships) hold 8-bit values in 16-bit
# files: divided by 65535 they would be nearly black.  The choice is per dataset, not per image.
DSB_TIFF_WHITE = 255
# CT windows in Hounsfield units, as (low, high): the abdomen window (level 50, width 300) keeps
# liver (about 60 HU) and tumours (a little darker) apart while fat (-100) and bone (> 200)
# saturate; the usual lung window (level -600, width 1500) spans air-filled lung (-900) up to
# soft tissue, which saturates.
ABDOMEN_WINDOW = (-100.0, 200.0)
LUNG_WINDOW = (-1350.0, 150.0)

ISBI_CLASSES = synthetic.MEMBRANE_CLASSES


def sample_file(relative: str) -> Path:
    """A file of the samples shipped inside coursekit (``"isbi2012/train/label/0.png"``), to read as stored.

    Chapter 5 reads them raw, before the loaders turn them into arrays.  A
    name that is not there raises ``FileNotFoundError`` listing what is.
    """
    path = SAMPLES / relative
    if not path.is_file():
        shipped = sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.is_file())
        raise FileNotFoundError(f"coursekit ships no sample {relative!r}; it ships: {', '.join(shipped)}")
    return path


CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "pedestrian",
                  "bicyclist")
CAMVID_VOID = 11  # "unlabelled": stored as label 11, left out of losses and scores (the dataset's ignore_index)
# The colours the SegNet tutorial's CamVid files are usually drawn with, one per class, then black for
# void so that a mask straight from the files (labels 0..11) can be drawn.
CAMVID_PALETTE = np.array([[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222],
                           [128, 128, 0], [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
                           [0, 128, 192], [0, 0, 0]], np.uint8)
# The class weights SegNet's authors trained CamVid with (median-frequency balancing, in the order of
# CAMVID_CLASSES), as their SegNet-Tutorial repository's Models/segnet_basic_train.prototxt lists them.
# Chapter 3 (SegNet) sets them beside the weights losses.class_frequency_weights computes from the masks.
SEGNET_CAMVID_CLASS_WEIGHTS = np.array([0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823,
                                        6.2478, 7.3614])
DSB_CLASSES = synthetic.CELL_CLASSES
DRIVE_CLASSES = synthetic.VESSEL_CLASSES
LIVER_CLASSES = ("background", "liver", "tumour")
LUNG_CLASSES = ("background", "lung")
CORNEAL_CLASSES = ("background", "nerve")
ESOPHAGUS_CLASSES = ("background", "esophagus")


class DataFallbackWarning(UserWarning):
    """The real dataset was not found, and a shipped sample or a synthetic stand-in is used."""


# ---------------------------------------------------------------- a dataset read on demand

class FileDataset:
    """A dataset whose examples stay on disk until they are indexed.

    ``examples`` holds one dict of file paths per example; ``reader`` turns one into a dict
    with ``image``, ``mask`` and the dataset's extra keys (``columns``).  ``layout`` names the
    layout the files were found in and ``location`` the folder.  Readers are module-level
    functions (or ``functools.partial`` of them), never lambdas, so that the dataset can be
    pickled into the worker processes of a PyTorch ``DataLoader``.
    """

    def __init__(self, name: str, examples: list[dict], reader: Callable[[dict], dict], classes,
                 source: str, layout: str, location: Path, channels: int, columns: tuple[str, ...] = (), *,
                 palette=None, ignore_index: int | None = None):
        if not examples:
            raise DatasetError(f"{location}: the {layout} layout is there but holds no examples")
        self.name, self.examples, self._reader = name, examples, reader
        self.classes = tuple(classes)
        self.palette = make_palette(len(self.classes)) if palette is None else np.asarray(palette, np.uint8)
        self.ignore_index = ignore_index
        self.source, self.layout, self.location, self.channels = source, layout, Path(location), channels
        self.columns = columns

    def __len__(self) -> int:
        return len(self.examples)

    def _position(self, index) -> int:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} examples")
        return index % len(self)

    def example(self, index) -> dict:
        """Everything known about one example: ``image``, ``mask``, the extra columns and ``name``."""
        position = self._position(index)
        record = self._reader(self.examples[position])
        record["name"] = self.examples[position]["name"]
        return record

    def __getitem__(self, index):
        record = self.example(index)
        return record["image"], record["mask"]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> list[str]:
        """The name of each example (file stem, DRIVE number, volume and slice)."""
        return [example["name"] for example in self.examples]

    def column(self, key: str):
        """A lazy sequence of one extra value per example, such as ``instances`` or ``fov``."""
        if key not in self.columns:
            return None
        return _Column(self, key)

    instances = property(lambda self: self.column("instances"), doc="DSB 2018: nuclei numbered 1, 2, ...")
    fov = property(lambda self: self.column("fov"), doc="DRIVE: the field of view, a bool image")
    slices = property(lambda self: self.column("slice"), doc="CT volumes: (volume file name, slice index)")

    def load(self) -> ArrayDataset:
        """Read every example into one :class:`ArrayDataset` (all images must have one size)."""
        records = [self.example(i) for i in range(len(self))]
        first = records[0]["image"].shape
        for record in records:
            if record["image"].shape != first:
                raise DatasetError(f"{self.location}: example {record['name']} is {record['image'].shape}, "
                                   f"example {records[0]['name']} is {first}; crop or resize them to one size, "
                                   "or index this dataset one example at a time")

        def column(key: str, join=np.stack):
            return join([record[key] for record in records]) if key in ("image", "mask", *self.columns) else None

        return ArrayDataset(column("image"), column("mask"), self.classes, self.palette, self.source,
                            instances=column("instances"), fov=column("fov"), slices=column("slice", list),
                            ignore_index=self.ignore_index)

    def __repr__(self) -> str:
        return (f"FileDataset({self.name!r}, {len(self)} examples, layout={self.layout!r}, "
                f"source={self.source!r}, location='{self.location}')")


class _Column:
    """``dataset.instances[i]`` and the like: read on demand, indexed like the dataset."""

    def __init__(self, dataset: FileDataset, key: str):
        self._dataset, self._key = dataset, key

    def __len__(self) -> int:
        return len(self._dataset)

    def __getitem__(self, index):
        return self._dataset.example(index)[self._key]


# ---------------------------------------------------------------- files, names and pairs

def _stem(path: Path) -> str:
    name = path.name
    return name[: -len(suffix_of(path))] if suffix_of(path) else name


def _files(folder: Path, suffixes) -> list[Path]:
    """The data files of a folder, sorted by name; hidden files (macOS ``._*`` copies included) skipped."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: expected a folder here, but there is none")
    names = [n for n in os.listdir(folder) if not n.startswith(".") and suffix_of(Path(n)) in suffixes]
    return [folder / n for n in sorted(names, key=natural_key) if (folder / n).is_file()]


def _keyed(folder: Path, key_of: Callable[[Path], str | None], suffixes=IMAGE_SUFFIXES,
           expected: str = "") -> dict[str, Path]:
    """Map each file of a folder to its pairing key, refusing names that do not fit and duplicates."""
    found: dict[str, Path] = {}
    for path in _files(folder, suffixes):
        key = key_of(path)
        if key is None:
            raise DatasetError(f"{path}: unexpected file name; this folder's files are named {expected}")
        if key in found:
            raise DatasetError(f"{path} and {found[key]} are two files for the same example {key!r}; keep one")
        found[key] = path
    return found


def _pair(images: dict[str, Path], masks: dict[str, Path], image_dir: Path, mask_dir: Path,
          mask_name: Callable[[str], str]) -> list[tuple[str, Path, Path]]:
    """Image and mask of each example, matched by key; every unmatched file is an error."""
    lonely_images = [key for key in sorted(images, key=natural_key) if key not in masks]
    lonely_masks = [key for key in sorted(masks, key=natural_key) if key not in images]
    if not images:
        raise DatasetError(f"{image_dir}: no images in this folder")
    if len(images) != len(masks):
        first = (f"{images[lonely_images[0]]} has no mask" if lonely_images
                 else f"{masks[lonely_masks[0]]} has no image")
        raise DatasetError(f"{image_dir} holds {len(images)} images but {mask_dir} holds {len(masks)} masks; "
                           f"every image needs exactly one mask ({first})")
    if lonely_images:
        key = lonely_images[0]
        raise DatasetError(f"{images[key]}: this image has no mask (expected {mask_dir / mask_name(key)})")
    if lonely_masks:
        raise DatasetError(f"{masks[lonely_masks[0]]}: this mask has no image in {image_dir}")
    return [(key, images[key], masks[key]) for key in sorted(images, key=natural_key)]


def _check_same_size(image_shape, mask_shape, image_path, mask_path) -> None:
    if tuple(image_shape[:2]) != tuple(mask_shape[:2]):
        raise DatasetError(f"{mask_path}: the mask is {mask_shape[0]}×{mask_shape[1]} but its image {image_path} "
                           f"is {image_shape[0]}×{image_shape[1]}; an image and its mask must have one size")


def _instance_labels(path: Path) -> np.ndarray:
    labels = read_mask(path)
    if labels.min(initial=0) < 0:
        raise DatasetError(f"{path}: instance labels must be 0 (background) or positive, found {labels.min()}")
    return labels


def _in_memory(images: list, masks: list, classes, source: str, where: Path, instances=None) -> ArrayDataset:
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise DatasetError(f"{where}: the images have several sizes {sorted(shapes)}; this layout is loaded into "
                           "memory and needs one size")
    return ArrayDataset(np.stack(images), np.stack(masks), tuple(classes), make_palette(len(classes)), source,
                        None if instances is None else np.stack(instances))


# ---------------------------------------------------------------- ISBI 2012

def _isbi_tiff(folder: Path, split: str, source: str, options: dict):
    """``train-volume.tif`` and ``train-labels.tif``: the challenge's own multi-page TIFF stacks."""
    volume, labels = folder / f"{split}-volume.tif", folder / f"{split}-labels.tif"
    if not volume.is_file():
        return None
    if not labels.is_file():
        raise DatasetError(f"{volume}: no labels beside it (expected {labels}); ISBI 2012 published labels for "
                           "the training volume only")
    stack, label_stack = read_stack(volume), read_stack(labels)
    if len(stack) != len(label_stack):
        raise DatasetError(f"{volume} holds {len(stack)} slices but {labels} holds {len(label_stack)}: every "
                           "slice needs its labels")
    images, masks = [], []
    for index, (page, label) in enumerate(zip(stack, label_stack)):
        where = f"{labels} (slice {index})"
        mask = encode_mask(as_label_image(label, where), BINARY_255, where, ISBI_CLASSES)
        _check_same_size(page.shape, mask.shape, f"{volume} (slice {index})", where)
        images.append(to_float_image(page, volume, channels=options.get("channels", 1), white=options.get("white")))
        masks.append(mask)
    return _in_memory(images, masks, ISBI_CLASSES, source, volume)


def _isbi_png(folder: Path, split: str, source: str, options: dict):
    """``train/image/N.png`` with ``train/label/N.png``: the PNG export (255 = cell, 0 = membrane)."""
    image_dir, label_dir = folder / split / "image", folder / split / "label"
    if not image_dir.is_dir():
        return None
    pairs = _pair(_keyed(image_dir, _stem), _keyed(label_dir, _stem), image_dir, label_dir, lambda key: f"{key}.png")
    images, masks = [], []
    for _, image_path, mask_path in pairs:
        image = read_image(image_path)
        mask = encode_mask(read_mask(mask_path), BINARY_255, mask_path, ISBI_CLASSES)
        _check_same_size(image.shape, mask.shape, image_path, mask_path)
        images.append(to_float_image(image, image_path, channels=options.get("channels", 1),
                                     white=options.get("white")))
        masks.append(mask)
    return _in_memory(images, masks, ISBI_CLASSES, source, image_dir)


def _isbi_sample(split: str, options: dict):
    return _isbi_png(SAMPLES / "isbi2012", split, "sample", options)


# ---------------------------------------------------------------- DSB 2018

def _read_dsb_kaggle(example: dict, channels: int, white: int | None) -> dict:
    image_path = example["image"]
    image = to_float_image(read_image(image_path), image_path, channels=channels, white=white)
    instances = np.zeros(image.shape[:2], np.int64)
    number = 0
    for mask_path in example["masks"]:
        nucleus = encode_mask(read_mask(mask_path), BINARY_255, mask_path, DSB_CLASSES) > 0
        _check_same_size(image.shape, nucleus.shape, image_path, mask_path)
        if nucleus.any():  # an empty mask file adds no nucleus, and no crash
            number += 1
            instances[nucleus] = number  # where two masks overlap, the later file (by name) wins
    return {"image": image, "mask": (instances > 0).astype(np.int64), "instances": instances}


def _dsb_kaggle(folder: Path, split: str, source: str, options: dict):
    """Kaggle's ``stage1_train/<id>/images/<id>.png`` with ``masks/*.png``, one nucleus per mask file."""
    stage = folder / f"stage1_{split}"
    if not stage.is_dir():
        return None
    examples = []
    for name in sorted((n for n in os.listdir(stage) if not n.startswith(".")), key=natural_key):
        if not (stage / name).is_dir():
            continue
        image, mask_dir = stage / name / "images" / f"{name}.png", stage / name / "masks"
        if not image.is_file():
            raise DatasetError(f"{stage / name}: expected the image images/{name}.png in this folder")
        if not mask_dir.is_dir():
            raise DatasetError(f"{image}: this image has no mask (expected the folder {mask_dir}; Kaggle's "
                               "stage1_test has no masks)")
        examples.append({"name": name, "image": image, "masks": _files(mask_dir, (".png",))})
    channels = options.get("channels", 3)
    reader = partial(_read_dsb_kaggle, channels=channels, white=options.get("white"))
    return FileDataset("dsb2018", examples, reader, DSB_CLASSES,
                       source, "Kaggle stage1", stage, channels, ("instances",))


def _read_instance_pair(example: dict, channels: int, white: int | None) -> dict:
    image = to_float_image(read_image(example["image"]), example["image"], channels=channels, white=white)
    instances = _instance_labels(example["mask"])
    _check_same_size(image.shape, instances.shape, example["image"], example["mask"])
    return {"image": image, "mask": (instances > 0).astype(np.int64), "instances": instances}


def _dsb_stardist(folder: Path, split: str, source: str, options: dict):
    """StarDist's subset: ``{train,test}/images/*.tif`` with ``masks/*.tif`` of the same names (instance labels)."""
    image_dir, mask_dir = folder / split / "images", folder / split / "masks"
    if not image_dir.is_dir():
        return None
    pairs = _pair(_keyed(image_dir, _stem), _keyed(mask_dir, _stem), image_dir, mask_dir, lambda key: f"{key}.tif")
    examples = [{"name": key, "image": image, "mask": mask} for key, image, mask in pairs]
    channels = options.get("channels", 1)
    return FileDataset("dsb2018", examples, partial(_read_instance_pair, channels=channels,
                                                        white=options.get("white", DSB_TIFF_WHITE)), DSB_CLASSES,
                       source, "StarDist subset", folder / split, channels, ("instances",))


def _dsb_sample(split: str, options: dict) -> ArrayDataset:
    image_path, mask_path = SAMPLES / "dsb2018" / "img2d.tif", SAMPLES / "dsb2018" / "mask2d.tif"
    record = _read_instance_pair({"image": image_path, "mask": mask_path}, options.get("channels", 1),
                                 options.get("white", DSB_TIFF_WHITE))
    return _in_memory([record["image"]], [record["mask"]], DSB_CLASSES, "sample", image_path, [record["instances"]])


# ---------------------------------------------------------------- DRIVE

_DRIVE_FOLDERS = {"train": "training", "test": "test"}
_DRIVE_NUMBER = re.compile(r"(\d+)_")


def _drive_number(path: Path) -> str | None:
    match = _DRIVE_NUMBER.match(path.name)
    return match.group(1) if match else None


def _read_drive(example: dict, white: int | None) -> dict:
    image = to_float_image(read_image(example["image"]), example["image"], channels=3, white=white)
    mask = encode_mask(read_mask(example["mask"]), BINARY_255, example["mask"], DRIVE_CLASSES)
    fov = encode_mask(read_mask(example["fov"]), BINARY_255, example["fov"]) > 0
    _check_same_size(image.shape, mask.shape, example["image"], example["mask"])
    _check_same_size(image.shape, fov.shape, example["image"], example["fov"])
    return {"image": image, "mask": mask, "fov": fov}


def _drive(folder: Path, split: str, source: str, options: dict):
    """``training/images/NN_training.tif``, ``1st_manual/NN_manual1.gif``, ``mask/NN_training_mask.gif``."""
    base = folder / _DRIVE_FOLDERS[split]
    image_dir, manual_dir, fov_dir = base / "images", base / "1st_manual", base / "mask"
    if not image_dir.is_dir():
        return None
    if not manual_dir.is_dir():
        raise DatasetError(f"{base}: no 1st_manual folder, so this copy of DRIVE's {split} set has no vessel "
                           "annotations (the grand-challenge release withholds those of the test set)")
    naming = "NN_<something> (e.g. 21_training.tif, 21_manual1.gif)"
    images = _keyed(image_dir, _drive_number, expected=naming)
    pairs = _pair(images, _keyed(manual_dir, _drive_number, expected=naming), image_dir, manual_dir,
                  lambda key: f"{key}_manual1.gif")
    fovs = _keyed(fov_dir, _drive_number, expected=naming)
    examples = []
    for key, image, manual in pairs:
        if key not in fovs:
            raise DatasetError(f"{image}: this image has no field-of-view mask in {fov_dir} "
                               f"(expected {key}_{_DRIVE_FOLDERS[split]}_mask.gif)")
        examples.append({"name": key, "image": image, "mask": manual, "fov": fovs[key]})
    reader = partial(_read_drive, white=options.get("white"))
    return FileDataset("drive", examples, reader, DRIVE_CLASSES, source, "DRIVE", base, 3, ("fov",))


# ---------------------------------------------------------------- liver CT (NIfTI volumes)

def _axial_view(plane: np.ndarray) -> np.ndarray:
    """An axial slice of a RAS+ volume as radiologists show it: anterior up, patient's right on the left."""
    return plane[::-1, ::-1].T.copy()


class _VolumeSlices:
    """Reads 2-D axial slices, keeping the last volume in memory (slices are usually read in order)."""

    def __init__(self, classes, window: tuple[float, float]):
        self.classes, self.window = classes, window
        self._cached: tuple | None = None

    def _volume(self, image_path: Path, label_path: Path):
        if self._cached is None or self._cached[0] != image_path:
            hu = read_volume(image_path)
            labels = encode_mask(read_volume(label_path, labels=True), {k: k for k in range(len(self.classes))},
                                 label_path, self.classes)
            _check_same_size(hu.shape, labels.shape, image_path, label_path)
            self._cached = (image_path, hu, labels)
        return self._cached[1], self._cached[2]

    def __call__(self, example: dict) -> dict:
        hu, labels = self._volume(example["image"], example["mask"])
        index = example["slice"][1]
        image = to_float_image(_axial_view(hu[:, :, index]), example["image"], window=self.window)
        return {"image": image, "mask": _axial_view(labels[:, :, index]), "slice": example["slice"]}


def _volume_pairs(folder: Path) -> list[tuple[str, Path, Path]] | None:
    msd_images, msd_labels = folder / "imagesTr", folder / "labelsTr"
    if msd_images.is_dir():
        return _pair(_keyed(msd_images, _stem, NIFTI_SUFFIXES), _keyed(msd_labels, _stem, NIFTI_SUFFIXES),
                     msd_images, msd_labels, lambda key: f"{key}.nii.gz")
    lits = [p for p in _files(folder, NIFTI_SUFFIXES) if p.name.startswith(("volume-", "segmentation-"))]
    if not lits:
        return None
    lits_key = lambda p: _stem(p).split("-", 1)[1]  # noqa: E731  volume-12.nii <-> segmentation-12.nii
    volumes = {lits_key(p): p for p in lits if p.name.startswith("volume-")}
    segmentations = {lits_key(p): p for p in lits if p.name.startswith("segmentation-")}
    return _pair(volumes, segmentations, folder, folder, lambda key: f"segmentation-{key}.nii")


def _liver(folder: Path, split: str, source: str, options: dict):
    """Decathlon ``imagesTr/*.nii.gz`` + ``labelsTr/*.nii.gz``, or LiTS ``volume-N.nii`` + ``segmentation-N.nii``."""
    pairs = _volume_pairs(folder)
    if pairs is None:
        return None
    examples = []
    for key, image, label in pairs:
        shape, label_shape = volume_shape(image), volume_shape(label)
        if shape[:3] != label_shape[:3]:
            raise DatasetError(f"{label}: the label volume is {label_shape} but its CT volume {image} is {shape}")
        examples += [{"name": f"{key}:{z}", "image": image, "mask": label, "slice": (image.name, z)}
                     for z in range(shape[2])]
    reader = _VolumeSlices(LIVER_CLASSES, tuple(options.get("window", ABDOMEN_WINDOW)))
    return FileDataset("liver", examples, reader, LIVER_CLASSES, source, "CT volumes (NIfTI)", folder, 1, ("slice",))


# ---------------------------------------------------------------- lung, corneal nerves, esophagus

def _read_lung(example: dict, window, white: int | None) -> dict:
    raw = read_image(example["image"])
    # Values below zero mean Hounsfield units: window them; 8- and 16-bit files are scaled as usual.
    measured = raw.dtype.kind in "if" and raw.size and raw.min() < 0
    image = to_float_image(raw, example["image"], channels=1, window=window if measured else None, white=white)
    mask = encode_mask(read_mask(example["mask"]), BINARY_255, example["mask"], LUNG_CLASSES)
    _check_same_size(image.shape, mask.shape, example["image"], example["mask"])
    return {"image": image, "mask": mask}


def _lung(folder: Path, split: str, source: str, options: dict):
    """``2d_images/*.tif`` with ``2d_masks/*.tif`` of the same names (masks 0/255)."""
    image_dir, mask_dir = folder / "2d_images", folder / "2d_masks"
    if not image_dir.is_dir():
        return None
    pairs = _pair(_keyed(image_dir, _stem), _keyed(mask_dir, _stem), image_dir, mask_dir, lambda key: f"{key}.tif")
    examples = [{"name": key, "image": image, "mask": mask} for key, image, mask in pairs]
    window = tuple(options.get("window", LUNG_WINDOW))
    reader = partial(_read_lung, window=window, white=options.get("white"))
    return FileDataset("lung", examples, reader, LUNG_CLASSES, source,
                       "2d_images + 2d_masks", folder, 1)


def _read_binary_pair(example: dict, classes, channels: int, white: int | None) -> dict:
    image = to_float_image(read_image(example["image"]), example["image"], channels=channels, white=white)
    mask = encode_mask(read_mask(example["mask"]), BINARY_255, example["mask"], classes)
    _check_same_size(image.shape, mask.shape, example["image"], example["mask"])
    return {"image": image, "mask": mask}


def _mask_suffix_layout(name: str, classes):
    """``NNNNN.png`` with ``NNNNN_mask.png`` in one folder: ``<split>/`` or, for training, the folder itself."""

    def detect(folder: Path, split: str, source: str, options: dict):
        base = folder / split if (folder / split).is_dir() else folder if split == "train" else None
        if base is None:
            return None
        files = _files(base, IMAGE_SUFFIXES)
        if not any(_stem(p).endswith("_mask") for p in files):
            return None
        images = {_stem(p): p for p in files if not _stem(p).endswith("_mask")}
        masks = {_stem(p)[: -len("_mask")]: p for p in files if _stem(p).endswith("_mask")}
        pairs = _pair(images, masks, base, base, lambda key: f"{key}_mask.png")
        examples = [{"name": key, "image": image, "mask": mask} for key, image, mask in pairs]
        channels = options.get("channels", 1)
        return FileDataset(name, examples, partial(_read_binary_pair, classes=classes, channels=channels,
                                                        white=options.get("white")), classes,
                           source, "NNNNN.png + NNNNN_mask.png", base, channels)

    return detect


# ---------------------------------------------------------------- CamVid

_CAMVID_LABELS = {value: value for value in range(len(CAMVID_CLASSES) + 1)}  # 0..10 and void


def _resized(array: np.ndarray, size, nearest: bool) -> np.ndarray:
    """``array`` (``H×W`` or ``H×W×C``, 8-bit) at ``size`` = (height, width): box filter, or nearest for labels."""
    from PIL import Image

    height, width = pair_size(size)
    if array.shape[:2] == (height, width):
        return array
    picture = Image.fromarray(array)
    return np.asarray(picture.resize((width, height), Image.NEAREST if nearest else Image.BOX))


def _read_camvid(example: dict, size) -> dict:
    raw_image, raw_mask = read_image(example["image"]), read_mask(example["mask"])
    _check_same_size(raw_image.shape, raw_mask.shape, example["image"], example["mask"])
    mask = encode_mask(raw_mask, _CAMVID_LABELS, example["mask"], CAMVID_CLASSES)
    if size is not None:
        raw_image, mask = _resized(raw_image, size, nearest=False), _resized(mask.astype(np.uint8), size, True)
    image = to_float_image(raw_image, example["image"], channels=3)
    return {"image": image, "mask": mask.astype(np.int64)}


def _camvid_listed(folder: Path, split: str) -> set[str] | None:
    """The frame names ``<split>.txt`` lists (``/SegNet/CamVid/train/X.png /SegNet/CamVid/trainannot/X.png``)."""
    listing = folder / f"{split}.txt"
    if not listing.is_file():
        return None
    names = set()
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or Path(parts[0]).name != Path(parts[1]).name:
            raise DatasetError(f"{listing}, line {number}: expected an image path and its annotation's path "
                               f"with one file name, got {line.strip()!r}")
        names.add(_stem(Path(parts[0])))
    return names


def _camvid(folder: Path, split: str, source: str, options: dict):
    """SegNet's CamVid: ``train/``, ``trainannot/`` (and val, test), same file names, ``<split>.txt`` lists."""
    image_dir, mask_dir = folder / split, folder / f"{split}annot"
    if not image_dir.is_dir():
        return None
    pairs = _pair(_keyed(image_dir, _stem), _keyed(mask_dir, _stem), image_dir, mask_dir, lambda key: f"{key}.png")
    listed = _camvid_listed(folder, split)
    if listed is not None and listed != {key for key, _, _ in pairs}:
        missing = sorted(listed - {key for key, _, _ in pairs}) or sorted({key for key, _, _ in pairs} - listed)
        raise DatasetError(f"{folder / f'{split}.txt'} and {image_dir} disagree: {missing[0]} is in one only "
                           f"({len(listed)} listed, {len(pairs)} in the folders)")
    examples = [{"name": key, "image": image, "mask": mask} for key, image, mask in pairs]
    reader = partial(_read_camvid, size=options.get("size"))
    return FileDataset("camvid", examples, reader, CAMVID_CLASSES, source, "SegNet CamVid", image_dir, 3,
                       palette=CAMVID_PALETTE, ignore_index=CAMVID_VOID)


# ---------------------------------------------------------------- the catalogue

@dataclass(frozen=True)
class _Spec:
    title: str
    classes: tuple[str, ...]
    splits: tuple[str, ...]
    folders: tuple[str, ...]            # names of the dataset's folder under the data root
    layouts: tuple[Callable, ...]       # readers, tried in order; each returns None if its files are absent
    sample: Callable | None = None      # the real sample shipped with coursekit (training split)
    stand_in: str | None = None         # the synthetic dataset used when nothing else is there
    splits_note: str = ""


_SPECS = {
    "camvid": _Spec("CamVid road scenes", CAMVID_CLASSES, ("train", "val", "test"), ("camvid", "CamVid"),
                    (_camvid,), stand_in="shapes"),
    "isbi2012": _Spec("ISBI 2012 EM membranes", ISBI_CLASSES, ("train",), ("isbi2012", "ISBI2012", "membrane"),
                      (_isbi_tiff, _isbi_png), _isbi_sample, "membranes",
                      "ISBI 2012 published labels for its training volume only; hold out slices of 'train'"),
    "dsb2018": _Spec("DSB 2018 nuclei", DSB_CLASSES, ("train", "test"), ("dsb2018", "data-science-bowl-2018"),
                     (_dsb_kaggle, _dsb_stardist), _dsb_sample, "cells"),
    "drive": _Spec("DRIVE retinal vessels", DRIVE_CLASSES, ("train", "test"), ("drive", "DRIVE"), (_drive,),
                   None, "vessels"),
    "liver": _Spec("liver and tumour CT", LIVER_CLASSES, ("train",), ("liver", "Task03_Liver", "lits", "LiTS"),
                   (_liver,), splits_note="the Decathlon and LiTS publish labels for their training volumes only"),
    "lung": _Spec("lung CT", LUNG_CLASSES, ("train",), ("lung", "finding-lungs-in-ct-data"), (_lung,),
                  splits_note="the 2-D lung CT set has a single folder; split it yourself"),
    "corneal": _Spec("corneal nerves", CORNEAL_CLASSES, ("train", "val", "test"), ("corneal",),
                     (_mask_suffix_layout("corneal", CORNEAL_CLASSES),)),
    "esophagus": _Spec("esophagus", ESOPHAGUS_CLASSES, ("train", "val", "test"), ("esophagus",),
                       (_mask_suffix_layout("esophagus", ESOPHAGUS_CLASSES),)),
}
_SYNTHETIC = {"shapes": synthetic.shapes, "cells": synthetic.cells, "membranes": synthetic.membranes,
              "vessels": synthetic.vessels}
_SPLIT_INDEX = {"train": 0, "val": 1, "test": 2}
_SPLIT_SIZE = {"train": 32, "val": 8, "test": 8}
_DISK_OPTIONS = {"window", "channels", "white", "size"}

DATASET_NAMES = tuple(_SPECS) + tuple(_SYNTHETIC)


def load_dataset(name: str, root=None, split: str = "train", download: bool = False, fallback: bool = True,
                 **options):
    """One of the course's datasets: the real one where it can be found, else a sample or a stand-in.

    ``name``: ``camvid``, ``isbi2012``, ``dsb2018``, ``drive``, ``liver``, ``lung``, ``corneal``,
    ``esophagus``, or the synthetic ``shapes``, ``cells``, ``membranes``, ``vessels``.
    ``root``: the data folder (default ``$COURSEKIT_DATA`` or ``~/.coursekit/data``).
    ``split``: ``train`` or, where the dataset has one, ``test`` (``val`` too for the
    synthetic ones, whose splits never share an image).
    ``download=True`` fetches a login-free mirror when the data is not on disk (never
    needed by the course; checked by checksum).  ``fallback=False`` refuses samples and
    stand-ins: the real dataset or an error.
    Options: ``window=(low, high)`` in Hounsfield units for CT (liver default
    ``ABDOMEN_WINDOW`` = (-100, 200), lung ``LUNG_WINDOW``); ``channels=1`` or ``3`` to
    convert the images; ``size=(height, width)`` to resize CamVid; ``white``: the stored
    value that means full brightness, when the dataset's default (the file type's largest
    value; 255 for DSB 2018's TIFFs) is wrong for your copy (4095 for a 12-bit camera);
    ``n``, ``size``, ``seed`` (and the generator's other arguments) for
    a synthetic dataset, used only when the synthetic stand-in is what gets loaded.

    Layouts read from disk (``<root>/<name>/`` or one folder below it):

    - ``camvid``: SegNet's CamVid, ``{train,val,test}/*.png`` + ``{train,val,test}annot/*.png``
      (same names; ``<split>.txt`` lists, where present, must agree); labels 0-10 the classes,
      11 void, which is the dataset's ``ignore_index``.  ``size=(height, width)`` resizes
      (box filter for the images, nearest neighbour for the labels); 367 / 101 / 233 frames.
    - ``isbi2012``: ``train-volume.tif`` + ``train-labels.tif`` (multi-page TIFF), or
      ``train/image/N.png`` + ``train/label/N.png``; labels 255 = cell (class 1), 0 = membrane
      (class 0).  Loaded into memory.
    - ``dsb2018``: Kaggle's ``stage1_train/<id>/images/<id>.png`` + ``masks/*.png`` (one 0/255
      mask per nucleus; RGB images), or StarDist's ``{train,test}/images/*.tif`` +
      ``masks/*.tif`` (instance label images; grey images).  Class 1 = nucleus;
      ``data.instances[i]`` numbers the nuclei.
    - ``drive``: ``training/images/NN_training.tif``, ``training/1st_manual/NN_manual1.gif``,
      ``training/mask/NN_training_mask.gif``, and ``test/`` likewise (``NN_test.tif``,
      ``NN_test_mask.gif``); vessels 255 = class 1; ``data.fov[i]`` is the field of view.
    - ``liver``: ``imagesTr/*.nii.gz`` + ``labelsTr/*.nii.gz`` (Decathlon Task03) or
      ``volume-N.nii`` + ``segmentation-N.nii`` (LiTS, its two batch folders merged into
      one); every axial slice is one example, shown anterior up with the patient's right on
      the left, windowed to [0, 1]; labels 0 background, 1 liver, 2 tumour; ``data.slices[i]``
      is (volume file, slice index).  Reading in order is fast; random order reads a whole
      volume per example (convert to 2-D files first to train with shuffling).
    - ``lung``: ``2d_images/*.tif`` + ``2d_masks/*.tif``, same names, masks 0/255.
    - ``corneal``, ``esophagus``: ``NNNNN.png`` + ``NNNNN_mask.png`` in ``<split>/`` or, for
      ``train``, in the dataset folder itself; masks 0/255.
    """
    key = name.lower()
    if key in _SYNTHETIC:
        return _make_synthetic(key, split, options)
    if key not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    spec = _SPECS[key]
    _check_split(key, spec, split)
    _check_options(key, spec, options)
    disk_options = {k: v for k, v in options.items() if k in _DISK_OPTIONS}
    root = data_root(root)
    found = _from_disk(key, spec, root, split, disk_options)
    if found is not None:
        return found
    if download:
        fetch_dataset(key, root)
        found = _from_disk(key, spec, root, split, disk_options)
        if found is None:
            raise DatasetError(f"{root / key}: the download finished but holds no {split} split in a known layout")
        return found
    return _fall_back(key, spec, root, split, options, disk_options, fallback)


def _check_split(key: str, spec: _Spec, split: str) -> None:
    if split not in spec.splits:
        note = f" ({spec.splits_note})" if spec.splits_note else ""
        raise DatasetError(f"{key} has no split {split!r}; choose one of {', '.join(spec.splits)}{note}")


def _check_options(key: str, spec: _Spec, options: dict) -> None:
    accepted = set(_DISK_OPTIONS)
    if spec.stand_in:
        accepted |= set(inspect.signature(_SYNTHETIC[spec.stand_in]).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(f"load_dataset({key!r}) got unexpected option(s) {', '.join(unknown)}; "
                        f"it accepts {', '.join(sorted(accepted))}")


def _candidate_folders(spec: _Spec, root: Path):
    for folder in spec.folders:
        base = root / folder
        if base.is_dir():
            yield base
            yield from sorted((p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
                              key=lambda p: natural_key(p.name))
    if root.is_dir():
        yield root


def _from_disk(key: str, spec: _Spec, root: Path, split: str, options: dict):
    for folder in _candidate_folders(spec, root):
        source = "download" if (folder / MARKER).is_file() or (folder.parent / MARKER).is_file() else "disk"
        for layout in spec.layouts:
            found = layout(folder, split, source, options)
            if found is not None:
                return found
    for folder in spec.folders:
        base = root / folder
        if base.is_dir() and any(not n.startswith(".") for n in os.listdir(base)):
            raise DatasetError(f"{base}: this folder is there, but holds no {split} split of {key} in a layout "
                               f"coursekit reads; see help(coursekit.data.load_dataset) for the layouts")
    return None


def how_to_get(name: str, root=None) -> str:
    """Where to put dataset ``name`` and how to obtain it, in one paragraph."""
    key = name.lower()
    target = data_root(root) / key
    entry = REGISTRY.get(key)
    if isinstance(entry, ByHand):
        text = f"{entry.instructions}, so that the files are at {entry.layout.replace('<root>', str(target.parent))}."
    elif entry is not None:
        text = (f"Run coursekit.data.download({key!r}) (or load_dataset({key!r}, download=True)) to fetch "
                f"{entry.description} ({entry.size}) into {target}, or copy the files there yourself.")
    else:
        text = f"Copy the files into {target}."
    if key == "dsb2018":
        text += " " + REGISTRY["dsb2018-kaggle"].instructions.replace("<root>", str(target.parent)) + "."
    return text + f" Set the environment variable COURSEKIT_DATA to keep datasets somewhere else than {target.parent}."


def _fall_back(key: str, spec: _Spec, root: Path, split: str, options: dict, disk_options: dict, fallback: bool):
    missing = f"{key}: no {split} split under {root / spec.folders[0]}"
    if not fallback:
        raise DatasetNotFound(f"{missing}. {how_to_get(key, root)}")
    if spec.sample is not None and split == "train":
        data = spec.sample(split, disk_options)
        warnings.warn(f"{missing}; using the {len(data)} real image(s) shipped with coursekit (source='sample'). "
                      f"{how_to_get(key, root)}", DataFallbackWarning, stacklevel=3)
        return data
    if spec.sample is not None:
        raise DatasetNotFound(f"{missing}, and the sample shipped with coursekit is a training split only. "
                              f"{how_to_get(key, root)}")
    if spec.stand_in is not None:
        data = _make_synthetic(spec.stand_in, split, _stand_in_options(spec.stand_in, options))
        warnings.warn(f"{missing}; using the synthetic stand-in {spec.stand_in!r} (source='synthetic'). "
                      f"{how_to_get(key, root)}", DataFallbackWarning, stacklevel=3)
        return data
    raise DatasetNotFound(f"{missing}, and coursekit has no faithful stand-in for {spec.title}. "
                          f"{how_to_get(key, root)} Until then, load_dataset('shapes') gives a synthetic task.")


def _stand_in_options(kind: str, options: dict) -> dict:
    """The options the synthetic generator takes; a (height, width) size becomes its square's side, the shorter."""
    accepted = set(inspect.signature(_SYNTHETIC[kind]).parameters)
    chosen = {k: v for k, v in options.items() if k in accepted}
    if "size" in chosen and not np.isscalar(chosen["size"]):
        chosen["size"] = min(pair_size(chosen["size"]))
    return chosen


def _make_synthetic(kind: str, split: str, options: dict) -> ArrayDataset:
    """A synthetic dataset; ``val`` and ``test`` use other seeds than ``train``, so no image is shared."""
    if split not in _SPLIT_INDEX:
        raise DatasetError(f"{kind} has no split {split!r}; choose one of {', '.join(_SPLIT_INDEX)}")
    make = _SYNTHETIC[kind]
    accepted = set(inspect.signature(make).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(f"{kind} got unexpected option(s) {', '.join(unknown)}; "
                        f"it accepts {', '.join(sorted(accepted))}")
    arguments = {"n": _SPLIT_SIZE[split], **options}
    arguments["seed"] = options.get("seed", 0) + 10_000 * _SPLIT_INDEX[split]
    return make(**arguments)
