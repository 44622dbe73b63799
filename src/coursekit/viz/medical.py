"""Figures for chapters 5 (Medical image data) and 6 (Scoring medical segmentation).

A volume seen in three planes, a CT slice under several windows, the class imbalance of
each dataset, a split of one image into regions, per-image against pooled scores, the
field of view of a fundus photograph, and touching objects that a semantic mask merges.
Volumes are RAS+ arrays (axis 0 towards the patient's right, 1 anterior, 2 superior), as
``coursekit.data.io.read_volume`` returns them.
"""

from __future__ import annotations

import numpy as np

from .core import ERROR_COLOURS, _as_float_rgb, blend, legend_handles

__all__ = ["plot_field_of_view", "plot_foreground_fractions", "plot_instances", "plot_region_split",
           "plot_tile_scores", "plot_windows", "show_volume"]

_ERRORS = dict(zip(("vessel found", "vessel missed", "false alarm"), ERROR_COLOURS.values()))


def _shown(plane: np.ndarray) -> np.ndarray:
    """A plane cut from a RAS+ volume, as radiologists show it: first axis reversed to the left, second up."""
    return np.asarray(plane)[::-1, ::-1].swapaxes(0, 1)


def _planes(volume: np.ndarray, position) -> list[tuple[str, np.ndarray, tuple[int, int], tuple[str, str, str, str]]]:
    x, y, z = position
    # name, plane, (axis along the rows, axis along the columns), letters (left, right, top, bottom)
    return [("axial", volume[:, :, z], (1, 0), ("R", "L", "A", "P")),
            ("coronal", volume[:, y, :], (2, 0), ("R", "L", "S", "I")),
            ("sagittal", volume[x, :, :], (2, 1), ("A", "P", "S", "I"))]


def show_volume(volume, spacing=(1.0, 1.0, 1.0), labels=None, colours=None, classes=None, position=None,
                title: str | None = None, alpha: float = 0.45):
    """Three orthogonal planes through ``position`` (a voxel; the centre by default) of a RAS+ volume.

    Pixels are drawn with their physical aspect ratio from ``spacing`` (mm), and letters at the
    edges name the patient's directions (R/L, A/P, S/I).  ``labels`` (an integer volume of the
    same shape) is drawn over the image in ``colours``, with a legend when ``classes`` is given.
    """
    import matplotlib.pyplot as plt

    volume = np.asarray(volume, np.float32)
    if volume.ndim != 3:
        raise ValueError(f"expected an X×Y×Z volume, got shape {volume.shape}")
    position = tuple(s // 2 for s in volume.shape) if position is None else tuple(int(p) for p in position)
    low, high = np.percentile(volume, (0.5, 99.5))
    scaled = np.clip((volume - low) / max(high - low, 1e-9), 0, 1)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.3))
    planes = _planes(scaled, position)
    label_planes = _planes(np.asarray(labels), position) if labels is not None else [None] * 3
    for ax, (name, plane, (row_axis, col_axis), letters), label_plane in zip(axes, planes, label_planes):
        shown = _shown(plane)
        picture = blend(shown, _shown(label_plane[1]), colours, alpha) if label_plane is not None else shown
        ax.imshow(picture, cmap="gray", aspect=spacing[row_axis] / spacing[col_axis], interpolation="nearest")
        index = {"axial": position[2], "coronal": position[1], "sagittal": position[0]}[name]
        ax.set_title(f"{name} (slice {index})", fontsize=10)
        ax.set_axis_off()
        for text, (u, v) in zip(letters, ((0.02, 0.5), (0.98, 0.5), (0.5, 0.98), (0.5, 0.02))):
            ax.text(u, v, text, transform=ax.transAxes, color="yellow", fontsize=11, fontweight="bold",
                    ha="center", va="center")
    if labels is not None and classes is not None:
        fig.legend(handles=legend_handles(classes, colours)[1:], loc="lower center", ncol=len(classes) - 1,
                   frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06 if classes is not None else 0, 1, 1))
    return fig


