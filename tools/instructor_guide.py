"""Keep the instructor guide's generated tables equal to the chapters.

Usage: ``python tools/instructor_guide.py [book/instructor_guide.md]`` (``make sync`` runs it).

The table between ``<!-- exercises-table -->`` markers lists every chapter's exercises, read from
the chapters themselves: each ``{exercise}`` directive's title and the checker that grades it (or
"discussion" when the answer is prose).  The table between ``<!-- times-table -->`` markers gives
each chapter's running time in the quick profile per framework, read from the newest CPU results
file of the benchmark suite (``make bench`` writes ``benchmarks/results/*.json``) that timed the
notebooks.  A test (tests/test_instructor_guide.py) fails when the page is stale.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from coursekit.results import EXPERIMENT_PREFIXES

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- exercises-table: made by `python tools/instructor_guide.py`; a test keeps it equal to the chapters -->"
END = "<!-- end exercises-table -->"
TIMES_BEGIN = "<!-- times-table: made by `python tools/instructor_guide.py` from the benchmark results -->"
TIMES_END = "<!-- end times-table -->"
RESULTS = ROOT / "benchmarks" / "results"
OTHER_EXPERIMENTS = EXPERIMENT_PREFIXES  # the other experiments' files beside the suite's
EXERCISE = re.compile(r"^`{3,}\{exercise\}\s*(?P<title>.*)$", re.M)  # three or more backticks
CHECK = re.compile(r"exercises\.(check_\w+)\(")


def chapter_title(text: str) -> str:
    match = re.search(r"^# +(.+)$", text, re.M)
    return match[1].strip() if match else "?"


def exercises_of(text: str) -> list[tuple[str, str]]:
    """(title, checker or "discussion") for each exercise of one chapter's MyST text, in order."""
    starts = [(m.start(), m["title"].strip()) for m in EXERCISE.finditer(text)]
    rows = []
    for i, (start, title) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        checks = CHECK.findall(text[start:end])
        rows.append((title, ", ".join(f"`{c}`" for c in dict.fromkeys(checks)) or "discussion"))
    return rows


def exercises_table(chapters: list[Path]) -> str:
    lines = ["| chapter | exercise | checked by |", "|---|---|---|"]
    for chapter in chapters:
        text = chapter.read_text()
        link = f"{{doc}}`{chapter_title(text)} <../notebooks/{chapter.stem}>`"
        for number, (title, checker) in enumerate(exercises_of(text), 1):
            lines.append(f"| {link if number == 1 else ''} | {number}. {title} | {checker} |")
    return "\n".join(lines)


def notebook_timings(folder: Path = RESULTS) -> dict | None:
    """The newest CPU results file whose notebooks section was measured in the quick profile, or None."""
    candidates = []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith(OTHER_EXPERIMENTS):  # not a run of the benchmark suite
            continue
        try:
            result = json.loads(path.read_text())
            section = result["sections"].get("notebooks", {})
            if (not result["machine"]["gpu"] and section.get("status") == "measured"
                    and section.get("profile") == "quick"):
                result["file"] = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
                candidates.append((result["date"], path.name, result))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a benchmark results file ({error})") from error
    return max(candidates, key=lambda c: c[:2])[2] if candidates else None


def _minutes(row: dict | None) -> str:
    if row is None:
        return "–"
    if row["status"] != "ok":
        return f"failed ({row['status'][:40]})"
    return f"{row['seconds'] / 60:.1f} min"


def times_table(result: dict | None, chapter_paths: list[Path]) -> str:
    """Each chapter's quick-profile running time per framework, with where and when it was measured."""
    if result is None:
        return "*Not measured yet: run `make bench` on a quiet machine, then `make sync`.*"
    rows = {(Path(r["notebook"]).stem, r["framework"]): r for r in result["sections"]["notebooks"]["rows"]}
    frameworks = ("torch", "keras")
    lines = ["| chapter | PyTorch | Keras |", "|---|---|---|"]
    for chapter in chapter_paths:
        cells = " | ".join(_minutes(rows.get((chapter.stem, framework))) for framework in frameworks)
        lines.append(f"| {{doc}}`{chapter_title(chapter.read_text())} <../notebooks/{chapter.stem}>` | {cells} |")
    totals = []
    for framework in frameworks:
        timed = [rows.get((chapter.stem, framework)) for chapter in chapter_paths]
        complete = all(row and row["status"] == "ok" for row in timed)  # a total of some chapters would mislead
        totals.append(f"**{sum(row['seconds'] for row in timed) / 60:.1f} min**" if complete else "–")
    lines.append(f"| **all chapters** | {' | '.join(totals)} |")
    machine = result["machine"]
    where = (f"Measured by `make bench` on {result['date'][:10]}: {machine['cpu']}, {machine['cores']} cores, "
             f"no GPU, threads per process: {result['threads'] or 'all'}, load average "
             f"{result['load_average']['start'][0]} at the start (`{result.get('file', 'results file')}`).")
    return "\n".join(lines) + "\n\n" + where


def chapters() -> list[Path]:
    return sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.md"))


def _replace_between(text: str, begin: str, end: str, body: str, path: Path) -> str:
    if begin not in text or end not in text:
        raise ValueError(f"{path}: the markers {begin!r} ... {end!r} are missing")
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{body}\n{end}{rest.split(end, 1)[1]}"


def page_text(path: Path) -> str:
    """The page with both generated tables made anew from the chapters and the results."""
    text = _replace_between(path.read_text(), BEGIN, END, exercises_table(chapters()), path)
    return _replace_between(text, TIMES_BEGIN, TIMES_END, times_table(notebook_timings(), chapters()), path)


def write_page(path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(page_text(path))
    os.replace(temporary, path)


if __name__ == "__main__":
    write_page(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "book" / "instructor_guide.md")
