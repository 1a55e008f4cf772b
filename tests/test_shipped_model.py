"""The book's shipped ALBERT (data/tiny-albert-imdb) and the committed results of chapters 7-8:
the files match their card, the model loads with plain `transformers`, and its held-out MLM
accuracy re-measured here equals the card's figure."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import assert_files_match_card

from seqbook.hf import shipped_albert_path
from seqbook.pretrain_card import CARD_EVAL, card_measurement
from seqbook.pretrain_study import MINILM_ROW, VARIANTS, read_results, summarise

SHIPPED = shipped_albert_path()
RESULTS = SHIPPED.parent / "results"
pytestmark = pytest.mark.skipif(
    not (SHIPPED / "card.json").is_file(), reason="the shipped model is not in this checkout"
)


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads((SHIPPED / "card.json").read_text())


def test_every_shipped_file_matches_the_digest_on_its_card(card):
    assert_files_match_card(SHIPPED, card)
    readme = (SHIPPED / "README.md").read_text()
    assert all(d in readme for d in card["files"].values())
    assert card["command"] in readme and card["commit"] in readme
    assert f"{card['mlm_accuracy']:.4f}" in readme and f"{card['mlm_floor']:.4f}" in readme


def test_the_shipped_model_loads_with_plain_transformers(card):
    from transformers import AlbertForPreTraining, AutoTokenizer

    model = AlbertForPreTraining.from_pretrained(SHIPPED, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(SHIPPED)
    assert len(tokenizer) == model.config.vocab_size
    size = sum(f.stat().st_size for f in SHIPPED.glob("*.safetensors"))
    assert size < 4e6  # fp16 weights: a few MB
    enc = tokenizer("the acting was [MASK] and the plot was dull .", return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).prediction_logits
    assert torch.isfinite(logits).all()


def test_heldout_mlm_accuracy_re_measured_equals_the_card(card):
    # Same weights, same seeded blocks and masks: the same count on the machine that wrote the
    # card. Another CPU's float path may flip a near-tie between two pieces' logits, a few of
    # the ~10,000 masked positions at most: hence 0.003, not 0.
    measured = card_measurement(SHIPPED)
    assert card["eval"] == CARD_EVAL
    assert measured["mask_positions"] == card["mask_positions"]  # the same blocks and masks
    assert measured["mlm_floor"] == card["mlm_floor"]
    assert abs(measured["mlm_accuracy"] - card["mlm_accuracy"]) <= 0.003
    assert abs(measured["sop_accuracy"] - card["sop_accuracy"]) <= 0.01
    assert measured["word_start_positions"] == card["word_start_positions"]
    assert abs(measured["mlm_accuracy_word_start"] - card["mlm_accuracy_word_start"]) <= 0.003
    # The shipped model left the unigram plateau (chapter 7): well above both floors.
    assert card["mlm_accuracy"] > card["mlm_floor"] + 0.05
    assert card["mlm_accuracy_word_start"] > card["mlm_floor_word_start"] + 0.05


def _provenance_ok(results: dict) -> None:
    prov = results["provenance"]
    for key in ("command", "commit", "hardware", "seconds", "recipe"):
        assert key in prov, f"provenance lacks {key}"
    assert prov["command"].startswith("python -m seqbook.pretrain_study")
    assert prov["seconds"] > 0


@pytest.mark.skipif(not (RESULTS / "albert_bilstm_seeds.json").is_file(), reason="not committed")
def test_seeds_results_hold_three_seeds_of_each_fine_tuned_variant_with_their_provenance():
    results = read_results(RESULTS / "albert_bilstm_seeds.json")
    _provenance_ok(results)
    summary = {s["variant"]: s for s in summarise(results)}
    assert {"fine-tuned, pretrained", "fine-tuned, random init"} <= set(summary)
    for name, s in summary.items():
        assert name in [*VARIANTS, MINILM_ROW]
        assert s["n"] >= 3, f"{name}: {s['n']} seeds"
        assert 0.5 <= s["min"] <= s["max"] <= 1.0
    for row in results["rows"]:
        assert row["labels"] == 2000 and math.isfinite(row["test_accuracy"])
    assert len({r["key"] for r in results["rows"]}) == len(results["rows"])  # no run twice


@pytest.mark.skipif(not (RESULTS / "pretraining_budget.json").is_file(), reason="not committed")
def test_budget_curve_covers_at_least_four_budgets_from_random_init_at_two_label_counts():
    results = read_results(RESULTS / "pretraining_budget.json")
    _provenance_ok(results)
    steps = sorted({r["budget_step"] for r in results["rows"]})
    assert len(steps) >= 4 and steps[0] == 0
    for step in steps:
        labels = {r["labels"] for r in results["rows"] if r["budget_step"] == step}
        assert labels == {500, 2000}, f"budget {step}: labels {labels}"
    tokens = [next(r["tokens"] for r in results["rows"] if r["budget_step"] == s) for s in steps]
    assert tokens == sorted(tokens) and tokens[0] == 0
    card = json.loads((SHIPPED / "card.json").read_text())
    assert steps[-1] == card["steps"]  # the curve ends at the shipped model


@pytest.mark.skipif(not (RESULTS / "pretraining_budget.json").is_file(), reason="not committed")
def test_a_budget_snapshots_pretraining_figure_re_measured_equals_the_results_file():
    from seqbook.pretrain_study import pretraining_metrics

    results = read_results(RESULTS / "pretraining_budget.json")
    row = next(
        r
        for r in results["rows"]
        if 0 < r["budget_step"] < max(q["budget_step"] for q in results["rows"])
    )
    folder = SHIPPED / "budgets" / f"step-{row['budget_step']:05d}"
    measured = pretraining_metrics(folder)
    assert abs(measured["mlm_accuracy@128"] - row["mlm_accuracy@128"]) <= 0.003


@pytest.mark.skipif(not (RESULTS / "pretraining_recipe.json").is_file(), reason="not committed")
def test_recipe_comparison_holds_every_variant_over_the_same_steps():
    from seqbook.pretrain_study import RECIPE_VARIANTS, recipe_settings

    results = read_results(RESULTS / "pretraining_recipe.json")
    prov = results["provenance"]
    assert prov["command"].startswith("python -m seqbook.pretrain_study recipe")
    assert [r["variant"] for r in results["rows"]] == list(RECIPE_VARIANTS)
    last = {r["curve"][-1]["step"] for r in results["rows"]}
    assert len(last) == 1  # compared at equal steps
    for r in results["rows"]:
        assert r["key"] == recipe_settings(r["change"]).key()
        steps = [c["step"] for c in r["curve"]]
        assert steps == sorted(steps) and steps[0] == 0
        assert all(0.0 <= c["mlm_accuracy"] <= 1.0 for c in r["curve"])


def test_a_mask_in_text_stands_for_one_whole_piece():
    from seqbook.pretrain_run import load_pretrained, mask_text_ids

    _, tokenizer = load_pretrained(SHIPPED)
    pieces = tokenizer.convert_ids_to_tokens(mask_text_ids(tokenizer, "is the [MASK].")[0])
    assert pieces == ["[CLS]", "▁is", "▁the", "[MASK]", ".", "[SEP]"]
    pieces = tokenizer.convert_ids_to_tokens(mask_text_ids(tokenizer, "the [MASK] sense")[0])
    assert pieces == ["[CLS]", "▁the", "[MASK]", "▁sense", "[SEP]"]
    # the plain tokenizer call is what this guards against: a lone "▁" before the mask
    assert "▁" in tokenizer.convert_ids_to_tokens(tokenizer("the [MASK] sense")["input_ids"])
    with pytest.raises(ValueError, match="must contain \\[MASK\\]"):
        mask_text_ids(tokenizer, "no blank here")


def test_the_shipped_models_guesses_depend_on_the_context():
    from seqbook.pretrain_run import fill_mask, load_pretrained

    model, tokenizer = load_pretrained(SHIPPED)
    nouns = fill_mask(model, tokenizer, "Another problem with the movie is the [MASK].")[0]
    adjectives = fill_mask(model, tokenizer, "Anyways, it's pretty [MASK] aside from a scene.")[0]
    assert len(set(nouns) & set(adjectives)) <= 1, (nouns, adjectives)


@pytest.mark.skipif(
    not (RESULTS / "albert_bilstm_encoder_lr.json").is_file(), reason="not committed"
)
def test_the_encoder_learning_rate_check_changes_only_the_encoder_learning_rate():
    from seqbook.pretrain_study import RECIPE

    slow = read_results(RESULTS / "albert_bilstm_encoder_lr.json")
    _provenance_ok(slow)
    assert slow["provenance"]["recipe"] == RECIPE | {"encoder_lr": 1e-4}
    seeds = read_results(RESULTS / "albert_bilstm_seeds.json")["rows"]
    assert {r["variant"] for r in slow["rows"]} == {
        "fine-tuned, pretrained",
        "fine-tuned, random init",
    }
    for row in slow["rows"]:
        base = next(r for r in seeds if (r["variant"], r["seed"]) == (row["variant"], row["seed"]))
        changed = {k for k in row["settings"] if row["settings"][k] != base["settings"][k]}
        assert changed == {"encoder_lr"}, changed


@pytest.mark.skipif(
    not (RESULTS / "albert_bilstm_seeds_500.json").is_file(), reason="not committed"
)
def test_the_500_label_seeds_differ_from_the_table_only_in_the_labels():
    few = read_results(RESULTS / "albert_bilstm_seeds_500.json")
    _provenance_ok(few)
    summary = {s["variant"]: s for s in summarise(few)}
    assert set(summary) == {"fine-tuned, pretrained", "fine-tuned, random init"}
    assert all(s["n"] == 3 for s in summary.values())
    seeds = read_results(RESULTS / "albert_bilstm_seeds.json")["rows"]
    for row in few["rows"]:
        assert row["labels"] == 500
        base = next(r for r in seeds if (r["variant"], r["seed"]) == (row["variant"], row["seed"]))
        changed = {k for k in row["settings"] if row["settings"][k] != base["settings"][k]}
        assert changed == {"train_subset"}, changed


FIRST_STEPS = 250  # the run's first evaluation after step 0: all inside its 300-step warm-up
# measured: largest relative difference 8e-8 (native kernels) and 9e-8 (ATEN_CPU_CAPABILITY=
# default), held-out accuracies and counts equal; a hundred times that is the tolerance
REL, ABS = 1e-5, 1e-9


@pytest.mark.slow
def test_todays_pretraining_code_reproduces_the_shipped_runs_first_steps(card, tmp_path):
    """The card names the commit that trained the model (527ef8b); the code has moved on since
    (pretraining now runs through `train.fit_steps`). Today's `run_pretraining`, given the run's
    recorded settings and its tokenizer, must retrace the first `FIRST_STEPS` steps: the same
    held-out figures at step 0 (the same initial weights) and at step 250, and the same mean
    training losses over steps 1-250 (the same batches, masks and updates). Only the warm-up is
    compared: after it, the old schedule decayed one step later than `train.lr_factor` does."""
    import dataclasses
    import shutil

    from seqbook.cache import read_json
    from seqbook.pretrain_run import PausedRun, PretrainSettings, run_pretraining

    recorded = {r["step"]: r for r in read_json(SHIPPED / "history.json")}
    settings = PretrainSettings.from_dict(read_json(SHIPPED / "run.json")["settings"])
    assert settings.warmup_steps >= FIRST_STEPS and FIRST_STEPS in recorded
    settings = dataclasses.replace(settings, snapshots=())  # nothing but the history is needed
    for name in ("tokenizer.json", "tokenizer_config.json"):  # the run's own tokenizer
        shutil.copy(SHIPPED / name, tmp_path / name)
    out = run_pretraining(settings, tmp_path, stop_at_step=FIRST_STEPS, progress=False)
    assert out == PausedRun(FIRST_STEPS)
    ours = {r["step"]: r for r in read_json(tmp_path / "history.json")}
    assert sorted(ours) == [0, FIRST_STEPS]
    for step, row in ours.items():
        then = recorded[step]
        for key, value in row.items():
            if key in ("seconds", "lr", "tokens") or isinstance(value, str):
                continue
            assert key in then, f"step {step}: {key} is not in the shipped run's history"
            if "positions" in key or "pairs" in key or key.startswith("mlm_floor"):
                assert value == then[key], (step, key, value, then[key])  # counts: exact
            else:
                assert value == pytest.approx(then[key], rel=REL, abs=ABS), (step, key)
    assert ours[FIRST_STEPS]["tokens"] == recorded[FIRST_STEPS]["tokens"]
