"""Checks for the attention chapter's exercises.

Each `check_*` takes the reader's function, runs it on seeded, generated inputs and compares
with `seqbook.attention` (itself pinned to torch by the tests). Nothing is compared with stored
answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from seqbook.attention import (
    AttentionPooling,
    MultiHeadAttention,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from seqbook.checks import CheckReport, as_number, assert_close, run_cases

_ATOL = 1e-10  # references run in float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _no_nan(got: object, expected: torch.Tensor, what: str) -> None:
    """A NaN where the reference has a number (softmax of a row of -inf) gets its own message."""
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and got.isnan().any():
        where = tuple(int(i) for i in torch.nonzero(got.isnan())[0])
        raise AssertionError(
            f"{what}: NaN at index {where}, where the reference has "
            f"{expected[where].item():.3g} (a row that may attend nowhere must get zero weights, "
            "not the softmax of a row of -inf)"
        )


def _pair(result: object, what: str) -> tuple[object, object]:
    if not isinstance(result, tuple) or len(result) != 2:
        raise AssertionError(f"{what} must return a tuple (output, weights), got {type(result)}")
    return result


def check_scaled_dot_product_attention(fn: Callable) -> CheckReport:
    """Exercise: `fn(query, key, value, mask=None) -> (output, weights)`,
    eq. (eq-attention-sdpa)."""

    def compare(seed: int, q_shape, k_shape, d_v: int, mask_kind: str | None) -> None:
        g = _gen(seed)
        q, k = _randn(g, *q_shape), _randn(g, *k_shape)
        v = _randn(g, *k_shape[:-1], d_v)
        T_q, T_k = q_shape[-2], k_shape[-2]
        mask = None
        if mask_kind == "causal":
            mask = causal_mask(T_q)
        elif mask_kind == "random":
            mask = torch.rand(*q_shape[:-2], T_q, T_k, generator=g) > 0.4
            mask[..., 0] = True  # every row may attend somewhere
        elif mask_kind == "empty row":
            mask = torch.ones(*q_shape[:-2], T_q, T_k, dtype=torch.bool)
            mask[..., 1, :] = False  # query 1 may attend nowhere
        out, w = _pair(fn(q, k, v, mask) if mask is not None else fn(q, k, v), "your function")
        ref_out, ref_w = scaled_dot_product_attention(q, k, v, mask)
        _no_nan(w, ref_w, "weights")
        assert_close(w, ref_w, "weights", atol=_ATOL, rtol=1e-7)
        assert_close(out, ref_out, "output", atol=_ATOL, rtol=1e-7)

    return run_cases(
        "scaled_dot_product_attention",
        [
            ("3 tokens, no mask", lambda: compare(0, (1, 3, 4), (1, 3, 4), 4, None)),
            ("batched, T_q != T_k, d_v != d_k", lambda: compare(1, (2, 5, 8), (2, 7, 8), 3, None)),
            (
                "4-D (batch, heads), random mask",
                lambda: compare(2, (2, 3, 6, 4), (2, 3, 6, 4), 5, "random"),
            ),
            ("causal mask", lambda: compare(3, (2, 6, 4), (2, 6, 4), 4, "causal")),
            (
                "a row that may attend nowhere gets zero weights",
                lambda: compare(4, (2, 4, 4), (2, 5, 4), 3, "empty row"),
            ),
        ],
    )


def check_padding_mask(fn: Callable) -> CheckReport:
    """Exercise: `fn(lengths, max_len=None) -> bool (B, T)`, True = real token."""

    def compare(lengths: list[int], max_len: int | None) -> None:
        lengths_t = torch.tensor(lengths)
        got = fn(lengths_t, max_len) if max_len is not None else fn(lengths_t)
        expected = padding_mask(lengths_t, max_len)
        if not isinstance(got, torch.Tensor) or got.dtype != torch.bool:
            raise AssertionError(
                f"padding mask must be a bool tensor, got {getattr(got, 'dtype', type(got))}"
            )
        if tuple(got.shape) != tuple(expected.shape):
            raise AssertionError(
                f"lengths {lengths}, max_len {max_len}: expected shape "
                f"{tuple(expected.shape)}, got {tuple(got.shape)}"
            )
        if not torch.equal(got, expected):
            raise AssertionError(
                f"lengths {lengths}, max_len {max_len}: expected {expected.int().tolist()},"
                f" got {got.int().tolist()}"
            )

    return run_cases(
        "padding_mask",
        [
            ("T from the longest length", lambda: compare([3, 1, 4], None)),
            ("explicit max_len", lambda: compare([2, 5], 7)),
            ("a zero length", lambda: compare([0, 2], 3)),
        ],
    )


def check_causal_mask(fn: Callable) -> CheckReport:
    """Exercise: `fn(T) -> bool (T, T)`, True = may attend (no peeking at later positions)."""

    def compare(T: int) -> None:
        got, expected = fn(T), causal_mask(T)
        if not isinstance(got, torch.Tensor) or got.dtype != torch.bool:
            raise AssertionError(
                f"causal mask must be a bool tensor, got {getattr(got, 'dtype', type(got))}"
            )
        if tuple(got.shape) != (T, T):
            raise AssertionError(f"T={T}: expected shape {(T, T)}, got {tuple(got.shape)}")
        if not torch.equal(got, expected):
            raise AssertionError(
                f"T={T}: expected {expected.int().tolist()}, got {got.int().tolist()}"
            )

    return run_cases("causal_mask", [(f"T={T}", lambda T=T: compare(T)) for T in (1, 4, 7)])


def check_multi_head_attention(fn: Callable) -> CheckReport:
    """Exercise: `fn(mha, query, key, value, key_padding_mask=None) -> (output, weights)` using
    the projections of a `seqbook.attention.MultiHeadAttention` `mha`, eq. (eq-attention-mha)."""

    def compare(seed: int, E: int, heads: int, T_q: int, T_k: int, lengths) -> None:
        torch.manual_seed(seed)
        mha = MultiHeadAttention(E, heads).double()
        g = _gen(seed)
        q, k, v = _randn(g, 2, T_q, E), _randn(g, 2, T_k, E), _randn(g, 2, T_k, E)
        kpm = None if lengths is None else ~padding_mask(torch.tensor(lengths), T_k)
        with torch.no_grad():
            got = fn(mha, q, k, v, kpm) if kpm is not None else fn(mha, q, k, v)
            out, w = _pair(got, "your function")
            ref_out, ref_w = mha(q, k, v, kpm)
        assert_close(w, ref_w, "per-head weights (B, heads, T_q, T_k)", atol=_ATOL, rtol=1e-7)
        assert_close(out, ref_out, "output", atol=_ATOL, rtol=1e-7)

    return run_cases(
        "multi_head_attention",
        [
            ("self-attention, 2 heads", lambda: compare(0, 8, 2, 5, 5, None)),
            ("cross-attention, 4 heads", lambda: compare(1, 16, 4, 3, 6, None)),
            ("key padding mask", lambda: compare(2, 12, 3, 4, 6, [6, 2])),
        ],
    )


def check_attention_pooling(fn: Callable) -> CheckReport:
    """Exercise: `fn(layer, x, mask) -> (pooled (B, dim), weights (B, T))` using the parameters
    of a `seqbook.attention.AttentionPooling` `layer`, eq. (eq-attention-pool)."""

    def compare(seed: int, dim: int, lengths: list[int], T: int) -> None:
        torch.manual_seed(seed)
        layer = AttentionPooling(dim).double()
        with torch.no_grad():
            layer.query.normal_()  # a trained-looking query, not the mean-pooling start
        g = _gen(seed)
        x = _randn(g, len(lengths), T, dim)
        mask = padding_mask(torch.tensor(lengths), T)
        with torch.no_grad():
            pooled, w = _pair(fn(layer, x, mask), "your function")
            ref_pooled, ref_w = layer(x, mask)
        assert_close(w, ref_w, "weights (B, T)", atol=_ATOL, rtol=1e-7)
        assert_close(pooled, ref_pooled, "pooled (B, dim)", atol=_ATOL, rtol=1e-7)

    return run_cases(
        "attention_pooling",
        [
            ("full-length sequences", lambda: compare(0, 6, [5, 5], 5)),
            ("padded batch", lambda: compare(1, 8, [7, 3, 1], 7)),
        ],
    )


def _masked_softmax_reference(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """seqbook.attention's recipe: -inf where masked, zeros for a row that may attend nowhere."""
    allowed = mask.any(dim=-1, keepdim=True)
    filled = scores.masked_fill(~mask, float("-inf")).masked_fill(~allowed, 0.0)
    return torch.softmax(filled, dim=-1) * allowed


