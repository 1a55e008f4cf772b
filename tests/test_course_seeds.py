"""The grader draws a fresh seed for every submission, so every input it draws and every check it
runs must hold for every seed, not for the few a test happened to try: here, thousands."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import nbformat
import pytest
import torch

from seqbook.checks import CheckReport
from seqbook.checks.course import ASSIGNMENTS, inputs, wire

SEEDS = range(1000)


def test_whole_word_inputs_fit_their_positions_for_every_seed():
    """The longest draw (15 words of 3 pieces) once overflowed 40 positions: 16 of the first
    1,000 seeds raised IndexError inside the probe and scored the student 0."""
    torch.set_num_threads(1)
    most, rows = inputs.WWM_WORDS[1], torch.arange(256)
    position = torch.arange(inputs.WWM_LEN)
    for seed in range(5000):
        ids, words = inputs.wwm_inputs(seed)
        assert ids.shape == words.shape == (256, inputs.WWM_LEN), seed
        n = (words >= 0).sum(1)  # pieces per row
        inside = (position >= 1) & (position <= n[:, None])
        assert torch.equal(words >= 0, inside), seed  # [CLS], the pieces, then [SEP] + padding
        assert (ids[:, 0] == 1).all() and (ids[rows, n + 1] == 2).all(), seed
        assert ((ids >= inputs.SPECIAL) & (ids < inputs.WWM_VOCAB) | ~inside).all(), seed
        assert ((ids == 0) | (position <= n[:, None] + 1)).all(), seed  # padding after [SEP]
        # words numbered 0, 1, ... in order, each of 1..WWM_PIECES contiguous pieces
        step = words[:, 2:] - words[:, 1:-1]
        assert ((step == 0) | (step == 1) | ~inside[:, 2:]).all(), seed
        assert (words[:, 1] == 0).all(), seed
        count = torch.bincount((words + most * rows[:, None])[inside], minlength=256 * most)
        n_words = words.max(1).values + 1
        assert ((n_words >= inputs.WWM_WORDS[0]) & (n_words <= most)).all(), seed
        used = torch.arange(most) < n_words[:, None]
        count = count.view(256, most)
        assert ((count >= 1) & (count <= inputs.WWM_PIECES) | ~used).all(), seed
        assert (count[~used] == 0).all(), seed


def not_implemented(*args, **kwargs):
    raise NotImplementedError


class EveryKey(dict):
    """A dict of predictors that has every key: each one not implemented yet."""

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return not_implemented


def stand_in(task):
    return EveryKey() if task.id.endswith("experiment") else not_implemented


TASKS = [(name, task) for name, a in sorted(ASSIGNMENTS.items()) for task in a.tasks]


@pytest.mark.parametrize("name, task", TASKS, ids=[t.id for _, t in TASKS])
def test_every_probe_and_check_runs_for_every_seed(name, task):
    """A stand-in that does nothing is probed and judged as the grader does (through the wire)
    for every seed: the grader's own inputs and checks never raise, and the answer fails."""
    torch.set_num_threads(1)
    module = importlib.import_module(f"seqbook.checks.course.{ASSIGNMENTS[name].module}")
    probe = getattr(inputs, task.probe)
    seeds = SEEDS if task.id != "synonym_experiment" else range(1)  # its input is the answer
    for seed in seeds:
        answer = wire.decode(json.dumps(json.loads(wire.encode(probe(stand_in(task), seed)))))
        report = module.judge(task.id, answer, seed)
        assert isinstance(report, CheckReport) and report.total >= 1, (task.id, seed)
        assert not report.ok, (task.id, seed)


INSTRUCTOR = Path(__file__).resolve().parents[1] / "course" / "instructor"
FUNCTION_TASKS = [(n, t) for n, t in TASKS if not t.id.endswith("experiment")]


def instructor_solution(name: str, target: str):
    """The instructor's solution of `target` (its SOLUTION cell), with the notebook's imports."""
    nb = nbformat.read(INSTRUCTOR / f"{name}.ipynb", as_version=4)
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.startswith("# SOLUTION") and f"def {target}(" in cell.source:
            exec(compile(cell.source, f"{name}:{target}", "exec"), namespace)  # noqa: S102
            return namespace[target]
        imports = [ln for ln in cell.source.splitlines() if ln.startswith(("import ", "from "))]
        exec("\n".join(imports), namespace)  # noqa: S102 - the notebook's own imports
    raise AssertionError(f"{name} has no SOLUTION cell defining {target}")


@pytest.mark.parametrize("name, task", FUNCTION_TASKS, ids=[t.id for _, t in FUNCTION_TASKS])
def test_the_instructor_solutions_pass_for_every_seed(name, task):
    """Full marks on every seed, not on the one a grading run happened to draw."""
    torch.set_num_threads(1)
    solution = instructor_solution(name, task.target)
    module = importlib.import_module(f"seqbook.checks.course.{ASSIGNMENTS[name].module}")
    probe = getattr(inputs, task.probe)
    for seed in SEEDS:
        answer = wire.decode(json.dumps(json.loads(wire.encode(probe(solution, seed)))))
        report = module.judge(task.id, answer, seed)
        assert report.ok, (task.id, seed, [r.message for r in report.results if not r.passed])


def wrong_masks():
    """Whole-word maskers that each break one rule the check states."""

    def make(split=(0.8, 0.9), per_piece=False, rate_scale=1.0):
        def masker(input_ids, word_ids, rate, mask_id, vocab_size, generator):
            B, T = input_ids.shape
            n_words = int(word_ids.max()) + 1
            if per_piece:
                chosen = (word_ids >= 0) & (torch.rand(B, T, generator=generator) < rate)
            else:
                pick = torch.rand(B, n_words, generator=generator) < rate * rate_scale
                chosen = (word_ids >= 0) & pick.gather(1, word_ids.clamp(min=0))
            labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
            u = torch.rand(B, T, generator=generator)
            random_ids = torch.randint(5, vocab_size, (B, T), generator=generator)
            masked = torch.where(
                chosen & (u < split[0]), torch.full_like(input_ids, mask_id), input_ids
            )
            return torch.where(
                chosen & (u >= split[0]) & (u < split[1]), random_ids, masked
            ), labels

        return masker

    return {
        "every chosen piece [MASK]": make(split=(1.0, 1.0)),
        "no random replacement": make(split=(0.9, 0.9)),
        "no piece left unchanged": make(split=(0.8, 1.0)),
        "70/15/15": make(split=(0.7, 0.85)),
        "pieces chosen, not words": make(per_piece=True),
        "rate too low by 40 %": make(rate_scale=0.6),
    }


@pytest.mark.parametrize("what", sorted(wrong_masks()))
def test_the_whole_word_check_still_fails_each_broken_rule(what):
    from seqbook.checks.course import a3

    torch.set_num_threads(1)
    masker = wrong_masks()[what]
    for seed in range(40):
        answer = wire.decode(wire.encode(inputs.probe_whole_word_mask(masker, seed)))
        assert not a3.judge("whole_word_mask", answer, seed).ok, (what, seed)
