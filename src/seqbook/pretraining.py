"""Pretraining ALBERT (Lan et al. 2020): tokenizer, MLM masking, SOP / NSP pairs, heads, losses.

- `train_tokenizer`: a SentencePiece-style unigram tokenizer trained offline with `tokenizers`,
  wrapped as a `transformers.PreTrainedTokenizerFast` with ALBERT's special tokens.
- `mask_tokens`: masked-language-model corruption (Devlin et al. 2019), eq. (eq-pretrain-mlm).
- `sentence_order_pairs` / `next_sentence_pairs`: the SOP task of ALBERT and, for contrast, BERT's
  NSP. Label 0 = "in order" (SOP) / "is the next segment" (NSP), 1 = "swapped" / "random", the
  convention of transformers' `sentence_order_label` and `next_sentence_label`.
- `AlbertPretrainingModel`: `seqbook.albert.AlbertEncoder` + the MLM head (decoding through the
  tied E-dimensional embedding) + the SOP head; `to_hf()` gives `transformers.AlbertForPreTraining`.
- `sop_loss`, eq. (eq-pretrain-sop-loss).

The run that spends CPU on these objectives (packed blocks, schedule, held-out evaluation,
checkpoints, `load_or_pretrain`) is `seqbook.pretrain_run`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbook.albert import ACTIVATIONS, AlbertEncoder

__all__ = [
    "SPECIAL_TOKENS",
    "AlbertPretrainingModel",
    "MLMHead",
    "SOPHead",
    "SegmentPair",
    "albert_config",
    "encode_pairs",
    "mask_tokens",
    "next_sentence_pairs",
    "sentence_order_pairs",
    "sop_loss",
    "train_tokenizer",
]

# ALBERT's special tokens, in the order (and so with the ids) of albert-base-v2's vocabulary.
SPECIAL_TOKENS = {"pad": "<pad>", "unk": "<unk>", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
IGNORE_INDEX = -100  # label of positions the MLM loss skips (torch's cross_entropy default)


# ----------------------------------------------------------------------------- tokenizer


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    *,
    model_max_length: int = 512,
    split_punctuation: bool = False,
):
    """Train a unigram (SentencePiece-style) tokenizer on `texts`, offline.

    Lower-cases and NFKC-normalises like albert-base-v2, marks word starts with "▁", and adds
    `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` with token types 0 / 1. Like SentencePiece it
    glues punctuation to words (`▁film.`); `split_punctuation=True` makes every punctuation
    character a piece of its own (`▁film` `.`), as BERT's WordPiece pre-tokeniser does. Returns a
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
    if split_punctuation:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [tok.pre_tokenizer, pre_tokenizers.Punctuation(behavior="isolated")]
        )
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


def book_albert_config(
    *,
    vocab_size: int,
    embedding_size: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    max_position_embeddings: int = 512,
    tokenizer=None,
    **options,
):
    """The one builder of the `transformers.AlbertConfig` of an ALBERT the book trains itself
    (chapter 6's models from a profile, chapter 7's pretraining runs from their settings): the
    sizes, the special ids of `tokenizer` (else the book's tokenizers' 0 / 2 / 3 for pad / [CLS]
    / [SEP]), and any other `AlbertConfig` option (e.g. the dropout rates) in `options`."""
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
        embedding_size=embedding_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        **ids,
        **options,
    )


def albert_config(profile, vocab_size: int, tokenizer=None, max_position_embeddings: int = 512):
    """The `transformers.AlbertConfig` of the book's tiny ALBERT for a `seqbook.runtime` profile
    (`book_albert_config` with the profile's sizes)."""
    return book_albert_config(
        vocab_size=vocab_size,
        embedding_size=profile.albert_embedding,
        hidden_size=profile.albert_hidden,
        num_layers=profile.albert_layers,
        num_heads=profile.albert_heads,
        intermediate_size=profile.albert_intermediate,
        max_position_embeddings=max_position_embeddings,
        tokenizer=tokenizer,
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
