"""Chapter 6 (Comparing the architectures): read the comparison's results, show its pictures, table and figure.

The numbers come from ``python -m benchmarks.compare_architectures``, which
trains every model alike and writes ``benchmarks/results/compare-<machine>-<profile>.json``
with an ``.npz`` of predictions beside it.  :func:`load_comparison` finds that
file in the course's checkout (or the current folder's ``benchmarks/results``);
on Colab, where coursekit is installed without the repository, it downloads the
committed file from the repository.  The chapter never types a measured number.
"""

from __future__ import annotations

import io
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..models.cost import count_multiply_adds  # re-exported: chapter 6 calls viz.count_multiply_adds

__all__ = ["Comparison", "ComparisonFileError", "comparison_table", "count_multiply_adds", "load_comparison",
           "model_label", "plot_quality_cost", "plot_training_losses", "read_comparison", "show_comparison"]

# The one place that names the repository (as _config.yml does); the raw-file and listing URLs derive from it.
REPOSITORY = "https://github.com/semseg-course/semseg-course"
BRANCH = "main"
RESULTS = "benchmarks/results"
SCHEMA = 1

_TOP_KEYS = ("schema", "date", "machine", "versions", "profile", "settings", "command", "load_average",
             "baselines", "rows")
_ROW_KEYS = ("model", "framework", "status", "params", "seconds_per_epoch", "inference_seconds_per_image",
             "peak_memory_mb", "peak_memory_kind", "membrane_dice", "miou", "boundary_f1")
_BASELINE_KEYS = ("name", "membrane_dice", "miou", "boundary_f1")
_SETTING_KEYS = ("image_size", "train_images", "width", "epochs", "batch_size", "lr", "loss", "seed", "classes",
                 "palette", "data_source", "held_out_slices")
_NAMES = {"fcn8s": "FCN-8s", "segnet": "SegNet", "unet": "U-Net", "unet_bn": "U-Net (BN)",
          "resnet34_unet": "ResNet34-U-Net", "mobilenet_unet": "MobileNet-U-Net", "vgg_segnet": "VGG-SegNet",
          "fcn16s": "FCN-16s", "fcn32s": "FCN-32s"}


class ComparisonFileError(ValueError):
    """A results file that is missing, unreadable, or lacks what the chapter reads; the message names it."""


def model_label(model: str) -> str:
    """The name the chapter uses for a model (``unet_bn`` -> ``U-Net (BN)``)."""
    return _NAMES.get(model, model)


@dataclass
class Comparison:
    """One results file of the comparison and its predictions.

    ``profile`` is the profile the file was measured in; ``requested`` the one
    asked for (they differ when the full profile has no file yet and the
    quick one stands in: ``fell_back``).
    """

    path: Path
    results: dict
    predictions: dict = field(repr=False)
    requested: str | None = None

    @property
    def profile(self) -> str:
        return self.results["profile"]

    @property
    def fell_back(self) -> bool:
        return self.requested is not None and self.requested != self.profile

    @property
    def settings(self) -> dict:
        return self.results["settings"]

    @property
    def baselines(self) -> dict:
        return {b["name"]: b for b in self.results["baselines"]}

    def rows(self, framework: str | None = None) -> list[dict]:
        """The rows that trained (``status`` ok), of one framework or of all."""
        return [r for r in self.results["rows"]
                if r["status"] == "ok" and (framework is None or r["framework"] == framework)]

    def failed(self) -> list[dict]:
        return [r for r in self.results["rows"] if r["status"] != "ok"]

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.rows()))

    @property
    def frameworks(self) -> list[str]:
        return list(dict.fromkeys(r["framework"] for r in self.rows()))

    def row(self, model: str, framework: str) -> dict:
        for r in self.rows(framework):
            if r["model"] == model:
                return r
        raise KeyError(f"{self.path.name} has no trained row for {model!r} in {framework!r}; "
                       f"it has {[(r['model'], r['framework']) for r in self.rows()]}")

    def describe(self) -> str:
        """Where, when and how the numbers were measured, in one paragraph."""
        m, v, s = self.results["machine"], self.results["versions"], self.settings
        gpu = m.get("gpu")
        hardware = f"GPU {gpu['name']}" if gpu else f"CPU {m['cpu']}, {m['cores']} cores, no GPU"
        load = self.results["load_average"]
        loads = " and ".join(f"{when} {values[0]:.1f}" for when, values in load.items() if values)
        loads = loads or "start: not recorded"
        lines = [f"{self.path.name}: profile {self.profile}, measured {self.results['date'][:16].replace('T', ' ')}"
                 f" UTC on {hardware}",
                 f"torch {v.get('torch')}, TensorFlow {v.get('tensorflow')}, Keras {v.get('keras')}; "
                 f"threads per process: {self.results.get('threads')}; load average (1 min) at {loads}",
                 f"data: ISBI 2012 ({s['data_source']}), held-out slices {s['held_out_slices'][0]}.."
                 f"{s['held_out_slices'][-1]}; {s['train_images']} tiles of {s['image_size']} px per epoch, "
                 f"{s['epochs']} epochs, batch {s['batch_size']}, lr {s['lr']} ({s.get('schedule')}), "
                 f"loss {s['loss']}, width {s['width']}, seed {s['seed']}"]
        if self.fell_back:
            lines.insert(0, f"no {self.requested}-profile results yet: showing the {self.profile} profile's")
        return "\n".join(lines)


