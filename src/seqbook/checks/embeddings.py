"""Checks for the word-embeddings chapter: cosine similarity, skip-gram pairs, analogies, the
embedding matrix and CBOW's averaged context. Inputs are generated (seeded); answers come from
gensim, `seqbook.embeddings` or the equations themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import torch
from gensim.models import KeyedVectors

from seqbook.checks import CheckReport, assert_close, run_cases
from seqbook.data import Vocab
from seqbook.embeddings import build_embedding_matrix


def _as_tensor(x: object, what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().float()
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float64)).float()
    except (TypeError, ValueError) as e:
        raise AssertionError(f"{what}: expected an array or tensor, got {type(x).__name__}") from e


def _random_kv(words: list[str], dim: int, seed: int) -> KeyedVectors:
    rng = np.random.default_rng(seed)
    kv = KeyedVectors(vector_size=dim, count=0, dtype=np.float32)
    kv.add_vectors(words, rng.standard_normal((len(words), dim)).astype(np.float32))
    return kv


def check_cosine_similarity(fn: Callable) -> CheckReport:
    """`fn(v, M)` -> cosine similarity of v (D,) with every row of M (N, D), shape (N,)."""

    def case(n: int, d: int, seed: int) -> Callable[[], None]:
        def run() -> None:
            rng = np.random.default_rng(seed)
            v = rng.standard_normal(d).astype(np.float32)
            M = rng.standard_normal((n, d)).astype(np.float32)
            M[0] = 3.0 * v  # a scaled copy: similarity exactly 1
            M[1] = -v  # the opposite direction: -1
            expected = (M @ v) / (np.linalg.norm(M, axis=1) * np.linalg.norm(v))
            got = _as_tensor(fn(v, M), f"cosine similarities of a ({d},) vector with ({n}, {d})")
            assert_close(got, torch.from_numpy(expected).float(), "cosine similarities", 1e-4)

        return run

    return run_cases(
        "cosine_similarity",
        [("5 rows of width 4", case(5, 4, 0)), ("300 rows of width 50", case(300, 50, 1))],
    )


def _reference_pairs(tokens: list[str], window: int) -> list[tuple[str, str]]:
    return [
        (tokens[i], tokens[j])
        for i in range(len(tokens))
        for j in range(max(0, i - window), min(len(tokens), i + window + 1))
        if j != i
    ]


def check_skipgram_pairs(fn: Callable) -> CheckReport:
    """`fn(tokens, window)` -> every (center, context) pair with |offset| in 1..window, the pairs
    whose log-probabilities eq. (eq-embeddings-skipgram) sums."""

    def case(tokens: list[str], window: int) -> Callable[[], None]:
        def run() -> None:
            got = fn(list(tokens), window)
            try:
                got = [tuple(p) for p in got]
            except TypeError as e:
                raise AssertionError(
                    f"expected a list of (center, context) pairs, got {type(got).__name__}"
                ) from e
            expected = _reference_pairs(tokens, window)
            if Counter(got) != Counter(expected):
                missing = list((Counter(expected) - Counter(got)).elements())[:3]
                extra = list((Counter(got) - Counter(expected)).elements())[:3]
                raise AssertionError(
                    f"tokens={tokens}, window={window}: expected {len(expected)} pairs, got "
                    f"{len(got)}; missing e.g. {missing}, unexpected e.g. {extra}"
                )

        return run

    rng = np.random.default_rng(0)
    long = [f"w{int(i)}" for i in rng.integers(0, 6, 12)]  # repeated words
    return run_cases(
        "skipgram_pairs",
        [
            ("window 1", case(["the", "film", "was", "great"], 1)),
            ("window 2", case(["the", "film", "was", "great"], 2)),
            ("window longer than the text", case(["short", "review"], 5)),
            ("repeated words, window 3", case(long, 3)),
        ],
    )


def check_cbow_context(fn: Callable) -> CheckReport:
    """`fn(kv, tokens, t, window)` -> (D,) the mean of `kv`'s vectors of the context words of
    position `t`, eq. (eq-embeddings-cbow): every position at most `window` away from `t`, not `t`
    itself, cut short at the ends of the text; a word that occurs twice in the window counts twice
    (the positions of eq. (eq-embeddings-skipgram), averaged instead of predicted one by one)."""
    words = ["the", "film", "was", "not", "good", "at", "all", "plot", "actor", "bad"]

    def case(tokens: list[str], t: int, window: int, seed: int) -> Callable[[], None]:
        def run() -> None:
            kv = _random_kv(words, 8, seed)
            context = [
                tokens[j] for j in range(max(0, t - window), min(len(tokens), t + window + 1))
            ]
            context = context[: min(t, window)] + context[min(t, window) + 1 :]  # drop the center
            expected = torch.from_numpy(np.mean([kv[w] for w in context], axis=0)).float()
            got = _as_tensor(fn(kv, list(tokens), t, window), "the averaged context vector")
            where = f"tokens={tokens}, t={t} ({tokens[t]!r}), window={window}"
            if tuple(got.shape) != tuple(expected.shape):
                raise AssertionError(
                    f"{where}: expected a vector of shape {tuple(expected.shape)}, got "
                    f"{tuple(got.shape)}"
                )
            if not torch.allclose(got, expected, atol=1e-5, rtol=1e-5):
                raise AssertionError(
                    f"{where}: expected the mean of the vectors of the context {context} "
                    f"(one per position); yours differs by up to "
                    f"{(got - expected).abs().max().item():.3g}"
                )

        return run

    rng = np.random.default_rng(0)
    long = [words[int(i)] for i in rng.integers(0, 4, 12)]  # repeated words
    review = ["the", "film", "was", "not", "good", "at", "all"]
    return run_cases(
        "cbow_context",
        [
            ("the middle of a review, window 2", case(review, 3, 2, 0)),
            ("the first word: no left context", case(review, 0, 2, 1)),
            ("the last word, window 3", case(review, 6, 3, 2)),
            ("window longer than the text", case(["bad", "plot"], 1, 5, 3)),
            ("repeated words, window 3", case(long, 5, 3, 4)),
        ],
    )


def check_analogy(fn: Callable) -> CheckReport:
    """`fn(kv, a, b, c)` -> the word d for "a is to b as c is to d": the word closest in cosine
    similarity to b - a + c of the unit-length vectors, leaving out a, b and c (3CosAdd, as
    gensim's `most_similar`)."""
    words = [f"word{i}" for i in range(60)]

    def case(seed: int, kind: str) -> Callable[[], None]:
        def run() -> None:
            kv = _random_kv(words, 16, seed)
            rng = np.random.default_rng(seed + 100)
            a, b, c = (words[int(i)] for i in rng.choice(len(words), 3, replace=False))
            vectors = kv.vectors.copy()
            if kind == "planted":  # make word59 the exact answer
                vectors[kv.key_to_index["word59"]] = kv[b] - kv[a] + kv[c]
            elif kind == "norms":  # lengths that vary, as frequent and rare words' do
                vectors *= np.exp(rng.uniform(-1.5, 1.5, (len(words), 1))).astype(np.float32)
            elif kind == "close":  # b and c near a: a, b and c are the nearest to b - a + c
                for w in (b, c):
                    noise = rng.standard_normal(16).astype(np.float32)
                    vectors[kv.key_to_index[w]] = kv[a] + 0.4 * noise
            kv = KeyedVectors(vector_size=16, count=0, dtype=np.float32)
            kv.add_vectors(words, vectors)
            expected = kv.most_similar(positive=[b, c], negative=[a], topn=1)[0][0]
            got = fn(kv, a, b, c)
            if got != expected:
                raise AssertionError(
                    f"{a} : {b} :: {c} : ?  expected {expected!r}, got {got!r}"
                    + (" (a, b and c themselves must be excluded)" if got in (a, b, c) else "")
                )

        return run

    return run_cases(
        "analogy",
        [
            ("a planted exact answer", case(0, "planted")),
            ("vectors of very different lengths", case(1, "norms")),
            ("b and c close to a", case(2, "close")),
        ],
    )


def check_embedding_matrix(fn: Callable) -> CheckReport:
    """`fn(vocab, kv)` -> (len(vocab), kv.vector_size) tensor: row i is kv[vocab.itos[i]] where kv
    knows the word, zero elsewhere (the `<pad>`, `<unk>` and out-of-vocabulary rows)."""

    def case(known: int, unknown: int, seed: int) -> Callable[[], None]:
        def run() -> None:
            rng = np.random.default_rng(seed)
            kv_words = [f"known{i}" for i in range(known)] + ["<unk>", "extra"]
            kv = _random_kv(kv_words, 8, seed)
            tokens = [f"known{i}" for i in range(known)] + [f"oov{i}" for i in range(unknown)]
            tokens = [t for t in tokens for _ in range(int(rng.integers(1, 4)))]
            vocab = Vocab.build([tokens], min_freq=1)
            expected = build_embedding_matrix(vocab, kv, oov="zeros").weights
            got = fn(vocab, kv)
            assert_close(
                _as_tensor(got, "embedding matrix"), expected, "embedding matrix", 1e-6, 1e-5
            )

        return run

    return run_cases(
        "embedding_matrix",
        [
            ("every word known", case(6, 0, 0)),
            ("some words unknown", case(5, 4, 1)),
            ("no word known", case(0, 3, 2)),
        ],
    )
