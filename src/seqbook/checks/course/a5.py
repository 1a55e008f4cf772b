"""Reference checks of assignment 5 (word2vec and fusion). Outside the sandbox.

Skip-gram pairs: the rule written out here. Negative sampling: eq. (eq-a5-sgns) written out here,
values and gradients. Experiment: the synonym separation (AUC) of the student's vectors, measured
here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqbook.checks import CheckReport, run_cases
from seqbook.checks.course import inputs
from seqbook.checks.course.a2 import _with_grads
from seqbook.checks.course.judging import in_band, tensor


def reference_pairs(ids: list[int], window: int) -> torch.Tensor:
    pairs = [
        (c, ids[j])
        for i, c in enumerate(ids)
        for j in range(max(0, i - window), min(len(ids), i + window + 1))
        if j != i
    ]
    return torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)


def check_skipgram_pairs(answer, seed: int) -> CheckReport:
    g = inputs.gen(seed)
    extra = (torch.randint(0, 30, (12,), generator=g).tolist(), 3)
    cases = (*inputs.PAIR_WINDOW_CASES, extra)

    def case(i):
        ids, w = cases[i]
        want = reference_pairs(ids, w)
        got = tensor(answer[i], f"pairs of {ids[:6]}, window {w}", tuple(want.shape), kind="int")
        if not torch.equal(got, want):
            bad = int((got != want).any(-1).nonzero()[0])
            raise AssertionError(
                f"pairs of {ids}, window {w}: row {bad} is {got[bad].tolist()}, "
                f"expected {want[bad].tolist()} (order: by center, then context)"
            )

    names = [f"{len(ids)} tokens, window {w}" for ids, w in cases]
    return run_cases("skipgram_pairs", [(n, lambda i=i: case(i)) for i, n in enumerate(names)])


def reference_sgns(center, context, negatives):
    positive = F.logsigmoid((center * context).sum(-1))
    negative = F.logsigmoid(-(negatives @ center.unsqueeze(-1)).squeeze(-1)).sum(-1)
    return -(positive + negative).mean()


def check_sgns_loss(answer, seed: int) -> CheckReport:
    cases = inputs.sgns_inputs(seed)
    return run_cases(
        "sgns_loss",
        [
            (
                f"B={B}, K={K}, D={D}: value and gradients",
                lambda i=i: _with_grads(
                    answer[i], cases[i], reference_sgns, lambda out: out, f"case {i}"
                ),
            )
            for i, (B, K, D) in enumerate(inputs.SGNS_CASES)
        ],
    )


def synonym_auc(vectors: torch.Tensor) -> float:
    """P(cosine of two synonyms > cosine of two words from different groups)."""
    v = F.normalize(vectors.double(), dim=1)
    sim = v @ v.T
    n = v.shape[0]
    group = torch.arange(n) // inputs.SYN_SIZE
    i, j = torch.triu_indices(n, n, 1)
    s, same = sim[i, j], group[i] == group[j]
    return (s[same][:, None] > s[~same][None, :]).double().mean().item()


AUC_BAND = (0.9, 1.0)


def check_synonym_experiment(answer, seed: int) -> CheckReport:
    V = inputs.SYN_GROUPS * inputs.SYN_SIZE

    def case():
        if answer is None:
            raise NotImplementedError
        vectors = tensor(answer, "word_vectors", None)
        if vectors.ndim != 2 or vectors.shape[0] != V or not 2 <= vectors.shape[1] <= 256:
            raise AssertionError(
                f"word_vectors: expected shape ({V}, D), D in 2..256, got {tuple(vectors.shape)}"
            )
        in_band(synonym_auc(vectors), AUC_BAND, "synonym AUC")

    return run_cases("synonym_experiment", [(f"synonym AUC in {AUC_BAND}", case)])


def judge(task_id: str, answer, seed: int) -> CheckReport:
    return globals()[f"check_{task_id}"](answer, seed)
