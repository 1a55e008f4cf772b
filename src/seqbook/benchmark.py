"""Measuring code honestly: wall-clock time as a median over repeats with its spread, and the
memory autograd keeps for the backward pass.

Timings on a shared machine wander: `time_interleaved` runs the candidates in turn, round after
round, so that a slow spell hits all of them alike, and reports the median with the interquartile
range. Read two medians as different only when their ranges do not overlap.
"""

from __future__ import annotations

import numbers
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Timing", "saved_bytes", "time_interleaved"]


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median and interquartile range (q1, q3) over `repeats` calls."""

    median: float
    q1: float
    q3: float
    repeats: int

    def overlaps(self, other: Timing) -> bool:
        """Whether the two interquartile ranges overlap (the difference is inside the noise)."""
        return self.q1 <= other.q3 and other.q1 <= self.q3

    def __str__(self) -> str:
        ms = 1e3
        return f"{self.median * ms:.1f} ms [{self.q1 * ms:.1f}, {self.q3 * ms:.1f}]"


def time_interleaved(
    candidates: dict[str, Callable[[], object]], repeats: int = 11, warmup: int = 1
) -> dict[str, Timing]:
    """Time each zero-argument callable `repeats` times, round-robin (one call of each per
    round), after `warmup` untimed rounds. Returns `{name: Timing}`."""
    if not isinstance(candidates, dict) or not candidates:
        raise ValueError(f"candidates must be a non-empty dict of callables, got {candidates!r}")
    for name, fn in candidates.items():
        if not callable(fn):
            raise TypeError(f"candidates[{name!r}] must be callable, got {type(fn).__name__}")
    if not isinstance(repeats, numbers.Integral) or isinstance(repeats, bool) or repeats < 3:
        raise ValueError(f"repeats must be an int >= 3 (a median and quartiles), got {repeats!r}")
    if not isinstance(warmup, numbers.Integral) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
    repeats, warmup = int(repeats), int(warmup)
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    out = {}
    for name, values in seconds.items():
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
        out[name] = Timing(median=median, q1=q1, q3=q3, repeats=repeats)
    return out


def saved_bytes(fn: Callable[..., object], *inputs: Tensor, exclude: Iterable[Tensor] = ()) -> int:
    """Bytes of the distinct tensors autograd saves for the backward pass of `fn(*inputs)` (the
    activations that training must keep), leaving out any that share storage with `exclude`
    (pass the model's parameters to count activations only). Floating-point inputs are detached
    and made to require gradients; others (token ids) are passed as they are."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"inputs[{i}] must be a tensor, got {type(t).__name__} (pass tensors as separate "
                "arguments: saved_bytes(fn, x, y))"
            )
    exclude = list(exclude)
    for i, t in enumerate(exclude):
        if not isinstance(t, Tensor):
            raise TypeError(f"exclude[{i}] must be a tensor (a parameter), got {type(t).__name__}")
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: set[tuple[int, torch.dtype, int]] = set()
    total = 0

    def pack(t: Tensor) -> Tensor:
        nonlocal total
        ptr = t.untyped_storage().data_ptr()
        key = (ptr, t.dtype, t.numel())
        if ptr not in skip and key not in seen:
            seen.add(key)
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*[t.detach().requires_grad_() if t.is_floating_point() else t for t in inputs])
    return total
