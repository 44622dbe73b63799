"""The book builds with zero warnings, and its pages carry executed outputs."""

import re

import yaml
from conftest import ROOT


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


def test_no_page_shows_the_noise_of_its_libraries(built):
    """Executed cells keep only what the reader should see: no framework start-up logs, no warnings of imports."""
    for name in toc_files():
        html = (built / f"{name}.html").read_text()
        for noise in ("absl::InitializeLog", "oneDNN", "Traceback", "TqdmWarning", "IProgress not found"):
            assert noise not in html, f"{name} shows {noise!r}"


COLAB = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/main/([^\"'<>\s)]+)")


def test_every_colab_link_opens_an_ipynb_of_the_tree(built):
    """The badge in each chapter and the theme's launch button both open the page's own .ipynb."""
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].removeprefix("https://github.com/")
    for name in toc_files():
        html = (built / f"{name}.html").read_text()
        links = COLAB.findall(html)
        if name.startswith("notebooks/"):
            assert {path for _, path in links} == {f"{name}.ipynb"}, f"{name}: Colab links {links}"
            assert len(links) >= 2, f"{name}: expected the badge and the launch button, found {links}"
        for found_repo, path in links:
            assert found_repo == repo, f"{name}: Colab link to another repository: {found_repo}"
            assert path.endswith(".ipynb") and (ROOT / path).is_file(), f"{name}: Colab opens {path}, not in the tree"
