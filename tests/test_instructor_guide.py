"""The instructor guide's exercise table is the chapters' own, and names checkers that exist."""

import re
import sys

import pytest
from conftest import ROOT

from coursekit import exercises

sys.path.insert(0, str(ROOT / "tools"))
import instructor_guide  # noqa: E402

PAGE = ROOT / "book" / "instructor_guide.md"


def test_the_exercise_table_is_in_sync_with_the_chapters():
    table = instructor_guide.exercises_table(instructor_guide.chapters())
    assert table in PAGE.read_text(), "book/instructor_guide.md is stale: run `make sync`"


def test_the_page_is_in_sync_with_the_chapters_and_the_benchmark_results():
    assert instructor_guide.page_text(PAGE) == PAGE.read_text(), "book/instructor_guide.md is stale: run `make sync`"


def _result(date, rows, gpu=None, profile="quick"):
    return {"date": date, "machine": {"cpu": "Test CPU", "cores": 2, "gpu": gpu}, "threads": 0,
            "load_average": {"start": [0.5, 0.4, 0.3]},
            "sections": {"notebooks": {"status": "measured", "profile": profile, "rows": rows}}}


def test_the_time_table_takes_the_newest_cpu_quick_run_and_shows_failures(tmp_path):
    import json

    chapters = instructor_guide.chapters()[:2]
    ok = [{"notebook": f"notebooks/{c.stem}.ipynb", "framework": fw, "seconds": 90.0, "status": "ok"}
          for c in chapters for fw in ("torch", "keras")]
    newer = [dict(row, seconds=30.0) for row in ok]
    newer[-1]["status"] = "error: timed out"
    for name, result in {"old.json": _result("2026-01-01", ok), "new.json": _result("2026-02-01", newer),
                         "gpu.json": _result("2026-03-01", ok, gpu={"name": "T4"}),
                         "full.json": _result("2026-03-02", ok, profile="full")}.items():
        (tmp_path / name).write_text(json.dumps(result))
    (tmp_path / "compare-test-quick.json").write_text(json.dumps({"rows": []}))  # chapter 7's, not a suite run
    result = instructor_guide.notebook_timings(tmp_path)
    assert result["date"] == "2026-02-01"
    table = instructor_guide.times_table(result, chapters)
    assert table.count("0.5 min") == 3 and "failed (error: timed out)" in table
    assert "| **all chapters** | **1.0 min** | – |" in table and "Test CPU, 2 cores" in table
    assert "Not measured yet" in instructor_guide.times_table(None, chapters)
    (tmp_path / "broken.json").write_text("{}")
    with pytest.raises(ValueError, match="broken.json: not a benchmark results file"):
        instructor_guide.notebook_timings(tmp_path)


def test_every_chapter_has_exercises_and_every_checker_exists():
    for chapter in instructor_guide.chapters():
        rows = instructor_guide.exercises_of(chapter.read_text())
        assert len(rows) >= 4, f"{chapter.name}: {len(rows)} exercises, the course promises at least four"
        assert any(checker != "discussion" for _, checker in rows), f"{chapter.name}: no checked exercise"
        for _, checker in rows:
            for name in re.findall(r"`(check_\w+)`", checker):
                assert name in exercises.__all__, f"{chapter.name}: {name} is not in coursekit.exercises"


def test_exercises_are_read_in_order_with_their_checkers():
    text = ("```{exercise} First\n:label: a\n```\n\n```{code-cell}\nexercises.check_one(f)\n```\n\n"
            "```{exercise} Second\n:label: b\n```\n")
    assert instructor_guide.exercises_of(text) == [("First", "`check_one`"), ("Second", "discussion")]


def test_the_guide_and_the_performance_page_skip_the_same_other_experiments(tmp_path):
    from benchmarks import page

    assert instructor_guide.OTHER_EXPERIMENTS == page.OTHER_EXPERIMENTS
    for prefix in page.OTHER_EXPERIMENTS:
        (tmp_path / f"{prefix}cpu-test.json").write_text('{"not": "a suite run"}')
    assert page.results_files(tmp_path) == [] and instructor_guide.notebook_timings(tmp_path) is None
