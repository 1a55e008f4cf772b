"""Pretraining ALBERT (Lan et al. 2020): tokenizer, MLM masking, SOP / NSP pairs, heads, loop.

- `train_tokenizer`: a SentencePiece-style unigram tokenizer trained offline with `tokenizers`,
  wrapped as a `transformers.PreTrainedTokenizerFast` with ALBERT's special tokens.
- `mask_tokens`: masked-language-model corruption (Devlin et al. 2019), eq. (eq-pretrain-mlm).
- `sentence_order_pairs` / `next_sentence_pairs`: the SOP task of ALBERT and, for contrast, BERT's
  NSP. Label 0 = "in order" (SOP) / "is the next segment" (NSP), 1 = "swapped" / "random", the
  convention of transformers' `sentence_order_label` and `next_sentence_label`.
- `AlbertPretrainingModel`: `seqbook.albert.AlbertEncoder` + the MLM head (decoding through the
  tied E-dimensional embedding) + the SOP head; `to_hf()` gives `transformers.AlbertForPreTraining`.
- `sop_loss`, eq. (eq-pretrain-sop-loss); `pretrain` (resumable) and `load_or_pretrain`.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbook.albert import ACTIVATIONS, AlbertEncoder

__all__ = [
    "SPECIAL_TOKENS",
    "AlbertPretrainingModel",
    "MLMHead",
    "PretrainHistory",
    "PretrainResult",
    "SOPHead",
    "SegmentPair",
    "albert_config",
    "encode_pairs",
    "evaluate_pretraining",
    "load_or_pretrain",
    "mask_tokens",
    "next_sentence_pairs",
    "pretrain",
    "sentence_order_pairs",
    "sop_loss",
    "split_documents",
    "train_tokenizer",
]

# ALBERT's special tokens, in the order (and so with the ids) of albert-base-v2's vocabulary.
SPECIAL_TOKENS = {"pad": "<pad>", "unk": "<unk>", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
IGNORE_INDEX = -100  # label of positions the MLM loss skips (torch's cross_entropy default)


# ----------------------------------------------------------------------------- tokenizer


def train_tokenizer(texts: Iterable[str], vocab_size: int, *, model_max_length: int = 512):
    """Train a unigram (SentencePiece-style) tokenizer on `texts`, offline.

    Lower-cases and NFKC-normalises like albert-base-v2, marks word starts with "▁", and adds
    `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` with token types 0 / 1. Returns a
    `transformers.PreTrainedTokenizerFast` (save it with `save_pretrained`, load it back with
    `AutoTokenizer.from_pretrained`).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import UnigramTrainer
    from transformers import PreTrainedTokenizerFast

    if not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(
            f"vocab_size must be an int larger than the {len(SPECIAL_TOKENS)} special tokens, "
            f"got {vocab_size!r}"
        )
    specials = list(SPECIAL_TOKENS.values())
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace("``", '"')]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        unk_token=SPECIAL_TOKENS["unk"],
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok = _canonical_order(tok, specials)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=model_max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        **{f"{k}_token": v for k, v in SPECIAL_TOKENS.items()},
    )


def _canonical_order(tok, specials: list[str]):
    """Give the trained pieces ids in alphabetical order after the special tokens.

    The unigram trainer finds the same pieces on every run, but its scores differ in the last
    bits (its sums run in a varying order), and it numbers the pieces by score, so the same
    seed gave different ids on different runs. Alphabetical ids make a trained tokenizer
    reproducible; the scores, which decide the segmentation, are kept as they are.
    """
    from tokenizers import Tokenizer

    state = json.loads(tok.to_str())
    vocab = state["model"]["vocab"]
    head = vocab[: len(specials)]
    if [piece for piece, _ in head] != specials:
        raise RuntimeError(f"the trainer put {head} first, expected the special tokens {specials}")
    state["model"]["vocab"] = head + sorted(vocab[len(specials) :], key=lambda ps: ps[0])
    return Tokenizer.from_str(json.dumps(state))


