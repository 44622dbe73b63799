"""Grade students' notebooks by running the chapter's checkers on their answers.

Usage: ``python tools/grade.py NOTEBOOK.ipynb [...] [--csv grades.csv]``

For each notebook this runs the chapter's setup cells (its first code cells, up to the first
section heading after "Setup") and then every code cell of its "Exercises" section, in a fresh
kernel, so grading takes seconds and does not train the chapter's models.  Each cell that calls a
checker (``exercises.check_<name>(...)``) scores one exercise: ``pass`` when the checker reports
its hidden cases pass, ``fail`` when it raises (the checker's message says which case and why),
``missing`` when the student's cell is still the stub.  A cell of the student's that raises before
its checker makes that exercise ``error``.  One row per notebook and exercise is printed, and
written to ``--csv`` when given (atomically: a temporary file, then a rename).

The checkers live in :mod:`coursekit.exercises`; ``make student`` writes the notebooks students get.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CHECK = re.compile(r"exercises\.(check_\w+)\(")


@dataclass
class Grade:
    notebook: str
    exercise: str
    result: str  # pass | fail | missing | error
    detail: str


def _last_section(cell, current: str | None) -> str | None:
    """The section (``## `` heading) in force after a cell: the last one it opens, else ``current``."""
    if cell.cell_type != "markdown":
        return current
    headings = re.findall(r"^## +(.+?)\s*$", cell.source, flags=re.M)
    return headings[-1] if headings else current


def grading_cells(notebook) -> list:
    """The setup cells (before the first section after "Setup") and the Exercises section's code cells."""
    cells, section = [], None
    for cell in notebook.cells:
        section = _last_section(cell, section)
        if cell.cell_type == "code" and section in (None, "Setup", "Exercises"):
            cells.append(cell)
    return cells


def _error_text(output) -> str:
    return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()


def grade(path: Path, timeout: int = 600) -> list[Grade]:
    """Run the grading cells of one notebook and score each checker cell."""
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as err:  # a file that is not a notebook is reported, not fatal to the others
        return [Grade(str(path), "-", "error", f"cannot read {path}: {err}")]
    if not any(CHECK.search(c.source) for c in notebook.cells if c.cell_type == "code"):
        return [Grade(str(path), "-", "error", f"{path}: no checker cell (exercises.check_...) found")]
    graded = nbformat.v4.new_notebook(metadata=notebook.metadata)
    graded.cells = grading_cells(notebook)
    client = NotebookClient(graded, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    grades, failed_before = [], None
    for cell in graded.cells:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        names = CHECK.findall(cell.source)
        if not names:
            failed_before = _error_text(errors[0]) if errors else None
            continue
        exercise = names[0].removeprefix("check_")
        if failed_before is not None and (not errors or "ExerciseFailed" not in errors[0].get("ename", "")):
            grades.append(Grade(str(path), exercise, "error", f"the answer's cell raised {failed_before}"))
        elif not errors:
            grades.append(Grade(str(path), exercise, "pass", ""))
        elif "not answered yet" in errors[0].get("evalue", ""):
            grades.append(Grade(str(path), exercise, "missing", "the stub is still there"))
        elif errors[0].get("ename") == "ExerciseFailed":
            grades.append(Grade(str(path), exercise, "fail", errors[0]["evalue"].splitlines()[0]))
        else:
            grades.append(Grade(str(path), exercise, "error", _error_text(errors[0])))
        failed_before = None
    return grades


def write_csv(grades: list[Grade], path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["notebook", "exercise", "result", "detail"])
        writer.writerows([g.notebook, g.exercise, g.result, g.detail] for g in grades)
    os.replace(temporary, path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Grade notebooks with the course's checkers.")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--csv", type=Path, help="also write the grades to this CSV file")
    args = parser.parse_args(argv[1:])
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    grades = [g for path in args.notebooks for g in grade(path)]
    if not grades:
        return 1
    width = max(len(g.notebook) for g in grades)
    for g in grades:
        print(f"{g.notebook:<{width}}  {g.exercise:<24} {g.result:<8} {g.detail}")
    if args.csv:
        write_csv(grades, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
