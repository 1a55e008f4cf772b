"""Where a committed result came from: the code's commit, the machine, the files' digests.

Every results file and model card the book commits records these, so a reader can tell which
code made a number and on what hardware (base layer: any chapter's command may use it).
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

from seqbook.cache import file_digest

# files of a model folder that describe it rather than make it up
NOT_SHIPPED = ("README.md", "card.json", ".gitignore", "checkpoint.pt")


def git_commit() -> str:
    """The commit of the checkout the package runs from ("unknown" outside a git checkout)."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def hardware() -> dict:
    """Where a run ran: CPU model, cores, torch threads, torch and Python versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def portable_path(path: str | Path) -> str:
    """How a committed record names a file or folder it read, without this machine's layout:
    `data/<...>` for what lies under the shipped data folder (`seqbook.data.shipped_data_dir`),
    the path relative to the working directory for what lies below it, else the name alone.
    A results file or card written here must read the same on a reader's machine."""
    from seqbook.data import shipped_data_dir

    path = Path(path).resolve()
    try:
        return (Path("data") / path.relative_to(shipped_data_dir().resolve())).as_posix()
    except (ValueError, FileNotFoundError):
        pass
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.name


def file_digests(directory: str | Path, skip: tuple[str, ...] = NOT_SHIPPED) -> dict[str, str]:
    """sha256 of every file of a model folder (sub-folders included) except `skip` and
    unfinished temporaries (`*.tmp`)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"directory must be an existing folder, got {str(directory)!r}")
    return {
        str(f.relative_to(directory)): file_digest(f)
        for f in sorted(directory.rglob("*"))
        if f.is_file() and f.name not in skip and not f.name.endswith(".tmp")
    }


def card_loading_section(folder: str) -> list[str]:
    """The "Loading" section of a shipped model's README (as lines): plain `transformers` code
    that loads `data/<folder>` offline, in float32, with its tokenizer."""
    return [
        "## Loading",
        "",
        "```python",
        "import torch",
        "from transformers import AlbertModel, AutoTokenizer",
        "",
        f'model = AlbertModel.from_pretrained("data/{folder}", dtype=torch.float32)',
        f'tokenizer = AutoTokenizer.from_pretrained("data/{folder}")',
        "```",
    ]
