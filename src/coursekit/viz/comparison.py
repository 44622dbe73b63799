"""Chapter 7 (Comparing the architectures): the comparison's pictures, table and figures.

The numbers come from ``python -m benchmarks.compare_architectures``; the
chapter reads them with :func:`coursekit.results.load_comparison` (also
importable from here, as ``viz.load_comparison``, where the chapter calls it)
and never types a measured number.
"""

from __future__ import annotations

import functools
import io
import math

import numpy as np

# The chapter calls these as viz.<name>; they live where they belong and are re-exported here.
from ..models.cost import count_multiply_adds
from ..results import CAMVID, ISBI, Comparison, ComparisonFileError, load_comparison, model_label, read_comparison

__all__ = ["Comparison", "ComparisonFileError", "class_iou_table", "comparison_table", "count_multiply_adds",
           "load_comparison", "model_label", "plot_quality_cost", "plot_training_losses", "read_comparison",
           "show_comparison"]


def show_comparison(comparison: Comparison, framework: str | None = None, models=None, seed: int | None = None):
    """One column per held-out crop; rows: the image, the truth, each model's membrane errors.

    Errors of the hard class: found (green), missed (blue), falsely claimed (red), for the
    runs of one ``seed`` (default: the file's first); each row's label gives that run's Dice
    and the spread over all seeds.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from .core import blend, legend_handles
    from .unet import _ERROR_COLOURS, error_image

    framework = framework or comparison.frameworks[0]
    seed = comparison.seeds[0] if seed is None else seed
    models = models or [r["model"] for r in comparison.rows(framework, seed)]
    images, truth = comparison.predictions["images"], comparison.predictions["truth"]
    settings = comparison.settings
    palette, classes = np.asarray(settings["palette"], np.uint8), settings["classes"]
    slices = comparison.predictions.get("slices", np.arange(len(images)))
    hard = classes.index(settings.get("hard_class", classes[0]))
    rows = 2 + len(models)
    fig, axes = plt.subplots(rows, len(images), figsize=(3.1 * len(images) + 1.2, 3.0 * rows + 0.6), squeeze=False)
    for c, (image, mask) in enumerate(zip(images, truth)):
        grey = image.astype(np.float32)[..., None] / 255
        panels = [(grey.repeat(3, -1), "image"), (blend(grey, mask, palette), "truth")]
        for model in models:
            dice = comparison.row(model, framework, seed)["membrane_dice"]
            spread = comparison.spread(model, framework, "membrane_dice")
            label = f"{model_label(model)}\n{classes[hard]} Dice {dice:.2f}"
            if len(spread.values) > 1:
                label += f"\n(seeds: {spread.low:.2f}–{spread.high:.2f})"
            panels.append((error_image(grey, mask, comparison.prediction(model, framework, seed)[c], hard), label))
        for r, (panel, label) in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c == 0:
                ax.set_ylabel(label, fontsize=11)
            if r == 0:
                ax.set_title(f"held-out slice {slices[c]}", fontsize=11)
    handles = [Patch(facecolor="none", edgecolor="grey", label=f"{classes[0]} (not tinted)")]
    handles += legend_handles(classes, palette)[1:]
    handles += [Patch(facecolor=col, label=f"{classes[hard]} {k}") for k, col in _ERROR_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=10)
    fig.suptitle(f"The same held-out crops, every model ({framework}, seed {seed}, {comparison.profile} profile);"
                 f"\nthe Dice is over all held-out slices", fontsize=12)
    fig.tight_layout(rect=(0, 0.7 / fig.get_figheight(), 1, 1 - 0.55 / fig.get_figheight()))
    return fig


class Table:
    """Rows as Markdown in a notebook (``_repr_markdown_``) and as aligned text elsewhere."""

    def __init__(self, header: list[str], rows: list[list[str]], note: str = "", font_size: str = "0.8em"):
        self.header, self.body, self.note, self.font_size = header, rows, note, font_size  # font: in HTML only

    def _repr_html_(self) -> str:
        import html

        def cell(text: str, tag: str, column: int) -> str:
            bold = text.startswith("**") and text.endswith("**")
            text = html.escape(text.strip("*") if bold else text).replace("\n", "<br>")  # a range under its mean
            align = "left" if column < 2 else "right"  # names left, numbers right
            style = f"padding: 2px 5px; text-align: {align}" + ("; white-space: nowrap" if tag == "td" else "")
            return f'<{tag} style="{style}">{f"<strong>{text}</strong>" if bold else text}</{tag}>'

        head = "".join(cell(h, "th", i) for i, h in enumerate(self.header))
        body = "".join("<tr>" + "".join(cell(c, "td", i) for i, c in enumerate(row)) + "</tr>" for row in self.body)
        note = f"<p>{html.escape(self.note)}</p>" if self.note else ""
        return (f'<table style="font-size: {self.font_size}; border-collapse: collapse"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>{note}")

    def _repr_markdown_(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(cell.replace("\n", " ") for cell in row) + " |" for row in self.body]
        return "\n".join(lines) + (f"\n\n{self.note}" if self.note else "")

    def __str__(self) -> str:
        widths = [max(len(str(c)) for c in column) for column in zip(self.header, *self.body)]
        out = io.StringIO()
        for row in [self.header, *self.body]:
            out.write("  ".join(str(c).replace("**", "").replace("\n", " ").rjust(w) for c, w in zip(row, widths))
                      + "\n")
        return out.getvalue() + self.note

    __repr__ = __str__


def _number(value, digits: int) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


# what a table shows per dataset of the comparison: the scores (column, key), then whether it has every cost; the
# CamVid table keeps only the time per epoch, so that its four scores fit the page (the ISBI table has the rest)
TABLE_SCORES = {ISBI: [("membrane Dice", "membrane_dice"), ("mIoU", "mean_iou"), ("boundary F1", "boundary_f1")],
                CAMVID: [("global accuracy", "pixel_accuracy"), ("class average accuracy", "mean_class_accuracy"),
                         ("mIoU", "mean_iou"), ("boundary F1", "boundary_f1")]}
ALL_COSTS = {ISBI: True, CAMVID: False}


def comparison_table(comparison: Comparison, mark: str | None = None) -> Table:
    """One row per model and framework, then the baselines; rows of framework ``mark`` are in bold.

    Scores (:data:`TABLE_SCORES` of the comparison's dataset): the mean over the file's seeds with the
    lowest and highest run in brackets; costs (time per epoch and, on ISBI, parameters, time per image and
    peak memory): the median over the seeds.
    """
    scores, all_costs = TABLE_SCORES[comparison.dataset], ALL_COSTS[comparison.dataset]
    header = ["model", "framework", *(["parameters"] if all_costs else []), "s / epoch",
              *(["ms / image", "peak MiB"] if all_costs else []), *(c for c, _ in scores)]
    body = []
    for model in comparison.models:
        for framework in comparison.frameworks:
            try:
                typical = comparison.summary(model, framework)  # the costs' medians over the seeds
            except KeyError:
                continue
            per_image = typical["inference_seconds_per_image"]
            spread = functools.partial(comparison.spread, model, framework)
            cells = [model_label(model), framework, *([f"{typical['params']:,}"] if all_costs else []),
                     _number(typical["seconds_per_epoch"], 1),
                     *([_number(per_image and 1000 * per_image, 0), _number(typical["peak_memory_mb"], 0)]
                       if all_costs else []),
                     *(spread(key).format(".3f").replace(" (", "\n(") for _, key in scores)]
            body.append([f"**{c}**" for c in cells] if framework == mark else cells)
    for name, b in comparison.baselines.items():
        body.append([name, "–", *(["0"] if all_costs else []), "–", *(["–", "–"] if all_costs else []),
                     *(_number(b[key], 3) for _, key in scores)])
    kinds = sorted({r["peak_memory_kind"] for r in comparison.rows()})
    seeds = comparison.seeds
    note = (f"Scores: mean over seeds {', '.join(map(str, seeds))}, lowest and highest run in brackets; "
            f"costs: median over the seeds. " if len(seeds) > 1 else f"One run, seed {seeds[0]}. ")
    if all_costs:
        note += (f"Peak memory: {', '.join(kinds)}. Times: median training epoch after the first; one held-out slice "
                 "at a time. ")
    else:
        note += "Time: median training epoch after the first. "
    note += f"Bold: {mark}, the framework this run uses." if mark else ""
    for r in comparison.failed():
        note += f" {model_label(r['model'])} ({r['framework']}, seed {r['seed']}) did not finish: {r['status']}."
    # four columns of ranges (CamVid's) fit the page only in a smaller font
    return Table(header, body, note.rstrip(), font_size="0.8em" if len(scores) < 4 else "0.72em")


def class_iou_table(comparison: Comparison, framework: str) -> Table:
    """Each class's IoU, one row a class and one column a model: the mean over the seeds of ``framework``'s runs
    (chapter 7, on CamVid: the mIoU is the mean of this table's columns)."""
    classes = comparison.settings["classes"]
    means = {m: np.mean([r["iou_per_class"] for r in comparison.runs(m, framework)], axis=0)
             for m in comparison.models if any(r["model"] == m for r in comparison.rows(framework))}
    body = [[name, *(_number(values[c], 3) for values in means.values())] for c, name in enumerate(classes)]
    seeds = comparison.seeds
    return Table(["class", *(model_label(m) for m in means)], body,
                 f"IoU on the test frames, {framework}: mean over seeds {', '.join(map(str, seeds))}.")


def plot_quality_cost(comparison: Comparison, framework: str | None = None, quality: str = "membrane_dice"):
    """Membrane Dice against three costs (time per image, time per epoch, parameters), baselines as lines.

    One marker per model and framework at the mean quality and median cost over the seeds,
    with a bar from the lowest to the highest seed's quality.  Filled markers: ``framework``'s
    (all frameworks are drawn; the others hollow).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    framework = framework or comparison.frameworks[0]
    costs = [("inference_seconds_per_image", "inference per held-out slice (ms)", 1000.0),
             ("seconds_per_epoch", "training time per epoch (s)", 1.0), ("params", "parameters (millions)", 1e-6)]
    markers = {"torch": "o", "keras": "s"}
    colours = plt.cm.tab10(np.arange(10))
    fig, grid = plt.subplots(2, 2, figsize=(10, 8.6))
    axes = [grid[0, 0], grid[0, 1], grid[1, 0]]
    for ax, (key, label, scale) in zip(axes, costs):
        for i, model in enumerate(comparison.models):
            for fw in comparison.frameworks:
                try:
                    score = comparison.spread(model, fw, quality)
                except KeyError:
                    continue
                cost = comparison.summary(model, fw)[key] * scale  # the median over the seeds
                filled = fw == framework
                ax.errorbar(cost, score.mean, yerr=[[score.mean - score.low], [score.high - score.mean]],
                            color=colours[i % 10], lw=1, capsize=3, zorder=2)
                ax.scatter(cost, score.mean, s=70, marker=markers.get(fw, "^"),
                           color=colours[i % 10] if filled else "white", edgecolors=colours[i % 10], linewidths=1.5,
                           label=f"{model_label(model)} ({fw})", zorder=3)
                if filled:
                    ax.annotate(model_label(model), (cost, score.mean), textcoords="offset points",
                                xytext=(6, 4), fontsize=8)
        for (name, b), style in zip(comparison.baselines.items(), (":", "--", "-.")):
            ax.axhline(b[quality], color="grey", linestyle=style, lw=1, label=f"baseline: {name}")
        ax.set_xscale("log")
        for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
            axis(FuncFormatter(lambda value, _: f"{value:g}"))  # 20, 30, 50 rather than 2×10¹
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel(label + ", log scale")
        ax.grid(alpha=0.3, which="both")
    ylabel = f"held-out {quality.replace('_', ' ').replace('dice', 'Dice').replace('mean iou', 'mIoU')}"
    for ax in axes:
        ax.set_ylabel(ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    grid[1, 1].set_axis_off()
    grid[1, 1].legend(handles, labels, loc="center", frameon=False, fontsize=10,
                      title=f"filled: {framework}; hollow: the other framework")
    seeds = comparison.seeds
    over = f"; mean and range over seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else ""
    fig.suptitle(f"Quality against cost ({comparison.profile} profile{over}): up and to the left is better",
                 fontsize=12)
    fig.tight_layout()
    return fig


def plot_training_losses(comparison: Comparison, highlight=()):
    """The training loss of every run, epoch by epoch: one panel per framework, one colour per model,
    one line per seed.

    ``highlight``: ``(model, framework, seed)`` runs drawn thick, e.g. the runs that did not learn.
    """
    import matplotlib.pyplot as plt

    highlight = {tuple(run) for run in highlight}
    colours = plt.cm.tab10(np.arange(10))
    frameworks = comparison.frameworks
    fig, axes = plt.subplots(1, len(frameworks), figsize=(5.5 * len(frameworks), 3.8), sharey=True, squeeze=False)
    for ax, framework in zip(axes[0], frameworks):
        for i, model in enumerate(comparison.models):
            try:
                runs = comparison.runs(model, framework)
            except KeyError:
                continue
            stuck = any((model, framework, r["seed"]) in highlight for r in runs)
            for n, r in enumerate(runs):
                thick = (model, framework, r["seed"]) in highlight
                label = (model_label(model) + (" (thick: below a baseline)" if stuck else "")) if n == 0 else None
                ax.plot(np.arange(1, len(r["loss"]) + 1), r["loss"], marker="o", ms=2.5, lw=3 if thick else 1.1,
                        color=colours[i % 10], alpha=1.0 if thick or not highlight else 0.8, label=label)
        ax.set_title(f"{framework}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(f"training loss ({comparison.settings['loss']})")
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    seeds = comparison.seeds
    fig.suptitle(f"Training loss of every run (seeds {', '.join(map(str, seeds))}: one line each), same data, "
                 "same schedule", fontsize=10)
    fig.tight_layout()
    return fig
