"""Data augmentation that moves an image and its mask together (chapter 4, U-Net).

Ronneberger et al. (2015) trained U-Net on 30 images of the ISBI 2012 challenge;
augmentation made that possible.  Every geometric transform here is applied
to the image and to the mask alike, so each label stays on its pixel:

* flips and 90° rotations: exact, they only reorder pixels;
* random crops to a fixed size (with the elastic deformation, one step: the
  field is drawn over the whole image, so that a small tile is strained as
  much as the whole image would be, not more);
* intensity jitter (brightness and contrast), image only, since labels do not
  depend on how bright a pixel is;
* the paper's elastic deformation: random displacements on a coarse 3×3 grid,
  drawn from a Gaussian with a standard deviation of 10 pixels, interpolated
  smoothly (bicubic) to a displacement for every pixel.  The image is resampled
  with bicubic interpolation; the mask with nearest neighbour, because
  interpolating class indices would invent classes (halfway between 0 and 2 is
  1, a class that was never there).

Images are ``H×W×C`` (or ``H×W``) arrays; masks are ``H×W`` integer arrays, or
``H×W×M`` to move several label maps at once (a class mask with instance ids or
a field-of-view mask).  Randomness comes only from the ``numpy.random.Generator``
passed in, so the same seed gives the same result.  Every random step is a
callable ``step(image, mask, rng) -> (image, mask)``; :class:`Compose` chains
them, each with a probability, and :func:`unet_augmentation` builds the chain
the chapter uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .base import pair_size

Step = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _check_pair(image: np.ndarray, mask: np.ndarray) -> None:
    if image.shape[:2] != mask.shape[:2]:
        raise ValueError(f"image is {image.shape[0]}×{image.shape[1]} but mask is {mask.shape[0]}×{mask.shape[1]}")
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"mask must hold integer class indices, got dtype {mask.dtype}")


# --- Exact transforms: pixels are only reordered ---------------------------------


def flip(image: np.ndarray, mask: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Mirror both arrays: ``axis=0`` upside down (vertical flip), ``axis=1`` left-right (horizontal)."""
    _check_pair(image, mask)
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (vertical flip) or 1 (horizontal flip), got {axis}")
    return np.flip(image, axis).copy(), np.flip(mask, axis).copy()