def _fail(path, what: str):
    raise ComparisonFileError(f"{path}: {what}")


def _validate(path: Path, results) -> None:
    if not isinstance(results, dict):
        _fail(path, f"expected a JSON object, found {type(results).__name__}")
    missing = [k for k in _TOP_KEYS if k not in results]
    if missing:
        _fail(path, f"missing the key(s) {', '.join(missing)}; is this a file written by "
                    "python -m benchmarks.compare_architectures?")
    if results["schema"] != SCHEMA:
        _fail(path, f"schema {results['schema']!r}, but this coursekit reads schema {SCHEMA}")
    missing = [k for k in _SETTING_KEYS if k not in results["settings"]]
    if missing:
        _fail(path, f"settings lack {', '.join(missing)}")
    if not isinstance(results["rows"], list) or not results["rows"]:
        _fail(path, "no rows: no model was measured")
    for number, row in enumerate(results["rows"], 1):
        needed = _ROW_KEYS if row.get("status") == "ok" else ("model", "framework", "status")
        missing = [k for k in needed if k not in row or (row.get("status") == "ok" and row[k] is None
                                                          and k != "peak_memory_mb")]
        if missing:
            _fail(path, f"row {number} ({row.get('model')}, {row.get('framework')}) lacks {', '.join(missing)}")
    if not any(row["status"] == "ok" for row in results["rows"]):
        _fail(path, "no row trained successfully; statuses: " + "; ".join(r["status"] for r in results["rows"]))
    for number, baseline in enumerate(results["baselines"], 1):
        missing = [k for k in _BASELINE_KEYS if k not in baseline]
        if missing:
            _fail(path, f"baseline {number} lacks {', '.join(missing)}")


def _read_predictions(path: Path, results: dict) -> dict:
    if not path.exists():
        _fail(path, "the predictions file beside the results is missing (the .npz with the same stem)")
    try:
        with np.load(path) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as err:
        _fail(path, f"not a readable .npz: {err}")
    missing = [k for k in ("images", "truth") if k not in arrays]
    missing += [f"{r['model']}__{r['framework']}" for r in results["rows"] if r["status"] == "ok"
                and f"{r['model']}__{r['framework']}" not in arrays]
    if missing:
        _fail(path, f"missing the array(s) {', '.join(missing)}")
    shapes = {k: v.shape for k, v in arrays.items() if k not in ("slices", "window")}
    if len(set(shapes.values())) != 1:
        _fail(path, f"the images, truth and predictions differ in shape: {shapes}")
    return arrays


