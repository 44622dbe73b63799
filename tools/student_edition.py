"""Write the student edition of the chapters: every solution taken out, every checker left in.

Usage: ``python tools/student_edition.py [SOURCE_DIR] [TARGET_DIR]`` (``make student`` runs it
with ``notebooks`` and ``student/notebooks``).

The chapters are the instructor edition.  For each ``NN_slug.md`` this writes a
paired ``NN_slug.md`` + ``NN_slug.ipynb`` in which

- a code cell tagged ``solution`` becomes a stub: each function keeps its name,
  arguments and docstring and raises ``NotImplementedError``; each assigned answer
  becomes ``...``; imports stay.  A solution cell inside a gated solution that
  defines and assigns nothing (a worked step, such as printing the shapes that
  reveal a bug) is part of the answer and is removed with its prose;
- the prose of a gated solution (``{solution-start}`` ... ``{solution-end}``) and
  a whole ``{solution}`` directive (the answers to discussion exercises) are removed;
- a cell that calls a checker (``exercises.check_*``) is tagged ``raises-exception``,
  so "Run all" and nbval go on past an exercise not yet answered;
- the "Open in Colab" badge is dropped: it opens the instructor notebook, solutions included.
  Instructors who host the student edition add their own link.

Each file is written to a temporary name and renamed, so an interrupted run leaves
no half-written notebook.
"""

from __future__ import annotations

import ast
import copy
import os
import sys
from pathlib import Path

import jupytext

STUB_MESSAGE = "write your answer here, then run the checker below"
SOLUTION_TAG = "solution"


class EditionError(ValueError):
    """A chapter's exercises are not marked up as the student edition needs."""


def stub_function(node: ast.FunctionDef) -> ast.FunctionDef:
    docstring = ast.get_docstring(node, clean=False)
    body: list[ast.stmt] = [ast.Expr(ast.Constant(docstring))] if docstring is not None else []
    body.append(ast.Raise(ast.Call(ast.Name("NotImplementedError"), [ast.Constant(STUB_MESSAGE)], []), None))
    stub = copy.copy(node)
    stub.body = body
    return stub


def stub_code(source: str, where: str) -> str | None:
    """The stub a student fills in, from one solution cell's code; None when there is nothing to stub."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise EditionError(f"{where}: the solution cell is not valid Python ({err.msg}, line {err.lineno})") from None
    kept: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kept.append(node)
        elif isinstance(node, ast.FunctionDef):
            kept.append(stub_function(node))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            node.value = ast.Constant(...)
            kept.append(node)
    if not kept:
        return None
    body = ast.unparse(ast.Module(kept, []))
    return "# Your answer: replace the stub (the checker below tells you whether it is right).\n" + body


def _after_directive(lines: list[str], start: int) -> int:
    """The index after the fenced directive opened at ``lines[start]`` (solution directives hold no fences)."""
    i = start + 1
    while i < len(lines) and lines[i].strip() != "```":
        i += 1
    return i + 1


def strip_solution_prose(text: str, state: dict) -> str:
    """Markdown without solution directives; ``state["open"]`` carries a gated solution across cells."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith(("```{solution-start}", "```{solution-end}", "```{solution}")):
            if not stripped.startswith("```{solution}"):
                state["open"] = stripped.startswith("```{solution-start}")
            i = _after_directive(lines, i)
            continue
        if not state["open"]:
            out.append(lines[i])
        i += 1
    return "\n".join(out).strip("\n")


def drop_colab_badge(text: str) -> str:
    """The badge opens the instructor notebook on GitHub, solutions included: the student edition has none."""
    return "\n".join(line for line in text.split("\n") if "colab.research.google.com/github/" not in line)


def student_notebook(notebook, where: str):
    """The student edition of one jupytext notebook (a new object; the input is not changed)."""
    cells, state = [], {"open": False}
    for number, cell in enumerate(notebook.cells, 1):
        cell = copy.deepcopy(cell)
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "markdown":
            cell["source"] = drop_colab_badge(strip_solution_prose(cell["source"], state))
            if cell["source"].strip():
                cells.append(cell)
            continue
        if SOLUTION_TAG in tags:
            stub = stub_code(cell["source"], f"{where}, cell {number}")
            if stub is None and state["open"]:
                continue  # a worked step of the hidden answer
            if stub is None:
                raise EditionError(f"{where}, cell {number}: the solution cell defines no function and assigns "
                                   "no answer, so it has nothing to stub; a student would not know what to write "
                                   "(a worked step belongs inside a {solution-start} ... {solution-end})")
            cell["source"] = stub
        elif state["open"]:
            raise EditionError(f"{where}, cell {number}: a code cell inside a solution must be tagged "
                               f"'{SOLUTION_TAG}', or it would reach the student edition unchanged")
        elif "exercises.check_" in cell["source"] and "raises-exception" not in tags:
            cell.setdefault("metadata", {})["tags"] = [*tags, "raises-exception"]
        cells.append(cell)
    if state["open"]:
        raise EditionError(f"{where}: a {{solution-start}} has no {{solution-end}}")
    result = copy.deepcopy(notebook)
    result.cells = cells
    return result


def _write_atomically(notebook, path: Path, fmt: str) -> None:
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
    temporary.write_text(jupytext.writes(notebook, fmt=fmt))
    os.replace(temporary, path)


def write_edition(source_dir: Path, target_dir: Path) -> list[Path]:
    """Write the student edition of every chapter in ``source_dir``; return the notebooks written."""
    chapters = sorted(p for p in source_dir.glob("[0-9][0-9]_*.md") if p.read_text().startswith("---\njupytext:"))
    if not chapters:
        raise EditionError(f"{source_dir}: no chapters (NN_slug.md paired with jupytext) found")
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in chapters:
        notebook = student_notebook(jupytext.read(chapter), str(chapter))
        notebook.metadata.setdefault("jupytext", {})["formats"] = "ipynb,md:myst"
        _write_atomically(notebook, target_dir / chapter.name, "md:myst")
        _write_atomically(notebook, target_dir / chapter.with_suffix(".ipynb").name, "ipynb")
        written.append(target_dir / chapter.with_suffix(".ipynb").name)
    return written


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else Path("notebooks")
    target = Path(argv[2]) if len(argv) > 2 else Path("student") / "notebooks"
    try:
        written = write_edition(source, target)
    except EditionError as err:
        print(f"student edition: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path} (and its .md)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
