"""Figures for chapter 2 (FCN): receptive fields, transposed convolution, checkerboards, coarse outlines.

Everything here is NumPy and Matplotlib: the transposed convolutions drawn are
computed by :func:`transposed_conv2d`, a plain loop that scatters each input
pixel's copy of the kernel onto the output, so the pictures need neither
framework.
"""

from __future__ import annotations

import numpy as np

__all__ = ["compare_outlines", "plot_checkerboard", "plot_receptive_field", "plot_transposed_conv",
           "transposed_conv2d"]


def transposed_conv2d(x: np.ndarray, kernel: np.ndarray, stride: int, padding: int = 0) -> np.ndarray:
    """One channel's transposed convolution, written as the scatter it is.

    Input pixel ``(i, j)`` adds ``x[i, j] * kernel`` to the output window whose
    top-left corner is ``(i * stride, j * stride)``; ``padding`` then removes that
    many rows and columns on every side, as PyTorch's ``ConvTranspose2d`` does.
    The output has ``(n - 1) * stride - 2 * padding + k`` rows for ``n`` input rows.
    """
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    (h, w), (kh, kw) = x.shape, kernel.shape
    out = np.zeros(((h - 1) * stride + kh, (w - 1) * stride + kw))
    for i in range(h):
        for j in range(w):
            out[i * stride:i * stride + kh, j * stride:j * stride + kw] += x[i, j] * kernel
    if padding:
        out = out[padding:-padding, padding:-padding]
    return out


