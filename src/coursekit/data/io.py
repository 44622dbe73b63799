"""Reading medical images and masks from disk, and turning them into arrays a model can use.

Taught in chapter 5 (Medical image data).  Every reader here either returns the
array that the file holds or raises a :class:`DatasetError` that names the file and
says what is wrong with it: a loader that guesses (or silently reads the wrong frame,
palette or page) hands a model wrong labels, and wrong labels do not crash, they only
make the results worse.

Formats and the traps they hold:

- PNG and GIF go through Pillow.  A *palette* image stores an index per pixel and a
  colour table.  DRIVE's GIFs are greyscale pictures that happen to be stored that way:
  their index is not the grey level, so a mask must be read through the table.  PASCAL
  VOC's PNGs are the opposite: the index *is* the class and the table only colours it.
  :func:`read_mask` tells them apart by the table (grey table: read the grey levels;
  coloured table: keep the indices).  A GIF may hold several frames; we read the first.
- TIFF goes through ``tifffile`` when it is installed (Pillow otherwise): 8- and 16-bit,
  single page (a DRIVE photograph, a StarDist mask) or a multi-page stack (ISBI 2012's
  ``train-volume.tif``).
- NIfTI (``.nii``, ``.nii.gz``) goes through ``nibabel``, reoriented to the closest
  canonical (RAS+) orientation so that ``volume[:, :, z]`` is always an axial slice, and
  with the file's intensity scaling applied, so CT values are Hounsfield units.

``tifffile`` and ``nibabel`` are optional: they are imported only when a file needs them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".gif", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
# A mask with this many more distinct values than classes was not saved losslessly.
_LOSSY_EXTRA_VALUES = 2


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or does not hold what its dataset promises.

    The message always names the file (or folder) and says what was wrong.
    """


class DatasetNotFound(DatasetError, FileNotFoundError):
    """No copy of a dataset was found where it was looked for."""


def suffix_of(path: Path) -> str:
    """The file's type suffix, lower case; ``.nii.gz`` counts as one suffix."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def natural_key(text: str) -> list:
    """Sort key that puts ``2.png`` before ``10.png`` (numbers compared as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(text))]


# ---------------------------------------------------------------- Pillow

def _open_pillow(path: Path):
    """An opened Pillow image, its first frame decoded; use it in a ``with`` so the file is closed."""
    from PIL import Image

    try:
        image = Image.open(path)
        image.seek(0)  # first frame of an animated GIF or a multi-page file
        image.load()   # decode now, so a truncated file fails here and not later
    except Exception as error:  # Pillow raises many types for a broken file
        raise DatasetError(f"{path}: cannot read this file as an image ({error})") from error
    return image


def _palette_table(image) -> np.ndarray:
    table = np.asarray(image.getpalette() or [], np.uint8).reshape(-1, 3)
    return np.vstack([table, np.zeros((256 - len(table), 3), np.uint8)]) if len(table) < 256 else table


def _palette_is_grey(indices: np.ndarray, table: np.ndarray) -> bool:
    used = table[np.unique(indices)]
    return bool((used[:, 0] == used[:, 1]).all() and (used[:, 1] == used[:, 2]).all())


def _pillow_array(image, for_mask: bool) -> np.ndarray:
    mode = image.mode
    if mode == "P":
        indices = np.asarray(image)
        table = _palette_table(image)
        if _palette_is_grey(indices, table):
            return table[indices, 0]
        return indices if for_mask else table[indices]
    if mode == "1":  # bilevel: black and white, read as grey levels 0 and 255
        return np.asarray(image.convert("L"))
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "PA"):
        return np.asarray(image.convert("RGB"))
    return np.asarray(image)


def _read_tiff_page(path: Path) -> np.ndarray | None:
    try:
        import tifffile
    except ImportError:
        return None
    try:
        return tifffile.imread(path, key=0)
    except Exception as error:
        raise DatasetError(f"{path}: cannot read this file as a TIFF image ({error})") from error


# ---------------------------------------------------------------- public readers

def read_image(path) -> np.ndarray:
    """The pixels of a 2-D image file as stored: ``H×W`` or ``H×W×C``, in the file's own dtype.

    Palette images come back as the colours of their table (grey tables as ``H×W``).
    Multi-frame files give their first frame.
    """
    path = Path(path)
    _require_file(path)
    if suffix_of(path) in (".tif", ".tiff"):
        array = _read_tiff_page(path)
        if array is not None:
            return array
    with _open_pillow(path) as image:
        return _pillow_array(image, for_mask=False)


