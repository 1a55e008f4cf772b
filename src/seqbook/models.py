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

import contextlib

import torch
from torch import Tensor, nn

from seqbook.attention import AttentionPooling
from seqbook.lstm import LSTM, _describe  # one wording of "what came" for both modules

POOLINGS = ("last", "mean", "max", "attention")


# --------------------------------------------------------------------------- pooling
def last_state_pool(h_n: Tensor) -> Tensor:
    """[->h_T ; <-h_1] of the top layer, eq. (eq-bilstm-concat) at the two ends: h_n
    (layers * 2, B, H) -> (B, 2H). The forward direction's final state sits at each sequence's
    last real token, the backward one's at its first token."""
    return torch.cat([h_n[-2], h_n[-1]], dim=-1)


def mean_pool(output: Tensor, mask: Tensor) -> Tensor:
    """Mean of `output` (B, T, D) over the real tokens of `mask` (B, T), eq. (eq-bilstm-mean)."""
    m = mask.unsqueeze(-1).to(output.dtype)  # (B, T, 1)
    return (output * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, D)


def max_pool(output: Tensor, mask: Tensor) -> Tensor:
    """Feature-wise maximum of `output` (B, T, D) over the real tokens of `mask` (B, T), eq.
    (eq-bilstm-max); padding is set to -inf first, so it can never win."""
    filled = output.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    return filled.max(dim=1).values  # (B, D)


def pool(
    pooling: str,
    output: Tensor,
    h_n: Tensor,
    mask: Tensor,
    attention: AttentionPooling | None = None,
) -> tuple[Tensor, Tensor | None]:
    """One of POOLINGS over a BiLSTM's `output` (B, T, 2H) (or its final states `h_n` for
    "last"), ignoring padding; returns (pooled (B, 2H), attention weights (B, T) or None)."""
    if pooling == "last":
        return last_state_pool(h_n), None
    if pooling == "mean":
        return mean_pool(output, mask), None
    if pooling == "max":
        return max_pool(output, mask), None
    if pooling == "attention" and attention is not None:
        return attention(output, mask)
    raise ValueError(
        f"pooling must be one of {POOLINGS} (attention needs its module), got {pooling!r}"
    )


