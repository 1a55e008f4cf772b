"""The pretraining run: packed in-domain blocks, the schedule, held-out evaluation, checkpoints.

`seqbook.pretraining` holds the objectives (tokenizer, masking, SOP/NSP pairs, heads, losses);
this module spends CPU on them well:

- in-domain text: the IMDB *training* reviews, sentence-split (`seqbook.data`), tokenised once
  into one stream of pieces (`TokenStream`);
- every example is a full block of `block_len` pieces, `[CLS] A [SEP] B [SEP]`, A and B two
  consecutive stretches of one review cut at a sentence boundary, swapped with probability 1/2
  (sentence-order prediction); no padding, so no attention mask and no wasted positions;
- MLM logits only at the selected positions; no dropout while pretraining;
- many small steps (the escape from the unigram plateau is counted in optimiser steps), linear
  warm-up then linear decay that reaches zero exactly at the last step, and a final phase at the
  length fine-tuning reads, so every position embedding it uses is trained;
- held-out evaluation on *test-split* reviews: MLM accuracy counted only where the input shows
  `[MASK]` (a position left unchanged can be copied), against the floor of always guessing the
  most frequent piece; SOP accuracy against the share of in-order pairs;
- the loop, schedule, mixed precision and atomic, resumable checkpoints are those of every
  other run in the book (`seqbook.train.fit_steps`); this module adds snapshots of the model at
  fixed fractions of the budget.

The model card of a finished run (held-out figures on a fixed subset, provenance, file digests)
is `seqbook.pretrain_card`; `--card` writes it at the end of the command.

Command line (the shipped model, `data/tiny-albert-imdb`, is the `long` preset)::

    python -m seqbook.pretrain_run --preset long --out data/tiny-albert-imdb
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seqbook.cache import digest, read_json, write_text
from seqbook.pretraining import (
    IGNORE_INDEX,
    AlbertPretrainingModel,
    mask_tokens,
    sop_loss,
    train_tokenizer,
)
from seqbook.provenance import hardware
from seqbook.train import Record

HISTORY_FILE = "history.json"
RUN_FILE = "run.json"
CHECKPOINT_FILE = "checkpoint.pt"
BUDGETS_DIR = "budgets"
# bumped whenever a change to the code changes what a run with the same settings computes, so a
# cached run of older code is not reused (2: the loop and schedule of `train.fit_steps`, whose
# linear decay reaches zero at the last step instead of one step after it)
RUN_REVISION = 2


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Phase:
    """`steps` optimiser steps of `batch_size` blocks of `block_len` pieces."""

    steps: int
    batch_size: int
    block_len: int


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that decides a pretraining run; `key()` names it (a changed recipe recomputes)."""

    phases: tuple[Phase, ...]
    lr: float = 3e-3
    warmup_steps: int = 300
    mlm_probability: float = 0.15
    whole_word: bool = False
    weight_decay: float = 0.01
    clip_grad_norm: float = 1.0
    vocab_size: int = 8000
    embedding_size: int = 64
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 256
    max_position_embeddings: int = 128
    tokenizer_sentences: int = 30_000
    split_punctuation: bool = False  # tokenizer: punctuation as pieces of its own
    train_docs: int | None = None  # IMDB training reviews used (None: all)
    seed: int = 0
    eval_every: int = 250
    eval_blocks: int = 256
    snapshots: tuple[float, ...] = (0.125, 0.25, 0.5)

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("phases must hold at least one Phase, got none")
        for p in self.phases:
            if p.block_len > self.max_position_embeddings or p.block_len < 8:
                raise ValueError(
                    f"block_len must lie in [8, max_position_embeddings="
                    f"{self.max_position_embeddings}], got {p.block_len}"
                )
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must lie in (0, 1), got {self.mlm_probability}")
        if not 0 <= self.warmup_steps < self.total_steps:
            raise ValueError(
                f"warmup_steps must lie in [0, {self.total_steps}), got {self.warmup_steps}"
            )

    @property
    def total_steps(self) -> int:
        return sum(p.steps for p in self.phases)

    @property
    def total_tokens(self) -> int:
        return sum(p.steps * p.batch_size * p.block_len for p in self.phases)

    def tokens_at(self, step: int) -> int:
        """Training pieces seen after `step` steps."""
        tokens, start = 0, 0
        for p in self.phases:
            tokens += min(max(step - start, 0), p.steps) * p.batch_size * p.block_len
            start += p.steps
        return tokens

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PretrainSettings:
        d = dict(d)
        d["phases"] = tuple(Phase(**p) for p in d["phases"])
        d["snapshots"] = tuple(d["snapshots"])
        return cls(**d)

    def key(self) -> str:
        """sha256 (first 16 hex digits) of the settings' canonical JSON."""
        return digest(self.to_dict())

    def phase_at(self, step: int) -> Phase:
        end = 0
        for p in self.phases:
            end += p.steps
            if step < end:
                return p
        return self.phases[-1]


