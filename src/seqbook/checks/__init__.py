"""Self-checking exercises: run a reader's code against the reference on generated inputs.

A check is a list of named cases. Each case is a function that raises `AssertionError` with a
specific message when the reader's code disagrees with the reference. `run_cases` runs them all
and returns a `CheckReport`, which a notebook displays and a grader scores. A reader's code that
still raises `NotImplementedError` is reported as "not implemented yet", never as a crash.
Topic modules (`seqbook.checks.attention`, `seqbook.checks.lstm`, ...) hold the cases.
"""

from __future__ import annotations

import numbers
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

Case = tuple[str, Callable[[], None]]


def as_number(got: object) -> float | None:
    """`got` as a float if it is one number (a Python or NumPy scalar, a one-element tensor; not
    a bool), else None: what a check accepts where an exercise asks for a number."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        return None
    return float(got)


@dataclass
class CaseResult:
    name: str
    passed: bool
    message: str = ""


@dataclass
class CheckReport:
    """Outcome of one check: which cases passed and, for the others, why not."""

    check: str
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed == self.total

    def __str__(self) -> str:
        mark = "PASS" if self.ok else "FAIL"
        lines = [f"{mark} {self.check}: {self.passed}/{self.total} cases passed"]
        for r in self.results:
            if not r.passed:
                lines.append(f"  - {r.name}: {r.message}")
        return "\n".join(lines)

    __repr__ = __str__

    def to_dict(self) -> dict[str, object]:
        return {
            "check": self.check,
            "passed": self.passed,
            "total": self.total,
            "cases": [vars(r) for r in self.results],
        }


def run_cases(check: str, cases: Iterable[Case]) -> CheckReport:
    """Run every case; a failure or an exception in one case does not stop the others."""
    report = CheckReport(check)
    for name, case in cases:
        try:
            case()
        except NotImplementedError:
            report.results.append(CaseResult(name, False, "not implemented yet"))
        except AssertionError as e:
            report.results.append(CaseResult(name, False, str(e) or "assertion failed"))
        except Exception as e:  # noqa: BLE001 - a reader's bug must become feedback
            where = traceback.extract_tb(e.__traceback__)[-1]
            report.results.append(
                CaseResult(name, False, f"raised {type(e).__name__}: {e} (line {where.lineno})")
            )
        else:
            report.results.append(CaseResult(name, True))
    return report


def assert_close(
    actual: object, expected: torch.Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-4
) -> None:
    """Assert `actual` is a tensor of `expected`'s shape and values, with a message that says how
    it differs."""
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor, got {type(actual).__name__}")
    if tuple(actual.shape) != tuple(expected.shape):
        raise AssertionError(
            f"{what}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}"
        )
    actual = actual.detach().to(expected.dtype)
    expected = expected.detach()
    bad = torch.isnan(actual) & ~torch.isnan(expected)
    if bad.any():
        where = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise AssertionError(
            f"{what}: NaN at index {where}, where the reference is {expected[where].item():.4g}"
        )
    if not torch.allclose(actual, expected, atol=atol, rtol=rtol, equal_nan=True):
        diff = (actual - expected).abs().nan_to_num(nan=0.0)
        raise AssertionError(
            f"{what}: values differ from the reference (max |difference| {diff.max().item():.3g}"
            f" at index {tuple(int(i) for i in torch.nonzero(diff == diff.max())[0])})"
        )
