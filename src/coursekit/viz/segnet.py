"""Figures for chapter 3 (SegNet): unpooling with indices, what a decoder keeps, and two decoders side by side.

The unpooling diagram computes its own 2×2 max-pooling and unpooling in NumPy
(:func:`pool_with_indices`, :func:`unpool`), with the index convention of
PyTorch's ``MaxPool2d(return_indices=True)``: the position of each maximum as
a flat index ``row * width + column`` into its input plane.
"""

from __future__ import annotations

import numpy as np

__all__ = ["compare_decoders", "plot_decoder_memory", "plot_unpooling"]

# a small feature map whose maxima sit at different corners of their windows
EXAMPLE_FEATURE_MAP = np.array([[1, 6, 2, 1],
                                [3, 2, 0, 4],
                                [5, 1, 7, 3],
                                [2, 0, 1, 8]], np.float64)


def pool_with_indices(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2×2 max-pooling of one ``H×W`` plane (even sizes): the maxima and their flat indices into ``x``."""
    x = np.asarray(x)
    height, width = x.shape
    if height % 2 or width % 2:
        raise ValueError(f"pool_with_indices takes even sizes, got {height}×{width}")
    windows = x.reshape(height // 2, 2, width // 2, 2).transpose(0, 2, 1, 3).reshape(height // 2, width // 2, 4)
    inside = windows.argmax(-1)  # 0..3, row-major inside the window; the first one wins a tie, as in torch
    rows = 2 * np.arange(height // 2)[:, None] + inside // 2
    columns = 2 * np.arange(width // 2)[None, :] + inside % 2
    return windows.max(-1), rows * width + columns


def unpool(values: np.ndarray, indices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Put each value at its flat index in a zero plane of ``shape``: max-unpooling."""
    out = np.zeros(shape, np.asarray(values).dtype)
    out.flat[np.asarray(indices).ravel()] = np.asarray(values).ravel()
    return out


def _draw_grid(ax, values, title, *, vmax, highlight=None, faded=None, labels=None, window=True):
    """Numbers in a grid of cells coloured by value; ``highlight`` cells get a red frame, ``faded`` ones grey."""
    from matplotlib.patches import Rectangle

    values = np.asarray(values)
    height, width = values.shape
    ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax * 1.4)
    for r in range(height):
        for c in range(width):
            text = labels[r][c] if labels is not None else f"{values[r, c]:g}"
            grey = faded is not None and faded[r, c]
            ax.text(c, r, text, ha="center", va="center", fontsize=12,
                    color="#aaaaaa" if grey else "black", fontweight="normal" if grey else "bold")
            if highlight is not None and highlight[r, c]:
                ax.add_patch(Rectangle((c - 0.45, r - 0.45), 0.9, 0.9, fill=False, lw=2.2, color="#e6194b"))
    ax.set_xticks(np.arange(-0.5, width), minor=True)
    ax.set_yticks(np.arange(-0.5, height), minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    if window:  # the 2×2 pooling windows
        for k in range(0, width + 1, 2):
            ax.axvline(k - 0.5, color="black", lw=1.6)
        for k in range(0, height + 1, 2):
            ax.axhline(k - 0.5, color="black", lw=1.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=10)


def plot_unpooling(feature_map=None):
    """Max-pooling with indices, then unpooling with those indices against nearest up-sampling.

    Five panels: the feature map with each 2×2 window's maximum framed; the
    pooled maxima; the indices pooling remembers (flat, ``row * width +
    column``); unpooling, which puts each maximum back where it was and zeros
    elsewhere; nearest up-sampling, which copies it into all four cells.
    ``feature_map`` is a small ``H×W`` array with even sides (default: a 4×4 example).
    """
    import matplotlib.pyplot as plt

    x = EXAMPLE_FEATURE_MAP if feature_map is None else np.asarray(feature_map, np.float64)
    values, indices = pool_with_indices(x)
    unpooled = unpool(values, indices, x.shape)
    nearest = np.kron(values, np.ones((2, 2)))
    is_max = unpooled != 0
    is_max.flat[indices.ravel()] = True  # a maximum of 0 is still where the value goes
    vmax = float(np.abs(x).max()) or 1.0
    width = x.shape[1]
    index_labels = [[f"{i}\n({i // width},{i % width})" for i in row] for row in indices]

    # narrow axes between the panels hold the arrows
    fig, axes = plt.subplots(1, 8, figsize=(15, 3.6),
                             gridspec_kw={"width_ratios": [2, 0.4, 1, 1, 0.4, 2, 0.4, 2]})
    grids = axes[[0, 2, 3, 5, 7]]
    _draw_grid(grids[0], x, "1. feature map, 2×2 windows;\nthe maximum of each is framed", vmax=vmax,
               highlight=is_max)
    _draw_grid(grids[1], values, "2. max-pooled\nvalues", vmax=vmax, window=False)
    _draw_grid(grids[2], np.zeros_like(values), "3. pooling indices:\nflat (row, column)", vmax=vmax,
               labels=index_labels, window=False)
    _draw_grid(grids[3], unpooled, "4. unpooling with the indices:\nmaxima back in place, zeros elsewhere",
               vmax=vmax, highlight=is_max, faded=~is_max)
    _draw_grid(grids[4], nearest, "5. nearest up-sampling:\nevery cell gets the maximum", vmax=vmax)
    for ax, text in zip(axes[[1, 4, 6]], ("pool\n→", "unpool\n→", "versus")):
        ax.set_axis_off()
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="#555555", transform=ax.transAxes)
    fig.suptitle("SegNet's decoder unpools with the encoder's max-pooling indices; "
                 "plain up-sampling does not know where the maxima were", fontsize=11)
    fig.subplots_adjust(top=0.74, bottom=0.04, left=0.02, right=0.98, wspace=0.1)
    return fig