PRESETS: dict[str, PretrainSettings] = {
    # chapter 7's live run: a few minutes of one thread, enough to show the plateau
    "fast": PretrainSettings(
        phases=(Phase(400, 32, 32), Phase(60, 8, 128)),
        warmup_steps=40,
        mlm_probability=0.3,
        split_punctuation=True,
        train_docs=4000,
        tokenizer_sentences=10_000,
        eval_every=50,
        eval_blocks=128,
        snapshots=(),
    ),
    # the shipped model (data/tiny-albert-imdb): 10,000 steps, about an hour of one thread of
    # a 2-core machine; punctuation split and 30 % masking, chosen by the recipe comparison
    # (`python -m seqbook.pretrain_study recipe`), leave the unigram plateau soonest
    "long": PretrainSettings(
        phases=(Phase(7_500, 64, 32), Phase(2_500, 16, 128)),
        warmup_steps=300,
        mlm_probability=0.3,
        split_punctuation=True,
        eval_every=250,
        eval_blocks=256,
        snapshots=(0.125, 0.25, 0.5),
    ),
    # a smoke test for the tests: seconds
    "tiny": PretrainSettings(
        phases=(Phase(6, 8, 16), Phase(2, 4, 32)),
        warmup_steps=2,
        vocab_size=300,
        embedding_size=16,
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        tokenizer_sentences=2000,
        train_docs=300,
        eval_every=4,
        eval_blocks=16,
        snapshots=(0.5,),
    ),
}


def albert_config_for(settings: PretrainSettings, tokenizer):
    """The `transformers.AlbertConfig` of a run (`pretraining.book_albert_config` with the run's
    sizes and tokenizer; no dropout: pretraining sees each block once)."""
    from seqbook.pretraining import book_albert_config

    return book_albert_config(
        vocab_size=len(tokenizer),
        embedding_size=settings.embedding_size,
        hidden_size=settings.hidden_size,
        num_layers=settings.num_layers,
        num_heads=settings.num_heads,
        intermediate_size=settings.intermediate_size,
        max_position_embeddings=settings.max_position_embeddings,
        tokenizer=tokenizer,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        classifier_dropout_prob=0.0,
    )


# ----------------------------------------------------------------------------- the token stream


@dataclass
class TokenStream:
    """Documents tokenised into one array: `ids` (N,), `doc_starts` (D + 1,) offsets, and
    `sentence_start` (N,) True at the first piece of every sentence."""

    ids: np.ndarray
    doc_starts: np.ndarray
    sentence_start: np.ndarray

    @property
    def doc_lengths(self) -> np.ndarray:
        return np.diff(self.doc_starts)

    @functools.cached_property
    def starts(self) -> np.ndarray:
        """The position of every sentence start, ascending."""
        return np.flatnonzero(self.sentence_start)

    @functools.cached_property
    def interior(self) -> np.ndarray:
        """For each of `starts`: True where it is not the first piece of its document."""
        return ~np.isin(self.starts, self.doc_starts)

    @functools.cached_property
    def doc_length_at_start(self) -> np.ndarray:
        """For each of `starts`: the length of its document."""
        doc = np.searchsorted(self.doc_starts, self.starts, side="right") - 1
        return self.doc_lengths[doc]


def build_stream(tokenizer, documents: Sequence[Sequence[str]]) -> TokenStream:
    """Tokenise every sentence of every document (no special tokens) into a `TokenStream`."""
    if isinstance(documents, str) or not len(documents):
        raise ValueError("documents must be a non-empty list of lists of sentences")
    from seqbook.hf import quiet_transformers

    sentences = [s for doc in documents for s in doc]
    with quiet_transformers():  # long sentences would warn about the model's maximum length
        pieces = tokenizer(sentences, add_special_tokens=False)["input_ids"]
    sent_len = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    ids = np.fromiter((i for p in pieces for i in p), dtype=np.int32, count=int(sent_len.sum()))
    sent_offsets = np.concatenate([[0], np.cumsum(sent_len)])
    sentence_start = np.zeros(len(ids), dtype=bool)
    sentence_start[sent_offsets[:-1][sent_len > 0]] = True
    n_sent = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
    doc_starts = sent_offsets[np.concatenate([[0], np.cumsum(n_sent)])]
    return TokenStream(ids, doc_starts, sentence_start)