def plot_receptive_field(rows, image=None, show=("pool3", "pool4", "pool5"), centre=None):
    """Receptive field and output stride layer by layer, and what one unit sees of an image.

    ``rows`` are ``(name, jump, receptive_field)`` per layer, input first.  The
    left panel draws both on a log scale; the right one (when ``image`` is given)
    draws the receptive field of one unit of each layer in ``show`` as a square,
    centred at ``centre`` (default: the image's centre).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    names = [r[0] for r in rows]
    jumps = np.array([r[1] for r in rows], float)
    fields = np.array([r[2] for r in rows], float)
    panels = 2 if image is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(7.2 + 4.2 * (panels - 1), 3.8), squeeze=False,
                             gridspec_kw={"width_ratios": [1.7, 1][:panels]})
    ax = axes[0, 0]
    positions = np.arange(len(rows))
    ax.plot(positions, fields, marker="o", color="#4363d8", label="receptive field (pixels)")
    ax.step(positions, jumps, where="post", color="#e6194b", label="output stride (pixels per unit)")
    colours = plt.get_cmap("viridis")(np.linspace(0.15, 0.85, len(show)))
    for name, colour in zip(show, colours):
        if name in names:
            k = names.index(name)
            ax.axvline(k, color=colour, ls=":", lw=1)
            ax.annotate(f"{int(fields[k])}", (k, fields[k]), textcoords="offset points", xytext=(-4, 6),
                        ha="right", fontsize=8, color=colour)
    ax.set_yscale("log", base=2)
    ax.set_xticks(positions, names, rotation=90, fontsize=7)
    ax.set_ylabel("pixels of the input")
    ax.set_title("growth through the layers")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    if image is not None:
        ax = axes[0, 1]
        image = np.asarray(image)
        height, width = image.shape[:2]
        cy, cx = (height / 2, width / 2) if centre is None else centre
        ax.imshow(image, extent=(0, width, height, 0))
        for name, colour in zip(show, colours):
            if name not in names:
                continue
            size = fields[names.index(name)]
            ax.add_patch(Rectangle((cx - size / 2, cy - size / 2), size, size, fill=False, lw=2, color=colour,
                                   label=f"{name}: {int(size)}×{int(size)}"))
        margin = max(fields[names.index(n)] for n in show if n in names) / 2
        ax.set_xlim(min(0, cx - margin) - 4, max(width, cx + margin) + 4)
        ax.set_ylim(max(height, cy + margin) + 4, min(0, cy - margin) - 4)
        ax.set_title("what one unit at the centre sees", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=len(show), fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_transposed_conv(x, kernel, stride: int, padding: int = 0):
    """The transposed convolution of a small 2-D input drawn as a scatter: each input pixel's copy of the kernel.

    Left: the input, one colour per pixel.  Middle: every input pixel's footprint
    ``x[i, j] * kernel`` on the output grid, outlined in that pixel's colour,
    with the number of footprints that overlap each output pixel.  Right: the
    output, their sum, after ``padding`` is cropped (dashed frame).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    x, kernel = np.asarray(x, float), np.asarray(kernel, float)
    (h, w), k = x.shape, kernel.shape[0]
    full = transposed_conv2d(x, kernel, stride)
    coverage = transposed_conv2d(np.ones_like(x), np.ones_like(kernel), stride)
    out = full[padding:full.shape[0] - padding, padding:full.shape[1] - padding]
    colours = plt.get_cmap("tab10")(np.arange(h * w) % 10)
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 4.0), gridspec_kw={"width_ratios": [0.7, 1.2, 1.2]})
    ax = axes[0]
    ax.imshow(np.ones((h, w, 3)), extent=(0, w, h, 0))
    for n, (i, j) in enumerate(np.ndindex(h, w)):
        ax.add_patch(Rectangle((j, i), 1, 1, color=colours[n], alpha=0.55))
        ax.text(j + 0.5, i + 0.5, f"{x[i, j]:g}", ha="center", va="center", fontsize=10)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_title(f"input {h}×{w}")
    ax.set_xticks([])
    ax.set_yticks([])
    ax = axes[1]
    ax.imshow(coverage, cmap="Greys", vmin=0, vmax=coverage.max() * 1.6, extent=(0, full.shape[1], full.shape[0], 0))
    for n, (i, j) in enumerate(np.ndindex(h, w)):
        shift = 0.08 * (n % 3 - 1)
        ax.add_patch(Rectangle((j * stride + 0.1 + shift, i * stride + 0.1 + shift), k - 0.2, k - 0.2, fill=False,
                               lw=2, color=colours[n]))
    for (i, j), value in np.ndenumerate(coverage):
        ax.text(j + 0.5, i + 0.5, f"{int(value)}", ha="center", va="center", fontsize=7, color="#333333")
    if padding:
        ax.add_patch(Rectangle((padding, padding), full.shape[1] - 2 * padding, full.shape[0] - 2 * padding,
                               fill=False, ls="--", lw=1.5, color="black"))
    ax.set_title(f"each input pixel scatters a {k}×{k} kernel, stride {stride}\n(numbers: how many copies overlap)",
                 fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax = axes[2]
    shown = ax.imshow(out, cmap="viridis")
    for (i, j), value in np.ndenumerate(out):
        ax.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=6,
                color="white" if value < out.max() * 0.6 else "black")
    ax.set_title(f"output {out.shape[0]}×{out.shape[1]}: the sum" + (f", {padding} cropped per side" if padding
                                                                      else ""), fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def plot_checkerboard(cases, size: int = 6):
    """Constant input, transposed convolution: where kernel copies overlap unevenly, a checkerboard appears.

    ``cases`` are ``(title, kernel, stride, padding)``; each is applied to a
    ``size×size`` input of ones and its output drawn with its own colour scale,
    the ratio of its largest to its smallest interior value in the title.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(cases), figsize=(3.4 * len(cases), 3.6), squeeze=False)
    for ax, (title, kernel, stride, padding) in zip(axes[0], cases):
        kernel = np.asarray(kernel, float)
        out = transposed_conv2d(np.ones((size, size)), kernel, stride, padding)
        margin = kernel.shape[0]  # the border is uneven for every kernel: judge the interior
        interior = out[margin:-margin, margin:-margin]
        spread = interior.max() / max(interior.min(), 1e-12)
        ax.imshow(out, cmap="magma", vmin=0, vmax=out.max())
        ax.add_patch(plt.Rectangle((margin - 0.5, margin - 0.5), interior.shape[1], interior.shape[0], fill=False,
                                   ls="--", lw=1, color="white"))
        ax.set_title(f"{title}\ninterior max/min = {spread:.2f}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"transposed convolution of a constant {size}×{size} input (dashed: interior)", fontsize=11)
    fig.tight_layout()
    return fig


def _outline(ax, mask, colour="white"):
    """Draw the outline of every non-background region of ``mask`` (pixel edges, not smoothed)."""
    mask = np.asarray(mask)
    height, width = mask.shape
    for c in np.unique(mask):
        if c == 0:
            continue
        region = np.pad((mask == c).astype(float), 1)  # closes outlines that touch the border
        ax.contour(np.arange(-1, width + 1), np.arange(-1, height + 1), region, levels=[0.5],
                   colors=[colour], linewidths=1.2)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)


def compare_outlines(images, masks, predictions: dict, colours, classes=None, max_rows: int = 3, scores=None,
                     models_down: bool = False):
    """Image, truth, and each model's prediction with the true outlines drawn over it.

    ``predictions`` maps a model's name to its ``N×H×W`` masks.  Masks are drawn
    in the palette's colours; the white line on every prediction is the true
    outline, so a blob that spills over a corner, or stops short of it, shows at
    once.  ``scores`` (same keys) maps to one number per image, written in the
    corner of its panel (e.g. the image's boundary F1).  One row per image, or with
    ``models_down`` one column per image and a row per panel (for many models:
    chapter 7 shows five).
    """
    import matplotlib.pyplot as plt

    from .core import colorize_mask, legend_handles

    names = list(predictions)
    rows = min(len(images), max_rows)
    columns = 2 + len(names)
    if models_down:
        fig, grid = plt.subplots(columns, rows, figsize=(2.9 * rows + 0.9, 2.35 * columns + 0.3), squeeze=False)
        axes = grid.T  # axes[image, panel], as in the other layout
    else:
        fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.45 * rows + 0.3), squeeze=False)
    for r in range(rows):
        panels = [("image", None), ("truth", masks[r])] + [(n, predictions[n][r]) for n in names]
        for c, (name, mask) in enumerate(panels):
            ax = axes[r, c]
            if mask is None:
                ax.imshow(np.clip(images[r], 0, 1), interpolation="nearest")
            else:
                ax.imshow(colorize_mask(np.asarray(mask), colours), interpolation="nearest")
                if c > 1:
                    _outline(ax, masks[r])
                    if scores is not None:
                        ax.text(0.03, 0.04, f"BF1 {scores[name][r]:.2f}", transform=ax.transAxes, fontsize=9,
                                color="white", bbox={"facecolor": "black", "alpha": 0.6, "pad": 2})
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_ylabel(name, fontsize=11) if models_down else ax.set_title(name)
    if classes is not None:
        handles = legend_handles(classes, colours)
        handles.append(plt.Line2D([], [], color="white", lw=1.5, label="true outline"))
        columns = min(len(handles), 4 if models_down else 6)  # PASCAL VOC's 21 classes take several rows
        legend = fig.legend(handles=handles, loc="lower center", ncol=columns, frameon=True, fontsize=9)
        legend.get_frame().set_facecolor("#bbbbbb")
        legend_rows = -(-len(handles) // columns)
        fig.tight_layout(rect=(0, (0.15 + 0.25 * legend_rows) / fig.get_figheight(), 1, 1))
    else:
        fig.tight_layout()
    return fig
