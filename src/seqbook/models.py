"""Sentence classifiers built from the book's parts: the BiLSTM classifier of the BiLSTM chapter.

    input_ids (B, T) -> embedding (B, T, E) -> stacked BiLSTM (B, T, 2H) -> pooling (B, 2H)
    -> linear (B, C)

The BiLSTM is `seqbook.lstm.LSTM` (bidirectional, given each review's length so that the backward
direction starts at the last real token, not in the padding), by default on its fused path
(`impl="fused"`: the same weights on torch's kernel, faster than the teaching loop,
`impl="python"`). Every pooling ignores padding, so adding padding to a batch does not
change its logits.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, nn

from seqbook.attention import AttentionPooling
from seqbook.lstm import LSTM
from seqbook.validate import (
    InputTypeError,
    check_fraction,
    check_ids,
    check_lengths,
    check_mask,
    check_mask_matches_lengths,
    check_positive_ints,
    check_tensor,
    mask_from_lengths,
)

POOLINGS = ("last", "mean", "max", "attention")


# --------------------------------------------------------------------------- pooling
def last_state_pool(h_n: Tensor) -> Tensor:
    """[->h_T ; <-h_1] of the top layer, eq. (eq-bilstm-concat) at the two ends: h_n
    (layers * 2, B, H) -> (B, 2H). The forward direction's final state sits at each sequence's
    last real token, the backward one's at its first token."""
    return torch.cat([h_n[-2], h_n[-1]], dim=-1)


def mean_pool(output: Tensor, mask: Tensor) -> Tensor:
    """Mean of `output` (B, T, D) over the real tokens of `mask` (B, T), eq. (eq-bilstm-mean)."""
    _check_pool_inputs(output, mask)
    m = mask.unsqueeze(-1).to(output.dtype)  # (B, T, 1)
    return (output * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, D)


def max_pool(output: Tensor, mask: Tensor) -> Tensor:
    """Feature-wise maximum of `output` (B, T, D) over the real tokens of `mask` (B, T), eq.
    (eq-bilstm-max); padding is set to -inf first, so it can never win."""
    _check_pool_inputs(output, mask, dtype="bool")
    filled = output.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    return filled.max(dim=1).values  # (B, D)


def _check_pool_inputs(output: Tensor, mask: Tensor, dtype: str | None = None) -> None:
    """Shapes only (no look at the values, so no device synchronisation): a mask of another
    shape would broadcast against `output` instead of failing."""
    check_tensor(output, "output", "B, T, D")
    B, T = output.shape[:2]
    check_tensor(mask, "mask", "B, T", dtype=dtype, hint=" (True = real token)", B=B, T=T)


def pool(
    pooling: str,
    output: Tensor,
    h_n: Tensor,
    mask: Tensor,
    attention: AttentionPooling | None = None,
) -> tuple[Tensor, Tensor | None]:
    """One of POOLINGS over a BiLSTM's `output` (B, T, 2H) (or its final states `h_n` for
    "last"), ignoring padding; returns (pooled (B, 2H), attention weights (B, T) or None).

    For the classifiers, which have checked their inputs: it checks nothing itself (`mean_pool`
    and `max_pool` check shapes only), and it runs the attention pooling on its unchecked path."""
    if pooling == "last":
        return last_state_pool(h_n), None
    if pooling == "mean":
        return mean_pool(output, mask), None
    if pooling == "max":
        return max_pool(output, mask), None
    if pooling == "attention" and attention is not None:
        return attention._forward(output, mask)
    raise ValueError(
        f"pooling must be one of {POOLINGS} (attention needs its module), got {pooling!r}"
    )


# --------------------------------------------------------------------------- the classifier
def _check_options(pooling: str, dropout: float, **sizes: int) -> None:
    """The options both classifiers share: positive int sizes, a known pooling, a dropout rate."""
    check_positive_ints(**sizes)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    check_fraction("dropout", dropout)


