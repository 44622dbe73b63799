"""The colour of each class: a palette, shared by the datasets (which carry one) and the pictures.

Taught in chapter 1 (Looking at masks): a mask is a label image; to see it we
map each class index to a colour.  It lives outside :mod:`coursekit.viz` so
that the data modules need nothing of the pictures; chapters call it as
``viz.palette``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["palette"]

# Class 0 (usually background) is black; then a qualitative palette whose
# neighbouring colours are easy to tell apart.
_QUALITATIVE = ["#e6194b", "#3cb44b", "#4363d8", "#ffe119", "#f58231", "#911eb4",
                "#46f0f0", "#f032e6", "#bcf60c", "#008080", "#9a6324", "#800000"]


def _voc_colour(index: int) -> tuple[int, int, int]:
    """The PASCAL VOC colour map: the bits of the index spread over R, G and B."""
    r = g = b = 0
    for shift in range(7, -1, -1):
        r |= ((index >> 0) & 1) << shift
        g |= ((index >> 1) & 1) << shift
        b |= ((index >> 2) & 1) << shift
        index >>= 3
    return r, g, b


def palette(num_classes: int, kind: str = "qualitative") -> np.ndarray:
    """``num_classes×3`` uint8 colours, class 0 black.

    ``kind="voc"`` gives the PASCAL VOC colour map, which VOC's own label PNGs use.
    """
    if kind == "voc":
        return np.array([_voc_colour(i) for i in range(num_classes)], np.uint8)
    if kind != "qualitative":
        raise ValueError(f"unknown palette kind {kind!r}; use 'qualitative' or 'voc'")
    colours = [(0, 0, 0)] + [tuple(int(h[i:i + 2], 16) for i in (1, 3, 5)) for h in _QUALITATIVE]
    colours += [_voc_colour(i) for i in range(len(colours), num_classes)]
    return np.array(colours[:num_classes], np.uint8)
