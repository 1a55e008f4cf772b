"""The committed measurements of the course's experiments on real reviews
(`data/results/course_experiments.json`, made by ``python -m seqbook.grading experiments``): the
file is whole, the answer keys glue its figures, and one instance measured again gives its
numbers."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch

from seqbook.checks.course import inputs
from seqbook.grading import study
from seqbook.provenance import read_results

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "data" / "results" / "course_experiments.json"
INSTRUCTOR = ROOT / "course" / "instructor"
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


def glued(notebook: Path) -> dict[str, str]:
    """The values an executed notebook glued (myst-nb's scrapbook records), by name."""
    values = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                values[name] = out["data"]["application/papermill.record/text/plain"].strip("'")
    return values


def test_the_answer_keys_glue_the_results():
    """The executed instructor notebooks' answer keys state the file's figures: the mean
    accuracies and the mean differences over its instances, to the third decimal."""
    data = read_results(RESULTS)
    for name, task_id, prefix, (a, b) in (
        ("a4_albert_bilstm", "head_experiment", "a4", ("bilstm", "linear")),
        ("a5_fusion", "fusion_experiment", "a5", ("fused", "encoder")),
    ):
        values = glued(INSTRUCTOR / f"{name}.ipynb")
        s = study.summary(data, task_id)
        for key in inputs.EXPERIMENT_KEYS[task_id]:
            assert values[f"{prefix}_mean_{key}"] == f"{s[key]['mean']:.3f}", (name, key)
        edge = study.difference(data, task_id, a, b)
        assert values[f"{prefix}_n"] == str(edge["instances"]) == str(s["_"]["instances"])
        assert values[f"{prefix}_ahead"] == str(edge["ahead"])
        assert values[f"{prefix}_edge"] == f"{edge['mean']:+.3f}"
        assert values[f"{prefix}_edge_sd"] == f"{edge['sd']:.3f}"


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
