"""Reference checks of assignment 2 (LSTM, BiLSTM, TF-IDF). Outside the sandbox.

CIFG step: eq. (eq-a2-cifg), written out here in float64, values and gradients. TF-IDF:
scikit-learn's `TfidfTransformer` (smooth idf, l2 norm), eq. (eq-a2-tfidf). Experiment:
accuracies measured here from the labels the student's predictors returned.
"""

from __future__ import annotations

import torch

from seqbook.checks import CheckReport, run_cases
from seqbook.checks.course import inputs
from seqbook.checks.course.judging import accuracy, close, fail_if_raised, in_band, tensor


def reference_cifg(x_t, h, c, weight_ih, weight_hh, bias):
    z_i, z_g, z_o = (x_t @ weight_ih.T + h @ weight_hh.T + bias).chunk(3, dim=-1)
    i = torch.sigmoid(z_i)
    c_t = (1 - i) * c + i * torch.tanh(z_g)
    return torch.sigmoid(z_o) * torch.tanh(c_t), c_t


def _with_grads(answer, case: dict, reference, loss, what: str) -> None:
    """Compare the probe's (output, gradients) with the reference's."""
    fail_if_raised(answer, what)
    if type(answer) is not tuple or len(answer) != 2 or not isinstance(answer[1], dict):
        raise AssertionError(f"{what}: the probe could not run it")
    out, grads = answer
    leaves = {k: v.clone().requires_grad_(True) for k, v in case.items()}
    ref = reference(**leaves)
    loss(ref).backward()
    refs = ref if isinstance(ref, tuple) else (ref,)
    outs = out if isinstance(out, tuple) else (out,)
    if isinstance(out, tuple) != isinstance(ref, tuple) or len(outs) != len(refs):
        kind = f"a tuple of {len(refs)}" if isinstance(ref, tuple) else "a tensor"
        raise AssertionError(f"{what}: expected {kind}, got {type(out).__name__}")
    for k, (o, r) in enumerate(zip(outs, refs, strict=True)):
        close(tensor(o, f"{what} output {k}", tuple(r.shape)), r, f"{what} output {k}")
    for name, leaf in leaves.items():
        g = grads.get(name)
        if g is None:
            raise AssertionError(f"{what}: no gradient reached {name}")
        close(tensor(g, f"gradient of {name}", tuple(leaf.shape)), leaf.grad, f"gradient of {name}")


def check_cifg_step(answer, seed: int) -> CheckReport:
    cases = inputs.cifg_inputs(seed)
    return run_cases(
        "cifg_step",
        [
            (
                f"B={B}, D={D}, H={H}: values and gradients",
                lambda i=i: _with_grads(
                    answer[i], cases[i], reference_cifg, inputs.cifg_loss, f"case {i}"
                ),
            )
            for i, (B, D, H) in enumerate(inputs.CIFG_CASES)
        ],
    )


def reference_tfidf(counts: torch.Tensor) -> torch.Tensor:
    from sklearn.feature_extraction.text import TfidfTransformer

    out = TfidfTransformer(norm="l2", smooth_idf=True).fit_transform(counts.numpy()).toarray()
    return torch.from_numpy(out)


def check_tfidf(answer, seed: int) -> CheckReport:
    cases = inputs.tfidf_inputs(seed)
    names = ("6 documents, one empty, one unused word", "one document", "30 documents")

    def case(i):
        what = f"tfidf of {tuple(cases[i].shape)}"
        close(tensor(answer[i], what, tuple(cases[i].shape)), reference_tfidf(cases[i]), what)

    return run_cases("tfidf", [(n, lambda i=i: case(i)) for i, n in enumerate(names)])


NEGATION_BANDS = {"tfidf": (0.4, 0.6), "bilstm": (0.9, 1.0)}


def bands_check(name: str, answer, labels, bands: dict) -> CheckReport:
    def case(key):
        value = answer.get(key) if isinstance(answer, dict) else answer
        in_band(accuracy(value, labels, key), bands[key], f"accuracy of {key}")

    return run_cases(name, [(f"{k}: accuracy in {bands[k]}", lambda k=k: case(k)) for k in bands])


def check_bow_experiment(answer, seed: int) -> CheckReport:
    return bands_check("bow_experiment", answer, inputs.negation_eval(seed)[1], NEGATION_BANDS)


def judge(task_id: str, answer, seed: int) -> CheckReport:
    return globals()[f"check_{task_id}"](answer, seed)
