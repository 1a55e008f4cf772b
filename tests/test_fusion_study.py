"""seqbook.fusion_study: the gain arithmetic on made-up rows (unit), and the committed results
file: complete, made by the module's command, and one figure re-measured (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqbook import fusion_study as fs

RESULTS = Path(__file__).resolve().parents[1] / "data" / "results" / "fusion_encoders.json"
BAND = 0.01  # measured drift: 0.000 (native and portable kernels, fresh and warm cache)


def rows_of(correct: dict) -> dict:
    """A results dict from {(variant, seed): per-review 0/1 list} for one encoder and size."""
    return {
        "rows": [
            {
                "encoder": "tiny",
                "train_reviews": 500,
                "seed": seed,
                "variant": variant,
                "correct": "".join(str(c) for c in values),
            }
            for (variant, seed), values in correct.items()
        ]
    }


@pytest.mark.parametrize("draw", range(20))
def test_gain_is_the_mean_of_the_per_seed_gains_and_inside_its_interval(draw):
    rng = np.random.default_rng(draw)
    correct = {
        (variant, seed): rng.integers(0, 2, size=200).tolist()
        for variant in ("contextual only", "concatenation", "gated")
        for seed in (0, 1, 2)
    }
    for row in fs.gains(rows_of(correct), samples=500):
        assert row["gain"] == pytest.approx(np.mean(row["per_seed"]), abs=0.01)
        assert row["low"] <= row["gain"] <= row["high"]
        assert row["seeds"] == 3 and row["fusion"] in fs.FUSIONS


def test_a_fusion_right_where_the_base_is_and_more_has_an_interval_above_zero():
    base = [1] * 50 + [0] * 50
    better = [1] * 80 + [0] * 20
    correct = {("contextual only", s): base for s in (0, 1)} | {
        ("concatenation", s): better for s in (0, 1)
    }
    (row,) = fs.gains(rows_of(correct), samples=500)
    assert row["gain"] == pytest.approx(30.0) and row["per_seed"] == [30.0, 30.0]
    assert row["low"] > 0
    # and the same runs the other way round: below zero
    swapped = {("contextual only", s): better for s in (0, 1)} | {
        ("concatenation", s): base for s in (0, 1)
    }
    (row,) = fs.gains(rows_of(swapped), samples=500)
    assert row["high"] < 0
    # against the other single source, when it is there
    glove = {("static only (GloVe)", s): better for s in (0, 1)}
    (row,) = fs.gains(rows_of(correct | glove), baseline="static only (GloVe)", samples=500)
    assert row["baseline"] == "static only (GloVe)" and row["gain"] == pytest.approx(0.0)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="encoder must be one of"):
        fs.encoder_path("bert-base")
    with pytest.raises(ValueError, match="variant must be one of"):
        fs._model("sum", 8, 8)
    with pytest.raises(ValueError, match="variants must be among"):
        fs.run_cell("tiny", 500, [0], glove=None, variants=["sum"])
    with pytest.raises(ValueError, match="baseline must be one of"):
        fs.gains({"rows": []}, baseline="gated")


@pytest.mark.skipif(not RESULTS.is_file(), reason="no fusion study in this checkout")
def test_results_file_is_complete_and_made_by_the_command():
    from seqbook.provenance import read_results

    results = read_results(RESULTS)
    p = results["provenance"]
    assert p["command"].startswith("python -m seqbook.fusion_study ") and p["commit"]
    assert p["seconds"] > 0 and p["hardware"]["cores"] >= 1
    cells = {(r["encoder"], r["train_reviews"], r["variant"], r["seed"]) for r in results["rows"]}
    seeds = {r["seed"] for r in results["rows"]}
    assert len(seeds) >= 3
    for encoder in fs.ENCODERS:
        for n in fs.SIZES:
            for variant in fs.VARIANTS:
                assert {(encoder, n, variant, s) for s in seeds} <= cells
    for r in results["rows"]:
        assert len(r["correct"]) == fs.TEST and set(r["correct"]) <= {"0", "1"}
        assert r["test_accuracy"] == pytest.approx(r["correct"].count("1") / fs.TEST, abs=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(not RESULTS.is_file(), reason="no fusion study in this checkout")
def test_a_committed_figure_re_measured():
    """The weak encoder's contextual-only run at 500 labels, seed 0, trained again here."""
    from seqbook.embeddings import glove_keyed_vectors
    from seqbook.provenance import read_results

    want = next(
        r
        for r in read_results(RESULTS)["rows"]
        if (r["encoder"], r["train_reviews"], r["variant"], r["seed"])
        == ("tiny", 500, "contextual only", 0)
    )
    (row,) = fs.run_cell(
        "tiny", 500, [0], glove_keyed_vectors(), variants=["contextual only"], log=lambda s: None
    )
    assert row["test_accuracy"] == pytest.approx(want["test_accuracy"], abs=BAND)
