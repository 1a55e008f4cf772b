"""Probes: the tasks' inputs, made from a seed, and the calls of the student's code on them.

This module runs inside the grading sandbox, next to the student's code, so it holds no
reference answer: `probe_<task>(answer, seed)` only builds inputs and returns what the student's
function or predictors gave back (or `("raised", "...")` when they raised). The reference checks
(`seqbook.checks.course.a1` ... `a5`, outside the sandbox) rebuild the same inputs from the same
seed with the functions below. The synthetic data sets of the experiments live here too, so a
notebook can train on them.
"""

from __future__ import annotations

import torch
from torch import Tensor

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def call(fn, *args, **kwargs):
    """`fn(*args, **kwargs)`, or `("raised", "Type: message")` if it raised."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        return ("raised", "NotImplementedError: not implemented yet")
    except Exception as e:  # noqa: BLE001 - a student's bug becomes feedback
        return ("raised", f"{type(e).__name__}: {e}"[:300])


def predict(predictor, x: Tensor, *extra):
    """A predictor's labels for `x`: it may return labels, or scores over a last class axis."""

    if predictor is None:
        return ("raised", "NotImplementedError: not implemented yet")

    def labels():
        with torch.no_grad():
            out = predictor(x.clone(), *extra)
        if not isinstance(out, Tensor):
            raise TypeError(f"a predictor must return a tensor, got {type(out).__name__}")
        return out.argmax(-1) if out.is_floating_point() else out

    return call(labels)


def predictors(models, keys: tuple[str, ...], x: Tensor, *extra) -> dict[str, object]:
    if models is None:  # the training function still raises NotImplementedError
        return {k: predict(None, x) for k in keys}
    if not isinstance(models, dict):
        return {
            k: ("raised", f"expected a dict of predictors, got {type(models).__name__}")
            for k in keys
        }
    return {
        k: predict(models[k], x, *extra) if k in models else ("raised", f"no key {k!r}")
        for k in keys
    }


# ----------------------------------------------------------------------------- a1: attention

POSITION_CASES = ((1, 2), (6, 8), (40, 16), (9, 6))
POSITION_ODD = (4, 5)


def probe_positions(fn, seed: int):
    return [call(fn, T, d) for T, d in POSITION_CASES] + [call(fn, *POSITION_ODD)]


ENCODER_CASES = ((2, 5, 8, 2, 16, False), (3, 7, 12, 3, 20, True), (1, 1, 4, 1, 8, False))


def encoder_layer_inputs(seed: int) -> list[tuple[Tensor, dict[str, Tensor], int, Tensor | None]]:
    """(x, params, num_heads, key_padding_mask) per case; params use torch's layout and names
    (`in_proj_weight` is the stacked (3d, d) query/key/value projection)."""
    g = gen(seed)
    cases = []
    for B, T, d, h, ff, padded in ENCODER_CASES:
        shapes = {
            "in_proj_weight": (3 * d, d),
            "in_proj_bias": (3 * d,),
            "out_proj_weight": (d, d),
            "out_proj_bias": (d,),
            "linear1_weight": (ff, d),
            "linear1_bias": (ff,),
            "linear2_weight": (d, ff),
            "linear2_bias": (d,),
            "norm1_weight": (d,),
            "norm1_bias": (d,),
            "norm2_weight": (d,),
            "norm2_bias": (d,),
        }
        params = {
            k: torch.randn(*s, generator=g, dtype=F64) * s[-1] ** -0.5 for k, s in shapes.items()
        }
        params["norm1_weight"] = params["norm1_weight"] * 0.2 + 1
        params["norm2_weight"] = params["norm2_weight"] * 0.2 + 1
        x = torch.randn(B, T, d, generator=g, dtype=F64)
        mask = None
        if padded:
            lengths = torch.randint(1, T + 1, (B,), generator=g)
            lengths[0] = T
            mask = torch.arange(T)[None, :] >= lengths[:, None]  # True = padding
        cases.append((x, params, h, mask))
    return cases


def probe_encoder_layer(fn, seed: int):
    return [
        call(
            fn, x.clone(), {k: v.clone() for k, v in p.items()}, h, None if m is None else m.clone()
        )
        for x, p, h, m in encoder_layer_inputs(seed)
    ]


ORDER_VOCAB, ORDER_LEN, ORDER_A, ORDER_B = 16, 10, 1, 2


