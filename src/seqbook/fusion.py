"""Fusing contextual and static word vectors: the fusion chapter's package.

A BERT-family encoder gives one vector per *subword* (WordPiece); word2vec and GloVe give one per
*word*. Before the two can be combined, each word must get exactly one contextual vector:

    text -> words (seqbook.data.tokenize) -> subwords + word ids (the encoder's tokenizer)
         -> encoder states (T, H) -> align_subwords -> (W, H), one row per word

The static side looks the same words up in a `KeyedVectors`, with an explicit policy for words it
lacks. The fusion modules then take aligned `(B, W, Dc)` and `(B, W, Ds)` tensors:

    concatenation           v = [h ; e]                                  eq. (eq-fusion-concat)
    weighted sum            v = a W_h h + (1 - a) W_e e                  eq. (eq-fusion-weighted)
    gated fusion            v = g W_h h + (1 - g) W_e e, g = sigmoid(..) eq. (eq-fusion-gate)

`FusionClassifier` pools the fused word vectors (attention pooling, optionally after a BiLSTM) into
a sentiment prediction, and `contextual_features` caches the encoder's word vectors on disk so an
experiment runs the encoder once.
"""

from __future__ import annotations

import functools
import hashlib
import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from seqbook.attention import AttentionPooling
from seqbook.cache import (
    cached_folder,
    digest,
    file_digest,
    load_or_compute,
    torch_load,
    torch_save,
)
from seqbook.embeddings import OOV_POLICIES, check_oov  # noqa: F401 - part of this API
from seqbook.lstm import LSTM
from seqbook.models import lengths_from_mask
from seqbook.validate import (
    check_fraction,
    check_labels,
    check_lengths,
    check_mask_matches_lengths,
    check_number,
    check_positive_ints,
    check_strs,
    check_tensor,
    describe,
    mask_from_lengths,
)

STRATEGIES = ("first", "mean", "last")
HEADS = ("attention", "bilstm")
FEATURE_DTYPE = torch.float16  # cached encoder features; cold and warm runs both round to it