def read_mask(path) -> np.ndarray:
    """The labels of a mask file as an ``H×W`` integer array, values as stored (not yet classes).

    Palette masks: a grey table gives its grey levels (DRIVE's GIFs), a coloured table keeps the
    indices (PASCAL VOC).  An RGB mask whose three channels agree is read as one channel; a
    truly coloured mask is refused, because its colours would first need a colour-to-class table.
    """
    path = Path(path)
    _require_file(path)
    array = None
    if suffix_of(path) in (".tif", ".tiff"):
        array = _read_tiff_page(path)
    if array is None:
        with _open_pillow(path) as image:
            array = _pillow_array(image, for_mask=True)
    return as_label_image(array, path)


def read_stack(path) -> np.ndarray:
    """Every page of a multi-page TIFF as a ``pages×H×W`` (or ``pages×H×W×C``) array."""
    path = Path(path)
    _require_file(path)
    try:
        import tifffile
    except ImportError:
        return _read_stack_pillow(path)
    try:
        stack = tifffile.imread(path)
    except Exception as error:
        raise DatasetError(f"{path}: cannot read this file as a TIFF stack ({error})") from error
    return stack[None] if stack.ndim == 2 else stack


def _read_stack_pillow(path: Path) -> np.ndarray:
    pages = []
    with _open_pillow(path) as image:
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            pages.append(_pillow_array(image, for_mask=False))
    return np.stack(pages)


def _load_nifti(path: Path):
    try:
        import nibabel
    except ImportError as error:
        raise ImportError(f"reading {path} needs nibabel: pip install nibabel") from error
    try:
        return nibabel.as_closest_canonical(nibabel.load(str(path)))
    except Exception as error:
        raise DatasetError(f"{path}: cannot read this file as a NIfTI volume ({error})") from error


def volume_shape(path) -> tuple[int, ...]:
    """The shape of a NIfTI volume from its header alone (the voxels are not read)."""
    path = Path(path)
    _require_file(path)
    return tuple(int(n) for n in _load_nifti(path).shape)


def read_volume(path, labels: bool = False) -> np.ndarray:
    """A NIfTI volume in canonical (RAS+) orientation: axis 2 runs from feet to head.

    Images come back as float32 with the file's scaling applied (Hounsfield units for CT);
    ``labels=True`` returns the stored integers instead, without any scaling or interpolation.
    """
    path = Path(path)
    _require_file(path)
    volume = _load_nifti(path)
    try:
        if labels:
            data = np.asarray(volume.dataobj)
            return _integral(data, path)
        return volume.get_fdata(dtype=np.float32)
    except DatasetError:
        raise
    except Exception as error:  # a truncated .gz fails only when the voxels are read
        raise DatasetError(f"{path}: cannot read the voxels of this NIfTI volume ({error})") from error


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")


