"""The Colab path, offline: a Python that already has torch and TensorFlow installs coursekit with the
chapters' own install command, keeps its frameworks as they are, and runs a chapter.

Colab comes with torch, TensorFlow, NumPy, Matplotlib and Jupyter installed.  Here a fresh virtual
environment sees the project's installed packages (all but coursekit) through a ``.pth`` file, as
Colab's Python sees its preinstalled stack; the install command of the chapters' first cell then
runs with the checkout in place of the GitHub URL.
"""

import json
import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import jupytext
import pytest
from conftest import ROOT

CHAPTER = ROOT / "notebooks" / "01_segmentation_basics.md"


def _install_command() -> tuple[str, str]:
    """The pip options and the requirement of the chapter's Colab cell."""
    first = next(c["source"] for c in jupytext.read(CHAPTER).cells if c["cell_type"] == "code")
    match = re.search(r'%pip install (?P<options>[-\w ]*)"(?P<requirement>coursekit @ git\+[^"]+)"', first)
    assert match, f"{CHAPTER.name}: the first cell has no `%pip install ... \"coursekit @ git+URL\"`"
    return match["options"].split(), match["requirement"]


def _preinstalled_view(tmp: Path) -> Path:
    """A folder of links to every installed package of this Python except coursekit itself."""
    view = tmp / "preinstalled"
    view.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "coursekit" not in entry.name.lower():
            (view / entry.name).symlink_to(entry)
    return view


@pytest.fixture(scope="module")
def colab_like_python(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("colab")
    venv.create(tmp / "env", with_pip=True, upgrade_deps=True)  # Colab's pip is recent; the bundled one is not
    python = tmp / "env" / "bin" / "python"
    purelib = subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                      text=True).strip()
    (Path(purelib) / "preinstalled.pth").write_text(str(_preinstalled_view(tmp)) + "\n")
    return python


def _versions(python: Path) -> dict:
    code = ("import json, importlib.metadata as m; "
            "print(json.dumps({p: m.version(p) for p in ('torch', 'tensorflow', 'numpy', 'matplotlib')}))")
    return json.loads(subprocess.check_output([python, "-c", code], text=True))


def test_the_install_cell_adds_coursekit_and_keeps_the_frameworks(colab_like_python, tmp_path):
    python = colab_like_python
    check = subprocess.run([python, "-c", "import coursekit"], capture_output=True, text=True)
    assert check.returncode != 0, "coursekit is importable before the install: the test would prove nothing"
    before = _versions(python)
    options, requirement = _install_command()
    source = f"git+file://{ROOT}" if (ROOT / ".git").exists() else str(ROOT)
    requirement = re.sub(r"git\+\S+", source, requirement)
    result = subprocess.run([python, "-m", "pip", "install", *options, requirement], capture_output=True, text=True,
                            cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _versions(python) == before, "installing coursekit changed the preinstalled frameworks"
    purelib = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    added = {p.name.split("-")[0].lower() for p in purelib.glob("*.dist-info")}
    assert added <= {"coursekit", "pip", "setuptools"}, f"pip installed more than coursekit: {sorted(added)}"
    located = subprocess.check_output([python, "-c", "import coursekit; print(coursekit.__file__)"], text=True)
    assert str(purelib) in located, f"coursekit was not installed into the environment: {located}"


def test_a_chapter_runs_on_the_colab_like_python(colab_like_python, tmp_path):
    python = colab_like_python
    if subprocess.run([python, "-c", "import coursekit"]).returncode != 0:
        pytest.skip("coursekit did not install (see the test above)")
    env = dict(os.environ, COURSEKIT_FRAMEWORK="torch", COURSEKIT_PROFILE="quick")
    result = subprocess.run([python, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                             str(CHAPTER.with_suffix(".ipynb"))], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def test_the_colab_cell_installs_nothing_outside_colab():
    first = next(c["source"] for c in jupytext.read(CHAPTER).cells if c["cell_type"] == "code")
    assert '"google.colab" in sys.modules' in first and 'find_spec("coursekit") is None' in first
    assert sys.modules.get("google.colab") is None
