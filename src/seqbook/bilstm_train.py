"""The BiLSTM chapter at full strength: every training review, on a CPU, in about two minutes.

    reviews -> tokens (cached) -> head + tail truncation -> vocabulary of the labelled reviews
    -> GloVe rows -> length-bucketed batches -> BiLSTMClassifier (fused LSTM kernel) -> RunRecord

Three things make a full training run affordable on two CPU cores:

- the BiLSTM runs on torch's kernel (`seqbook.lstm.LSTM(impl="fused")`, the same weights as the
  teaching loop);
- batches hold reviews of similar length (`BucketBatchSampler`), so little time goes on padding;
- the reviews are tokenised once and cached (`tokenized_split`), keyed by the split's fingerprint
  and the tokenizer's version.

The same code runs the measurements that are too slow for the chapter and are committed as
results files under `data/` instead (each with its provenance: command, git commit, hardware,
CPU capability, seconds), for example::

    python -m seqbook.bilstm_train compare --train-reviews 2000 --epochs 3 --configs max:1,mean:1
    python -m seqbook.bilstm_train compare --configs max:1,max:2,max:3,last:1 --probe
    python -m seqbook.bilstm_train runs --embeddings word2vec --train-reviews 2000 --epochs 3
    python -m seqbook.bilstm_train truncation --train-reviews 2000 --epochs 3
    python -m seqbook.bilstm_train curve --sizes 250,500,1000 --seeds 0
    python -m seqbook.bilstm_train tfidf --sizes 2000,4000,all
    ATEN_CPU_CAPABILITY=default python -m seqbook.bilstm_train runs --seeds 0
    python -m seqbook.bilstm_train merge --parts a.json b.json --out data/results/...

Every option of `BiLSTMSettings` is also a command-line option (`--hidden-size`, `--pooling`, ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from seqbook.cache import torch_load, torch_save
from seqbook.data import Vocab, cache_dir, collate_batch, load_split, split_fingerprint, tokenize
from seqbook.models import POOLINGS, BiLSTMClassifier
from seqbook.provenance import git_commit, hardware, new_results, read_results, write_results
from seqbook.runtime import seed_everything
from seqbook.train import RunRecord, run_experiment, settings_from_args, settings_parser
from seqbook.validate import check_int, check_labels, check_positive_ints

TOKENIZER_VERSION = 1  # bump when seqbook.data.tokenize changes: the token cache is keyed by it


# --------------------------------------------------------------------------- where results live
def shipped_path(name: str) -> Path:
    """A results file committed in the repository's `data/results/` folder (made by this module's
    commands; the folder is `seqbook.data.shipped_data_dir()`); a clear error if it is missing."""
    from seqbook.data import shipped_data_dir

    path = shipped_data_dir() / "results" / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{name} ships in the repository's data/results/ folder, not found at {path}; run the"
            " command in its provenance (python -m seqbook.bilstm_train ...) to make it"
        )
    return path


# --------------------------------------------------------------------------- settings
EMBEDDINGS = ("glove", "word2vec", "random")  # BiLSTMSettings.embeddings
WORD2VEC = {"vector_size": 50, "epochs": 5, "seed": 0}  # as wide as GloVe's rows


@dataclass(frozen=True)
class BiLSTMSettings:
    """Everything that determines one training run of the chapter's classifier."""

    train_reviews: int | None = None  # labelled training reviews (a balanced subset); None = all
    max_tokens: int = 256  # tokens kept per review
    head_tokens: int | None = 64  # keep the first head_tokens and the last (max - head); None:
    # the first max_tokens
    embeddings: str = "glove"  # initial rows: "glove", "word2vec" (50-d, the training reviews)
    # or "random" (see `initial_embeddings`)
    vocab_size: int = 30_000  # vocabulary cap (built from the labelled reviews only)
    min_freq: int = 2
    hidden_size: int = 64  # per direction
    num_layers: int = 1
    pooling: str = "max"
    dropout: float = 0.2
    freeze_embeddings: bool = False
    epochs: int = 2
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_tokens", "vocab_size", "min_freq", "hidden_size", "num_layers"):
            _check_positive(name, getattr(self, name))
        for name in ("epochs", "batch_size"):
            _check_positive(name, getattr(self, name))
        if self.train_reviews is not None:
            _check_positive("train_reviews", self.train_reviews)
        if self.head_tokens is not None and not 0 <= self.head_tokens <= self.max_tokens:
            raise ValueError(
                f"head_tokens must be None or in [0, max_tokens={self.max_tokens}], "
                f"got {self.head_tokens!r}"
            )
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.embeddings not in EMBEDDINGS:
            raise ValueError(f"embeddings must be one of {EMBEDDINGS}, got {self.embeddings!r}")

    def replace(self, **changes) -> BiLSTMSettings:
        return dataclasses.replace(self, **changes)


