"""seqbook.encoder_study and the results files it shares with pretrain_study: rows added by
commands running at the same time are all kept."""

from __future__ import annotations

import multiprocessing as mp

from seqbook.encoder_study import COST_ROWS, SYSTEMS, _recipe
from seqbook.finetune import FinetuneSettings
from seqbook.pretrain_study import read_results, update_results

PROV = {"command": "python -m seqbook.encoder_study systems", "commit": "c" * 40}


def _add(path, i):
    update_results(
        path, lambda r: (r["rows"].append({"key": f"k{i}"}), r["provenance"].update(PROV))
    )


def test_rows_written_by_concurrent_commands_are_all_kept(tmp_path):
    path = tmp_path / "results.json"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_add, args=(path, i)) for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert sorted(r["key"] for r in read_results(path)["rows"]) == sorted(f"k{i}" for i in range(8))


def test_every_cost_row_and_system_is_a_valid_recipe():
    from seqbook.compress import parse_transform

    for spec in COST_ROWS.values():
        parse_transform(spec)  # raises on a bad spec
    distilled = FinetuneSettings(**SYSTEMS["distilled"]).to_dict()
    random = FinetuneSettings(**SYSTEMS["random"]).to_dict()
    # the control differs from the system in its weights only: same encoder folder and recipe
    assert {k for k in distilled if distilled[k] != random[k]} == {"random_init"}
    minilm = FinetuneSettings(**SYSTEMS["minilm"])
    assert minilm.transform == "albert" and minilm.encoder_lr == distilled["encoder_lr"]
    assert set(_recipe()) <= set(distilled) and "encoder" not in _recipe()


def test_cost_refuses_a_transform_that_is_not_a_row(tmp_path):
    import pytest

    from seqbook.encoder_study import cost_table

    with pytest.raises(ValueError, match="transforms must be specs of COST_ROWS"):
        cost_table(tmp_path / "r.json", [0], 2000, {}, [], transforms=["albert:E=7"])
    assert not (tmp_path / "r.json").exists()


def test_cost_runs_only_the_chosen_transforms(tmp_path, monkeypatch):
    from seqbook import encoder_study

    ran = []
    monkeypatch.setattr(encoder_study, "run_row", lambda s, extra, *a: ran.append(s.transform))
    encoder_study.cost_table(
        tmp_path / "r.json", [0, 1], 2000, {}, [], transforms=["albert:E=128", "albert"]
    )
    assert ran == ["albert", "albert:E=128"] * 2  # in COST_ROWS order, for each seed


def test_a_systems_file_with_a_tfidf_row_takes_fine_tuning_rows(tmp_path, monkeypatch):
    # the TF-IDF rows carry no fine-tuning key; the next run_row must not trip over them
    from types import SimpleNamespace

    from seqbook import pretrain_study
    from seqbook.train import RunRecord

    path = tmp_path / "systems.json"
    update_results(
        path,
        lambda r: (
            r["rows"].append({"variant": "TF-IDF", "head": "tfidf"}),
            r["provenance"].update(PROV),
        ),
    )
    record = RunRecord(
        name="x",
        settings={},
        history=[{"valid_accuracy": 0.8}],
        test={"test_accuracy": 0.81, "test_f1": 0.8},
        seconds=1.0,
        parameters=5,
        profile="fast",
        version="0",
        seed=0,
        best_epoch=1,
        extra={"encoder_parameters": 10},
    )
    monkeypatch.setattr(
        pretrain_study,
        "load_or_train",
        lambda s, progress: SimpleNamespace(record=record, loaded=True),
    )
    s = FinetuneSettings("minilm", transform="albert")
    results = read_results(path)
    pretrain_study.run_row(s, {"variant": "x"}, results, path, lambda row: None)
    rows = read_results(path)["rows"]
    assert [r.get("key") for r in rows] == [None, s.key()]


def test_cost_takes_distilled_names_that_hold_an_equals_sign(tmp_path, monkeypatch):
    from seqbook import encoder_study

    seen = {}
    monkeypatch.setattr(encoder_study, "configure_threads", lambda: None, raising=False)
    monkeypatch.setattr(
        encoder_study,
        "cost_table",
        lambda out, seeds, labels, distilled, argv, **kw: seen.update(distilled),
    )
    encoder_study.main(
        ["cost", "--out", str(tmp_path / "r.json"), "--distilled", "student (E = 128)=runs/x"]
    )
    assert seen == {"student (E = 128)": "runs/x"}


def test_recorded_commands_are_quoted_so_they_run_again():
    import shlex

    from seqbook.pretrain_study import _provenance

    argv = ["cost", "--out", "r.json", "--distilled", "student (E = 128)=runs/x"]
    results = {"provenance": {}}
    _provenance(results, argv, {}, "python -m seqbook.encoder_study")
    assert shlex.split(results["provenance"]["invocations"][-1]) == argv
    assert shlex.split(results["provenance"]["command"])[3:] == argv
