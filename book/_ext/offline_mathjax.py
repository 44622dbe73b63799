"""Serve MathJax from the book itself, so its equations render offline.

Sphinx loads MathJax from a CDN by default; a student reading the built book
on a laptop without network, and the course's own browser checks, would see
raw LaTeX.  When the ``django-static-mathjax`` package (MathJax 3, no other
dependencies; pinned in requirements-lock.txt) is installed, this extension
copies MathJax's TeX-to-HTML bundle and its fonts into ``_static/mathjax`` and
points Sphinx at it.  Without the package the CDN default stays.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def _bundle() -> Path | None:
    try:
        import mathjax
    except ImportError:
        return None
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    return es5 if (es5 / "tex-chtml.js").exists() else None


def _install(app) -> None:
    if app.builder.format != "html":
        return
    es5 = _bundle()
    if es5 is None:
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / "tex-chtml.js", target / "tex-chtml.js")
    shutil.copytree(es5 / "output" / "chtml" / "fonts" / "woff-v2", target / "output" / "chtml" / "fonts" / "woff-v2",
                    dirs_exist_ok=True)
    app.config.mathjax_path = "mathjax/tex-chtml.js"


def setup(app):
    app.connect("builder-inited", _install)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
