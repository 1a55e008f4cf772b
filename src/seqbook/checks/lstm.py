"""Checks for the LSTM chapter's exercises: the reader's code against torch and `seqbook.lstm`.

Each `check_<name>(reader_fn)` generates seeded inputs, runs the reader's function and the
reference on them, and returns a `CheckReport`. Nothing is compared with stored answers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from seqbook.checks import CheckReport, assert_close, run_cases
from seqbook.lstm import reverse_padded


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _as_pair(result: object, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise AssertionError(f"{what}: expected a pair (h, c), got {type(result).__name__}")
    return result[0], result[1]


def check_torch_layout_step(fn: Callable[..., object]) -> CheckReport:
    """`fn(x_t, h, c, weight_ih, weight_hh, bias_ih, bias_hh) -> (h_t, c_t)`: one LSTM step with
    PyTorch's stacked (i, f, g, o) weights, against `torch.nn.LSTMCell`."""

    def case(batch: int, input_size: int, hidden: int, seed: int, scale: float) -> None:
        g = _generator(seed)
        cell = nn.LSTMCell(input_size, hidden).double()
        with torch.no_grad():
            for p in cell.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * scale)
        x = torch.randn(batch, input_size, generator=g, dtype=torch.float64)
        h = torch.randn(batch, hidden, generator=g, dtype=torch.float64)
        c = torch.randn(batch, hidden, generator=g, dtype=torch.float64) * 2
        with torch.no_grad():
            h_ref, c_ref = cell(x, (h, c))
            h_got, c_got = _as_pair(
                fn(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), "result"
            )
        hint = " (is your gate order PyTorch's i, f, g, o, and did you add both biases?)"
        assert_close(c_got, c_ref, "c_t" + hint, atol=1e-8, rtol=1e-6)
        assert_close(h_got, h_ref, "h_t" + hint, atol=1e-8, rtol=1e-6)

    return run_cases(
        "torch_layout_step",
        [
            ("one sequence, one unit", lambda: case(1, 1, 1, 0, 1.0)),
            ("batch of 3, D=5, H=4", lambda: case(3, 5, 4, 1, 0.5)),
            ("large weights (saturated gates)", lambda: case(2, 3, 6, 2, 4.0)),
        ],
    )


def check_reverse_padded(fn: Callable[..., object]) -> CheckReport:
    """`fn(x, lengths) -> y`: reverse each sequence of x (B, T, F) within its length, padding
    unchanged, against `seqbook.lstm.reverse_padded`."""

    def case(lengths: list[int], T: int, seed: int) -> None:
        g = _generator(seed)
        x = torch.randn(len(lengths), T, 3, generator=g)
        lengths_t = torch.tensor(lengths)
        got = fn(x.clone(), lengths_t.clone())
        assert_close(got, reverse_padded(x, lengths_t), f"reversed x for lengths {lengths}")

    return run_cases(
        "reverse_padded",
        [
            ("no padding (a plain flip)", lambda: case([4, 4], 4, 0)),
            ("mixed lengths", lambda: case([5, 2, 3], 5, 1)),
            ("length 1 and padding at the end", lambda: case([1, 6, 4, 2], 7, 2)),
        ],
    )


def check_lstm_num_parameters(fn: Callable[..., object]) -> CheckReport:
    """`fn(input_size, hidden_size, num_layers, bidirectional) -> int`: the number of parameters
    of `torch.nn.LSTM` with those settings (both bias vectors counted, as torch stores them)."""

    def case(input_size: int, hidden: int, layers: int, bidirectional: bool) -> None:
        m = nn.LSTM(input_size, hidden, num_layers=layers, bidirectional=bidirectional)
        expected = sum(p.numel() for p in m.parameters())
        got = fn(input_size, hidden, layers, bidirectional)
        if got != expected:
            raise AssertionError(
                f"LSTM({input_size}, {hidden}, num_layers={layers}, bidirectional={bidirectional})"
                f" has {expected} parameters, you counted {got!r}"
            )

    return run_cases(
        "lstm_num_parameters",
        [
            ("one layer", lambda: case(10, 20, 1, False)),
            ("bidirectional", lambda: case(10, 20, 1, True)),
            ("stacked: layer 2 reads H, not D", lambda: case(7, 3, 3, False)),
            ("stacked and bidirectional: layer 2 reads 2H", lambda: case(50, 32, 2, True)),
        ],
    )


