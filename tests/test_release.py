"""scripts/release.py on a throwaway repository: it tags HEAD as v<version>, re-running changes
nothing, and it refuses to move a tag, to tag a dirty tree or disagreeing versions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def release(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "release.py"), *args],
        cwd=repo,
        capture_output=True,
        text=True,
    )


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "src" / "seqbook").mkdir(parents=True)
    (repo / "book").mkdir()
    for name in ("release.py", "colab_cell.py"):
        shutil.copy(REPO_ROOT / "scripts" / name, repo / "scripts" / name)
    shutil.copy(REPO_ROOT / "_config.yml", repo / "_config.yml")
    (repo / "src" / "seqbook" / "__init__.py").write_text('__version__ = "1.2.3"\n')
    (repo / "pyproject.toml").write_text('[project]\nname = "seqbook"\nversion = "1.2.3"\n')
    git(repo, "init", "--quiet")
    git(repo, "config", "user.name", "t")  # an annotated tag needs a tagger
    git(repo, "config", "user.email", "t@t")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "one")
    return repo


def commit(repo: Path, message: str) -> None:
    git(repo, "commit", "--quiet", "-am", message)


def test_release_tags_head_once_and_never_moves_the_tag(repo):
    assert "would tag HEAD as v1.2.3" in release(repo, "--check").stdout
    assert git(repo, "tag") == ""  # --check changes nothing
    first = release(repo)
    assert first.returncode == 0 and "tagged HEAD as v1.2.3" in first.stdout, first.stderr
    head = git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "v1.2.3^{commit}") == head
    again = release(repo)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    (repo / "book" / "notes.md").write_text("more\n")
    git(repo, "add", "book/notes.md")
    commit(repo, "two")
    moved = release(repo)
    assert moved.returncode == 1 and "never moves" in moved.stderr
    assert git(repo, "rev-parse", "v1.2.3^{commit}") == head  # the tag stayed where it was


def test_release_refuses_disagreeing_versions_and_a_dirty_tree(repo):
    (repo / "pyproject.toml").write_text('[project]\nname = "seqbook"\nversion = "1.2.4"\n')
    out = release(repo)
    assert out.returncode == 1 and "pyproject.toml says 1.2.4" in out.stderr
    commit(repo, "bump one of two")
    (repo / "src" / "seqbook" / "__init__.py").write_text('__version__ = "1.2.4"\n')
    out = release(repo)  # versions agree now, but the change is not committed
    assert out.returncode == 1 and "uncommitted changes" in out.stderr
    assert git(repo, "tag") == ""
