"""Grading with the checkers (tools/grade.py): instructor answers pass, stubs are missing, wrong answers fail."""

import csv
import sys

import jupytext
import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import grade  # noqa: E402
import student_edition  # noqa: E402

CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_the_instructor_answers_pass_every_checker(chapter):
    """Also proves each exercise needs only the setup cells: grading does not run the whole chapter."""
    grades = grade.grade(chapter)
    assert grades and all(g.result == "pass" for g in grades), [(g.exercise, g.result, g.detail) for g in grades]


@pytest.fixture(scope="module")
def student_chapter_one(tmp_path_factory):
    target = tmp_path_factory.mktemp("student")
    student_edition.write_edition(ROOT / "notebooks", target)
    return target / "01_segmentation_basics.ipynb"


def _answer(notebook_path, function: str, code: str, out):
    notebook = jupytext.read(notebook_path)
    for cell in notebook.cells:
        if cell.cell_type == "code" and f"def {function}(" in cell.source:
            cell.source = code
    jupytext.write(notebook, out)
    return out


def test_stubs_wrong_answers_and_crashes_are_told_apart(student_chapter_one, tmp_path):
    notebook = _answer(student_chapter_one, "one_hot",  # an off-by-one: class k lights plane k + 1
                       "import numpy as np\n\ndef one_hot(mask, num_classes):\n"
                       "    return (mask[..., None] == np.arange(1, num_classes + 1)).astype(np.float32)\n",
                       tmp_path / "wrong.ipynb")
    notebook = _answer(notebook, "class_iou", "def class_iou(target, prediction, cls):\n    return 1 / 0\n", notebook)
    results = {g.exercise: g for g in grade.grade(notebook)}
    assert results["one_hot"].result == "fail" and "hidden case" in results["one_hot"].detail
    assert results["class_iou"].result == "fail" and "raised ZeroDivisionError" in results["class_iou"].detail
    assert results["soft_dice"].result == "missing"
    csv_path = tmp_path / "grades.csv"
    assert grade.main(["grade.py", str(notebook), "--csv", str(csv_path)]) == 0
    rows = list(csv.DictReader(csv_path.open()))
    assert [(r["exercise"], r["result"]) for r in rows] == [("one_hot", "fail"), ("class_iou", "fail"),
                                                            ("soft_dice", "missing"), ("soft_dice_loss", "missing"),
                                                            ("training_step", "missing")]


def test_a_file_that_is_not_a_notebook_is_reported(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    [result] = grade.grade(broken)
    assert result.result == "error" and "broken.ipynb" in result.detail
