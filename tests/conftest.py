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
    """The book built as `make book` builds it (quick profile, torch), once per test session."""
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, COURSEKIT_FRAMEWORK="torch", COURSEKIT_PROFILE="quick")
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, env=env, timeout=3600)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    return out / "_build" / "html"


def assert_rejected_showing_the_case(checker, answer) -> None:
    """A checker given a plausible wrong answer fails with a report that shows the hidden input and what came back."""
    from coursekit import exercises

    with pytest.raises(exercises.ExerciseFailed, match="expected") as failure:
        checker(answer)
    assert "input" in str(failure.value) and "got" in str(failure.value)
