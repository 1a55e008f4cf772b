"""Helpers of the reference checks: exact type checks on deserialised answers, and comparisons.

Runs only outside the sandbox, on what `seqbook.checks.course.wire.decode` rebuilt: NumPy arrays,
tuples, lists, dicts, numbers, strings, None and `Unsupported` markers. Each helper raises
AssertionError with a message a student can act on.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from seqbook.checks.course.wire import Unsupported

NOT_IMPLEMENTED = "not implemented yet"


def raised(value: object) -> str | None:
    """The message if `value` is the probe's record of an exception, else None."""
    if type(value) is tuple and len(value) == 2 and type(value[0]) is str and value[0] == "raised":
        return str(value[1])
    return None


def fail_if_raised(value: object, what: str) -> None:
    message = raised(value)
    if message is None:
        return
    if message.startswith("NotImplementedError"):
        raise NotImplementedError
    raise AssertionError(f"{what} raised {message}")


def _kind(value: object) -> str:
    if isinstance(value, Unsupported):
        return value.what
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype}"
    return type(value).__name__


def tensor(value: object, what: str, shape: tuple[int, ...] | None = None, kind: str = "float"):
    """`value` as a float64 (or int64 / bool) torch tensor, after checking it is an array of the
    right kind and shape."""
    fail_if_raised(value, what)
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"{what}: expected a tensor, got {_kind(value)}")
    ok = {
        "float": value.dtype.kind == "f",
        "int": value.dtype.kind in "iu",
        "bool": value.dtype.kind == "b",
        "label": value.dtype.kind in "iub",
    }[kind]
    if not ok:
        raise AssertionError(f"{what}: expected a {kind} tensor, got dtype {value.dtype}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(value.shape)}")
    t = torch.from_numpy(np.ascontiguousarray(value))
    return t.double() if kind == "float" else t.long() if kind in ("int", "label") else t


def close(actual: torch.Tensor, expected: torch.Tensor, what: str, atol=1e-6, rtol=1e-5) -> None:
    expected = expected.detach().double()
    if not torch.isfinite(actual).all():
        raise AssertionError(f"{what}: contains NaN or inf")
    if not torch.allclose(actual, expected, atol=atol, rtol=rtol):
        diff = (actual - expected).abs()
        where = tuple(int(i) for i in torch.nonzero(diff == diff.max())[0])
        raise AssertionError(
            f"{what}: values differ from the reference (max |difference| "
            f"{diff.max().item():.3g} at index {where})"
        )


def integer(value: object, what: str) -> int:
    fail_if_raised(value, what)
    if type(value) is not int:
        raise AssertionError(f"{what}: expected an int, got {_kind(value)}")
    return value


def accuracy(value: object, labels: torch.Tensor, what: str) -> float:
    pred = tensor(value, what, (len(labels),), kind="label")
    return (pred == labels).double().mean().item()


def binomial_band(p: float, n: int, z: float = 5.5) -> tuple[float, float]:
    """Where the share of `n` independent draws that each succeed with probability `p` lies
    except once in about 26 million gradings (z = 5.5 standard deviations, normal
    approximation), rounded outward to three decimals: a right answer is never failed by its
    own randomness, while a wrong share (say no random replacements at all) still falls out."""
    if not 0 <= p <= 1 or n < 1:
        raise ValueError(f"binomial_band needs 0 <= p <= 1 and n >= 1, got p={p!r}, n={n!r}")
    half = z * math.sqrt(p * (1 - p) / n)
    return math.floor(max(0.0, p - half) * 1000) / 1000, math.ceil(min(1.0, p + half) * 1000) / 1000


def in_band(value: float, band: tuple[float, float], what: str) -> None:
    lo, hi = band
    if not lo <= value <= hi:
        raise AssertionError(f"{what} is {value:.3f}, outside the expected [{lo}, {hi}]")
