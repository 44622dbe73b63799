"""The book builds with zero warnings, and its pages carry executed outputs."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, COURSEKIT_FRAMEWORK="torch", COURSEKIT_PROFILE="quick")
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, env=env, timeout=1800)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    return out / "_build" / "html"


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [c["file"] for c in part["chapters"]]
    return files


def test_every_page_of_the_toc_is_built(built):
    for name in toc_files():
        assert (built / f"{name}.html").exists(), f"{name} was not built"


def test_chapter_one_is_executed_with_figures_math_and_exercises(built):
    html = (built / "notebooks" / "01_segmentation_basics.html").read_text()
    assert re.search(r"epoch +1/\d+ - ", html), "training output missing: the chapter was not executed"
    assert html.count('src="../_images/') >= 7, "figures missing"
    assert "math notranslate" in html, "equations missing"
    assert html.count('class="admonition exercise') >= 4 or html.count("exercise") >= 8
    assert "dropdown" in html and "toggle" in html, "solutions are not hidden behind toggles"
    assert "hidden cases pass" in html
    for noise in ("absl::InitializeLog", "oneDNN", "Traceback"):
        assert noise not in html, f"the chapter shows {noise!r}"


def test_colab_launch_points_at_the_paired_notebook(built):
    html = (built / "notebooks" / "01_segmentation_basics.html").read_text()
    assert "colab.research.google.com/github/" in html
    assert "notebooks/01_segmentation_basics.ipynb" in html