def sample_blocks(
    stream: TokenStream, n: int, block_len: int, rng: np.random.Generator, cls_id: int, sep_id: int
) -> dict[str, Tensor]:
    """`n` full SOP blocks `[CLS] A [SEP] B [SEP]` of exactly `block_len` pieces.

    A cut is drawn uniformly among the sentence starts inside documents that hold at least
    `block_len - 3` pieces; A is taken from the text before the cut and B from the text after
    it, with `len(A) + len(B) = block_len - 3` (the split point drawn uniformly among the
    feasible ones). Each segment is trimmed from a random side, as BERT's data builder does:
    A keeps either its last pieces (ending at the cut) or the first pieces of the run of
    whole sentences before the cut; B keeps either its first pieces (starting at the cut) or
    the last pieces of the run of whole sentences after it. So in both orders the pieces next
    to each `[SEP]` are a sentence boundary or a mid-sentence cut with the same probability, and
    only the content tells the order. The halves are swapped with probability 1/2 (label 1 =
    swapped). Returns input_ids, token_type_ids (B, T) and order_labels (B,).
    """
    width = block_len - 3
    starts = stream.starts  # every sentence start, ascending
    eligible = starts[stream.interior & (stream.doc_length_at_start >= width)]
    if len(eligible) == 0:
        raise ValueError(
            f"no document holds {width} pieces in two sentences: block_len={block_len} is too long"
        )
    cuts = eligible[rng.integers(0, len(eligible), size=n)]
    docs = np.searchsorted(stream.doc_starts, cuts, side="right") - 1
    ids = np.empty((n, block_len), dtype=np.int64)
    types = np.zeros((n, block_len), dtype=np.int64)
    labels = (rng.random(n) < 0.5).astype(np.int64)
    keep_tail_a, keep_tail_b = rng.random(n) < 0.5, rng.random(n) < 0.5
    for b, c in enumerate(cuts):
        d0, d1 = stream.doc_starts[docs[b]], stream.doc_starts[docs[b] + 1]
        lo, hi = max(1, width - (d1 - c)), min(width - 1, c - d0)  # feasible len(A)
        la = int(rng.integers(lo, hi + 1))
        lb = width - la
        if keep_tail_a[b]:
            a = stream.ids[c - la : c]
        else:  # the latest sentence start leaving la pieces before the cut
            s = max(d0, starts[np.searchsorted(starts, c - la, side="right") - 1])
            a = stream.ids[s : s + la]
        if keep_tail_b[b]:  # the earliest sentence end leaving lb pieces after the cut
            k = np.searchsorted(starts, c + lb, side="left")
            e = min(d1, starts[k] if k < len(starts) else d1)
            b_ = stream.ids[e - lb : e]
        else:
            b_ = stream.ids[c : c + lb]
        first, second = (b_, a) if labels[b] else (a, b_)
        ids[b, 0] = cls_id
        ids[b, 1 : 1 + len(first)] = first
        ids[b, 1 + len(first)] = sep_id
        ids[b, 2 + len(first) : 2 + width] = second
        ids[b, -1] = sep_id
        types[b, 2 + len(first) :] = 1
    return {
        "input_ids": torch.from_numpy(ids),
        "token_type_ids": torch.from_numpy(types),
        "order_labels": torch.from_numpy(labels),
    }


def word_start_table(tokenizer) -> Tensor:
    """Bool (V,): True for pieces that begin a word ("▁..."), used by whole-word masking."""
    table = torch.zeros(len(tokenizer), dtype=torch.bool)
    for piece, i in tokenizer.get_vocab().items():
        table[i] = piece.startswith("▁")
    return table


def mask_batch(
    batch: dict[str, Tensor],
    tokenizer,
    mlm_probability: float,
    generator: torch.Generator,
    word_starts: Tensor | None = None,
) -> dict[str, Tensor]:
    """Add `mlm_labels` and the corrupted `input_ids` (keeping the originals in `original_ids`)."""
    ids = batch["input_ids"]
    corrupted, labels = mask_tokens(
        ids,
        mask_token_id=tokenizer.mask_token_id,
        vocab_size=len(tokenizer),
        special_token_ids=tokenizer.all_special_ids,
        mlm_probability=mlm_probability,
        generator=generator,
        word_starts=None if word_starts is None else word_starts[ids],
    )
    return batch | {"input_ids": corrupted, "mlm_labels": labels, "original_ids": ids}


