"""seqbook.bilstm_train: truncation, the subsets, length-bucketed batches, one tiny run, intervals
and the committed results files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqbook import bilstm_train as bt
from seqbook.data import Vocab, balanced_subset

DATA = Path(__file__).resolve().parents[1] / "data"


def test_truncate_keeps_head_and_tail_or_the_first_tokens():
    tokens = [str(i) for i in range(10)]
    assert bt.truncate(tokens, 4) == ["0", "1", "2", "3"]
    assert bt.truncate(tokens, 4, head_tokens=1) == ["0", "7", "8", "9"]
    assert bt.truncate(tokens, 4, head_tokens=4) == ["0", "1", "2", "3"]
    assert bt.truncate(tokens, 4, head_tokens=0) == ["6", "7", "8", "9"]
    assert bt.truncate(tokens[:3], 4, head_tokens=1) == ["0", "1", "2"]  # fits: whole
    with pytest.raises(ValueError, match=r"head_tokens must lie in \[0, 4\]"):
        bt.truncate(tokens, 4, head_tokens=5)
    with pytest.raises(ValueError, match="max_tokens must be a positive int"):
        bt.truncate(tokens, 0)


def test_balanced_indices_pick_what_balanced_subset_picks_and_are_nested():
    labels = [0] * 30 + [1] * 20
    df = pd.DataFrame({"text": [f"review {i}" for i in range(50)], "label": labels})
    for n in (2, 7, 20):
        picked = bt.balanced_indices(labels, n, seed=3)
        assert sorted(df["text"].iloc[picked]) == sorted(balanced_subset(df, n, seed=3)["text"])
        assert np.bincount(np.asarray(labels)[picked]).tolist() == [n // 2, n - n // 2]
    small, large = bt.balanced_indices(labels, 8), bt.balanced_indices(labels, 16)
    assert set(small) <= set(large)  # a learning curve adds reviews, it does not redraw them
    assert bt.balanced_indices(labels, None) == list(range(50))
    with pytest.raises(ValueError, match="n must be at most 50"):
        bt.balanced_indices(labels, 51)


def test_bucket_sampler_covers_every_review_once_with_similar_lengths_per_batch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=1000)
    sampler = bt.BucketBatchSampler(lengths, batch_size=32, seed=1, chunk_batches=10)
    epoch1, epoch2 = list(sampler), list(sampler)
    assert len(epoch1) == len(sampler) == 32
    assert sorted(i for b in epoch1 for i in b) == list(range(1000))
    assert epoch1 != epoch2  # a new order every epoch
    # padding: a bucketed batch pads far less than a random one
    padded = sum(len(b) * lengths[b].max() for b in epoch1)
    random_batches = np.array_split(rng.permutation(1000), 32)
    assert padded < 0.8 * sum(len(b) * lengths[b].max() for b in random_batches)
    again = bt.BucketBatchSampler(lengths, batch_size=32, seed=1, chunk_batches=10)
    assert list(again) == epoch1  # seeded
    ordered = list(bt.BucketBatchSampler(lengths, 100, shuffle=False))
    flat = [i for b in ordered for i in b]
    assert list(lengths[flat]) == sorted(lengths)


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="pooling must be one of"):
        bt.BiLSTMSettings(pooling="sum")
    with pytest.raises(ValueError, match=r"head_tokens must be None or in \[0, max_tokens=8\]"):
        bt.BiLSTMSettings(max_tokens=8, head_tokens=9)
    with pytest.raises(ValueError, match="train_reviews must be a positive int"):
        bt.BiLSTMSettings(train_reviews=0)


def _tiny_data(s: bt.BiLSTMSettings) -> bt.PreparedData:
    """A synthetic task a BiLSTM must solve from word identity: "good" vs "bad" somewhere in
    the review."""
    rng = np.random.default_rng(0)
    filler = [f"w{i}" for i in range(20)]

    def reviews(n):
        tokens, labels = [], []
        for k in range(n):
            words = list(rng.choice(filler, size=int(rng.integers(3, 12))))
            words.insert(int(rng.integers(0, len(words))), "good" if k % 2 else "bad")
            tokens.append(words)
            labels.append(k % 2)
        return tokens, labels

    train, valid, test = reviews(200), reviews(60), reviews(60)
    vocab = Vocab.build(train[0], min_freq=1)
    torch.manual_seed(0)
    emb = torch.randn(len(vocab), 8) * 0.1

    def loader(part, shuffle):
        return bt.review_batches(bt.encode(part[0], vocab, s), part[1], 16, shuffle=shuffle)

    return bt.PreparedData(
        vocab, emb, loader(train, True), loader(valid, False), loader(test, False), 1.0
    )


def test_a_tiny_run_learns_and_returns_a_complete_run_record():
    s = bt.BiLSTMSettings(hidden_size=8, epochs=4, lr=1e-2, max_tokens=8, head_tokens=2)
    model, record = bt.train_bilstm(s, _tiny_data(s))
    assert model.lstm.impl == "fused"
    assert record.settings["hidden_size"] == 8 and record.seed == 0
    assert len(record.history) == 4 and 1 <= record.best_epoch <= 4
    assert record.test["test_accuracy"] > 0.9  # chance is 0.5
    assert record.parameters == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_load_or_train_bilstm_trains_once_then_loads_and_keys_the_data_it_read(tmp_path):
    s = bt.BiLSTMSettings(hidden_size=8, epochs=2, lr=1e-2, max_tokens=8, head_tokens=2)
    data = _tiny_data(s)
    model, record, loaded = bt.load_or_train_bilstm(s, data, directory=tmp_path)
    again, record2, loaded2 = bt.load_or_train_bilstm(s, data, directory=tmp_path)
    assert not loaded and loaded2 and record2 == record
    for p, q in zip(model.parameters(), again.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert record.settings["data"] == data.fingerprint()
    # other data under the same settings (one label flipped) is another run, trained afresh
    other = _tiny_data(s)
    ids, label = other.train.dataset[0]
    other.train.dataset[0] = (ids, 1 - int(label))
    assert other.fingerprint() != data.fingerprint()
    assert not bt.load_or_train_bilstm(s, other, directory=tmp_path)[2]
    assert not bt.load_or_train_bilstm(s.replace(lr=5e-3), data, directory=tmp_path)[2]
    with pytest.raises(TypeError, match="s must be a BiLSTMSettings"):
        bt.load_or_train_bilstm(dataclasses.asdict(s), data, directory=tmp_path)


def test_layer_features_pool_each_level_of_the_stack_over_real_tokens_only():
    s = bt.BiLSTMSettings(hidden_size=4, num_layers=2, max_tokens=8, head_tokens=2)
    data = _tiny_data(s)
    torch.manual_seed(0)
    model = bt._build_classifier(s, data).train()
    feats, labels = bt.layer_features(model, data.test)
    assert model.training  # put back as it was
    assert sorted(feats) == [(lv, p) for lv in range(3) for p in ("max", "mean")]
    assert feats[0, "mean"].shape == (60, 8) and feats[2, "max"].shape == (60, 8)
    assert labels.shape == (60,)
    # the last level, max-pooled, is what the classifier's head reads (pooling="max")
    model.eval()
    with torch.no_grad():
        pooled = torch.cat([model.encode(b["input_ids"], b["lengths"])[1] for b in data.test])
    np.testing.assert_allclose(feats[2, "max"], pooled.numpy(), rtol=0, atol=1e-6)
    # level 0, mean-pooled, is the mean of the review's embedding rows
    batch = next(iter(data.test))
    ids, n = batch["input_ids"][0], int(batch["lengths"][0])
    want = model.embedding.weight[ids[:n]].mean(0).detach().numpy()
    np.testing.assert_allclose(feats[0, "mean"][0], want, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="poolings must be"):
        bt.layer_features(model, data.test, poolings=("last",))


def test_probe_reads_the_label_where_a_trained_stack_holds_it():
    s = bt.BiLSTMSettings(
        hidden_size=8, num_layers=2, epochs=4, lr=1e-2, max_tokens=8, head_tokens=2
    )
    data = _tiny_data(s)
    model, _ = bt.train_bilstm(s, data)
    rows = bt.probe_layers(model, data.valid, data.test, poolings=("max",))
    assert [(r["level"], r["pooling"], r["width"]) for r in rows] == [
        (0, "max", 8),
        (1, "max", 16),
        (2, "max", 16),
    ]
    by_level = {r["level"]: r["accuracy"] for r in rows}
    assert by_level[2] > 0.9  # the level the trained head reads separates "good" from "bad"
    assert all(0 <= a <= 1 for a in by_level.values())


def _vocab_of(words):
    return Vocab.build([words], min_freq=1)


def test_initial_embeddings_glove_copies_rows_and_random_keeps_only_their_spread():
    from seqbook.embeddings import glove_keyed_vectors

    glove = glove_keyed_vectors()
    vocab = _vocab_of(["good", "film", "bad", "plot", "xqzvword"])
    rows, coverage = bt.initial_embeddings("glove", vocab)
    assert rows.shape == (len(vocab), 50) and 0 < coverage < 1  # "xqzvword" has no GloVe row
    np.testing.assert_allclose(rows[vocab.stoi["film"]].numpy(), glove["film"], rtol=0, atol=0)
    rand, rand_coverage = bt.initial_embeddings("random", vocab)
    assert rand_coverage == 0.0 and torch.equal(rand[vocab.pad_id], torch.zeros(50))
    assert not torch.isclose(rand[vocab.stoi["film"]], rows[vocab.stoi["film"]]).any()
    big = _vocab_of([glove.index_to_key[i] for i in range(2000)])
    glove_rows, _ = bt.initial_embeddings("glove", big)
    random_rows, _ = bt.initial_embeddings("random", big)
    assert float(random_rows[2:].std()) == pytest.approx(float(glove_rows[2:].std()), rel=0.05)
    with pytest.raises(ValueError, match="kind must be one of"):
        bt.initial_embeddings("fasttext", vocab)
    with pytest.raises(ValueError, match="embeddings must be one of"):
        bt.BiLSTMSettings(embeddings="elmo")


def test_initial_embeddings_word2vec_is_trained_on_the_training_reviews(monkeypatch):
    """The word2vec rows come from skip-gram on the training split's tokens only."""
    from seqbook import embeddings

    corpus = [["good", "film", "fine", "plot"] * 3, ["bad", "film", "poor", "plot"] * 3] * 20
    seen = {}

    def fake_split(split):
        seen["split"] = split
        return corpus, [1, 0] * 20

    def spy(sentences, **kwargs):
        seen["sentences"], seen["kwargs"] = sentences, kwargs
        return real(sentences, **kwargs, cache=False)

    real = embeddings.train_word2vec
    monkeypatch.setattr(bt, "tokenized_split", fake_split)
    monkeypatch.setattr(embeddings, "train_word2vec", spy)
    vocab = _vocab_of(["good", "film", "unseenword"])
    rows, coverage = bt.initial_embeddings("word2vec", vocab)
    assert seen["split"] == "train" and seen["sentences"] is corpus
    assert seen["kwargs"] == bt.WORD2VEC and rows.shape == (len(vocab), 50)
    assert coverage == pytest.approx(2 / 3)  # each word counted once; "unseenword" is missing