def plot_windows(hu, windows: dict, labels=None, colours=None, classes=None):
    """One CT slice (in HU) under each window of ``windows`` (name -> (low, high)), and its histogram.

    The histogram shows where the tissue values lie and which range each window keeps; a
    window maps its range to black..white and saturates everything outside it.  ``labels``
    outlines the structures of an ``H×W`` label image in ``colours``.
    """
    import matplotlib.pyplot as plt

    hu = np.asarray(hu, np.float32)
    rows = -(-(len(windows) + 1) // 2)  # two panels a row: the histogram, then one per window
    fig, grid = plt.subplots(rows, 2, figsize=(9, 4.2 * rows), squeeze=False)
    axes = grid.ravel()
    for unused in axes[len(windows) + 1:]:
        unused.set_axis_off()
    hist = axes[0]
    hist.hist(hu.ravel(), bins=120, range=(-1100, 1100), color="0.35")
    hist.set_yscale("log")
    hist.set_xlabel("Hounsfield units")
    hist.set_ylabel("pixels")
    hist.set_title("values in the slice", fontsize=10)
    band_colours = plt.get_cmap("tab10")
    for number, (ax, (name, (low, high))) in enumerate(zip(axes[1:], windows.items())):
        # each window as a bar above the histogram: the HU range it maps to black..white
        hist.plot([low, high], [0.95 - 0.07 * number] * 2, transform=hist.get_xaxis_transform(), lw=5,
                  color=band_colours(number), solid_capstyle="butt", label=name)
        ax.imshow(np.clip((hu - low) / (high - low), 0, 1), cmap="gray", vmin=0, vmax=1)
        if labels is not None:
            for cls in range(1, int(np.max(labels)) + 1):
                if (labels == cls).any():
                    ax.contour(labels == cls, levels=[0.5], colors=[np.asarray(colours[cls]) / 255], linewidths=1)
        ax.set_title(f"{name}: {low:.0f} to {high:.0f} HU", fontsize=10)
        ax.set_axis_off()
    hist.set_ylim(top=hist.get_ylim()[1] * 30)  # room for the window bars above the bins
    hist.legend(fontsize=8, loc="center right", title="windows", title_fontsize=8)
    if labels is not None and classes is not None:
        fig.legend(handles=legend_handles(classes, colours)[1:], loc="lower center", ncol=len(classes) - 1,
                   frameon=False)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
    else:
        fig.tight_layout()
    return fig


def plot_foreground_fractions(names, fractions, sources):
    """How much of each dataset is foreground, on a log scale, real data and stand-ins told apart."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fractions = np.asarray(fractions, float)
    order = np.argsort(fractions)
    real = {"disk", "sample", "download"}
    colours = ["#4363d8" if sources[i] in real else "#bbbbbb" for i in order]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.2))
    ax.barh(np.arange(len(names)), fractions[order], color=colours, edgecolor="0.3")
    ax.set_yticks(np.arange(len(names)), [names[i] for i in order])
    ax.set_xscale("log")
    ax.set_xlim(min(fractions.min() / 2, 1e-4), 1)
    for row, i in enumerate(order):
        ax.text(fractions[i] * 1.15, row, f"{fractions[i]:.2%}", va="center", fontsize=9)
    ax.set_xlabel("foreground fraction (share of the pixels that belong to the class, log scale)")
    ax.legend(handles=[Patch(color="#4363d8", label="real data"), Patch(color="#bbbbbb", label="stand-in")],
              loc="lower right", frameon=False)
    ax.set_title("Class imbalance: the structure to find is a small part of the image")
    fig.tight_layout()
    return fig


def plot_region_split(image, train_columns: slice, val_columns: slice, tile: int | None = None, scores=None):
    """One image split by region: training columns (blue), an unused gap (grey), validation columns (orange).

    With ``tile`` the validation region's tile grid is drawn; ``scores`` (one number per tile,
    row by row, ``nan`` where undefined) is written into the tiles.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    rgb = _as_float_rgb(image)
    height, width = rgb.shape[:2]
    fig, ax = plt.subplots(figsize=(6.5, 6.5 * height / width + 0.6))
    ax.imshow(rgb)
    regions = [(train_columns, "#4363d8", "training region"), (val_columns, "#f58231", "validation region")]
    gap = slice(train_columns.stop, val_columns.start)
    for columns, colour, _ in regions:
        ax.add_patch(Rectangle((columns.start - 0.5, -0.5), columns.stop - columns.start, height, fc=colour,
                               alpha=0.18, ec=colour, lw=2))
    if gap.stop > gap.start:
        ax.add_patch(Rectangle((gap.start - 0.5, -0.5), gap.stop - gap.start, height, fc="0.5", alpha=0.55,
                               hatch="//", ec="0.3"))
    if tile:
        count = 0
        for top in range(0, height - tile + 1, tile):
            for left in range(val_columns.start, val_columns.stop - tile + 1, tile):
                ax.add_patch(Rectangle((left - 0.5, top - 0.5), tile, tile, fill=False, ec="white", lw=0.6))
                if scores is not None:
                    value = scores[count]
                    text = "–" if np.isnan(value) else f"{value:.2f}"
                    ax.text(left + tile / 2, top + tile / 2, text, color="white", fontsize=7, ha="center",
                            va="center", bbox=dict(facecolor="black", alpha=0.5, pad=1, lw=0))
                count += 1
    handles = [Patch(color=c, alpha=0.5, label=n) for _, c, n in regions]
    if gap.stop > gap.start:
        handles.insert(1, Patch(facecolor="0.5", hatch="//", label="gap (not used)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=3, frameon=False)
    ax.set_axis_off()
    return fig


def plot_tile_scores(foreground, scores: dict, pooled: dict):
    """Each tile's Dice against its foreground fraction, one colour per method; dashed lines: pooled Dice.

    ``foreground`` has one fraction per tile; ``scores`` maps a method to one Dice per tile
    (``nan`` where undefined); ``pooled`` maps a method to its Dice over all tiles at once.
    """
    import matplotlib.pyplot as plt

    foreground = np.asarray(foreground, float)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    colours = plt.get_cmap("tab10")
    for number, (name, values) in enumerate(scores.items()):
        values = np.asarray(values, float)
        shown = ~np.isnan(values)
        ax.scatter(foreground[shown], values[shown], s=22, color=colours(number), alpha=0.8,
                   label=f"{name}: mean over tiles {np.nanmean(values):.3f}" if shown.any() else name)
        ax.axhline(pooled[name], color=colours(number), ls="--", lw=1.2)
        ax.text(1.0, pooled[name], f" pooled {pooled[name]:.3f}", transform=ax.get_yaxis_transform(),
                color=colours(number), va="center", fontsize=8)
    ax.set_xlabel("foreground fraction of the tile")
    ax.set_ylabel("Dice of the tile")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Dice per tile (dots) and pooled over all tiles (dashed)")
    fig.tight_layout()
    return fig


def plot_field_of_view(image, truth, prediction, fov, zoom: int = 90):
    """A fundus photograph, its field of view, a prediction's errors, and a zoom on the field's rim.

    Errors outside the field of view (``fov`` False) are what an evaluation over the whole
    image would count and an evaluation inside the field of view ignores.  The last panel
    shows a ``zoom``-pixel square where the field of view reaches the image's right side.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    image, truth, prediction, fov = (np.asarray(a) for a in (image, truth, prediction, fov))
    errors = np.zeros((*truth.shape, 3))
    t, p = truth > 0, prediction > 0
    for region, colour in zip((t & p, t & ~p, ~t & p), _ERRORS.values()):
        errors[region] = colour
    rows, cols = np.nonzero(fov)
    rim_row, rim_col = int(np.median(rows[cols == cols.max()])), int(cols.max())
    top = int(np.clip(rim_row - zoom // 2, 0, fov.shape[0] - zoom))
    left = int(np.clip(rim_col - zoom // 2, 0, fov.shape[1] - zoom))
    window = (slice(top, top + zoom), slice(left, left + zoom))
    fig, grid = plt.subplots(2, 2, figsize=(9, 9.4))
    axes = grid.ravel()
    axes[0].imshow(_as_float_rgb(image))
    axes[0].set_title("image")
    axes[1].imshow(fov, cmap="gray")
    axes[1].set_title("field of view (mask GIF)")
    for ax, (part, title) in zip(axes[2:], (((slice(None), slice(None)), "prediction's errors"),
                                            (window, "zoom on the rim"))):
        ax.imshow(errors[part], interpolation="nearest")
        ax.contour(fov[part], levels=[0.5], colors="yellow", linewidths=1)
        ax.set_title(f"{title} (yellow: field of view)", fontsize=10)
    axes[2].add_patch(Rectangle((left - 0.5, top - 0.5), zoom, zoom, fill=False, ec="white", lw=1))
    for ax in axes:
        ax.set_axis_off()
    fig.legend(handles=[Patch(color=c, label=k) for k, c in _ERRORS.items()], loc="lower center", ncol=3,
               frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_instances(image, instances, predicted, merged=(), title: str | None = None):
    """True objects (outlines) against predicted connected components (colours); merged ones in red.

    ``instances`` numbers the true objects, ``predicted`` the predicted components (0 is
    background in both); ``merged`` lists predicted components that cover two or more true
    objects.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    instances, predicted = np.asarray(instances), np.asarray(predicted)
    rng = np.random.default_rng(1)
    colours = rng.uniform(0.35, 0.95, size=(int(predicted.max()) + 1, 3))
    colours[0] = 0
    colours[list(merged)] = (1.0, 0.15, 0.15)
    # a pixel is on an outline when a 4-neighbour belongs to another object (or to none)
    padded = np.pad(instances, 1, mode="edge")
    outline = (instances > 0) & ((padded[:-2, 1:-1] != instances) | (padded[2:, 1:-1] != instances)
                                 | (padded[1:-1, :-2] != instances) | (padded[1:-1, 2:] != instances))
    left, right = _as_float_rgb(image), colours[predicted]
    left[outline] = right[outline] = (1.0, 1.0, 1.0)
    height, width = instances.shape
    panel = 7.0  # inches for the longer side of each panel
    scale = panel / max(height, width)
    fig, axes = plt.subplots(1, 2, figsize=(max(2 * width * scale + 0.8, 7.0), height * scale + 1.4))
    axes[0].imshow(left, interpolation="nearest")
    axes[0].set_title("true nuclei (outlines)", fontsize=10)
    axes[1].imshow(right, interpolation="nearest")
    axes[1].set_title("predicted objects", fontsize=10)
    for ax in axes:
        ax.set_axis_off()
    fig.legend(handles=[Patch(facecolor="white", edgecolor="black", label="true nucleus (outline)"),
                        Patch(color=(1.0, 0.15, 0.15), label="predicted object covering 2+ nuclei")],
               loc="lower center", ncol=2, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96 if title else 1))
    return fig