def check_last_hidden(fn: Callable[..., object]) -> CheckReport:
    """`fn(output, lengths) -> (B, H)`: each sequence's output at its last real token; compared
    with h_n of a forward `torch.nn.LSTM` run on the packed batch."""

    def case(lengths: list[int], T: int, seed: int) -> None:
        torch.manual_seed(seed)
        m = nn.LSTM(4, 5, batch_first=True)
        x = torch.randn(len(lengths), T, 4)
        packed = nn.utils.rnn.pack_padded_sequence(
            x, torch.tensor(lengths), batch_first=True, enforce_sorted=False
        )
        with torch.no_grad():
            out_packed, (h_n, _) = m(packed)
            output, _ = nn.utils.rnn.pad_packed_sequence(
                out_packed, batch_first=True, total_length=T
            )
            got = fn(output, torch.tensor(lengths))
        assert_close(got, h_n[-1], f"last hidden states for lengths {lengths}")

    return run_cases(
        "last_hidden",
        [
            ("no padding", lambda: case([3, 3], 3, 0)),
            ("mixed lengths", lambda: case([2, 6, 1, 4], 6, 1)),
            ("time dimension longer than every sequence", lambda: case([3, 2], 8, 2)),
        ],
    )


def check_lstm_layer(fn: Callable[..., object]) -> CheckReport:
    """`fn(cell, x, lengths) -> (output (B, T, H), (h_n, c_n) each (B, H))`: run a
    `seqbook.lstm.LSTMCell` over a padded batch from zero states, as a packed sequence would be
    run: after its last real token a sequence keeps its state and outputs zeros. Compared with
    `seqbook.lstm.LSTM` (itself pinned to `torch.nn.LSTM`), values and gradients."""
    from seqbook.lstm import LSTM

    def case(lengths: list[int], T: int, D: int, H: int, seed: int, backward: bool) -> None:
        torch.manual_seed(seed)
        reference = LSTM(D, H).double()
        cell = reference.cells[0]
        g = _generator(seed)
        x = torch.randn(len(lengths), T, D, generator=g, dtype=torch.float64)
        x_ref, x_got = x.clone().requires_grad_(backward), x.clone().requires_grad_(backward)
        lengths_t = torch.tensor(lengths)
        out_ref, (h_ref, c_ref) = reference(x_ref, lengths_t)
        out, state = _as_pair(fn(cell, x_got, lengths_t.clone()), "result (output, (h_n, c_n))")
        h_got, c_got = _as_pair(state, "second element (h_n, c_n)")
        where = f"lengths {lengths}"
        assert_close(out, out_ref, f"output, {where}", atol=1e-10, rtol=1e-7)
        assert_close(h_got, h_ref[0], f"h_n, {where}", atol=1e-10, rtol=1e-7)
        assert_close(c_got, c_ref[0], f"c_n, {where}", atol=1e-10, rtol=1e-7)
        if not backward:
            return
        upstream = torch.randn(out_ref.shape, generator=g, dtype=torch.float64)
        grads_ref = torch.autograd.grad(
            (out_ref * upstream).sum() + h_ref.sum(), [x_ref, cell.W_f, cell.U_i]
        )
        if not out.requires_grad:
            raise AssertionError("output is not connected to x and the cell's weights in autograd")
        grads = torch.autograd.grad(
            (out * upstream).sum() + h_got.sum(), [x_got, cell.W_f, cell.U_i], allow_unused=True
        )
        for got, want, name in zip(grads, grads_ref, ("x", "W_f", "U_i"), strict=True):
            if got is None:
                raise AssertionError(f"d loss / d {name} is missing: {name} is not used")
            assert_close(got, want, f"d loss / d {name}", atol=1e-9, rtol=1e-6)

    return run_cases(
        "lstm_layer",
        [
            ("no padding", lambda: case([5, 5], 5, 3, 4, 0, False)),
            (
                "padded batch: states frozen, outputs zero",
                lambda: case([6, 2, 4], 6, 3, 4, 1, False),
            ),
            ("a length-1 sequence", lambda: case([1, 3], 3, 2, 2, 2, False)),
            ("gradients through a padded batch", lambda: case([4, 1, 3], 4, 3, 5, 3, True)),
        ],
    )