def _integral(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype.kind in "biu":
        return array.astype(np.int64, copy=False)
    if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
        raise DatasetError(f"{path}: a mask must hold whole numbers, but this one holds fractions "
                           "(was it resized with interpolation?)")
    return array.astype(np.int64)


def as_label_image(array: np.ndarray, path) -> np.ndarray:
    """One label per pixel (``H×W`` int64) from a mask array; ``path`` only names it in errors."""
    path = Path(path)
    if array.dtype == np.bool_:  # a bilevel file is black and white, like Pillow's mode "1"
        array = array.astype(np.uint8) * 255
    if array.ndim == 3 and array.shape[-1] in (2, 4):  # grey + alpha or RGBA: the alpha is not a label
        array = array[..., :-1]
    if array.ndim == 3 and array.shape[-1] == 3:
        if not ((array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all()):
            raise DatasetError(f"{path}: this mask is in colour (its R, G and B differ); coursekit reads "
                               "masks as one label per pixel, so convert the colours to class indices first")
        array = array[..., 0]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise DatasetError(f"{path}: expected a 2-D mask, got an array of shape {array.shape}")
    return _integral(array, path)


# ---------------------------------------------------------------- to model arrays

def to_float_image(array: np.ndarray, path, channels: int | None = None,
                   window: tuple[float, float] | None = None, white: int | None = None) -> np.ndarray:
    """An ``H×W×C`` float32 image in [0, 1] from the array a file held.

    Unsigned integers are divided by ``white``, the stored value that means full
    brightness, which is a property of the dataset, not of one image: by default the
    type's largest value (255 for 8-bit, 65535 for 16-bit), 255 for data known to hold
    8-bit values in 16-bit files (DSB 2018's TIFFs), 4095 for a 12-bit camera.  Scaling
    each image by its own maximum instead would make the same tissue brighter in a darker
    image (chapter 5).  A value above ``white`` is an error naming the file.
    ``window=(low, high)`` maps that value range (Hounsfield units for CT) to [0, 1] and clips
    the rest.  Other signed or float images are stretched from their own minimum to maximum.
    An alpha channel is dropped; ``channels`` (1 or 3) converts grey to RGB or RGB to grey.
    """
    path = Path(path)
    image = _drop_alpha(np.asarray(array), path)
    if image.dtype.kind == "f" and not np.all(np.isfinite(image)):
        raise DatasetError(f"{path}: the image holds NaN or infinite values")
    image = _scale(image, window, white, path)
    if channels is not None:
        image = _match_channels(image, channels, path)
    return image


def _drop_alpha(image: np.ndarray, path: Path) -> np.ndarray:
    if image.ndim == 2:
        return image[..., None]
    if image.ndim == 3 and image.shape[-1] in (2, 4):
        return image[..., :-1]
    if image.ndim == 3 and image.shape[-1] in (1, 3):
        return image
    raise DatasetError(f"{path}: expected a 2-D grey or colour image, got an array of shape {image.shape}")


def _scale(image: np.ndarray, window: tuple[float, float] | None, white: int | None, path: Path) -> np.ndarray:
    if window is not None:
        low, high = window
        return np.clip((image.astype(np.float32) - low) / (high - low), 0, 1).astype(np.float32)
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    if image.dtype.kind == "u":
        white = np.iinfo(image.dtype).max if white is None else white
        peak = int(image.max()) if image.size else 0
        if peak > white:
            raise DatasetError(f"{path}: holds values up to {peak}, above the white level {white} assumed for "
                               f"this dataset; pass white=<the largest value the sensor records> to load_dataset")
        return (image / np.float32(white)).astype(np.float32)
    image = image.astype(np.float32)
    low, high = float(image.min()), float(image.max())
    if image.dtype.kind == "f" and low >= 0 and high <= 1:
        return image
    if high == low:  # a blank slice is legal: make it black rather than divide by zero
        return np.zeros_like(image)
    return (image - low) / (high - low)


def _match_channels(image: np.ndarray, channels: int, path: Path) -> np.ndarray:
    have = image.shape[-1]
    if have == channels:
        return image
    if have == 1 and channels == 3:
        return np.repeat(image, 3, axis=-1)
    if have == 3 and channels == 1:
        weights = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma
        return (image @ weights)[..., None].astype(np.float32)
    raise DatasetError(f"{path}: cannot turn a {have}-channel image into {channels} channels")


def encode_mask(raw: np.ndarray, values: dict[int, int], path, classes=None) -> np.ndarray:
    """Map the values a mask file stores to class indices, refusing any other value.

    ``values`` maps each stored value to its class (ISBI: ``{0: 0, 255: 1}``).  An unexpected
    value raises a :class:`DatasetError` naming the file and guessing why: a 0/1 mask where
    0/255 is expected, a mask saved as JPEG (lossy compression adds in-between grey levels),
    or more classes than the dataset has.
    """
    path = Path(path)
    raw = np.asarray(raw)
    found = np.unique(raw)
    unexpected = [int(v) for v in found if int(v) not in values]
    if unexpected:
        raise DatasetError(f"{path}: {_explain_values(found, unexpected, values, classes)}")
    keys = np.array(sorted(values))
    labels = np.array([values[k] for k in keys], np.int64)
    return labels[np.searchsorted(keys, raw)]


def _show(values, limit: int = 8) -> str:
    values = [int(v) for v in values]
    text = ", ".join(str(v) for v in values[:limit])
    return text + (f", ... ({len(values)} values)" if len(values) > limit else "")


def _explain_values(found, unexpected, values: dict[int, int], classes) -> str:
    expected = sorted(values)
    found = [int(v) for v in found]
    head = f"mask holds the value(s) {_show(unexpected)} but this dataset's masks hold only {_show(expected)}"
    binary_255 = expected == [0, 255]
    if binary_255 and set(found) <= {0, 1}:
        return head + ": it looks like a 0/1 mask where 0/255 is expected (another tool's export?)"
    if len(found) > len(expected) + _LOSSY_EXTRA_VALUES:
        return head + (": many in-between values, as a mask saved as JPEG (lossy compression) or resized "
                       "with interpolation has; use the original lossless masks")
    if min(unexpected) > max(expected) and expected == list(range(len(expected))):
        names = f" ({', '.join(classes)})" if classes else ""
        return head + f": too many classes, this dataset has {len(expected)}{names}"
    return head
