"""The book's results file, and the bands that trained figures are checked against.

Chapters record headline test metrics, later chapters read them. Rows are keyed by
(profile, chapter, model) so fast and full runs never mix, and a chapter records all its rows
at once: rerunning it replaces every row it wrote before, so no stale row survives a change of
models.

A trained figure (an accuracy, a loss) depends on the machine's floating-point path, so the
book checks it against a band (`check_band`) rather than printing it for an exact comparison.
"""

from __future__ import annotations

import math
import numbers
import re
from pathlib import Path

import pandas as pd

from seqbook.cache import read_json, write_json
from seqbook.data import cache_dir
from seqbook.runtime import profile
from seqbook.validate import describe

CHAPTER = re.compile(r"^\d\d[a-z]?_[a-z0-9_]+$")  # a notebook's stem: "05_bilstm", "07b_..."


def results_path() -> Path:
    return cache_dir() / "results.json"


def _legacy_stem(label: str) -> str:
    """The stem an old free-text chapter label stands for: "01 text as tensors" ->
    "01_text_as_tensors", so recording under the stem replaces the rows of the old label."""
    return re.sub(r"[^a-z0-9]+", "_", str(label).lower()).strip("_")


def _check_metrics(model: str, metrics: object) -> dict[str, float]:
    """The metrics as plain numbers (a NumPy float is one; a bool or a NaN is not)."""
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError(f"metrics of {model!r} must be a non-empty dict, got {metrics!r}")
    names = [k for k in metrics if not isinstance(k, str) or not k]
    if names:
        raise TypeError(f"metric names of {model!r} must be non-empty str, got {names}")
    bad = {
        k: v
        for k, v in metrics.items()
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v)
    }
    if bad:
        raise TypeError(f"metrics of {model!r} must be finite numbers, got {bad}")
    return {k: int(v) if isinstance(v, numbers.Integral) else float(v) for k, v in metrics.items()}


def record_results(chapter: str, rows: dict[str, dict[str, float]]) -> list[dict[str, object]]:
    """Replace every row of `chapter` (for the active profile) by `rows` ({model: metrics});
    return the new rows. `chapter` is the recording notebook's stem ("05_bilstm"), so that a
    chapter's rows sort and filter by its number. The file is rewritten atomically."""
    if not isinstance(chapter, str) or not CHAPTER.fullmatch(chapter):
        hint = ""
        if isinstance(chapter, str) and CHAPTER.fullmatch(_legacy_stem(chapter)):
            hint = f" (did you mean {_legacy_stem(chapter)!r}?)"
        raise ValueError(
            "chapter must be the recording notebook's stem, two digits, an optional letter, '_' "
            f"and lower-case words joined by '_' (e.g. '05_bilstm'), got {chapter!r}{hint}"
        )
    if not isinstance(rows, dict) or not rows:
        raise ValueError(f"rows must be a non-empty dict {{model: metrics}}, got {rows!r}")
    checked = {}
    for model, metrics in rows.items():
        if not isinstance(model, str) or not model:
            raise ValueError(f"model names must be non-empty str, got {model!r}")
        checked[model] = _check_metrics(model, metrics)
    name = profile().name
    kept = [
        r
        for r in _read()
        if r["profile"] != name or chapter not in (r["chapter"], _legacy_stem(r["chapter"]))
    ]
    new = [{"profile": name, "chapter": chapter, "model": m, **v} for m, v in checked.items()]
    # sorted by profile and chapter (a stable sort: a chapter's models keep their order)
    write_json(results_path(), sorted(kept + new, key=lambda r: (r["profile"], r["chapter"])))
    return new


def load_results(all_profiles: bool = False) -> pd.DataFrame:
    """Every recorded row for the active profile (or all profiles) as a table."""
    rows = _read()
    if not all_profiles:
        rows = [r for r in rows if r["profile"] == profile().name]
    return pd.DataFrame(rows, columns=None if rows else ["profile", "chapter", "model"])


def _read() -> list[dict[str, object]]:
    path = results_path()
    return read_json(path) if path.is_file() else []


class OutOfBand(AssertionError):
    """A trained figure left the band the book documents for it."""


def check_band(name: str, value: float, band: tuple[float, float]) -> str:
    """Check that `value` lies in `band` = (low, high); return a one-line verdict whose text is
    the same on every machine, or raise `OutOfBand` naming the value.

    A band is the spread measured across seeds and CPU kernels (e.g. `ATEN_CPU_CAPABILITY=
    default`) with a margin, and never so wide that a model at chance would pass.
    """
    if not isinstance(band, tuple | list) or len(band) != 2:
        raise ValueError(f"band must be a (low, high) pair, got {band!r}")
    for b in band:
        if isinstance(b, bool) or not isinstance(b, numbers.Real) or math.isnan(b):
            raise TypeError(f"band must hold two numbers, got {band!r}")
    low, high = float(band[0]), float(band[1])
    if not low < high:
        raise ValueError(f"band must have low < high, got {band!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = " (call .item() on a one-element tensor)" if hasattr(value, "item") else ""
        raise TypeError(f"{name} must be a number, got {describe(value)}{hint}")
    value = float(value)
    if math.isnan(value):
        raise OutOfBand(f"{name} is NaN, which lies in no band: the run diverged or scored nothing")
    if not low <= value <= high:
        raise OutOfBand(
            f"{name} = {value:.4g} lies outside its documented band [{low:g}, {high:g}]: "
            "on this machine the result moved further than the spread measured across seeds "
            "and CPU kernels, which points to a changed recipe or a broken model"
        )
    return f"{name} in [{low:g}, {high:g}]: yes"
