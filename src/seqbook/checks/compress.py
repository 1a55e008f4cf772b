"""Checks for the exercises of "ALBERT from a pretrained BERT": generated inputs, compared with
seqbook's reference implementation (`seqbook.compress`, `seqbook.distill`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqbook.checks import CheckReport, assert_close, run_cases

__all__ = ["check_hidden_loss", "check_mean_block", "check_zero_mean_frame"]


def check_hidden_loss(
    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], object],
) -> CheckReport:
    """`fn(student, teacher, mask)` must return the missed share of the teacher's variance after
    the best per-dimension rescaling of the student, eq. (eq-distill-hidden): states (B, T, H),
    mask (B, T) True at real tokens."""
    from seqbook.distill import hidden_loss

    def states(seed: int, B: int = 3, T: int = 9, H: int = 6):
        g = torch.Generator().manual_seed(seed)
        teacher = torch.randn(B, T, H, generator=g) * (torch.rand(H, generator=g) * 3 + 0.1)
        student = 0.5 * teacher + torch.randn(B, T, H, generator=g)
        mask = torch.ones(B, T, dtype=torch.bool)
        mask[1, 5:] = False
        mask[2, 2:] = False
        return student, teacher, mask

    def case(seed: int, change: Callable | None = None) -> Callable[[], None]:
        def run() -> None:
            student, teacher, mask = states(seed)
            if change is not None:
                student = change(student, teacher, mask)
            want = hidden_loss(student, teacher, mask)
            got = fn(student.clone(), teacher.clone(), mask.clone())
            got = (
                torch.as_tensor(got, dtype=torch.float32)
                if not isinstance(got, torch.Tensor)
                else got
            )
            assert_close(got.reshape(()), want, "the loss", atol=1e-5, rtol=1e-4)

        return run

    def padding_garbage(student, teacher, mask):
        student = student.clone()
        student[~mask] = 1e3  # what sits in padding must not count
        return student

    def rescaled(student, teacher, mask):
        return -3.0 * teacher + 7.0  # a per-dimension affine copy: nothing missed

    return run_cases(
        "hidden_loss",
        [
            ("noisy student", case(0)),
            ("another draw", case(1)),
            ("padding positions hold garbage", case(2, padding_garbage)),
            ("an affine copy of the teacher", case(3, rescaled)),
        ],
    )


def check_mean_block(fn: Callable[[list[dict]], dict]) -> CheckReport:
    """`fn(state_dicts)` must return the element-wise mean of the blocks' state dicts: the
    initial weights of a block shared by the layers it replaces, eq. (eq-compress-share)."""

    def blocks(seed: int, n: int) -> list[dict]:
        g = torch.Generator().manual_seed(seed)
        return [
            {
                "query.weight": torch.randn(4, 4, generator=g),
                "query.bias": torch.randn(4, generator=g),
            }
            for _ in range(n)
        ]

    def case(seed: int, n: int) -> Callable[[], None]:
        def run() -> None:
            given = blocks(seed, n)
            got = fn([{k: v.clone() for k, v in b.items()} for b in given])
            if not isinstance(got, dict) or set(got) != set(given[0]):
                raise AssertionError(f"expected a dict with keys {sorted(given[0])}, got {got!r}")
            for k in given[0]:
                want = torch.stack([b[k] for b in given]).mean(0)
                assert_close(got[k], want, f"{k!r} of {n} blocks")

        return run

    return run_cases("mean_block", [(f"{n} blocks", case(n, n)) for n in (1, 2, 6)])


def check_zero_mean_frame(fn: Callable[[int], torch.Tensor]) -> CheckReport:
    """`fn(E)` must return E - 1 orthonormal rows (E - 1, E), each summing to zero: a basis of
    the E-wide vectors LayerNorm leaves centred (eq. (eq-compress-factorised))."""

    def case(E: int) -> Callable[[], None]:
        def run() -> None:
            Q = fn(E)
            if not isinstance(Q, torch.Tensor) or tuple(Q.shape) != (E - 1, E):
                got = tuple(Q.shape) if isinstance(Q, torch.Tensor) else type(Q).__name__
                raise AssertionError(f"E={E}: expected a tensor of shape {(E - 1, E)}, got {got}")
            Q = Q.double()
            assert_close(Q @ Q.T, torch.eye(E - 1, dtype=torch.float64), f"E={E}: Q Q^T", atol=1e-5)
            assert_close(
                Q.sum(1), torch.zeros(E - 1, dtype=torch.float64), f"E={E}: row sums", atol=1e-5
            )

        return run

    return run_cases("zero_mean_frame", [(f"E={E}", case(E)) for E in (2, 5, 64)])