def _check_positive(name: str, value: object) -> None:
    check_positive_ints(**{name: value})


CHAPTER_RECIPE = BiLSTMSettings()  # the chapter's classifier: every review, the defaults above


# --------------------------------------------------------------------------- tokens, truncation
def tokenized_split(split: str) -> tuple[list[list[str]], list[int]]:
    """(token lists, labels) of one IMDB split, tokenised once and cached by the book's cache
    policy (`seqbook.cache.load_or_compute`), keyed by the split's fingerprint and
    `TOKENIZER_VERSION` (a changed split or tokenizer recomputes)."""
    from seqbook.cache import cached_folder, load_or_compute

    key = {"tokens of split": split, "fingerprint": split_fingerprint(), "v": TOKENIZER_VERSION}

    def compute(folder: Path) -> tuple[list[list[str]], list[int]]:
        df = load_split(split)
        tokens = [tokenize(t) for t in df["text"]]
        labels = [int(y) for y in df["label"]]
        torch_save({"tokens": tokens, "labels": labels}, folder / "tokens.pt")
        return tokens, labels

    def load(folder: Path) -> tuple[list[list[str]], list[int]]:
        saved = torch_load(folder / "tokens.pt")
        return saved["tokens"], saved["labels"]

    value, _ = load_or_compute(cached_folder("tokens", key), key, compute, load)
    return value


def truncate(tokens: Sequence[str], max_tokens: int, head_tokens: int | None = None) -> list:
    """At most `max_tokens` tokens: the first ones (`head_tokens=None`), or the first
    `head_tokens` and the last `max_tokens - head_tokens` (a review's verdict is often at its
    end). A review that fits is kept whole."""
    _check_positive("max_tokens", max_tokens)
    if isinstance(tokens, str):
        raise TypeError(f"tokens must be a list of tokens, got a str {tokens[:30]!r} (tokenize it)")
    tokens = list(tokens)
    if len(tokens) <= max_tokens:
        return tokens
    if head_tokens is None:
        return tokens[:max_tokens]
    if not 0 <= head_tokens <= max_tokens:
        raise ValueError(f"head_tokens must lie in [0, {max_tokens}], got {head_tokens!r}")
    tail = max_tokens - head_tokens
    return tokens[:head_tokens] + (tokens[-tail:] if tail else [])


