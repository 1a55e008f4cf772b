"""Reference checks of assignment 3 (masking, sentence pairs, masking rates). Outside the sandbox.

Whole-word masking is random, so it is checked by its properties on a large batch (whole words,
no special token, the rate, the 80/10/10 split, labels); sentence pairs against the rule written
out here; the experiment by the accuracies measured here from the student's predictions.
"""

from __future__ import annotations

import torch

from seqbook.checks import CheckReport, run_cases
from seqbook.checks.course import inputs
from seqbook.checks.course.judging import (
    binomial_band,
    fail_if_raised,
    in_band,
    integer,
    raised,
    tensor,
)


def _masking(answer, k: int, shape: tuple[int, ...]):
    fail_if_raised(answer[k], f"rate {inputs.WWM_RATES[k]}")
    if type(answer[k]) is not tuple or len(answer[k]) != 2:
        raise AssertionError("expected a tuple (masked_ids, labels)")
    masked = tensor(answer[k][0], "masked_ids", shape, kind="int")
    labels = tensor(answer[k][1], "labels", shape, kind="int")
    return masked, labels


def check_whole_word_mask(answer, seed: int) -> CheckReport:
    ids, words = inputs.wwm_inputs(seed)

    def each(fn):
        for k in range(len(inputs.WWM_RATES)):
            fn(k, *_masking(answer, k, tuple(ids.shape)))

    def labels_ok(k, masked, labels):
        chosen = labels != -100
        if not torch.equal(labels[chosen], ids[chosen]):
            raise AssertionError("labels must hold the original id at chosen positions")
        if not torch.equal(masked[~chosen], ids[~chosen]):
            raise AssertionError("positions that are not chosen must keep their id")

    def specials(k, masked, labels):
        if ((labels != -100) & (words < 0)).any():
            raise AssertionError("a special or padding position was chosen")

    rows = torch.arange(ids.shape[0])[:, None]
    n_slots = int(words.max()) + 1
    inside = words >= 0
    slot = (words.clamp(min=0) + n_slots * rows)[inside]  # each word of each row: one slot

    def per_word(chosen):
        """For every word: how many of its pieces are chosen, and how many it has."""
        size = ids.shape[0] * n_slots
        picked = torch.bincount(slot, weights=chosen[inside].double(), minlength=size)
        return picked, torch.bincount(slot, minlength=size).double()

    def whole(k, masked, labels):
        picked, pieces = per_word(labels != -100)
        partial = (picked > 0) & (picked < pieces)
        if partial.any():
            b, w = divmod(int(partial.nonzero()[0]), n_slots)
            raise AssertionError(f"sequence {b}: word {w} is only partly chosen")

    def rate(k, masked, labels):
        picked, pieces = per_word(labels != -100)
        words_n = int((pieces > 0).sum())
        share = float(((picked > 0) & (pieces > 0)).sum()) / words_n
        in_band(
            share,
            binomial_band(inputs.WWM_RATES[k], words_n),
            f"share of words chosen at rate {inputs.WWM_RATES[k]}",
        )

    def split(k, masked, labels):
        chosen = labels != -100
        n = int(chosen.sum())
        if n == 0:
            raise AssertionError("nothing was chosen")
        m = masked[chosen]
        as_mask = (m == inputs.MASK_ID).double().mean().item()
        kept = (m == ids[chosen]).double().mean().item()
        in_band(as_mask, binomial_band(0.8, n), "share of chosen pieces replaced by [MASK]")
        # a random replacement may draw the original id (1 in WWM_VOCAB - SPECIAL)
        p_same = 0.1 + 0.1 / (inputs.WWM_VOCAB - inputs.SPECIAL)
        in_band(kept, binomial_band(p_same, n), "share of chosen pieces left unchanged")
        other = m[(m != inputs.MASK_ID) & (m != ids[chosen])]
        if ((other < inputs.SPECIAL) | (other >= inputs.WWM_VOCAB)).any():
            raise AssertionError("random replacements must be ordinary tokens (ids 5..vocab-1)")
        in_band(
            len(other) / n,
            binomial_band(0.1 - 0.1 / (inputs.WWM_VOCAB - inputs.SPECIAL), n),
            "share of chosen pieces replaced by a random id",
        )

    return run_cases(
        "whole_word_mask",
        [
            ("labels and untouched positions", lambda: each(labels_ok)),
            ("no special or padding position", lambda: each(specials)),
            ("whole words only", lambda: each(whole)),
            ("share of words chosen ~ rate", lambda: each(rate)),
            ("80/10/10 replacement", lambda: each(split)),
        ],
    )


def reference_pair(a: list[int], b: list[int], max_len: int, cls_id: int, sep_id: int):
    if max_len < 5:
        raise ValueError("max_len")
    a, b = list(a), list(b)
    while len(a) + len(b) + 3 > max_len:
        (a if len(a) > len(b) else b).pop()
    ids = [cls_id, *a, sep_id, *b, sep_id]
    return ids, [0] * (len(a) + 2) + [1] * (len(b) + 1)


def check_pair_inputs(answer, seed: int) -> CheckReport:
    cases = inputs.pair_inputs_cases(seed)

    def case(i):
        a, b, m = cases[i]
        if m < 5:
            message = raised(answer[i]) or ""
            if message.startswith("NotImplementedError"):
                raise NotImplementedError
            if not message.startswith("ValueError"):
                raise AssertionError(f"max_len={m} leaves no room: expected a ValueError")
            return
        fail_if_raised(answer[i], f"case {i}")
        got = answer[i]
        if type(got) is not tuple or len(got) != 2 or not all(type(x) is list for x in got):
            raise AssertionError("expected a tuple of two lists (input_ids, token_type_ids)")
        want = reference_pair(a, b, m, 1, 2)
        for name, g, w in zip(("input_ids", "token_type_ids"), got, want, strict=True):
            if [integer(x, name) for x in g] != w:
                raise AssertionError(f"{name}: expected {w}, got {g[:40]}")

    names = [f"|a|={len(a)}, |b|={len(b)}, max_len={m}" for a, b, m in cases]
    return run_cases("pair_inputs", [(n, lambda i=i: case(i)) for i, n in enumerate(names)])


MLM_BANDS = {key: (0.6, 1.0) for key in inputs.MLM_KEYS}


def check_mask_rate_experiment(answer, seed: int) -> CheckReport:
    masked, x = inputs.mlm_eval(seed)
    chosen = masked == inputs.MASK_ID

    def case(key):
        value = answer.get(key) if isinstance(answer, dict) else answer
        pred = tensor(value, key, tuple(x.shape), kind="label")
        acc = (pred[chosen] == x[chosen]).double().mean().item()
        in_band(acc, MLM_BANDS[key], f"accuracy on masked tokens, {key}")

    return run_cases(
        "mask_rate_experiment",
        [(f"{k}: accuracy in {MLM_BANDS[k]}", lambda k=k: case(k)) for k in MLM_BANDS],
    )


def judge(task_id: str, answer, seed: int) -> CheckReport:
    return globals()[f"check_{task_id}"](answer, seed)
