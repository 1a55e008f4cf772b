"""Caches that cannot go stale and files that cannot be half-written.

Every derived file the book keeps (a split, a corpus, features, a trained run, the results
table, a checkpoint) is written through `atomic_path`: the bytes go to a temporary file in the
same folder, which is renamed over the target only once it is complete, so a killed run leaves
either the old file or the new one, never a mixture. Every cache goes through one function,
`load_or_compute`: a folder keyed by a digest of what produced its content (settings, the
digests of the data and files read, a code revision), with one completion marker
(`CACHE.json`); a folder made from anything else is recomputed or refused, never served.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import torch

T = TypeVar("T")


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


# ----------------------------------------------------------------------------- the cache policy

MARKER = "CACHE.json"  # the one completion marker: what the folder's content was made from
_USAGE = {"loaded": 0, "computed": 0}  # this process's calls of load_or_compute, by outcome


def usage() -> dict[str, int]:
    """How many values `load_or_compute` has loaded and computed in this process so far (a
    chapter's runtime says which, since a warm cache makes it quicker)."""
    return dict(_USAGE)


def _leftovers(folder: Path) -> list[Path]:
    """Temporaries a killed `atomic_path` left behind (`.NAME.XXXX.tmp`)."""
    return [p for p in folder.glob(".*.tmp") if p.is_file()]


def cache_state(folder: str | Path, key: object) -> str:
    """What `folder` holds for `key`: "missing" (no folder, or an empty one), "complete" or
    "started" (made from this key; "started" = interrupted, to be resumed), "foreign" (made from
    another key, by older code, or by anything that wrote no marker)."""
    folder = Path(folder)
    if not folder.is_dir() or not any(p for p in folder.iterdir() if p not in _leftovers(folder)):
        return "missing"
    marker = folder / MARKER
    if not marker.is_file():
        return "foreign"
    stored = read_json(marker)
    if not isinstance(stored, dict) or stored.get("key") != digest(key):
        return "foreign"
    return "complete" if stored.get("complete") else "started"


def load_or_compute(
    folder: str | Path,
    key: object,
    compute: Callable[[Path], T],
    load: Callable[[Path], T],
    owned: bool = True,
) -> tuple[T, bool]:
    """The book's one cache policy: the value kept in `folder`, made from `key`.

    `key` describes everything the value depends on: the settings, the digests of the data and
    files it reads, and a code revision where the result depends on code (`digest` makes the
    folder's key of it). The folder's marker, `CACHE.json`, records that key and whether the
    value is complete; it is written before `compute(folder)` runs (as "started") and after it
    returns (as "complete"), each time atomically, so a killed run never looks finished.

    - complete for this key: `load(folder)` is returned, with True;
    - started for this key (an interrupted run): `compute(folder)` runs again and may resume
      from what it left there;
    - missing: computed;
    - made from another key or by anything else: an `owned` folder (one whose name the package
      derived from the key, under `seqbook.data.cache_dir()`) is emptied and recomputed; a folder
      the caller named is refused with a message, never served and never deleted.

    Temporaries that a killed write left behind are removed before computing. Returns
    (value, loaded).
    """
    import shutil

    folder = Path(folder)
    state = cache_state(folder, key)
    if state == "complete":
        value = load(folder)
        _USAGE["loaded"] += 1
        return value, True
    if state == "foreign":
        marker = folder / MARKER
        made_from = read_json(marker).get("what") if marker.is_file() else None
        if not owned:
            raise ValueError(
                f"{folder} holds a result made from other settings, data or code"
                f"{f' ({made_from})' if made_from else ' (it has no ' + MARKER + ')'}; "
                "it is not reused: choose another folder or delete this one"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for tmp in _leftovers(folder):
        tmp.unlink(missing_ok=True)
    what = _canonical(key)
    write_json(folder / MARKER, {"key": digest(key), "complete": False, "what": what})
    started = time.perf_counter()
    value = compute(folder)
    seconds = round(time.perf_counter() - started, 1)
    done = {"key": digest(key), "complete": True, "what": what, "seconds": seconds}
    write_json(folder / MARKER, done)
    _USAGE["computed"] += 1
    return value, False


def cached_folder(kind: str, key: object) -> Path:
    """The folder `load_or_compute` owns for `key` under `seqbook.data.cache_dir()/kind/`."""
    from seqbook.data import cache_dir

    return cache_dir() / kind / digest(key)


# what a label shows of a key, in this order, where the key has it (at any depth)
_LABEL_FIELDS = (
    "name",
    "encoder",
    "head",
    "random_init",
    "freeze_encoder",
    "strategy",
    "train_subset",
    "train_reviews",
    "seed",
)


def _find(obj: object, field: str) -> object:
    if isinstance(obj, dict):
        if field in obj:
            return obj[field]
        for value in obj.values():
            found = _find(value, field)
            if found is not None:
                return found
    return None


def report(root: str | Path) -> list[dict]:
    """Every value `load_or_compute` kept under `root`, oldest first: its kind (the folder it
    sits in), a short label read from its key, whether it completed and the seconds its compute
    took. CI prints this for the cache its test pass started empty: the runs listed there were
    trained again under that pass's kernels, none was loaded."""
    rows = []
    for marker in sorted(Path(root).rglob(MARKER)):
        stored = read_json(marker)
        if not isinstance(stored, dict):
            raise ValueError(f"{marker} is not a cache marker (expected a JSON object)")
        what = stored.get("what")
        label = ", ".join(
            f"{f}={v}" for f in _LABEL_FIELDS if (v := _find(what, f)) is not None
        ) or (", ".join(what) if isinstance(what, dict) else str(what))
        rows.append(
            {
                "kind": marker.parent.parent.name,
                "label": label,
                "complete": bool(stored.get("complete")),
                "seconds": stored.get("seconds"),
                "finished": marker.stat().st_mtime,
            }
        )
    return sorted(rows, key=lambda r: r["finished"])


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m seqbook.cache", description="List what a cache folder holds."
    )
    parser.add_argument("root", type=Path, help="a cache folder (seqbook.data.cache_dir())")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"root must be a folder, got {str(args.root)!r}")
    rows = report(args.root)
    total = sum(r["seconds"] or 0 for r in rows)
    print(f"{len(rows)} cached values under {args.root}, {total:.0f} s of compute recorded:")
    for r in rows:
        if not r["complete"]:
            took = "interrupted"
        else:
            took = "? s" if r["seconds"] is None else f"{r['seconds']:.1f} s"
        print(f"  {took:>11}  {r['kind']}: {r['label']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
