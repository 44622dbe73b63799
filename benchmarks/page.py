"""Write the book's performance appendix from the committed results files.

    python -m benchmarks.page     # rewrite the generated parts of book/performance.md and its figure

Every ``benchmarks/results/*.json`` is read; the page's parts between
``<!-- performance:NAME -->`` and ``<!-- end performance:NAME -->`` are
replaced, the prose around them is kept.  The page and the figure carry a
digest of the results they were made from, so a test can tell when either is
stale.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from coursekit.results import EXPERIMENT_PREFIXES, SMOKE_PREFIX

from . import goals, smoke, t4, tables
from .worker import ROOT

RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "book" / "performance.md"
FIGURE = ROOT / "book" / "images" / "performance_throughput.png"
DIGEST_KEY = "Description"  # the PNG text chunk that holds the figure's digest
BLOCKS = ("machines", "goals", "models", "overhead", "precision", "notebooks", "smoke", "t4")


# Other experiments share the folder under a prefix: chapter 7's architecture comparisons and the claims sweeps.
OTHER_EXPERIMENTS = EXPERIMENT_PREFIXES  # not runs of the benchmark suite


def results_files(folder: Path = RESULTS) -> list[Path]:
    """The suite's results files (``<machine>.json``), without the other experiments' files beside them."""
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith(OTHER_EXPERIMENTS))


def _read(path: Path) -> dict:
    """One results file, remembering its ``file`` (relative to the repository where it lies inside it)."""
    result = json.loads(path.read_text())
    result["file"] = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    return result


def load(folder: Path = RESULTS) -> list[dict]:
    """Every results file, CPU machines first; each remembers its ``file``."""
    return sorted((_read(path) for path in results_files(folder)), key=lambda r: (bool(r["machine"]["gpu"]), r["file"]))


def digest(results: list[dict]) -> str:
    """A fingerprint of the results' content (not their bytes, which line endings may change)."""
    return hashlib.sha256(json.dumps(results, sort_keys=True).encode()).hexdigest()[:16]


def _kind(result: dict) -> str:
    return "GPU" if result["machine"]["gpu"] else "CPU"


def _heading(result: dict) -> str:
    return f"**{_kind(result)}: {goals.label(result)}** (`{result['file']}`)"


def _hardware(machine: dict) -> str:
    text = f"{machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GiB RAM"
    gpu = machine["gpu"]
    return text + (f"; {gpu['name']} ({gpu['memory_gb']} GiB, CUDA {gpu['cuda']})" if gpu else "; no GPU")


def _load(result: dict) -> str:
    start, end = result["load_average"]["start"], result["load_average"].get("end")
    if not start:
        return "–"
    return f"{start[0]} → {end[0] if end else '?'} on {result['machine']['cores']} cores"


def machines(results: list[dict]) -> str:
    """Where and when each results file was measured, and which kind of numbers each gives.

    One short list per file rather than one wide table: the machine, software and note are long,
    and a table of them does not fit the page's column.
    """
    blocks = []
    for r in results:
        versions = r["versions"]
        software = ", ".join(f"{name} {versions[name]}" for name in ("python", "torch", "tensorflow", "keras",
                                                                      "coursekit") if versions.get(name))
        lines = [f"{_heading(r)}", "",
                 f"- measured: {r['date'].replace('T', ' ').replace('+00:00', ' UTC')}",
                 f"- machine: {_hardware(r['machine'])}",
                 f"- software: {software}",
                 f"- threads per process: {r['threads']}; load average (1 min, start → end): {_load(r)}"]
        if r["note"]:
            lines.append(f"- note: {r['note']}")
        blocks.append("\n".join(lines))
    gpu = [goals.label(r) for r in results if r["machine"]["gpu"]]
    cpu = [goals.label(r) for r in results if not r["machine"]["gpu"]]
    summary = (f"CPU numbers: {'; '.join(cpu) or 'none yet'}. GPU numbers: "
               + ("; ".join(gpu) if gpu else "**still to be measured**: no results file from a GPU machine yet") + ".")
    listing = "\n\n".join(blocks)
    return f"<!-- results digest: {digest(results)} -->\n{listing}\n\n{summary}"


def per_result(name: str, results: list[dict]) -> str:
    """The section's table for every results file that measured it."""
    parts = [f"{_heading(r)}\n\n{tables.section(name, r['sections'][name])}" for r in results
             if r["sections"].get(name, {}).get("status") == "measured" and r["sections"][name]["rows"]]
    return "\n\n".join(parts) or "Not measured yet."


def precision_block(results: list[dict]) -> str:
    if not any(r["machine"]["gpu"] for r in results):
        return ("**GPU numbers are still to be measured**: `benchmarks/results/` holds no results file from a GPU "
                "machine yet, and on a CPU this section is skipped.")
    return per_result("precision", results)


def models_block(results: list[dict]) -> str:
    labels = "; ".join(f"{_kind(r)}: {goals.label(r)}" for r in results)
    figure = (f"```{{figure}} images/{FIGURE.name}\n:name: performance-throughput\n"
              f":alt: Training images per second of every model in torch and Keras, quick and full sizes\n\n"
              f"Training throughput per model (images per second, log scale; {labels}).\n```")
    return f"{per_result('models', results)}\n\n{figure}"


