"""Numbers in the prose come from the run: every measured-looking number in a chapter's Markdown
is glued from a code cell (myst-nb `glue`, via `seqbook.viz.glue`) or marked as a constant quoted
from a paper with the `{cited}` role. The rules here are deliberately about *shapes* of numbers
that runs produce: percentages, durations, decimals, counts with thousands separators, "12k"/
"1.2 M" sizes and four-digit counts of reviews/steps/tokens. Maths (`$...$`), code spans and
role contents are not prose and are skipped."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if "_build" not in p.parts)
PAGES = sorted(
    p
    for p in (ROOT / "book").rglob("*.md")
    if "_build" not in p.parts and "api" not in p.relative_to(ROOT / "book").parts
)

# prose that is not prose: maths, code, roles with their argument, links' targets, comments
_NOT_PROSE = [
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"\$[^$\n]+\$"),
    re.compile(r"```.*?```", re.S),
    re.compile(r"`[^`\n]*`"),
    re.compile(r"\]\([^)]*\)"),  # a link's target
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"^\s*:[a-z-]+:.*$", re.M),  # directive options such as :width: 80%
    re.compile(r"\b(?:Python|python|torch|transformers|version|v)\s*\d+(?:\.\d+)+"),  # versions
]
_ROLE = re.compile(r"\{[a-z:-]+\}`[^`]*`")
_MEASURED = [
    ("percentage", re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?%")),
    (
        "duration",
        re.compile(
            r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|s|sec|secs|seconds|min|mins|minutes|h|hours)\b"
        ),
    ),
    ("decimal", re.compile(r"(?<![\w.])(?:0\.\d+|\d+\.\d{2,})(?![\w.]*\.\d)")),
    ("thousands", re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?![\d])")),
    ("size", re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:k|K|M)\b(?!\w)")),
    (
        "count",
        re.compile(
            r"(?<![\w.,])(?!(?:19|20)\d\d\b)\d{4,}\s+(?:reviews|steps|tokens|documents|"
            r"sentences|pairs|words|parameters|examples)\b"
        ),
    ),
]


def markdown_cells(path: Path) -> list[tuple[str, str]]:
    if path.suffix == ".md":
        return [("page", path.read_text())]
    cells = json.loads(path.read_text())["cells"]
    return [
        (f"cell {i}", "".join(c["source"]))
        for i, c in enumerate(cells)
        if c["cell_type"] == "markdown"
    ]


def code_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def measured_numbers(text: str) -> list[tuple[str, str]]:
    """(rule, match) for every measured-looking number in the prose of `text`."""
    for pattern in _NOT_PROSE:
        text = pattern.sub(" ", text)
    text = _ROLE.sub(" ", text)
    return [(rule, m.group(0)) for rule, rx in _MEASURED for m in rx.finditer(text)]


def glued_keys(text: str) -> list[str]:
    return re.findall(r"\{glue(?::[a-z]+)?\}`((?:[^`:]+::)?[^`:]+)(?::[^`]*)?`", text)


def test_the_rules_catch_measured_numbers_and_spare_the_rest():
    caught = measured_numbers(
        "It reached 88.8 % in 95 s (test accuracy 0.888) on 19,998 reviews, 1.2 M parameters, "
        "after 3000 steps and a loss of 6.35"
    )
    assert [m for _, m in caught] == [
        "88.8 %",
        "95 s",
        "0.888",
        "6.35",
        "19,998",
        "1.2 M",
        "3000 steps",
    ]
    spared = measured_numbers(
        "Chapter 3, eq. (3.1), 2 layers, $p = 0.15$, `lr=2e-3`, {cited}`90.3 %`, "
        "{glue:text}`ch5_acc`, Lan et al. 2020 and {cite:p}`lan2020albert`, torch 2.13.0, "
        "[link](https://example.org/0.123), 128 tokens, Python 3.11"
    )
    assert spared == []


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES, ids=lambda p: p.name)
def test_prose_numbers_are_glued_or_cited(path):
    offences = [
        f"{where}: {rule} {match!r}"
        for where, text in markdown_cells(path)
        for rule, match in measured_numbers(text)
    ]
    assert not offences, "glue these (seqbook.viz.glue) or mark them {cited}:\n" + "\n".join(
        offences
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glued_key_is_glued_by_the_notebook(path):
    code = code_source(path)
    produced = set(re.findall(r"\bglue\(\s*[\"']([a-z0-9_]+)[\"']", code))
    if "glue_runtime()" in code:
        produced.add("runtime")
    used = {k for _, text in markdown_cells(path) for k in glued_keys(text) if "::" not in k}
    assert used <= produced, f"glued in prose but never by a code cell: {sorted(used - produced)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runtime_header_is_measured_by_the_last_cell(path):
    cells = json.loads(path.read_text())["cells"]
    assert "{glue:text}`runtime`" in "".join(cells[0]["source"]), "glue the runtime header"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "glue_runtime()" in "".join(code[-1]["source"]), "the last code cell glues the runtime"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_glue_only_from_existing_notebooks(path):
    for key in glued_keys(path.read_text()):
        doc, _, name = key.rpartition("::")
        assert doc, f"{path.name} is not executed: glue {name!r} as 'notebook.ipynb::{name}'"
        notebook = (path.parent / doc).resolve()
        assert notebook.is_file(), f"{path.name} glues from a missing notebook {doc}"
        code = code_source(notebook)
        assert f'"{name}"' in code or (name == "runtime" and "glue_runtime()" in code)