def block_losses(
    model: AlbertPretrainingModel, batch: dict[str, Tensor], mask_token_id: int
) -> dict[str, Tensor]:
    """MLM loss at the selected positions only, SOP loss, and the counts behind the accuracies
    (MLM counted on all selected positions and on the `[MASK]`-replaced ones)."""
    hidden = model.encoder(batch["input_ids"], None, batch["token_type_ids"])  # (B, T, H)
    selected = batch["mlm_labels"] != IGNORE_INDEX  # (B, T)
    targets = batch["mlm_labels"][selected]  # (M,)
    logits = model.mlm_logits(hidden[selected])  # (M, V): the only V-wide tensor of the step
    mlm = F.cross_entropy(logits, targets) if len(targets) else hidden.sum() * 0.0
    order_logits = model.sop_classifier(model.encoder.pool(hidden))  # (B, 2)
    order = sop_loss(order_logits, batch["order_labels"])
    with torch.no_grad():
        hit = logits.argmax(-1) == targets
        masked = batch["input_ids"][selected] == mask_token_id  # shown as [MASK]
    return {
        "loss": mlm + order,
        "mlm_loss": mlm,
        "sop_loss": order,
        "mlm_logits": logits,
        "targets": targets,
        "masked": masked,
        "mlm_hits": hit,
        "sop_hits": order_logits.argmax(-1) == batch["order_labels"],
    }


# ----------------------------------------------------------------------------- evaluation


@dataclass
class HeldOut:
    """Fixed held-out blocks (from test-split reviews) with fixed masking, per block length."""

    batches: dict[int, dict[str, Tensor]]
    floor_id: int  # the most frequent training piece

    @classmethod
    def build(
        cls,
        stream: TokenStream,
        tokenizer,
        block_lens: Sequence[int],
        n: int,
        floor_id: int,
        seed: int = 12345,
        mlm_probability: float = 0.15,
    ) -> HeldOut:
        batches = {}
        for T in sorted(set(block_lens)):
            rng = np.random.default_rng([seed, T])
            blocks = sample_blocks(
                stream, n, T, rng, tokenizer.cls_token_id, tokenizer.sep_token_id
            )
            g = torch.Generator().manual_seed(seed + T)
            batches[T] = mask_batch(blocks, tokenizer, mlm_probability, g)
        return cls(batches, floor_id)


@torch.no_grad()
def evaluate_blocks(
    model: AlbertPretrainingModel,
    batch: dict[str, Tensor],
    floor_id: int,
    mask_token_id: int,
    chunk: int = 128,
    word_starts: Tensor | None = None,
    word_floor_id: int | None = None,
) -> dict[str, float]:
    """Held-out MLM accuracy on `[MASK]` positions (and on all selected ones), MLM loss on
    `[MASK]` positions, SOP accuracy, and the floors: always the most frequent piece, and the
    share of the majority order label.

    With `word_starts` (bool (V,), True for pieces that begin a word, `word_start_table`) and
    `word_floor_id` (the most frequent such piece), also the accuracy on the `[MASK]` positions
    whose hidden piece begins a word, and its floor. A piece that continues a word (`d` after
    `▁love`) can often be read off its neighbour; a word-initial piece needs more context."""
    was = model.training
    model.eval()
    sums = dict(hit_mask=0, n_mask=0, hit_all=0, n_all=0, loss_mask=0.0, sop=0, floor=0)
    sums |= dict(hit_word=0, n_word=0, floor_word=0)
    n = len(batch["order_labels"])
    for i in range(0, n, chunk):
        part = {k: v[i : i + chunk] for k, v in batch.items()}
        out = block_losses(model, part, mask_token_id)
        m = out["masked"]
        ce = F.cross_entropy(out["mlm_logits"], out["targets"], reduction="none")
        sums["hit_mask"] += int(out["mlm_hits"][m].sum())
        sums["n_mask"] += int(m.sum())
        sums["hit_all"] += int(out["mlm_hits"].sum())
        sums["n_all"] += len(out["targets"])
        sums["loss_mask"] += float(ce[m].sum())
        sums["sop"] += int(out["sop_hits"].sum())
        sums["floor"] += int((out["targets"][m] == floor_id).sum())
        if word_starts is not None:
            w = m & word_starts[out["targets"]]
            sums["hit_word"] += int(out["mlm_hits"][w].sum())
            sums["n_word"] += int(w.sum())
            sums["floor_word"] += int((out["targets"][w] == word_floor_id).sum())
    model.train(was)
    share = float(batch["order_labels"].float().mean())
    words = {}
    if word_starts is not None:
        words = {
            "mlm_accuracy_word_start": sums["hit_word"] / max(1, sums["n_word"]),
            "mlm_floor_word_start": sums["floor_word"] / max(1, sums["n_word"]),
            "word_start_positions": sums["n_word"],
        }
    return words | {
        "mlm_accuracy": sums["hit_mask"] / max(1, sums["n_mask"]),
        "mlm_accuracy_all_selected": sums["hit_all"] / max(1, sums["n_all"]),
        "mlm_loss": sums["loss_mask"] / max(1, sums["n_mask"]),
        "mlm_floor": sums["floor"] / max(1, sums["n_mask"]),
        "mask_positions": sums["n_mask"],
        "sop_accuracy": sums["sop"] / n,
        "sop_floor": max(share, 1 - share),
        "pairs": n,
    }


