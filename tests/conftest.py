import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # tests draw figures without a screen
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]

# Chapters that run with only their own framework installed (issue: "each chapter runs with only its framework").
# Their notebook runs hide the other framework with tests/hide_framework; the chapters not listed still import
# torch for a side-by-side demo in every framework.
ONE_FRAMEWORK = {"01_segmentation_basics", "02_fcn", "03_segnet", "04_unet", "05_medical_data",
                 "06_medical_evaluation", "07_comparison"}
HIDDEN_BESIDE = {"keras": "torch", "torch": "tensorflow"}  # the framework a run hides


def hide_other_framework(env: dict, framework: str) -> dict:
    """``env`` for a process that sees ``framework`` and not the other one (a kernel inherits it)."""
    return dict(env, COURSEKIT_HIDE=HIDDEN_BESIDE[framework],
                PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "tests" / "hide_framework"),
                                                         env.get("PYTHONPATH")])))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """The book built as `make book` builds it (quick profile, torch), once per test session.

    This build is also the torch run of every chapter: it executes each notebook top to bottom (an error in
    any cell fails it), with TensorFlow hidden as on a machine that has only torch (the chapters of
    ONE_FRAMEWORK must run so; the other executed pages need no framework of their own), and it prints how
    long each notebook took.  test_notebooks runs them under Keras."""
    out = tmp_path_factory.mktemp("book")
    env = hide_other_framework(dict(os.environ, COURSEKIT_FRAMEWORK="torch", COURSEKIT_PROFILE="quick"), "torch")
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, env=env, timeout=3600)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    for name, seconds in execution_seconds(out / "_build" / ".jupyter_cache"):
        print(f"{name} under torch (book build): {seconds:.0f} s")
    return out / "_build" / "html"


def execution_seconds(cache: Path) -> list[tuple[str, float]]:
    """(page, seconds) of every notebook the book build executed, from the build's jupyter-cache."""
    from jupyter_cache import get_cache

    records = get_cache(str(cache)).list_cache_records() if cache.is_dir() else []
    return sorted((Path(r.uri).name, (r.data or {}).get("execution_seconds", float("nan"))) for r in records)


def assert_rejected_showing_the_case(checker, answer) -> None:
    """A checker given a plausible wrong answer fails with a report that shows the hidden input and what came back."""
    from coursekit import exercises

    with pytest.raises(exercises.ExerciseFailed, match="expected") as failure:
        checker(answer)
    assert "input" in str(failure.value) and "got" in str(failure.value)
