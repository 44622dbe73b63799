"""Pictures of images, masks and training, the same in every chapter.

Taught in chapter 1 (Looking at masks): a mask is a label image; to see it we
map each class index to a colour (a *palette*), draw it over the image with a
legend, and show image, truth and prediction side by side.
"""

from __future__ import annotations

import numpy as np

from ..colours import palette  # re-exported: chapters call viz.palette

__all__ = ["add_legend", "blend", "colorize_mask", "legend_handles",
           "overlay_mask", "palette", "plot_confusion_matrix", "plot_history", "plot_seed_spread", "show_grid",
           "show_seed_spread"]

# Where a prediction of one class is right and wrong: found (green), missed (blue), falsely claimed (red).
ERROR_COLOURS = {"found": (0.18, 0.8, 0.44), "missed": (0.2, 0.5, 1.0), "false alarm": (1.0, 0.25, 0.2)}


def colorize_mask(mask: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Turn an ``H×W`` label image into an ``H×W×3`` uint8 colour image."""
    mask = np.asarray(mask)
    if mask.min() < 0 or mask.max() >= len(colours):
        raise ValueError(f"mask holds labels {mask.min()}..{mask.max()} but the palette has "
                         f"{len(colours)} colours")
    return np.asarray(colours, np.uint8)[mask]


def _as_float_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.max() > 1.0:
        image = image / 255.0
    return np.clip(image, 0, 1)


def blend(image: np.ndarray, mask: np.ndarray, colours: np.ndarray, alpha: float = 0.5,
          skip_background: bool = True, ignore_index: int | None = None) -> np.ndarray:
    """The image with each labelled pixel tinted by its class colour (float RGB).

    Class 0 is the background in most of the course's datasets and stays
    untinted (``skip_background=False`` tints it too).  Where the data has an
    ``ignore_index`` (CamVid's void), pass it: then every class is tinted, class
    0 as well (CamVid's sky), and only the ignored pixels are left as they are.
    """
    image = _as_float_rgb(image)
    mask = np.asarray(mask)
    coloured = mask if ignore_index is None else np.where(mask == ignore_index, 0, mask)  # void: any colour, unshown
    tint = colorize_mask(coloured, colours).astype(np.float32) / 255.0
    weight = np.full(mask.shape, alpha, np.float32)
    if ignore_index is not None:
        weight[mask == ignore_index] = 0.0
    elif skip_background:
        weight[mask == 0] = 0.0
    return image * (1 - weight[..., None]) + tint * weight[..., None]


def legend_handles(classes, colours) -> list:
    """One coloured patch per class name, for ``ax.legend`` or ``fig.legend``."""
    from matplotlib.patches import Patch

    return [Patch(facecolor=np.asarray(c) / 255.0, edgecolor="grey", label=name)
            for name, c in zip(classes, colours)]


def add_legend(ax, classes, colours, **kwargs) -> None:
    """A legend naming each class's colour, to the right of ``ax``."""
    kwargs = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "frameon": False, **kwargs}
    ax.legend(handles=legend_handles(classes, colours), **kwargs)


def overlay_mask(image, mask, colours, classes=None, alpha: float = 0.5, ax=None, title=None,
                 ignore_index: int | None = None):
    """Draw ``mask`` over ``image`` in the palette's colours, with a legend if ``classes`` is given.

    The background (class 0) stays untinted, unless the data has an ``ignore_index``: then class 0 is a
    class like the others (CamVid's sky) and only the ignored pixels stay untinted (see :func:`blend`).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(blend(image, np.asarray(mask), colours, alpha, ignore_index=ignore_index))
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if classes is not None:
        add_legend(ax, classes, colours)
    return ax


def show_grid(images, masks=None, predictions=None, colours=None, classes=None, max_rows: int = 4,
              overlay: bool = False):
    """One row per sample: image, true mask, predicted mask (when given).

    With ``overlay=True`` the masks are drawn over the image instead of on their own.
    """
    import matplotlib.pyplot as plt

    columns = [("image", None)]
    if masks is not None:
        columns.append(("truth", masks))
    if predictions is not None:
        columns.append(("prediction", predictions))
    if colours is None and len(columns) > 1:
        top = max(int(np.max(m)) for _, m in columns[1:])
        colours = palette(top + 1)
    rows = min(len(images), max_rows)
    fig, axes = plt.subplots(rows, len(columns), figsize=(2.6 * len(columns), 2.6 * rows), squeeze=False)
    for r in range(rows):
        for c, (name, stack) in enumerate(columns):
            ax = axes[r, c]
            if stack is None:
                ax.imshow(_as_float_rgb(images[r]))
            elif overlay:
                ax.imshow(blend(images[r], np.asarray(stack[r]), colours))
            else:
                ax.imshow(colorize_mask(np.asarray(stack[r]), colours), interpolation="nearest")
            ax.set_axis_off()
            if r == 0:
                ax.set_title(name)
    if classes is None:
        fig.tight_layout()
        return fig
    legend_rows = -(-len(classes) // 6)  # at most six classes a row: CamVid's twelve take two
    fig.legend(handles=legend_handles(classes, colours), loc="lower center", ncol=min(len(classes), 6),
               frameon=False)
    fig.tight_layout(rect=(0, 0.3 * (legend_rows + 0.5) / fig.get_figheight(), 1, 1))  # keep room for the legend
    return fig


def plot_history(history, metrics=None):
    """Training curves: the loss, and each metric, for training and validation.

    ``history`` maps names such as ``loss`` and ``val_loss`` to per-epoch lists
    (the format :func:`coursekit.train.fit` returns for both frameworks).
    """
    import matplotlib.pyplot as plt

    history = dict(history)
    if metrics is None:  # "loss" and "val_loss" share a panel; "val_mean_iou" alone gets "mean_iou"
        metrics = list(dict.fromkeys(k.removeprefix("val_") for k in history))
    names = list(metrics)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            if key in history:
                ax.plot(np.arange(1, len(history[key]) + 1), history[key], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm, classes, normalize: bool = True, ax=None):
    """The confusion matrix as a heat map; rows are true classes, columns predictions.

    With ``normalize=True`` each row sums to one, so the diagonal is each class's recall.
    """
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, np.float64)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.9 * len(classes), 0.8 + 0.9 * len(classes)))
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for i in range(len(classes)):
        for j in range(len(classes)):
            text = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center",
                    color="white" if shown[i, j] > 0.5 * shown.max() else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return ax


def plot_seed_spread(sweep, chapter: str, panels: dict, this_run: dict | None = None):
    """A slope chart per panel: each run of the claims sweep is a line joining its models' scores.

    ``panels`` maps a title to ``{label: value name}``, the models in the
    order they are drawn, e.g. ``{"mIoU": {"SegNet": "segnet_mean_iou", ...}}``.
    Lines are coloured by framework.  ``this_run`` maps value names to the
    reader's own scores, drawn as a black dashed line: the reader's run is
    compared with the six, whatever its seed, threads or processor.
    Lines that all fall from left to right are a result that held in every
    run; lines that cross are one that did not.  Taught in chapter 3.
    """
    import matplotlib.pyplot as plt

    runs = sweep.runs(chapter)
    colours = {"torch": "#d62728", "keras": "#1f77b4"}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (title, models) in zip(axes[0], panels.items()):
        columns = [sweep.values(chapter, name) for name in models.values()]
        for index, run in enumerate(runs):
            points = [column[index] for column in columns]
            if any(point is None for point in points):
                continue
            ax.plot(range(len(points)), points, marker="o", color=colours.get(run["framework"], "grey"),
                    lw=1.2, alpha=0.7, label=f"{run['framework']}, seed {run['seed']}")
        if this_run is not None:
            ax.plot(range(len(models)), [float(this_run[name]) for name in models.values()], marker="s",
                    color="black", ls="--", lw=2.5, label="this run")
        ax.set_xticks(range(len(models)), list(models))
        ax.set_xlim(-0.3, len(models) - 0.7)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


def show_seed_spread(chapter: str, panels: dict, claims=(), this_run: dict | None = None):
    """Load the claims sweep, draw :func:`plot_seed_spread` and print how often each of ``claims`` held.

    Without a sweep of ``chapter`` (offline, or a chapter not swept yet) it
    prints why and draws nothing, so that the chapter still runs.  Returns the
    :class:`coursekit.results.Sweep`, or None.
    """
    import matplotlib.pyplot as plt

    from .. import results

    try:
        sweep = results.load_claims()
        sweep.chapter(chapter)
    except (FileNotFoundError, KeyError, results.SweepFileError) as missing:
        print(f"no spread to show: {str(missing).strip(chr(34))}")
        return None
    print(sweep.describe())
    plot_seed_spread(sweep, chapter, panels, this_run)
    plt.show()
    for text in claims:
        try:
            claim = sweep.claim(chapter, text)
        except KeyError:
            print(f"{text}:\n    not in this sweep (made before the chapter said it); rerun make claims")
            continue
        span = ("no run recorded it" if claim["min"] is None
                else f"difference from {claim['min']:+.3f} to {claim['max']:+.3f}")
        # two lines, so that the book's narrow code column shows all of it
        print(f"{text}:\n    held in {claim['held']} of {claim['runs']} runs; {span}")
    return sweep
