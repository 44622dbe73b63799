"""Stand-in files in the layouts of datasets that cannot be shipped: taught in chapter 5.

Chapter 5 reads each medical dataset in its own file layout with the real
loaders of :mod:`coursekit.data`.  Some cannot come with the course: DRIVE
needs a registration, the Kaggle lung set a login, the esophagus labels of
SegTHOR a signed data usage agreement, and no public corneal-nerve images with
stated terms of use are known to coursekit.  The functions here
write synthetic images in exactly those layouts (names, folders, file formats,
bit depths), so that the loaders and the pitfalls of each format run on any
machine.  The pictures are stand-ins, not data: nothing is learnt from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np


def nerve_fibres(size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An image of thin bright fibres on a dark, grainy background (values in [0, 1]) and their mask.

    Four to seven fibres, each a gently waving line one to three pixels wide,
    as corneal nerves look in confocal microscopy: the structure a one-pixel
    shift costs most of the Dice of.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    mask = np.zeros((size, size), bool)
    for _ in range(rng.integers(4, 8)):
        phase = 2 * np.pi * rows / rng.uniform(40, 90) + rng.uniform(0, 6.3)
        centre = rng.uniform(0, size) + rng.uniform(-0.4, 0.4) * rows + 4 * np.sin(phase)
        mask |= np.abs(cols - centre) < rng.uniform(0.7, 1.6)
    image = 0.12 + 0.6 * ndimage.gaussian_filter(mask.astype(float), 0.8)
    return np.clip(image + rng.normal(0, 0.04, mask.shape), 0, 1), mask


def _save_png(array: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.round(array).astype(np.uint8)).save(path)


def write_drive(root, numbers: Iterable[int] = (21, 22), seed: int = 5) -> Path:
    """DRIVE's training layout under ``root/drive/training``; returns that folder.

    ``images/NN_training.tif`` (8-bit RGB), ``1st_manual/NN_manual1.gif`` (the
    vessels) and ``mask/NN_training_mask.gif`` (the field of view), 565 wide and
    584 high, from :func:`coursekit.data.synthetic.vessels`.  Pillow saves the
    GIFs with palette indices 0 and 1 for black and white, where DRIVE's own
    files happen to store 0 and 255: the masks must be read through their
    palette (``io.read_mask``).
    """
    import tifffile
    from PIL import Image

    from .synthetic import vessels

    numbers = list(numbers)
    fundus = vessels(len(numbers), size=584, seed=seed)
    columns = slice(9, 9 + 565)  # DRIVE is 565 wide and 584 high
    folder = Path(root) / "drive" / "training"
    for sub in ("images", "1st_manual", "mask"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i, number in enumerate(numbers):
        tifffile.imwrite(folder / "images" / f"{number}_training.tif",
                         np.round(fundus.images[i][:, columns] * 255).astype(np.uint8))
        Image.fromarray((fundus.masks[i][:, columns] * 255).astype(np.uint8)).save(
            folder / "1st_manual" / f"{number}_manual1.gif")
        Image.fromarray((fundus.fov[i][:, columns] * 255).astype(np.uint8)).save(
            folder / "mask" / f"{number}_training_mask.gif")
    return folder


def write_ct_slices(root, phantoms: Iterable, every: int = 3) -> dict[str, Path]:
    """Axial slices of CT phantoms in two 2-D layouts; returns the two folders by dataset name.

    ``lung``: the Kaggle lung set's ``2d_images/ID_PPPP_Z_SSSS.tif`` (int16, in
    Hounsfield units) with ``2d_masks/`` of the same names (0 and 255), every
    ``every``-th slice that shows lung.  ``esophagus``: ``train/PPSSS.png`` and
    ``PPSSS_mask.png``, 8-bit PNGs of the slice windowed to the abdomen, every
    ``2 * every``-th slice that shows the esophagus.  ``phantoms`` are
    :func:`coursekit.data.volumes.ct_phantom` volumes, one per patient.
    """
    import tifffile

    from .datasets import ABDOMEN_WINDOW
    from .volumes import apply_window, axial_slices

    lung, food = Path(root) / "lung", Path(root) / "esophagus" / "train"
    for folder in (lung / "2d_images", lung / "2d_masks", food):
        folder.mkdir(parents=True, exist_ok=True)
    for patient, ct in enumerate(phantoms):
        hu_slices, lung_slices = axial_slices(ct.hu), axial_slices(ct.lungs)
        food_slices = axial_slices(ct.esophagus)
        for z in range(0, len(hu_slices), every):
            if lung_slices[z].any():
                name = f"ID_{patient:04d}_Z_{z:04d}.tif"
                tifffile.imwrite(lung / "2d_images" / name, np.round(hu_slices[z]).astype(np.int16))
                tifffile.imwrite(lung / "2d_masks" / name, lung_slices[z].astype(np.uint8) * 255)
            if food_slices[z].any() and z % (2 * every) == 0:
                _save_png(apply_window(hu_slices[z], ABDOMEN_WINDOW) * 255, food / f"{patient:02d}{z:03d}.png")
                _save_png(food_slices[z] * 255, food / f"{patient:02d}{z:03d}_mask.png")
    return {"lung": lung, "esophagus": food.parent}


def write_corneal(root, count: int = 3, size: int = 128) -> Path:
    """``count`` :func:`nerve_fibres` images as ``root/corneal/train/NNNNN.png`` + ``NNNNN_mask.png``."""
    folder = Path(root) / "corneal" / "train"
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, count + 1):
        fibres, mask = nerve_fibres(size, seed=number)
        _save_png(fibres * 255, folder / f"{number:05d}.png")
        _save_png(mask * 255, folder / f"{number:05d}_mask.png")
    return folder.parent