# --------------------------------------------------------------------------- the classifier
def _check_options(pooling: str, dropout: float, **sizes: int) -> None:
    """The options both classifiers share: positive int sizes, a known pooling, a dropout rate."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float):
        raise TypeError(f"dropout must be a float in [0, 1), got {type(dropout).__name__}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1), got {dropout}")


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
        if not isinstance(pad_id, int) or not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id must be an int in [0, {vocab_size}), got {pad_id!r}")
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.hidden_size, self.num_layers, self.pooling = hidden_size, num_layers, pooling
        self.pad_id = pad_id

        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        if embeddings is not None:
            if not isinstance(embeddings, Tensor) or not embeddings.dtype.is_floating_point:
                raise TypeError(
                    "embeddings must be a floating-point tensor of shape "
                    f"({vocab_size}, {embedding_dim}), got {_describe(embeddings)}"
                )
            if tuple(embeddings.shape) != (vocab_size, embedding_dim):
                raise ValueError(
                    f"embeddings must have shape (vocab_size, embedding_dim) = "
                    f"({vocab_size}, {embedding_dim}), got {tuple(embeddings.shape)}"
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
        if not isinstance(embeddings, Tensor) or embeddings.dim() != 2:
            raise ValueError(
                f"embeddings must be a tensor of shape (V, E), got {_describe(embeddings)}"
            )
        V, E = embeddings.shape
        return cls(V, E, embeddings=embeddings, freeze_embeddings=freeze_embeddings, **kwargs)

    def encode(
        self, input_ids: Tensor, lengths: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """(BiLSTM outputs (B, T, 2H), pooled (B, 2H), attention weights (B, T) or None)."""
        mask = self._check_inputs(input_ids, lengths, mask)
        x = self.dropout(self.embedding(input_ids))  # (B, T, E)
        output, (h_n, _) = self.lstm(x, lengths)  # (B, T, 2H); h_n (layers * 2, B, H)
        pooled, weights = pool(self.pooling, output, h_n, mask, self.attention)
        return output, pooled, weights

    def forward(self, input_ids: Tensor, lengths: Tensor, mask: Tensor | None = None) -> Tensor:
        """input_ids (B, T), lengths (B,), mask (B, T) True = real token (optional) -> logits
        (B, num_classes)."""
        _, pooled, _ = self.encode(input_ids, lengths, mask)
        return self.head(self.dropout(pooled))

    def _check_inputs(self, input_ids: Tensor, lengths: Tensor, mask: Tensor | None) -> Tensor:
        """Validate the batch; return the (B, T) mask of real tokens."""
        if not isinstance(input_ids, Tensor) or input_ids.dim() != 2:
            raise ValueError(
                f"input_ids must be a tensor of shape (B, T), got {_describe(input_ids)}"
            )
        if input_ids.dtype not in (torch.long, torch.int):
            raise ValueError(f"input_ids must be an integer tensor, got dtype {input_ids.dtype}")
        B, T = input_ids.shape
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.vocab_size):
            raise ValueError(
                f"input_ids must lie in [0, {self.vocab_size}) (the vocabulary size), got values "
                f"from {int(input_ids.min())} to {int(input_ids.max())}"
            )
        if not isinstance(lengths, Tensor) or tuple(lengths.shape) != (B,):
            raise ValueError(
                f"lengths must be a tensor of shape ({B},) (one length per review), got "
                f"{_describe(lengths)}"
            )
        if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be an integer tensor, got dtype {lengths.dtype}")
        if bool((lengths < 1).any()) or bool((lengths > T).any()):
            raise ValueError(
                f"lengths must lie in [1, {T}] (T of input_ids), got {lengths.tolist()}"
            )
        expected = torch.arange(T, device=input_ids.device) < lengths.to(input_ids.device)[:, None]
        if mask is None:
            return expected
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be a bool tensor (True = real token), got {_describe(mask)}"
                + (f" of dtype {mask.dtype}" if isinstance(mask, Tensor) else "")
            )
        if tuple(mask.shape) != (B, T):
            raise ValueError(f"mask must have shape ({B}, {T}), got {tuple(mask.shape)}")
        if not torch.equal(mask, expected):
            raise ValueError(
                "mask must be True exactly at the first lengths[b] positions of each row "
                "(True = real token, padding at the end), but it disagrees with lengths"
            )
        return mask


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of `model` (only those with requires_grad when `trainable_only`)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------- ALBERT + BiLSTM
ENCODER_DIR = "encoder"  # sub-directory of a saved classifier holding the Hugging Face encoder
HEAD_FILE = "head.pt"  # the rest of a saved classifier: its settings and the head's weights


def lengths_from_mask(mask: Tensor) -> Tensor:
    """Per-row number of real tokens of an attention mask, eq. (eq-albert-bilstm-lengths).

    `mask` (B, T) holds True (or 1) at real tokens and False (0) at padding, which must sit at
    the end of each row (Hugging Face's right padding); returns a LongTensor (B,). A mask with
    a hole (padding followed by a real token) or an all-padding row is rejected: the BiLSTM
    reads exactly the first `lengths[b]` states of row b.
    """
    if not isinstance(mask, Tensor) or mask.dim() != 2:
        raise ValueError(f"mask must be a tensor of shape (B, T), got {_describe(mask)}")
    if mask.dtype.is_floating_point or mask.dtype.is_complex:
        raise ValueError(f"mask must be a bool or integer tensor of 0/1, got dtype {mask.dtype}")
    if mask.dtype != torch.bool:
        if bool(((mask != 0) & (mask != 1)).any()):
            raise ValueError("mask must hold only 0 and 1 (or False and True)")
        mask = mask.bool()
    lengths = mask.sum(dim=1)  # (B,)
    T = mask.shape[1]
    right_padded = torch.arange(T, device=mask.device) < lengths[:, None]  # (B, T)
    if not torch.equal(mask, right_padded):
        rows = (mask != right_padded).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(
            f"mask must be right-padded (real tokens first, then padding); rows {rows} are not"
        )
    if bool((lengths == 0).any()):
        rows = (lengths == 0).nonzero().flatten().tolist()
        raise ValueError(f"mask must have at least one real token per row; rows {rows} have none")
    return lengths.long()


class EncoderClassifier(nn.Module):
    """What every classifier on a Hugging Face encoder shares: the encoder, freezing it, one
    learning rate for it and one for the rest, and turning a batch into encoder states.

    `encoder` is any model whose output has `last_hidden_state` (e.g. an `AlbertModel` from
    `AutoModel.from_pretrained(name_or_path)`). A frozen encoder has fixed weights and always
    runs in eval mode (no dropout), so a head trained on it sees fixed features.
    """

    def __init__(self, encoder: nn.Module, freeze_encoder: bool = False) -> None:
        super().__init__()
        config = getattr(encoder, "config", None)
        if not isinstance(encoder, nn.Module) or not isinstance(
            getattr(config, "hidden_size", None), int
        ):
            raise TypeError(
                "encoder must be a Hugging Face model with config.hidden_size (e.g. "
                f"AutoModel.from_pretrained(name_or_path)), got {type(encoder).__name__}"
            )
        self.encoder = encoder
        self.settings: dict[str, object] = {"freeze_encoder": bool(freeze_encoder)}
        self.freeze_encoder(freeze_encoder)

    @property
    def encoder_frozen(self) -> bool:
        return bool(self.settings["freeze_encoder"])

    def freeze_encoder(self, frozen: bool = True):
        """Fix (or release) the encoder's weights; a frozen encoder always runs in eval mode."""
        self.settings["freeze_encoder"] = bool(frozen)
        self.encoder.requires_grad_(not frozen)
        if frozen:
            self.encoder.eval()
        return self

    def train(self, mode: bool = True):
        """Set training mode (`mode`) for every sub-module, except that a frozen encoder stays
        in eval mode."""
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self

    def param_groups(self, encoder_lr: float, head_lr: float, weight_decay: float = 0.0):
        """Optimizer parameter groups: the encoder's trainable weights at `encoder_lr`, all
        other trainable weights at `head_lr` (a fine-tuned encoder usually wants a learning rate
        10-100 times smaller than a freshly initialised head). Frozen weights are left out."""
        for name, value in (("encoder_lr", encoder_lr), ("head_lr", head_lr)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        encoder_ids = {id(p) for p in self.encoder.parameters()}
        enc = [p for p in self.encoder.parameters() if p.requires_grad]
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in encoder_ids]
        groups = [{"params": rest, "lr": head_lr, "weight_decay": weight_decay}]
        if enc:
            groups.insert(0, {"params": enc, "lr": encoder_lr, "weight_decay": weight_decay})
        return groups

    def encoder_states(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        encoder_states: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(h (B, T, H_enc), mask (B, T) bool, lengths (B,)) for a batch, eq.
        (eq-albert-bilstm-encoder). Pass `encoder_states` (B, T, H_enc) instead of `input_ids`
        to reuse encoder outputs computed once (a frozen encoder); `attention_mask` is then
        required."""
        if attention_mask is None:
            if input_ids is None:
                raise ValueError("attention_mask is required when input_ids is not given")
            if not isinstance(input_ids, Tensor) or input_ids.dim() != 2:
                raise ValueError(
                    f"input_ids must be a tensor of shape (B, T), got {_describe(input_ids)}"
                )
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        lengths = lengths_from_mask(attention_mask)  # (B,)
        mask = attention_mask.bool()
        if encoder_states is None:
            if input_ids is None:
                raise ValueError("give either input_ids or encoder_states, got neither")
            self._check_ids(input_ids, mask)
            kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            h = self.encoder(
                input_ids=input_ids, attention_mask=mask.long(), **kwargs
            ).last_hidden_state  # (B, T, H_enc)
            return h, mask, lengths
        if input_ids is not None:
            raise ValueError("give either input_ids or encoder_states, not both")
        H = self.encoder.config.hidden_size
        if not isinstance(encoder_states, Tensor) or encoder_states.dim() != 3:
            raise ValueError(
                f"encoder_states must be a tensor of shape (B, T, {H}), got "
                f"{_describe(encoder_states)}"
            )
        if tuple(encoder_states.shape) != (*mask.shape, H):
            raise ValueError(
                f"encoder_states must have shape {(*mask.shape, H)} (attention_mask's (B, T) "
                f"and the encoder's hidden size), got {tuple(encoder_states.shape)}"
            )
        return encoder_states, mask, lengths

    def _check_ids(self, input_ids: Tensor, mask: Tensor) -> None:
        if input_ids.dtype not in (torch.long, torch.int):
            raise ValueError(f"input_ids must be an integer tensor, got dtype {input_ids.dtype}")
        if tuple(input_ids.shape) != tuple(mask.shape):
            raise ValueError(
                f"attention_mask must have input_ids' shape {tuple(input_ids.shape)}, got "
                f"{tuple(mask.shape)}"
            )
        V = self.encoder.config.vocab_size
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= V):
            raise ValueError(
                f"input_ids must lie in [0, {V}) (the encoder's vocabulary), got values from "
                f"{int(input_ids.min())} to {int(input_ids.max())}: was the text tokenized "
                "with the encoder's own tokenizer?"
            )


class AlbertBiLSTMClassifier(EncoderClassifier):
    """h = ALBERT(x), u = BiLSTM(h), y = f(u): the book's sentiment system, eq.
    (eq-albert-bilstm-model).

        input_ids, attention_mask (B, T) -> encoder (B, T, H_enc) -> stacked BiLSTM over the
        first lengths[b] states (B, T, 2H) -> pooling (B, 2H) -> dropout -> linear (B, C)

    `encoder` is any Hugging Face model whose output has `last_hidden_state` (an `AlbertModel`
    from `AutoModel.from_pretrained(name_or_path)`: the book's own tiny ALBERT or
    `albert-base-v2`). The BiLSTM is `seqbook.lstm.LSTM`, given the lengths derived from the
    mask (eq. (eq-albert-bilstm-lengths)), so padding never enters either direction. `pooling`
    is "mean", "max", "last" or "attention" (as in `BiLSTMClassifier`). `freeze_encoder=True`
    fixes the encoder (see `EncoderClassifier`).
    """

    def __init__(
        self,
        encoder: nn.Module,
        hidden_size: int = 64,
        num_layers: int = 1,
        pooling: str = "mean",
        num_classes: int = 2,
        dropout: float = 0.1,
        freeze_encoder: bool = False,
    ) -> None:
        super().__init__(encoder, freeze_encoder)
        _check_options(
            pooling,
            dropout,
            hidden_size=hidden_size,
            num_layers=num_layers,
            num_classes=num_classes,
        )
        self.settings.update(
            hidden_size=hidden_size,
            num_layers=num_layers,
            pooling=pooling,
            num_classes=num_classes,
            dropout=float(dropout),
        )
        self.pooling = pooling
        self.lstm = LSTM(
            encoder.config.hidden_size, hidden_size, num_layers, bidirectional=True, dropout=dropout
        )
        self.attention = AttentionPooling(2 * hidden_size) if pooling == "attention" else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def encode(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        encoder_states: Tensor | None = None,
    ) -> dict[str, Tensor | None]:
        """Every intermediate tensor: encoder states h (B, T, H_enc), BiLSTM outputs u
        (B, T, 2H) (eq. (eq-albert-bilstm-bilstm)), pooled z (B, 2H) (eq.
        (eq-albert-bilstm-pool)), attention-pooling weights (B, T) or None, lengths (B,)."""
        h, mask, lengths = self.encoder_states(
            input_ids, attention_mask, token_type_ids, encoder_states
        )
        u, (h_n, _) = self.lstm(self.dropout(h.float()), lengths)  # (B, T, 2H)
        z, weights = pool(self.pooling, u, h_n, mask, self.attention)
        return {"h": h, "u": u, "z": z, "weights": weights, "lengths": lengths}

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        encoder_states: Tensor | None = None,
    ) -> Tensor:
        """Logits (B, num_classes), eq. (eq-albert-bilstm-output)."""
        z = self.encode(input_ids, attention_mask, token_type_ids, encoder_states)["z"]
        return self.head(self.dropout(z))

    # -- saving and loading --------------------------------------------------------------------
    def save_pretrained(self, directory, tokenizer=None) -> None:
        """Write the whole classifier: `directory/encoder` (a Hugging Face directory, with the
        tokenizer if given) and `directory/head.pt` (settings and the other weights)."""
        from pathlib import Path

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if tokenizer is not None:
            check_tokenizer_matches(tokenizer, self.encoder)
        with quiet_transformers():
            self.encoder.save_pretrained(directory / ENCODER_DIR)
            if tokenizer is not None:
                tokenizer.save_pretrained(directory / ENCODER_DIR)
        head = {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}
        torch.save({"settings": self.settings, "state_dict": head}, directory / HEAD_FILE)

    @classmethod
    def from_pretrained(cls, directory) -> AlbertBiLSTMClassifier:
        """Load a classifier written by `save_pretrained` (the encoder through
        `AutoModel.from_pretrained`)."""
        from pathlib import Path

        directory = Path(directory)
        if not (directory / HEAD_FILE).is_file() or not (directory / ENCODER_DIR).is_dir():
            raise ValueError(
                f"directory must hold {ENCODER_DIR}/ and {HEAD_FILE} (written by "
                f"save_pretrained), got {str(directory)!r}"
            )
        saved = torch.load(directory / HEAD_FILE, map_location="cpu", weights_only=True)
        model = cls(load_encoder(directory / ENCODER_DIR), **saved["settings"])
        missing, unexpected = model.load_state_dict(saved["state_dict"], strict=False)
        missing = [k for k in missing if not k.startswith("encoder.")]
        if missing or unexpected:
            raise ValueError(
                f"{HEAD_FILE} does not match the classifier: missing {missing}, "
                f"unexpected {unexpected}"
            )
        return model


class EncoderLinearClassifier(EncoderClassifier):
    """The simplest head on an encoder: one linear layer on the first token's state
    ([CLS], eq. (eq-albert-bilstm-cls)) or on the mean of the real tokens' states; the baseline
    the BiLSTM head is measured against."""

    def __init__(
        self,
        encoder: nn.Module,
        pooling: str = "first",
        num_classes: int = 2,
        dropout: float = 0.1,
        freeze_encoder: bool = False,
    ) -> None:
        super().__init__(encoder, freeze_encoder)
        if pooling not in ("first", "mean"):
            raise ValueError(f"pooling must be 'first' or 'mean', got {pooling!r}")
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_classes)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        encoder_states: Tensor | None = None,
    ) -> Tensor:
        h, mask, _ = self.encoder_states(input_ids, attention_mask, token_type_ids, encoder_states)
        h = h.float()  # (B, T, H)
        z = h[:, 0] if self.pooling == "first" else mean_pool(h, mask)  # (B, H)
        return self.head(self.dropout(z))


def load_encoder(name_or_path, random_init: bool = False, seed: int = 0) -> nn.Module:
    """A Hugging Face encoder by hub name or local directory (`AutoModel.from_pretrained`).

    The book's tiny ALBERT directory holds an `AlbertForPreTraining`; loading it as an
    `AlbertModel` drops the MLM and SOP heads, which fine-tuning does not use (the messages that
    report the dropped weights are silenced here, not the errors). `random_init=True` builds the
    same architecture from its config with fresh weights (seeded): the "no pretraining" control.
    """
    from transformers import AutoConfig, AutoModel

    if random_init:
        torch.manual_seed(seed)
        return AutoModel.from_config(AutoConfig.from_pretrained(name_or_path))
    with quiet_transformers():
        return AutoModel.from_pretrained(name_or_path)


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' informational messages and progress bars for a block (its
    errors still raise)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def check_tokenizer_matches(tokenizer, encoder: nn.Module) -> None:
    """Raise if `tokenizer` can produce ids outside `encoder`'s embedding table (a tokenizer
    and an encoder from different models)."""
    V = encoder.config.vocab_size
    n = len(tokenizer)
    if n > V:
        raise ValueError(
            f"tokenizer has {n} tokens but the encoder's vocab_size is {V}: the tokenizer and "
            "the encoder must come from the same model directory"
        )