# ----------------------------------------------------------------------------- data


def corpus_documents(split: str, limit: int | None = None) -> list[list[str]]:
    """IMDB reviews of one split as lists of sentences (`seqbook.data.split_sentences`)."""
    from seqbook.data import load_split, split_sentences

    texts = load_split(split)["text"].tolist()
    if limit is not None:
        texts = texts[:limit]
    return [s for s in (split_sentences(t) for t in texts) if s]


def prepare(settings: PretrainSettings, out: Path, documents=None):
    """The tokenizer (trained once, saved in `out`) and the train / held-out token streams.

    `documents` = (train_docs, heldout_docs), lists of lists of sentences, replaces the IMDB
    training / test reviews (for tests and other corpora)."""
    from transformers import AutoTokenizer

    from seqbook.hf import quiet_transformers

    out.mkdir(parents=True, exist_ok=True)
    if documents is None:
        documents = (corpus_documents("train", settings.train_docs), corpus_documents("test"))
    train_docs, heldout_docs = documents
    if (out / "tokenizer.json").is_file():
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(out)
    else:
        sentences = [s for d in train_docs for s in d]
        rng = random.Random(settings.seed)
        if len(sentences) > settings.tokenizer_sentences:
            sentences = rng.sample(sentences, settings.tokenizer_sentences)
        tokenizer = train_tokenizer(
            sentences,
            settings.vocab_size,
            model_max_length=settings.max_position_embeddings,
            split_punctuation=settings.split_punctuation,
        )
        tokenizer.save_pretrained(out)
    train = build_stream(tokenizer, train_docs)
    test = build_stream(tokenizer, heldout_docs)
    return tokenizer, train, test


def save_hf(model: AlbertPretrainingModel, tokenizer, directory: Path) -> None:
    """Write the model as a Hugging Face `AlbertForPreTraining` (fp16 weights) with its
    tokenizer; load it with `from_pretrained(directory, dtype=torch.float32)`."""
    from seqbook.hf import quiet_transformers

    directory.mkdir(parents=True, exist_ok=True)
    hf = model.to_hf()
    with quiet_transformers():
        hf.to(torch.float16).save_pretrained(directory)
        tokenizer.save_pretrained(directory)


# ----------------------------------------------------------------------------- the run


