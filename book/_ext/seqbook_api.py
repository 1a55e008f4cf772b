"""Sphinx extension: link the API reference's docstrings to the book.

``seqbook``'s docstrings name the equations they implement by label, as plain text
(``"Scaled dot-product attention, eq. (eq-attention-sdpa)."``) so that they read well in
``help()``. In the API reference each label becomes a link to the equation (the ``:eq:`` role,
which prints the equation's number), and every documented object that names a label gets a
closing line that links the chapter teaching it.

The label -> chapter map is not written by hand: at start-up the extension reads the book's
notebooks and Markdown pages and records where each display equation ``$$ ... $$ (eq-...)`` is
defined. A docstring that names a label no chapter defines is reported as a warning (so the
``-W`` build fails) instead of rendering a dead link.

Docstrings use Markdown-style single backticks for code (``mask``); reStructuredText would read
those as "interpreted text", so they are turned into inline literals here as well.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

LABEL = r"eq-[a-z0-9]+(?:-[a-z0-9]+)*"
DEFINITION = re.compile(r"\$\$\s*\((" + LABEL + r")\)")  # `$$ (eq-label)` closes a display
IN_PARENS = re.compile(r"\((" + LABEL + r")\)")  # "eq. (eq-attention-sdpa)"
BARE = re.compile(r"(?<![\w`:-])(" + LABEL + r")(?![\w-])")  # "(sublinear tf, eq-text-tfidf)"
# `code` (not ``code``, :role:`x` or a `link`_); "`LSTMCell`s" needs an escaped space in reST
SINGLE_BACKTICKS = re.compile(r"(?<![`:\w])`([^`\n]+)`(?![`_])(\w?)")

EQUATION_CHAPTERS: dict[str, str] = {}  # label -> docname, e.g. "book/03_attention"


def page_text(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf8")


def find_equation_chapters(app: Sphinx) -> None:
    """Map every equation label of the book's chapters to the page that defines it."""
    EQUATION_CHAPTERS.clear()
    book = Path(app.srcdir) / "book"
    pages = sorted(book.glob("*.ipynb")) + sorted(book.glob("*.md"))
    for path in pages:
        docname = path.relative_to(app.srcdir).with_suffix("").as_posix()
        for label in DEFINITION.findall(page_text(path)):
            EQUATION_CHAPTERS.setdefault(label, docname)


def literal_lines(lines: list[str]) -> set[int]:
    """Indices of lines inside reST literal blocks (after a paragraph ending in ``::``)."""
    inside: set[int] = set()
    indent = None  # indentation of the paragraph that opened the block
    for i, line in enumerate(lines):
        stripped = line.strip()
        width = len(line) - len(line.lstrip())
        if indent is not None:
            if not stripped or width > indent:
                inside.add(i)
                continue
            indent = None
        if stripped.endswith("::"):
            indent = width
    return inside


def inline_literal(match: re.Match) -> str:
    code, after = match.groups()
    return f"``{code}``" + (f"\\ {after}" if after else "")


def link_labels(line: str, found: list[str]) -> str:
    def to_role(match: re.Match) -> str:
        found.append(match.group(1))
        return f":eq:`{match.group(1)}`"

    return BARE.sub(to_role, IN_PARENS.sub(to_role, line))


def process_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    literal = literal_lines(lines)
    found: list[str] = []
    for i, line in enumerate(lines):
        if i in literal or line.lstrip().startswith(">>>"):
            continue
        line = SINGLE_BACKTICKS.sub(inline_literal, line)
        lines[i] = link_labels(line, found)
    if not found:
        return
    by_chapter: dict[str, list[str]] = {}
    for label in dict.fromkeys(found):  # first-seen order, no repeats
        chapter = EQUATION_CHAPTERS.get(label)
        if chapter is None:
            logger.warning(
                f"{name}: the docstring names {label}, which no chapter defines",
                type="seqbook",
                subtype="equation",
            )
            continue
        by_chapter.setdefault(chapter, []).append(label)
    if by_chapter:
        parts = [
            ", ".join(f":eq:`{label}`" for label in labels) + f" in :doc:`/{chapter}`"
            for chapter, labels in by_chapter.items()
        ]
        lines.extend(["", "*Taught in the book:* " + "; ".join(parts) + "."])


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("builder-inited", find_equation_chapters)
    app.connect("autodoc-process-docstring", process_docstring)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
