"""Reference checks of assignment 4 (ALBERT + BiLSTM). Outside the sandbox.

Scalar mix: eq. (eq-a4-scalar-mix) written out here, values and gradients. Head parameters:
counted on `torch.nn.LSTM` and `torch.nn.Linear` built with the case's sizes. Experiment:
accuracies measured here from the labels the student's predictors returned.
"""

from __future__ import annotations

import torch

from seqbook.checks import CheckReport, run_cases
from seqbook.checks.course import inputs
from seqbook.checks.course.a2 import _with_grads, bands_check
from seqbook.checks.course.judging import integer


def reference_scalar_mix(hidden_states, weights, gamma):
    return gamma * (weights.softmax(0)[:, None, None, None] * hidden_states).sum(0)


def check_scalar_mix(answer, seed: int) -> CheckReport:
    cases = inputs.scalar_mix_inputs(seed)
    return run_cases(
        "scalar_mix",
        [
            (
                f"{n} layers, B={B}, T={T}, H={H}: values and gradients",
                lambda i=i: _with_grads(
                    answer[i], cases[i], reference_scalar_mix, inputs.mix_loss, f"case {i}"
                ),
            )
            for i, (n, B, T, H) in enumerate(inputs.MIX_CASES)
        ],
    )


def reference_head_parameters(H, hidden, layers, classes, bidirectional) -> int:
    lstm = torch.nn.LSTM(H, hidden, layers, bidirectional=bidirectional, device="meta")
    linear = torch.nn.Linear(hidden * (2 if bidirectional else 1), classes, device="meta")
    return sum(p.numel() for p in [*lstm.parameters(), *linear.parameters()])


def check_head_parameters(answer, seed: int) -> CheckReport:
    def case(i, args):
        want = reference_head_parameters(*args)
        got = integer(answer[i], f"head_parameters{args}")
        if got != want:
            raise AssertionError(f"head_parameters{args}: expected {want}, got {got}")

    return run_cases(
        "head_parameters",
        [
            (f"H, hidden, layers, classes, bidirectional = {a}", lambda i=i, a=a: case(i, a))
            for i, a in enumerate(inputs.HEAD_CASES)
        ],
    )


HEAD_BANDS = {"bilstm": (0.9, 1.0), "linear": (0.4, 0.65)}


def check_head_experiment(answer, seed: int) -> CheckReport:
    return bands_check("head_experiment", answer, inputs.negation_eval(seed)[1], HEAD_BANDS)


def judge(task_id: str, answer, seed: int) -> CheckReport:
    return globals()[f"check_{task_id}"](answer, seed)
