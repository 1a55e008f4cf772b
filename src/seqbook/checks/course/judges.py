"""The comparisons that judge a task's answer, and their helpers. Public: no reference here.

Runs outside the sandbox (and in the reader's kernel for the self-check), on what
`seqbook.checks.course.wire.decode` rebuilt: NumPy arrays, tuples, lists, dicts, numbers,
strings, None and `Unsupported` markers. Each helper raises
AssertionError with a message a student can act on.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from seqbook.checks import CheckReport, run_cases
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


# ----------------------------------------------------------------------------- the comparisons
#
# `judge(task_id, answer, public, expected)` compares a decoded answer with what it should be:
# `expected` is the reference's output on the instance (computed by the grader, outside the
# student's package; for the self-check, read from the practice file), or for an experiment the
# instance's secret part (the held-out labels). No reference is computed here.


def _grads(answer, expected, what: str) -> None:
    """Compare the probe's (output, gradients) with the reference's (output, gradients)."""
    fail_if_raised(answer, what)
    if type(answer) is not tuple or len(answer) != 2 or not isinstance(answer[1], dict):
        raise AssertionError(f"{what}: the probe could not run it")
    out, grads = answer
    ref, ref_grads = expected
    refs = ref if isinstance(ref, tuple) else (ref,)
    outs = out if isinstance(out, tuple) else (out,)
    if isinstance(out, tuple) != isinstance(ref, tuple) or len(outs) != len(refs):
        kind = f"a tuple of {len(refs)}" if isinstance(ref, tuple) else "a tensor"
        raise AssertionError(f"{what}: expected {kind}, got {type(out).__name__}")
    for k, (o, r) in enumerate(zip(outs, refs, strict=True)):
        close(tensor(o, f"{what} output {k}", tuple(r.shape)), r, f"{what} output {k}")
    for name, want in ref_grads.items():
        g = grads.get(name)
        if g is None:
            raise AssertionError(f"{what}: no gradient reached {name}")
        close(tensor(g, f"gradient of {name}", tuple(want.shape)), want, f"gradient of {name}")


def _expects_value_error(value, what: str) -> None:
    message = raised(value) or ""
    if message.startswith("NotImplementedError"):
        raise NotImplementedError
    if not message.startswith("ValueError"):
        raise AssertionError(f"{what}: expected a ValueError, got {message or 'a result'}")


def _bands(name: str, answer, labels, bands: dict) -> CheckReport:
    def case(key):
        value = answer.get(key) if isinstance(answer, dict) else answer
        in_band(accuracy(value, labels, key), bands[key], f"accuracy of {key}")

    return run_cases(name, [(f"{k}: accuracy in {bands[k]}", lambda k=k: case(k)) for k in bands])


# a1


def judge_positions(answer, public, expected) -> CheckReport:
    def case(i, T, d, base):
        what = f"positions({T}, {d}" + ("" if base is None else f", base={base}") + ")"
        close(tensor(answer[i], what, (T, d)), expected[i], what, atol=1e-5)

    cases = [
        (f"T={T}, d={d}, base={'default' if b is None else b}", lambda i=i, c=c: case(i, *c))
        for i, c in enumerate(public["cases"])
        for T, d, b in (c,)  # the case's own values, for its name
    ]
    odd = tuple(public["odd"])
    odd_case = (
        "odd d raises ValueError",
        lambda: _expects_value_error(answer[-1], f"positions{odd}"),
    )
    return run_cases("positions", [*cases, odd_case])


def judge_encoder_layer(answer, public, expected) -> CheckReport:
    def case(i, x):
        what = f"case {i} output"
        close(tensor(answer[i], what, tuple(x.shape)), expected[i], what, atol=1e-6)

    names = []
    for _x, _p, h, mask, scale in public["cases"]:
        names.append(
            f"{h} head(s), {'padded batch' if mask is not None else 'no mask'}, "
            f"scale {'default' if scale is None else scale}"
        )
    return run_cases(
        "encoder_layer",
        [
            (n, lambda i=i, c=c: case(i, c[0]))
            for i, (n, c) in enumerate(zip(names, public["cases"], strict=True))
        ],
    )


ORDER_BANDS = {"with positions": (0.9, 1.0), "without positions": (0.4, 0.6)}


def judge_order_experiment(answer, public, expected) -> CheckReport:
    return _bands("order_experiment", answer, expected["y_eval"], ORDER_BANDS)


# a2


def judge_cifg_step(answer, public, expected) -> CheckReport:
    return run_cases(
        "cifg_step",
        [
            (
                f"B={c['x_t'].shape[0]}, D={c['x_t'].shape[1]}, H={c['h'].shape[1]}: values and "
                "gradients",
                lambda i=i: _grads(answer[i], expected[i], f"case {i}"),
            )
            for i, c in enumerate(public["cases"])
        ],
    )


def judge_tfidf(answer, public, expected) -> CheckReport:
    def case(i, counts, k):
        what = f"tfidf of {tuple(counts.shape)}" + ("" if k is None else f", smooth={k}")
        close(tensor(answer[i], what, tuple(counts.shape)), expected[i], what)

    return run_cases(
        "tfidf",
        [
            (
                f"{c.shape[0]} documents, {c.shape[1]} words, "
                f"smooth {'default' if k is None else k}",
                lambda i=i, c=c, k=k: case(i, c, k),
            )
            for i, (c, k) in enumerate(public["cases"])
        ],
    )


NEGATION_BANDS = {"tfidf": (0.4, 0.6), "bilstm": (0.9, 1.0)}


def judge_bow_experiment(answer, public, expected) -> CheckReport:
    return _bands("bow_experiment", answer, expected["y_eval"], NEGATION_BANDS)


# a3


def _masking(answer, k: int, rate: float, shape: tuple[int, ...]):
    fail_if_raised(answer[k], f"rate {rate}")
    if type(answer[k]) is not tuple or len(answer[k]) != 2:
        raise AssertionError("expected a tuple (masked_ids, labels)")
    masked = tensor(answer[k][0], "masked_ids", shape, kind="int")
    labels = tensor(answer[k][1], "labels", shape, kind="int")
    return masked, labels


def judge_whole_word_mask(answer, public, expected=None) -> CheckReport:
    """Whole-word masking is random: it is judged by its properties on a large batch (whole words,
    no special token, the rate, the 80/10/10 split, labels); no reference output exists."""
    from seqbook.checks.course.inputs import MASK_ID, SPECIAL, WWM_VOCAB

    ids, words, rates = public["ids"], public["words"], public["rates"]

    def each(fn):
        for k, rate in enumerate(rates):
            fn(k, rate, *_masking(answer, k, rate, tuple(ids.shape)))

    def labels_ok(k, rate, masked, labels):
        chosen = labels != -100
        if not torch.equal(labels[chosen], ids[chosen]):
            raise AssertionError("labels must hold the original id at chosen positions")
        if not torch.equal(masked[~chosen], ids[~chosen]):
            raise AssertionError("positions that are not chosen must keep their id")

    def specials(k, rate, masked, labels):
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

    def whole(k, rate, masked, labels):
        picked, pieces = per_word(labels != -100)
        partial = (picked > 0) & (picked < pieces)
        if partial.any():
            b, w = divmod(int(partial.nonzero()[0]), n_slots)
            raise AssertionError(f"sequence {b}: word {w} is only partly chosen")

    def share(k, rate, masked, labels):
        picked, pieces = per_word(labels != -100)
        words_n = int((pieces > 0).sum())
        got = float(((picked > 0) & (pieces > 0)).sum()) / words_n
        in_band(got, binomial_band(rate, words_n), f"share of words chosen at rate {rate}")

    def split(k, rate, masked, labels):
        chosen = labels != -100
        n = int(chosen.sum())
        if n == 0:
            raise AssertionError("nothing was chosen")
        m = masked[chosen]
        as_mask = (m == MASK_ID).double().mean().item()
        kept = (m == ids[chosen]).double().mean().item()
        in_band(as_mask, binomial_band(0.8, n), "share of chosen pieces replaced by [MASK]")
        # a random replacement may draw the original id (1 in WWM_VOCAB - SPECIAL)
        p_same = 0.1 + 0.1 / (WWM_VOCAB - SPECIAL)
        in_band(kept, binomial_band(p_same, n), "share of chosen pieces left unchanged")
        other = m[(m != MASK_ID) & (m != ids[chosen])]
        if ((other < SPECIAL) | (other >= WWM_VOCAB)).any():
            raise AssertionError("random replacements must be ordinary tokens (ids 5..vocab-1)")
        in_band(
            len(other) / n,
            binomial_band(0.1 - 0.1 / (WWM_VOCAB - SPECIAL), n),
            "share of chosen pieces replaced by a random id",
        )

    return run_cases(
        "whole_word_mask",
        [
            ("labels and untouched positions", lambda: each(labels_ok)),
            ("no special or padding position", lambda: each(specials)),
            ("whole words only", lambda: each(whole)),
            ("share of words chosen ~ rate", lambda: each(share)),
            ("80/10/10 replacement", lambda: each(split)),
        ],
    )


def judge_pair_inputs(answer, public, expected) -> CheckReport:
    def case(i, a, b, m):
        if expected[i] is None:  # no room: the reference raised ValueError
            _expects_value_error(answer[i], f"max_len={m}")
            return
        fail_if_raised(answer[i], f"case {i}")
        got = answer[i]
        if type(got) is not tuple or len(got) != 2 or not all(type(x) is list for x in got):
            raise AssertionError("expected a tuple of two lists (input_ids, token_type_ids)")
        for name, g, w in zip(("input_ids", "token_type_ids"), got, expected[i], strict=True):
            if [integer(x, name) for x in g] != list(w):
                raise AssertionError(f"{name}: expected {list(w)}, got {g[:40]}")

    return run_cases(
        "pair_inputs",
        [
            (f"|a|={len(a)}, |b|={len(b)}, max_len={m}", lambda i=i, c=c: case(i, *c))
            for i, c in enumerate(public["cases"])
            for a, b, m in (c,)  # the case's own values, for its name
        ],
    )


MLM_BANDS = {"rate 0.15": (0.6, 1.0), "rate 0.5": (0.6, 1.0)}


def judge_mask_rate_experiment(answer, public, expected) -> CheckReport:
    from seqbook.checks.course.inputs import MASK_ID

    masked, x = public["x_eval"], expected["originals"]
    chosen = masked == MASK_ID

    def case(key):
        value = answer.get(key) if isinstance(answer, dict) else answer
        pred = tensor(value, key, tuple(x.shape), kind="label")
        acc = (pred[chosen] == x[chosen]).double().mean().item()
        in_band(acc, MLM_BANDS[key], f"accuracy on masked tokens, {key}")

    return run_cases(
        "mask_rate_experiment",
        [(f"{k}: accuracy in {MLM_BANDS[k]}", lambda k=k: case(k)) for k in MLM_BANDS],
    )


# a4


def judge_scalar_mix(answer, public, expected) -> CheckReport:
    return run_cases(
        "scalar_mix",
        [
            (
                "{} layers, B={}, T={}, H={}: values and gradients".format(
                    *c["hidden_states"].shape
                ),
                lambda i=i: _grads(answer[i], expected[i], f"case {i}"),
            )
            for i, c in enumerate(public["cases"])
        ],
    )


def judge_head_parameters(answer, public, expected) -> CheckReport:
    def case(i, args):
        got = integer(answer[i], f"head_parameters{args}")
        if got != expected[i]:
            raise AssertionError(f"head_parameters{args}: expected {expected[i]}, got {got}")

    return run_cases(
        "head_parameters",
        [
            (
                f"H, hidden, layers, classes, bidirectional, peepholes = {tuple(a)}",
                lambda i=i, a=a: case(i, tuple(a)),
            )
            for i, a in enumerate(public["cases"])
        ],
    )


# The review experiments (600 held-out snippets, half positive): each classifier must beat a
# coin clearly (0.5 +- 0.02; 0.58 is 3.9 of those sd above it) and stay below what a classifier
# trained on 800 snippets of frozen features does not reach (the instructor's, over 20 drawn
# instances: data/results/course_experiments.json); above it, the labels came from elsewhere
# (the snippets' public labels, written into the notebook).
REVIEW_BAND = (0.58, 0.85)
HEAD_BANDS = {"bilstm": REVIEW_BAND, "linear": REVIEW_BAND}


def judge_head_experiment(answer, public, expected) -> CheckReport:
    return _bands("head_experiment", answer, expected["y_eval"], HEAD_BANDS)


# a5


def judge_subsampling(answer, public, expected) -> CheckReport:
    def case(i, counts, t):
        what = f"keep_probability of {len(counts)} counts" + ("" if t is None else f", t={t}")
        close(tensor(answer[i], what, tuple(counts.shape)), expected[i], what, atol=1e-9)

    return run_cases(
        "subsampling",
        [
            (
                f"{len(c)} words, t={'default' if t is None else t}",
                lambda i=i, c=c, t=t: case(i, c, t),
            )
            for i, (c, t) in enumerate(public["cases"])
        ],
    )


def judge_sgns_loss(answer, public, expected) -> CheckReport:
    return run_cases(
        "sgns_loss",
        [
            (
                "B={}, K={}, D={}: value and gradients".format(*c["negatives"].shape),
                lambda i=i: _grads(answer[i], expected[i], f"case {i}"),
            )
            for i, c in enumerate(public["cases"])
        ],
    )


FUSION_BANDS = {"encoder": REVIEW_BAND, "glove": REVIEW_BAND, "fused": REVIEW_BAND}


def judge_fusion_experiment(answer, public, expected) -> CheckReport:
    return _bands("fusion_experiment", answer, expected["y_eval"], FUSION_BANDS)


def judge(task_id: str, answer, public: dict, expected) -> CheckReport:
    """Judge a decoded `answer` to task `task_id` on an instance (`public`, as tensors) against
    `expected` (the reference's output, or the instance's secret part for an experiment)."""
    from seqbook.checks.course.inputs import as_tensor

    fn = globals().get(f"judge_{task_id}")
    if fn is None:
        raise ValueError(f"task_id must name a task with a judge, got {task_id!r}")
    return fn(answer, as_tensor(public), as_tensor(expected))
