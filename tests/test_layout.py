"""The package's import layers, read from the source (every import, at module level or inside a
function): the base layer imports nothing above it, and the exercise checks never import the
grader that runs them (its sandbox copies the checks it needs, not the other way round)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "seqbook"
# where things are, settings, validation, caching, provenance, results files, notebook
# execution: what every
# chapter module may use and what may use no chapter module
BASE = {"runtime", "validate", "cache", "provenance", "data", "results", "nbexec"}


def seqbook_imports(path: Path) -> set[str]:
    """The seqbook modules `path` imports, as dotted names below `seqbook` ("" for the package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "seqbook"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "seqbook":  # from seqbook import x: x may be a module
                found |= {f"seqbook.{a.name}" for a in node.names}
            elif node.module.startswith("seqbook."):
                found.add(node.module)
    return {name.removeprefix("seqbook").removeprefix(".") for name in found}


def test_the_reader_finds_imports_at_every_level(tmp_path):
    source = (
        "import seqbook.data\nfrom seqbook import cache\n\ndef f():\n    from seqbook.x import y\n"
    )
    (tmp_path / "m.py").write_text(source)
    assert seqbook_imports(tmp_path / "m.py") == {"data", "cache", "x"}


@pytest.mark.parametrize("module", sorted(BASE))
def test_the_base_layer_imports_only_itself(module):
    above = {n for n in seqbook_imports(PACKAGE / f"{module}.py") if n.split(".")[0] not in BASE}
    assert above <= {"__version__"}, f"seqbook.{module} imports {sorted(above)} from above it"


def test_no_check_imports_the_grader():
    for path in sorted((PACKAGE / "checks").rglob("*.py")):
        up = {n for n in seqbook_imports(path) if n.split(".")[0] == "grading"}
        assert not up, f"{path.relative_to(PACKAGE)} imports {sorted(up)}: an import back up"


def test_no_notebook_or_page_holds_a_control_character():
    """A backslash sequence written through a non-raw Python string (\\f, \\t, \\r in LaTeX) lands
    as a control character and breaks the page's math; none may be in a notebook or a page."""
    import glob

    import nbformat

    root = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted(glob.glob(str(root / "book" / "**" / "*.ipynb"), recursive=True)) + sorted(
        glob.glob(str(root / "course" / "instructor" / "*.ipynb"))
    ):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if any(ord(ch) < 32 and ch != "\n" for ch in cell.source):
                found.append(f"{Path(path).name} cell {i}")
    for path in sorted(glob.glob(str(root / "book" / "**" / "*.md"), recursive=True)):
        if any(ord(ch) < 32 and ch != "\n" for ch in Path(path).read_text(encoding="utf-8")):
            found.append(Path(path).name)
    assert not found, found
