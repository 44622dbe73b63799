"""The built site as a reader's browser shows it: headless Chromium opens every page of the table of contents.

Each page must load without a script error, show every image, keep every internal link
pointing at a page and anchor that exist, render its equations (MathJax served offline),
and open its hidden solutions when their toggle is clicked.  A screenshot of every page
lands in ``_build/screenshots/`` for a person to review.  `make test` installs Debian's
chromium; Playwright drives it.
"""

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from conftest import ROOT
from test_book import toc_files

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "_build" / "screenshots"
# The closed network refuses Chromium's background connections; these flags keep it from trying.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: `make test` installs it (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def pages(browser, built):
    """Every toc page loaded once: its DOM facts, collected by one visit each."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    visited = {}
    for name in toc_files():
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        page.goto((built / f"{name}.html").as_uri(), wait_until="load")
        page.wait_for_function("() => !window.MathJax || !MathJax.startup || MathJax.startup.promise", timeout=30000)
        page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
        visited[name] = {
            "errors": errors,
            "broken_images": page.eval_on_selector_all(
                "img", "els => els.filter(e => !e.complete || e.naturalWidth === 0).map(e => e.getAttribute('src'))"),
            "images": page.eval_on_selector_all("article img", "els => els.length"),
            "links": page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"),
            "math_sources": page.eval_on_selector_all(".math, span.math, div.math", "els => els.length"),
            "math_rendered": page.eval_on_selector_all("mjx-container", "els => els.length"),
            "toggles": _toggles_open_on_click(page),
        }
        page.screenshot(path=str(SCREENSHOTS / f"{name.replace('/', '__')}.png"), full_page=True)
        page.close()
    return visited


def _toggles_open_on_click(page) -> list[tuple[bool, bool]]:
    """For each hidden solution: (hidden before the click, shown after it)."""
    results = []
    for solution in page.query_selector_all(".solution.dropdown"):
        body = solution.query_selector(":scope > :not(.admonition-title)")
        hidden_before = body is not None and not body.is_visible()
        # the chevron button: the title's words are a link to the exercise, which navigates instead
        button = solution.query_selector("button.toggle-button")
        if button is None:
            results.append((hidden_before, False))
            continue
        button.scroll_into_view_if_needed()
        button.click()
        page.wait_for_timeout(150)
        results.append((hidden_before, body is not None and body.is_visible()))
    return results


# The one image a page may fetch from the network (the test runs offline, where it cannot load).
REMOTE_IMAGES = {"https://colab.research.google.com/assets/colab-badge.svg"}


def test_pages_load_without_script_errors_or_missing_images(pages):
    for name, facts in pages.items():
        assert not facts["errors"], f"{name}: script errors {facts['errors'][:3]}"
        remote = {src for src in facts["broken_images"] if src.startswith(("http://", "https://"))}
        assert remote <= REMOTE_IMAGES, f"{name}: images from the network: {sorted(remote - REMOTE_IMAGES)}"
        local = [src for src in facts["broken_images"] if src not in remote]
        assert not local, f"{name}: images that do not load: {local[:5]}"
    chapters = [n for n in pages if n.startswith("notebooks/")]
    assert chapters and all(pages[n]["images"] >= 3 for n in chapters), "a chapter shows fewer than 3 images"


def _ids(path: Path, cache: dict) -> set:
    if path not in cache:
        cache[path] = set(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))
    return cache[path]


def test_internal_links_reach_pages_and_anchors_that_exist(pages, built):
    cache = {}
    for name, facts in pages.items():
        for link in facts["links"]:
            url = urlparse(link)
            if url.scheme != "file":
                continue
            target = Path(unquote(url.path))
            assert target.exists(), f"{name}: link to a missing file {target.relative_to(built)}"
            if url.fragment and target.suffix == ".html":
                anchor = unquote(url.fragment)
                assert anchor in _ids(target, cache), f"{name}: no anchor #{anchor} in {target.name}"


def test_equations_are_rendered(pages):
    with_math = {n: f for n, f in pages.items() if f["math_sources"]}
    assert "notebooks/01_segmentation_basics" in with_math and "book/notation" in with_math
    for name, facts in with_math.items():
        assert facts["math_rendered"] >= facts["math_sources"], (
            f"{name}: {facts['math_sources']} equations, {facts['math_rendered']} rendered by MathJax")


def test_solutions_are_hidden_until_their_toggle_is_clicked(pages):
    chapters = [n for n in pages if n.startswith("notebooks/")]
    for name in chapters:
        toggles = pages[name]["toggles"]
        assert len(toggles) >= 3, f"{name}: {len(toggles)} hidden solutions"
        assert all(hidden for hidden, _ in toggles), f"{name}: a solution is visible before its toggle is clicked"
        assert all(shown for _, shown in toggles), f"{name}: a solution stays hidden after its toggle is clicked"


def test_a_screenshot_of_every_chapter_is_kept_for_review(pages):
    for name in pages:
        shot = SCREENSHOTS / f"{name.replace('/', '__')}.png"
        assert shot.stat().st_size > 20_000, f"{shot} is nearly empty"
