"""Caches that cannot go stale and files that cannot be half-written.

Every derived file the book keeps (a split, a corpus, features, a trained run, the results
table, a checkpoint) is written through `atomic_path`: the bytes go to a temporary file in the
same folder, which is renamed over the target only once it is complete, so a killed run leaves
either the old file or the new one, never a mixture. Whatever produced a cached value is
summarised by `digest`, and a cache whose stored digest differs is recomputed, never reused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch


def _canonical(obj: object) -> object:
    """A JSON-able form of `obj` in which equal settings give equal text."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__type__": type(obj).__name__, **_canonical(dataclasses.asdict(obj))}
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj != obj:  # NaN
        return "nan"
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(
        "digest takes dicts, lists, tuples, dataclasses, paths, str, numbers, bool or None; "
        f"got {type(obj).__name__}"
    )


def digest(obj: object, length: int = 16) -> str:
    """SHA-256 (first `length` hex digits) of the canonical JSON of `obj`: the cache key of
    whatever settings, data fingerprints and code versions produced a value."""
    text = json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read in blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path` (atomic on one
    file system), on any error delete it and leave `path` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, obj: object) -> Path:
    """Write `obj` as indented JSON to `path` atomically; return the path."""
    return write_text(path, json.dumps(obj, indent=1) + "\n")


def read_json(path: str | Path) -> object:
    """Read a JSON file; a truncated or corrupt one raises ValueError naming the file to delete."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e.msg}); delete it and rerun") from e


def torch_save(obj: object, path: str | Path) -> Path:
    """`torch.save` to `path` atomically; return the path."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def torch_load(path: str | Path, weights_only: bool = False) -> object:
    """`torch.load` on the CPU; a truncated or corrupt file raises ValueError naming it."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"{path} could not be read ({e}); delete it and rerun") from e


def keyed(directory: str | Path, key: str) -> bool:
    """True when `directory/KEY` records `key`: a cache made by the same settings."""
    marker = Path(directory) / "KEY"
    return marker.is_file() and marker.read_text().strip() == key


def mark_keyed(directory: str | Path, key: str) -> None:
    """Record `key` as what produced `directory` (write it last, after the contents)."""
    write_text(Path(directory) / "KEY", key + "\n")
