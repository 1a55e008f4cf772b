"""Checks for the ALBERT + BiLSTM chapter's exercises (and the course kit's assignment).

Each `check_*` builds a small, seeded ALBERT with `transformers`, runs the reader's code and
compares it with `seqbook.models` (itself pinned by the tests). Nothing is compared with stored
answers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from seqbook.albert_bilstm import AlbertBiLSTMClassifier
from seqbook.checks import CheckReport, assert_close, run_cases
from seqbook.lstm import LSTM
from seqbook.models import lengths_from_mask, mean_pool


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _right_padded_mask(lengths: list[int], T: int) -> torch.Tensor:
    return torch.arange(T) < torch.tensor(lengths)[:, None]  # (B, T)


def tiny_albert(seed: int = 0, vocab_size: int = 40, hidden_size: int = 16):
    """A 2-layer ALBERT with random (seeded) weights and no dropout, for checks and tests."""
    from transformers import AlbertModel

    from seqbook.pretraining import book_albert_config

    config = book_albert_config(
        vocab_size=vocab_size,
        embedding_size=8,
        hidden_size=hidden_size,
        num_layers=2,
        num_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        classifier_dropout_prob=0.0,
    )
    torch.manual_seed(seed)
    return AlbertModel(config).eval()


def check_lengths_from_mask(fn: Callable) -> CheckReport:
    """Exercise: `fn(mask) -> lengths`, eq. (eq-albert-bilstm-lengths): mask (B, T) with True
    (or 1) at real tokens and padding at the end of each row; lengths a LongTensor (B,)."""

    def compare(mask: torch.Tensor) -> None:
        got = fn(mask.clone())
        expected = lengths_from_mask(mask)
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"expected a torch.Tensor of lengths, got {type(got).__name__}")
        if got.dtype != torch.long:
            raise AssertionError(
                f"lengths must be a LongTensor (the BiLSTM indexes with them), got {got.dtype}"
            )
        if tuple(got.shape) != tuple(expected.shape):
            raise AssertionError(
                f"expected shape {tuple(expected.shape)} (one length per row), got "
                f"{tuple(got.shape)}"
            )
        if not torch.equal(got, expected):
            raise AssertionError(
                f"for mask rows with lengths {expected.tolist()} you returned {got.tolist()}"
            )

    def varied():
        compare(_right_padded_mask([5, 2, 7, 1], 7))

    def no_padding():
        compare(torch.ones(3, 6, dtype=torch.bool))

    def integer_mask():
        compare(_right_padded_mask([3, 6, 4], 6).long())  # Hugging Face's attention_mask

    def random_batch():
        g = _gen(1)
        lengths = torch.randint(1, 33, (16,), generator=g).tolist()
        compare(_right_padded_mask(lengths, 32))

    return run_cases(
        "lengths_from_mask",
        [
            ("rows of different lengths", varied),
            ("no padding", no_padding),
            ("a 0/1 integer mask", integer_mask),
            ("a random batch of 16", random_batch),
        ],
    )


def _model_and_batch(seed: int, lengths: list[int], T: int, hidden: int = 6):
    g = _gen(seed)
    encoder = tiny_albert(seed)
    model = AlbertBiLSTMClassifier(encoder, hidden_size=hidden, pooling="mean", dropout=0.0)
    torch.manual_seed(seed)
    for p in list(model.lstm.parameters()) + list(model.head.parameters()):
        nn.init.uniform_(p, -0.5, 0.5)
    model.eval()
    mask = _right_padded_mask(lengths, T)
    ids = torch.randint(2, encoder.config.vocab_size, (len(lengths), T), generator=g)
    ids = ids.masked_fill(~mask, 0)
    return model, ids, mask


def check_albert_bilstm_logits(fn: Callable) -> CheckReport:
    """Exercise: `fn(encoder, lstm, head, input_ids, attention_mask) -> logits (B, C)`, eq.
    (eq-albert-bilstm-model): h = encoder(...).last_hidden_state; lengths from the mask; BiLSTM
    (`seqbook.lstm.LSTM`, bidirectional) over h with those lengths; mean of its outputs over the
    real tokens; `head` (an `nn.Linear(2H, C)`)."""

    def run(model: AlbertBiLSTMClassifier, ids: torch.Tensor, mask: torch.Tensor):
        out = fn(model.encoder, model.lstm, model.head, ids, mask)
        return out

    def compare(seed: int, lengths: list[int], T: int) -> None:
        model, ids, mask = _model_and_batch(seed, lengths, T)
        with torch.no_grad():
            expected = model(input_ids=ids, attention_mask=mask)
            got = run(model, ids, mask)
        assert_close(got, expected, "logits", atol=1e-5, rtol=1e-4)

    def no_padding():
        compare(0, [6, 6, 6], 6)

    def padded():
        compare(1, [7, 3, 5, 2], 7)

    def padding_invariance():
        model, ids, mask = _model_and_batch(2, [5, 3], 5)
        wide_ids = torch.cat([ids, torch.zeros(2, 4, dtype=ids.dtype)], dim=1)
        wide_mask = torch.cat([mask, torch.zeros(2, 4, dtype=torch.bool)], dim=1)
        with torch.no_grad():
            a, b = run(model, ids, mask), run(model, wide_ids, wide_mask)
        assert_close(
            b,
            a,
            "logits after appending 4 padding positions (padding must not change them: give "
            "the BiLSTM the lengths and average over real tokens only)",
            atol=1e-5,
        )

    def gradients_reach_the_encoder():
        model, ids, mask = _model_and_batch(3, [4, 2], 4)
        got = run(model, ids, mask)
        if not isinstance(got, torch.Tensor) or not got.requires_grad:
            raise AssertionError(
                "the logits carry no gradient: do not detach or wrap the forward in no_grad"
            )
        got.sum().backward()
        grad = model.encoder.embeddings.word_embeddings.weight.grad
        if grad is None or grad.abs().sum() == 0:
            raise AssertionError("no gradient reached the encoder's embeddings")

    return run_cases(
        "albert_bilstm_logits",
        [
            ("a batch without padding", no_padding),
            ("a padded batch", padded),
            ("extra padding changes nothing", padding_invariance),
            ("gradients reach the encoder", gradients_reach_the_encoder),
        ],
    )


def check_param_groups(fn: Callable) -> CheckReport:
    """Exercise: `fn(model, encoder_lr, head_lr) -> list of optimizer param-group dicts`: the
    model's `encoder` parameters at `encoder_lr`, every other trainable parameter at `head_lr`,
    each trainable parameter exactly once, frozen parameters (requires_grad False) left out."""

    def groups_of(model: AlbertBiLSTMClassifier, encoder_lr: float, head_lr: float):
        groups = fn(model, encoder_lr, head_lr)
        if not isinstance(groups, list | tuple) or not all(isinstance(g, dict) for g in groups):
            raise AssertionError(f"expected a list of dicts, got {type(groups).__name__}")
        for i, g in enumerate(groups):
            if "params" not in g or "lr" not in g:
                raise AssertionError(f"group {i} needs keys 'params' and 'lr', has {sorted(g)}")
        return groups

    def lr_by_parameter(groups) -> dict[int, list[float]]:
        seen: dict[int, list[float]] = {}
        for g in groups:
            for p in g["params"]:
                seen.setdefault(id(p), []).append(g["lr"])
        return seen

    def trainable_encoder():
        model = AlbertBiLSTMClassifier(tiny_albert(0), hidden_size=4)
        seen = lr_by_parameter(groups_of(model, 1e-5, 1e-3))
        names = {id(p): n for n, p in model.named_parameters()}
        twice = [names.get(k, "?") for k, lrs in seen.items() if len(lrs) > 1]
        if twice:
            raise AssertionError(f"parameters in more than one group: {twice[:3]}")
        missing = [n for n, p in model.named_parameters() if id(p) not in seen]
        if missing:
            raise AssertionError(f"trainable parameters in no group: {missing[:3]}")
        for n, p in model.named_parameters():
            want = 1e-5 if n.startswith("encoder.") else 1e-3
            if seen[id(p)][0] != want:
                raise AssertionError(f"{n} has lr {seen[id(p)][0]}, expected {want}")

    def frozen_encoder():
        model = AlbertBiLSTMClassifier(tiny_albert(0), hidden_size=4, freeze_encoder=True)
        seen = lr_by_parameter(groups_of(model, 1e-5, 1e-3))
        frozen = [n for n, p in model.named_parameters() if not p.requires_grad and id(p) in seen]
        if frozen:
            raise AssertionError(f"frozen parameters were given to the optimizer: {frozen[:3]}")
        missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
        if missing:
            raise AssertionError(f"trainable parameters in no group: {missing[:3]}")

    def optimizer_accepts_them():
        model = AlbertBiLSTMClassifier(tiny_albert(0), hidden_size=4)
        groups = [g for g in groups_of(model, 2e-5, 3e-3) if list(g["params"])]
        torch.optim.AdamW(groups)  # raises on duplicates or malformed groups

    return run_cases(
        "param_groups",
        [
            ("encoder and head at their own rates", trainable_encoder),
            ("a frozen encoder is left out", frozen_encoder),
            ("torch.optim.AdamW accepts the groups", optimizer_accepts_them),
        ],
    )


def reference_albert_bilstm_logits(encoder, lstm: LSTM, head: nn.Linear, input_ids, mask):
    """The computation `check_albert_bilstm_logits` expects, written out step by step."""
    h = encoder(input_ids=input_ids, attention_mask=mask.long()).last_hidden_state  # (B, T, H)
    lengths = lengths_from_mask(mask)  # (B,)
    u, _ = lstm(h, lengths)  # (B, T, 2H')
    return head(mean_pool(u, mask.bool()))  # (B, C)
