"""Where the solutions live, and the student copies made from them.

The instructor's notebooks, with their solutions and executed outputs, are the sources:
`COURSE/instructor/*.ipynb` of a course folder (the book's own is `course/` of the checkout,
outside the book's table of contents and excluded from its build; an instructor's private copy
can live anywhere, beside its `grader/references.py`). Every cell that only the instructor may
see is tagged `solution` and starts with `MARKER`.
`student_build` writes copies without those cells and without outputs (what a course hands out);
`publish` writes the same copies (for the book's own course into `book/assignments/`) and
executes them there, so that the
public book shows each assignment with its stubs and its "not implemented yet" checks, and no
solution. A test keeps the committed public copies equal to a fresh build, so they cannot drift.
"""

from __future__ import annotations

from pathlib import Path

SOLUTION_TAG = "solution"
MARKER = "SOLUTION (instructor copy only)"
INSTRUCTOR_DIR = Path("course") / "instructor"  # the book's own course, from the checkout's root
PUBLIC_DIR = Path("book") / "assignments"


def _is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def strip(nb):
    """A copy of `nb` without solution cells, outputs, execution counts or saved widget state."""
    import copy

    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if not _is_solution(c)]
    for cell in out.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    out.metadata.pop("widgets", None)
    leaked = [c.source[:60] for c in out.cells if MARKER in c.source]
    if leaked:
        raise RuntimeError(f"a cell carries the solution marker but not the tag: {leaked}")
    return out


def student_build(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """Write each notebook to `out_dir` without its solution cells and outputs.

    Refuses to write into a folder that holds one of the sources (a build must never replace
    the instructor's copy)."""
    import nbformat

    if not notebooks:
        raise ValueError("notebooks must name at least one .ipynb file, got none")
    out_dir = Path(out_dir)
    sources = [Path(p).resolve() for p in notebooks]
    target_dir = out_dir.resolve()
    for src in sources:
        if src.parent == target_dir or src.parent in target_dir.parents:
            raise ValueError(
                f"out_dir must not be the folder of a source notebook (or inside it): {out_dir} "
                f"holds {src.name}; write the student copies somewhere else"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sources:
        nb = nbformat.read(src, as_version=4)
        target = out_dir / src.name
        nbformat.write(strip(nb), target)
        written.append(target)
    return written


def publish(
    instructor_dir: Path = INSTRUCTOR_DIR, public_dir: Path = PUBLIC_DIR, execute: bool = True
) -> list[Path]:
    """Rewrite `public_dir`'s assignments from the instructor's sources, executed if `execute`."""
    import nbformat
    from nbclient import NotebookClient

    from seqbook import nbexec

    nbexec.install()  # no whole-timeout stall after a widget cell on a busy machine
    notebooks = sorted(Path(instructor_dir).glob("*.ipynb"))
    written = student_build(notebooks, public_dir)
    if execute:
        for path in written:
            nb = nbformat.read(path, as_version=4)
            NotebookClient(
                nb, timeout=300, resources={"metadata": {"path": str(path.parent)}}
            ).execute()
            for cell in nb.cells:
                cell.metadata.pop("execution", None)
            nbformat.write(nb, path)
    return written