class BiLSTMClassifier(nn.Module):
    """Embedding -> stacked BiLSTM -> padding-aware pooling -> linear layer; returns logits.

    `embeddings` (vocab_size, embedding_dim), if given, initialises the embedding table (word2vec
    or GloVe rows, see `seqbook.embeddings.build_embedding_matrix`); `freeze_embeddings=True`
    keeps it fixed during training. `pooling` is one of "last", "mean", "max", "attention".
    `dropout` is applied to the embeddings, between LSTM layers and before the output layer.
    `impl` selects the BiLSTM's implementation (see `seqbook.lstm.LSTM`): "fused" (torch's
    kernel, for training) or "python" (the teaching loop); both give the same numbers.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        pooling: str = "max",
        num_classes: int = 2,
        dropout: float = 0.0,
        embeddings: Tensor | None = None,
        freeze_embeddings: bool = False,
        pad_id: int = 0,
        impl: str = "fused",
    ) -> None:
        super().__init__()
        _check_options(
            pooling,
            dropout,
            vocab_size=vocab_size,
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            num_classes=num_classes,
        )
        if (
            isinstance(pad_id, bool)
            or not isinstance(pad_id, numbers.Integral)
            or not 0 <= pad_id < vocab_size
        ):
            raise ValueError(f"pad_id must be an int in [0, {vocab_size}), got {pad_id!r}")
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.hidden_size, self.num_layers, self.pooling = hidden_size, num_layers, pooling
        self.pad_id = pad_id = int(pad_id)

        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        if embeddings is not None:
            check_tensor(
                embeddings,
                "embeddings",
                "vocab_size, embedding_dim",
                dtype="float",
                vocab_size=vocab_size,
                embedding_dim=embedding_dim,
            )
            with torch.no_grad():
                self.embedding.weight.copy_(embeddings)
        self.embedding.weight.requires_grad_(not freeze_embeddings)
        self.dropout = nn.Dropout(dropout)
        self.lstm = LSTM(
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            bidirectional=True,
            dropout=dropout,
            impl=impl,
        )
        self.attention = AttentionPooling(2 * hidden_size) if pooling == "attention" else None
        self.head = nn.Linear(2 * hidden_size, num_classes)

    @classmethod
    def from_embeddings(
        cls, embeddings: Tensor, freeze_embeddings: bool = False, **kwargs
    ) -> BiLSTMClassifier:
        """A classifier whose vocabulary size and embedding width are those of `embeddings`
        (V, E); the other arguments are as for the constructor."""
        check_tensor(embeddings, "embeddings", "V, E", dtype="float")
        V, E = embeddings.shape
        return cls(V, E, embeddings=embeddings, freeze_embeddings=freeze_embeddings, **kwargs)

    def encode(
        self, input_ids: Tensor, lengths: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """(BiLSTM outputs (B, T, 2H), pooled (B, 2H), attention weights (B, T) or None).

        The inputs are checked here, once; the BiLSTM and the pooling run unchecked."""
        mask = self._check_inputs(input_ids, lengths, mask)
        x = self.dropout(self.embedding(input_ids))  # (B, T, E)
        output, (h_n, _) = self.lstm._forward(x, mask)  # (B, T, 2H); h_n (layers * 2, B, H)
        pooled, weights = pool(self.pooling, output, h_n, mask, self.attention)
        return output, pooled, weights

    def layer_states(
        self, input_ids: Tensor, lengths: Tensor, mask: Tensor | None = None
    ) -> list[Tensor]:
        """[embeddings (B, T, E), BiLSTM layer 1 (B, T, 2H), ..., layer num_layers]: what each
        level of the stack holds for every token (zero at padding), e.g. for probing layers."""
        mask = self._check_inputs(input_ids, lengths, mask)
        x = self.dropout(self.embedding(input_ids)) * mask.unsqueeze(-1)
        return [x, *self.lstm._forward(x, mask, keep_layers=True)[2]]

    def forward(self, input_ids: Tensor, lengths: Tensor, mask: Tensor | None = None) -> Tensor:
        """input_ids (B, T), lengths (B,), mask (B, T) True = real token (optional) -> logits
        (B, num_classes)."""
        _, pooled, _ = self.encode(input_ids, lengths, mask)
        return self.head(self.dropout(pooled))

    def _check_inputs(self, input_ids: Tensor, lengths: Tensor, mask: Tensor | None) -> Tensor:
        """Check the batch; return the (B, T) mask of real tokens."""
        input_ids = check_ids(input_ids, "input_ids", self.vocab_size, of=" (the vocabulary size)")
        B, T = input_ids.shape
        lengths = check_lengths(lengths, B, T, of=" (T of input_ids)")
        expected = mask_from_lengths(lengths.to(input_ids.device), T)  # (B, T)
        if mask is None:
            return expected
        mask = check_mask(mask, "B, T", bool_only=True, B=B, T=T)
        check_mask_matches_lengths(mask, lengths)
        return mask


def lengths_from_mask(mask: Tensor) -> Tensor:
    """Per-row number of real tokens of an attention mask, eq. (eq-albert-bilstm-lengths).

    `mask` (B, T) holds True (or 1) at real tokens and False (0) at padding, which must sit at
    the end of each row (Hugging Face's right padding); returns a LongTensor (B,). A mask with
    a hole (padding followed by a real token) or an all-padding row is rejected: the BiLSTM
    reads exactly the first `lengths[b]` states of row b.
    """
    check_tensor(mask, "mask", "B, T")
    if mask.dtype.is_floating_point or mask.dtype.is_complex:
        raise InputTypeError(
            f"mask must be a bool or integer tensor of 0/1, got dtype {mask.dtype}"
        )
    mask = check_mask(mask)  # 0/1 values only, as bool
    lengths = mask.sum(dim=1)  # (B,)
    right_padded = mask_from_lengths(lengths, mask.shape[1])  # (B, T)
    if not torch.equal(mask, right_padded):
        rows = (mask != right_padded).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(
            f"mask must be right-padded (real tokens first, then padding); rows {rows} are not"
        )
    if bool((lengths == 0).any()):
        rows = (lengths == 0).nonzero().flatten().tolist()
        raise ValueError(f"mask must have at least one real token per row; rows {rows} have none")
    return lengths.long()
