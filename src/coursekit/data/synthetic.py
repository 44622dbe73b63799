"""Synthetic datasets that need no download, deterministic by seed.

Taught in chapter 1 (A dataset we can make ourselves): ``shapes`` draws discs,
squares and triangles on textured backgrounds, so a first model can learn in
a minute on a CPU while the task is still a real segmentation task: every
pixel needs a class, objects occlude each other, and the background covers
most of the image (class imbalance).
"""

from __future__ import annotations

import numpy as np

from ..viz import palette as make_palette
from .base import ArrayDataset

SHAPE_CLASSES = ("background", "disc", "square", "triangle")
# Hue of each shape class when colours follow the class (see ``class_colours``):
# orange discs, purple squares, cyan triangles.  They differ from the palette's
# class colours (red, green, blue), so a mask drawn over an image stands out.
_CLASS_HUES = {1: 0.08, 2: 0.78, 3: 0.50}


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random background: a few oriented gratings in muted colours."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = np.zeros((size, size, 3))
    base = rng.uniform(0.25, 0.6, 3)
    for _ in range(3):
        angle = rng.uniform(0, np.pi)
        freq = rng.uniform(2, 8)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
        image += wave[..., None] * rng.uniform(-0.12, 0.12, 3)
    return base + image


def _shape_mask(kind: int, size: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    dx, dy = xx - cx, yy - cy
    # rotate the grid into the shape's own frame
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    if kind == 1:  # disc of radius r
        return u ** 2 + v ** 2 <= r ** 2
    if kind == 2:  # square of half-side 0.8 r, so its area is close to the disc's
        half = 0.8 * r
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    # equilateral triangle inscribed in the circle of radius 1.2 r
    inside = np.ones_like(u, bool)
    for k in range(3):
        theta = angle + 2 * np.pi * k / 3
        inside &= (dx * np.cos(theta) + dy * np.sin(theta)) <= 0.6 * r
    return inside


def shapes(n: int, size: int = 64, seed: int = 0, max_objects: int = 3,
           class_colours: bool = True, noise: float = 0.04) -> ArrayDataset:
    """Make ``n`` images of discs, squares and triangles with their masks.

    Each image has 1 to ``max_objects`` objects of random class, size, position
    and rotation, drawn in order so that later objects occlude earlier ones.
    With ``class_colours=True`` each class has its own hue (with jitter in hue,
    saturation and brightness); with ``False`` every object gets a random colour,
    and only its shape tells its class apart: a harder task.
    ``instances`` numbers the objects of each image (an object hidden entirely
    by later ones leaves no pixels).  The same ``seed`` always gives the same images.
    """
    if n < 1 or size < 16:
        raise ValueError(f"need n >= 1 and size >= 16, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.float32)
    masks = np.zeros((n, size, size), np.int64)
    instances = np.zeros((n, size, size), np.int64)
    for i in range(n):
        image = _texture(rng, size)
        mask = masks[i]
        for number in range(1, rng.integers(1, max_objects + 1) + 1):
            kind = int(rng.integers(1, len(SHAPE_CLASSES)))
            r = rng.uniform(0.10, 0.22) * size
            cx, cy = rng.uniform(r, size - r, 2)
            region = _shape_mask(kind, size, cx, cy, r, rng.uniform(0, 2 * np.pi))
            if class_colours:
                hue = (_CLASS_HUES[kind] + rng.normal(0, 0.04)) % 1.0
                colour = _hsv_to_rgb(hue, rng.uniform(0.5, 0.9), rng.uniform(0.6, 1.0))
            else:
                colour = rng.uniform(0, 1, 3)
            shade = 1 + 0.15 * (np.mgrid[0:size, 0:size][0] / size - 0.5)  # a soft vertical light gradient
            image[region] = colour * shade[region][:, None]
            mask[region] = kind
            instances[i][region] = number
        image += rng.normal(0, noise, image.shape)
        images[i] = np.clip(image, 0, 1)
    return ArrayDataset(images, masks, SHAPE_CLASSES, make_palette(len(SHAPE_CLASSES)), "synthetic",
                        instances)
