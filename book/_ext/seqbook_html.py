"""Sphinx extension: the `{cited}` role, and inline scripts that the theme's extensions register
twice dropped.

``{cited}`90.3 %` `` marks a number in the prose as a constant quoted from a paper (the sentence
carries the citation), not one this build measured; it renders as plain text. tests/test_glue.py
accepts a measured-looking number in Markdown only when it is glued or marked this way.

Inline scripts:

sphinx-thebe and sphinx-togglebutton add small inline ``<script>`` blocks from build events that
run twice in a Jupyter Book build, so every page declared ``const THEBE_JS_URL`` twice and the
browser reported a SyntaxError. Identical scripts (same file or body, same attributes) are kept
once, in their first position.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.application import Sphinx


def cited_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """A number quoted from a paper: rendered as it is written."""
    return [nodes.inline(rawtext, text, classes=["cited"])], []


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        # the copy registered from the pickled environment has filename "" instead of None
        filename = getattr(script, "filename", script) or ""
        key = (filename, tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    scripts[:] = unique


def setup(app: Sphinx) -> dict:
    # early: handlers run in priority order until one returns a template name
    app.connect("html-page-context", dedupe_scripts, priority=100)
    app.add_role("cited", cited_role)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
