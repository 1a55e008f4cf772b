"""Checks for the pretraining exercises: generated inputs, compared with `seqbook.pretraining`,
`seqbook.sop_study` or with torch. (`check_sop_loss` and `check_mask_tokens` live in
`seqbook.checks.albert`.)"""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqbook.checks import CheckReport, as_number, run_cases
from seqbook.sop_study import wilson

__all__ = [
    "check_masked_accuracy",
    "check_top_pieces",
    "check_whole_word_accuracy",
    "check_wilson",
]


def check_masked_accuracy(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> CheckReport:
    """`fn(logits (B, T, V), labels (B, T))` must return the MLM accuracy: the share of the
    positions whose label is not -100 where the arg-max of the logits is the label."""

    def case(seed: int, B: int, T: int, V: int, rate: float) -> Callable[[], None]:
        def run() -> None:
            g = torch.Generator().manual_seed(seed)
            logits = torch.randn(B, T, V, generator=g)
            targets = torch.randint(V, (B, T), generator=g)
            hit = torch.rand(B, T, generator=g) < 0.4  # make some predictions right
            logits[hit, targets[hit]] += 10.0
            labels = torch.where(torch.rand(B, T, generator=g) < rate, targets, -100)
            labels[0, 0] = targets[0, 0]  # at least one position counts
            raw, want = fn(logits, labels), masked_accuracy_of(logits, labels)
            got = as_number(raw)
            if got is None or abs(got - want) > 1e-6:
                raise AssertionError(
                    f"B={B}, T={T}, {int((labels != -100).sum())} labelled positions: expected "
                    f"accuracy {want:.4f}, got {raw if got is None else got!r}"
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


def fill_mask_inputs(seed: int, B: int, T: int, V: int, mask_id: int, masks_per_row: int):
    """(logits (B, T, V), input_ids (B, T)) with `masks_per_row` `[MASK]`s in each row (none in
    row 1 when B > 1), and the largest logits of the batch at the positions that are not masks:
    a ranking read from the wrong positions is wrong."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=g)
    ids = torch.randint(V, (B, T), generator=g)
    ids[ids == mask_id] = (mask_id + 1) % V  # masks only where placed below
    for b in range(B):
        if B > 1 and b == 1:
            continue
        at = torch.randperm(T, generator=g)[:masks_per_row]
        ids[b, at] = mask_id
    visible = ids != mask_id
    logits[visible] += 5.0 * torch.rand(int(visible.sum()), V, generator=g)
    return logits, ids


def check_top_pieces(fn: Callable) -> CheckReport:
    """`fn(logits (B, T, V), input_ids (B, T), mask_token_id, k)` -> a LongTensor (M, k): for
    each of the M `[MASK]` positions of `input_ids`, in reading order (row by row, left to
    right), the ids of the k highest-scoring pieces of its row of `logits` (the z_t of
    eq. (eq-pretrain-mlm-head)), best first: what `fill_mask` ranks before the ids become pieces.
    Generated logits have no ties; compared with `torch.topk`."""

    def case(seed: int, B: int, T: int, V: int, mask_id: int, per_row: int, k: int):
        def run() -> None:
            logits, ids = fill_mask_inputs(seed, B, T, V, mask_id, per_row)
            got = fn(logits.clone(), ids.clone(), mask_id, k)
            expected = logits[ids == mask_id].topk(k, dim=-1).indices  # (M, k)
            where = (ids == mask_id).nonzero().tolist()  # (M, 2): [row, position]
            if not isinstance(got, torch.Tensor):
                raise AssertionError(
                    f"expected a torch.Tensor of piece ids, shape {tuple(expected.shape)}, got "
                    f"{type(got).__name__}"
                )
            if got.is_floating_point() or got.dtype == torch.bool:
                raise AssertionError(
                    f"expected integer piece ids (the indices of the top k), got dtype {got.dtype}"
                    " (the scores?)"
                )
            if tuple(got.shape) != tuple(expected.shape):
                raise AssertionError(
                    f"expected shape {tuple(expected.shape)} (a row per [MASK], {len(where)} in "
                    f"all, and k={k} columns), got {tuple(got.shape)}"
                )
            for m, (b, t) in enumerate(where):
                if not torch.equal(got[m].long(), expected[m]):
                    raise AssertionError(
                        f"mask {m} (row {b}, position {t}), k={k}: expected ids "
                        f"{expected[m].tolist()}, best first, got {got[m].tolist()}"
                    )

        return run

    return run_cases(
        "top_pieces",
        [
            ("one sentence, one mask, k=5", case(0, 1, 9, 30, 4, 1, 5)),
            ("one sentence, three masks", case(1, 1, 12, 25, 7, 3, 4)),
            ("a batch, a row without masks", case(2, 3, 10, 40, 3, 2, 5)),
            ("k=1: the arg max", case(3, 2, 8, 16, 15, 2, 1)),
            ("k=V: the whole ranking", case(4, 2, 6, 8, 0, 1, 8)),
        ],
    )


def masked_accuracy_of(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The piece-level accuracy of exercise 7.3: the share of the labelled positions (label not
    -100) where the arg max of the logits is the label (the reference of `check_masked_accuracy`
    and, in `check_whole_word_accuracy`'s messages, the measure to compare with)."""
    chosen = labels != -100
    return (logits[chosen].argmax(-1) == labels[chosen]).float().mean().item()


def whole_word_inputs(seed: int, B: int, T: int, V: int, word_rate: float, piece_rate: float = 1.0):
    """(logits (B, T, V), labels (B, T), word_starts (B, T)) for a held-out measure: position 0
    is `[CLS]` (no word, never labelled), words of one or more pieces follow; each word is
    selected with probability `word_rate` and each of its pieces labelled with probability
    `piece_rate` (1: whole-word masking); the arg max is right at about 70 % of the pieces."""
    g = torch.Generator().manual_seed(seed)
    starts = torch.rand(B, T, generator=g) < 0.45
    starts[:, 0], starts[:, 1] = False, True  # [CLS], then the first word
    word = starts.long().cumsum(-1)  # (B, T): 0 at [CLS], words 1, 2, ... in each row
    chosen_word = torch.rand(B, T + 1, generator=g) < word_rate  # a draw per word number
    chosen_word[0, 1] = True  # at least one word is selected
    selected = chosen_word.gather(1, word) & (word > 0)
    selected &= torch.rand(B, T, generator=g) < piece_rate
    selected[0, 1] = True
    targets = torch.randint(V, (B, T), generator=g)
    labels = torch.where(selected, targets, -100)
    logits = torch.randn(B, T, V, generator=g)
    right = torch.rand(B, T, generator=g) < 0.7
    logits[right, targets[right]] += 10.0
    return logits, labels, starts


def whole_word_accuracy(logits: torch.Tensor, labels: torch.Tensor, word_starts: torch.Tensor):
    """(accuracy, words right, words counted): a word (a piece where `word_starts` is True and
    the pieces after it up to the next start, in its own row) counts if any of its pieces is
    labelled, and is right if the arg max is the label at every labelled piece."""
    B, T = labels.shape
    word = word_starts.long().cumsum(-1) + (T + 1) * torch.arange(B)[:, None]  # unique per row
    chosen = labels != -100
    wrong = chosen & (logits.argmax(-1) != labels)
    counted = word[chosen].unique()
    n_wrong = len(word[wrong].unique())
    return 1.0 - n_wrong / len(counted), len(counted) - n_wrong, len(counted)


def check_whole_word_accuracy(fn: Callable) -> CheckReport:
    """`fn(logits (B, T, V), labels (B, T), word_starts (B, T) bool)` -> a float: the share of
    the masked words (words with a labelled piece, labels -100 elsewhere) whose every labelled
    piece is predicted right by the arg max of the logits, where a word is a piece with
    `word_starts` True and the pieces after it, up to the next start, in its own row (a piece
    before a row's first start, `[CLS]`, is never labelled). The word-level count of the
    positions M of eq. (eq-pretrain-mlm-loss)."""

    def case(seed: int, B: int, T: int, V: int, word_rate: float, piece_rate: float = 1.0):
        def run() -> None:
            logits, labels, starts = whole_word_inputs(seed, B, T, V, word_rate, piece_rate)
            want, right, words = whole_word_accuracy(logits, labels, starts)
            raw = fn(logits.clone(), labels.clone(), starts.clone())
            got = as_number(raw)
            if got is None or abs(got - want) > 1e-6:
                pieces = masked_accuracy_of(logits, labels)
                raise AssertionError(
                    f"B={B}, T={T}: expected {want:.4f} ({right} of {words} masked words right; "
                    f"the piece-level accuracy is {pieces:.4f}), got {raw!r}"
                )

        return run

    return run_cases(
        "whole_word_accuracy",
        [
            ("one row, whole words masked", case(0, 1, 30, 20, 0.3)),
            ("a batch: words are counted row by row", case(1, 6, 24, 12, 0.25)),
            ("long words, many masked", case(2, 4, 40, 8, 0.6)),
            ("some pieces of a word left unlabelled", case(3, 5, 32, 10, 0.5, 0.6)),
        ],
    )


def check_wilson(fn: Callable) -> CheckReport:
    """`fn(correct, n)` -> (low, high): the 95 % Wilson score interval of the proportion
    correct / n, the p with (correct/n - p)^2 <= z^2 p (1 - p) / n for z = 1.96 (the normal
    quantile, 1.959964..., is accepted too); compared with `seqbook.sop_study.wilson` to 5e-5,
    for counts that include 0 and n."""

    def case(correct: int, n: int) -> Callable[[], None]:
        def run() -> None:
            raw = fn(correct, n)
            low, high = wilson(correct, n)
            if not isinstance(raw, tuple | list) or len(raw) != 2:
                raise AssertionError(f"expected a pair (low, high), got {raw!r}")
            got = tuple(as_number(x) for x in raw)
            if None in got:
                raise AssertionError(f"expected two numbers (low, high), got {raw!r}")
            if not (-1e-9 <= got[0] <= got[1] <= 1.0 + 1e-9):  # rounding may give -1e-17
                raise AssertionError(
                    f"correct={correct}, n={n}: expected 0 <= low <= high <= 1 (proportions, "
                    f"low first), got ({got[0]:.4f}, {got[1]:.4f})"
                )
            if abs(got[0] - low) > 5e-5 or abs(got[1] - high) > 5e-5:
                raise AssertionError(
                    f"correct={correct}, n={n}: expected ({low:.4f}, {high:.4f}), got "
                    f"({got[0]:.4f}, {got[1]:.4f})"
                )

        return run

    counts = [(0, 10), (10, 10), (1, 1), (3, 7), (5, 10), (12, 400), (540, 1000), (999, 1000)]
    counts += [(5000, 10000)]
    return run_cases("wilson", [(f"{k} of {n}", case(k, n)) for k, n in counts])
