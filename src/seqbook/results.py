"""The book's results file: chapters record headline test metrics, later chapters read them.

Rows are keyed by (profile, chapter, model) so fast and full runs never mix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from seqbook.data import cache_dir
from seqbook.runtime import profile


def results_path() -> Path:
    return cache_dir() / "results.json"


def record_result(chapter: str, model: str, metrics: dict[str, float]) -> dict[str, object]:
    """Store (or replace) one model's metrics for the active profile; return the row."""
    if not metrics:
        raise ValueError("metrics must hold at least one value, got an empty dict")
    bad = {k: v for k, v in metrics.items() if not isinstance(v, int | float)}
    if bad:
        raise TypeError(f"metrics must be numbers, got {bad}")
    rows = [
        r
        for r in _read()
        if (r["profile"], r["chapter"], r["model"]) != (profile().name, chapter, model)
    ]
    row = {"profile": profile().name, "chapter": chapter, "model": model, **metrics}
    rows.append(row)
    results_path().write_text(json.dumps(rows, indent=1))
    return row


def load_results(all_profiles: bool = False) -> pd.DataFrame:
    """Every recorded row for the active profile (or all profiles) as a table."""
    rows = _read()
    if not all_profiles:
        rows = [r for r in rows if r["profile"] == profile().name]
    return pd.DataFrame(rows, columns=None if rows else ["profile", "chapter", "model"])


def _read() -> list[dict[str, object]]:
    path = results_path()
    return json.loads(path.read_text()) if path.is_file() else []
