"""Checks for the BiLSTM chapter: reversing padded sequences, padding-aware pooling, a
bidirectional layer built from two one-directional LSTMs, and freezing some rows of an embedding
table. Inputs are generated (seeded); answers come from `seqbook.lstm`, `seqbook.models`,
`torch.nn.LSTM` on packed sequences and the gradients of an unfrozen copy.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqbook.checks import CheckReport, assert_close, run_cases
from seqbook.lstm import reverse_padded
from seqbook.models import BiLSTMClassifier, max_pool, mean_pool


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


def _row(v: torch.Tensor) -> str:
    return "[" + ", ".join(f"{x:.3g}" for x in v.tolist()) + "]"


def _embedding_grad(embedding: nn.Embedding, ids: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """d/dW of sum(embedding(ids) * w): the gradient a table gets from one batch."""
    return torch.autograd.grad((embedding(ids) * w).sum(), embedding.weight)[0]


def check_freeze_rows(fn: Callable) -> CheckReport:
    """`fn(embedding, trainable_ids)` -> the handle of a hook on `embedding.weight` (V, E): from
    then on, every backward pass gives a zero gradient to each row whose id is not in
    `trainable_ids` (1-D long, repeats allowed) and its full gradient to each row whose id is,
    until `handle.remove()`; the table keeps `requires_grad=True`. Compared with the gradient of
    an unfrozen copy, row by row, on seeded batches (a plain table over several backward passes,
    a `BiLSTMClassifier`'s table, and after `remove()`)."""

    def setup(V: int, E: int, seed: int, n_trainable: int, repeat: bool = False):
        g = torch.Generator().manual_seed(seed)
        embedding = nn.Embedding(V, E, padding_idx=0)
        with torch.no_grad():
            embedding.weight.copy_(torch.randn(V, E, generator=g))
            embedding.weight[0] = 0.0
        unfrozen = nn.Embedding(V, E, padding_idx=0)
        unfrozen.weight.data.copy_(embedding.weight.data)
        trainable = torch.randperm(V, generator=g)[:n_trainable]
        if repeat:
            trainable = torch.cat([trainable, trainable[: max(1, n_trainable // 2)]])
        keep = torch.zeros(V, dtype=torch.bool)
        keep[trainable] = True
        handle = fn(embedding, trainable.clone())
        if not embedding.weight.requires_grad:
            raise AssertionError(
                "embedding.weight no longer requires a gradient: that freezes every row (what "
                "freeze_embeddings=True does); only the rows not in trainable_ids must get zeros"
            )
        return g, embedding, unfrozen, keep, handle

    def compare_grad(got, expected: torch.Tensor, keep: torch.Tensor, what: str) -> None:
        if got is None:
            raise AssertionError(f"{what}: embedding.weight.grad is None after backward()")
        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            bad = ~torch.isclose(got, expected, atol=1e-6, rtol=1e-5).all(1)  # (V,)
            if bad.any():
                row = int(bad.nonzero()[0])
                which = (
                    f"is in trainable_ids: expected its full gradient {_row(expected[row])}"
                    if keep[row]
                    else "is not in trainable_ids: expected a zero gradient"
                )
                raise AssertionError(f"{what}: row {row} {which}, got {_row(got[row])}")
        assert_close(got, expected, what, 1e-6, 1e-5)

    def table(V: int, E: int, seed: int, n_trainable: int, passes: int = 1, repeat: bool = False):
        def run() -> None:
            g, embedding, unfrozen, keep, _ = setup(V, E, seed, n_trainable, repeat)
            for p in range(passes):
                ids = torch.randint(V, (3, 7), generator=g)
                w = torch.randn(3, 7, E, generator=g)
                embedding.weight.grad = None
                (embedding(ids) * w).sum().backward()
                expected = _embedding_grad(unfrozen, ids, w) * keep[:, None]
                what = f"gradient (backward pass {p + 1})"
                compare_grad(embedding.weight.grad, expected, keep, what)

        return run

    def classifier(seed: int) -> None:
        V, E = 12, 5
        with torch.random.fork_rng():  # seeded weights; the caller's random state untouched
            torch.manual_seed(seed)
            model = BiLSTMClassifier(V, E, hidden_size=3, pooling="mean", impl="python")
        unfrozen = BiLSTMClassifier(V, E, hidden_size=3, pooling="mean", impl="python")
        unfrozen.load_state_dict(model.state_dict())
        g = torch.Generator().manual_seed(seed)
        trainable = torch.randperm(V, generator=g)[:4]
        keep = torch.zeros(V, dtype=torch.bool)
        keep[trainable] = True
        fn(model.embedding, trainable.clone())
        ids = torch.randint(1, V, (4, 6), generator=g)
        lengths = torch.tensor([6, 4, 5, 2])
        labels = torch.tensor([0, 1, 1, 0])
        nn.functional.cross_entropy(model(ids, lengths), labels).backward()
        loss = nn.functional.cross_entropy(unfrozen(ids, lengths), labels)
        expected = torch.autograd.grad(loss, unfrozen.embedding.weight)[0] * keep[:, None]
        compare_grad(model.embedding.weight.grad, expected, keep, "gradient of model.embedding")

    def removed(seed: int) -> None:
        g, embedding, unfrozen, keep, handle = setup(10, 4, seed, 3)
        if not callable(getattr(handle, "remove", None)):
            raise AssertionError(
                "expected the hook's handle (what Tensor.register_hook returns, with a .remove() "
                f"method), got {type(handle).__name__}"
            )
        handle.remove()
        ids = torch.randint(10, (2, 8), generator=g)
        w = torch.randn(2, 8, 4, generator=g)
        (embedding(ids) * w).sum().backward()
        expected = _embedding_grad(unfrozen, ids, w)
        compare_grad(embedding.weight.grad, expected, torch.ones_like(keep), "after remove()")

    return run_cases(
        "freeze_rows",
        [
            ("a third of 9 rows trainable", table(9, 4, 0, 3)),
            ("three backward passes: the rows stay frozen", table(20, 3, 1, 8, passes=3)),
            ("ids repeated in trainable_ids", table(15, 2, 2, 6, repeat=True)),
            ("the table of a BiLSTMClassifier", lambda: classifier(3)),
            ("handle.remove() unfreezes every row", lambda: removed(4)),
        ],
    )
