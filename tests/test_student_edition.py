"""The student edition (`make student`): no solution left, every checker kept, paired and runnable."""

import ast
import os
import subprocess
import sys

import jupytext
import pytest
from conftest import ONE_FRAMEWORK, ROOT, hide_other_framework

sys.path.insert(0, str(ROOT / "tools"))
import grade  # noqa: E402
import student_edition  # noqa: E402

CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    target = tmp_path_factory.mktemp("student") / "notebooks"
    assert student_edition.main(["student_edition.py", str(ROOT / "notebooks"), str(target)]) == 0
    return target


def _solution_lines(cell_source: str) -> set[str]:
    """The lines of a solution that are its answer: not signatures, imports, comments or docstrings."""
    lines = set()
    for line in cell_source.splitlines():
        s = line.strip()
        if s and not s.startswith(("def ", "import ", "from ", "#", '"""', "return None")):
            lines.add(s)
    return lines


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_student_notebooks_hold_no_solution(edition, chapter):
    instructor = jupytext.read(chapter)
    student_md = (edition / chapter.name).read_text()
    student = jupytext.read(edition / chapter.name)
    assert "colab.research.google.com/github/" not in student_md, "the badge would open the solutions"
    for directive in ("{solution-start}", "{solution-end}", "{solution}"):
        assert directive not in student_md, f"{chapter.name}: {directive} left in the student edition"
    answers = set().union(*[_solution_lines(c["source"]) for c in instructor.cells
                            if "solution" in c["metadata"].get("tags", [])])
    assert answers, f"{chapter.name}: no cell tagged 'solution'"
    # A fix shares most lines with the broken code the chapter shows; those lines give nothing away.
    shown = set().union(*[_solution_lines(c["source"]) for c in instructor.cells
                          if c["cell_type"] == "code" and "solution" not in c["metadata"].get("tags", [])])
    answers -= shown
    for cell in student.cells:
        if cell["cell_type"] != "code":
            continue
        leaked = answers & {line.strip() for line in cell["source"].splitlines()}
        assert not leaked, f"{chapter.name}: solution lines in the student edition: {sorted(leaked)[:3]}"
        if "solution" in cell["metadata"].get("tags", []):
            for node in ast.parse(cell["source"]).body:
                if isinstance(node, ast.FunctionDef):
                    assert isinstance(node.body[-1], ast.Raise) and len(node.body) <= 2, ast.unparse(node)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    assert isinstance(node.value, ast.Constant) and node.value.value is ..., ast.unparse(node)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_student_notebooks_are_paired_and_keep_every_checker(edition, chapter):
    notebook = edition / chapter.with_suffix(".ipynb").name
    from_md, from_ipynb = jupytext.read(edition / chapter.name), jupytext.read(notebook)
    assert [c["source"] for c in from_md.cells] == [c["source"] for c in from_ipynb.cells]
    assert from_ipynb.metadata["jupytext"]["formats"] == "ipynb,md:myst"
    checks = [c for c in jupytext.read(chapter).cells if "exercises.check_" in c["source"]]
    kept = [c for c in from_ipynb.cells if "exercises.check_" in c["source"]]
    assert len(kept) == len(checks) > 0
    assert all("raises-exception" in c["metadata"]["tags"] for c in kept)


def test_solution_markup_mistakes_are_reported_with_the_file(tmp_path):
    header = (ROOT / "notebooks" / CHAPTERS[0].name).read_text().split("---\n", 2)[1]
    page = tmp_path / "09_broken.md"
    page.write_text(f"---\n{header}---\n\n# Broken\n\n```{{solution-start}} ex-x\n:class: dropdown\n```\n\n"
                    "```{code-cell} ipython3\nanswer = 42\n```\n\n```{solution-end}\n```\n")
    with pytest.raises(student_edition.EditionError, match="09_broken.md, cell .*must be tagged 'solution'"):
        student_edition.write_edition(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out" / "09_broken.md").exists()
    worked_step = "```{code-cell} ipython3\n:tags: [solution]\n\nprint(42)\n```\n"
    page.write_text(f"---\n{header}---\n\n# Broken\n\n{worked_step}")
    with pytest.raises(student_edition.EditionError, match="09_broken.md, cell .*nothing to stub"):
        student_edition.write_edition(tmp_path, tmp_path / "out")


def test_a_worked_step_inside_a_hidden_solution_is_removed_with_it(tmp_path):
    header = (ROOT / "notebooks" / CHAPTERS[0].name).read_text().split("---\n", 2)[1]
    (tmp_path / "09_steps.md").write_text(
        f"---\n{header}---\n\n# Steps\n\n```{{solution-start}} ex-x\n:class: dropdown\n```\n\nFirst look:\n\n"
        "```{code-cell} ipython3\n:tags: [solution]\n\nprint('the shapes that give it away')\n```\n\n"
        "```{code-cell} ipython3\n:tags: [solution]\n\nanswer = 42\n```\n\n```{solution-end}\n```\n")
    student_edition.write_edition(tmp_path, tmp_path / "out")
    text = (tmp_path / "out" / "09_steps.md").read_text()
    assert "give it away" not in text and "First look" not in text and "42" not in text
    assert "answer = ..." in text


def test_stubs_keep_names_signatures_and_docstrings():
    stub = student_edition.stub_code('import numpy as np\n\ndef f(x, k=2):\n    """Doc."""\n    return x * k\n\n'
                                     "shape = (3, 4)\nprint(shape)\n", "cell")
    namespace = {}
    exec(stub, namespace)
    assert namespace["shape"] is ... and namespace["f"].__doc__ == "Doc."
    with pytest.raises(NotImplementedError):
        namespace["f"](1)
    assert "print" not in stub and "x * k" not in stub


# Chapter 7's exercises work on the comparison its body loads (from the committed results file, in seconds, no
# training), so its student edition runs whole; the other chapters' exercises need only the setup cells.
EXERCISES_READ_THE_BODY = {"07_comparison"}


def _code_outside_exercises(notebook) -> list[str]:
    """The code cells a student edition must leave alone: all but the setup and Exercises cells."""
    graded = {id(cell) for cell in grade.grading_cells(notebook)}
    return [cell.source for cell in notebook.cells if cell.cell_type == "code" and id(cell) not in graded]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_student_notebook_runs_top_to_bottom(edition, chapter, tmp_path):
    """The student edition changes code only in the Exercises section, and that section runs after the setup:
    every cell runs, the checker cells raise ExerciseFailed ('not answered yet'), as tagged.

    The chapter's body is then the instructor's, which the book build (torch) and test_notebooks (Keras) run
    top to bottom; running it a third time here would train every model again for nothing."""
    instructor = jupytext.read(chapter.with_suffix(".ipynb"))
    student = jupytext.read(edition / chapter.with_suffix(".ipynb").name)
    assert _code_outside_exercises(student) == _code_outside_exercises(instructor), (
        f"{chapter.name}: the student edition changed code outside the Exercises section")
    if chapter.stem not in EXERCISES_READ_THE_BODY:
        student.cells = grade.grading_cells(student)
    assert any("exercises.check_" in cell.source for cell in student.cells), f"{chapter.name}: no checker ran"
    notebook = tmp_path / chapter.with_suffix(".ipynb").name
    jupytext.write(student, notebook)
    env = dict(os.environ, COURSEKIT_FRAMEWORK="torch", COURSEKIT_PROFILE="quick")
    if chapter.stem in ONE_FRAMEWORK:  # the checkers of a torch student need no TensorFlow
        env = hide_other_framework(env, "torch")
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                             str(notebook)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
