"""seqbook.pretrain_run: packed SOP blocks, the schedule, [MASK]-only evaluation, resumable runs."""

from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest
import torch

from seqbook.pretrain_run import (
    PRESETS,
    RUN_REVISION,
    HeldOut,
    PausedRun,
    Phase,
    PretrainRecord,
    PretrainSettings,
    build_stream,
    evaluate_blocks,
    load_or_pretrain,
    run_pretraining,
    sample_blocks,
)
from seqbook.pretraining import AlbertPretrainingModel, train_tokenizer

WORDS = "the a cat dog sat ran on under mat park film movie was good bad very and then".split()


def documents(n_docs: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [
        [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize() + "."
            for _ in range(rng.randint(3, 9))
        ]
        for _ in range(n_docs)
    ]


TRAIN, HELD = documents(60, 0), documents(20, 1)
TINY = dataclasses.replace(PRESETS["tiny"], vocab_size=60, tokenizer_sentences=1000)


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer((s for d in TRAIN for s in d), 60)


@pytest.fixture(scope="module")
def stream(tokenizer):
    return build_stream(tokenizer, TRAIN)


def test_stream_holds_every_sentence_in_order(tokenizer, stream):
    first = tokenizer(TRAIN[0][0], add_special_tokens=False)["input_ids"]
    assert stream.ids[: len(first)].tolist() == first
    assert stream.sentence_start.sum() == sum(len(d) for d in TRAIN)
    assert len(stream.doc_starts) == len(TRAIN) + 1 and stream.doc_starts[-1] == len(stream.ids)


def _runs(text: list[int], piece_run: list[int]) -> list[int]:
    """Every position where `piece_run` occurs in `text`."""
    n = len(piece_run)
    return [i for i in range(len(text) - n + 1) if text[i : i + n] == piece_run]


def test_blocks_are_full_cls_a_sep_b_sep_with_a_before_b_in_one_document(tokenizer, stream):
    T = 24
    batch = sample_blocks(
        stream, 50, T, np.random.default_rng(0), tokenizer.cls_token_id, tokenizer.sep_token_id
    )
    ids, types, labels = batch["input_ids"], batch["token_type_ids"], batch["order_labels"]
    assert ids.shape == (50, T) and (ids[:, 0] == tokenizer.cls_token_id).all()
    assert (ids == tokenizer.pad_token_id).sum() == 0  # packed: no padding at all
    text = stream.ids.tolist()
    doc_of = np.searchsorted(stream.doc_starts, np.arange(len(text)), side="right") - 1
    for b in range(50):
        seps = (ids[b] == tokenizer.sep_token_id).nonzero().flatten().tolist()
        assert len(seps) == 2 and seps[1] == T - 1
        a, bb = ids[b, 1 : seps[0]].tolist(), ids[b, seps[0] + 1 : T - 1].tolist()
        assert types[b, : seps[0] + 1].sum() == 0 and (types[b, seps[0] + 1 :] == 1).all()
        first, second = (a, bb) if labels[b] == 0 else (bb, a)  # undo the swap
        # each segment is a run of consecutive pieces; the first ends before the second starts,
        # in the same document
        assert any(
            i + len(first) <= j and doc_of[i] == doc_of[j]
            for i in _runs(text, first)
            for j in _runs(text, second)
        )
    assert 10 < int(labels.sum()) < 40  # about half swapped


def test_the_pieces_beside_the_middle_sep_do_not_give_the_order_away(tokenizer, stream):
    """Whether the piece before the middle [SEP] ends a sentence, and whether the piece after it
    starts one, must not depend on the order label (a cut at a window's edge would tell)."""
    n, T = 2000, 20
    batch = sample_blocks(
        stream, n, T, np.random.default_rng(1), tokenizer.cls_token_id, tokenizer.sep_token_id
    )
    ids, labels = batch["input_ids"], batch["order_labels"].numpy()
    period = tokenizer.convert_tokens_to_ids(".")
    starts_word = {i for p, i in tokenizer.get_vocab().items() if p.startswith("▁")}
    sep = (ids == tokenizer.sep_token_id).float().argmax(1).numpy()  # the middle [SEP]
    before = ids[np.arange(n), sep - 1].numpy() == period  # sentences end with "."
    after = np.isin(ids[np.arange(n), sep + 1].numpy(), list(starts_word))
    for cue in (before, after):
        in_order, swapped = cue[labels == 0].mean(), cue[labels == 1].mean()
        assert abs(in_order - swapped) < 0.08, (in_order, swapped)
    assert 0.2 < before.mean() < 0.8  # both kinds of edge occur


def test_blocks_are_reproducible_and_reject_too_long_blocks(tokenizer, stream):
    kw = dict(cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id)
    one = sample_blocks(stream, 8, 16, np.random.default_rng(3), **kw)
    two = sample_blocks(stream, 8, 16, np.random.default_rng(3), **kw)
    assert all(torch.equal(one[k], two[k]) for k in one)
    with pytest.raises(ValueError, match="no document holds"):
        sample_blocks(stream, 1, 10_000, np.random.default_rng(0), **kw)


def test_schedule_warms_up_then_reaches_zero_exactly_at_the_last_step():
    from seqbook.train import lr_factor  # the one schedule of fit and fit_steps

    s = PretrainSettings(phases=(Phase(80, 2, 16), Phase(20, 2, 32)), warmup_steps=10)
    n = s.total_steps
    factors = [lr_factor(i, n, "linear", s.warmup_steps) for i in range(1, n + 1)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[-1] == 0.0 and 0 < factors[-2] < 0.02
    assert all(a >= b for a, b in zip(factors[9:], factors[10:], strict=False))
    assert s.phase_at(79).block_len == 16 and s.phase_at(80).block_len == 32
    assert s.tokens_at(100) == 80 * 2 * 16 + 20 * 2 * 32 == s.total_tokens


def test_settings_key_changes_with_the_recipe_and_bad_settings_are_refused():
    s = PRESETS["fast"]
    assert s.key() == PretrainSettings.from_dict(s.to_dict()).key()
    assert dataclasses.replace(s, mlm_probability=s.mlm_probability + 0.05).key() != s.key()
    with pytest.raises(ValueError, match="block_len must lie in"):
        PretrainSettings(phases=(Phase(10, 2, 256),))
    with pytest.raises(ValueError, match="warmup_steps must lie in"):
        PretrainSettings(phases=(Phase(10, 2, 16),), warmup_steps=10)


def test_mlm_accuracy_counts_only_positions_shown_as_mask(tokenizer, stream):
    held = HeldOut.build(stream, tokenizer, [24], 64, floor_id=5, seed=0)
    batch = held.batches[24]
    selected = batch["mlm_labels"] != -100
    shown = selected & (batch["input_ids"] == tokenizer.mask_token_id)
    assert 0 < shown.sum() < selected.sum()  # the random and unchanged 20 % are left out
    torch.manual_seed(0)
    from seqbook.pretrain_run import albert_config_for

    model = AlbertPretrainingModel(albert_config_for(TINY, tokenizer))
    m = evaluate_blocks(model, batch, 5, tokenizer.mask_token_id)
    assert m["mask_positions"] == int(shown.sum())
    originals = batch["original_ids"][shown]
    assert m["mlm_floor"] == pytest.approx(float((originals == 5).float().mean()))
    assert m["sop_floor"] >= 0.5 and m["pairs"] == 64


def test_wilson_interval_contains_the_proportion_and_narrows_with_n():
    from seqbook.pretrain_card import wilson_interval

    lo, hi = wilson_interval(60, 100)
    assert lo < 0.6 < hi and hi - lo > wilson_interval(600, 1000)[1] - wilson_interval(600, 1000)[0]
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_resumed_run_equals_an_uninterrupted_one_and_loads_as_hugging_face(tmp_path):
    straight = run_pretraining(TINY, tmp_path / "a", progress=False, documents=(TRAIN, HELD))
    paused = run_pretraining(
        TINY, tmp_path / "b", progress=False, documents=(TRAIN, HELD), stop_after_seconds=0.0
    )
    assert isinstance(paused, PausedRun) and paused.step < TINY.total_steps
    assert (tmp_path / "b" / "checkpoint.pt").is_file()
    resumed = run_pretraining(TINY, tmp_path / "b", progress=False, documents=(TRAIN, HELD))
    assert isinstance(resumed, PretrainRecord) and resumed.run_revision == RUN_REVISION
    same = {k: v for k, v in straight.final.items() if k != "seconds"}
    assert {k: v for k, v in resumed.final.items() if k != "seconds"} == same
    assert resumed.tokens == TINY.total_tokens
    assert not (tmp_path / "b" / "checkpoint.pt").exists()
    snapshots = sorted(p.name for p in (tmp_path / "a" / "budgets").iterdir())
    assert snapshots == ["step-00000", f"step-{round(0.5 * TINY.total_steps):05d}"]

    from transformers import AlbertForPreTraining

    hf = AlbertForPreTraining.from_pretrained(tmp_path / "a", dtype=torch.float32)
    assert hf.config.hidden_dropout_prob == 0.0 and hf.config.max_position_embeddings == 32
    weights = json.loads((tmp_path / "a" / "config.json").read_text())
    assert weights["vocab_size"] == 60


def test_load_or_pretrain_keys_the_folder_and_refuses_a_folder_of_other_settings(tmp_path):
    run = load_or_pretrain(TINY, tmp_path / "run", progress=False, documents=(TRAIN, HELD))
    assert not run.loaded and run.history[-1]["step"] == TINY.total_steps
    again = load_or_pretrain(TINY, tmp_path / "run", progress=False, documents=(TRAIN, HELD))
    assert again.loaded and again.record == run.record
    other = dataclasses.replace(TINY, lr=1e-2)
    with pytest.raises(ValueError, match="holds a result made from other settings"):
        load_or_pretrain(other, tmp_path / "run", progress=False, documents=(TRAIN, HELD))
    with pytest.raises(ValueError, match="settings must be a PretrainSettings or one of"):
        load_or_pretrain("huge", tmp_path / "x")


def test_study_summary_gives_mean_spread_and_range_per_variant(tmp_path):
    from seqbook.pretrain_study import _provenance, read_results, summarise

    results = read_results(tmp_path / "missing.json")
    assert results == {"schema": 1, "provenance": {}, "rows": []}
    results["rows"] = [{"variant": "a", "test_accuracy": x} for x in (0.70, 0.74, 0.72)] + [
        {"variant": "b", "test_accuracy": 0.6}
    ]
    summary = {s["variant"]: s for s in summarise(results)}
    assert summary["a"]["n"] == 3 and summary["a"]["mean"] == pytest.approx(0.72)
    assert summary["a"]["std"] == pytest.approx(0.02) and summary["a"]["min"] == 0.70
    assert summary["b"]["n"] == 1 and np.isnan(summary["b"]["std"])
    _provenance(results, ["seeds", "--out", "x.json", "--variants", "a"])
    assert results["provenance"]["command"] == "python -m seqbook.pretrain_study seeds --out x.json"
    assert results["provenance"]["invocations"] == ["seeds --out x.json --variants a"]
    # only the variants are per invocation: an option after them stays in the command
    _provenance(results, ["seeds", "--variants", "a", "b c", "--encoder-lr", "1e-4"], {"x": 1})
    assert (
        results["provenance"]["command"]
        == "python -m seqbook.pretrain_study seeds --encoder-lr 1e-4"
    )
    assert results["provenance"]["recipe"] == {"x": 1}
    # a scratch folder of this machine is no part of the recorded command
    _provenance(results, ["recipe", "--runs", "/scratch/runs", "--steps", "2500"])
    command = results["provenance"]["command"]
    assert command == "python -m seqbook.pretrain_study recipe --steps 2500"
    (tmp_path / "torn.json").write_text('{"rows": [')
    with pytest.raises(ValueError, match="delete it and rerun"):
        read_results(tmp_path / "torn.json")


def test_throughput_probe_times_each_phase_through_the_training_loop(tokenizer, stream):
    from seqbook.pretrain_run import throughput

    rates = throughput(TINY, tokenizer, stream, steps=3)
    assert sorted(rates) == sorted(p.block_len for p in TINY.phases)
    assert all(r > 0 for r in rates.values())


def test_the_command_line_offers_every_scalar_setting_defaulted_from_the_preset():
    from seqbook.pretrain_cli import command_line

    settings, args = command_line(["--preset", "tiny", "--out", "x", "--lr", "0.01"])
    assert settings == dataclasses.replace(PRESETS["tiny"], lr=0.01) and args.out == "x"
    settings, _ = command_line(["--preset", "fast", "--out", "x", "--no-split-punctuation"])
    assert settings == dataclasses.replace(PRESETS["fast"], split_punctuation=False)
    scaled, _ = command_line(["--preset", "tiny", "--out", "x", "--steps-scale", "2"])
    assert [p.steps for p in scaled.phases] == [2 * p.steps for p in PRESETS["tiny"].phases]
    assert command_line(["--out", "x"])[0] == PRESETS["long"]  # the shipped model's command
    with pytest.raises(SystemExit):
        command_line(["--out", "x", "--phases", "3"])  # structured: not an option


def test_the_cache_keys_a_run_by_settings_corpus_and_code_revision(tmp_path, monkeypatch):
    import seqbook.pretrain_run as run

    monkeypatch.setenv("SEQBOOK_CACHE", str(tmp_path))
    made = load_or_pretrain(TINY, progress=False, documents=(TRAIN, HELD))
    assert not made.loaded and made.record.run_revision == run.RUN_REVISION
    assert load_or_pretrain(TINY, progress=False, documents=(TRAIN, HELD)).loaded
    # another corpus in the default folder: another key, another run (not corpus A's)
    other = (TRAIN[::-1], HELD)
    b = load_or_pretrain(TINY, progress=False, documents=other)
    assert not b.loaded and b.directory != made.directory
    # newer code: not reused
    monkeypatch.setattr(run, "RUN_REVISION", run.RUN_REVISION + 1)
    again = load_or_pretrain(TINY, progress=False, documents=(TRAIN, HELD))
    assert not again.loaded and again.directory != made.directory
    # a folder you name, made by the older code, is refused with a message, never served
    with pytest.raises(ValueError, match="made from other settings, data or code"):
        load_or_pretrain(TINY, made.directory, progress=False, documents=(TRAIN, HELD))


def test_paired_differences_subtract_per_seed_and_refuse_unpaired_seeds():
    from seqbook.pretrain_study import paired_differences

    rows = [
        {"variant": "a", "seed": 0, "test_accuracy": 0.70},
        {"variant": "b", "seed": 0, "test_accuracy": 0.65},
        {"variant": "a", "seed": 1, "test_accuracy": 0.60},
        {"variant": "b", "seed": 1, "test_accuracy": 0.62},
        {"variant": "c", "seed": 1, "test_accuracy": 0.90},
    ]
    diffs = paired_differences({"rows": rows}, "a", "b")
    assert list(diffs) == [0, 1]
    assert diffs[0] == pytest.approx(5.0) and diffs[1] == pytest.approx(-2.0)
    with pytest.raises(ValueError, match=r"same seeds, got seeds \[1\] and \[0, 1\]"):
        paired_differences({"rows": rows}, "c", "b")


def test_a_torn_run_file_names_itself(tmp_path):
    run = load_or_pretrain(TINY, tmp_path / "run", progress=False, documents=(TRAIN, HELD))
    path = run.directory / "run.json"
    path.write_text(path.read_text()[:40])  # a write killed half-way (before atomic writes)
    with pytest.raises(ValueError, match="run.json"):
        load_or_pretrain(TINY, tmp_path / "run", progress=False, documents=(TRAIN, HELD))


def test_the_pretraining_record_is_typed_and_reads_the_shipped_run(tmp_path):
    from seqbook.data import shipped_data_dir

    shipped = PretrainRecord.load(shipped_data_dir() / "tiny-albert-imdb" / "run.json")
    assert shipped.steps == PretrainSettings.from_dict(shipped.settings).total_steps
    assert shipped.tokens == PretrainSettings.from_dict(shipped.settings).tokens_at(shipped.steps)
    assert shipped.run_revision is None  # made before run revisions were recorded
    assert PretrainRecord.from_dict(shipped.to_dict()) == shipped  # round trip
    bad = {k: v for k, v in shipped.to_dict().items() if k != "floor_piece"}
    with pytest.raises(ValueError, match=r"a PretrainRecord needs the fields \['floor_piece'\]"):
        PretrainRecord.from_dict(bad)
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        PretrainRecord.load(tmp_path / "run.json")