def read_comparison(path, requested: str | None = None) -> Comparison:
    """Read and check one results file and the ``.npz`` beside it; a clear error names what is wrong."""
    path = Path(path)
    if not path.exists():
        _fail(path, "no such file")
    try:
        results = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        _fail(path, f"not valid JSON: {err}")
    _validate(path, results)
    return Comparison(path, results, _read_predictions(path.with_suffix(".npz"), results), requested)


def search_folders() -> list[Path]:
    """Where results files are looked for: the checkout coursekit is imported from, then ``./benchmarks/results``."""
    import coursekit

    folders = [Path(coursekit.__file__).resolve().parents[2] / RESULTS, Path.cwd() / RESULTS]
    return list(dict.fromkeys(folders))


def _date(path: Path) -> str:
    try:
        return str(json.loads(path.read_text()).get("date", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _find_local(profile: str) -> Path | None:
    found = [p for folder in search_folders() for p in sorted(folder.glob(f"compare-*-{profile}.json"))]
    return max(found, key=_date) if found else None  # the newest measurement


def raw_url(name: str) -> str:
    """The committed file ``benchmarks/results/<name>`` as GitHub serves it raw."""
    return f"{REPOSITORY.replace('https://github.com/', 'https://raw.githubusercontent.com/')}/{BRANCH}/{RESULTS}/{name}"


def listing_url() -> str:
    """GitHub's API listing of the committed ``benchmarks/results`` folder."""
    return f"{REPOSITORY.replace('https://github.com/', 'https://api.github.com/repos/')}/contents/{RESULTS}?ref={BRANCH}"


def _fetch(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (a fixed https URL)
        return response.read()


def cache_folder() -> Path:
    return Path.home() / ".coursekit" / "results"


def _download(profile: str) -> Path | None:
    """The newest committed ``compare-*-<profile>.json`` and its ``.npz``, into :func:`cache_folder`."""
    listing = json.loads(_fetch(listing_url()))
    names = sorted(item["name"] for item in listing
                   if item.get("name", "").startswith("compare-") and item["name"].endswith(f"-{profile}.json"))
    if not names:
        return None
    folder = cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for name in names:
        for file in (name, name.removesuffix(".json") + ".npz"):
            (folder / file).write_bytes(_fetch(raw_url(file)))
        saved.append(folder / name)
    return max(saved, key=_date)


def load_comparison(profile: str | None = None, *, download: bool | None = None) -> Comparison:
    """The comparison's results for ``profile`` (default ``quick``), or the quick profile's where there are none.

    Looks in the course checkout and ``./benchmarks/results``; then, when
    ``download`` is true (default: only on Colab), in the repository on GitHub.
    ``.fell_back`` says whether the quick profile stood in for the one asked for.
    """
    profile = profile or "quick"
    if download is None:
        download = "google.colab" in sys.modules
    tried = [str(folder) for folder in search_folders()]
    for candidate in dict.fromkeys((profile, "quick")):
        path = _find_local(candidate)
        if path is None and download:
            tried.append(listing_url())
            try:
                path = _download(candidate)
            except (OSError, ValueError) as err:  # no network, or GitHub refused: say so below
                tried[-1] += f" ({err})"
        if path is not None:
            return read_comparison(path, requested=profile)
    raise FileNotFoundError(f"no comparison results (compare-*-{profile}.json or compare-*-quick.json) in "
                            + "; ".join(tried) + ". Run python -m benchmarks.compare_architectures in the course "
                            "repository to make them.")


# --- Pictures, table, figure ------------------------------------------------------------------------


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
            panels.append((error_image(grey, mask, comparison.predictions[f"{model}__{framework}"][c], hard),
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
                 _number(r["membrane_dice"], 3), _number(r["miou"], 3), _number(r["boundary_f1"], 3)]
        body.append([f"**{c}**" for c in cells] if r["framework"] == mark else cells)
    for name, b in comparison.baselines.items():
        body.append([name, "–", "0", "–", "–", "–", _number(b["membrane_dice"], 3), _number(b["miou"], 3),
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
    ylabel = f"held-out {quality.replace('_', ' ').replace('dice', 'Dice').replace('miou', 'mIoU')}"
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
