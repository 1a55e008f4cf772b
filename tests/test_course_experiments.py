"""The committed measurements of the course's experiments on real reviews
(`data/results/course_experiments.json`, made by ``python -m seqbook.grading experiments``): the
file is whole, the guide quotes it, and one instance measured again gives its numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from seqbook.checks.course import inputs
from seqbook.grading import study
from seqbook.provenance import read_results

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "data" / "results" / "course_experiments.json"
GUIDE = ROOT / "book" / "instructor_guide.md"
TOLERANCE = 0.02  # a held-out accuracy measured again, on another CPU kernel or machine


def test_the_results_hold_every_instance_of_both_review_experiments():
    data = read_results(RESULTS)
    p = data["provenance"]
    assert p["command"].startswith("python -m seqbook.grading experiments")
    assert re.fullmatch(r"[0-9a-f]{40}", p["commit"]) and p["hardware"]["cores"] >= 1
    n = int(re.search(r"--instances (\d+)", p["command"]).group(1))
    assert n >= 20
    for task_id in study.REVIEW_TASKS:
        rows = [r for r in data["rows"] if r["task"] == task_id]
        assert [r["instance"] for r in rows] == list(range(n)), task_id
        for r in rows:
            assert int(r["seed"]) == study.instance_seed(r["instance"]), r
            assert r["held_out"] == inputs.REVIEW_EVAL, r
            assert set(r["accuracy"]) == set(inputs.EXPERIMENT_KEYS[task_id]), r
            assert all(0.5 < a < 0.85 for a in r["accuracy"].values()), r
            assert r["passed"] is True, r


def test_the_guide_quotes_the_results():
    """The guide's table of the instructor's accuracies is the file's, to the third decimal."""
    data = read_results(RESULTS)
    text = GUIDE.read_text(encoding="utf-8")
    quoted = 0
    for task_id in study.REVIEW_TASKS:
        s = study.summary(data, task_id)
        for key in inputs.EXPERIMENT_KEYS[task_id]:
            number = r" ([0-9.]+) \|"
            pattern = rf"\| `{task_id}` \| `{key}` \|{number * 3} (\d+)/(\d+) \|"
            match = re.search(pattern, text)
            assert match, (task_id, key)
            mean, low, high = (float(match.group(k)) for k in (1, 2, 3))
            assert (mean, low, high) == tuple(round(s[key][k], 3) for k in ("mean", "low", "high"))
            assert int(match.group(4)) == s["_"]["passed"]
            assert int(match.group(5)) == s["_"]["instances"]
            quoted += 1
    assert quoted == 5


@pytest.mark.slow
def test_instance_zero_measured_again_gives_the_recorded_accuracies():
    """The instructor's training functions on instance 0 of both experiments, with the real
    frozen encoder: every accuracy within TOLERANCE of the file's (the training is seeded; what
    moves is the arithmetic of another CPU)."""
    torch.set_num_threads(1)
    data = read_results(RESULTS)
    folder = ROOT / "course"
    for task_id, name, target in (
        ("head_experiment", "a4_albert_bilstm", "train_heads"),
        ("fusion_experiment", "a5_fusion", "train_fusion"),
    ):
        train = study.instructor_namespace(folder / "instructor" / f"{name}.ipynb")[target]
        recorded = next(r for r in data["rows"] if r["task"] == task_id and r["instance"] == 0)
        again = study.measure(task_id, train, 0)
        for key, value in recorded["accuracy"].items():
            assert abs(again["accuracy"][key] - value) <= TOLERANCE, (task_id, key, again)