def order_batch(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """`n` sequences of `ORDER_LEN` tokens: one A (id 1), one B (id 2), fillers 3..15 elsewhere;
    the label is 1 when A comes before B."""
    x = torch.randint(3, ORDER_VOCAB, (n, ORDER_LEN), generator=generator)
    pos = torch.rand(n, ORDER_LEN, generator=generator).argsort(-1)[:, :2]
    rows = torch.arange(n)
    x[rows, pos[:, 0]] = ORDER_A
    x[rows, pos[:, 1]] = ORDER_B
    return x, (pos[:, 0] < pos[:, 1]).long()


def order_eval(seed: int) -> tuple[Tensor, Tensor]:
    """The graded evaluation set: 256 sequences and their twins with A and B swapped."""
    x, y = order_batch(256, gen(seed + 101))
    twin = x.clone()
    twin[x == ORDER_A], twin[x == ORDER_B] = ORDER_B, ORDER_A
    return torch.cat([x, twin]), torch.cat([y, 1 - y])


ORDER_KEYS = ("with positions", "without positions")


def probe_order_experiment(models, seed: int):
    return predictors(models, ORDER_KEYS, order_eval(seed)[0])


def grads(fn, tensors: dict[str, Tensor], loss) -> object:
    """`fn`'s output and the gradients of `loss(output)` with respect to `tensors`."""

    def run():
        leaves = {k: v.clone().requires_grad_(True) for k, v in tensors.items()}
        out = fn(**leaves)
        loss(out).backward()
        return out, {k: v.grad for k, v in leaves.items()}

    return call(run)


# ----------------------------------------------------------------------------- a2: LSTM, BiLSTM

CIFG_CASES = ((2, 3, 4), (1, 5, 2), (4, 1, 3))  # (B, D, H)


def cifg_inputs(seed: int) -> list[dict[str, Tensor]]:
    g = gen(seed)
    return [
        {
            "x_t": torch.randn(B, D, generator=g, dtype=F64),
            "h": torch.randn(B, H, generator=g, dtype=F64),
            "c": torch.randn(B, H, generator=g, dtype=F64),
            "weight_ih": torch.randn(3 * H, D, generator=g, dtype=F64),
            "weight_hh": torch.randn(3 * H, H, generator=g, dtype=F64),
            "bias": torch.randn(3 * H, generator=g, dtype=F64),
        }
        for B, D, H in CIFG_CASES
    ]


def cifg_loss(out) -> Tensor:
    h, c = out
    return (h * torch.linspace(-1, 1, h.numel(), dtype=h.dtype).view_as(h)).sum() + 2 * c.sum()


def probe_cifg_step(fn, seed: int):
    return [grads(fn, case, cifg_loss) for case in cifg_inputs(seed)]


def tfidf_inputs(seed: int) -> list[Tensor]:
    g = gen(seed)
    counts = torch.poisson(torch.full((6, 9), 0.8, dtype=F64), generator=g)
    counts[2] = 0  # an empty document
    counts[:, 4] = 0  # a word in no document
    return [
        counts,
        torch.poisson(torch.full((1, 5), 2.0, dtype=F64), generator=g),
        torch.poisson(torch.full((30, 40), 0.3, dtype=F64), generator=g),
    ]


def probe_tfidf(fn, seed: int):
    return [call(fn, counts.clone()) for counts in tfidf_inputs(seed)]


NEGATION_KEYS = ("tfidf", "bilstm")


def probe_bow_experiment(models, seed: int):
    return predictors(models, NEGATION_KEYS, negation_eval(seed)[0])


# ----------------------------------------------------------------------------- a3: ALBERT

SPECIAL = 5  # ids 0..4 are special ([PAD], [CLS], [SEP], [MASK], [UNK])
MASK_ID, WWM_VOCAB = 3, 50


WWM_WORDS, WWM_PIECES = (5, 15), 3  # words per sequence (fewest, most); pieces per word (most)
WWM_LEN = 1 + WWM_WORDS[1] * WWM_PIECES + 1  # [CLS], the longest sentence, [SEP]: 47, no padding


def wwm_inputs(seed: int) -> tuple[Tensor, Tensor]:
    """A batch of 256 sequences of 5-15 words of 1-3 pieces, [CLS] ... [SEP] then padding, in
    `WWM_LEN` positions (the longest draw fits exactly): input_ids and word_ids (-1 = special or
    padding)."""
    g = gen(seed)
    rows, most = 256, WWM_WORDS[1]  # enough words that the checks' bands are tight
    n_words = torch.randint(WWM_WORDS[0], most + 1, (rows, 1), generator=g)
    pieces = torch.randint(1, WWM_PIECES + 1, (rows, most), generator=g)
    pieces = pieces * (torch.arange(most) < n_words)  # words past a row's count have no pieces
    ends = 1 + pieces.cumsum(1)  # where each word's pieces stop, after [CLS]
    position = torch.arange(WWM_LEN)
    # word w covers positions ends[w] - pieces[w] .. ends[w] - 1
    covers = (position[None, None] >= (ends - pieces)[..., None]) & (
        position[None, None] < ends[..., None]
    )
    words = torch.where(covers.any(1), covers.int().argmax(1), torch.tensor(-1))
    ids = torch.randint(SPECIAL, WWM_VOCAB, (rows, WWM_LEN), generator=g)
    ids = torch.where(words >= 0, ids, torch.tensor(0))
    ids[:, 0] = 1  # [CLS]
    ids[torch.arange(rows), ends[:, -1]] = 2  # [SEP] after the last word; the rest is padding
    return ids, words.long()


WWM_RATES = (0.3, 0.15)


def probe_whole_word_mask(fn, seed: int):
    ids, words = wwm_inputs(seed)
    return [
        call(fn, ids.clone(), words.clone(), rate, MASK_ID, WWM_VOCAB, gen(seed + k))
        for k, rate in enumerate(WWM_RATES)
    ]


PAIR_CASES = ((3, 4, 16), (10, 3, 12), (7, 7, 11), (2, 9, 8), (1, 1, 5), (4, 4, 4))


def pair_inputs_cases(seed: int) -> list[tuple[list[int], list[int], int]]:
    g = gen(seed)
    return [
        (
            torch.randint(SPECIAL, 99, (a,), generator=g).tolist(),
            torch.randint(SPECIAL, 99, (b,), generator=g).tolist(),
            m,
        )
        for a, b, m in PAIR_CASES
    ]


def probe_pair_inputs(fn, seed: int):
    return [call(fn, list(a), list(b), m, 1, 2) for a, b, m in pair_inputs_cases(seed)]


SEQ_VOCAB, SEQ_LEN = 24, 16


def progression_batch(n: int, generator: torch.Generator) -> Tensor:
    """`n` sequences of SEQ_LEN tokens counting through 5..23 cyclically from a random start with
    a random step of 1, 2 or 3: every token follows from its neighbours once the step is known."""
    start = torch.randint(0, SEQ_VOCAB - SPECIAL, (n, 1), generator=generator)
    step = torch.randint(1, 4, (n, 1), generator=generator)
    return SPECIAL + (start + step * torch.arange(SEQ_LEN)) % (SEQ_VOCAB - SPECIAL)


MLM_KEYS = ("rate 0.15", "rate 0.5")


def mlm_eval(seed: int) -> tuple[Tensor, Tensor]:
    """512 progressions with 3 of their tokens masked; the masked inputs and the originals."""
    g = gen(seed + 303)
    x = progression_batch(512, g)
    pos = torch.rand(512, SEQ_LEN, generator=g).argsort(-1)[:, :3]
    return x.scatter(1, pos, MASK_ID), x


def probe_mask_rate_experiment(models, seed: int):
    return predictors(models, MLM_KEYS, mlm_eval(seed)[0])


# ----------------------------------------------------------------------------- a4: ALBERT + BiLSTM

MIX_CASES = ((3, 2, 4, 5), (1, 1, 1, 3), (5, 3, 2, 4))  # (L + 1, B, T, H)


def scalar_mix_inputs(seed: int) -> list[dict[str, Tensor]]:
    g = gen(seed)
    return [
        {
            "hidden_states": torch.randn(n, B, T, H, generator=g, dtype=F64),
            "weights": torch.randn(n, generator=g, dtype=F64),
            "gamma": torch.rand((), generator=g, dtype=F64) + 0.5,
        }
        for n, B, T, H in MIX_CASES
    ]


def mix_loss(out) -> Tensor:
    return (out * torch.linspace(-1, 2, out.numel(), dtype=out.dtype).view_as(out)).sum()


def probe_scalar_mix(fn, seed: int):
    return [grads(fn, case, mix_loss) for case in scalar_mix_inputs(seed)]


HEAD_CASES = (
    (64, 32, 1, 2, True),
    (768, 256, 2, 2, True),
    (128, 50, 3, 5, True),
    (64, 32, 1, 2, False),
    (312, 100, 2, 3, False),
)


def probe_head_parameters(fn, seed: int):
    return [
        call(fn, H, hidden, layers, classes, bidi)
        for H, hidden, layers, classes, bidi in HEAD_CASES
    ]


NEG_VOCAB, NEG_LEN, NOT_ID, GOOD_ID, BAD_ID = 20, 12, 5, 6, 7


def negation_batch(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """`n` sequences of NEG_LEN tokens: fillers 8..19, one sentiment word (GOOD 6 or BAD 7) and a
    NOT (5) that stands either right before it (negating it) or elsewhere (not negating it).
    Label 1 = positive: GOOD not negated, or BAD negated."""
    x = torch.randint(8, NEG_VOCAB, (n, NEG_LEN), generator=generator)
    good = torch.rand(n, generator=generator) < 0.5
    negated = torch.rand(n, generator=generator) < 0.5
    where = torch.randint(2, NEG_LEN, (n,), generator=generator)
    rows = torch.arange(n)
    x[rows, where] = torch.where(good, GOOD_ID, BAD_ID)
    elsewhere = (where + torch.randint(2, NEG_LEN - 1, (n,), generator=generator)) % NEG_LEN
    x[rows, torch.where(negated, where - 1, elsewhere)] = NOT_ID
    return x, (good ^ negated).long()


HEAD_KEYS = ("bilstm", "linear")


def negation_eval(seed: int) -> tuple[Tensor, Tensor]:
    return negation_batch(512, gen(seed + 404))


def probe_head_experiment(models, seed: int):
    return predictors(models, HEAD_KEYS, negation_eval(seed)[0])


# ----------------------------------------------------------------------------- a5: word2vec

PAIR_WINDOW_CASES = (([4, 8, 15, 16, 23, 42], 2), ([7, 3, 9], 5), ([5], 1), ([1, 2, 3, 4], 1))


def probe_skipgram_pairs(fn, seed: int):
    g = gen(seed)
    extra = (torch.randint(0, 30, (12,), generator=g).tolist(), 3)
    return [call(fn, list(ids), w) for ids, w in (*PAIR_WINDOW_CASES, extra)]


SGNS_CASES = ((4, 3, 5), (1, 1, 2), (6, 2, 8))  # (B, K, D)


def sgns_inputs(seed: int) -> list[dict[str, Tensor]]:
    g = gen(seed)
    return [
        {
            "center": torch.randn(B, D, generator=g, dtype=F64),
            "context": torch.randn(B, D, generator=g, dtype=F64),
            "negatives": torch.randn(B, K, D, generator=g, dtype=F64),
        }
        for B, K, D in SGNS_CASES
    ]


def probe_sgns_loss(fn, seed: int):
    return [grads(fn, case, lambda out: out) for case in sgns_inputs(seed)]


SYN_GROUPS, SYN_SIZE, SYN_TOPICS = 12, 4, 3


def synonym_corpus(n_sentences: int, generator: torch.Generator) -> list[list[int]]:
    """Sentences over SYN_GROUPS * SYN_SIZE words; word w belongs to group w // SYN_SIZE, and the
    words of a group are interchangeable: a sentence follows a fixed chain of groups (one of
    SYN_TOPICS chains, each starting at a random place) and picks a random word of each group."""
    chains = [[(t * 5 + 7 * k) % SYN_GROUPS for k in range(SYN_GROUPS)] for t in range(SYN_TOPICS)]
    out = []
    for _ in range(n_sentences):
        chain = chains[int(torch.randint(SYN_TOPICS, (1,), generator=generator))]
        start = int(torch.randint(SYN_GROUPS, (1,), generator=generator))
        groups = [chain[(start + k) % SYN_GROUPS] for k in range(6)]
        picks = torch.randint(SYN_SIZE, (6,), generator=generator).tolist()
        out.append([grp * SYN_SIZE + p for grp, p in zip(groups, picks, strict=True)])
    return out


def probe_synonym_experiment(vectors, seed: int):
    return call(lambda: vectors.detach().double() if isinstance(vectors, Tensor) else vectors)