def check_masked_softmax(fn: Callable) -> CheckReport:
    """Exercise: `fn(scores, mask) -> weights`, the masked softmax of eq. (eq-attention-mask):
    `scores` (..., T_q, T_k) float, `mask` bool broadcastable to it (True = may attend); a row that
    may attend nowhere gets zero weights, and no gradient is NaN."""

    def compare(seed: int, shape: tuple[int, ...], kind: str, backward: bool) -> None:
        g = _gen(seed)
        scores = _randn(g, *shape) * 3
        mask = torch.rand(*shape, generator=g) > 0.5
        if kind == "none masked":
            mask = torch.ones(shape, dtype=torch.bool)
        elif kind == "broadcast":
            mask = mask[..., :1, :]  # one mask row shared by every query
            mask[..., 0] = True
        elif kind == "empty row":
            mask[..., 0, :] = False
            mask[..., 1:, 0] = True
        else:
            mask[..., 0] = True
        ours = scores.clone().requires_grad_(backward)
        got = fn(ours, mask)
        expected_in = scores.clone().requires_grad_(backward)
        expected = _masked_softmax_reference(expected_in, mask)
        _no_nan(got, expected, f"weights ({kind})")
        assert_close(got, expected, f"weights ({kind})", atol=_ATOL, rtol=1e-7)
        if not backward:
            return
        upstream = _randn(g, *shape)  # a random loss sum(upstream * weights)
        (expected * upstream).sum().backward()
        if not isinstance(got, torch.Tensor) or not got.requires_grad:
            raise AssertionError("the weights are not connected to scores in autograd")
        (got * upstream).sum().backward()
        if ours.grad is None or torch.isnan(ours.grad).any():
            raise AssertionError(
                "d loss / d scores is NaN (a row of all -inf scores through softmax gives NaN "
                "gradients; give such a row finite scores before the softmax)"
            )
        assert_close(ours.grad, expected_in.grad, "d loss / d scores", atol=_ATOL, rtol=1e-6)

    return run_cases(
        "masked_softmax",
        [
            (
                "nothing masked: a plain softmax",
                lambda: compare(0, (2, 3, 5), "none masked", False),
            ),
            ("random mask, 4-D", lambda: compare(1, (2, 2, 4, 6), "random", False)),
            (
                "a (1, T_k) mask row broadcast over queries",
                lambda: compare(2, (3, 4, 5), "broadcast", False),
            ),
            (
                "a row that may attend nowhere: zeros",
                lambda: compare(3, (2, 4, 5), "empty row", False),
            ),
            (
                "gradients, with an empty row (no NaN)",
                lambda: compare(4, (2, 4, 5), "empty row", True),
            ),
        ],
    )