def balanced_indices(labels: Sequence[int], n: int | None, seed: int = 0) -> list[int]:
    """Positions (in split order) of the reviews that `seqbook.data.balanced_subset` picks for
    `limit=n` and `seed` (the same draws, so the TF-IDF baseline and the BiLSTM see the same
    reviews); all of them for `n=None`. The subsets of one seed are nested: a learning curve
    adds reviews instead of drawing new ones."""
    labels = np.asarray(check_labels(labels), dtype=int)
    if n is None:
        return list(range(len(labels)))
    n = check_int("n", n)
    if n > len(labels):
        raise ValueError(f"n must be at most {len(labels)} (the reviews available), got {n}")
    rng = np.random.default_rng(seed)
    picked = []
    for label, k in ((0, n // 2), (1, n - n // 2)):
        rows = np.flatnonzero(labels == label)
        if k > len(rows):
            raise ValueError(f"n={n} needs {k} reviews of label {label}, only {len(rows)}")
        picked.append(rows[rng.permutation(len(rows))[:k]])
    return sorted(np.concatenate(picked).tolist())


# --------------------------------------------------------------------------- batches
class BucketBatchSampler(Sampler[list[int]]):
    """Batches of reviews of similar length: shuffle (seeded, a new order every epoch), cut the
    order into chunks of `batch_size * chunk_batches` reviews, sort each chunk by length, cut it
    into batches, and shuffle the batches. A batch then pads to a length close to its reviews'
    own, while every epoch still mixes the data. Without `shuffle`, one pass sorted by length."""

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        chunk_batches: int = 50,
    ) -> None:
        _check_positive("batch_size", batch_size)
        _check_positive("chunk_batches", chunk_batches)
        self.lengths = np.asarray(lengths)
        self.batch_size, self.shuffle, self.chunk_batches = batch_size, shuffle, chunk_batches
        self.generator = np.random.default_rng(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        B = self.batch_size
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            yield from (order[i : i + B].tolist() for i in range(0, len(order), B))
            return
        order = self.generator.permutation(len(self.lengths))
        chunk = B * self.chunk_batches
        batches = []
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches += [part[i : i + B].tolist() for i in range(0, len(part), B)]
        for i in self.generator.permutation(len(batches)):
            yield batches[i]


def review_batches(
    ids: Sequence[torch.Tensor],
    labels: Sequence[int],
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader of padded, length-bucketed batches (`BucketBatchSampler`) in the format of
    `seqbook.data.collate_batch` (input_ids, lengths, mask, labels)."""
    labels = check_labels(labels, num_classes=None)
    if len(ids) != len(labels):
        raise ValueError(
            f"ids and labels must have one entry per review, got {len(ids)} and {len(labels)}"
        )
    items = list(zip(ids, labels, strict=True))
    sampler = BucketBatchSampler([len(i) for i in ids], batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(items, batch_sampler=sampler, collate_fn=collate_batch)


# --------------------------------------------------------------------------- data for a run
@dataclass
class PreparedData:
    """Everything a run reads: the vocabulary, its initial embedding rows, the three loaders."""

    vocab: Vocab
    embeddings: torch.Tensor  # (V, 50)
    train: DataLoader
    valid: DataLoader
    test: DataLoader
    coverage: float  # share of training tokens with a pretrained row (0 for "random")

    def fingerprint(self) -> str:
        """sha256 (16 hex digits) of everything a run reads: the vocabulary, the initial rows and
        every review's ids and label in the three splits (a cache key of the data itself)."""
        import hashlib

        h = hashlib.sha256("\n".join(self.vocab.itos).encode())
        h.update(self.embeddings.detach().cpu().contiguous().numpy().tobytes())
        for loader in (self.train, self.valid, self.test):
            for ids, label in loader.dataset:
                h.update(
                    ids.numpy().astype(np.int64).tobytes()
                    + int(label).to_bytes(8, "little", signed=True)
                )
        return h.hexdigest()[:16]


def encode(tokens: Sequence[Sequence[str]], vocab: Vocab, s: BiLSTMSettings) -> list:
    """Id tensors of token lists, truncated as the settings say."""
    return [
        torch.tensor(vocab.encode(truncate(t, s.max_tokens, s.head_tokens)), dtype=torch.long)
        for t in tokens
    ]


def prepare(s: BiLSTMSettings, eval_batch_size: int = 256) -> PreparedData:
    """Vocabulary (from the `s.train_reviews` labelled reviews only), its initial embedding rows
    (`initial_embeddings(s.embeddings, ...)`) and loaders for one run; validation and test are
    the whole splits."""
    all_tokens, all_labels = tokenized_split("train")
    keep = balanced_indices(all_labels, s.train_reviews)
    train_tokens = [all_tokens[i] for i in keep]
    train_labels = [all_labels[i] for i in keep]
    vocab = Vocab.build(train_tokens, min_freq=s.min_freq, max_size=s.vocab_size)
    weights, coverage = initial_embeddings(s.embeddings, vocab)
    loaders = {
        "train": review_batches(
            encode(train_tokens, vocab, s), train_labels, s.batch_size, shuffle=True, seed=s.seed
        )
    }
    for split in ("valid", "test"):
        tokens, labels = tokenized_split(split)
        loaders[split] = review_batches(encode(tokens, vocab, s), labels, eval_batch_size)
    return PreparedData(
        vocab, weights, loaders["train"], loaders["valid"], loaders["test"], coverage
    )


def initial_embeddings(kind: str, vocab: Vocab) -> tuple[torch.Tensor, float]:
    """(rows (V, 50), share of the labelled reviews' tokens with a pretrained row) for `vocab`:

    - "glove": GloVe 6B 50-d rows (`build_embedding_matrix`; words GloVe lacks and `<unk>` get
      random rows of the copied entries' spread);
    - "word2vec": skip-gram vectors (`WORD2VEC`: 50-d, as wide as GloVe's, five epochs, one
      seeded worker) trained on every training review's tokens, without labels, never on
      validation or test reviews; words it lacks as above;
    - "random": every row (but `<pad>`, zero) drawn from N(0, s^2), s the spread of the GloVe
      rows, so that only what the vectors *say* differs from "glove" (coverage 0).
    """
    from seqbook.embeddings import build_embedding_matrix, glove_keyed_vectors, train_word2vec

    if kind not in EMBEDDINGS:
        raise ValueError(f"kind must be one of {EMBEDDINGS}, got {kind!r}")
    if kind == "word2vec":
        kv = train_word2vec(tokenized_split("train")[0], **WORD2VEC)
    else:
        kv = glove_keyed_vectors()
    matrix = build_embedding_matrix(vocab, kv, seed=0)
    if kind != "random":
        return matrix.weights, matrix.coverage.token_coverage
    scale = float(matrix.weights[matrix.found].std())
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(matrix.weights.shape, generator=generator) * scale
    weights[vocab.pad_id] = 0.0
    return weights, 0.0


def train_bilstm(
    s: BiLSTMSettings,
    data: PreparedData | None = None,
    name: str = "BiLSTM + GloVe",
    progress: bool = False,
) -> tuple[BiLSTMClassifier, RunRecord]:
    """Train the chapter's classifier with settings `s` (on `data`, else on `prepare(s)`):
    embeddings initialised as `s.embeddings` says, the fused BiLSTM kernel, AdamW, the epoch with
    the best validation accuracy kept; returns the model and its `RunRecord` (test metrics
    included)."""
    data = data if data is not None else prepare(s)
    return run_experiment(
        name,
        lambda: _build_classifier(s, data),
        data.train,
        data.valid,
        data.test,
        settings=s,
        seed=s.seed,
        progress=progress,
        **_fit_options(s),
    )


def load_or_train_bilstm(
    s: BiLSTMSettings,
    data: PreparedData | None = None,
    name: str = "BiLSTM + GloVe",
    directory: str | Path | None = None,
) -> tuple[BiLSTMClassifier, RunRecord, bool]:
    """`train_bilstm` through the book's cache policy (`train.load_or_run`): the run is keyed by
    the settings, the seed, the seqbook version and `data.fingerprint()` (what it reads), and
    saved under `directory` (default `cache_dir()/bilstm`); the next call with the same key
    loads it instead of training. Returns (model, record, loaded)."""
    from seqbook.train import load_or_run

    if not isinstance(s, BiLSTMSettings):
        raise TypeError(f"s must be a BiLSTMSettings, got {type(s).__name__}")
    data = data if data is not None else prepare(s)
    return load_or_run(
        Path(directory) if directory is not None else cache_dir() / "bilstm",
        name,
        lambda: _build_classifier(s, data),
        data.train,
        data.valid,
        data.test,
        settings=dataclasses.asdict(s) | {"data": data.fingerprint()},
        seed=s.seed,
        **_fit_options(s),
    )


def _fit_options(s: BiLSTMSettings) -> dict[str, object]:
    """The fit options of a run of `s`: one definition for `train_bilstm` and the cached run."""
    return {"epochs": s.epochs, "lr": s.lr, "weight_decay": s.weight_decay}


def _build_classifier(s: BiLSTMSettings, data: PreparedData) -> BiLSTMClassifier:
    """The classifier of settings `s` on `data`'s initial embedding rows, at fresh weights."""
    return BiLSTMClassifier.from_embeddings(
        data.embeddings,
        freeze_embeddings=s.freeze_embeddings,
        hidden_size=s.hidden_size,
        num_layers=s.num_layers,
        pooling=s.pooling,
        dropout=s.dropout,
        impl="fused",
    )


# --------------------------------------------------------------------------- probing layers
PROBE_POOLINGS = ("mean", "max")


@torch.no_grad()
def layer_features(
    model: BiLSTMClassifier, loader: DataLoader, poolings: Sequence[str] = PROBE_POOLINGS
) -> tuple[dict[tuple[int, str], np.ndarray], np.ndarray]:
    """What each level of `model`'s stack holds about each review of `loader`:
    {(level, pooling): features (N, width)} and the labels (N,). Level 0 is the embeddings,
    level l the output of BiLSTM layer l (`BiLSTMClassifier.layer_states`); each is pooled over
    the review's real tokens by `pooling` ("mean" or "max", eqs. (eq-bilstm-mean),
    (eq-bilstm-max)). The model runs in eval mode (no dropout) and is put back as it was."""
    from seqbook.models import pool

    if not poolings or any(p not in PROBE_POOLINGS for p in poolings):
        raise ValueError(
            f"poolings must be a non-empty subset of {PROBE_POOLINGS}, got {poolings!r}"
        )
    was_training = model.training
    model.eval()
    parts: dict[tuple[int, str], list[np.ndarray]] = {}
    labels = []
    try:
        for batch in loader:
            states = model.layer_states(batch["input_ids"], batch["lengths"], batch["mask"])
            for level, state in enumerate(states):
                for p in poolings:
                    feats = pool(p, state, None, batch["mask"])[0].float().cpu().numpy()
                    parts.setdefault((level, p), []).append(feats)
            labels.append(batch["labels"].cpu().numpy())
    finally:
        model.train(was_training)
    return {k: np.concatenate(v) for k, v in parts.items()}, np.concatenate(labels)


def probe_layers(
    model: BiLSTMClassifier,
    fit: DataLoader,
    score: DataLoader,
    poolings: Sequence[str] = PROBE_POOLINGS,
) -> list[dict[str, object]]:
    """A linear probe of every level of the stack: logistic regression (features standardised,
    C = 1) on each level's pooled states of the `fit` reviews, scored on the `score` reviews.
    Returns one row per (level, pooling): {"level", "pooling", "width", "accuracy"}. Level 0 is
    the embeddings; the model itself is not changed."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_fit, y_fit = layer_features(model, fit, poolings)
    x_score, y_score = layer_features(model, score, poolings)
    rows = []
    for (level, p), features in x_fit.items():
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
        probe.fit(features, y_fit)
        accuracy = float((probe.predict(x_score[level, p]) == y_score).mean())
        rows.append(
            {"level": level, "pooling": p, "width": features.shape[1], "accuracy": accuracy}
        )
    return rows


# --------------------------------------------------------------------------- results files
ENV_KEYS = ("ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS", "SEQBOOK_THREADS", "SEQBOOK_PROFILE")


def provenance(
    command: Sequence[str], seconds: float, commit: str | None = None
) -> dict[str, object]:
    """Where a results file came from: the command, the git commit (`commit`, read when the
    command started: the checkout may move on during a long run; else read now), the machine,
    the time."""
    commit = commit if commit is not None else git_commit()
    return {
        "command": " ".join(command),
        "commit": commit,
        "hardware": hardware(),  # one format with every other results file (cpu, cores, ...)
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # ATEN_CPU_CAPABILITY's effect
        "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
        "seconds": round(seconds, 1),
    }


def load_results_file(path: str | Path) -> dict[str, object]:
    """A committed results file (`seqbook.provenance.read_results`: one schema for every results
    file), refused if it is missing."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"path must name a results file, got {str(path)!r} (no such file)")
    return read_results(path)


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean over seeds and its Student-t interval,
    mean +- t_{n-1} * s / sqrt(n) with s the sample standard deviation (t = 4.30 for three seeds
    at 95 %: with so few runs the normal 1.96 would be far too narrow). One value: no interval."""
    from scipy.stats import t as student_t

    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"values must be a 1-D list of at least one number, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"values must be finite numbers, got {v[~np.isfinite(v)][:3].tolist()}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    m = float(v.mean())
    if len(v) == 1:
        return m, m, m
    half = (
        float(student_t.ppf(0.5 + level / 2, len(v) - 1)) * float(v.std(ddof=1)) / math.sqrt(len(v))
    )
    return m, m - half, m + half


# --------------------------------------------------------------------------- commands
COMPARISON = [("max", 1), ("mean", 1), ("last", 1), ("attention", 1), ("max", 2)]
CURVE_SIZES = (250, 500, 1000, 2000, 5000, None)


def _run_row(s: BiLSTMSettings, data: PreparedData, probe: bool = False) -> dict[str, object]:
    """One training run as a results row; with `probe`, the row also holds `probe_layers` of
    the trained model and of the same model at its initial weights (fit on the validation
    reviews, scored on the test reviews)."""
    extra = {}
    if probe:  # the untrained control: the same seed gives the same initial weights
        seed_everything(s.seed)  # as run_experiment seeds before it builds
        untrained = _build_classifier(s, data)
        extra["probe_untrained"] = probe_layers(untrained, data.valid, data.test)
    model, record = train_bilstm(s, data)
    if probe:
        extra["probe_trained"] = probe_layers(model, data.valid, data.test)
    return {"settings": dataclasses.asdict(s), **record.row(), **extra}


def compare(
    base: BiLSTMSettings,
    seeds: Sequence[int],
    configs: Sequence[tuple[str, int]] = COMPARISON,
    probe: bool = False,
) -> list[dict[str, object]]:
    """Every (pooling, layers) of `configs`, each with every seed, on the same data (with
    `probe`, each row also probes every layer, see `_run_row`)."""
    data = prepare(base)
    rows = []
    for pooling, layers in configs:
        for seed in seeds:
            s = base.replace(pooling=pooling, num_layers=layers, seed=seed)
            rows.append(_run_row(s, data, probe=probe))
    return rows


def curve_epochs(n: int | None, epochs: int) -> int:
    """Epochs for `n` labelled reviews: small sets get more passes (6 up to 1,000 reviews, 3 up
    to 2,000), since the same number of passes would mean far fewer updates."""
    if n is not None and n <= 1000:
        return max(epochs, 6)
    if n is not None and n <= 2000:
        return max(epochs, 3)
    return epochs


def curve(base: BiLSTMSettings, sizes: Sequence[int | None], seeds: Sequence[int]) -> list:
    """Test accuracy of the BiLSTM and of TF-IDF + logistic regression at each number of
    labelled training reviews (the same balanced, nested subsets for both)."""
    from seqbook.baseline import tfidf_learning_curve

    rows = tfidf_learning_curve(sizes)
    for n in sizes:
        for seed in seeds:
            s = base.replace(train_reviews=n, seed=seed, epochs=curve_epochs(n, base.epochs))
            row = _run_row(s, prepare(s))
            rows.append({"model": "bilstm", "train_reviews": n, **row})
    return rows


def merge_results_files(paths: Sequence[str | Path], out: str | Path) -> Path:
    """One results file from several parts (e.g. runs split across processes): the rows
    concatenated; each part's command in `invocations` and its whole provenance in `parts`."""
    if not paths:
        raise ValueError("paths must name at least one results file, got none")
    parts = [load_results_file(p) for p in paths]
    details = []
    for part in parts:
        prov = part["provenance"]
        own = {k: v for k, v in prov.items() if k not in ("parts", "base_settings", "invocations")}
        details += prov.get("parts", [own])
    provenance = {
        "command": details[-1]["command"],
        "commit": details[-1]["commit"],
        "invocations": [d["command"] for d in details],
        "seconds": round(sum(d.get("seconds", 0) for d in details), 1),
        "base_settings": parts[0]["provenance"].get("base_settings"),
        "parts": details,
    }
    return write_results(out, new_results(provenance, [r for part in parts for r in part["rows"]]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = settings_parser(BiLSTMSettings, description=__doc__.split("\n")[0])
    parser.add_argument(
        "what", choices=("compare", "truncation", "curve", "tfidf", "runs", "merge")
    )
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--parts", nargs="*", default=[], help="merge: the files to merge")
    parser.add_argument("--seeds", default="0,1,2", help="one run per seed (replaces --seed)")
    parser.add_argument(
        "--configs",
        default=",".join(f"{p}:{n}" for p, n in COMPARISON),
        help="compare: pooling:layers pairs",
    )
    parser.add_argument(
        "--truncations",
        default="128:none,256:none,256:64",
        help="truncation: max_tokens:head_tokens pairs (none = the first max_tokens)",
    )
    parser.add_argument("--sizes", default="250,500,1000,2000", help="curve: numbers of reviews")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="compare: also probe every layer, trained and at its initial weights",
    )
    args = parser.parse_args(argv)
    if args.what == "merge":
        merge_results_files(args.parts, args.out)
        return 0
    seeds = [int(x) for x in args.seeds.split(",")]
    base = settings_from_args(BiLSTMSettings, args)
    commit = git_commit()  # the code that runs is the code checked out now
    start = time.perf_counter()
    if args.what == "compare":
        configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",")]
        runs = compare(base, seeds, configs, probe=args.probe)
    elif args.what == "truncation":
        runs = []
        for pair in args.truncations.split(","):
            m, h = pair.split(":")
            s = base.replace(max_tokens=int(m), head_tokens=None if h == "none" else int(h))
            data = prepare(s)
            runs += [_run_row(s.replace(seed=seed), data) for seed in seeds]
    elif args.what in ("curve", "tfidf"):
        from seqbook.baseline import tfidf_learning_curve

        sizes = [None if x == "all" else int(x) for x in args.sizes.split(",")]
        runs = curve(base, sizes, seeds) if args.what == "curve" else tfidf_learning_curve(sizes)
    else:  # the base settings with every seed
        data = prepare(base)
        runs = [_run_row(base.replace(seed=seed), data) for seed in seeds]
    command = [
        "python",
        "-m",
        "seqbook.bilstm_train",
        *(argv if argv is not None else sys.argv[1:]),
    ]
    prov = provenance(command, time.perf_counter() - start, commit)
    prov |= {"invocations": [prov["command"]], "base_settings": dataclasses.asdict(base)}
    write_results(args.out, new_results(prov, runs))
    print(json.dumps({"wrote": str(args.out), "runs": len(runs)}))  # noqa: T201 - a command
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