def test_mean_interval_is_the_mean_plus_minus_the_student_t_half_width():
    m, low, high = bt.mean_interval([0.8, 0.82, 0.84])
    assert m == pytest.approx(0.82)
    assert high - m == pytest.approx(m - low) == pytest.approx(4.3027 * 0.02 / 3**0.5, rel=1e-4)
    assert bt.mean_interval([0.5]) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="at least one number"):
        bt.mean_interval([])


def test_one_results_file_schema_is_checked_on_every_read_and_write(tmp_path):
    from seqbook.provenance import new_results, read_results, update_results, write_results

    path = tmp_path / "r.json"
    for bad, says in (
        ({"runs": []}, "schema 1 with exactly the keys"),  # the old BiLSTM layout
        ({"schema": 1, "provenance": {}, "rows": [], "baselines": []}, "exactly the keys"),
        ({"schema": 1, "provenance": [], "rows": []}, "provenance must be an object"),
        ({"schema": 1, "provenance": {}, "rows": [1]}, "rows must be a list of objects"),
        ({"schema": 1, "provenance": {}, "rows": [{"a": 1}]}, "must name the command"),
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=says):
            bt.load_results_file(path)
        with pytest.raises(ValueError, match=says):
            write_results(tmp_path / "w.json", bad)
    with pytest.raises(FileNotFoundError, match="path must name a results file"):
        bt.load_results_file(tmp_path / "missing.json")
    assert read_results(tmp_path / "missing.json") == new_results()  # a file not yet written
    prov = {"command": "python -m x", "commit": "abc"}
    write_results(path, new_results(prov, [{"a": 1}]))
    update_results(path, lambda r: r["rows"].append({"a": 2}))
    assert [r["a"] for r in bt.load_results_file(path)["rows"]] == [1, 2]
    with pytest.raises(ValueError, match="rows must be a list"):  # a bad change is not written
        update_results(path, lambda r: r.update(rows={"a": 3}))
    assert [r["a"] for r in read_results(path)["rows"]] == [1, 2]