def score_variance(scale: float, d_k: int, sigma_q: float, sigma_k: float, seed: int) -> float:
    """The variance of `scale * q . k` over 4,000 seeded draws of q, k in R^{d_k} with independent
    N(0, sigma_q^2) and N(0, sigma_k^2) entries: the measurement behind eq. (eq-attention-variance).
    """
    g = _gen(seed)
    q = sigma_q * _randn(g, 4000, d_k)
    k = sigma_k * _randn(g, 4000, d_k)
    return (scale * (q * k).sum(-1)).var().item()


def check_scale(fn: Callable) -> CheckReport:
    """Exercise: `fn(d_k, sigma_q, sigma_k) -> float`, the factor that keeps the scores `s * q . k`
    at unit variance when the entries of q and k are independent with mean 0 and standard
    deviations `sigma_q` and `sigma_k`: Var(q . k) = d_k sigma_q^2 sigma_k^2, so
    s = 1 / (sigma_q sigma_k sqrt(d_k)), eq. (eq-attention-variance) generalised (sigma = 1 gives
    the 1/sqrt(d_k) of eq. (eq-attention-sdpa)). Checked on seeded draws (the variance must lie in
    [0.85, 1.15]) and against the closed form."""

    def compare(d_k: int, sigma_q: float, sigma_k: float, seed: int) -> None:
        raw = fn(d_k, sigma_q, sigma_k)
        got = as_number(raw)
        if got is None:
            raise AssertionError(f"expected a number (the scale), got {type(raw).__name__}")
        where = f"d_k={d_k}, sigma_q={sigma_q}, sigma_k={sigma_k}"
        expected = 1.0 / (sigma_q * sigma_k * math.sqrt(d_k))
        variance = score_variance(got, d_k, sigma_q, sigma_k, seed)
        if not 0.85 <= variance <= 1.15:
            raise AssertionError(
                f"{where}: with your scale {got:.4g} the scores have variance {variance:.3g} on "
                f"seeded draws, not 1 (expected the scale {expected:.4g})"
            )
        if not math.isclose(got, expected, rel_tol=1e-6):
            raise AssertionError(
                f"{where}: expected the scale {expected:.6g} exactly, got {got:.6g} (close enough "
                "for these draws, but not the closed form)"
            )

    return run_cases(
        "scale",
        [
            ("unit variances: 1/sqrt(d_k)", lambda: compare(64, 1.0, 1.0, 0)),
            ("keys of std 2, d_k = 16", lambda: compare(16, 1.0, 2.0, 1)),
            ("queries of std 0.5, keys of std 3, d_k = 4", lambda: compare(4, 0.5, 3.0, 2)),
            ("both of std 1.5, d_k = 256", lambda: compare(256, 1.5, 1.5, 3)),
            ("slightly off 1: std 1.02 and 1, d_k = 32", lambda: compare(32, 1.02, 1.0, 4)),
        ],
    )


