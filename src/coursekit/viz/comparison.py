"""Chapter 6 (Comparing the architectures): the comparison's pictures, table and figures.

The numbers come from ``python -m benchmarks.compare_architectures``; the
chapter reads them with :func:`coursekit.results.load_comparison` (also
importable from here, as ``viz.load_comparison``, where the chapter calls it)
and never types a measured number.
"""

from __future__ import annotations

import io
import math

import numpy as np

# The chapter calls these as viz.<name>; they live where they belong and are re-exported here.
from ..models.cost import count_multiply_adds
from ..results import Comparison, ComparisonFileError, load_comparison, model_label, read_comparison

__all__ = ["Comparison", "ComparisonFileError", "comparison_table", "count_multiply_adds", "load_comparison",
           "model_label", "plot_quality_cost", "plot_training_losses", "read_comparison", "show_comparison"]


def show_comparison(comparison: Comparison, framework: str | None = None, models=None):
    """One column per held-out crop; rows: the image, the truth, each model's membrane errors.

    Errors of the hard class: found (green), missed (blue), falsely claimed (red).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from .core import blend, legend_handles
    from .unet import _ERROR_COLOURS, error_image

    framework = framework or comparison.frameworks[0]
    models = models or [r["model"] for r in comparison.rows(framework)]
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
            row = comparison.row(model, framework)
            panels.append((error_image(grey, mask, comparison.prediction(model, framework)[c], hard),
                           f"{model_label(model)}\n{classes[hard]} Dice {row['membrane_dice']:.2f}"))
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
    fig.suptitle(f"The same held-out crops, every model ({framework}, {comparison.profile} profile);\n"
                 f"the Dice is over all held-out slices", fontsize=12)
    fig.tight_layout(rect=(0, 0.7 / fig.get_figheight(), 1, 1 - 0.55 / fig.get_figheight()))
    return fig


class Table:
    """Rows as Markdown in a notebook (``_repr_markdown_``) and as aligned text elsewhere."""

    def __init__(self, header: list[str], rows: list[list[str]], note: str = ""):
        self.header, self.body, self.note = header, rows, note

    def _repr_html_(self) -> str:
        import html

        def cell(text: str, tag: str, column: int) -> str:
            bold = text.startswith("**") and text.endswith("**")
            text = html.escape(text.strip("*") if bold else text)
            align = "left" if column < 2 else "right"  # names left, numbers right
            style = f"padding: 2px 5px; text-align: {align}" + ("; white-space: nowrap" if tag == "td" else "")
            return f'<{tag} style="{style}">{f"<strong>{text}</strong>" if bold else text}</{tag}>'

        head = "".join(cell(h, "th", i) for i, h in enumerate(self.header))
        body = "".join("<tr>" + "".join(cell(c, "td", i) for i, c in enumerate(row)) + "</tr>" for row in self.body)
        note = f"<p>{html.escape(self.note)}</p>" if self.note else ""
        return (f'<table style="font-size: 0.8em; border-collapse: collapse"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>{note}")

    def _repr_markdown_(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.body]
        return "\n".join(lines) + (f"\n\n{self.note}" if self.note else "")

    def __str__(self) -> str:
        widths = [max(len(str(c)) for c in column) for column in zip(self.header, *self.body)]
        out = io.StringIO()
        for row in [self.header, *self.body]:
            out.write("  ".join(str(c).replace("**", "").rjust(w) for c, w in zip(row, widths)) + "\n")
        return out.getvalue() + self.note

    __repr__ = __str__


def _number(value, digits: int) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def comparison_table(comparison: Comparison, mark: str | None = None) -> Table:
    """One row per model and framework, then the baselines; rows of framework ``mark`` are in bold."""
    header = ["model", "framework", "parameters", "s / epoch", "ms / image", "peak MiB", "membrane Dice",
              "mIoU", "boundary F1"]
    body = []
    order = {(m, f): (i, j) for i, m in enumerate(comparison.models) for j, f in enumerate(comparison.frameworks)}
    for r in sorted(comparison.rows(), key=lambda r: order[r["model"], r["framework"]]):
        cells = [model_label(r["model"]), r["framework"], f"{r['params']:,}", _number(r["seconds_per_epoch"], 1),
                 _number(1000 * r["inference_seconds_per_image"], 0), _number(r["peak_memory_mb"], 0),
                 _number(r["membrane_dice"], 3), _number(r["mean_iou"], 3), _number(r["boundary_f1"], 3)]
        body.append([f"**{c}**" for c in cells] if r["framework"] == mark else cells)
    for name, b in comparison.baselines.items():
        body.append([name, "–", "0", "–", "–", "–", _number(b["membrane_dice"], 3), _number(b["mean_iou"], 3),
                     _number(b["boundary_f1"], 3)])
    kinds = sorted({r["peak_memory_kind"] for r in comparison.rows()})
    note = (f"Peak memory: {', '.join(kinds)}. Times: median training epoch after the first; one held-out "
            f"slice at a time. " + (f"Bold: {mark}, the framework this run uses." if mark else ""))
    for r in comparison.failed():
        note += f" {model_label(r['model'])} ({r['framework']}) did not finish: {r['status']}."
    return Table(header, body, note)


def plot_quality_cost(comparison: Comparison, framework: str | None = None, quality: str = "membrane_dice"):
    """Membrane Dice against three costs (time per image, time per epoch, parameters), baselines as lines.

    Filled markers: ``framework``'s rows (all frameworks are drawn; the others hollow).
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
                    row = comparison.row(model, fw)
                except KeyError:
                    continue
                filled = fw == framework
                ax.scatter(row[key] * scale, row[quality], s=70, marker=markers.get(fw, "^"),
                           color=colours[i % 10] if filled else "none", edgecolors=colours[i % 10], linewidths=1.5,
                           label=f"{model_label(model)} ({fw})", zorder=3)
                if filled:
                    ax.annotate(model_label(model), (row[key] * scale, row[quality]), textcoords="offset points",
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
    fig.suptitle(f"Quality against cost ({comparison.profile} profile): up and to the left is better", fontsize=12)
    fig.tight_layout()
    return fig


def plot_training_losses(comparison: Comparison, highlight=None):
    """The training loss of every row, epoch by epoch: one panel per framework, the same colour per model.

    ``highlight``: a ``(model, framework)`` drawn thick, e.g. a run that did not learn.
    """
    import matplotlib.pyplot as plt

    colours = plt.cm.tab10(np.arange(10))
    frameworks = comparison.frameworks
    fig, axes = plt.subplots(1, len(frameworks), figsize=(5.5 * len(frameworks), 3.8), sharey=True, squeeze=False)
    for ax, framework in zip(axes[0], frameworks):
        for i, model in enumerate(comparison.models):
            try:
                losses = comparison.row(model, framework)["loss"]
            except KeyError:
                continue
            thick = highlight == (model, framework)
            ax.plot(np.arange(1, len(losses) + 1), losses, marker="o", ms=3, lw=3 if thick else 1.3,
                    color=colours[i % 10], label=model_label(model) + (" (did not learn)" if thick else ""))
        ax.set_title(f"{framework}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(f"training loss ({comparison.settings['loss']})")
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    fig.suptitle("Training loss of every run, same data, same schedule", fontsize=10)
    fig.tight_layout()
    return fig