def plot_decoder_memory(rows, title="What each model keeps for its decoder"):
    """Horizontal bars of the bytes a model must keep from its encoder until its decoder uses them.

    ``rows`` is a list of ``(label, bytes)`` pairs, drawn top to bottom on a
    logarithmic axis in MiB (the sizes span orders of magnitude), each bar
    annotated with its size.
    """
    import matplotlib.pyplot as plt

    labels = [label for label, _ in rows]
    mib = np.array([size for _, size in rows], np.float64) / 2**20
    if (mib <= 0).any():
        raise ValueError("every row needs a positive number of bytes")
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * len(rows) + 1.2))
    positions = np.arange(len(rows))[::-1]
    colours = plt.get_cmap("tab10")(np.arange(len(rows)) % 10)
    ax.barh(positions, mib, color=colours, height=0.6)
    for y, value in zip(positions, mib):
        text = f"{value:.2f} MiB" if value >= 0.1 else f"{value * 1024:.0f} KiB"
        ax.text(value * 1.08, y, text, va="center", fontsize=9)
    ax.set_xscale("log")
    ax.set_xlim(mib.min() / 3, mib.max() * 4)
    ax.set_yticks(positions, labels, fontsize=9)
    ax.set_xlabel("MiB (log scale)")
    ax.set_title(title, fontsize=11)
    ax.grid(axis="x", alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def _label_edges(mask: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour has another label: the outlines of a label image, one pixel wide."""
    edges = np.zeros(mask.shape, bool)
    edges[:-1] |= mask[:-1] != mask[1:]
    edges[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    return edges


def compare_decoders(images, masks, predictions: dict, colours, classes, max_rows: int = 3):
    """Image, truth, and each model's prediction with the true outlines drawn over it; boundary F1 in each title.

    ``predictions`` maps a model's name to its ``N×H×W`` label images, drawn in
    the palette's colours (background black).  The white line on every
    prediction is the *true* outline, so a shape that is rounded off, spills
    over or stops short shows at once, and a wrong class shows as a wrong colour.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from ..metrics import boundary_f1_per_class
    from .core import colorize_mask, legend_handles

    rows = min(len(images), max_rows)
    columns = 2 + len(predictions)
    fig, axes = plt.subplots(rows, columns, figsize=(2.5 * columns, 2.6 * rows + 0.4), squeeze=False)
    for r in range(rows):
        outline = np.zeros((*masks[r].shape, 4))
        outline[_label_edges(np.asarray(masks[r]))] = 1.0  # opaque white where the true outline runs
        axes[r, 0].imshow(np.clip(images[r], 0, 1), interpolation="nearest")
        axes[r, 1].imshow(colorize_mask(masks[r], colours), interpolation="nearest")
        for c, (name, predicted) in enumerate(predictions.items(), start=2):
            axes[r, c].imshow(colorize_mask(predicted[r], colours), interpolation="nearest")
            axes[r, c].imshow(outline, interpolation="nearest")
            score = np.nanmean(boundary_f1_per_class(masks[r], predicted[r], len(classes)))
            axes[r, c].set_title(f"{name}\nboundary F1 {score:.2f}" if r == 0 else f"boundary F1 {score:.2f}",
                                 fontsize=9)
        if r == 0:
            axes[r, 0].set_title("image", fontsize=9)
            axes[r, 1].set_title("truth", fontsize=9)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    handles = legend_handles(classes, colours) + [Line2D([], [], color="white", lw=2, label="true outline")]
    legend = fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9)
    legend.get_frame().set_facecolor("#bbbbbb")  # so that the white line shows
    fig.tight_layout(rect=(0, 0.45 / fig.get_figheight(), 1, 1))
    return fig
