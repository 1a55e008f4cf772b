"""seqbook.sop_study: the pairs each placement makes, the interval, and one short run."""

from __future__ import annotations

import math
import re

import pytest
import torch

from seqbook import sop_study
from seqbook.provenance import read_results


def kind(study: dict, name: str) -> list[dict]:
    """The rows of the results file `study` of one kind ("run" or "baseline")."""
    return [r for r in study["rows"] if r["kind"] == name]


DOCS = [
    [f"doc{d} sentence{i} " + "word " * (3 + (i * 7 + d) % 11) for i in range(2 + d % 9)]
    for d in range(60)
]


def sentence_ids(segment: str) -> tuple[int, list[int]]:
    """(document, sentence indices) of a segment of DOCS."""
    docs = set(re.findall(r"doc(\d+) ", segment))
    assert len(docs) == 1, segment  # one review per segment
    return int(docs.pop()), [int(i) for i in re.findall(r"sentence(\d+)", segment)]


@pytest.mark.parametrize("seed", range(20))
def test_end_pairs_hold_a_reviews_opening_and_closing(seed):
    for task in sop_study.TASKS:
        pairs = sop_study.end_pairs(DOCS, task, seed=seed, max_words=12)
        assert len(pairs) == sum(len(d) >= 2 for d in DOCS)
        for p in pairs:
            swapped = task == "sop" and p.label == 1
            opening, closing = (p.second, p.first) if swapped else (p.first, p.second)
            d, head = sentence_ids(opening)
            assert d == p.document and head == list(range(len(head))) and head  # its first ones
            d2, tail = sentence_ids(closing)
            if task == "nsp" and p.label == 1:
                assert d2 != p.document  # another review's closing
                n = len(DOCS[d2])
            else:
                assert d2 == p.document and not set(head) & set(tail)  # never overlapping
                n = len(DOCS[d])
            assert tail and tail == list(range(n - len(tail), n))  # its last ones
            words = len(opening.split()) - 2 * len(head)  # minus the two marker words each
            assert words <= 12 or len(head) == 1
        labels = [p.label for p in pairs]
        assert 0.2 < sum(labels) / len(labels) < 0.8  # both classes, about half each


def test_a_segment_keeps_at_least_one_sentence_and_stays_within_its_words():
    long = [["one two three four five six seven eight nine ten eleven twelve", "a b", "c d"]]
    (pair,) = sop_study.end_pairs(long * 2, "sop", seed=0, max_words=4)[:1]
    words = {len(s.split()) for s in (pair.first, pair.second)}
    assert max(words) <= 12 and min(words) >= 2


def test_pairs_refuse_bad_arguments():
    with pytest.raises(ValueError, match="task must be one of"):
        sop_study.end_pairs(DOCS, "mlm")
    with pytest.raises(ValueError, match="placement must be one of"):
        sop_study.task_pairs(DOCS, "sop", "middle")
    with pytest.raises(TypeError, match="lists of sentences, got a str"):
        sop_study.end_pairs(["a review as one string"], "sop")
    with pytest.raises(ValueError, match="NSP needs at least 2"):
        sop_study.end_pairs([["a.", "b."]], "nsp")
    with pytest.raises(ValueError, match="steps must be a positive int"):
        sop_study.SOPSettings(steps=0)
    with pytest.raises(ValueError, match="task must be one of"):
        sop_study.SOPSettings(task="order")


@pytest.mark.parametrize("correct, n", [(0, 10), (5, 10), (10, 10), (1800, 2434), (3, 7)])
def test_wilson_interval_contains_the_estimate_and_matches_its_formula(correct, n):
    low, high = sop_study.wilson(correct, n)
    p = correct / n
    assert 0 <= low <= p <= high <= 1
    # the interval's ends solve |p - q| = z sqrt(q (1 - q) / n)
    for q in (low, high):
        assert abs(abs(p - q) - 1.96 * math.sqrt(q * (1 - q) / n)) < 1e-9
    with pytest.raises(ValueError):
        sop_study.wilson(n + 1, n)


def test_a_short_run_trains_and_scores_both_tasks(tmp_path):
    """A tiny model, two documents' worth of steps: the record has a curve and both scores."""
    from seqbook.hf import shipped_albert_path

    torch.set_num_threads(1)
    settings = sop_study.SOPSettings(steps=4, batch_size=4, eval_every=2, eval_pairs=8)
    record = sop_study.run(settings, shipped_albert_path(), (DOCS[:40], DOCS[40:]), progress=False)
    assert [h["step"] for h in record["history"]] == [0, 2, 4]
    for t in sop_study.TASKS:
        score = record["test"][t]
        assert score["pairs"] > 0 and 0 <= score["accuracy"] <= 1
        assert score["ci95"][0] <= score["accuracy"] <= score["ci95"][1]


def marked_docs(n: int, seed: int) -> list[list[str]]:
    """Reviews whose closing sentence starts with "overall" and whose topic word (one per
    review) appears in every sentence."""
    import random

    rng = random.Random(seed)
    fill = ["good", "bad", "plot", "acting", "music", "scene", "story", "camera"]
    docs = []
    for d in range(n):
        topic = f"topic{d % 97}"
        body = [f"{topic} " + " ".join(rng.choices(fill, k=6)) for _ in range(rng.randint(2, 5))]
        docs.append([*body, f"overall {topic} " + " ".join(rng.choices(fill, k=4))])
    return docs


