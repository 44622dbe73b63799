"""The chapters as files: pairing, clean storage, Colab links, and execution under both frameworks."""

import json
import os
import re
import subprocess
import sys
import time

import jupytext
import pytest
import yaml
from conftest import ONE_FRAMEWORK, ROOT, hide_other_framework

CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# executed appendix pages are notebooks too, paired the same way so that Colab opens them
NOTEBOOKS = CHAPTERS + sorted((ROOT / "book").glob("*.ipynb"))
TEXTS = [nb.with_suffix(".md") for nb in NOTEBOOKS]


def repository_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/")


def test_there_are_chapters_and_each_is_a_pair():
    assert CHAPTERS, "no chapters found"
    for text in TEXTS:
        assert text.exists(), f"{text.with_suffix('.ipynb').name} has no paired .md"
    for md in [*(ROOT / "notebooks").glob("*.md"), *(ROOT / "book").glob("*.md")]:
        if md.read_text().startswith("---\njupytext:"):
            assert md.with_suffix(".ipynb").exists(), f"{md.name} has no paired .ipynb (Colab opens the .ipynb)"
    for nb in CHAPTERS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", nb.stem), f"{nb.name}: chapters are named NN_slug"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ipynb_is_in_sync_with_its_text_and_has_no_outputs(path):
    stored = json.loads(path.read_text())
    assert stored["metadata"]["jupytext"]["formats"] == "ipynb,md:myst"
    for cell in stored["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, f"{path.name} carries outputs"
    from_text = jupytext.read(path.with_suffix(".md"))
    sources = [(c["cell_type"], "".join(c["source"]).strip()) for c in stored["cells"]]
    expected = [(c["cell_type"], c["source"].strip()) for c in from_text["cells"]]
    assert sources == expected, f"{path.name} differs from its .md: run `make sync`"


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: p.name)
def test_colab_badge_and_install_cell_use_the_configured_repository(path):
    text = path.read_text()
    url = repository_url()
    repo = url.removeprefix("https://github.com/")
    relative = path.with_suffix(".ipynb").relative_to(ROOT).as_posix()
    badge = f"https://colab.research.google.com/github/{repo}/blob/main/{relative}"
    assert badge in text, f"{path.name}: no Colab badge pointing at its own .ipynb"
    notebook = jupytext.read(path)
    code = [c["source"] for c in notebook["cells"] if c["cell_type"] == "code"]
    first = code[0]
    assert '"google.colab" in sys.modules' in first and f"coursekit @ git+{url}" in first
    assert "torch" not in first and "tensorflow" not in first, "the setup cell must not install frameworks"
    assert any("coursekit.setup(" in c for c in code[1:3]), "the second code cell calls coursekit.setup()"
    for c in code:
        assert '"cuda"' not in c and "'cuda'" not in c, f"{path.name}: notebooks never name the device"


def test_every_github_link_in_the_book_uses_the_configured_repository():
    url = repository_url()
    for page in [*TEXTS, *(ROOT / "book").glob("*.md"), ROOT / "README.md"]:
        for found in re.findall(r"https://(?:colab\.research\.google\.com/)?github(?:\.com)?/([\w.-]+/[\w.-]+)",
                                page.read_text()):
            assert found.removesuffix(".git") == url.removeprefix("https://github.com/"), f"{page.name}: {found}"


# Under torch every notebook is executed by the book build (conftest.built builds the site as `make book` does,
# COURSEKIT_FRAMEWORK=torch with TensorFlow hidden, and an error in any cell fails it), and the student edition's
# exercises run under torch too; so here each notebook runs under Keras, and `make test` executes every chapter
# once in each framework.  A chapter in conftest.ONE_FRAMEWORK runs with only its framework installed: its Keras
# run here hides torch, the book build hides TensorFlow.
RUNS = [(path, "keras") for path in NOTEBOOKS]


@pytest.mark.parametrize("path, framework", RUNS, ids=lambda v: v.name if hasattr(v, "name") else v)
def test_notebook_runs_top_to_bottom(path, framework, tmp_path):
    """Execute the chapter with nbval (errors fail it; outputs are not compared)."""
    env = dict(os.environ, COURSEKIT_FRAMEWORK=framework, COURSEKIT_PROFILE="quick")
    if path.stem in ONE_FRAMEWORK:
        env = hide_other_framework(env, framework)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", str(path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    print(f"{path.name} under {framework}: {seconds:.0f} s")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
