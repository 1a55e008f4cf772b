"""Where a committed result came from: the code's commit, the machine, the files' digests, and
the one format of the book's results files.

Every results file and model card the book commits records these, so a reader can tell which
code made a number and on what hardware (base layer: any chapter's command may use it).

A results file (`data/results/*.json`) is one JSON object of schema `RESULTS_SCHEMA`:
``{"schema": 1, "provenance": {...}, "rows": [...]}``. The provenance names at least the
`command` that last wrote it and that command's `commit` (and, for files that several commands
extend, their `invocations`); each row is one run or one measured figure, as a flat object.
`read_results`, `write_results` and `update_results` are the only readers and writers.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

from seqbook.cache import file_digest, read_json, write_json

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


# ------------------------------------------------------------------------------ results files
RESULTS_SCHEMA = 1
RESULTS_KEYS = ("schema", "provenance", "rows")


def check_results(data: object, where: str | Path = "results") -> dict:
    """`data` if it is a results file of schema `RESULTS_SCHEMA`, else a ValueError naming
    `where` and what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(
            f"{where} must hold a JSON object (a results file), got {type(data).__name__}"
        )
    if data.get("schema") != RESULTS_SCHEMA or set(data) != set(RESULTS_KEYS):
        raise ValueError(
            f"{where} must be a results file of schema {RESULTS_SCHEMA} with exactly the keys "
            f"{list(RESULTS_KEYS)}, got schema {data.get('schema')!r} and keys {sorted(data)}"
        )
    prov, rows = data["provenance"], data["rows"]
    if not isinstance(prov, dict):
        raise ValueError(f"{where}: provenance must be an object, got {type(prov).__name__}")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{where}: rows must be a list of objects, got {type(rows).__name__}")
    if rows:
        for field in ("command", "commit"):
            if not isinstance(prov.get(field), str) or not prov[field]:
                raise ValueError(
                    f"{where}: a file with rows must name the {field} that wrote them in its "
                    f"provenance, got {prov.get(field)!r}"
                )
    invocations = prov.get("invocations", [])
    if not isinstance(invocations, list) or not all(isinstance(i, str) for i in invocations):
        raise ValueError(
            f"{where}: provenance.invocations must be a list of str, got {invocations!r}"
        )
    return data


def new_results(provenance: dict | None = None, rows: list | None = None) -> dict:
    """A results file (checked): `provenance` and `rows`, empty by default."""
    data = {
        "schema": RESULTS_SCHEMA,
        "provenance": dict(provenance or {}),
        "rows": list(rows or []),
    }
    return check_results(data, "new_results(...)")


def read_results(path: str | Path) -> dict:
    """The results file at `path`, checked (`check_results`); an empty one if it is missing."""
    path = Path(path)
    return check_results(read_json(path), path) if path.is_file() else new_results()


def write_results(path: str | Path, data: dict) -> Path:
    """Check `data` and write it to `path` atomically."""
    return write_json(path, check_results(data, path))


def update_results(path: str | Path, change) -> dict:
    """Read the results file, apply `change(results)`, check and write it back, all under an
    exclusive lock (`path` + ".lock", removed by nobody: it holds nothing), so commands running
    at the same time add their rows to one file without losing each other's. Returns the
    file's new content."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = read_results(path)
        change(results)
        write_results(path, results)
    return results


def merge_provenance(stored: dict, ours: dict) -> None:
    """Merge this command's provenance `ours` into the file's `stored` content: rows written
    before rows carried their commit get the file's previous commit, this command's invocations
    are appended, and the seconds are summed over the rows."""
    for old in stored["rows"]:
        if "key" in old and "commit" not in old and stored["provenance"].get("commit"):
            old["commit"] = stored["provenance"]["commit"]
    known = stored["provenance"].get("invocations", [])
    stored["provenance"] |= ours | {
        "invocations": known + [i for i in ours.get("invocations", []) if i not in known]
    }
    stored["provenance"]["seconds"] = round(
        sum(r.get("seconds", 0) for r in stored["rows"])
        + stored["provenance"].get("extra_seconds", 0),
        1,
    )
