"""Give every page each of its scripts once.

Jupyter Book 1 makes Sphinx emit ``env-before-read-docs`` more than once, and
sphinx-thebe adds its inline configuration each time; the page then declares
``const THEBE_JS_URL`` twice and the browser stops that script with an error
(the course's browser test, tests/test_site.py, found it).  This extension drops
repeated script entries from each page's context, keeping the first.
"""

from __future__ import annotations


def _key(script) -> tuple:
    attributes = tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items()))
    # an inline script arrives once with filename None and once with "": the same script
    return getattr(script, "filename", script) or "", attributes


def _drop_repeats(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _drop_repeats, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