def albert_config(profile, vocab_size: int, tokenizer=None, max_position_embeddings: int = 512):
    """The `transformers.AlbertConfig` of the book's tiny ALBERT for a `seqbook.runtime` profile."""
    from transformers import AlbertConfig

    ids = {"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}
    if tokenizer is not None:
        ids = {
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.cls_token_id,
            "eos_token_id": tokenizer.sep_token_id,
        }
    return AlbertConfig(
        vocab_size=vocab_size,
        embedding_size=profile.albert_embedding,
        hidden_size=profile.albert_hidden,
        num_hidden_layers=profile.albert_layers,
        num_attention_heads=profile.albert_heads,
        intermediate_size=profile.albert_intermediate,
        max_position_embeddings=max_position_embeddings,
        **ids,
    )


# ----------------------------------------------------------------------------- MLM masking


def mask_tokens(
    input_ids: Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    special_token_ids: Sequence[int],
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
    word_starts: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Masked-LM corruption, eq. (eq-pretrain-mlm): returns `(corrupted_ids, labels)`.

    Each token that is not special (padding included among the specials) is selected with
    probability `mlm_probability`. A selected token becomes `[MASK]` with probability 0.8, a
    random non-special token with 0.1, and stays unchanged with 0.1; its label is the original
    id. Every other label is -100, which the loss ignores.

    Whole-word masking: with `word_starts` (bool, `input_ids`' shape, True at the first piece of
    each word, e.g. pieces starting with "▁"), the draws are made per word, so a word's pieces
    are selected, and replaced the same way, together.
    """
    if not isinstance(input_ids, Tensor) or input_ids.dtype != torch.long:
        raise TypeError(
            "input_ids must be a long torch.Tensor, got "
            f"{getattr(input_ids, 'dtype', type(input_ids).__name__)}"
        )
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must lie in [0, 1], got {mlm_probability}")
    specials = torch.as_tensor(sorted(set(special_token_ids)), dtype=torch.long)
    if not 0 <= mask_token_id < vocab_size or mask_token_id not in specials.tolist():
        raise ValueError(
            f"mask_token_id must be one of special_token_ids {specials.tolist()} and below "
            f"vocab_size={vocab_size}, got {mask_token_id}"
        )
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= vocab_size):
        raise ValueError(
            f"input_ids must lie in [0, vocab_size={vocab_size}), got values in "
            f"[{int(input_ids.min())}, {int(input_ids.max())}]"
        )
    device = input_ids.device
    if word_starts is not None:
        if not isinstance(word_starts, Tensor) or word_starts.shape != input_ids.shape:
            raise ValueError(
                f"word_starts must be a bool tensor of input_ids' shape {tuple(input_ids.shape)}, "
                f"got {getattr(word_starts, 'shape', type(word_starts).__name__)}"
            )
        word_index = (word_starts.long().cumsum(-1) - 1).clamp_min(0).to(device)  # word of a piece

    def uniform() -> Tensor:
        u = torch.rand(input_ids.shape, generator=generator).to(device)
        return u if word_starts is None else u.gather(-1, word_index)  # one draw per word

    candidate = ~torch.isin(input_ids, specials.to(device))  # (B, T): may be masked
    selected = candidate & (uniform() < mlm_probability)
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))

    r = uniform()  # one draw decides [MASK] (r < 0.8), random (0.8 <= r < 0.9) or unchanged
    to_mask = selected & (r < 0.8)
    to_random = selected & (r >= 0.8) & (r < 0.9)
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[specials] = False
    pool = allowed.nonzero().squeeze(1)  # the non-special ids
    random_ids = pool[torch.randint(len(pool), input_ids.shape, generator=generator)].to(device)

    corrupted = input_ids.clone()
    corrupted[to_mask] = mask_token_id
    corrupted[to_random] = random_ids[to_random]
    return corrupted, labels


# ----------------------------------------------------------------------------- SOP and NSP pairs


@dataclass(frozen=True)
class SegmentPair:
    """Two text segments and the label to predict; `document` is where `first` came from."""

    first: str
    second: str
    label: int  # 0: in order / next segment; 1: swapped (SOP) / random segment (NSP)
    document: int


def _chunks(documents: Sequence[Sequence[str]], rng: random.Random, max_sentences: int):
    """Non-overlapping runs of 2..max_sentences consecutive sentences, each cut in two."""
    if max_sentences < 2:
        raise ValueError(f"max_sentences must be at least 2, got {max_sentences}")
    for d, doc in enumerate(documents):
        if isinstance(doc, str):
            raise TypeError(f"documents must be lists of sentences, got a str at index {d}")
        start = 0
        while len(doc) - start >= 2:
            size = rng.randint(2, min(max_sentences, len(doc) - start))
            cut = rng.randint(1, size - 1)
            yield d, doc[start : start + cut], doc[start + cut : start + size]
            start += size


def sentence_order_pairs(
    documents: Sequence[Sequence[str]], *, seed: int = 0, max_sentences: int = 4
) -> list[SegmentPair]:
    """Sentence-order prediction pairs (Lan et al. 2020).

    Both segments are consecutive runs of sentences of one document, A directly before B. With
    probability 1/2 the pair is kept in order (label 0), else swapped to (B, A) (label 1). A pair
    never mixes documents, so topic gives no hint: only the order does.
    """
    rng = random.Random(seed)
    pairs = []
    for d, a, b in _chunks(documents, rng, max_sentences):
        first, second = " ".join(a), " ".join(b)
        if rng.random() < 0.5:
            pairs.append(SegmentPair(first, second, 0, d))
        else:
            pairs.append(SegmentPair(second, first, 1, d))
    return pairs


def next_sentence_pairs(
    documents: Sequence[Sequence[str]], *, seed: int = 0, max_sentences: int = 4
) -> list[SegmentPair]:
    """Next-sentence prediction pairs (Devlin et al. 2019), for contrast with SOP.

    Label 0: B is the segment that follows A. Label 1: B is a run of sentences (as long as the
    true B) from another, randomly chosen document; then a topic change alone gives it away.
    """
    if len(documents) < 2:
        raise ValueError(f"NSP needs at least 2 documents, got {len(documents)}")
    rng = random.Random(seed)
    pairs = []
    for d, a, b in _chunks(documents, rng, max_sentences):
        if rng.random() < 0.5:
            pairs.append(SegmentPair(" ".join(a), " ".join(b), 0, d))
            continue
        other = rng.randrange(len(documents) - 1)
        other += other >= d  # any document but d
        doc = documents[other]
        n = min(len(b), len(doc))
        start = rng.randint(0, len(doc) - n)
        pairs.append(SegmentPair(" ".join(a), " ".join(doc[start : start + n]), 1, d))
    return pairs


# ----------------------------------------------------------------------------- heads and loss


class MLMHead(nn.Module):
    """Masked-LM head: H -> E (dense, activation, LayerNorm), then logits through the tied
    word-embedding matrix, `z = W_word LN(act(W h + b)) + b_V`, eq. (eq-pretrain-mlm-head)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.activation = ACTIVATIONS[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: Tensor, word_embeddings: Tensor) -> Tensor:
        """hidden `(..., H)`, word_embeddings `(V, E)` -> logits `(..., V)`."""
        e = self.LayerNorm(self.activation(self.dense(hidden)))  # (..., E)
        return F.linear(e, word_embeddings, self.bias)  # (..., V)


class SOPHead(nn.Module):
    """Sentence-order head: dropout and a linear layer on the pooled `[CLS]` vector, 2 logits."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, 2)

    def forward(self, pooled: Tensor) -> Tensor:
        return self.classifier(self.dropout(pooled))  # (B, 2)


def sop_loss(logits: Tensor, labels: Tensor, reduction: str = "mean") -> Tensor:
    """Sentence-order loss, eq. (eq-pretrain-sop-loss): L_SOP = -sum_i y_i log p_i.

    For each pair, y is the one-hot label over the two classes (in order, swapped) and p the
    softmax of the logits, so the inner sum keeps -log p of the true class. `reduction="sum"`
    adds the pairs as the equation does; `"mean"` (the default) divides by their number, which
    keeps the loss scale independent of the batch size. Equal to `F.cross_entropy`.
    """
    if logits.dim() != 2 or logits.shape[1] != 2:
        raise ValueError(f"logits must have shape (N, 2), got {tuple(logits.shape)}")
    if tuple(labels.shape) != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    y = F.one_hot(labels, num_classes=2).to(logits.dtype)  # (N, 2)
    log_p = torch.log_softmax(logits, dim=-1)  # (N, 2), log p, computed stably
    per_pair = -(y * log_p).sum(dim=-1)  # (N,)
    return per_pair.sum() if reduction == "sum" else per_pair.mean()


class AlbertPretrainingModel(nn.Module):
    """An `AlbertEncoder` (with pooler) and the MLM and SOP heads; `to_hf()` exports it."""

    def __init__(self, config, sharing: str = "all") -> None:
        super().__init__()
        self.config = config
        self.encoder = AlbertEncoder(config, sharing=sharing, pooler=True)
        self.predictions = MLMHead(config)
        self.sop_classifier = SOPHead(config)
        self.predictions.apply(self.encoder._init_weights)
        self.sop_classifier.apply(self.encoder._init_weights)
        nn.init.zeros_(self.predictions.bias)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Return `(mlm_logits (B, T, V), sop_logits (B, 2))`."""
        hidden = self.encoder(input_ids, attention_mask, token_type_ids)  # (B, T, H)
        return self.mlm_logits(hidden), self.sop_classifier(self.encoder.pool(hidden))

    def mlm_logits(self, hidden: Tensor) -> Tensor:
        """MLM logits `(..., V)` for hidden states `(..., H)` (pass only the masked positions
        during training: the V-wide logits are the largest tensor of the step)."""
        return self.predictions(hidden, self.encoder.embeddings.word_embeddings.weight)

    @classmethod
    def from_hf(cls, model) -> AlbertPretrainingModel:
        """A copy of a `transformers.AlbertForPreTraining`."""
        from transformers import AlbertForPreTraining

        if not isinstance(model, AlbertForPreTraining):
            raise TypeError(
                f"model must be a transformers.AlbertForPreTraining, got {type(model).__name__}"
            )
        encoder = AlbertEncoder.from_hf(model.albert)
        new = cls(model.config, sharing=encoder.sharing)
        new.encoder = encoder
        heads = {
            k: v
            for k, v in model.state_dict().items()
            if k.startswith(("predictions.", "sop_classifier.")) and ".decoder." not in k
        }
        new.load_state_dict(heads | {f"encoder.{k}": v for k, v in encoder.state_dict().items()})
        return new.to(encoder.embeddings.word_embeddings.weight.device)

    def to_hf(self):
        """This model as a `transformers.AlbertForPreTraining` (sharing "all" or "none")."""
        from transformers import AlbertForPreTraining

        hf = AlbertForPreTraining(self.encoder.hf_config())
        hf.albert.load_state_dict(self.encoder.to_hf().state_dict())
        with torch.no_grad():
            for name in ("dense", "LayerNorm"):
                getattr(hf.predictions, name).load_state_dict(
                    getattr(self.predictions, name).state_dict()
                )
            hf.predictions.bias.copy_(self.predictions.bias)
            hf.sop_classifier.load_state_dict(self.sop_classifier.state_dict())
        hf.tie_weights()
        return hf.eval()


# ----------------------------------------------------------------------------- batches


def encode_pairs(tokenizer, pairs: Sequence[SegmentPair], max_len: int) -> list[dict[str, list]]:
    """Tokenise every pair as `[CLS] A [SEP] B [SEP]`, cut to `max_len` (longest segment first)."""
    enc = tokenizer(
        [p.first for p in pairs],
        [p.second for p in pairs],
        truncation="longest_first",
        max_length=max_len,
        return_token_type_ids=True,
    )
    return [
        {"input_ids": i, "token_type_ids": t, "label": p.label}
        for i, t, p in zip(enc["input_ids"], enc["token_type_ids"], pairs, strict=True)
    ]


def _collate(
    items: Sequence[dict], tokenizer, mlm_probability: float, generator: torch.Generator
) -> dict[str, Tensor]:
    B, T = len(items), max(len(x["input_ids"]) for x in items)
    ids = torch.full((B, T), tokenizer.pad_token_id, dtype=torch.long)
    types = torch.zeros(B, T, dtype=torch.long)
    attention = torch.zeros(B, T, dtype=torch.long)
    for b, x in enumerate(items):
        n = len(x["input_ids"])
        ids[b, :n] = torch.tensor(x["input_ids"])
        types[b, :n] = torch.tensor(x["token_type_ids"])
        attention[b, :n] = 1
    corrupted, labels = mask_tokens(
        ids,
        mask_token_id=tokenizer.mask_token_id,
        vocab_size=len(tokenizer),
        special_token_ids=tokenizer.all_special_ids,
        mlm_probability=mlm_probability,
        generator=generator,
    )
    return {
        "input_ids": corrupted,
        "attention_mask": attention,
        "token_type_ids": types,
        "mlm_labels": labels,
        "order_labels": torch.tensor([x["label"] for x in items]),
    }


def _losses(model: AlbertPretrainingModel, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """MLM + SOP (or NSP) loss and the counts behind both accuracies, for one batch."""
    hidden = model.encoder(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    selected = batch["mlm_labels"] != IGNORE_INDEX  # (B, T)
    targets = batch["mlm_labels"][selected]  # (M,)
    mlm_logits = model.mlm_logits(hidden[selected])  # (M, V): only the masked positions
    mlm = F.cross_entropy(mlm_logits, targets) if len(targets) else hidden.sum() * 0.0
    order_logits = model.sop_classifier(model.encoder.pool(hidden))  # (B, 2)
    order = sop_loss(order_logits, batch["order_labels"])
    return {
        "loss": mlm + order,
        "mlm_loss": mlm,
        "sop_loss": order,
        "mlm_correct": (mlm_logits.argmax(-1) == targets).sum(),
        "mlm_total": torch.tensor(len(targets)),
        "sop_correct": (order_logits.argmax(-1) == batch["order_labels"]).sum(),
        "sop_total": torch.tensor(len(batch["order_labels"])),
    }


# ----------------------------------------------------------------------------- the loop


@dataclass
class PretrainHistory:
    """One record per logging interval (means over its steps) and the run's settings."""

    records: list[dict[str, float]] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)
    evaluation: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def pretrain(
    model: AlbertPretrainingModel,
    tokenizer,
    pairs: Sequence[SegmentPair],
    *,
    steps: int,
    batch_size: int = 32,
    max_len: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    warmup: float = 0.1,
    mlm_probability: float = 0.15,
    clip_grad_norm: float = 1.0,
    seed: int = 0,
    log_every: int = 10,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 50,
    stop_after: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> PretrainHistory:
    """Train MLM + SOP (or MLM + NSP: pass `next_sentence_pairs`) for `steps` steps.

    AdamW (the paper uses LAMB with far larger batches) with linear warm-up over `warmup` of the
    steps, then linear decay. Step `s` draws its batch and its masking from a generator seeded by
    `(seed, s)`, so a run resumed from `checkpoint_path` (written every `checkpoint_every` steps
    and at the end) continues exactly as if it had never stopped (on the CPU; on a GPU up to
    dropout's random numbers). `stop_after` ends this call (with a checkpoint) after that many
    steps; call again with the same arguments to go on.
    """
    from tqdm.auto import tqdm

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if len(pairs) < 1:
        raise ValueError("pairs is empty: build them with sentence_order_pairs(documents)")
    if len(tokenizer) != model.config.vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} tokens but the model's vocab_size is "
            f"{model.config.vocab_size}"
        )
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warm = max(1, int(warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    history = PretrainHistory(
        settings={
            "steps": steps,
            "batch_size": batch_size,
            "max_len": max_len,
            "lr": lr,
            "warmup": warmup,
            "mlm_probability": mlm_probability,
            "seed": seed,
            "pairs": len(pairs),
        }
    )
    start, elapsed = 0, 0.0
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if path is not None and path.is_file():
        state = torch.load(path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start, elapsed = state["step"], state["seconds"]
        history.records = state["records"]

    def save(step: int) -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "step": step,
            "seconds": elapsed,
            "records": history.records,
        }
        torch.save(state, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)  # never leave a half-written checkpoint

    end = steps if stop_after is None else min(steps, start + stop_after)
    model.train()
    window: dict[str, float] = {}
    bar = tqdm(range(start, end), initial=start, total=steps, disable=not progress)
    for step in bar:
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(len(pairs), (batch_size,), generator=g).tolist()
        items = encode_pairs(tokenizer, [pairs[i] for i in idx], max_len)  # only what is used
        batch = _collate(items, tokenizer, mlm_probability, g)
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1_000_003 + step)  # dropout, reproducible per step
            out = _losses(model, batch)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        schedule.step()
        elapsed += time.perf_counter() - t0
        for k, v in out.items():
            window[k] = window.get(k, 0.0) + float(v.detach())
        window["n"] = window.get("n", 0) + 1
        if (step + 1) % log_every == 0 or step + 1 == steps:
            n = window.pop("n")
            record = {
                "step": step + 1,
                "loss": window["loss"] / n,
                "mlm_loss": window["mlm_loss"] / n,
                "sop_loss": window["sop_loss"] / n,
                "mlm_accuracy": window["mlm_correct"] / max(1.0, window["mlm_total"]),
                "sop_accuracy": window["sop_correct"] / max(1.0, window["sop_total"]),
                "seconds": elapsed,
            }
            history.records.append(record)
            window = {}
            bar.set_postfix(loss=f"{record['loss']:.3f}", mlm_acc=f"{record['mlm_accuracy']:.3f}")
        if (step + 1) % checkpoint_every == 0 or step + 1 == end:
            save(step + 1)
    model.eval()
    return history


@torch.no_grad()
def evaluate_pretraining(
    model: AlbertPretrainingModel,
    tokenizer,
    pairs: Sequence[SegmentPair],
    *,
    batch_size: int = 64,
    max_len: int = 128,
    mlm_probability: float = 0.15,
    seed: int = 0,
) -> dict[str, float]:
    """MLM accuracy (on the masked positions) and SOP/NSP accuracy on held-out pairs, with a
    fixed masking seed so that two evaluations of one model agree."""
    model.eval()
    device = next(model.parameters()).device
    encoded = encode_pairs(tokenizer, pairs, max_len)
    g = torch.Generator().manual_seed(seed)
    sums: dict[str, float] = {}
    for i in range(0, len(encoded), batch_size):
        batch = _collate(encoded[i : i + batch_size], tokenizer, mlm_probability, g)
        out = _losses(model, {k: v.to(device) for k, v in batch.items()})
        for k in ("mlm_correct", "mlm_total", "sop_correct", "sop_total"):
            sums[k] = sums.get(k, 0.0) + float(out[k])
        sums["mlm_loss"] = sums.get("mlm_loss", 0.0) + float(out["mlm_loss"] * out["mlm_total"])
    return {
        "mlm_accuracy": sums["mlm_correct"] / max(1.0, sums["mlm_total"]),
        "mlm_loss": sums["mlm_loss"] / max(1.0, sums["mlm_total"]),
        "sop_accuracy": sums["sop_correct"] / max(1.0, sums["sop_total"]),
        "pairs": float(len(encoded)),
    }


# ----------------------------------------------------------------------------- load or pretrain


def split_documents(
    documents: Sequence[Sequence[str]], held_out: float = 0.05, *, seed: int = 0
) -> tuple[list, list]:
    """A seeded split into `(train_docs, test_docs)` by whole documents, `held_out` of them
    (at least one) held out; the split `load_or_pretrain` trains and evaluates on."""
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must lie in (0, 1), got {held_out}")
    rng = random.Random(seed)
    order = list(range(len(documents)))
    rng.shuffle(order)
    n_held = max(1, math.ceil(held_out * len(documents)))
    if len(documents) - n_held < 2:
        raise ValueError(f"documents must hold at least 3 documents, got {len(documents)}")
    return [documents[i] for i in order[n_held:]], [documents[i] for i in order[:n_held]]


@dataclass
class PretrainResult:
    model: AlbertPretrainingModel
    tokenizer: object
    history: dict[str, object]
    loaded: bool  # True: read from `directory`; False: trained now and saved there
    directory: Path


HISTORY_FILE = "pretraining_history.json"


def load_or_pretrain(
    directory: str | Path | None = None,
    documents: Sequence[Sequence[str]] | None = None,
    *,
    profile=None,
    task: str = "sop",
    steps: int | None = None,
    batch_size: int | None = None,
    max_len: int | None = None,
    lr: float = 1e-3,
    warmup: float = 0.1,
    vocab_size: int | None = None,
    held_out: float = 0.05,
    tokenizer_sentences: int | None = 30_000,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> PretrainResult:
    """Load the tiny ALBERT saved in `directory`, or pretrain it there if it is not saved yet.

    `directory` defaults to `seqbook.data.cache_dir() / profile.albert_name`; `documents` to
    `seqbook.data.load_pretraining_corpus()`. The directory ends up holding a Hugging Face
    `AlbertForPreTraining` (`config.json`, weights), its tokenizer and `pretraining_history.json`:
    `AlbertModel.from_pretrained(directory)` and `AutoTokenizer.from_pretrained(directory)` load
    it. An interrupted run resumes from `directory/checkpoint.pt`. The tokenizer is trained on
    a seeded sample of `tokenizer_sentences` training sentences (None: all of them; unigram
    training time grows with the corpus, as SentencePiece's `input_sentence_size` acknowledges).
    `vocab_size` overrides the profile's `albert_vocab`; `lr` and `warmup` go to `pretrain`; the
    documents are split with `split_documents(documents, held_out, seed=seed)`. Training runs on
    `device` (default `seqbook.runtime.get_device()`); the returned model is on the CPU.
    """
    from transformers import AlbertForPreTraining, AutoTokenizer

    from seqbook.runtime import get_device
    from seqbook.runtime import profile as active_profile

    P = profile if profile is not None else active_profile()
    if task not in ("sop", "nsp"):
        raise ValueError(f"task must be 'sop' or 'nsp', got {task!r}")
    if directory is None:
        from seqbook.data import cache_dir

        directory = cache_dir() / P.albert_name
    directory = Path(directory)
    if (directory / HISTORY_FILE).is_file() and (directory / "config.json").is_file():
        from seqbook.models import quiet_transformers

        with quiet_transformers():
            hf = AlbertForPreTraining.from_pretrained(directory)
            tokenizer = AutoTokenizer.from_pretrained(directory)
        history = json.loads((directory / HISTORY_FILE).read_text())
        return PretrainResult(
            AlbertPretrainingModel.from_hf(hf), tokenizer, history, True, directory
        )

    if documents is None:
        from seqbook.data import load_pretraining_corpus

        documents = load_pretraining_corpus()
    directory.mkdir(parents=True, exist_ok=True)
    train_docs, test_docs = split_documents(documents, held_out, seed=seed)
    rng = random.Random(seed)  # draws the tokenizer's sentence sample

    if (directory / "tokenizer.json").is_file():  # an interrupted run: keep its tokenizer
        tokenizer = AutoTokenizer.from_pretrained(directory)
    else:
        sentences = [s for doc in train_docs for s in doc]
        if tokenizer_sentences is not None and len(sentences) > tokenizer_sentences:
            sentences = rng.sample(sentences, tokenizer_sentences)
        V = vocab_size if vocab_size is not None else P.albert_vocab
        tokenizer = train_tokenizer(sentences, V, model_max_length=512)
        tokenizer.save_pretrained(directory)
    config = albert_config(P, len(tokenizer), tokenizer)
    torch.manual_seed(seed)
    model = AlbertPretrainingModel(config)
    build = sentence_order_pairs if task == "sop" else next_sentence_pairs
    max_len = max_len if max_len is not None else P.max_len
    history = pretrain(
        model,
        tokenizer,
        build(train_docs, seed=seed),
        steps=steps if steps is not None else P.pretrain_steps,
        batch_size=batch_size if batch_size is not None else P.batch_size,
        max_len=max_len,
        lr=lr,
        warmup=warmup,
        seed=seed,
        checkpoint_path=directory / "checkpoint.pt",
        device=device if device is not None else get_device(),
        progress=progress,
    )
    history.settings |= {
        "task": task,
        "profile": P.name,
        "documents": len(train_docs),
        "vocab_size": len(tokenizer),
    }
    held_pairs = build(test_docs, seed=seed + 1) if len(test_docs) > 1 or task == "sop" else []
    held_pairs = held_pairs[:1000]  # enough for accuracies to +-3 points, in seconds
    if held_pairs:
        history.evaluation = evaluate_pretraining(model, tokenizer, held_pairs, max_len=max_len)
    model.cpu().to_hf().save_pretrained(directory)
    (directory / HISTORY_FILE).write_text(json.dumps(history.to_dict(), indent=1))
    (directory / "checkpoint.pt").unlink(missing_ok=True)
    return PretrainResult(model.eval(), tokenizer, history.to_dict(), False, directory)
