import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqbook import data


@pytest.fixture(scope="module")
def table():
    return data.split_table()


def test_clean_text_removes_line_breaks_tags_and_entities():
    assert data.clean_text("Good.<br /><br />Bad &amp; <i>ugly</i>  ") == "Good. Bad & ugly"


def test_split_sizes_and_label_balance(table):
    sizes = table["split"].value_counts()
    assert len(table) == 25_000
    assert abs(sizes["train"] - 20_000) <= 5 and abs(sizes["test"] - 2_500) <= 5
    for _, part in table.groupby("split"):
        assert abs(part["label"].mean() - 0.5) < 0.01


def test_split_is_deterministic_and_matches_its_cached_copy(table):
    rebuilt = data._build_split_table()
    pd.testing.assert_frame_equal(rebuilt.reset_index(drop=True), table.reset_index(drop=True))
    assert data.split_fingerprint(rebuilt) == data.split_fingerprint(table)


def test_duplicate_texts_never_straddle_two_splits(table):
    dup = table[table["text"].duplicated(keep=False)]
    assert len(dup) > 0  # the package really has duplicates
    assert (dup.groupby("text")["split"].nunique() == 1).all()


def test_splits_share_no_text():
    texts = {s: set(data.load_split(s)["text"]) for s in data.SPLITS}
    assert not texts["train"] & texts["valid"]
    assert not texts["train"] & texts["test"]
    assert not texts["valid"] & texts["test"]


def test_no_html_left_in_reviews(table):
    assert not table["text"].str.contains("<br", regex=False).any()


def test_limit_gives_a_seeded_balanced_subset():
    a = data.load_split("train", limit=101, seed=3)
    b = data.load_split("train", limit=101, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 101 and set(a["label"].value_counts()) == {50, 51}
    assert not a.equals(data.load_split("train", limit=101, seed=4))


@pytest.mark.parametrize("split", ["training", "dev", ""])
def test_unknown_split_is_a_clear_error(split):
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'valid', 'test'\)"):
        data.load_split(split)


def test_limit_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="limit must be at most"):
        data.load_split("test", limit=10**6)


def test_rotten_tomatoes_snippets_are_balanced():
    rt = data.load_rotten_tomatoes()
    assert len(rt) == 8_530 and rt["label"].mean() == 0.5


def test_tokenize_keeps_contractions_and_splits_punctuation():
    assert data.tokenize("I didn't LIKE it, 10/10!") == [
        "i",
        "didn't",
        "like",
        "it",
        ",",
        "10",
        "/",
        "10",
        "!",
    ]


def test_vocab_round_trip_and_unknown_tokens():
    vocab = data.Vocab.build([["a", "b", "a"], ["a", "c", "b"]], min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"]
    ids = vocab.encode(["b", "a", "zzz"])
    assert ids == [3, 2, vocab.unk_id]
    assert vocab.decode(ids) == ["b", "a", "<unk>"]


def test_vocab_size_cap_keeps_the_most_frequent():
    vocab = data.Vocab.build([list("aaabbc")], min_freq=1, max_size=4)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"]


def test_vocab_decode_rejects_ids_out_of_range():
    vocab = data.Vocab.build([["a", "a"]])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 3\), got \[3, -1\]"):
        vocab.decode([0, 3, -1])


def test_vocab_encode_rejects_a_raw_string():
    with pytest.raises(TypeError, match="call tokenize"):
        data.Vocab.build([["a", "a"]]).encode("a a")


def test_collate_pads_and_masks():
    vocab = data.Vocab.build([["good", "bad", "film"]] * 2)
    ds = data.ReviewDataset(["good film", "bad", "good bad film film"], [1, 0, 1], vocab, max_len=3)
    batch = data.collate_batch([ds[0], ds[1], ds[2]])
    assert batch["input_ids"].shape == (3, 3)
    assert batch["lengths"].tolist() == [2, 1, 3]
    assert batch["mask"].tolist() == [[True, True, False], [True, False, False], [True, True, True]]
    assert (batch["input_ids"][~batch["mask"]] == vocab.pad_id).all()
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [1, 0, 1]
    assert ds.truncated == 1  # the 4-token review was cut to max_len, and counted


def test_empty_text_is_a_clear_error():
    vocab = data.Vocab.build([["a", "a"]])
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        data.ReviewDataset(["a", "  "], [0, 1], vocab, max_len=5)


@pytest.mark.parametrize(
    "labels, match",
    [
        ([2], r"labels\[0\] must lie in \[0, 2\), got 2"),
        ([7], r"labels\[0\] must lie in \[0, 2\), got 7"),
        ([0.7], r"labels\[0\] must be an integer class id, got 0.7"),  # once silently 0
        ([True], r"labels\[0\] must be an integer class id, got True"),
        (["1"], r"labels\[0\] must be an integer class id, got '1'"),
    ],
)
def test_labels_must_be_integer_class_ids(labels, match):
    vocab = data.Vocab.build([["a", "a"]])
    with pytest.raises(ValueError, match=match):
        data.ReviewDataset(["a"], labels, vocab, max_len=5)