def _hard_attention_reference(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """One-hot at the first arg max of the allowed scores; zeros for a row with nothing allowed."""
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    mask = mask.expand_as(scores)
    best = scores.masked_fill(~mask, float("-inf")).argmax(-1)  # first index on ties
    one_hot = torch.nn.functional.one_hot(best, scores.shape[-1]).to(scores.dtype)
    return one_hot * mask.any(-1, keepdim=True)


def check_hard_attention(fn: Callable) -> CheckReport:
    """Exercise: `fn(scores, mask=None) -> weights`, hard attention: in each row of `scores`
    (..., T_q, T_k) weight 1 on the key with the largest score among the keys `mask` allows (bool,
    broadcastable, True = may attend) and 0 elsewhere, the limit of the softmax of
    eq. (eq-attention-mask) as the temperature goes to 0; ties go to the first such key (as
    `torch.argmax`), and a row that may attend nowhere gets zero weights."""
    hints = {
        "ties": " (when several keys share the largest score, take the first, as torch.argmax)",
        "random": " (the arg max runs over the allowed keys only)",
        "masked maximum": " (the arg max runs over the allowed keys only)",
        "empty row": " (a row that may attend nowhere gets zero weights)",
    }

    def case(seed: int, shape: tuple[int, ...], kind: str) -> Callable[[], None]:
        def run() -> None:
            g = _gen(seed)
            if kind == "ties":  # small integer scores: many rows have tied maxima
                scores = torch.randint(0, 3, shape, generator=g).double()
            else:
                scores = _randn(g, *shape)
            mask = torch.rand(*shape, generator=g) > 0.5
            mask[..., 0] = True
            if kind in ("no mask", "ties"):
                mask = None
            elif kind == "broadcast":
                mask = mask[..., :1, :]  # one mask row shared by every query
            elif kind == "masked maximum":  # every row's largest score sits on a masked key
                mask = torch.ones(shape, dtype=torch.bool)
                mask.scatter_(-1, scores.argmax(-1, keepdim=True), False)
            elif kind == "empty row":
                mask[..., 1, :] = False
            got = fn(scores.clone()) if mask is None else fn(scores.clone(), mask)
            expected = _hard_attention_reference(scores, mask)
            try:
                assert_close(got, expected, f"weights ({kind})", atol=0, rtol=0)
            except AssertionError as e:
                raise AssertionError(f"{e}{hints.get(kind, '')}") from e

        return run

    return run_cases(
        "hard_attention",
        [
            ("no mask", case(0, (2, 4, 6), "no mask")),
            ("ties: the first maximal key", case(1, (3, 5, 6), "ties")),
            ("random mask, 4-D", case(2, (2, 2, 4, 7), "random")),
            ("a (1, T_k) mask row broadcast over queries", case(3, (2, 4, 5), "broadcast")),
            ("the largest score is masked", case(4, (2, 3, 6), "masked maximum")),
            ("a row that may attend nowhere: zeros", case(5, (2, 4, 5), "empty row")),
        ],
    )


def _grads_tuple(result: object, n: int) -> tuple[object, tuple]:
    if not isinstance(result, tuple | list) or len(result) != 2:
        what = (
            f"{len(result)} values" if isinstance(result, tuple | list) else type(result).__name__
        )
        raise AssertionError(f"expected a pair (output, gradients), got {what}")
    out, grads = result
    if not isinstance(grads, tuple | list) or len(grads) != n:
        raise AssertionError(
            f"expected {n} gradients, one per input in the order of the inputs, got "
            f"{len(grads) if isinstance(grads, tuple | list) else type(grads).__name__}"
        )
    return out, tuple(grads)


def check_forward_backward(fn: Callable) -> CheckReport:
    """Exercise: `fn(f, inputs, grad_output) -> (output, grads)`: one training step's worth of
    work for the benchmark: run `output = f(*inputs)`, then backpropagate `grad_output` (the
    gradient of the loss with respect to `output`) and return the gradients with respect to every
    input, a tuple in the order of `inputs`. The inputs arrive without `requires_grad`, as in the
    benchmark, and a second call on the same tensors must return the same gradients (nothing
    accumulates between calls)."""

    def sdpa_seqbook(q, k, v):
        return scaled_dot_product_attention(q, k, v)[0]

    def tanh_layer(x, w):
        return torch.tanh(x @ w)

    def compare(f: Callable, shapes, seed: int, twice: bool = False) -> None:
        g = _gen(seed)
        inputs = tuple(_randn(g, *s) for s in shapes)
        with torch.no_grad():
            out_shape = f(*inputs).shape
        grad_output = _randn(g, *out_shape)
        leaves = tuple(x.clone().requires_grad_() for x in inputs)
        ref_out = f(*leaves)
        ref_grads = torch.autograd.grad(ref_out, leaves, grad_output)
        for call in range(2 if twice else 1):
            out, grads = _grads_tuple(fn(f, inputs, grad_output), len(inputs))
            again = " (second call on the same tensors)" if call else ""
            assert_close(out, ref_out.detach(), f"output{again}", atol=_ATOL, rtol=1e-7)
            for i, (got, expected) in enumerate(zip(grads, ref_grads, strict=True)):
                assert_close(got, expected, f"gradient of input {i}{again}", atol=_ATOL, rtol=1e-7)

    return run_cases(
        "forward_backward",
        [
            (
                "seqbook's attention, (q, k, v)",
                lambda: compare(sdpa_seqbook, [(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3)], 0),
            ),
            (
                "torch's fused attention",
                lambda: compare(
                    torch.nn.functional.scaled_dot_product_attention,
                    [(1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)],
                    1,
                ),
            ),
            ("a tanh layer, two inputs", lambda: compare(tanh_layer, [(3, 4), (4, 5)], 2)),
            (
                "called twice: nothing accumulates",
                lambda: compare(sdpa_seqbook, [(2, 4, 4), (2, 4, 4), (2, 4, 4)], 3, twice=True),
            ),
        ],
    )
