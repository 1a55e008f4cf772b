"""Probes: the tasks' inputs, made from a seed, and the calls of the student's code on them.

This module runs inside the grading sandbox, next to the student's code, so it holds no
reference answer: `probe_<task>(answer, seed)` only builds inputs and returns what the student's
function or predictors gave back (or `("raised", "...")` when they raised). The reference checks
(`seqbook.checks.course.a1` ... `a5`, outside the sandbox) rebuild the same inputs from the same
seed with the functions below. The synthetic data sets of the experiments live here too, so a
notebook can train on them.
"""

from __future__ import annotations

import torch
from torch import Tensor

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def call(fn, *args, **kwargs):
    """`fn(*args, **kwargs)`, or `("raised", "Type: message")` if it raised."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        return ("raised", "NotImplementedError: not implemented yet")
    except Exception as e:  # noqa: BLE001 - a student's bug becomes feedback
        return ("raised", f"{type(e).__name__}: {e}"[:300])


def predict(predictor, x: Tensor, *extra):
    """A predictor's labels for `x`: it may return labels `(N,)` or scores `(N, C)`."""

    if predictor is None:
        return ("raised", "NotImplementedError: not implemented yet")

    def labels():
        with torch.no_grad():
            out = predictor(x.clone(), *extra)
        if not isinstance(out, Tensor):
            raise TypeError(f"a predictor must return a tensor, got {type(out).__name__}")
        return out.argmax(-1) if out.ndim == 2 else out

    return call(labels)


def predictors(models, keys: tuple[str, ...], x: Tensor, *extra) -> dict[str, object]:
    if not isinstance(models, dict):
        return {k: ("raised", f"expected a dict of predictors, got {type(models).__name__}")
                for k in keys}  # fmt: skip
    return {
        k: predict(models[k], x, *extra) if k in models else ("raised", f"no key {k!r}")
        for k in keys
    }


# ----------------------------------------------------------------------------- a1: attention

POSITION_CASES = ((1, 2), (6, 8), (40, 16), (9, 6))
POSITION_ODD = (4, 5)


def probe_positions(fn, seed: int):
    return [call(fn, T, d) for T, d in POSITION_CASES] + [call(fn, *POSITION_ODD)]


ENCODER_CASES = ((2, 5, 8, 2, 16, False), (3, 7, 12, 3, 20, True), (1, 1, 4, 1, 8, False))


def encoder_layer_inputs(seed: int) -> list[tuple[Tensor, dict[str, Tensor], int, Tensor | None]]:
    """(x, params, num_heads, key_padding_mask) per case; params use torch's layout and names
    (`in_proj_weight` is the stacked (3d, d) query/key/value projection)."""
    g = gen(seed)
    cases = []
    for B, T, d, h, ff, padded in ENCODER_CASES:
        shapes = {
            "in_proj_weight": (3 * d, d), "in_proj_bias": (3 * d,),
            "out_proj_weight": (d, d), "out_proj_bias": (d,),
            "linear1_weight": (ff, d), "linear1_bias": (ff,),
            "linear2_weight": (d, ff), "linear2_bias": (d,),
            "norm1_weight": (d,), "norm1_bias": (d,), "norm2_weight": (d,), "norm2_bias": (d,),
        }  # fmt: skip
        params = {k: torch.randn(*s, generator=g, dtype=F64) * s[-1] ** -0.5
                  for k, s in shapes.items()}  # fmt: skip
        params["norm1_weight"] = params["norm1_weight"] * 0.2 + 1
        params["norm2_weight"] = params["norm2_weight"] * 0.2 + 1
        x = torch.randn(B, T, d, generator=g, dtype=F64)
        mask = None
        if padded:
            lengths = torch.randint(1, T + 1, (B,), generator=g)
            lengths[0] = T
            mask = torch.arange(T)[None, :] >= lengths[:, None]  # True = padding
        cases.append((x, params, h, mask))
    return cases


def probe_encoder_layer(fn, seed: int):
    return [
        call(fn, x.clone(), {k: v.clone() for k, v in p.items()}, h, None if m is None else m.clone())
        for x, p, h, m in encoder_layer_inputs(seed)
    ]


ORDER_VOCAB, ORDER_LEN, ORDER_A, ORDER_B = 16, 10, 1, 2


def order_batch(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """`n` sequences of `ORDER_LEN` tokens: one A (id 1), one B (id 2), fillers 3..15 elsewhere;
    the label is 1 when A comes before B."""
    x = torch.randint(3, ORDER_VOCAB, (n, ORDER_LEN), generator=generator)
    pos = torch.rand(n, ORDER_LEN, generator=generator).argsort(-1)[:, :2]
    rows = torch.arange(n)
    x[rows, pos[:, 0]] = ORDER_A
    x[rows, pos[:, 1]] = ORDER_B
    return x, (pos[:, 0] < pos[:, 1]).long()


def order_eval(seed: int) -> tuple[Tensor, Tensor]:
    """The graded evaluation set: 256 sequences and their twins with A and B swapped."""
    x, y = order_batch(256, gen(seed + 101))
    twin = x.clone()
    twin[x == ORDER_A], twin[x == ORDER_B] = ORDER_B, ORDER_A
    return torch.cat([x, twin]), torch.cat([y, 1 - y])


ORDER_KEYS = ("with positions", "without positions")


def probe_order_experiment(models, seed: int):
    return predictors(models, ORDER_KEYS, order_eval(seed)[0])