def test_integral_labels_of_any_integer_type_are_accepted():
    vocab = data.Vocab.build([["a", "a"]])
    ds = data.ReviewDataset(["a", "a", "a"], torch.tensor([0, 1, 1]), vocab, max_len=5)
    assert ds.labels == [0, 1, 1]
    assert data.ReviewDataset(["a"], [1.0], vocab, max_len=5).labels == [1]


def test_vocab_build_rejects_strings_instead_of_token_lists():
    # a list of texts used to be read as lists of characters, giving a vocabulary of letters
    with pytest.raises(TypeError, match=r"token_lists\[0\] must be a list of tokens, got a str"):
        data.Vocab.build(["a great film", "a dull film"])
    with pytest.raises(TypeError, match="token_lists must be a list of token lists, got a str"):
        data.Vocab.build("a great film")


def test_caches_are_keyed_by_what_produced_them(monkeypatch):
    key = data.split_key()
    monkeypatch.setattr(data, "SPLIT_SEED", data.SPLIT_SEED + 1)
    assert data.split_key() != key
    monkeypatch.setattr(data, "SPLIT_SEED", data.SPLIT_SEED - 1)
    monkeypatch.setattr(data, "DATA_VERSION", data.DATA_VERSION + 1)
    assert data.split_key() != key


def test_texts_and_labels_must_match():
    vocab = data.Vocab.build([["a", "a"]])
    with pytest.raises(ValueError, match="equal length"):
        data.ReviewDataset(["a", "a"], [1], vocab, max_len=5)


def test_collate_rejects_an_empty_batch():
    with pytest.raises(ValueError, match="empty batch"):
        data.collate_batch([])


def test_pretraining_corpus_has_multi_sentence_documents_from_both_sources():
    docs = data.load_pretraining_corpus()
    assert all(len(d) >= 2 for d in docs)
    firsts = {d[0] for d in docs}
    train_firsts = {data.split_sentences(t)[0] for t in data.load_split("train")["text"]}
    test_firsts = {data.split_sentences(t)[0] for t in data.load_split("test")["text"]}
    assert docs[0][0] in train_firsts
    assert not (firsts & test_firsts) - train_firsts  # no test review leaks into pretraining
    assert any("algorithm" in " ".join(d).lower() for d in docs[-500:])  # the Wikipedia sample


def test_split_sentences():
    assert data.split_sentences('It was fine. "Then it broke!" 3 stars? Yes.') == [
        "It was fine.",
        '"Then it broke!"',
        "3 stars?",
        "Yes.",
    ]


def test_offline_sources_exist():
    assert (data.bert_encoder_path() / "config.json").is_file()
    assert all(p.is_file() for p in data.glove_files())
    assert data.reviews_csv_path().is_file()


# --------------------------------------------------------------------------- bad input, refused
def small_vocab() -> data.Vocab:
    return data.Vocab.build([["a", "a", "b", "b"]])


def test_encode_refuses_ids_instead_of_tokens():
    # ids used to come back as all <unk>
    with pytest.raises(TypeError, match=r"tokens\[0\] must be a str, got int 2 \(ids, not tokens"):
        small_vocab().encode([2, 3, 4])


def test_encode_refuses_token_lists_instead_of_tokens():
    with pytest.raises(TypeError, match=r"tokens\[0\] must be a str, got list \['a', 'b'\]"):
        small_vocab().encode([["a", "b"], ["b"]])


def test_decode_refuses_fractional_ids():
    # 1.7 used to be read as id 1
    with pytest.raises(TypeError, match=r"ids\[0\] must be an int id, got float 1.7"):
        small_vocab().decode([1.7, 2])


def test_decode_refuses_a_batch_of_ids():
    with pytest.raises(ValueError, match=r"ids must be 1-D \(one sequence\), got shape \(2, 2\)"):
        small_vocab().decode(torch.tensor([[2, 3], [3, 2]]))


def test_coverage_refuses_texts_instead_of_token_lists():
    # a text used to be read as a list of characters
    with pytest.raises(TypeError, match=r"token_lists\[0\] must be a list of tokens, got a str"):
        small_vocab().coverage(["a b a"])


@pytest.mark.parametrize("token_lists", [[], [[], []]], ids=["no lists", "empty lists"])
def test_coverage_of_no_tokens_is_an_error_not_zero(token_lists):
    with pytest.raises(ValueError, match="token_lists must hold at least one token, got none"):
        small_vocab().coverage(token_lists)


def test_vocab_build_refuses_a_fractional_min_freq():
    with pytest.raises(ValueError, match="min_freq must be a positive int, got 1.5"):
        data.Vocab.build([["a", "b"]], min_freq=1.5)