def smoke_results(folder: Path = RESULTS) -> list[dict]:
    """The full-profile smoke runs' files (``smoke-<machine>.json``), each remembering its ``file``."""
    return [_read(path) for path in sorted(folder.glob(f"{SMOKE_PREFIX}*.json"))]


def smoke_block(folder: Path = RESULTS) -> str:
    """Every chapter of every smoke run, per framework: passed or not, seconds, peak memory, step time."""
    parts = []
    for r in smoke_results(folder):
        when = sorted({row["date"][:10] for runs in r["runs"].values() for row in runs.values()})
        dates = when[0] if len(when) == 1 else f"{when[0]} to {when[-1]}"
        threads = r["threads_per_kernel"]
        parts.append(f"**CPU: {r['machine']['cpu']}, {r['machine']['cores']} cores, {dates}** (`{r['file']}`)\n\n"
                     f"{smoke.table(r)}\n\nEach training cut to {r['smoke']['epochs']} epoch of "
                     f"{r['smoke']['steps_per_epoch']} steps, each evaluation and prediction to "
                     f"{r['smoke']['images']} images; threads per kernel: {threads}; step: the slowest "
                     "training's last step, at the full profile's batch and image size.")
    return "\n\n".join(parts) or "Not run yet."


def t4_block() -> str:
    return f"{t4.table()}\n\n{t4.assumptions()}"


def blocks(results: list[dict], folder: Path = RESULTS) -> dict[str, str]:
    return {"machines": machines(results), "goals": goals.table(results), "models": models_block(results),
            "overhead": per_result("overhead", results), "precision": precision_block(results),
            "notebooks": per_result("notebooks", results), "smoke": smoke_block(folder), "t4": t4_block()}


def render(text: str, generated: dict[str, str]) -> str:
    """``text`` with each block between its markers replaced by its generated content."""
    for name, content in generated.items():
        begin, end = f"<!-- performance:{name} -->", f"<!-- end performance:{name} -->"
        if begin not in text or end not in text:
            raise ValueError(f"the page lacks the markers {begin} ... {end}")
        head, rest = text.split(begin, 1)
        text = f"{head}{begin}\n{content}\n{end}{rest.split(end, 1)[1]}"
    return text


def _throughput_axis(ax, rows: list[dict], title: str) -> None:
    import numpy as np
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    models = list(dict.fromkeys(r["model"] for r in rows))
    frameworks = [f for f in tables.FRAMEWORK_NAMES if any(r["framework"] == f for r in rows)]
    height = 0.8 / max(len(frameworks), 1)
    for i, framework in enumerate(frameworks):
        rate = {r["model"]: r["images_per_second"] for r in rows if r["framework"] == framework}
        values = [rate.get(m) or np.nan for m in models]  # a failed measurement draws no bar
        ax.barh(np.arange(len(models)) + i * height, values, height, label=tables.FRAMEWORK_NAMES[framework])
    ax.set_yticks(np.arange(len(models)) + height * (len(frameworks) - 1) / 2, models)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # labels at 1, 2, 5 per decade: short ranges too
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks of a log axis overlap
    ax.set_xlabel("training images per second")
    ax.set_title(title, fontsize=9)


def figure(results: list[dict], path: Path = FIGURE) -> None:
    """Throughput per model: a row of panels (quick and full sizes) per results file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in results if r["sections"].get("models", {}).get("rows")]
    sizes = [s for s in ("quick", "full") if any(row["size"] == s for r in measured
                                                  for row in r["sections"]["models"]["rows"])] or ["quick"]
    fig, axes = plt.subplots(max(len(measured), 1), len(sizes), figsize=(5.5 * len(sizes), 4.2 * max(len(measured), 1)),
                             squeeze=False)
    for row_axes, result in zip(axes, measured):
        for ax, size in zip(row_axes, sizes):
            rows = [r for r in result["sections"]["models"]["rows"] if r["size"] == size]
            _throughput_axis(ax, rows, f"{_kind(result)}: {goals.label(result)} — {size} sizes")
    if measured:  # one legend above all panels, where it hides no bar
        fig.legend(*axes[0][0].get_legend_handles_labels(), loc="upper center", ncol=2, frameon=False)
    else:
        axes[0][0].text(0.5, 0.5, "no results yet", ha="center", va="center")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={DIGEST_KEY: f"results digest {digest(results)}"})
    plt.close(fig)


def figure_digest(path: Path = FIGURE) -> str | None:
    """The digest the figure was drawn from, or None."""
    from PIL import Image

    with Image.open(path) as image:
        return image.info.get(DIGEST_KEY, "").removeprefix("results digest ") or None


def write(page: Path = PAGE, folder: Path = RESULTS, figure_path: Path = FIGURE) -> None:
    results = load(folder)
    text = render(page.read_text(), blocks(results, folder))
    temporary = page.with_name(page.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, page)
    figure(results, figure_path)


if __name__ == "__main__":
    write()