# --------------------------------------------------------------------------- alignment
def align_subwords(
    hidden: Tensor,
    word_ids: Sequence[int | None] | Sequence[Sequence[int | None]],
    num_words: int | Sequence[int],
    strategy: str = "mean",
) -> Tensor:
    """One vector per word from subword states, eq. (eq-fusion-align).

    `hidden` (T, H) with `word_ids` a list of T word indices (None for special tokens and
    padding), or (B, T, H) with one such list per text. Word w's vector is its first, last or
    mean subword state (`strategy`). Returns (num_words, H), or (B, W, H) where W is `num_words`
    (an int, or one count per text whose maximum is W) and rows past a text's last word are
    zero. A word below a text's count that has no subword (it was cut off) is an error.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if not isinstance(hidden, Tensor) or hidden.dim() not in (2, 3):
        raise ValueError(
            f"hidden must be a tensor of shape (T, H) or (B, T, H), got {describe(hidden)}"
        )
    single = hidden.dim() == 2
    if single:
        if len(word_ids) and not isinstance(word_ids[0], int | None):
            raise ValueError("hidden is (T, H), so word_ids must be one list of ints or None")
        hidden, word_ids = hidden.unsqueeze(0), [word_ids]
    elif len(word_ids) != hidden.shape[0]:
        raise ValueError(
            f"word_ids must hold one list per text ({hidden.shape[0]}), got {len(word_ids)}"
        )
    B, T, H = hidden.shape
    per_text = not isinstance(num_words, numbers.Integral)  # one count per text (else: width W)
    try:
        counts = list(num_words) if per_text else [num_words] * B
    except TypeError:  # neither a count nor counts
        counts = []
    if len(counts) != B or any(
        isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0 for n in counts
    ):
        raise ValueError(f"num_words must be an int >= 0 or {B} of them, got {num_words!r}")
    counts = [int(n) for n in counts]
    W = max(counts, default=0)
    index = torch.full((B, T), -1, dtype=torch.long)  # flat word slot b * W + w, -1 = no word
    for b, ids in enumerate(word_ids):
        ids = list(ids)
        if len(ids) != T:
            raise ValueError(
                f"word_ids[{b}] must have one entry per subword (T = {T}), got {len(ids)}"
            )
        seen = {i for i in ids if i is not None}
        bad = [i for i in seen if not 0 <= i < counts[b]]
        if bad:
            raise ValueError(
                f"word_ids[{b}] must lie in [0, {counts[b]}) (num_words), got word ids "
                f"{sorted(bad)[:5]}"
            )
        # a text's words: its count, or (padded width given) up to its last word id
        n = counts[b] if single or per_text else max(seen, default=-1) + 1
        missing = sorted(set(range(n)) - seen)
        if missing:
            raise ValueError(
                f"words {missing[:5]} of text {b} have no subword (of {n} words): was the text "
                "truncated? Truncate the words, not the subwords (see encode_words)"
            )
        index[b] = torch.tensor([-1 if i is None else b * W + i for i in ids], dtype=torch.long)
    index = index.to(hidden.device).reshape(-1)  # (B*T,)
    flat = hidden.reshape(B * T, H)
    keep = index >= 0
    slots, states = index[keep], flat[keep]  # (N,), (N, H)
    out = hidden.new_zeros(B * W, H)
    if strategy == "mean":
        out.index_add_(0, slots, states)
        count = hidden.new_zeros(B * W).index_add_(0, slots, hidden.new_ones(len(slots)))
        out = out / count.clamp(min=1.0)[:, None]
    else:
        position = torch.arange(B * T, device=hidden.device)[keep]  # (N,)
        reduce = "amin" if strategy == "first" else "amax"
        pick = torch.full((B * W,), -1, dtype=torch.long, device=hidden.device)
        pick = pick.scatter_reduce(0, slots, position, reduce=reduce, include_self=False)
        has = pick >= 0
        out[has] = flat[pick[has]]
    out = out.reshape(B, W, H)
    return out[0] if single else out


# --------------------------------------------------------------------------- the encoder
def load_contextual_encoder(path: str | Path | None = None):
    """(tokenizer, model) of the offline BERT-family encoder that gives the contextual vectors
    (all-MiniLM-L6-v2, `bert_encoder_path()`, by default), the model in eval mode. (Not
    `seqbook.models.load_encoder`, which loads a classifier's encoder without its tokenizer.)"""
    from transformers import AutoModel, AutoTokenizer

    from seqbook.data import bert_encoder_path
    from seqbook.hf import quiet_transformers

    path = Path(path) if path is not None else bert_encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.is_fast:
        raise TypeError("the tokenizer must be a fast tokenizer (it provides word_ids())")
    with quiet_transformers():  # no loading report or progress bar in the chapter's output
        # float32 whatever the files store (the book's own models ship fp16 weights)
        return tokenizer, AutoModel.from_pretrained(path, dtype=torch.float32).eval()


def encoder_limit(tokenizer, encoder=None) -> int:
    """Subword positions one text may use, special tokens included: the smaller of the tokenizer's
    `model_max_length` and the encoder's `max_position_embeddings`."""
    limit = int(tokenizer.model_max_length)
    if encoder is not None:
        limit = min(limit, int(encoder.config.max_position_embeddings))
    return limit


@dataclass
class EncodedWords:
    """Words prepared for the encoder: `words` (kept, per text), `pieces` (what the tokenizer is
    given: a word without any subword is replaced by the unknown token) and the number of words
    cut off at the end of each text (`dropped`)."""

    words: list[list[str]]
    pieces: list[list[str]]
    dropped: list[int]


def encode_words(
    texts_words: Sequence[Sequence[str]],
    tokenizer,
    limit: int,
    max_words: int | None = None,
    truncate: bool = False,
) -> EncodedWords:
    """Fit each text's words into `limit` subword positions (special tokens included), whole words
    only. `max_words` keeps at most that many words of each text (an explicit cut). A text whose
    subwords still exceed the limit is cut at the last whole word that fits when `truncate=True`,
    and is an error otherwise: words never disappear silently."""
    if isinstance(texts_words, str) or (len(texts_words) and isinstance(texts_words[0], str)):
        raise TypeError("texts_words must be a list of word lists (one per text), got one text")
    if max_words is not None and (
        isinstance(max_words, bool) or not isinstance(max_words, numbers.Integral) or max_words < 1
    ):
        raise ValueError(f"max_words must be None or a positive int, got {max_words!r}")
    budget = limit - tokenizer.num_special_tokens_to_add(pair=False)
    kept_words, pieces, dropped = [], [], []
    for i, words in enumerate(texts_words):
        words = list(words)
        if not words:
            raise ValueError(f"texts_words[{i}] is empty: every text needs at least one word")
        cut = words if max_words is None else words[:max_words]
        enc = tokenizer(cut, is_split_into_words=True, add_special_tokens=False, verbose=False)
        per_word = np.bincount(
            [w for w in enc.word_ids() if w is not None], minlength=len(cut)
        )  # subwords of each word
        given = [w if n else tokenizer.unk_token for w, n in zip(cut, per_word, strict=True)]
        per_word = np.maximum(per_word, 1)
        total = int(per_word.sum())
        if total > budget:
            if not truncate:
                raise ValueError(
                    f"texts_words[{i}] needs {total} subwords for {len(cut)} words, but the "
                    f"encoder's limit is {limit} positions ({budget} after special tokens); pass "
                    "truncate=True to cut it at the last whole word that fits, or a smaller "
                    "max_words"
                )
            n = int(np.searchsorted(np.cumsum(per_word), budget, side="right"))
            cut, given = cut[:n], given[:n]
        kept_words.append(cut)
        pieces.append(given)
        dropped.append(len(words) - len(cut))
    return EncodedWords(kept_words, pieces, dropped)


@torch.inference_mode()
def contextual_word_vectors(
    texts_words: Sequence[Sequence[str]],
    tokenizer,
    encoder,
    strategy: str = "mean",
    max_words: int | None = None,
    truncate: bool = False,
    batch_size: int = 32,
    progress: bool = False,
) -> tuple[list[list[str]], list[Tensor]]:
    """Run the encoder over word lists and align its states to words, eq. (eq-fusion-align).

    Returns (the words kept per text, one (W_i, H) tensor per text). Texts are batched by length
    (less padding); the result is in the input order. `max_words` and `truncate` are as in
    `encode_words`.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    check_positive_ints(batch_size=batch_size)
    prepared = encode_words(
        texts_words, tokenizer, encoder_limit(tokenizer, encoder), max_words, truncate
    )
    device = next(encoder.parameters()).device
    order = sorted(range(len(prepared.pieces)), key=lambda i: len(prepared.pieces[i]))
    vectors: list[Tensor | None] = [None] * len(order)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="encoding", disable=not progress):
        rows = order[start : start + batch_size]
        batch = [prepared.pieces[i] for i in rows]
        enc = tokenizer(batch, is_split_into_words=True, padding=True, return_tensors="pt")
        hidden = encoder(**{k: v.to(device) for k, v in enc.items()}).last_hidden_state
        counts = [len(p) for p in batch]
        words = align_subwords(
            hidden.float().cpu(), [enc.word_ids(b) for b in range(len(rows))], counts, strategy
        )  # (B, W, H)
        for b, i in enumerate(rows):
            vectors[i] = words[b, : counts[b]].clone()
    return prepared.words, vectors


# --------------------------------------------------------------------------- static vectors
def _unknown_vector(word: str, dim: int, scale: float) -> np.ndarray:
    from seqbook.embeddings import stable_hash

    rng = np.random.default_rng(stable_hash(word))
    return (rng.standard_normal(dim) * scale).astype(np.float32)


def static_word_vectors(words: Sequence[str], kv, oov: str = "zeros") -> tuple[Tensor, Tensor]:
    """(W, D) vectors of `words` from a gensim `KeyedVectors`, and a (W,) bool tensor, True where
    the word has a vector. A word it lacks gets, by `oov` (one of `OOV_POLICIES`, shared with
    `seqbook.embeddings.build_embedding_matrix`): "zeros" a zero vector, "random" a vector drawn
    from N(0, s^2) seeded by the word itself (the same word, the same vector; s is the spread of
    kv's entries), "error" a ValueError naming the missing words."""
    from gensim.models import KeyedVectors

    if not isinstance(kv, KeyedVectors):
        raise TypeError(f"kv must be a gensim KeyedVectors, got {type(kv).__name__}")
    check_oov(oov)
    if isinstance(words, str):
        raise TypeError("words must be a list of words, got a str (call tokenize() first)")
    words = check_strs(words, "words", hint=" (one text's words, not a list of texts)")
    found = [w in kv.key_to_index for w in words]
    if oov == "error" and not all(found):
        missing = [w for w, f in zip(words, found, strict=True) if not f]
        raise ValueError(f"kv has no vector for {len(missing)} words, e.g. {missing[:5]}")
    out = np.zeros((len(words), kv.vector_size), dtype=np.float32)
    known = [i for i, f in enumerate(found) if f]
    if known:
        out[known] = kv[[words[i] for i in known]]
    if oov == "random" and not all(found):
        scale = float(np.std(kv.vectors[: min(len(kv), 10_000)]))
        for i, f in enumerate(found):
            if not f:
                out[i] = _unknown_vector(words[i], kv.vector_size, scale)
    return torch.from_numpy(out), torch.tensor(found, dtype=torch.bool)


# --------------------------------------------------------------------------- fusion modules
def _check_pair(contextual: Tensor, static: Tensor, d_context: int, d_static: int) -> None:
    """Both (B, W, .) with the same B and W and the widths the module was built for."""
    for name, x, d in (("contextual", contextual, d_context), ("static", static, d_static)):
        check_tensor(x, name, f"B, W, {d}", dtype="float", hint=" (as the module was built)")
    if contextual.shape[:2] != static.shape[:2]:
        raise ValueError(
            "contextual and static must have one vector per word for the same words, got "
            f"(B, W) = {tuple(contextual.shape[:2])} and {tuple(static.shape[:2])} (align the "
            "subwords to words first: align_subwords)"
        )


def weighted_sum(h: Tensor, e: Tensor, alpha: float | Tensor) -> Tensor:
    """v = alpha * h + (1 - alpha) * e for two projected tensors of one shape,
    eq. (eq-fusion-weighted)."""
    if not isinstance(h, Tensor) or not isinstance(e, Tensor):
        raise TypeError(f"h and e must be tensors, got {describe(h)} and {describe(e)}")
    if h.shape != e.shape:
        raise ValueError(
            f"h and e must have the same shape (project both to a common width first), got "
            f"{tuple(h.shape)} and {tuple(e.shape)}"
        )
    if not isinstance(alpha, Tensor) and not 0 <= check_number("alpha", alpha) <= 1:
        raise ValueError(f"alpha must lie in [0, 1] (the weight of h), got {alpha!r}")
    return alpha * h + (1 - alpha) * e


class ConcatFusion(nn.Module):
    """v = [h ; e], eq. (eq-fusion-concat): (B, W, Dc) and (B, W, Ds) -> (B, W, Dc + Ds)."""

    def __init__(self, d_context: int, d_static: int) -> None:
        super().__init__()
        check_positive_ints(d_context=d_context, d_static=d_static)
        self.d_context, self.d_static = d_context, d_static
        self.out_dim = d_context + d_static

    def forward(self, contextual: Tensor, static: Tensor) -> Tensor:
        _check_pair(contextual, static, self.d_context, self.d_static)
        return torch.cat([contextual, static], dim=-1)


class SingleSource(nn.Module):
    """One source only, projected: v = W_h h + b_h (source "contextual") or W_e e + b_e
    ("static"): the weighted sum eq. (eq-fusion-weighted) at alpha = 1 or 0, without the unused
    projection. The baseline every fusion is compared with."""

    def __init__(self, d_context: int, d_static: int, d_model: int, source: str) -> None:
        super().__init__()
        check_positive_ints(d_context=d_context, d_static=d_static, d_model=d_model)
        if source not in ("contextual", "static"):
            raise ValueError(f"source must be 'contextual' or 'static', got {source!r}")
        self.d_context, self.d_static, self.out_dim, self.source = (
            d_context,
            d_static,
            d_model,
            source,
        )
        self.proj = nn.Linear(d_context if source == "contextual" else d_static, d_model)

    def forward(self, contextual: Tensor, static: Tensor) -> Tensor:
        _check_pair(contextual, static, self.d_context, self.d_static)
        return self.proj(contextual if self.source == "contextual" else static)


class WeightedSumFusion(nn.Module):
    """v = alpha W_h h + (1 - alpha) W_e e (biases included), eq. (eq-fusion-weighted).

    Both sides are projected to `d_model` first, so widths and meanings of coordinates match.
    alpha is fixed, or with `learn_alpha=True` learned as sigmoid(theta), starting at `alpha`
    (which must then lie strictly between 0 and 1).
    """

    def __init__(
        self,
        d_context: int,
        d_static: int,
        d_model: int,
        alpha: float = 0.5,
        learn_alpha: bool = False,
    ) -> None:
        super().__init__()
        check_positive_ints(d_context=d_context, d_static=d_static, d_model=d_model)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
        if learn_alpha and not 0 < alpha < 1:
            raise ValueError(f"a learned alpha must start strictly inside (0, 1), got {alpha}")
        self.d_context, self.d_static, self.out_dim = d_context, d_static, d_model
        self.proj_context = nn.Linear(d_context, d_model)  # W_h, b_h
        self.proj_static = nn.Linear(d_static, d_model)  # W_e, b_e
        self.learn_alpha = learn_alpha
        if learn_alpha:
            self.theta = nn.Parameter(torch.tensor(math.log(alpha / (1 - alpha))))
        else:
            self.register_buffer("fixed_alpha", torch.tensor(float(alpha)))

    @property
    def alpha(self) -> Tensor:
        """The current alpha, a 0-d tensor."""
        return torch.sigmoid(self.theta) if self.learn_alpha else self.fixed_alpha

    def forward(self, contextual: Tensor, static: Tensor) -> Tensor:
        _check_pair(contextual, static, self.d_context, self.d_static)
        h, e = self.proj_context(contextual), self.proj_static(static)  # (B, W, d_model) each
        return weighted_sum(h, e, self.alpha)


class GatedFusion(nn.Module):
    """v = g h' + (1 - g) e' with h' = W_h h + b_h, e' = W_e e + b_e and one gate per word
    g = sigmoid(w_g . [h' ; e'] + b_g), eq. (eq-fusion-gate).

    g is the weight of the contextual source and 1 - g that of the static one, so the two
    weights of every word lie in (0, 1) and sum to 1. `forward(..., return_gate=True)` also
    returns g (B, W); the last gates are kept in `last_gate` for pictures.
    """

    def __init__(self, d_context: int, d_static: int, d_model: int) -> None:
        super().__init__()
        check_positive_ints(d_context=d_context, d_static=d_static, d_model=d_model)
        self.d_context, self.d_static, self.out_dim = d_context, d_static, d_model
        self.proj_context = nn.Linear(d_context, d_model)  # W_h, b_h
        self.proj_static = nn.Linear(d_static, d_model)  # W_e, b_e
        self.gate = nn.Linear(2 * d_model, 1)  # w_g, b_g
        self.last_gate: Tensor | None = None

    def forward(
        self, contextual: Tensor, static: Tensor, return_gate: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        _check_pair(contextual, static, self.d_context, self.d_static)
        h, e = self.proj_context(contextual), self.proj_static(static)  # (B, W, d_model) each
        g = torch.sigmoid(self.gate(torch.cat([h, e], dim=-1)))  # (B, W, 1)
        fused = g * h + (1 - g) * e
        self.last_gate = g.squeeze(-1).detach()
        return (fused, g.squeeze(-1)) if return_gate else fused


# --------------------------------------------------------------------------- the classifier
class FusionClassifier(nn.Module):
    """Fused word vectors -> (BiLSTM) -> attention pooling -> linear layer; returns logits.

        contextual (B, W, Dc), static (B, W, Ds) -> fusion (B, W, D) -> [BiLSTM (B, W, 2H)]
        -> attention pooling over the real words (B, .) -> logits (B, num_classes)

    `head="attention"` pools the fused vectors directly; `head="bilstm"` runs a one-layer
    `seqbook.lstm.LSTM` in both directions first (given the lengths, so padding is never read),
    on the implementation `impl` selects ("fused", torch's kernel, or "python", the teaching
    loop; the same numbers).
    """

    def __init__(
        self,
        fusion: nn.Module,
        head: str = "attention",
        hidden_size: int = 64,
        num_classes: int = 2,
        dropout: float = 0.0,
        impl: str = "fused",
    ) -> None:
        super().__init__()
        if not isinstance(fusion, nn.Module) or not isinstance(
            getattr(fusion, "out_dim", None), int
        ):
            raise TypeError(
                f"fusion must be a fusion module with an int out_dim, got {type(fusion).__name__}"
            )
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        check_positive_ints(hidden_size=hidden_size, num_classes=num_classes)
        check_fraction("dropout", dropout)
        self.fusion, self.head_type = fusion, head
        self.dropout = nn.Dropout(dropout)
        width = fusion.out_dim
        self.lstm = None
        if head == "bilstm":
            self.lstm = LSTM(width, hidden_size, bidirectional=True, impl=impl)
            width = 2 * hidden_size
        self.pool = AttentionPooling(width)
        self.head = nn.Linear(width, num_classes)

    def forward(
        self,
        contextual: Tensor,
        static: Tensor,
        mask: Tensor | None = None,
        lengths: Tensor | None = None,
    ) -> Tensor:
        """mask (B, W) True (or 1) = real word, padding at the end; lengths (B,) -> logits.
        One of the two suffices; given both, they must agree.

        The fusion module checks contextual and static, this forward the mask and lengths;
        the BiLSTM and the pooling then run unchecked."""
        x = self.dropout(self.fusion(contextual, static))  # (B, W, D)
        mask = _real_words(mask, lengths, *x.shape[:2], x.device)  # (B, W)
        if self.lstm is not None:
            x, _ = self.lstm._forward(x, mask)  # (B, W, 2H)
        pooled, _ = self.pool._forward(x, mask)  # (B, D)
        return self.head(self.dropout(pooled))


def _real_words(
    mask: Tensor | None, lengths: Tensor | None, B: int, W: int, device: torch.device
) -> Tensor:
    """The (B, W) bool mask of real words of a batch, from `mask` or `lengths` or both (checked:
    right-padded, a word per row, and the two agreeing)."""
    if lengths is not None:
        lengths = check_lengths(lengths, B, W, of=" (W words)")
    if mask is None:
        if lengths is None:
            return torch.ones(B, W, dtype=torch.bool, device=device)
        return mask_from_lengths(lengths.to(device), W)
    check_tensor(mask, "mask", "B, W", B=B, W=W)
    lengths_from_mask(mask)  # 0/1 values, padding at the end, a word per row
    mask = mask.to(device).bool()
    if lengths is not None:
        check_mask_matches_lengths(mask, lengths)
    return mask


# --------------------------------------------------------------------------- data and cache
class FusionDataset(Dataset):
    """Per-text (contextual (W_i, Dc), static (W_i, Ds), label) triples with matching W_i."""

    def __init__(
        self, contextual: Sequence[Tensor], static: Sequence[Tensor], labels: Sequence[int]
    ):
        if not len(contextual) == len(static) == len(labels):
            raise ValueError(
                "contextual, static and labels must have one entry per text, got "
                f"{len(contextual)}, {len(static)} and {len(labels)}"
            )
        for i, (h, e) in enumerate(zip(contextual, static, strict=True)):
            check_tensor(h, f"contextual[{i}]", "W, D_context")
            check_tensor(e, f"static[{i}]", "W, D_static")
            if h.shape[0] != e.shape[0]:
                raise ValueError(
                    f"text {i}: contextual has {h.shape[0]} words and static {e.shape[0]}; both "
                    "must cover the same words"
                )
        self.contextual, self.static = list(contextual), list(static)
        self.labels = check_labels(labels, num_classes=None)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, int]:
        return self.contextual[i], self.static[i], self.labels[i]


def collate_fusion(items: Sequence[tuple[Tensor, Tensor, int]]) -> dict[str, Tensor]:
    """Pad to the longest text: contextual (B, W, Dc), static (B, W, Ds), mask (B, W) True =
    real word, lengths (B,), labels (B,)."""
    if not items:
        raise ValueError("items must hold at least one text, got an empty batch")
    widths = items[0][0].shape[1], items[0][1].shape[1]
    for b, (h, e, _) in enumerate(items):
        if (h.shape[1], e.shape[1]) != widths:
            raise ValueError(
                f"every text must have vectors of one width: items[{b}] has (contextual, static) "
                f"widths {(h.shape[1], e.shape[1])}, items[0] {widths}"
            )
    check_labels([y for _, _, y in items], num_classes=None, name="labels")
    lengths = torch.tensor([h.shape[0] for h, _, _ in items], dtype=torch.long)
    W = int(lengths.max())
    contextual = torch.zeros(len(items), W, items[0][0].shape[1])
    static = torch.zeros(len(items), W, items[0][1].shape[1])
    for b, (h, e, _) in enumerate(items):
        contextual[b, : len(h)], static[b, : len(e)] = h.float(), e.float()
    mask = mask_from_lengths(lengths, W)
    labels = torch.tensor([y for _, _, y in items], dtype=torch.long)
    return {
        "contextual": contextual,
        "static": static,
        "mask": mask,
        "lengths": lengths,
        "labels": labels,
    }


def fusion_loader(
    dataset: FusionDataset, batch_size: int, shuffle: bool = False, seed: int = 0
) -> DataLoader:
    """Padded batches of a `FusionDataset` (seeded shuffling)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate_fusion,
        generator=torch.Generator().manual_seed(seed),
    )


FEATURES_VERSION = 2  # bump when the alignment or the stored format changes


@functools.cache
def _encoder_digest(model_dir: Path, stamp: tuple) -> str:
    """SHA-256 of the encoder's config and weight files (cached per file size and time)."""
    files = sorted(model_dir.glob("*.json")) + sorted(model_dir.glob("*.safetensors"))
    files += sorted(model_dir.glob("*.bin")) + sorted(model_dir.glob("*.txt"))
    return digest([(f.name, file_digest(f)) for f in files])


def features_key(
    texts: Sequence[str],
    strategy: str,
    max_words: int | None,
    model_dir: Path,
    truncate: bool = False,
) -> dict:
    """What `contextual_features` depend on: a digest of the texts, the encoder's files (their
    SHA-256), the strategy, `max_words`, `truncate` (recorded only when set, so the keys of
    untruncated features stay as they were), the stored dtype and `FEATURES_VERSION`."""
    model_dir = Path(model_dir)
    files = sorted(model_dir.iterdir()) if model_dir.is_dir() else []
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file())
    text_digest = hashlib.sha256()
    for t in texts:
        text_digest.update(t.encode("utf-8") + b"\x1e")
    return {
        "texts": text_digest.hexdigest(),
        "encoder": _encoder_digest(model_dir, stamp),
        "strategy": strategy,
        "max_words": max_words,
        "dtype": str(FEATURE_DTYPE),
        "version": FEATURES_VERSION,
        **({"truncate": True} if truncate else {}),
    }


def features_folder(
    tag: str,
    texts: Sequence[str],
    strategy: str,
    max_words: int | None,
    model_dir: Path,
    truncate: bool = False,
) -> Path:
    """The cache folder of `contextual_features` for these arguments (`features_key`)."""
    return cached_folder(
        f"fusion_features_{tag}", features_key(texts, strategy, max_words, model_dir, truncate)
    )


def contextual_features(
    texts: Sequence[str],
    tag: str,
    strategy: str = "mean",
    max_words: int | None = None,
    encoder_path: str | Path | None = None,
    batch_size: int = 32,
    progress: bool = True,
    return_seconds: bool = False,
    truncate: bool = False,
):
    """Contextual word vectors of raw `texts` (words from `seqbook.data.tokenize`, the first
    `max_words` of each; with `truncate=True`, a text whose words still exceed the encoder's
    positions is cut at the last whole word that fits, as in `encode_words`), computed once and
    cached by the book's cache policy (`seqbook.cache.load_or_compute`, keyed by
    `features_key`): load if present, else encode
    (with a progress bar) and save (atomically). Returns (words per text, (W_i, H)
    float32 tensors), and with `return_seconds=True` also the seconds the encoder pass took
    when the features were computed (stored with them, so a cached run reports the cold cost).
    The vectors are stored, and always returned, rounded to float16, so a cold and a warm run
    give identical numbers. A text that still exceeds the encoder's limit is an error."""
    from seqbook.data import bert_encoder_path, tokenize

    model_dir = Path(encoder_path) if encoder_path is not None else bert_encoder_path()
    if not isinstance(truncate, bool):
        raise TypeError(f"truncate must be a bool, got {type(truncate).__name__} {truncate!r}")
    texts = check_strs(texts, "texts", hint=" (raw texts: contextual_features tokenises them)")
    key = features_key(texts, strategy, max_words, model_dir, truncate)

    def compute(folder: Path) -> dict:
        start = time.perf_counter()
        tokenizer, encoder = load_contextual_encoder(model_dir)
        words, vectors = contextual_word_vectors(
            [tokenize(t) for t in texts],
            tokenizer,
            encoder,
            strategy=strategy,
            max_words=max_words,
            truncate=truncate,
            batch_size=batch_size,
            progress=progress,
        )
        saved = {
            "words": words,
            "vectors": [v.to(FEATURE_DTYPE) for v in vectors],
            "seconds": time.perf_counter() - start,
        }
        torch_save(saved, folder / "features.pt")
        return saved

    saved, _ = load_or_compute(
        features_folder(tag, texts, strategy, max_words, model_dir, truncate),
        key,
        compute,
        lambda folder: torch_load(folder / "features.pt", weights_only=True),
    )
    out = saved["words"], [v.float() for v in saved["vectors"]]
    return (*out, float(saved["seconds"])) if return_seconds else out


# --------------------------------------------------------------------------- how sure a gain is
def paired_bootstrap_gain(
    correct_a: Sequence[bool] | np.ndarray,
    correct_b: Sequence[bool] | np.ndarray,
    samples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Accuracy of model a minus that of model b on the same test items, with a paired bootstrap
    interval: (gain, low, high). Both models are scored on each resample of the items, so the
    interval reflects which items are in the test set, not two independent samples."""
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(
            f"correct_a and correct_b must be 1-D of one length (one entry per test item), got "
            f"shapes {a.shape} and {b.shape}"
        )
    for name, x in (("correct_a", a), ("correct_b", b)):
        bad = x[(x != 0) & (x != 1)]  # NaN included
        if len(bad):
            raise ValueError(
                f"{name} must say per test item whether the model was right (True/False or 1/0), "
                f"got values such as {bad[:3].tolist()}"
            )
    check_positive_ints(samples=samples)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    return bootstrap_mean_difference(a, b, samples, seed, level)


def bootstrap_mean_difference(
    a: np.ndarray, b: np.ndarray, samples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its paired bootstrap interval: the items (same length, one score per
    test item each, e.g. right or wrong, or a share of seeds right) are resampled together, both
    scored on each resample. The resampling of `paired_bootstrap_gain`, which checks its inputs
    first; here the caller has."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(samples, len(a)))
    gains = (a[idx] - b[idx]).mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(gains, [tail, 1 - tail])
    return float(a.mean() - b.mean()), float(low), float(high)
