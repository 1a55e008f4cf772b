"""ALBERT + BiLSTM: classifiers on a Hugging Face encoder, eq. (eq-albert-bilstm-model).

- `EncoderClassifier`: what every classifier on an encoder shares (freezing, two learning
  rates, turning a batch into encoder states).
- `AlbertBiLSTMClassifier`: h = ALBERT(x), u = BiLSTM(h), y = f(pool(u)); saved and loaded
  with `save_pretrained` / `from_pretrained`.
- `EncoderLinearClassifier`: one linear layer on [CLS] or on the mean state, the baseline head.

Loading encoders and tokenizers lives in `seqbook.hf`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqbook.albert import AlbertEncoder
from seqbook.attention import AttentionPooling
from seqbook.cache import torch_load, torch_save
from seqbook.hf import check_tokenizer_matches, load_encoder, quiet_transformers
from seqbook.lstm import LSTM
from seqbook.models import _check_options, lengths_from_mask, mean_pool, pool
from seqbook.validate import check_fraction, check_ids, check_positive_ints, check_tensor

ENCODER_DIR = "encoder"  # sub-directory of a saved classifier holding the Hugging Face encoder
HEAD_FILE = "head.pt"  # the rest of a saved classifier: its settings and the head's weights


def last_hidden_state(output: object) -> Tensor:
    """The last hidden states (B, T, H) of an encoder's output: a Hugging Face model returns an
    object with `last_hidden_state`, `seqbook.albert.AlbertEncoder` the tensor itself."""
    return output if isinstance(output, Tensor) else output.last_hidden_state


def load_any_encoder(name_or_path, random_init: bool = False, seed: int = 0) -> nn.Module:
    """`seqbook.hf.load_encoder`, and also a folder written by `AlbertEncoder.save_pretrained`
    (any sharing mode, e.g. attention-only, which `transformers.AlbertModel` cannot express)."""
    from pathlib import Path

    path = Path(name_or_path) if isinstance(name_or_path, str | Path) else None
    if path is not None and path.is_dir() and AlbertEncoder.is_saved(path):
        encoder = AlbertEncoder.from_pretrained(path)
        if random_init:
            torch.manual_seed(seed)
            encoder = AlbertEncoder(
                encoder.config,
                encoder.sharing,
                pooler=encoder.pooler is not None,
                projection=not isinstance(encoder.embedding_hidden_mapping_in, nn.Identity),
            )
        return encoder
    return load_encoder(name_or_path, random_init=random_init, seed=seed)


class EncoderClassifier(nn.Module):
    """What every classifier on a Hugging Face encoder shares: the encoder, freezing it, one
    learning rate for it and one for the rest, and turning a batch into encoder states.

    `encoder` is any model whose output has `last_hidden_state` (e.g. an `AlbertModel` from
    `AutoModel.from_pretrained(name_or_path)`), or a `seqbook.albert.AlbertEncoder` (whose
    output is the states themselves). A frozen encoder has fixed weights and always
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
        required. Every input is checked here; the heads run their layers unchecked."""
        if attention_mask is None:
            if input_ids is None:
                raise ValueError("attention_mask is required when input_ids is not given")
            input_ids = check_tensor(input_ids, "input_ids", "B, T")
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        lengths = lengths_from_mask(attention_mask)  # (B,)
        mask = attention_mask.bool()
        B, T = mask.shape
        if encoder_states is None:
            if input_ids is None:
                raise ValueError("give either input_ids or encoder_states, got neither")
            config = self.encoder.config
            check_ids(
                input_ids,
                "input_ids",
                config.vocab_size,
                of=": was the text tokenized with the encoder's own tokenizer?",
                hint=" (the shape of attention_mask)",
                B=B,
                T=T,
            )
            kwargs = {}
            if token_type_ids is not None:
                types = getattr(config, "type_vocab_size", 1)
                kwargs["token_type_ids"] = check_ids(
                    token_type_ids, "token_type_ids", types, B=B, T=T
                )
            out = self.encoder(input_ids=input_ids, attention_mask=mask.long(), **kwargs)
            return last_hidden_state(out), mask, lengths  # (B, T, H_enc)
        if input_ids is not None:
            raise ValueError("give either input_ids or encoder_states, not both")
        H = self.encoder.config.hidden_size
        check_tensor(
            encoder_states,
            "encoder_states",
            "B, T, H",
            dtype="float",
            hint=" (attention_mask's (B, T) and the encoder's hidden size)",
            B=B,
            T=T,
            H=H,
        )
        return encoder_states, mask, lengths


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
        x = self.dropout(h.float())
        u, (h_n, _) = self.lstm._forward(x, mask.to(x.device))  # (B, T, 2H), inputs checked
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
        torch_save({"settings": self.settings, "state_dict": head}, directory / HEAD_FILE)

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
        saved = torch_load(directory / HEAD_FILE, weights_only=True)  # a torn file names itself
        model = cls(load_any_encoder(directory / ENCODER_DIR), **saved["settings"])
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
        check_positive_ints(num_classes=num_classes)
        check_fraction("dropout", dropout)
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