def test_merged_results_files_keep_every_parts_command(tmp_path):
    from seqbook.provenance import new_results, write_results

    parts = []
    for i in range(2):
        prov = {"command": f"python -m seqbook.bilstm_train runs --seeds {i}", "commit": "c" * 40}
        prov |= {"seconds": 10.0 + i, "base_settings": {"seed": 0}}
        parts.append(write_results(tmp_path / f"p{i}.json", new_results(prov, [{"seed": i}])))
    merged = bt.load_results_file(bt.merge_results_files(parts, tmp_path / "all.json"))
    assert [r["seed"] for r in merged["rows"]] == [0, 1]
    prov = merged["provenance"]
    assert prov["invocations"] == [p["command"] for p in prov["parts"]] and len(prov["parts"]) == 2
    assert prov["seconds"] == 21.0 and prov["base_settings"] == {"seed": 0}
    with pytest.raises(ValueError, match="at least one results file"):
        bt.merge_results_files([], tmp_path / "none.json")


# --------------------------------------------------------------------------- bad input, refused
def test_truncate_refuses_a_text_instead_of_tokens():
    # a text used to be cut into characters
    with pytest.raises(TypeError, match="tokens must be a list of tokens, got a str"):
        bt.truncate("a review that is long", 3)


def test_balanced_indices_refuse_a_size_one_label_cannot_fill():
    # it used to return fewer reviews than asked for, unbalanced
    with pytest.raises(ValueError, match="n=4 needs 2 reviews of label 1, only 1"):
        bt.balanced_indices([0, 0, 0, 1], 4)


