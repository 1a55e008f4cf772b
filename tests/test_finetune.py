"""The fine-tuning run (seqbook.finetune): typed records, key-checked caching, resumption and the
command line built from the settings dataclass."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch

from seqbook.albert_bilstm import AlbertBiLSTMClassifier
from seqbook.finetune import (
    CHECKPOINT_FILE,
    METRICS_FILE,
    FinetuneRun,
    FinetuneSettings,
    finetune,
    load_or_train,
    main,
    predict_proba,
)
from seqbook.hf import load_encoder
from seqbook.train import RunRecord


@pytest.fixture(scope="module")
def encoder_dir(saved_encoder):
    return saved_encoder[0]


def tiny_recipe(directory, **changes):
    """A recipe small enough for a test: 16 reviews, 24 pieces, 4 LSTM units, one epoch."""
    sizes = dict(train_subset=16, eval_subset=8, test_subset=8, max_len=24, batch_size=8, epochs=1)
    sizes["hidden_size"] = 4
    return FinetuneSettings(str(directory), **(sizes | changes))


def test_finetune_returns_a_typed_record_of_the_run(encoder_dir):
    run = finetune(tiny_recipe(encoder_dir, epochs=2), progress=False)
    assert isinstance(run, FinetuneRun) and isinstance(run.record, RunRecord)
    record = run.record
    assert set(record.test) == {"test_loss", "test_accuracy", "test_f1"}
    assert len(record.history) == 2 and 1 <= record.best_epoch <= 2
    assert record.settings == dataclasses.asdict(tiny_recipe(encoder_dir, epochs=2))
    assert record.extra["key"] == tiny_recipe(encoder_dir, epochs=2).key()
    assert 0.0 <= record.extra["truncated_share"] <= 1.0
    assert 0 < record.parameters <= record.extra["total_parameters"]
    assert record.version and record.profile and record.seed == 0


def test_load_or_train_trains_once_then_loads_and_retrains_when_the_recipe_changes(
    encoder_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("SEQBOOK_CACHE", str(tmp_path / "cache"))
    s = tiny_recipe(encoder_dir)
    first = load_or_train(s, tmp_path / "run", progress=False)
    second = load_or_train(s, tmp_path / "run", progress=False)
    assert not first.loaded and second.loaded
    assert second.record == first.record  # the whole record round-trips, seconds included
    probs = predict_proba(second.model, second.tokenizer, ["great cast"], max_len=8)
    again = predict_proba(first.model, first.tokenizer, ["great cast"], max_len=8)
    torch.testing.assert_close(probs, again)
    assert not (tmp_path / "run" / CHECKPOINT_FILE).exists()  # a finished run keeps no checkpoint
    changed = dataclasses.replace(s, head_lr=1e-2)
    assert changed.key() != s.key()
    with pytest.raises(ValueError, match="made from other settings, data or code"):
        load_or_train(changed, tmp_path / "run", progress=False)  # a named folder: refused
    third = load_or_train(changed, progress=False)  # its own folder in the cache
    assert not third.loaded and third.record.settings["head_lr"] == 1e-2


def test_the_key_follows_the_encoders_files_not_where_they_lie(encoder_dir, tmp_path):
    import shutil

    # the same weights in another folder (another checkout, Colab's download of data/) are
    # the same run, so a cache filled elsewhere serves it; other weights are another run
    moved = shutil.copytree(encoder_dir, tmp_path / "elsewhere" / "tiny-albert")
    assert tiny_recipe(moved).key() == tiny_recipe(encoder_dir).key()
    (moved / "card.json").write_text("{}")  # a card beside the weights changes nothing
    assert tiny_recipe(moved).key() == tiny_recipe(encoder_dir).key()
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps(config | {"hidden_dropout_prob": 0.3}))
    assert tiny_recipe(moved).key() != tiny_recipe(encoder_dir).key()


def test_a_linear_run_is_never_served_a_bilstm_runs_folder(encoder_dir, tmp_path):
    bilstm = tiny_recipe(encoder_dir)
    load_or_train(bilstm, tmp_path / "run", progress=False)
    for head in ("linear", "cls"):
        with pytest.raises(ValueError, match="made from other settings"):
            load_or_train(dataclasses.replace(bilstm, head=head), tmp_path / "run", progress=False)
    linear = load_or_train(
        dataclasses.replace(bilstm, head="cls"), tmp_path / "cls", progress=False
    )
    again = load_or_train(dataclasses.replace(bilstm, head="cls"), tmp_path / "cls", progress=False)
    assert again.loaded and again.model is None and again.record == linear.record


def test_a_folder_of_an_older_format_is_refused_and_a_torn_record_names_itself(
    encoder_dir, tmp_path
):
    s = tiny_recipe(encoder_dir)
    folder = tmp_path / "run"
    folder.mkdir()
    old = {"key": s.key(), "test": {"accuracy": 0.99}, "history": [], "seconds": 1.0}
    (folder / METRICS_FILE).write_text(json.dumps(old))  # the pre-RunRecord format, no marker
    with pytest.raises(ValueError, match="it has no CACHE.json"):
        load_or_train(s, folder, progress=False)
    good = tmp_path / "good"
    load_or_train(s, good, progress=False)
    (good / METRICS_FILE).write_text('{"name": "encoder + bilstm head", "sett')
    with pytest.raises(ValueError, match="metrics.json"):
        load_or_train(s, good, progress=False)


def test_an_interrupted_run_resumes_from_its_checkpoint_and_equals_an_uninterrupted_one(
    encoder_dir, tmp_path, monkeypatch
):
    import seqbook.train as train

    s = tiny_recipe(encoder_dir, epochs=3)
    straight = load_or_train(s, tmp_path / "a", progress=False)
    real_evaluate = train.evaluate
    calls = {"n": 0}

    def dies_in_epoch_2(*args, **kwargs):  # the validation pass of epoch 2
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train, "evaluate", dies_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        load_or_train(s, tmp_path / "b", progress=False)
    assert (tmp_path / "b" / CHECKPOINT_FILE).is_file()
    monkeypatch.setattr(train, "evaluate", real_evaluate)
    resumed = load_or_train(s, tmp_path / "b", progress=False)
    assert [e["epoch"] for e in resumed.record.history] == [1, 2, 3]
    drop = ("seconds",)
    assert [{k: v for k, v in e.items() if k not in drop} for e in resumed.record.history] == [
        {k: v for k, v in e.items() if k not in drop} for e in straight.record.history
    ]
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_the_command_line_is_built_from_the_settings_dataclass(encoder_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["--encoder", str(encoder_dir), "--output", str(out), "--train-subset", "16"]
    args += ["--eval-subset", "8", "--test-subset", "8", "--epochs", "1", "--max-len", "24"]
    args += ["--batch-size", "8"]
    args += ["--hidden-size", "4", "--freeze-encoder", "--no-progress"]
    run = main(args)
    assert run.record.settings["freeze_encoder"] is True
    assert "test accuracy" in capsys.readouterr().out
    assert RunRecord.load(out / METRICS_FILE) == run.record
    assert AlbertBiLSTMClassifier.from_pretrained(out).settings["hidden_size"] == 4
    with pytest.raises(SystemExit):
        main(["--help"])
    options = capsys.readouterr().out
    missing = [
        f.name
        for f in dataclasses.fields(FinetuneSettings)
        if "--" + f.name.replace("_", "-") not in options
    ]
    assert not missing, f"settings without a command-line option: {missing}"
    with pytest.raises(SystemExit):
        main(["--output", str(out), "--epochs", "two"])


@pytest.mark.slow
def test_command_line_training_on_a_tiny_subset_completes_in_a_fresh_process(encoder_dir, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "seqbook.finetune", "--encoder", str(encoder_dir)]
    cmd += ["--output", str(out), "--train-subset", "16", "--eval-subset", "8", "--epochs", "1"]
    cmd += ["--test-subset", "8"]
    cmd += ["--max-len", "24", "--batch-size", "8", "--hidden-size", "4", "--no-progress"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test accuracy" in done.stdout
    record = RunRecord.load(out / METRICS_FILE)
    assert 0.0 <= record.test["test_accuracy"] <= 1.0 and len(record.history) == 1


def test_a_frozen_encoder_is_trained_on_cached_features_and_stays_unchanged(encoder_dir):
    s = tiny_recipe(encoder_dir, epochs=2, freeze_encoder=True)
    before = load_encoder(str(encoder_dir)).state_dict()
    run = finetune(s, progress=False)
    after = run.model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert len(run.record.history) == 2 and run.record.extra["feature_seconds"] > 0


def test_the_command_with_no_options_runs_chapter_8s_system_recipe(monkeypatch):
    from seqbook.data import shipped_data_dir
    from seqbook.finetune import command_settings
    from seqbook.provenance import read_results

    monkeypatch.setenv("SEQBOOK_PROFILE", "fast")
    settings, args = command_settings(["--output", "runs/x"])
    rows = read_results(shipped_data_dir() / "results" / "albert_bilstm_systems.json")["rows"]
    (row,) = [
        r
        for r in rows
        if (r.get("system"), r.get("head"), r.get("labels"), r.get("seed"))
        == ("distilled", "bilstm", 2000, 0)
    ]
    assert settings == FinetuneSettings(**row["settings"])  # the systems table's first row
    assert settings.key() == row["key"] and args.output == "runs/x"
    every, _ = command_settings(["--output", "runs/x", "--all-data"])
    assert (every.train_subset, every.eval_subset, every.test_subset) == (None, None, None)