def rotate90(image: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rotate both arrays by ``k`` quarter turns, counter-clockwise as ``numpy.rot90``."""
    _check_pair(image, mask)
    return np.rot90(image, k, axes=(0, 1)).copy(), np.rot90(mask, k, axes=(0, 1)).copy()


def crop(image: np.ndarray, mask: np.ndarray, top: int, left: int,
         size: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Cut the same ``size`` window (an int or (height, width)) at ``(top, left)`` from both arrays."""
    _check_pair(image, mask)
    height, width = pair_size(size)
    if top < 0 or left < 0 or top + height > image.shape[0] or left + width > image.shape[1]:
        raise ValueError(f"a {height}×{width} crop at ({top}, {left}) does not fit a "
                         f"{image.shape[0]}×{image.shape[1]} image")
    window = (slice(top, top + height), slice(left, left + width))
    return image[window].copy(), mask[window].copy()


def adjust_intensity(image: np.ndarray, brightness: float = 0.0, contrast: float = 1.0) -> np.ndarray:
    """Scale the image's deviations from its mean by ``contrast``, add ``brightness``, clip to [0, 1].

    Images follow the coursekit convention (values in [0, 1]); the clip keeps
    them there.
    """
    mean = image.mean()
    adjusted = (image - mean) * contrast + mean + brightness
    return np.clip(adjusted, 0.0, 1.0).astype(image.dtype)


# --- Elastic deformation (Ronneberger et al. 2015) ------------------------------


def upsample_displacements(coarse: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Interpolate coarse displacements (``2×g×g``) to one per pixel (``2×H×W``), bicubic.

    The coarse grid's nodes sit evenly from the first to the last pixel (the
    corners of a 3×3 grid are the image's corners), and the cubic spline passes
    through them: at a node the pixel's displacement is exactly the drawn one.
    """
    return window_displacements(coarse, shape, (0, 0), shape)


def window_displacements(coarse: np.ndarray, shape: Sequence[int], corner: Sequence[int],
                         size: Sequence[int]) -> np.ndarray:
    """The part of ``upsample_displacements(coarse, shape)`` in the ``size`` window at ``corner``, alone.

    The field of the whole ``shape`` is never computed: only the window's pixels
    are interpolated, at the positions they have in the whole image.
    """
    from scipy import ndimage

    (height, width), (top, left), (window_height, window_width) = shape, corner, size
    rows, cols = coarse.shape[1:]
    # pixel positions expressed in units of the coarse grid
    y = np.linspace(0, rows - 1, height)[top:top + window_height]
    x = np.linspace(0, cols - 1, width)[left:left + window_width]
    yy, xx = np.meshgrid(y, x, indexing="ij")
    return np.stack([ndimage.map_coordinates(component, [yy, xx], order=3, mode="mirror")
                     for component in coarse])


def elastic_field(shape: Sequence[int], rng: np.random.Generator, sigma: float = 10.0,
                  grid: int = 3) -> np.ndarray:
    """A random smooth displacement field ``2×H×W`` (rows, columns), in pixels.

    The U-Net paper's recipe: a ``grid×grid`` grid of displacement vectors, each
    component drawn from a Gaussian with standard deviation ``sigma`` pixels
    (3×3 and 10 px in the paper), interpolated bicubically to every pixel.
    """
    coarse = rng.normal(0.0, sigma, size=(2, grid, grid))
    return upsample_displacements(coarse, shape[:2])


def _per_channel(array: np.ndarray, resample: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    if array.ndim == 2:
        return resample(array)
    return np.stack([resample(array[..., c]) for c in range(array.shape[-1])], axis=-1)


def warp(image: np.ndarray, mask: np.ndarray, field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resample both arrays at ``pixel + field``: the image bicubic, the mask nearest neighbour.

    Samples that fall outside the image are mirrored back in (as ``numpy.pad``
    with ``mode="reflect"``), the border handling of the U-Net paper.  Cubic
    interpolation overshoots near edges, so the image is clipped to its own
    range; nearest neighbour copies labels, so the mask can only hold labels it
    held before.
    """
    from scipy import ndimage

    _check_pair(image, mask)
    if field.shape != (2, *image.shape[:2]):
        raise ValueError(f"field must be 2×{image.shape[0]}×{image.shape[1]}, got {field.shape}")
    yy, xx = np.indices(image.shape[:2], dtype=np.float64)
    coords = [yy + field[0], xx + field[1]]
    warped_image = _per_channel(image, lambda c: ndimage.map_coordinates(c, coords, order=3, mode="mirror"))
    warped_mask = _per_channel(mask, lambda m: ndimage.map_coordinates(m, coords, order=0, mode="mirror"))
    return np.clip(warped_image, image.min(), image.max()), warped_mask


# --- Random steps: callables (image, mask, rng) -> (image, mask) -----------------


@dataclass(frozen=True)
class Flip:
    """Mirror along ``axis`` (0 vertical, 1 horizontal); how often is up to :class:`Compose`."""

    axis: int

    def __call__(self, image, mask, rng):
        return flip(image, mask, self.axis)


@dataclass(frozen=True)
class Rotate90:
    """Rotate by one, two or three quarter turns, chosen at random."""

    def __call__(self, image, mask, rng):
        return rotate90(image, mask, int(rng.integers(1, 4)))


@dataclass(frozen=True)
class RandomCrop:
    """Cut a ``size`` window (int or (height, width)) at a random place; an error if it does not fit."""

    size: int | tuple[int, int]

    def corner(self, shape, rng) -> tuple[int, int]:
        """A random top-left corner at which the window fits an image of ``shape``."""
        height, width = pair_size(self.size)
        if height > shape[0] or width > shape[1]:
            raise ValueError(f"cannot crop {height}×{width} from a {shape[0]}×{shape[1]} image")
        return int(rng.integers(0, shape[0] - height + 1)), int(rng.integers(0, shape[1] - width + 1))

    def __call__(self, image, mask, rng):
        return crop(image, mask, *self.corner(image.shape, rng), self.size)


@dataclass(frozen=True)
class IntensityJitter:
    """Brightness shift in ±``brightness`` and contrast factor in 1 ± ``contrast``; the mask is untouched."""

    brightness: float = 0.1
    contrast: float = 0.2

    def __call__(self, image, mask, rng):
        shift = rng.uniform(-self.brightness, self.brightness)
        factor = rng.uniform(1 - self.contrast, 1 + self.contrast)
        return adjust_intensity(image, shift, factor), mask


@dataclass(frozen=True)
class ElasticDeform:
    """The U-Net paper's elastic deformation (see :func:`elastic_field` and :func:`warp`)."""

    sigma: float = 10.0
    grid: int = 3

    def __call__(self, image, mask, rng):
        return warp(image, mask, elastic_field(image.shape[:2], rng, self.sigma, self.grid))


@dataclass(frozen=True)
class ElasticCrop:
    """A random ``size`` window, elastically deformed with ``probability``, at the strain of the whole image.

    The paper deforms whole training images: on ISBI's 512×512 slices the 3×3
    grid's nodes lie 256 pixels apart, and a 10-pixel displacement stretches the
    tissue by a few per cent.  The same grid drawn over a 128-pixel tile puts the
    nodes 64 pixels apart and strains the tile four times as much.  So the
    coarse grid is drawn over the whole image and evaluated on the window and a
    margin of ``4 * sigma`` pixels around it; that region is deformed (what moves
    into the window is real image, mirrored only at the image's own border) and
    the window is cut out of it.  Without the deformation it is a plain random crop.
    """

    size: int | tuple[int, int]
    sigma: float = 10.0
    grid: int = 3
    probability: float = 0.5

    def __call__(self, image, mask, rng):
        height, width = pair_size(self.size)
        image_height, image_width = image.shape[:2]
        top, left = RandomCrop(self.size).corner(image.shape, rng)
        if rng.random() >= self.probability:
            return crop(image, mask, top, left, (height, width))
        coarse = rng.normal(0.0, self.sigma, size=(2, self.grid, self.grid))
        margin = int(np.ceil(4 * self.sigma))
        region_top, region_left = max(top - margin, 0), max(left - margin, 0)
        region = (min(top + height + margin, image_height) - region_top,
                  min(left + width + margin, image_width) - region_left)
        field = window_displacements(coarse, (image_height, image_width), (region_top, region_left), region)
        warped = warp(*crop(image, mask, region_top, region_left, region), field)
        return crop(*warped, top - region_top, left - region_left, (height, width))


class Compose:
    """Apply steps in order, each with its own probability.

    ``steps`` holds steps or ``(step, probability)`` pairs (a bare step always
    runs).  One uniform number is drawn per step whether it runs or not, so a
    step's decision does not depend on what the steps before it drew.
    """

    def __init__(self, steps: Sequence[Step | tuple[Step, float]]):
        self.steps = [step if isinstance(step, tuple) else (step, 1.0) for step in steps]
        for step, probability in self.steps:
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"probability of {step} must be in [0, 1], got {probability}")

    def __call__(self, image: np.ndarray, mask: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        _check_pair(image, mask)
        for step, probability in self.steps:
            if rng.random() < probability:
                image, mask = step(image, mask, rng)
        return image, mask

    def __repr__(self) -> str:
        return f"Compose({self.steps!r})"


def unet_augmentation(crop_size: int | tuple[int, int] | None = None, flip_p: float = 0.5,
                      rotate_p: float = 0.5, jitter_p: float = 0.5, elastic_p: float = 0.5,
                      sigma: float = 10.0) -> Compose:
    """The chapter's augmentation: flips, quarter turns, an optional crop, elastic deformation, jitter.

    With ``crop_size`` the crop and the deformation are one step,
    :class:`ElasticCrop`: the deformation has the strain it would have on the
    whole image, and the expensive resampling runs on the window and its margin
    only.  Without it the whole image is deformed (:class:`ElasticDeform`).
    """
    steps: list[tuple[Step, float]] = [(Flip(1), flip_p), (Flip(0), flip_p), (Rotate90(), rotate_p)]
    if crop_size is not None:
        steps.append((ElasticCrop(crop_size, sigma, probability=elastic_p), 1.0))
    else:
        steps.append((ElasticDeform(sigma), elastic_p))
    steps.append((IntensityJitter(), jitter_p))
    return Compose(steps)
