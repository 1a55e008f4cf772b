"""Checks for the pretraining exercises: generated inputs, compared with `seqbook.pretraining`
or with torch. (`check_sop_loss` and `check_mask_tokens` live in `seqbook.checks.albert`.)"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch

from seqbook.checks import CheckReport, run_cases

__all__ = ["check_masked_accuracy"]


def check_masked_accuracy(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> CheckReport:
    """`fn(logits (B, T, V), labels (B, T))` must return the MLM accuracy: the share of the
    positions whose label is not -100 where the arg-max of the logits is the label."""

    def reference(logits: torch.Tensor, labels: torch.Tensor) -> float:
        chosen = labels != -100
        return (logits[chosen].argmax(-1) == labels[chosen]).float().mean().item()

    def case(seed: int, B: int, T: int, V: int, rate: float) -> Callable[[], None]:
        def run() -> None:
            g = torch.Generator().manual_seed(seed)
            logits = torch.randn(B, T, V, generator=g)
            targets = torch.randint(V, (B, T), generator=g)
            hit = torch.rand(B, T, generator=g) < 0.4  # make some predictions right
            logits[hit, targets[hit]] += 10.0
            labels = torch.where(torch.rand(B, T, generator=g) < rate, targets, -100)
            labels[0, 0] = targets[0, 0]  # at least one position counts
            got, want = fn(logits, labels), reference(logits, labels)
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = got.item()
            number = isinstance(got, numbers.Real) and not isinstance(got, bool)
            if not number or abs(float(got) - want) > 1e-6:
                raise AssertionError(
                    f"B={B}, T={T}, {int((labels != -100).sum())} labelled positions: expected "
                    f"accuracy {want:.4f}, got {got!r}"
                )

        return run

    return run_cases(
        "masked_accuracy",
        [
            ("one sequence, every position labelled", case(0, 1, 12, 7, 1.0)),
            ("a batch, 15% of positions labelled", case(1, 8, 40, 50, 0.15)),
            ("positions with label -100 do not count", case(2, 4, 30, 5, 0.3)),
        ],
    )