def test_review_dataset_refuses_one_text_instead_of_a_list():
    with pytest.raises(TypeError, match="texts must be a list of str, got a single str 'a b'"):
        data.ReviewDataset("a b", [0, 1, 0], small_vocab(), max_len=5)


def test_review_dataset_refuses_a_fractional_max_len():
    with pytest.raises(ValueError, match="max_len must be a positive int, got 2.5"):
        data.ReviewDataset(["a b"], [0], small_vocab(), max_len=2.5)


@pytest.mark.parametrize(
    "ids", [torch.tensor([[2, 3]]), torch.tensor([2.0, 3.7])], ids=["2-D ids", "float ids"]
)
def test_collate_refuses_ids_that_are_not_one_row_of_integers(ids):
    # float ids used to be truncated to integers without a word
    with pytest.raises(TypeError, match=r"items\[0\] must be a pair \(ids, label\) with ids a 1-D"):
        data.collate_batch([(ids, 0)])


def test_collate_refuses_a_fractional_label():
    with pytest.raises(ValueError, match=r"labels\[1\] must be an integer class id, got 0.7"):
        data.collate_batch([(torch.tensor([2, 3]), 0), (torch.tensor([2]), 0.7)])


def test_split_sentences_refuses_what_is_not_a_str():
    with pytest.raises(TypeError, match="text must be a str, got NoneType"):
        data.split_sentences(None)


def test_a_numpy_integer_limit_is_accepted():
    df = pd.DataFrame({"text": list("abcdef"), "label": [0, 1] * 3})
    pd.testing.assert_frame_equal(
        data.balanced_subset(df, np.int64(4), seed=1), data.balanced_subset(df, 4, seed=1)
    )


def test_shipped_data_dir_is_the_checkouts_data_folder_or_the_one_seqbook_data_names(
    tmp_path, monkeypatch
):
    from seqbook import bilstm_train, hf

    monkeypatch.delenv(data.DATA_ENV, raising=False)
    checkout = data.shipped_data_dir()
    assert (checkout / "results").is_dir() and (checkout / hf.SHIPPED_ALBERT).is_dir()
    # an installed package without the checkout reads the folder $SEQBOOK_DATA names
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "bilstm_main.json").write_text("{}")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.shipped_data_dir() == tmp_path
    main = bilstm_train.shipped_path("bilstm_main.json")
    assert main == tmp_path / "results" / "bilstm_main.json"
    assert hf.shipped_albert_path() == tmp_path / hf.SHIPPED_ALBERT
    with pytest.raises(FileNotFoundError, match="bilstm_depth.json ships in"):
        bilstm_train.shipped_path("bilstm_depth.json")  # not in this copy: said, not guessed


def test_shipped_data_dir_refuses_a_seqbook_data_that_is_not_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"\$SEQBOOK_DATA must name .*nowhere"):
        data.shipped_data_dir()


# ------------------------------------------------------------------ no machine paths in data/
ABSOLUTE_PATH = re.compile(r"(^|[\s=:])/(?:[\w.+-]+/)+")


def _strings(obj, where=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _strings(value, (*where, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _strings(value, (*where, i))
    elif isinstance(obj, str):
        yield where, obj


def test_committed_records_name_no_path_of_the_machine_that_wrote_them():
    # a results file or card must read the same on a reader's machine: what a run read is named
    # as data/<...> or by name (provenance.portable_path); only a shell command as it was
    # typed ("command", "invocations") may hold one, since it records what was run
    data = Path(__file__).resolve().parents[1] / "data"
    found = []
    for path in sorted(data.rglob("*.json")):
        if path.name.startswith("tokenizer") or path.name == "vocab.json":
            continue
        for where, text in _strings(json.loads(path.read_text())):
            typed = where and (where[-1] == "command" or "invocations" in where)
            if not typed and ABSOLUTE_PATH.search(text):
                found.append(f"{path.relative_to(data)} {list(where)}: {text[:80]}")
    assert not found, "\n".join(found)


def test_portable_path_names_shipped_files_by_data_and_others_without_the_machine(
    tmp_path, monkeypatch
):
    from seqbook.provenance import portable_path

    shipped = tmp_path / "somewhere" / "data"
    (shipped / "tiny-albert-imdb").mkdir(parents=True)
    monkeypatch.setenv("SEQBOOK_DATA", str(shipped))
    assert portable_path(shipped / "tiny-albert-imdb") == "data/tiny-albert-imdb"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "m").mkdir(parents=True)
    assert portable_path(tmp_path / "runs" / "m") == "runs/m"
    assert portable_path("/opt/models/albert-x") == "albert-x"  # outside both: the name only
    assert ABSOLUTE_PATH.search("/work/main/data/tiny-albert-imdb")
    assert not ABSOLUTE_PATH.search("data/tiny-albert-imdb")