@pytest.mark.parametrize(
    ("labels", "n", "match"),
    [
        ([0, 1, 0, 1], 2.0, "n must be an int >= 0, got 2.0"),
        ([0, 2, 1], 2, r"labels\[1\] must lie in \[0, 2\), got 2"),
    ],
)
def test_balanced_indices_refuse_a_fractional_size_or_a_third_label(labels, n, match):
    with pytest.raises((TypeError, ValueError), match=match):
        bt.balanced_indices(labels, n)


def test_review_batches_refuse_fractional_labels():
    # 0.7 used to become label 0
    with pytest.raises(ValueError, match=r"labels\[0\] must be an integer class id, got 0.7"):
        bt.review_batches([torch.tensor([2, 3])], [0.7], batch_size=2)


def test_review_batches_refuse_ids_and_labels_of_different_lengths():
    with pytest.raises(
        ValueError, match="ids and labels must have one entry per review, got 1 and 2"
    ):
        bt.review_batches([torch.tensor([2, 3])], [0, 1], batch_size=2)


@pytest.mark.parametrize(
    ("values", "level", "match"),
    [
        ([0.8, float("nan")], 0.95, r"values must be finite numbers, got \[nan\]"),
        ([0.8, 0.9], 95, r"level must lie in \(0, 1\), got 95"),
    ],
)
def test_mean_interval_refuses_a_nan_and_a_level_in_percent(values, level, match):
    with pytest.raises(ValueError, match=match):
        bt.mean_interval(values, level)


def test_the_command_writes_a_results_file_of_the_one_schema(tmp_path):
    out = tmp_path / "tfidf.json"
    assert bt.main(["tfidf", "--sizes", "250", "--out", str(out)]) == 0
    data = bt.load_results_file(out)
    prov = data["provenance"]
    assert prov["command"] == f"python -m seqbook.bilstm_train tfidf --sizes 250 --out {out}"
    assert prov["invocations"] == [prov["command"]] and len(prov["commit"]) >= 7
    assert {"cpu", "cores", "torch"} <= set(prov["hardware"])  # the provenance.hardware() format
    assert [r["train_reviews"] for r in data["rows"]] == [250]
    assert 0.5 < data["rows"][0]["test_accuracy"] <= 1.0
