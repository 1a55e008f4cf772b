"""Checks for the exercises of chapter 1 (text as tensors).

Each `check_*` runs the reader's function on generated inputs and compares with the package's
reference (`seqbook.data.collate_batch`, `seqbook.baseline.idf`, `seqbook.data.Vocab`) or with
scikit-learn's (`TfidfVectorizer`'s word n-grams).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from seqbook.baseline import idf
from seqbook.checks import CheckReport, assert_close, run_cases
from seqbook.data import Vocab, collate_batch


def _random_sequences(seed: int, batch: int, max_len: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(2, 50) for _ in range(rng.randint(1, max_len))] for _ in range(batch)]


def _random_documents(seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    words = ["good", "bad", "film", "plot", "actor", "boring", "great", "the", "a"]
    return [
        [rng.choice(words) for _ in range(rng.randint(1, 8))] for _ in range(rng.randint(2, 12))
    ]


def check_pad_batch(fn: Callable) -> CheckReport:
    """Exercise: `fn(sequences, pad_id) -> (ids (B, T) long, mask (B, T) bool)`, mask True at
    real tokens."""

    def case(
        seed: int, batch: int, max_len: int, pad_id: int, pad_id_in_text: bool = False
    ) -> Callable[[], None]:
        def run() -> None:
            seqs = _random_sequences(seed, batch, max_len)
            if pad_id_in_text:  # id 1 is also `<unk>` in a Vocab: real tokens can share it
                for s in seqs[::2]:
                    s[-1] = pad_id
            ref = collate_batch([(torch.tensor(s), 0) for s in seqs], pad_id=pad_id)
            result = fn([list(s) for s in seqs], pad_id)
            if not isinstance(result, tuple) or len(result) != 2:
                raise AssertionError(f"expected a tuple (ids, mask), got {type(result).__name__}")
            ids, mask = result
            assert_close(ids, ref["input_ids"], "ids", atol=0, rtol=0)
            if ids.dtype != torch.long:
                raise AssertionError(
                    f"ids must be a long tensor (what nn.Embedding takes), got {ids.dtype}"
                )
            if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
                raise AssertionError(
                    f"mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask))}"
                )
            if not torch.equal(mask, ref["mask"]):
                hint = ""
                if tuple(mask.shape) == tuple(ids.shape) and torch.equal(mask, ids != pad_id):
                    hint = "; a real token may have the pad id, so build the mask from the lengths"
                raise AssertionError(
                    "mask must be True exactly at real tokens (False at padding): for lengths "
                    f"{ref['lengths'].tolist()} expected {ref['mask'].int().tolist()}, got "
                    f"{mask.int().tolist()}{hint}"
                )

        return run

    return run_cases(
        "pad_batch",
        [
            ("one sequence", case(0, 1, 5, 0)),
            ("ragged batch, pad id 0", case(1, 6, 9, 0)),
            ("ragged batch, pad id 1, also used by real tokens", case(2, 4, 7, 1, True)),
            ("equal lengths", case(3, 3, 1, 0)),
        ],
    )


def check_idf(fn: Callable) -> CheckReport:
    """Exercise: `fn(documents) -> {token: idf}` as eq. (eq-text-idf)."""

    def case(seed: int) -> Callable[[], None]:
        def run() -> None:
            docs = _random_documents(seed)
            ref, got = idf(docs), fn(docs)
            if not isinstance(got, dict):
                raise AssertionError(f"expected a dict token -> idf, got {type(got).__name__}")
            if set(got) != set(ref):
                missing, extra = sorted(set(ref) - set(got)), sorted(set(got) - set(ref))
                raise AssertionError(f"tokens differ: missing {missing}, unexpected {extra}")
            for t in ref:
                if abs(float(got[t]) - ref[t]) > 1e-9:
                    raise AssertionError(
                        f"idf[{t!r}] is {float(got[t]):.6f}, expected {ref[t]:.6f}"
                        f" ({len(docs)} documents)"
                    )

        return run

    return run_cases("idf", [(f"documents #{s}", case(s)) for s in range(4)])


def check_coverage(fn: Callable) -> CheckReport:
    """Exercise: `fn(vocab, token_lists) -> float`, the share of running tokens in `vocab`."""

    def case(seed: int, min_freq: int) -> Callable[[], None]:
        def run() -> None:
            train, other = (
                _random_documents(seed),
                _random_documents(seed + 100) + [["unseen", "xyz"]],
            )
            vocab = Vocab.build(train, min_freq=min_freq)
            ref, got = vocab.coverage(other), fn(vocab, other)
            if abs(float(got) - ref) > 1e-9:
                raise AssertionError(
                    f"coverage is {float(got):.4f}, expected {ref:.4f} (min_freq={min_freq})"
                )

        return run

    return run_cases(
        "coverage",
        [(f"min_freq={m}, corpus #{s}", case(s, m)) for s, m in ((0, 1), (1, 2), (2, 3))],
    )


def _identity(x: object) -> object:
    return x


def _ngram_vectorizer(analyzer: object = "word") -> TfidfVectorizer:
    """scikit-learn's unigrams + bigrams of token lists (`analyzer="word"`), or TF-IDF with the
    reader's analyzer; sublinear tf as the baseline's."""
    if analyzer == "word":
        return TfidfVectorizer(
            ngram_range=(1, 2),
            tokenizer=_identity,
            preprocessor=_identity,
            token_pattern=None,
            lowercase=False,
            sublinear_tf=True,
        )
    return TfidfVectorizer(analyzer=analyzer, sublinear_tf=True)


def check_unigrams_and_bigrams(fn: Callable) -> CheckReport:
    """Exercise: `fn(tokens) -> list[str]`, the analyzer of the bigram baseline: every token, then
    every pair of adjacent tokens joined by one space ("not good"), as scikit-learn's
    `TfidfVectorizer(ngram_range=(1, 2))` makes them; TF-IDF, eq. (eq-text-tfidf), counts them,
    so their order does not matter, their number does."""
    reference = _ngram_vectorizer().build_analyzer()

    def compare(tokens: list[str]) -> None:
        got = fn(list(tokens))
        if isinstance(got, str) or not isinstance(got, list | tuple):
            raise AssertionError(
                f"tokens {tokens}: expected a list of str, got {type(got).__name__}"
            )
        not_str = [g for g in got if not isinstance(g, str)]
        if not_str:
            raise AssertionError(
                f"tokens {tokens}: every n-gram must be a str (a bigram as 'w1 w2'), got "
                f"{not_str[0]!r} ({type(not_str[0]).__name__})"
            )
        expected = reference(list(tokens))
        if Counter(got) != Counter(expected):
            missing = list((Counter(expected) - Counter(got)).elements())[:3]
            extra = list((Counter(got) - Counter(expected)).elements())[:3]
            raise AssertionError(
                f"tokens {tokens}: expected {len(expected)} n-grams, got {len(got)}; missing "
                f"e.g. {missing}, unexpected e.g. {extra}"
            )

    def case(tokens: list[str]) -> Callable[[], None]:
        return lambda: compare(tokens)

    def as_analyzer(seed: int) -> Callable[[], None]:
        def run() -> None:
            docs = _random_documents(seed)
            for doc in docs:
                compare(doc)
            ours = _ngram_vectorizer(lambda doc: fn(list(doc)))
            ref = _ngram_vectorizer()
            x, x_ref = ours.fit_transform(docs), ref.fit_transform(docs)
            if ours.vocabulary_ != ref.vocabulary_:
                raise AssertionError(
                    f"as a TfidfVectorizer analyzer over {len(docs)} documents: vocabulary of "
                    f"{len(ours.vocabulary_)} n-grams, expected {len(ref.vocabulary_)}"
                )
            assert_close(
                torch.from_numpy(x.toarray()),
                torch.from_numpy(x_ref.toarray()),
                "TF-IDF matrix with your analyzer",
                atol=1e-12,
                rtol=1e-9,
            )

        return run

    return run_cases(
        "unigrams_and_bigrams",
        [
            ("an empty review", case([])),
            ("one token", case(["great"])),
            ("two tokens", case(["not", "good"])),
            (
                "punctuation and contractions",
                case(["i", "didn't", "like", "it", ",", "honestly", "."]),
            ),
            ("repeated words", case(["good", "film", "good", "film", "good"])),
            ("a corpus, as TfidfVectorizer's analyzer", as_analyzer(0)),
            ("another corpus, as TfidfVectorizer's analyzer", as_analyzer(1)),
        ],
    )
