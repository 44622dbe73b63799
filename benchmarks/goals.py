"""The issue's performance goals, each checked against the measured results: met, missed or still to measure."""

from __future__ import annotations

from pathlib import Path

from .tables import FRAMEWORK_NAMES, markdown
from .worker import ROOT

QUICK_COURSE_MINUTES = 15  # the whole course in the quick profile, per framework, on a 2-core CPU
QUICK_CAMVID_MINUTES = 4  # each chapter that trains on CamVid (2: FCN, 3: SegNet), quick profile, 2-core CPU
CAMVID_CHAPTERS = ("02_fcn", "03_segnet")
ENGINE_OVERHEAD = 0.05  # fit over a plain loop
MIXED_SPEEDUP = 1.5  # mixed precision (+ channels-last) over fp32 per training step, on a GPU
FULL_NOTEBOOK_MINUTES = 20  # any one notebook in the full profile, on a GPU
FULL_GPU_GIB = 12  # peak GPU memory of any one notebook in the full profile: a free Colab T4 holds it
TO_MEASURE = "to be measured"


def label(result: dict) -> str:
    """The machine and day of a results file, in a few words."""
    machine = result["machine"]
    hardware = machine["gpu"]["name"] if machine["gpu"] else f"{machine['cpu']}, {machine['cores']} cores"
    return f"{hardware}, {result['date'][:10]}"


def _verdict(value: float, limit: float, at_most: bool = True) -> str:
    return "met" if (value <= limit if at_most else value >= limit) else "**missed**"


def _failed(row: dict) -> str:
    return f"**failed**: {row['status']}"


def _measured(results: list[dict], section: str, gpu: bool, profile: str | None = None) -> list[dict]:
    """The results whose ``section`` was measured, on a GPU machine or not, in ``profile`` if given."""
    chosen = []
    for result in results:
        value = result["sections"].get(section, {})
        if value.get("status") == "measured" and bool(result["machine"]["gpu"]) == gpu \
                and profile in (None, value.get("profile")):
            chosen.append(result)
    return chosen


def _notebook_goals(results, goal, target, framework_value, limit, unit, where,
                    chapters: tuple[str, ...] | None = None) -> list[list[str]]:
    """One row per framework: ``framework_value(rows)`` against ``limit``, over the rows of ``chapters`` (notebook
    stems; default all); failed notebooks fail the goal, and a run that timed a notebook the course no longer has
    timed an older course, whichever notebooks the goal reads."""
    rows = []
    for result in results:
        section = result["sections"]["notebooks"]
        for framework in FRAMEWORK_NAMES:
            every = [r for r in section["rows"] if r["framework"] == framework]
            mine = [r for r in every if chapters is None or Path(r["notebook"]).stem in chapters]
            if not mine:
                continue
            value = framework_value(mine)
            failed = sum(r["status"] != "ok" for r in mine)
            gone = sorted({r["notebook"] for r in every if not (ROOT / r["notebook"]).exists()})
            measured = "–" if value is None else f"{value:.1f} {unit} ({len(mine)} notebooks)"
            verdict = f"stale: `{Path(gone[0]).stem}` since removed" if gone else \
                f"**failed**: {failed} notebook(s) did not run" if failed else \
                TO_MEASURE if value is None else _verdict(value, limit)
            rows.append([f"{goal} ({FRAMEWORK_NAMES[framework]})", target, measured, label(result), verdict])
    return rows or [[goal, target, "–", where, TO_MEASURE]]


def _course(results) -> list[list[str]]:
    return _notebook_goals(_measured(results, "notebooks", False, "quick"), "whole course, quick profile, CPU",
                           f"≤ {QUICK_COURSE_MINUTES} min", lambda rows: sum(r["seconds"] for r in rows) / 60,
                           QUICK_COURSE_MINUTES, "min", "a 2-core CPU")


def _camvid_chapters(results) -> list[list[str]]:
    """The slowest of the chapters that train on CamVid, which must each fit the limit, per framework."""
    return _notebook_goals(_measured(results, "notebooks", False, "quick"),
                           "slowest CamVid chapter (2, 3), quick profile, CPU", f"≤ {QUICK_CAMVID_MINUTES} min",
                           lambda rows: max(r["seconds"] for r in rows) / 60, QUICK_CAMVID_MINUTES, "min",
                           "a 2-core CPU", chapters=CAMVID_CHAPTERS)


def _full(results) -> list[list[str]]:
    chosen = _measured(results, "notebooks", True, "full")

    def gib(rows):
        peaks = [r["peak_gpu_mb"] for r in rows if r.get("peak_gpu_mb") is not None]
        return max(peaks) / 1024 if peaks else None

    return (_notebook_goals(chosen, "slowest notebook, full profile, GPU", f"≤ {FULL_NOTEBOOK_MINUTES} min",
                            lambda rows: max(r["seconds"] for r in rows) / 60, FULL_NOTEBOOK_MINUTES, "min",
                            "a GPU machine")
            + _notebook_goals(chosen, "peak GPU memory of a notebook, full profile", f"≤ {FULL_GPU_GIB} GiB",
                              gib, FULL_GPU_GIB, "GiB", "a GPU machine"))


def _overhead(results) -> list[list[str]]:
    rows = []
    for result in _measured(results, "overhead", False) + _measured(results, "overhead", True):
        for row in result["sections"]["overhead"]["rows"]:
            ok = row["status"] == "ok"
            rows.append([f"engine overhead over a plain loop ({FRAMEWORK_NAMES[row['framework']]})",
                         f"≤ {ENGINE_OVERHEAD:.0%}", f"{row['ratio'] - 1:+.1%}" if ok else "–", label(result),
                         _verdict(row["ratio"] - 1, ENGINE_OVERHEAD) if ok else _failed(row)])
    return rows or [["engine overhead over a plain loop", f"≤ {ENGINE_OVERHEAD:.0%}", "–", "any machine",
                     TO_MEASURE]]


def _precision(results) -> list[list[str]]:
    target = f"≥ {MIXED_SPEEDUP}×"
    rows = []
    for result in _measured(results, "precision", True):
        for row in result["sections"]["precision"]["rows"]:
            if row["variant"] not in ("amp + channels-last", "mixed"):
                continue
            ok = row["status"] == "ok"
            rows.append([f"mixed precision over fp32, `{row['model']}` ({FRAMEWORK_NAMES[row['framework']]})",
                         target, f"{row['speedup']:.2f}×" if ok else "–", label(result),
                         _verdict(row["speedup"], MIXED_SPEEDUP, at_most=False) if ok else _failed(row)])
    return rows or [["mixed precision (with channels-last) over fp32, `unet` and `fcn8s`", target, "–",
                     "a GPU machine", TO_MEASURE]]


def table(results: list[dict]) -> str:
    """Every goal with its measured value, where it was measured, and the verdict."""
    rows = _course(results) + _camvid_chapters(results) + _overhead(results) + _precision(results) + _full(results)
    return markdown(["goal", "target", "measured", "where", "verdict"], rows)
