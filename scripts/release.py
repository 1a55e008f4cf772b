"""Tag a release: ``v<version>`` on the current commit, ``<version>`` being ``__version__``.

The notebooks' Colab set-up cell installs ``seqbook`` from that tag and downloads the tag's
``data/`` folder, so a tag must never move: this command refuses when the tag already names
another commit (bump ``__version__`` and ``pyproject.toml``'s version instead, then run
``python scripts/colab_cell.py`` so the cells name the new tag), when the two versions disagree,
when the notebooks' cells name another version, or when the working tree has uncommitted
changes. Re-running it on the tagged commit changes nothing. Push the tag with
``git push origin v<version>``.

Usage::

    python scripts/release.py            # create the tag (annotated) on HEAD
    python scripts/release.py --check    # say what would happen; change nothing
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import colab_cell  # scripts/colab_cell.py: this script's folder is on sys.path

REPO_ROOT = Path(__file__).resolve().parents[1]


def git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=check
    )


def versions() -> tuple[str, str]:
    """(``__version__`` of src/seqbook/__init__.py, as the Colab cells' tag names it, and
    ``version`` of pyproject.toml)."""
    project = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf8")
    found = re.search(r'^version = "([^"]+)"$', project, re.M)
    if found is None:
        sys.exit("release: pyproject.toml sets no version")
    return colab_cell.release_tag().removeprefix("v"), found.group(1)


def plan() -> tuple[str, str | None]:
    """(tag, None) when the tag should be created; (tag, message) when nothing should be done:
    the message says why (already released here) or the command exits with the refusal."""
    package, project = versions()
    if package != project:
        sys.exit(f"release: __version__ is {package} but pyproject.toml says {project}")
    tag = f"v{package}"
    if colab_cell.main(["--check"]) != 0:  # it lists the stale notebooks
        sys.exit("release: the notebooks' Colab cells are stale; run python scripts/colab_cell.py")
    head = git("rev-parse", "HEAD").stdout.strip()
    existing = git("rev-parse", "--verify", "--quiet", f"{tag}^{{commit}}", check=False)
    if existing.returncode == 0:
        tagged = existing.stdout.strip()
        if tagged != head:
            sys.exit(
                f"release: {tag} already names commit {tagged[:10]}, not HEAD ({head[:10]}); a"
                " release tag never moves: bump the version for a new release"
            )
        return tag, f"{tag} already names HEAD ({head[:10]}): nothing to do"
    if git("status", "--porcelain", "--untracked-files=no").stdout.strip():
        sys.exit("release: the working tree has uncommitted changes; commit them first")
    return tag, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="say what would happen only")
    args = parser.parse_args(argv)
    tag, done = plan()
    if done is not None:
        print(f"release: {done}")
        return 0
    if args.check:
        print(f"release: would tag HEAD as {tag}")
        return 0
    git("tag", "--annotate", tag, "--message", f"seqbook {tag.removeprefix('v')}")
    print(f"release: tagged HEAD as {tag}; publish it with: git push origin {tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
