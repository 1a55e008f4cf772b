"""Checks for the BiLSTM chapter: reversing padded sequences, padding-aware pooling and a
bidirectional layer built from two one-directional LSTMs. Inputs are generated (seeded); answers
come from `seqbook.lstm`, `seqbook.models` and `torch.nn.LSTM` on packed sequences.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqbook.checks import CheckReport, assert_close, run_cases
from seqbook.lstm import reverse_padded
from seqbook.models import max_pool, mean_pool


def _batch(B: int, T: int, D: int, seed: int, pad_value: float = 0.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, D, generator=g)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0] = T  # one full-length sequence, as in a padded batch
    mask = torch.arange(T) < lengths[:, None]  # (B, T) True = real token
    x = x.masked_fill(~mask[..., None], pad_value)
    return x, lengths, mask


def check_reverse_padded(fn: Callable) -> CheckReport:
    """`fn(x, lengths)` -> x (B, T, D) with each sequence reversed within its own length and the
    padding left at the end (what the backward direction of eq. (eq-bilstm-backward) reads)."""

    def case(B: int, T: int, D: int, seed: int) -> Callable[[], None]:
        def run() -> None:
            x, lengths, _ = _batch(B, T, D, seed, pad_value=-7.0)
            expected = reverse_padded(x, lengths)
            assert_close(fn(x.clone(), lengths.clone()), expected, "reversed batch", 0.0, 0.0)

        return run

    return run_cases(
        "reverse_padded",
        [
            ("no padding", case(1, 5, 2, 0)),
            ("4 sequences, T=6", case(4, 6, 3, 1)),
            ("a sequence of length 1", case(3, 4, 1, 5)),
        ],
    )


def _pool_check(name: str, fn: Callable, reference: Callable) -> CheckReport:
    def case(B: int, T: int, D: int, seed: int, pad_value: float, shift: float):
        def run() -> None:
            x, _, mask = _batch(B, T, D, seed, pad_value)
            x = torch.where(mask[..., None], x + shift, x)
            assert_close(fn(x.clone(), mask.clone()), reference(x, mask), f"{name} of the batch")

        return run

    return run_cases(
        name,
        [
            ("zero padding", case(3, 5, 4, 0, 0.0, 0.0)),
            ("padding holds large values", case(4, 6, 3, 1, 50.0, 0.0)),
            ("every real value negative", case(4, 6, 3, 2, 0.0, -10.0)),
        ],
    )


def check_masked_mean(fn: Callable) -> CheckReport:
    """`fn(output, mask)` -> mean over the real tokens, eq. (eq-bilstm-mean): (B, D)."""
    return _pool_check("masked_mean", fn, mean_pool)


def check_masked_max(fn: Callable) -> CheckReport:
    """`fn(output, mask)` -> feature-wise max over the real tokens, eq. (eq-bilstm-max)."""
    return _pool_check("masked_max", fn, max_pool)


def check_bidirectional(fn: Callable) -> CheckReport:
    """`fn(forward_lstm, backward_lstm, x, lengths)` -> (B, T, 2H): eqs. (eq-bilstm-forward) to
    (eq-bilstm-concat) from two one-directional `torch.nn.LSTM(batch_first=True)`, with zeros at
    padded positions; compared with a bidirectional `torch.nn.LSTM` on a packed sequence."""

    def case(B: int, T: int, D: int, H: int, seed: int) -> Callable[[], None]:
        def run() -> None:
            torch.manual_seed(seed)
            fwd = nn.LSTM(D, H, batch_first=True)
            bwd = nn.LSTM(D, H, batch_first=True)
            both = nn.LSTM(D, H, batch_first=True, bidirectional=True)
            with torch.no_grad():
                for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(both, f"{p}_l0").copy_(getattr(fwd, f"{p}_l0"))
                    getattr(both, f"{p}_l0_reverse").copy_(getattr(bwd, f"{p}_l0"))
            x, lengths, _ = _batch(B, T, D, seed, pad_value=3.0)  # padding that would hurt
            with torch.no_grad():
                packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
                expected, _ = pad_packed_sequence(both(packed)[0], batch_first=True, total_length=T)
                got = fn(fwd, bwd, x.clone(), lengths.clone())
            assert_close(got, expected, "bidirectional output", 1e-5, 1e-4)

        return run

    return run_cases(
        "bidirectional",
        [
            ("no padding", case(1, 4, 3, 2, 0)),
            ("padded batch", case(4, 7, 3, 5, 1)),
            ("lengths 1 to T", case(5, 5, 2, 3, 2)),
        ],
    )
