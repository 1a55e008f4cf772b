"""The ALBERT distilled from MiniLM (data/albert-minilm-distilled) and the committed results of
chapter 7b and chapter 8's systems table: the files match their card, the model loads with
plain `transformers` and is ALBERT-shaped and at most a third of MiniLM's size, and one figure
of each file is measured again here."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import assert_files_match_card

from seqbook.hf import DISTILLED_ALBERT, shipped_albert_path
from seqbook.pretrain_study import read_results

SHIPPED = shipped_albert_path(DISTILLED_ALBERT)
RESULTS = SHIPPED.parent / "results"
SYSTEMS = RESULTS / "albert_bilstm_systems.json"
COST = RESULTS / "albert_from_bert_cost.json"
pytestmark = pytest.mark.skipif(
    not (SHIPPED / "card.json").is_file(), reason="the distilled model is not in this checkout"
)


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads((SHIPPED / "card.json").read_text())


def test_every_shipped_file_matches_the_digest_on_its_card(card):
    assert_files_match_card(SHIPPED, card)
    readme = (SHIPPED / "README.md").read_text()
    assert card["command"] in readme and card["commit"] in readme
    for key in ("command", "commit", "hardware", "seconds", "steps", "held_out", "held_out_start"):
        assert card.get(key), f"the card has no {key}"


def test_it_loads_with_plain_transformers_and_is_an_albert_a_third_of_minilm(card):
    from transformers import AlbertModel, AutoTokenizer

    from seqbook.albert import AlbertEncoder

    model = AlbertModel.from_pretrained(SHIPPED, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(SHIPPED)
    c = model.config
    assert c.embedding_size < c.hidden_size  # factorised embeddings
    assert c.num_hidden_groups < c.num_hidden_layers  # shared layers
    n = sum(p.numel() for p in model.parameters())
    assert n == card["parameters"] and n <= card["teacher_parameters"] / 3
    enc = tokenizer(
        ["a dull film.", "the acting was wonderful and the plot moved"],
        padding=True,
        return_tensors="pt",
    )
    ours = AlbertEncoder.from_hf(model).eval()
    with torch.no_grad():
        theirs = model(**enc).last_hidden_state
        mine = ours(enc["input_ids"], enc["attention_mask"])
    real = enc["attention_mask"].bool()
    assert (theirs - mine)[real].abs().max() < 1e-4


def test_heldout_fit_re_measured_equals_the_card(card):
    # the card's first 32 windows, measured again: the mean over 32 of 128 windows moves, so
    # the figure compared is the full 128-window one, recomputed on the same windows
    from seqbook.distill import CARD_EVAL, card_measurement

    assert card["eval"] == CARD_EVAL
    again = card_measurement(SHIPPED)
    depths = sorted(k for k in card["held_out"] if k.startswith("hidden_"))
    for key in (depths[0], depths[-1]):
        assert abs(again[key] - card["held_out"][key]) < 0.01, (key, again[key])
    # distillation moved the student: every depth fits better than where it started
    for key in depths[1:]:
        assert card["held_out"][key] < card["held_out_start"][key], key


@pytest.mark.skipif(not SYSTEMS.is_file(), reason="no systems results in this checkout")
def test_systems_file_tfidf_row_re_measured():
    from seqbook.encoder_study import tfidf_row

    rows = [r for r in read_results(SYSTEMS)["rows"] if r.get("head") == "tfidf"]
    assert rows, "the systems table has no TF-IDF row"
    row = min(rows, key=lambda r: r["labels"] or 10**9)
    again = tfidf_row(row["labels"])
    assert again["C"] == row["C"] and again["test_reviews"] == row["test_reviews"]
    assert abs(again["test_accuracy"] - row["test_accuracy"]) < 0.003


@pytest.mark.skipif(not SYSTEMS.is_file(), reason="no systems results in this checkout")
def test_systems_rows_are_the_recipe_and_complete():
    from seqbook.data import load_split
    from seqbook.encoder_study import SYSTEMS as RECIPES
    from seqbook.finetune import FinetuneSettings

    results = read_results(SYSTEMS)
    test = load_split("test", limit=FinetuneSettings("minilm").test_subset)  # the recipe's
    assert {r["test_reviews"] for r in results["rows"] if r.get("head") == "tfidf"} == {len(test)}
    positive = float(test["label"].mean())
    TEST_SHARES = (positive, 1 - positive)
    assert results["provenance"].get("commit") and results["provenance"].get("invocations")
    for row in results["rows"]:
        if row.get("head") == "tfidf":
            continue
        s = FinetuneSettings(**row["settings"])
        want = FinetuneSettings(
            **(
                RECIPES[row["system"]]
                | {"train_subset": row["labels"], "seed": row["seed"], "head": row["head"]}
            )
        )
        assert s.key() == want.key() == row["key"], row["variant"]
        # a run that learnt nothing predicts one class: that class's share of the test reviews
        assert min(TEST_SHARES) - 1e-6 <= row["test_accuracy"] <= 1.0  # stored as float32


@pytest.mark.skipif(not COST.is_file(), reason="no cost results in this checkout")
def test_cost_file_parameter_counts_re_measured():
    from seqbook.finetune import FinetuneSettings, build_classifier
    from seqbook.train import parameter_count

    rows = [
        r
        for r in read_results(COST)["rows"]
        if r.get("transform") in ("albert", "albert:E=128,sharing=all")
    ]
    assert rows, "the cost table has neither MiniLM's row nor E = 128, all shared"
    for row in rows:
        model, _ = build_classifier(FinetuneSettings(**row["settings"]))
        assert row["encoder_parameters"] == parameter_count(model.encoder), row["variant"]


RUNS = RESULTS / "distill_runs.json"


@pytest.mark.skipif(not RUNS.is_file(), reason="no distillation records in this checkout")
def test_the_shipped_students_record_is_the_one_it_ships_with(card):
    shipped = json.loads((SHIPPED / "history.json").read_text())
    rows = read_results(RUNS)["rows"]
    same = [r for r in rows if r["settings"] == shipped["settings"]]
    assert len(same) == 1, "exactly one collected run has the shipped student's settings"
    assert same[0]["history"] == shipped["history"] and same[0]["steps"] == card["steps"]
    # the card's held-out figure was measured on other (fixed) windows than the run's own
    # evaluation, but both measure the same student: they agree to a few hundredths
    last = max(k for k in card["held_out"] if k.startswith("hidden_"))
    assert abs(same[0]["history"][-1][last] - card["held_out"][last]) < 0.05


CLASSIFIER = SHIPPED.parent / "albert-minilm-distilled-imdb"


@pytest.mark.skipif(not (CLASSIFIER / "card.json").is_file(), reason="no shipped classifier")
def test_the_shipped_classifiers_stored_predictions_are_its_own():
    import numpy as np

    from seqbook.albert_bilstm import AlbertBiLSTMClassifier
    from seqbook.data import load_split
    from seqbook.finetune import predict_proba
    from seqbook.hf import load_tokenizer

    card = json.loads((CLASSIFIER / "card.json").read_text())
    assert_files_match_card(CLASSIFIER, card)
    p = np.array(json.loads((CLASSIFIER / "test_predictions.json").read_text())["p_positive"])
    test = load_split("test")
    assert len(p) == len(test) == card["test_reviews"]
    assert ((p >= 0.5) == (test["label"].to_numpy() == 1)).mean() == pytest.approx(
        card["test_accuracy_shipped"], abs=1e-9
    )
    # the run's own (fp32) accuracy and the shipped (fp16) weights' agree to a few reviews
    assert abs(card["test_accuracy_shipped"] - card["test_accuracy_run"]) <= 0.002
    model = AlbertBiLSTMClassifier.from_pretrained(CLASSIFIER).float().eval()
    tokenizer = load_tokenizer(CLASSIFIER / "encoder")
    rows = [0, 1, 2, 3, len(test) - 1]
    again = predict_proba(
        model, tokenizer, test["text"].iloc[rows].tolist(), max_len=card["settings"]["max_len"]
    )
    assert np.abs(again[:, 1].numpy() - p[rows]).max() < 1e-3