def test_the_words_baseline_reads_a_closing_word_but_cannot_match_topics():
    train, test = marked_docs(600, 0), marked_docs(300, 1)
    sop = sop_study.words_baseline(
        sop_study.end_pairs(train, "sop", seed=0), sop_study.end_pairs(test, "sop", seed=1)
    )
    assert sop["accuracy"] > 0.95  # "overall" says which segment closes the review
    nsp = sop_study.words_baseline(
        sop_study.end_pairs(train, "nsp", seed=0), sop_study.end_pairs(test, "nsp", seed=1)
    )
    assert abs(nsp["accuracy"] - 0.5) < 0.1  # a topic match needs both segments at once
    assert sop["pairs"] == nsp["pairs"] == 300


@pytest.mark.slow
def test_the_committed_study_reproduces_its_first_steps():
    """Re-measure the committed 'ends' SOP run: today's code, from its recorded settings, gives
    the same held-out accuracies at its first checkpoints (a few pairs may flip under other
    floating-point kernels)."""
    from seqbook.data import shipped_data_dir
    from seqbook.hf import shipped_albert_path

    torch.set_num_threads(1)
    study = read_results(shipped_data_dir() / "results" / "sop_study.json")
    (committed,) = [
        r
        for r in kind(study, "run")
        if r["settings"]["placement"] == "ends"
        and r["settings"]["task"] == "sop"
        and r["settings"]["steps"] == 2000
    ]
    settings = sop_study.SOPSettings(**committed["settings"])
    record = sop_study.run(settings, shipped_albert_path(), progress=False, stop_after=250)
    for mine, theirs in zip(record["history"][:2], committed["history"][:2], strict=True):
        assert mine["step"] == theirs["step"]
        # near chance many pairs sit at the decision boundary: a few may flip between kernels
        assert abs(mine["heldout_accuracy"] - theirs["heldout_accuracy"]) <= 0.03, (mine, theirs)
    mine, theirs = (
        record["history"][1]["train_task_loss"],
        committed["history"][1]["train_task_loss"],
    )
    assert mine == pytest.approx(theirs, rel=1e-4)  # the mean SOP loss of the first 250 steps


def test_stop_after_follows_the_full_runs_schedule_and_skips_the_final_scores():
    from seqbook.hf import shipped_albert_path

    torch.set_num_threads(1)
    settings = sop_study.SOPSettings(steps=6, batch_size=4, eval_every=2, eval_pairs=8)
    docs = (DOCS[:40], DOCS[40:])
    full = sop_study.run(settings, shipped_albert_path(), docs, progress=False)
    early = sop_study.run(settings, shipped_albert_path(), docs, progress=False, stop_after=2)
    assert [h["step"] for h in early["history"]] == [0, 2] and early["test"] == {}
    assert early["history"] == full["history"][:2]  # the same steps, the same schedule
    with pytest.raises(ValueError, match="stop_after must lie in"):
        sop_study.run(settings, shipped_albert_path(), docs, progress=False, stop_after=7)


def test_the_overlap_baseline_matches_topics_but_cannot_tell_order():
    train, test = marked_docs(600, 0), marked_docs(300, 1)
    nsp = sop_study.overlap_baseline(
        sop_study.end_pairs(train, "nsp", seed=0), sop_study.end_pairs(test, "nsp", seed=1)
    )
    assert nsp["accuracy"] > 0.9  # the shared topic word gives the true closing away
    sop = sop_study.overlap_baseline(
        sop_study.end_pairs(train, "sop", seed=0), sop_study.end_pairs(test, "sop", seed=1)
    )
    assert abs(sop["accuracy"] - 0.5) < 0.1  # swapping keeps the similarity: no signal


def test_the_committed_study_is_complete_and_its_intervals_follow_from_its_counts():
    from seqbook.data import shipped_data_dir

    study = read_results(shipped_data_dir() / "results" / "sop_study.json")
    pairings = {(p, t) for p in sop_study.PLACEMENTS for t in sop_study.TASKS}
    main = {
        (r["settings"]["placement"], r["settings"]["task"])
        for r in kind(study, "run")
        if r["settings"]["steps"] == 2000 and r["settings"]["mlm_probability"] == 0.15
    }
    assert main == pairings  # the cross-test: every task in every placement, one budget
    assert {(b["placement"], b["task"]) for b in kind(study, "baseline")} == pairings
    assert {r["kind"] for r in study["rows"]} == {"run", "baseline"}
    assert set(study["provenance"]["invocations"]) == {
        r["provenance"]["command"] for r in kind(study, "run")
    } | {study["provenance"]["baseline_provenance"]["command"]}
    for r in kind(study, "run"):
        assert r["provenance"]["commit"] and r["seconds"] > 0
        assert [h["step"] for h in r["history"]][0] == 0
        for score in r["test"].values():
            assert score["accuracy"] == score["correct"] / score["pairs"]
            assert score["ci95"] == pytest.approx(
                sop_study.wilson(score["correct"], score["pairs"])
            )
            assert score["pairs"] >= 2000