def optimizer_for(model: AlbertPretrainingModel, settings: PretrainSettings):
    """AdamW at the peak rate, with weight decay on the matrices only (not biases or norms)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": settings.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=settings.lr,
    )


def training_batches(settings: PretrainSettings, tokenizer, stream, word_starts=None):
    """`batch_at(step)`: the masked blocks of optimiser step `step`, seeded by the step alone (a
    resumed run draws the batches an uninterrupted one would)."""

    def batch_at(step: int) -> dict[str, Tensor]:
        phase = settings.phase_at(step)
        rng = np.random.default_rng([settings.seed, step])
        g = torch.Generator().manual_seed(settings.seed * 1_000_003 + step)
        batch = sample_blocks(
            stream,
            phase.batch_size,
            phase.block_len,
            rng,
            tokenizer.cls_token_id,
            tokenizer.sep_token_id,
        )
        return mask_batch(batch, tokenizer, settings.mlm_probability, g, word_starts)

    return batch_at


def throughput(settings: PretrainSettings, tokenizer, stream, steps: int = 10) -> dict[int, float]:
    """Training tokens per second of each phase's shape: `steps` timed steps (after two
    untimed ones) of a throwaway model through `train.fit_steps`, the loop the run uses."""
    from seqbook.train import fit_steps

    torch.manual_seed(0)
    model = AlbertPretrainingModel(albert_config_for(settings, tokenizer))
    rates = {}
    for phase in settings.phases:
        one = dataclasses.replace(settings, phases=(phase,), warmup_steps=0)
        times: list[float] = []

        def timed(progress, out, times=times) -> None:
            if out is not None:
                times.append(progress.seconds - sum(times))

        fit_steps(
            model,
            training_batches(one, tokenizer, stream),
            total_steps=steps + 2,
            optimizer=torch.optim.AdamW(model.parameters(), lr=1e-4),
            forward=functools.partial(block_losses, mask_token_id=tokenizer.mask_token_id),
            schedule="constant",
            mixed_precision="no",
            on_step=timed,
            progress=False,
        )
        rates[phase.block_len] = phase.batch_size * phase.block_len / float(np.median(times[2:]))
    return rates


@dataclass
class PretrainRecord(Record):
    """What a finished pretraining run records (`run.json` of its folder): the settings and their
    key, the steps and training pieces seen, the wall-clock seconds, the last evaluation row
    (`final`; every row is in `history.json`), the floor pieces its held-out accuracies are
    compared with, the corpus sizes and the machine. `run_revision` is the code's
    `RUN_REVISION` when it ran (None: a run made before revisions were recorded, as the shipped
    one)."""

    settings: dict
    key: str
    steps: int
    tokens: int
    seconds: float
    final: dict
    floor_piece: str
    word_floor_piece: str
    train_pieces: int
    train_documents: int
    heldout_documents: int
    hardware: dict
    run_revision: int | None = None


@dataclass
class PausedRun:
    """A run that stopped before its last step (`stop_after_seconds`, `stop_at_step`): its
    checkpoint in the folder resumes it."""

    step: int
    paused: bool = True


def run_pretraining(
    settings: PretrainSettings,
    out: str | Path,
    *,
    checkpoint_seconds: float = 180.0,
    stop_after_seconds: float | None = None,
    stop_at_step: int | None = None,
    mixed_precision: str = "auto",
    progress: bool = True,
    log=None,
    documents=None,
) -> PretrainRecord | PausedRun:
    """Pretrain (or resume) the run `settings` in folder `out`; returns its `PretrainRecord`
    (or a `PausedRun`, if it stopped early).

    The loop, schedule (linear warm-up over `warmup_steps`, then linear decay to zero at the
    last step), mixed precision and checkpoint format are `seqbook.train.fit_steps`'; this
    function brings the batches, the two losses and the held-out evaluation.
    `out` receives the tokenizer, `checkpoint.pt` (atomic, every `checkpoint_seconds`),
    `history.json` (one row per evaluation: step, tokens seen, seconds, training losses,
    held-out MLM / SOP accuracy at each phase's block length), `budgets/step-NNNNN/` snapshots
    (step 0 and the `snapshots` fractions) and, at the end, the final model (fp16 weights) and
    `run.json`. A run whose settings differ from the folder's raises instead of mixing.
    `stop_after_seconds` pauses the run (with a checkpoint) after that much time in this call;
    `stop_at_step` pauses it once `stop_at_step` steps are done (the schedule stays that of the
    whole run: a recipe comparison can watch the first steps of long runs).
    `documents` replaces the corpus (see `prepare`).
    """
    from seqbook.train import fit_steps, lr_factor

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key_file = out / "settings.json"
    if key_file.is_file():
        stored = read_json(key_file)
        if stored.get("key") != settings.key():
            raise ValueError(
                f"{out} holds a run with other settings (key {stored.get('key')}, this one "
                f"{settings.key()}): choose another --out or delete the folder"
            )
    else:
        write_text(key_file, json.dumps({"key": settings.key(), **settings.to_dict()}, indent=1))
    if (out / RUN_FILE).is_file():
        return PretrainRecord.load(out / RUN_FILE)

    tokenizer, train, test = prepare(settings, out, documents)
    counts = np.bincount(train.ids, minlength=len(tokenizer))
    floor_id = int(counts.argmax())
    lens = [p.block_len for p in settings.phases]
    held = HeldOut.build(test, tokenizer, lens, settings.eval_blocks, floor_id)
    word_table = word_start_table(tokenizer)
    word_floor_id = int(np.where(word_table.numpy(), counts, -1).argmax())
    word_starts = word_table if settings.whole_word else None

    torch.manual_seed(settings.seed)
    model = AlbertPretrainingModel(albert_config_for(settings, tokenizer))
    n = settings.total_steps
    snapshot_steps = {0} | {round(f * n) for f in settings.snapshots}
    window: dict[str, float] = {}

    def evaluate(step: int, seconds: float, history: list[dict]) -> dict:
        row = {"step": step, "tokens": settings.tokens_at(step), "seconds": round(seconds, 1)}
        row |= {k: v / max(1, window.get("n", 0)) for k, v in window.items() if k != "n"}
        row["lr"] = settings.lr * lr_factor(step, n, "linear", settings.warmup_steps)
        for T, batch in held.batches.items():
            metrics = evaluate_blocks(
                model, batch, floor_id, tokenizer.mask_token_id, 128, word_table, word_floor_id
            )
            row |= {f"{k}@{T}": v for k, v in metrics.items()}
        history.append(row)
        write_text(out / HISTORY_FILE, json.dumps(history, indent=1))
        window.clear()
        if log is not None:
            log(row)
        return row

    def on_step(state, step_out) -> dict[str, str] | None:
        postfix = None
        if step_out is not None:  # after an optimiser step: add it to the training window
            for k in ("loss", "mlm_loss", "sop_loss"):
                window[k] = window.get(k, 0.0) + float(step_out[k].detach())
            window["train_mlm_accuracy"] = window.get("train_mlm_accuracy", 0.0) + float(
                step_out["mlm_hits"][step_out["masked"]].float().mean()
            )
            window["n"] = window.get("n", 0) + 1
        if step_out is None or state.step % settings.eval_every == 0 or state.step == n:
            row = evaluate(state.step, state.seconds, state.history)
            T = settings.phase_at(max(state.step - 1, 0)).block_len
            postfix = {
                "mlm": f"{row[f'mlm_accuracy@{T}']:.3f}",
                "sop": f"{row[f'sop_accuracy@{T}']:.3f}",
            }
        if state.step in snapshot_steps:
            save_hf(model, tokenizer, out / BUDGETS_DIR / f"step-{state.step:05d}")
        return postfix

    ckpt = out / CHECKPOINT_FILE
    state = fit_steps(
        model,
        training_batches(settings, tokenizer, train, word_starts),
        total_steps=n,
        optimizer=optimizer_for(model, settings),
        forward=functools.partial(block_losses, mask_token_id=tokenizer.mask_token_id),
        schedule="linear",
        warmup_steps=settings.warmup_steps,
        clip_grad_norm=settings.clip_grad_norm,
        mixed_precision=mixed_precision,
        on_step=on_step,
        checkpoint_path=ckpt,
        checkpoint_seconds=checkpoint_seconds,
        stop_at_step=stop_at_step,
        stop_after_seconds=stop_after_seconds,
        progress=progress,
    )
    if state.paused:
        return PausedRun(state.step)
    model.eval()
    save_hf(model, tokenizer, out)
    record = PretrainRecord(
        settings=settings.to_dict(),
        key=settings.key(),
        run_revision=RUN_REVISION,
        steps=state.step,
        tokens=settings.tokens_at(state.step),
        seconds=round(state.seconds, 1),
        final=state.history[-1],
        floor_piece=tokenizer.convert_ids_to_tokens(floor_id),
        word_floor_piece=tokenizer.convert_ids_to_tokens(word_floor_id),
        train_pieces=int(len(train.ids)),
        train_documents=int(len(train.doc_starts) - 1),
        heldout_documents=int(len(test.doc_starts) - 1),
        hardware=hardware(),
    )
    record.save(out / RUN_FILE)
    ckpt.unlink(missing_ok=True)
    return PretrainRecord.load(out / RUN_FILE)  # as a later call will read it


# ----------------------------------------------------------------------------- loading


@dataclass
class PretrainedRun:
    """A finished run: the model (float32, eval mode), its tokenizer, history rows and record."""

    model: AlbertPretrainingModel
    tokenizer: object
    history: list[dict]
    record: PretrainRecord
    directory: Path
    loaded: bool  # True: read from `directory`; False: trained now


def load_pretrained(directory: str | Path):
    """(AlbertPretrainingModel in float32 and eval mode, tokenizer) from a saved run folder."""
    from transformers import AlbertForPreTraining, AutoTokenizer

    from seqbook.hf import quiet_transformers

    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise ValueError(f"{directory} holds no saved model (no config.json)")
    with quiet_transformers():
        hf = AlbertForPreTraining.from_pretrained(directory, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(directory)
    return AlbertPretrainingModel.from_hf(hf).eval(), tokenizer


def pretrain_key(settings: PretrainSettings, documents=None) -> dict:
    """What a pretraining run depends on: its settings, its corpus (the book's reviews, named by
    the split's key, or a digest of the `documents` given) and the code's `RUN_REVISION`."""
    from seqbook.cache import digest

    if documents is None:
        from seqbook.data import split_key

        corpus: object = {"imdb reviews (train, test) of the split": split_key()}
    else:
        corpus = {"documents": digest([[list(d) for d in part] for part in documents])}
    return {"settings": settings.to_dict(), "corpus": corpus, "revision": RUN_REVISION}


def load_or_pretrain(
    settings: PretrainSettings | str = "fast",
    directory: str | Path | None = None,
    progress: bool = True,
    documents=None,
) -> PretrainedRun:
    """The run of `settings` (a `PretrainSettings` or a preset name) on its corpus, through the
    book's cache policy (`seqbook.cache.load_or_compute`, keyed by `pretrain_key`: settings,
    corpus, `RUN_REVISION`): loaded from its folder if it was completed there, else pretrained
    now (resuming an interrupted run).

    `directory` defaults to `cache_dir()/pretrain/tiny-albert-<key>`: another recipe, another
    corpus or a change to the code that changes what a run computes gets another folder. A folder
    you name that holds another run is refused with a message, never served.
    """
    from seqbook.cache import digest, load_or_compute

    if isinstance(settings, str):
        if settings not in PRESETS:
            raise ValueError(f"settings must be a PretrainSettings or one of {sorted(PRESETS)}")
        settings = PRESETS[settings]
    if not isinstance(settings, PretrainSettings):
        raise TypeError(f"settings must be a PretrainSettings, got {type(settings).__name__}")
    key = pretrain_key(settings, documents)
    owned = directory is None
    if owned:
        from seqbook.data import cache_dir

        directory = cache_dir() / "pretrain" / f"tiny-albert-{digest(key)}"
    directory = Path(directory)

    def compute(folder: Path) -> PretrainRecord:
        return run_pretraining(settings, folder, progress=progress, documents=documents)

    record, loaded = load_or_compute(
        directory, key, compute, lambda f: PretrainRecord.load(f / RUN_FILE), owned=owned
    )
    model, tokenizer = load_pretrained(directory)
    history = read_json(directory / HISTORY_FILE)
    return PretrainedRun(model, tokenizer, history, record, directory, loaded)


def mask_text_ids(tokenizer, text: str) -> torch.Tensor:
    """`[CLS] text [SEP]` as ids (1, T), with each `[MASK]` standing for one whole piece.

    Tokenising the string directly would not: the pre-tokenizer turns the space before a
    `[MASK]` into a piece "▁" of its own and prefixes the text after it with another ("▁" "."),
    inputs the model never saw in pretraining, where a mask replaced a piece such as "▁film".
    Here a `[MASK]` preceded by a space stands for a word-initial piece, and the text after it
    starts a new word only where it starts with a space."""
    if "[MASK]" not in text:
        raise ValueError(f"text must contain [MASK], got {text!r}")
    lone = tokenizer.convert_tokens_to_ids("▁")
    ids = [tokenizer.cls_token_id]
    for i, part in enumerate(text.split("[MASK]")):
        if i > 0:
            ids.append(tokenizer.mask_token_id)
        if not part.strip():
            continue
        pieces = tokenizer(part.strip(), add_special_tokens=False)["input_ids"]
        if i > 0 and not part[0].isspace() and pieces and pieces[0] == lone:
            pieces = pieces[1:]  # "[MASK]." : the text continues the masked word
        ids.extend(pieces)
    ids.append(tokenizer.sep_token_id)
    return torch.tensor([ids])


@torch.no_grad()
def fill_mask(model: AlbertPretrainingModel, tokenizer, text: str, k: int = 5) -> list[list[str]]:
    """The `k` most likely pieces at every `[MASK]` of `text`, best first (one list per mask);
    the text is tokenised by `mask_text_ids`."""
    ids = mask_text_ids(tokenizer, text)
    if ids.shape[1] > model.config.max_position_embeddings:
        raise ValueError(
            f"text has {ids.shape[1]} pieces, more than the model's "
            f"{model.config.max_position_embeddings} positions"
        )
    was_training = model.training
    model.eval()
    hidden = model.encoder(ids, None, torch.zeros_like(ids))  # (1, T, H)
    model.train(was_training)
    at = ids[0] == tokenizer.mask_token_id
    top = model.mlm_logits(hidden[0, at]).topk(k, dim=-1).indices  # (masks, k)
    return [tokenizer.convert_ids_to_tokens(row.tolist()) for row in top]


if __name__ == "__main__":  # the command lives in seqbook.pretrain_cli
    from seqbook.pretrain_cli import main

    main()
