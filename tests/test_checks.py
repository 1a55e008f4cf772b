"""The exercise checks reject wrong answers, not only pass right ones.

For every check of `seqbook.checks.{text, embeddings, bilstm, ...}`: a reference answer (the
notebook's solution cell, or the package's own function) passes; a stub that still raises
`NotImplementedError` is reported as "not implemented yet" in every case; and the mistakes readers
make are rejected with a report that names what went wrong. Each wrong answer below is wrong for
the exercise as the notebook states it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
import torch

from seqbook.checks import CheckReport
from seqbook.checks import bilstm as bilstm_checks
from seqbook.checks import embeddings as emb_checks
from seqbook.checks import text as text_checks
from seqbook.checks.fusion import contraction_pieces
from seqbook.lstm import reverse_padded
from seqbook.models import max_pool, mean_pool

Wrong = tuple[str, Callable, str]  # (id, wrong answer, text the failing report must contain)


def assert_rejected(report: CheckReport, says: str) -> None:
    assert not report.ok, f"the check passed a wrong answer:\n{report}"
    assert report.passed < report.total
    assert says in str(report), f"{says!r} not in the report:\n{report}"
    failed = [r for r in report.results if not r.passed]
    assert all(r.message and r.message != "not implemented yet" for r in failed)


def wrong_cases(table: dict[str, tuple[Callable, list[Wrong]]]):
    """`pytest.param(check, answer, says)` for every wrong answer of every check in `table`."""
    return [
        pytest.param(check, answer, says, id=f"{name}-{wid}")
        for name, (check, wrongs) in table.items()
        for wid, answer, says in wrongs
    ]


def _stub(*args, **kwargs):
    raise NotImplementedError  # your code here


# ------------------------------------------------------------------ chapter 1: text as tensors
def pad_batch(sequences, pad_id, left=False, mask_from_ids=False, dtype=torch.long):
    """The notebook's solution; the keywords make the mistakes."""
    T = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), T), pad_id, dtype=dtype)
    for b, s in enumerate(sequences):
        if left:
            ids[b, T - len(s) :] = torch.tensor(s)
        else:
            ids[b, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([len(s) for s in sequences])
    if mask_from_ids:
        return ids, ids != pad_id
    return ids, torch.arange(T) < lengths[:, None]


def idf_with(formula: Callable[[int, int], float], per_occurrence: bool = False):
    """idf from `formula(n documents, df)`; `per_occurrence` counts a token each time it occurs."""

    def idf(documents):
        n = len(documents)
        df = Counter(t for doc in documents for t in (doc if per_occurrence else set(doc)))
        return {t: formula(n, d) for t, d in df.items()}

    return idf


idf = idf_with(lambda n, d: math.log((1 + n) / (1 + d)) + 1)  # the notebook's solution


def coverage(vocab, token_lists):
    tokens = [t for tokens in token_lists for t in tokens]
    return sum(t in vocab for t in tokens) / len(tokens)


def coverage_of_types(vocab, token_lists):
    types = {t for tokens in token_lists for t in tokens}
    return sum(t in vocab for t in types) / len(types)


def coverage_per_list(vocab, token_lists):
    return float(np.mean([coverage(vocab, [tokens]) for tokens in token_lists]))


def vocab_share_seen(vocab, token_lists):
    seen = {t for tokens in token_lists for t in tokens}
    return sum(w in seen for w in vocab.itos) / len(vocab)


def unigrams_and_bigrams(tokens, joiner=" ", unigrams=True, wrap=False):
    """The notebook's solution; the keywords make the mistakes."""
    following = tokens[1:] + tokens[:1] if wrap else tokens[1:]
    bigrams = [f"{a}{joiner}{b}" for a, b in zip(tokens, following, strict=False)]
    return (list(tokens) if unigrams else []) + bigrams


TEXT: dict[str, tuple[Callable, list[Wrong]]] = {
    "pad_batch": (
        text_checks.check_pad_batch,
        [
            ("left padding", lambda s, p: pad_batch(s, p, left=True), "ids: values differ"),
            ("pads with 0 whatever pad_id", lambda s, p: pad_batch(s, 0), "pad id 1"),
            ("mask is ids != pad_id", lambda s, p: pad_batch(s, p, mask_from_ids=True), "lengths"),
            (
                "float ids",
                lambda s, p: pad_batch(s, p, dtype=torch.float32),
                "ids must be a long tensor",
            ),
            ("mask inverted", lambda s, p: (pad_batch(s, p)[0], ~pad_batch(s, p)[1]), "expected"),
            (
                "mask of 0/1 integers",
                lambda s, p: (pad_batch(s, p)[0], pad_batch(s, p)[1].long()),
                "mask must be a bool tensor",
            ),
            ("ids only", lambda s, p: pad_batch(s, p)[0], "expected a tuple (ids, mask)"),
        ],
    ),
    "idf": (
        text_checks.check_idf,
        [
            ("no smoothing", idf_with(lambda n, d: math.log(n / d) + 1), "expected"),
            ("without the + 1", idf_with(lambda n, d: math.log((1 + n) / (1 + d))), "expected"),
            ("log10", idf_with(lambda n, d: math.log10((1 + n) / (1 + d)) + 1), "expected"),
            ("log2", idf_with(lambda n, d: math.log2((1 + n) / (1 + d)) + 1), "expected"),
            ("ratio inverted", idf_with(lambda n, d: math.log((1 + d) / (1 + n)) + 1), "expected"),
            ("no log", idf_with(lambda n, d: (1 + n) / (1 + d)), "expected"),
            (
                "counts occurrences, not documents",
                idf_with(lambda n, d: math.log((1 + n) / (1 + d)) + 1, per_occurrence=True),
                "expected",
            ),
            ("a list of pairs", lambda docs: list(idf(docs).items()), "expected a dict"),
            ("drops a token", lambda docs: dict(list(idf(docs).items())[1:]), "missing"),
        ],
    ),
    "coverage": (
        text_checks.check_coverage,
        [
            ("types, not running tokens", coverage_of_types, "expected"),
            ("mean of per-review coverages", coverage_per_list, "expected"),
            ("share of the vocabulary seen", vocab_share_seen, "expected"),
            ("out-of-vocabulary rate", lambda v, tl: 1 - coverage(v, tl), "expected"),
            ("a percentage", lambda v, tl: 100 * coverage(v, tl), "coverage is 90.4762"),
        ],
    ),
    "unigrams_and_bigrams": (
        text_checks.check_unigrams_and_bigrams,
        [
            (
                "bigrams joined without a space",
                lambda t: unigrams_and_bigrams(t, joiner=""),
                "unexpected e.g. ['notgood']",
            ),
            (
                "bigrams joined by '_'",
                lambda t: unigrams_and_bigrams(t, joiner="_"),
                "missing e.g. ['not good']",
            ),
            (
                "bigrams only",
                lambda t: unigrams_and_bigrams(t, unigrams=False),
                "missing e.g. ['great']",
            ),
            (
                "wraps around to the first token",
                lambda t: unigrams_and_bigrams(t, wrap=True),
                "unexpected e.g. ['great great']",
            ),
            (
                "each n-gram once (a set)",
                lambda t: list(dict.fromkeys(unigrams_and_bigrams(t))),
                "repeated words",
            ),
            ("bigrams as tuples", lambda t: t + list(zip(t, t[1:], strict=False)), "must be a str"),
            ("one string", lambda t: " ".join(unigrams_and_bigrams(t)), "expected a list of str"),
            (
                "starts from the first token",
                lambda t: [t[0]] + unigrams_and_bigrams(t[1:]),
                "raised IndexError",
            ),
        ],
    ),
}


# -------------------------------------------------------------- chapter 2: word embeddings
def cosine_similarity(v, M):
    return (M @ v) / (np.linalg.norm(M, axis=1) * np.linalg.norm(v))


def skipgram_pairs(tokens, window, reach=1, with_center=False, full_windows_only=False):
    """The notebook's solution; `reach=0` stops one short of the window's edge."""
    n = len(tokens)
    return [
        (tokens[t], tokens[s])
        for t in range(n)
        if not full_windows_only or window <= t < n - window
        for s in range(max(0, t - window), min(n, t + window + reach))
        if s != t or with_center
    ]


def skipgram_wrapping(tokens, window):
    """Negative offsets index from the end of the list (tokens[-1]) instead of stopping."""
    return [
        (tokens[t], tokens[t + o])
        for t in range(len(tokens))
        for o in range(-window, window + 1)
        if o != 0 and t + o < len(tokens)
    ]


def analogy(kv, a, b, c, exclude="abc", unit=True, order=(1, -1, 1)):
    """The notebook's solution; `exclude`, `unit` and `order` make the mistakes."""
    vectors = kv.get_normed_vectors() if unit else kv.vectors
    idx = kv.key_to_index
    target = order[0] * vectors[idx[b]] + order[1] * vectors[idx[a]] + order[2] * vectors[idx[c]]
    scores = vectors @ (target / np.linalg.norm(target))
    for name, word in zip("abc", (a, b, c), strict=True):
        if name in exclude:
            scores[idx[word]] = -np.inf
    return kv.index_to_key[int(np.argmax(scores))]


def embedding_matrix(vocab, kv, specials_zero=(0, 1), oov_random=False, shift=0):
    """The notebook's solution; the keywords make the mistakes."""
    g = torch.Generator().manual_seed(0)
    W = torch.zeros(len(vocab), kv.vector_size)
    for i, word in enumerate(vocab.itos):
        if i not in specials_zero and word in kv.key_to_index:
            W[(i + shift) % len(vocab)] = torch.from_numpy(kv[word].copy())
        elif oov_random and i != vocab.pad_id:
            W[i] = torch.randn(kv.vector_size, generator=g)
    return W


def embedding_matrix_in_kv_order(vocab, kv):
    W = torch.zeros(len(vocab), kv.vector_size)
    for i, word in enumerate(kv.index_to_key[: len(vocab)]):
        W[i] = torch.from_numpy(kv[word].copy())
    return W


def cbow_context(kv, tokens, t, window, with_center=False, unique=False, reach=1, total=False):
    """The notebook's solution; the keywords make the mistakes."""
    context = [
        tokens[j]
        for j in range(max(0, t - window), min(len(tokens), t + window + reach))
        if j != t or with_center
    ]
    if unique:
        context = list(dict.fromkeys(context))
    vectors = np.stack([kv[w] for w in context])
    return vectors.sum(0) if total else vectors.mean(0)


def cbow_context_over_full_window(kv, tokens, t, window):
    """Divides by 2 * window even where the text cuts the window short."""
    return cbow_context(kv, tokens, t, window, total=True) / (2 * window)


EMBEDDINGS: dict[str, tuple[Callable, list[Wrong]]] = {
    "cosine_similarity": (
        emb_checks.check_cosine_similarity,
        [
            ("dot product", lambda v, M: M @ v, "values differ"),
            ("v not normalised", lambda v, M: (M @ v) / np.linalg.norm(M, axis=1), "values differ"),
            ("M not normalised", lambda v, M: (M @ v) / np.linalg.norm(v), "values differ"),
            (
                "norm of the whole matrix",
                lambda v, M: (M @ v) / (np.linalg.norm(M) * np.linalg.norm(v)),
                "values differ",
            ),
            (
                "squared norms",
                lambda v, M: (M @ v) / ((M**2).sum(1) * (v**2).sum()),
                "values differ",
            ),
            ("cosine distance", lambda v, M: 1 - cosine_similarity(v, M), "values differ"),
            ("(N, 1)", lambda v, M: cosine_similarity(v, M)[:, None], "expected shape (5,)"),
            (
                "norms of the columns",
                lambda v, M: (M @ v) / (np.linalg.norm(M, axis=0) * np.linalg.norm(v)),
                "raised ValueError",
            ),
        ],
    ),
    "skipgram_pairs": (
        emb_checks.check_skipgram_pairs,
        [
            ("includes the center", lambda t, w: skipgram_pairs(t, w, with_center=True), "got 10"),
            ("one short of the edge", lambda t, w: skipgram_pairs(t, w, reach=0), "missing"),
            ("wraps around the start", skipgram_wrapping, "unexpected e.g. [('the', 'great')]"),
            (
                "skips centers near the ends",
                lambda t, w: skipgram_pairs(t, w, full_windows_only=True),
                "missing",
            ),
            ("set of pairs", lambda t, w: list(dict.fromkeys(skipgram_pairs(t, w))), "missing"),
            (
                "only the right context",
                lambda t, w: [(c, x) for c, x in skipgram_pairs(t, w) if t.index(c) < t.index(x)],
                "missing",
            ),
            (
                "skips a context equal to the center word",
                lambda t, w: [(c, x) for c, x in skipgram_pairs(t, w) if c != x],
                "repeated words",
            ),
            ("window as total width", lambda t, w: skipgram_pairs(t, max(1, w // 2)), "window 2"),
            ("positions, not words", lambda t, w: [(0, 1)] * len(skipgram_pairs(t, w)), "missing"),
        ],
    ),
    "analogy": (
        emb_checks.check_analogy,
        [
            ("excludes nothing", lambda *q: analogy(*q, exclude=""), "must be excluded"),
            ("excludes only c", lambda *q: analogy(*q, exclude="c"), "must be excluded"),
            ("excludes b and c, not a", lambda *q: analogy(*q, exclude="bc"), "must be excluded"),
            ("raw vectors, not unit", lambda *q: analogy(*q, unit=False), "different lengths"),
            ("a - b + c", lambda *q: analogy(*q, order=(-1, 1, 1)), "planted exact answer"),
            ("b - c + a", lambda *q: analogy(*q, order=(1, 1, -1)), "planted exact answer"),
            ("an index, not a word", lambda kv, *q: kv.key_to_index[analogy(kv, *q)], "got 59"),
        ],
    ),
    "embedding_matrix": (
        emb_checks.check_embedding_matrix,
        [
            (
                "copies kv's '<unk>'",
                lambda v, kv: embedding_matrix(v, kv, specials_zero=(0,)),
                "values differ",
            ),
            (
                "random rows for missing words",
                lambda v, kv: embedding_matrix(v, kv, oov_random=True),
                "some words unknown",
            ),
            ("rows one id off", lambda v, kv: embedding_matrix(v, kv, shift=1), "values differ"),
            ("rows in kv's order", embedding_matrix_in_kv_order, "values differ"),
            (
                "no rows for the specials",
                lambda v, kv: embedding_matrix(v, kv)[2:],
                "expected shape",
            ),
        ],
    ),
    "cbow_context": (
        emb_checks.check_cbow_context,
        [
            ("includes the center", lambda *a: cbow_context(*a, with_center=True), "middle"),
            ("sum, not mean", lambda *a: cbow_context(*a, total=True), "middle"),
            ("each context word once", lambda *a: cbow_context(*a, unique=True), "repeated"),
            ("one short of the edge", lambda *a: cbow_context(*a, reach=0), "window 2"),
            ("divides by 2 * window", cbow_context_over_full_window, "no left context"),
            (
                "the center's own vector",
                lambda kv, tokens, t, w: kv[tokens[t]],
                "expected the mean of the vectors of the context",
            ),
            (
                "the mean over (D,) instead of words",
                lambda *a: cbow_context(*a).mean(keepdims=True),
                "expected a vector of shape (8,)",
            ),
        ],
    ),
}


# ---------------------------------------------------------------------- chapter 5: BiLSTM
def reverse_all_but_last(x, lengths):
    out = x.clone()
    for b, n in enumerate(lengths.tolist()):
        out[b, : n - 1] = x[b, : n - 1].flip(0)
    return out


def reverse_into_zeros(x, lengths):
    """Right reversal, but the padding comes back as zeros instead of unchanged."""
    return reverse_padded(x, lengths) * (torch.arange(x.shape[1]) < lengths[:, None])[..., None]


def bidirectional(fwd, bwd, x, lengths, reverse=reverse_padded, **mistakes):
    """From two one-directional LSTMs; `mistakes` names what a reader forgets or gets wrong."""
    backward_lstm = fwd if mistakes.get("one_lstm") else bwd
    forward_out, _ = fwd(x)
    backward_out, _ = backward_lstm(reverse(x, lengths))
    if not mistakes.get("keep_backward_reversed"):
        backward_out = reverse(backward_out, lengths)
    parts = [forward_out, backward_out]
    out = torch.cat(parts[::-1] if mistakes.get("backward_first") else parts, dim=-1)
    if mistakes.get("keep_padding"):
        return out
    return out * (torch.arange(x.shape[1]) < lengths[:, None])[..., None]


def masked_fill_max(value: float):
    return lambda out, mask: out.masked_fill(~mask[..., None], value).max(1).values


def freeze_rows(embedding, trainable_ids, invert=False, count=False, give_handle=True):
    """The notebook's solution; the keywords make the mistakes (`count` multiplies each row's
    gradient by the number of times its id is listed)."""
    V = embedding.num_embeddings
    if count:
        keep = torch.bincount(trainable_ids, minlength=V).float()[:, None]  # (V, 1)
    else:
        keep = torch.zeros(V, 1)
        keep[trainable_ids] = 1.0
    if invert:
        keep = 1.0 - keep
    handle = embedding.weight.register_hook(lambda grad: grad * keep)
    return handle if give_handle else None


def zero_the_frozen_rows(embedding, trainable_ids):
    """Sets the other rows' weights to zero instead of their gradients."""
    frozen = torch.ones(embedding.num_embeddings, dtype=torch.bool)
    frozen[trainable_ids] = False
    with torch.no_grad():
        embedding.weight[frozen] = 0.0


BILSTM: dict[str, tuple[Callable, list[Wrong]]] = {
    "reverse_padded": (
        bilstm_checks.check_reverse_padded,
        [
            ("flips the padded row", lambda x, n: x.flip(1), "4 sequences"),
            ("stops one short", reverse_all_but_last, "no padding"),
            ("zeros at the padding", reverse_into_zeros, "values differ"),
            ("unchanged", lambda x, n: x, "no padding"),
        ],
    ),
    "masked_mean": (
        bilstm_checks.check_masked_mean,
        [
            ("divides by T", lambda o, m: (o * m[..., None]).sum(1) / o.shape[1], "zero padding"),
            ("mean over padding", lambda o, m: o.mean(1), "padding holds large values"),
            (
                "sums the padding, divides by lengths",
                lambda o, m: o.sum(1) / m.sum(1, keepdim=True),
                "padding holds large values",
            ),
            ("sum, not mean", lambda o, m: (o * m[..., None]).sum(1), "zero padding"),
            (
                "mean over features",
                lambda o, m: (o * m[..., None]).sum(2) / m.sum(1, keepdim=True),
                "expected shape",
            ),
        ],
    ),
    "masked_max": (
        bilstm_checks.check_masked_max,
        [
            ("max over padding", lambda o, m: o.max(1).values, "padding holds large values"),
            (
                "zeros, not -inf, at padding",
                lambda o, m: (o * m[..., None]).max(1).values,
                "every real value negative",
            ),
            ("-1 at padding", masked_fill_max(-1.0), "every real value negative"),
            (
                "mask inverted",
                lambda o, m: o.masked_fill(m[..., None], float("-inf")).max(1).values,
                "values differ",
            ),
            ("max's (values, indices)", lambda o, m: max_pool(o, m).max(1), "expected a torch"),
        ],
    ),
    "bidirectional": (
        bilstm_checks.check_bidirectional,
        [
            (
                "reverses padding into the sequence",
                lambda *a: bidirectional(*a, reverse=lambda t, n: t.flip(1)),
                "padded batch",
            ),
            ("padding not zeroed", lambda *a: bidirectional(*a, keep_padding=True), "padded"),
            (
                "backward outputs left reversed",
                lambda *a: bidirectional(*a, keep_backward_reversed=True),
                "no padding",
            ),
            ("[backward ; forward]", lambda *a: bidirectional(*a, backward_first=True), "no pad"),
            ("forward LSTM both ways", lambda *a: bidirectional(*a, one_lstm=True), "no padding"),
            (
                "backward reads x unreversed",
                lambda *a: bidirectional(*a, reverse=lambda t, n: t),
                "no padding",
            ),
        ],
    ),
    "freeze_rows": (
        bilstm_checks.check_freeze_rows,
        [
            (
                "freezes the whole table",
                lambda e, ids: e.weight.requires_grad_(False),
                "that freezes every row",
            ),
            (
                "freezes the trainable rows instead",
                lambda e, ids: freeze_rows(e, ids, invert=True),
                "is in trainable_ids: expected its full gradient",
            ),
            (
                "zeroes the rows, not their gradients",
                zero_the_frozen_rows,
                "is not in trainable_ids: expected a zero gradient",
            ),
            (
                "a row listed twice gets twice its gradient",
                lambda e, ids: freeze_rows(e, ids, count=True),
                "ids repeated in trainable_ids",
            ),
            (
                "no handle returned",
                lambda e, ids: freeze_rows(e, ids, give_handle=False),
                "expected the hook's handle",
            ),
        ],
    ),
}


# ---------------------------------------------- chapters 3, 4, 6, 7, 8, 9: the other checks
def attention(q, k, v, mask=None, scale=None, fill=float("-inf"), dim=-1, zero_empty=True):
    """Scaled dot-product attention written out; the keywords make the mistakes."""
    scores = q @ k.transpose(-2, -1) * (scale or 1 / math.sqrt(q.shape[-1]))
    if mask is not None:
        scores = scores.masked_fill(~mask, fill)
    weights = torch.softmax(scores, dim=dim)
    if mask is not None and zero_empty:
        weights = torch.nan_to_num(weights) * mask.any(-1, keepdim=True)
    return weights @ v, weights


def masked_softmax(scores, mask, fill=float("-inf"), finite_empty_rows=True, zero_empty=True):
    allowed = mask.any(-1, keepdim=True)
    filled = scores.masked_fill(~mask, fill)
    if finite_empty_rows:
        filled = filled.masked_fill(~allowed, 0.0)
    weights = torch.softmax(filled, -1)
    return weights * allowed if zero_empty else weights


def multi_head(mha, q, k, v, key_padding_mask=None, merge_transposed=True, out_proj=True):
    B, h, d = q.shape[0], mha.num_heads, mha.head_dim
    Q, K, V = (
        x.view(B, -1, h, d).transpose(1, 2) for x in (mha.q_proj(q), mha.k_proj(k), mha.v_proj(v))
    )
    allowed = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
    heads, weights = attention(Q, K, V, allowed)
    merged = (heads.transpose(1, 2) if merge_transposed else heads).reshape(B, -1, mha.embed_dim)
    return (mha.out_proj(merged) if out_proj else merged), weights


def attention_pool(layer, x, mask, use_mask=True, scaled=True):
    scores = layer.key_proj(x) @ layer.query / (math.sqrt(layer.dim) if scaled else 1.0)
    if use_mask:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, -1)
    return (weights[..., None] * x).sum(1), weights


def lstm_step(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, order="ifgo", both_biases=True):
    z = x @ weight_ih.T + h @ weight_hh.T + bias_ih + (bias_hh if both_biases else 0)
    gate = dict(zip(order, z.chunk(4, dim=-1), strict=True))
    c = torch.sigmoid(gate["f"]) * c + torch.sigmoid(gate["i"]) * torch.tanh(gate["g"])
    return torch.sigmoid(gate["o"]) * torch.tanh(c), c


def lstm_parameters(D, H, layers, bidirectional, upper_reads=None):
    """`upper_reads(D, H)`, if given, is what a mistaken count takes layers 2.. to read."""
    directions = 2 if bidirectional else 1
    reads = [D] + [upper_reads(D, H) if upper_reads else directions * H] * (layers - 1)
    return sum(directions * 4 * H * (n + H + 2) for n in reads)


def last_hidden(output, lengths):
    return output[torch.arange(len(lengths)), lengths - 1]


def align(hidden, word_ids, num_words, strategy, shift=0):
    out = torch.zeros(num_words, hidden.shape[1])
    for w in range(num_words):
        pos = [t + shift for t, i in enumerate(word_ids) if i == w]
        pick = {"first": pos[:1], "last": pos[-1:], "mean": pos}[strategy]
        out[w] = hidden[pick].mean(0)
    return out


def gated(h, e, w_g, b_g, with_bias=True, swapped=False, squash=torch.sigmoid):
    g = squash(torch.cat([h, e], -1) @ w_g + (b_g if with_bias else 0))
    if swapped:
        h, e = e, h
    return g[..., None] * h + (1 - g[..., None]) * e, g


def scale(d_k, sigma_q, sigma_k):
    return 1 / (sigma_q * sigma_k * math.sqrt(d_k))


def hard_attention(scores, mask=None, use_mask=True, last_on_ties=False, zero_empty=True):
    """The notebook's solution; the keywords make the mistakes."""
    allowed = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask
    allowed = allowed.expand_as(scores)
    filled = scores.masked_fill(~allowed, float("-inf")) if use_mask else scores
    if last_on_ties:
        best = filled.shape[-1] - 1 - filled.flip(-1).argmax(-1)
    else:
        best = filled.argmax(-1)
    weights = torch.nn.functional.one_hot(best, scores.shape[-1]).to(scores.dtype)
    return weights * allowed.any(-1, keepdim=True) if zero_empty else weights


def forward_backward(fn, inputs, grad_output, upstream=True, on_the_inputs=False):
    """The notebook's solution; `upstream=False` backpropagates output.sum() instead of
    grad_output, `on_the_inputs` reads .grad of the caller's own tensors (which accumulates)."""
    leaves = inputs if on_the_inputs else [x.detach().clone() for x in inputs]
    for x in leaves:
        x.requires_grad_(True)
    output = fn(*leaves)
    output.backward(grad_output if upstream else torch.ones_like(output))
    return output.detach(), tuple(x.grad for x in leaves)


def feature_gate(h, e, W_g, b_g, order="he", with_bias=True, swapped=False, per_word=False):
    """The notebook's solution; the keywords make the mistakes."""
    logits = torch.cat([h, e] if order == "he" else [e, h], -1) @ W_g.T
    logits = logits + (b_g if with_bias else 0)
    if per_word:  # one gate per word: the mean of the per-feature logits
        logits = logits.mean(-1, keepdim=True)
    g = torch.sigmoid(logits)
    if swapped:
        h, e = e, h
    return g * h + (1 - g) * e, (g.squeeze(-1) if per_word else g)


def oov_fallback(word, kv, pieces=None, combine=np.mean, unknown_as_zeros=False, own=True):
    """The notebook's solution; the keywords make the mistakes."""
    if own and word in kv.key_to_index:
        return kv[word]
    parts = (pieces or contraction_pieces)(word)
    zeros = np.zeros(kv.vector_size, dtype=np.float32)
    vectors = [kv[p] if p in kv.key_to_index else zeros for p in parts]
    if not unknown_as_zeros:
        vectors = [kv[p] for p in parts if p in kv.key_to_index]
    return combine(vectors, axis=0) if vectors else zeros


def at_first_apostrophe(word):
    cut = word.find("'")
    return [word[:cut], word[cut:]] if cut > 0 else []


def masked_accuracy(logits, labels):
    chosen = labels != -100
    return (logits[chosen].argmax(-1) == labels[chosen]).float().mean().item()


def top_pieces(logits, input_ids, mask_token_id, k):
    return logits[input_ids == mask_token_id].topk(k, dim=-1).indices


def whole_word_accuracy(
    logits, labels, word_starts, across_rows=False, any_piece=False, count=False
):
    """The notebook's solution, word by word; the keywords make the mistakes (`across_rows`
    merges the words that share a number in different rows, `any_piece` counts a word right
    when one of its pieces is, `count` returns the number of words right)."""
    word = word_starts.long().cumsum(-1)  # (B, T): the number of each piece's word in its row
    right: dict = {}  # word -> all its labelled pieces right (any, with any_piece)
    for b, t in (labels != -100).nonzero().tolist():
        key = int(word[b, t]) if across_rows else (b, int(word[b, t]))
        ok = bool(logits[b, t].argmax() == labels[b, t])
        right[key] = (right.get(key, False) or ok) if any_piece else (right.get(key, True) and ok)
    return sum(right.values()) if count else sum(right.values()) / len(right)


def wilson(correct, n, z=1.96, fourth_term=True):
    """The notebook's solution: the roots of (p_hat - p)^2 = z^2 p (1 - p) / n; the keywords
    make the mistakes."""
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    spread = p * (1 - p) / n + (z * z / (4 * n * n) if fourth_term else 0.0)
    half = z * math.sqrt(spread) / (1 + z * z / n)
    return centre - half, centre + half


def wald(correct, n, z=1.96):
    p = correct / n
    half = z * math.sqrt(p * (1 - p) / n)
    return max(0.0, p - half), min(1.0, p + half)


def schedule(L, sharing):
    return {
        "all": [(0, 0)] * L,
        "attention": [(0, i) for i in range(L)],
        "ffn": [(i, 0) for i in range(L)],
        "none": [(i, i) for i in range(L)],
    }[sharing]


def distances(states, mask, squared=False, cos_dim=-1):
    m, l2, cos = mask.bool(), [], []
    for before, after in zip(states[:-1], states[1:], strict=True):
        d = (after - before).norm(dim=-1) ** (2 if squared else 1)
        c = torch.nn.functional.cosine_similarity(before, after, dim=cos_dim)
        l2.append(d[m].mean())
        cos.append(c[m].mean() if cos_dim == -1 else c.mean())
    return torch.stack(l2), torch.stack(cos)


def param_groups(model, encoder_lr, head_lr, skip_frozen=True, encoder_in_head=False):
    encoder = [p for p in model.encoder.parameters() if p.requires_grad or not skip_frozen]
    mine = {id(p) for p in model.encoder.parameters()}
    rest = [
        p for p in model.parameters() if p.requires_grad and (encoder_in_head or id(p) not in mine)
    ]
    return [{"params": encoder, "lr": encoder_lr}, {"params": rest, "lr": head_lr}]


def _other_checks() -> dict[str, tuple[Callable, list[Wrong]]]:
    from seqbook.checks import albert as al
    from seqbook.checks import albert_bilstm as ab
    from seqbook.checks import attention as at
    from seqbook.checks import fusion as fu
    from seqbook.checks import lstm as ls
    from seqbook.checks import pretraining as pt

    def sdpa(**mistake):
        return lambda q, k, v, mask=None: attention(q, k, v, mask, **mistake)

    return {
        "scaled_dot_product_attention": (
            at.check_scaled_dot_product_attention,
            [
                (
                    "scaled by d_v",
                    lambda q, k, v, m=None: attention(q, k, v, m, 1 / math.sqrt(v.shape[-1])),
                    "d_v != d_k",
                ),
                (
                    "divided by d_k",
                    lambda q, k, v, m=None: attention(q, k, v, m, 1 / q.shape[-1]),
                    "3 tokens",
                ),
                ("softmax over queries", sdpa(dim=-2), "weights: values differ"),
                ("-1e9: uniform empty rows", sdpa(fill=-1e9, zero_empty=False), "attend nowhere"),
                ("-inf: NaN empty rows", sdpa(zero_empty=False), "NaN at index (0, 1, 0)"),
                (
                    "mask inverted",
                    lambda q, k, v, m=None: attention(q, k, v, None if m is None else ~m),
                    "causal mask",
                ),
            ],
        ),
        "padding_mask": (
            at.check_padding_mask,
            [
                (
                    "<= length",
                    lambda n, T=None: torch.arange(T or int(n.max())) <= n[:, None],
                    "expected",
                ),
                (
                    "ignores max_len",
                    lambda n, T=None: torch.arange(int(n.max())) < n[:, None],
                    "expected shape (2, 7)",
                ),
                (
                    "0/1 integers",
                    lambda n, T=None: (torch.arange(T or int(n.max())) < n[:, None]).long(),
                    "bool tensor",
                ),
            ],
        ),
        "causal_mask": (
            at.check_causal_mask,
            [
                ("upper triangle", lambda T: torch.ones(T, T, dtype=torch.bool).triu(), "T=4"),
                ("no diagonal", lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1), "T=1"),
            ],
        ),
        "multi_head_attention": (
            at.check_multi_head_attention,
            [
                (
                    "merge without transposing",
                    lambda *a: multi_head(*a, merge_transposed=False),
                    "output",
                ),
                ("no output projection", lambda *a: multi_head(*a, out_proj=False), "output"),
                (
                    "padding mask inverted",
                    lambda m, q, k, v, p=None: multi_head(m, q, k, v, None if p is None else ~p),
                    "key padding mask",
                ),
            ],
        ),
        "attention_pooling": (
            at.check_attention_pooling,
            [
                ("mask ignored", lambda *a: attention_pool(*a, use_mask=False), "padded batch"),
                ("no 1/sqrt(dim)", lambda *a: attention_pool(*a, scaled=False), "weights (B, T)"),
            ],
        ),
        "masked_softmax": (
            at.check_masked_softmax,
            [
                (
                    "-inf: NaN rows",
                    lambda s, m: masked_softmax(s, m, finite_empty_rows=False, zero_empty=False),
                    "NaN at index",
                ),
                (
                    "-1e9: uniform rows",
                    lambda s, m: masked_softmax(s, m, fill=-1e9, zero_empty=False),
                    "attend nowhere",
                ),
                ("scores times mask", lambda s, m: torch.softmax(s * m, -1), "random mask"),
            ],
        ),
        "scale": (
            at.check_scale,
            [
                ("1/sqrt(d_k), sigma ignored", lambda d, sq, sk: 1 / math.sqrt(d), "variance 3.94"),
                (
                    "variances, not standard deviations",
                    lambda d, sq, sk: 1 / (sq**2 * sk**2 * math.sqrt(d)),
                    "keys of std 2",
                ),
                ("divided by d_k", lambda d, sq, sk: 1 / (sq * sk * d), "unit variances"),
                ("the keys' sigma only", lambda d, sq, sk: 1 / (sk * math.sqrt(d)), "std 0.5"),
                (
                    "sigma ignored, sigma close to 1",
                    lambda d, sq, sk: 1 / math.sqrt(d),
                    "expected the scale 0.17331 exactly",
                ),
                ("the variance it gives", lambda d, sq, sk: 1.0 * sq * sk, "unit variances"),
                (
                    "a tensor of scales",
                    lambda d, sq, sk: torch.ones(2) * scale(d, sq, sk),
                    "got Tensor",
                ),
            ],
        ),
        "hard_attention": (
            at.check_hard_attention,
            [
                (
                    "mask ignored",
                    lambda s, m=None: hard_attention(s, m, use_mask=False),
                    "the largest score is masked",
                ),
                (
                    "last index on ties",
                    lambda s, m=None: hard_attention(s, m, last_on_ties=True),
                    "take the first, as torch.argmax",
                ),
                (
                    "a one in a row that may attend nowhere",
                    lambda s, m=None: hard_attention(s, m, zero_empty=False),
                    "a row that may attend nowhere gets zero weights",
                ),
                (
                    "the softmax (soft attention)",
                    lambda s, m=None: masked_softmax(
                        s, torch.ones_like(s, dtype=torch.bool) if m is None else m
                    ),
                    "no mask",
                ),
                (
                    "the arg max indices, not weights",
                    lambda s, m=None: hard_attention(s, m).argmax(-1),
                    "expected shape (2, 4, 6)",
                ),
            ],
        ),
        "forward_backward": (
            at.check_forward_backward,
            [
                (
                    "backpropagates output.sum()",
                    lambda *a: forward_backward(*a, upstream=False),
                    "gradient of input 0: values differ",
                ),
                (
                    "reads .grad of the caller's tensors",
                    lambda *a: forward_backward(*a, on_the_inputs=True),
                    "(second call on the same tensors)",
                ),
                (
                    "gradients in reverse order",
                    lambda *a: (forward_backward(*a)[0], forward_backward(*a)[1][::-1]),
                    "gradient of input 0: expected shape (2, 3, 5, 4)",
                ),
                ("gradients only", lambda *a: forward_backward(*a)[1], "got 3 values"),
            ],
        ),
        "torch_layout_step": (
            ls.check_torch_layout_step,
            [
                ("one bias", lambda *a: lstm_step(*a, both_biases=False), "both biases"),
                ("gates i, f, o, g", lambda *a: lstm_step(*a, order="ifog"), "gate order"),
                ("returns (c, h)", lambda *a: lstm_step(*a)[::-1], "c_t"),
            ],
        ),
        "lstm_num_parameters": (
            ls.check_lstm_num_parameters,
            [
                (
                    "every layer reads D",
                    lambda *a: lstm_parameters(*a, upper_reads=lambda D, H: D),
                    "reads H, not D",
                ),
                (
                    "layer 2 reads H when bidirectional",
                    lambda *a: lstm_parameters(*a, upper_reads=lambda D, H: H),
                    "reads 2H",
                ),
                (
                    "directions not counted",
                    lambda D, H, n, bi: lstm_parameters(D, H, n, False),
                    "bidirectional=True",
                ),
            ],
        ),
        "last_hidden": (
            ls.check_last_hidden,
            [
                ("the last column", lambda o, n: o[:, -1], "mixed lengths"),
                ("the longest length's step", lambda o, n: o[:, n.max() - 1], "mixed lengths"),
                ("the first step", lambda o, n: o[:, 0], "no padding"),
            ],
        ),
        "align_subwords": (
            fu.check_align_subwords,
            [
                ("[CLS] not skipped", lambda *a: align(*a, shift=1), "values differ"),
                ("always the mean", lambda h, w, n, s: align(h, w, n, "mean"), "first piece"),
                (
                    "last gives the first",
                    lambda h, w, n, s: align(h, w, n, "first" if s == "last" else s),
                    "last piece",
                ),
            ],
        ),
        "weighted_sum": (
            fu.check_weighted_sum,
            [
                ("alpha on the static side", lambda h, e, a: a * e + (1 - a) * h, "alpha=0.2"),
                (
                    "alpha as a float",
                    lambda h, e, a: (
                        torch.as_tensor(a).item() * h + (1 - torch.as_tensor(a).item()) * e
                    ),
                    "requires grad",
                ),
                ("plain mean", lambda h, e, a: (h + e) / 2, "alpha=0.2"),
            ],
        ),
        "gated_fusion": (
            fu.check_gated_fusion,
            [
                ("no bias", lambda *a: gated(*a, with_bias=False), "gate per word"),
                ("gate on the static side", lambda *a: gated(*a, swapped=True), "fused vectors"),
                ("tanh gate", lambda *a: gated(*a, squash=torch.tanh), "gate per word"),
            ],
        ),
        "feature_gate": (
            fu.check_feature_gate,
            [
                (
                    "one gate per word",
                    lambda *a: feature_gate(*a, per_word=True),
                    "expected shape (1, 4, 6), got (1, 4)",
                ),
                ("[e ; h]", lambda *a: feature_gate(*a, order="eh"), "gate per word and feature"),
                ("no bias", lambda *a: feature_gate(*a, with_bias=False), "values differ"),
                ("h and e swapped", lambda *a: feature_gate(*a, swapped=True), "fused vectors"),
                (
                    "W_g not transposed",
                    lambda h, e, W, b: feature_gate(h, e, W.T, b),
                    "raised RuntimeError",
                ),
            ],
        ),
        "oov_fallback": (
            fu.check_oov_fallback,
            [
                (
                    "splits at the first apostrophe (can + 't)",
                    lambda w, kv: oov_fallback(w, kv, pieces=at_first_apostrophe),
                    "can't",
                ),
                ("sums the pieces", lambda w, kv: oov_fallback(w, kv, combine=np.sum), "do + n't"),
                (
                    "an unknown piece counts as zeros",
                    lambda w, kv: oov_fallback(w, kv, unknown_as_zeros=True),
                    "'re alone",
                ),
                (
                    "pieces without the apostrophe ('s -> s)",
                    lambda w, kv: oov_fallback(
                        w, kv, pieces=lambda x: [p.lstrip("'") for p in contraction_pieces(x)]
                    ),
                    "it + 's",
                ),
                (
                    "splits even a known word",
                    lambda w, kv: oov_fallback(w, kv, own=False),
                    "keeps its vector",
                ),
                (
                    "None for an unknown word",
                    lambda w, kv: oov_fallback(w, kv) if w in kv.key_to_index or "'" in w else None,
                    "got None",
                ),
            ],
        ),
        "masked_accuracy": (
            pt.check_masked_accuracy,
            [
                ("a count", lambda lo, la: int((lo.argmax(-1) == la).sum()), "got 6"),
                (
                    "over every position",
                    lambda lo, la: (lo.argmax(-1) == la).float().mean().item(),
                    "-100",
                ),
                ("a percentage", lambda lo, la: 100 * masked_accuracy(lo, la), "got 50.0"),
            ],
        ),
        "top_pieces": (
            pt.check_top_pieces,
            [
                (
                    "the lowest scores",
                    lambda lo, i, m, k: lo[i == m].topk(k, largest=False).indices,
                    "best first, got",
                ),
                ("the scores", lambda lo, i, m, k: lo[i == m].topk(k).values, "got dtype"),
                (
                    "every position, not only the masks",
                    lambda lo, i, m, k: lo.reshape(-1, lo.shape[-1]).topk(k).indices,
                    "a row per [MASK]",
                ),
                (
                    "worst first (an ascending sort)",
                    lambda lo, i, m, k: lo[i == m].argsort(-1)[:, -k:],
                    "best first, got",
                ),
                (
                    "the masks of the first row only",
                    lambda lo, i, m, k: lo[0][i[0] == m].topk(k).indices,
                    "a batch, a row without masks",
                ),
            ],
        ),
        "whole_word_accuracy": (
            pt.check_whole_word_accuracy,
            [
                (
                    "the piece-level accuracy",
                    lambda lo, la, ws: masked_accuracy(lo, la),
                    "the piece-level accuracy is",
                ),
                (
                    "words merged across rows",
                    lambda lo, la, ws: whole_word_accuracy(lo, la, ws, across_rows=True),
                    "a batch: words are counted row by row",
                ),
                (
                    "a word right if any piece is",
                    lambda lo, la, ws: whole_word_accuracy(lo, la, ws, any_piece=True),
                    "masked words right",
                ),
                (
                    "the number of words right",
                    lambda lo, la, ws: whole_word_accuracy(lo, la, ws, count=True),
                    "got 7",
                ),
            ],
        ),
        "wilson": (
            pt.check_wilson,
            [
                ("the Wald interval", wald, "correct=0, n=10: expected (0.0000, 0.2775)"),
                (
                    "without z^2 / (4 n^2)",
                    lambda k, n: wilson(k, n, fourth_term=False),
                    "correct=1, n=1",
                ),
                ("a 90 % interval", lambda k, n: wilson(k, n, z=1.645), "correct=5, n=10"),
                ("(high, low)", lambda k, n: wilson(k, n)[::-1], "low first"),
                ("in percent", lambda k, n: tuple(100 * x for x in wilson(k, n)), "proportions"),
                ("one number", lambda k, n: k / n, "expected a pair (low, high)"),
            ],
        ),
        "embedding_parameters": (
            al.check_embedding_parameters,
            [
                ("BERT's V*H", lambda V, E, H: V * H, "expected 3,938,304"),
                ("no projection", lambda V, E, H: V * E, "expected 3,938,304"),
                ("a projection bias", lambda V, E, H: V * E + E * H + H, "got 3939072"),
            ],
        ),
        "sharing_schedule": (
            al.check_sharing_schedule,
            [
                (
                    "attention and ffn swapped",
                    lambda L, s: schedule(L, {"attention": "ffn", "ffn": "attention"}.get(s, s)),
                    "L=4, sharing=attention",
                ),
                (
                    "'all' shares nothing",
                    lambda L, s: schedule(L, "none" if s == "all" else s),
                    "L=4, sharing=all",
                ),
                (
                    "blocks counted from 1",
                    lambda L, s: [(a + 1, f + 1) for a, f in schedule(L, s)],
                    "got [(1, 1)]",
                ),
            ],
        ),
        "sop_loss": (
            al.check_sop_loss,
            [
                (
                    "log of softmax",
                    lambda z, y: -torch.log(torch.softmax(z, -1)[torch.arange(len(y)), y]).mean(),
                    "numerical stability",
                ),
                (
                    "labels flipped",
                    lambda z, y: torch.nn.functional.cross_entropy(z, 1 - y),
                    "one pair",
                ),
                (
                    "sigmoid of one logit",
                    lambda z, y: torch.nn.functional.binary_cross_entropy_with_logits(
                        z[:, 1], y.float()
                    ),
                    "one pair",
                ),
            ],
        ),
        "layer_distances": (
            al.check_layer_distances,
            [
                (
                    "padding counted",
                    lambda s, m: distances(s, torch.ones_like(m)),
                    "padding is ignored",
                ),
                ("squared distances", lambda s, m: distances(s, m, squared=True), "L2 distances"),
                (
                    "cosine over positions",
                    lambda s, m: distances(s, m, cos_dim=1),
                    "cosine similarities",
                ),
            ],
        ),
        "lengths_from_mask": (
            ab.check_lengths_from_mask,
            [
                ("int32", lambda m: m.sum(1).int(), "LongTensor"),
                ("argmin of the mask", lambda m: m.long().argmin(1), "you returned [5, 2, 0, 1]"),
                ("one total", lambda m: m.sum().long(), "one length per row"),
            ],
        ),
        "param_groups": (
            ab.check_param_groups,
            [
                (
                    "frozen encoder given",
                    lambda *a: param_groups(*a, skip_frozen=False),
                    "frozen parameters",
                ),
                (
                    "encoder in both groups",
                    lambda *a: param_groups(*a, encoder_in_head=True),
                    "more than one group",
                ),
                ("rates swapped", lambda m, e, h: param_groups(m, h, e), "expected 1e-05"),
                (
                    "the LSTM forgotten",
                    lambda m, e, h: (
                        param_groups(m, e, h)[:1] + [{"params": list(m.head.parameters()), "lr": h}]
                    ),
                    "lstm.",
                ),
            ],
        ),
    }


OTHER = _other_checks()


@pytest.mark.parametrize(("check", "answer", "says"), wrong_cases(OTHER))
def test_a_wrong_answer_to_a_later_chapter_is_rejected_with_a_reason(check, answer, says):
    assert_rejected(check(answer), says)


def _later_references():
    from seqbook.albert import layer_distances
    from seqbook.attention import causal_mask, padding_mask

    references = {
        "scaled_dot_product_attention": attention,
        "padding_mask": padding_mask,
        "causal_mask": causal_mask,
        "multi_head_attention": multi_head,
        "attention_pooling": attention_pool,
        "masked_softmax": masked_softmax,
        "torch_layout_step": lstm_step,
        "lstm_num_parameters": lstm_parameters,
        "last_hidden": last_hidden,
        "align_subwords": align,
        "weighted_sum": lambda h, e, a: a * h + (1 - a) * e,
        "gated_fusion": gated,
        "scale": scale,
        "hard_attention": hard_attention,
        "forward_backward": forward_backward,
        "feature_gate": feature_gate,
        "oov_fallback": oov_fallback,
        "masked_accuracy": masked_accuracy,
        "top_pieces": top_pieces,
        "whole_word_accuracy": whole_word_accuracy,
        "wilson": wilson,
        "embedding_parameters": lambda V, E, H: V * E + E * H,
        "sharing_schedule": schedule,
        "sop_loss": torch.nn.functional.cross_entropy,
        "layer_distances": layer_distances,
        "lengths_from_mask": lambda m: m.long().sum(1),
        "param_groups": param_groups,
    }
    return [pytest.param(check, references[name], id=name) for name, (check, _) in OTHER.items()]


@pytest.mark.parametrize(("check", "answer"), _later_references())
def test_the_wrong_answers_tables_right_answers_pass(check, answer):
    """The helpers the wrong answers above are built from are right when left unmistaken."""
    report = check(answer)
    assert report.ok, str(report)


# ------------------------- the checks with no table above (chapters 4, 6, 7, 8 and the compression)
def lstm_layer(cell, x, lengths, freeze=True, detach=False):
    """A `LSTMCell` over a padded batch; `freeze=False` keeps stepping through the padding."""
    B, T, _ = x.shape
    h = c = x.new_zeros(B, cell.hidden_size)
    outputs = []
    for t in range(T):
        h_new, c_new = cell(x[:, t], (h, c))
        if freeze:
            real = (t < lengths)[:, None]  # (B, 1)
            h, c = torch.where(real, h_new, h), torch.where(real, c_new, c)
            outputs.append(h_new * real)
        else:
            h, c = h_new, c_new
            outputs.append(h)
    output = torch.stack(outputs, dim=1)
    return (output.detach() if detach else output), (h, c)


def encoder_forward(encoder, ids, mask, use_mask=True, one_block=False):
    """Embeddings, the E -> H projection, then the schedule's blocks; the keywords make the
    mistakes (no mask; block 0 for every layer, whatever the sharing)."""
    h = encoder.embedding_hidden_mapping_in(encoder.embeddings(ids, torch.zeros_like(ids)))
    allowed = mask.bool()[:, None, None, :] if use_mask else None
    for a, f in encoder.schedule:
        a, f = (0, 0) if one_block else (a, f)
        h = encoder.ffn_blocks[f](encoder.attention_blocks[a](h, allowed))
    return h


def encoder_layer_pre_ln(layer, h, mask):
    """LayerNorm before each block instead of after: a different function."""
    a, f = layer.attention, layer.feed_forward
    x = a.LayerNorm(h)
    return h + a.dense(x) + f.ffn_output(f.activation(f.ffn(x)))


def albert_bilstm_logits(encoder, lstm, head, ids, mask, lengths=True, pool="mean"):
    from seqbook.models import lengths_from_mask

    h = encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
    u, _ = lstm(h, lengths_from_mask(mask)) if lengths else lstm(h)
    if pool == "all positions":
        return head(u.mean(1))
    return head(mean_pool(u, mask.bool()))


def mask_everything_selected(ids, **kw):
    """Every selected token becomes [MASK]: no 10 % random, no 10 % unchanged."""
    from seqbook.pretraining import mask_tokens

    corrupted, labels = mask_tokens(ids, **kw)
    return torch.where(labels != -100, kw["mask_token_id"], ids), labels


def mean_block(state_dicts):
    return {k: torch.stack([sd[k] for sd in state_dicts]).mean(0) for k in state_dicts[0]}


def zero_mean_frame(E, orthonormal=True):
    """Gram-Schmidt (QR) of the differences e_i - e_(i+1), which span the zero-sum vectors."""
    differences = torch.eye(E, dtype=torch.float64)[:-1] - torch.eye(E, dtype=torch.float64)[1:]
    return torch.linalg.qr(differences.T)[0].T if orthonormal else differences


def _more_checks() -> dict[str, tuple[Callable, Callable, list[Wrong]]]:
    """{name: (check, reference, wrong answers)}."""
    from seqbook.albert import count_parameters
    from seqbook.checks import albert as al
    from seqbook.checks import albert_bilstm as ab
    from seqbook.checks import compress as co
    from seqbook.checks import lstm as ls
    from seqbook.distill import hidden_loss, plain_hidden_loss
    from seqbook.pretraining import mask_tokens

    def total(c, s):
        return count_parameters(c, s).total

    return {
        "lstm.reverse_padded": (
            ls.check_reverse_padded,
            reverse_padded,
            [
                ("flips the padded row", lambda x, n: x.flip(1), "mixed lengths"),
                ("stops one short", reverse_all_but_last, "no padding"),
            ],
        ),
        "lstm_layer": (
            ls.check_lstm_layer,
            lstm_layer,
            [
                (
                    "steps through the padding",
                    lambda *a: lstm_layer(*a, freeze=False),
                    "padded batch",
                ),
                ("detached outputs", lambda *a: lstm_layer(*a, detach=True), "not connected"),
                (
                    "(h_n, c_n) swapped",
                    lambda *a: (lstm_layer(*a)[0], lstm_layer(*a)[1][::-1]),
                    "h_n",
                ),
            ],
        ),
        "parameter_count": (
            al.check_parameter_count,
            total,
            [
                ("sharing ignored", lambda c, s: total(c, "all"), "sharing='none'"),
                (
                    "pooler left out",
                    lambda c, s: count_parameters(c, s, pooler=False).total,
                    "expected",
                ),
                ("one layer's blocks", lambda c, s: total(c, "all") // c.num_hidden_layers, "got"),
            ],
        ),
        "mask_tokens": (
            al.check_mask_tokens,
            mask_tokens,
            [
                (
                    "30 % selected",
                    lambda ids, **kw: mask_tokens(ids, **kw, mlm_probability=0.3),
                    "expected 15% of non-special tokens selected",
                ),
                ("always [MASK]", mask_everything_selected, "expected 80% [MASK]"),
                (
                    "padding and [CLS] may be selected",
                    lambda ids, **kw: mask_tokens(ids, **(kw | {"special_token_ids": [4]})),
                    "a special or padding token was selected",
                ),
                (
                    "labels everywhere",
                    lambda ids, **kw: (mask_tokens(ids, **kw)[0], ids.clone()),
                    "a special or padding token was selected",
                ),
            ],
        ),
        "encoder_forward": (
            al.check_encoder_forward,
            encoder_forward,
            [
                ("mask ignored", lambda *a: encoder_forward(*a, use_mask=False), "padded batch"),
                (
                    "block 0 for every layer",
                    lambda *a: encoder_forward(*a, one_block=True),
                    "sharing='none'",
                ),
                ("detached", lambda *a: encoder_forward(*a).detach(), "not connected"),
            ],
        ),
        "encoder_layer": (
            al.check_encoder_layer,
            lambda layer, h, mask: layer(h, mask),
            [
                ("mask ignored", lambda layer, h, mask: layer(h), "padded batch"),
                ("pre-LN", encoder_layer_pre_ln, "no mask"),
            ],
        ),
        "albert_bilstm_logits": (
            ab.check_albert_bilstm_logits,
            ab.reference_albert_bilstm_logits,
            [
                (
                    "no lengths for the BiLSTM",
                    lambda *a: albert_bilstm_logits(*a, lengths=False),
                    "a padded batch",
                ),
                (
                    "mean over every position",
                    lambda *a: albert_bilstm_logits(*a, pool="all positions"),
                    "extra padding changes nothing",
                ),
                (
                    "detached encoder",
                    lambda e, lstm, head, ids, m: albert_bilstm_logits(
                        e, lstm, head, ids, m
                    ).detach(),
                    "carry no gradient",
                ),
            ],
        ),
        "hidden_loss": (
            co.check_hidden_loss,
            hidden_loss,
            [
                ("no rescaling (plain MSE)", plain_hidden_loss, "an affine copy"),
                (
                    "padding counted",
                    lambda s, t, m: hidden_loss(s, t, torch.ones_like(m)),
                    "padding positions hold garbage",
                ),
                ("the share explained", lambda s, t, m: 1 - hidden_loss(s, t, m), "the loss"),
            ],
        ),
        "mean_block": (
            co.check_mean_block,
            mean_block,
            [
                ("the first block", lambda sds: dict(sds[0]), "2 blocks"),
                (
                    "the sum",
                    lambda sds: {k: sum(sd[k] for sd in sds) for k in sds[0]},
                    "2 blocks",
                ),
                (
                    "a list of tensors",
                    lambda sds: list(mean_block(sds).values()),
                    "expected a dict",
                ),
            ],
        ),
        "zero_mean_frame": (
            co.check_zero_mean_frame,
            zero_mean_frame,
            [
                (
                    "not orthonormal",
                    lambda E: zero_mean_frame(E, orthonormal=False),
                    "Q Q^T",
                ),
                ("rows of the identity", lambda E: torch.eye(E)[:-1], "row sums"),
                (
                    "the centring matrix",
                    lambda E: torch.eye(E) - 1.0 / E,
                    "expected a tensor of shape",
                ),
            ],
        ),
    }


MORE = _more_checks()


@pytest.mark.parametrize(
    ("check", "answer"), [pytest.param(c, r, id=n) for n, (c, r, _) in MORE.items()]
)
def test_a_right_answer_to_a_check_without_a_chapter_table_passes(check, answer):
    report = check(answer)
    assert report.ok, str(report)


@pytest.mark.parametrize(
    ("check", "answer", "says"),
    [
        pytest.param(c, answer, says, id=f"{n}-{wid}")
        for n, (c, _, wrongs) in MORE.items()
        for wid, answer, says in wrongs
    ],
)
def test_a_wrong_answer_to_a_check_without_a_chapter_table_is_rejected(check, answer, says):
    assert_rejected(check(answer), says)


@pytest.mark.parametrize("seed", range(4))
def test_the_mask_tokens_check_passes_the_reference_whatever_its_random_draws(seed):
    """The check tests 15 % / 80-10-10 statistically on 100,000 tokens: the reference's own
    random draws must not make it fail."""
    from seqbook.checks.albert import check_mask_tokens
    from seqbook.pretraining import mask_tokens

    torch.manual_seed(seed)
    assert check_mask_tokens(mask_tokens).ok


# ------------------------------------------------------------------------------ the tests
REFERENCES = [
    pytest.param(text_checks.check_pad_batch, pad_batch, id="pad_batch"),
    pytest.param(text_checks.check_idf, idf, id="idf"),
    pytest.param(text_checks.check_coverage, coverage, id="coverage"),
    pytest.param(
        text_checks.check_unigrams_and_bigrams, unigrams_and_bigrams, id="unigrams_and_bigrams"
    ),
    pytest.param(emb_checks.check_cosine_similarity, cosine_similarity, id="cosine_similarity"),
    pytest.param(emb_checks.check_skipgram_pairs, skipgram_pairs, id="skipgram_pairs"),
    pytest.param(emb_checks.check_analogy, analogy, id="analogy"),
    pytest.param(emb_checks.check_embedding_matrix, embedding_matrix, id="embedding_matrix"),
    pytest.param(emb_checks.check_cbow_context, cbow_context, id="cbow_context"),
    pytest.param(bilstm_checks.check_reverse_padded, reverse_padded, id="reverse_padded"),
    pytest.param(bilstm_checks.check_masked_mean, mean_pool, id="masked_mean"),
    pytest.param(bilstm_checks.check_masked_max, max_pool, id="masked_max"),
    pytest.param(bilstm_checks.check_bidirectional, bidirectional, id="bidirectional"),
    pytest.param(bilstm_checks.check_freeze_rows, freeze_rows, id="freeze_rows"),
]


@pytest.mark.parametrize(("check", "answer"), REFERENCES)
def test_a_right_answer_passes(check, answer):
    report = check(answer)
    assert report.ok, str(report)
    assert str(report).startswith(f"PASS {report.check}: {report.total}/{report.total} cases")


def _every_check() -> list:
    import importlib

    names = "text embeddings bilstm attention lstm albert albert_bilstm fusion pretraining compress"
    modules = [importlib.import_module(f"seqbook.checks.{n}") for n in names.split()]
    return [
        pytest.param(getattr(m, name), id=f"{m.__name__.rsplit('.', 1)[1]}.{name}")
        for m in modules
        for name in sorted(vars(m))
        if name.startswith("check_") and getattr(m, name).__module__ == m.__name__
    ]


@pytest.mark.parametrize("check", _every_check())
def test_a_stub_is_reported_as_not_implemented(check):
    report = check(_stub)
    assert not report.ok and report.passed == 0 and report.total > 0
    assert all(r.message == "not implemented yet" for r in report.results), str(report)


@pytest.mark.parametrize(("check", "answer", "says"), wrong_cases(TEXT | EMBEDDINGS | BILSTM))
def test_a_wrong_answer_is_rejected_with_a_reason(check, answer, says):
    assert_rejected(check(answer), says)


def test_every_check_has_a_reference_and_wrong_answers():
    """A check added to any module of `seqbook.checks` (the course kit's aside) must be added to
    the tables above: a right answer that passes and a wrong one that fails."""

    def qualified(check) -> str:
        return f"{check.__module__}.{check.__name__}"

    checks = {qualified(p.values[0]) for p in _every_check()}
    referenced = {qualified(p.values[0]) for p in REFERENCES + _later_references()}
    referenced |= {qualified(c) for c, _, _ in MORE.values()}
    tables = TEXT | EMBEDDINGS | BILSTM | OTHER
    with_wrongs = {qualified(c) for c, wrongs in tables.values() if wrongs}
    with_wrongs |= {qualified(c) for c, _, wrongs in MORE.values() if wrongs}
    assert checks == referenced, sorted(checks ^ referenced)
    assert checks == with_wrongs, sorted(checks ^ with_wrongs)


@pytest.mark.parametrize(
    ("d_k", "sigma_q", "sigma_k"), [(64, 1.0, 1.0), (16, 1.0, 2.0), (4, 0.5, 3.0), (256, 1.5, 1.5)]
)
def test_the_scale_check_passes_the_right_scale_whatever_its_seeded_draws(d_k, sigma_q, sigma_k):
    """The check measures the scores' variance on 4,000 draws and wants it in [0.85, 1.15]: the
    right scale must land there for every seed, not only the seeds the check happens to use."""
    from seqbook.checks.attention import score_variance

    variances = [
        score_variance(scale(d_k, sigma_q, sigma_k), d_k, sigma_q, sigma_k, seed)
        for seed in range(200)
    ]
    assert 0.85 <= min(variances) and max(variances) <= 1.15, (min(variances), max(variances))
    assert abs(np.mean(variances) - 1) < 0.01


def test_contraction_pieces_cut_as_glove_tokenised():
    assert contraction_pieces("don't") == ["do", "n't"]
    assert contraction_pieces("can't") == ["ca", "n't"]
    assert contraction_pieces("won't") == ["wo", "n't"]
    assert contraction_pieces("it's") == ["it", "'s"]
    assert contraction_pieces("they're") == ["they", "'re"]
    assert contraction_pieces("film") == contraction_pieces("'tis") == []


def test_a_real_token_with_the_pad_id_is_not_padding():
    """Ids 0 and 1 are `<pad>` and `<unk>`: a mask built from `ids != pad_id` hides real tokens
    that share the pad id, which the check names."""
    report = text_checks.check_pad_batch(lambda s, p: pad_batch(s, p, mask_from_ids=True))
    assert report.passed == report.total - 1
    assert "build the mask from the lengths" in str(report)


def test_assert_close_names_a_nan_instead_of_failing_on_it():
    from seqbook.checks import assert_close

    expected = torch.tensor([[0.5, 0.5], [0.0, 0.0]])
    with pytest.raises(AssertionError, match=r"weights: NaN at index \(1, 0\), where the"):
        assert_close(torch.tensor([[0.5, 0.5], [float("nan")] * 2]), expected, "weights")
    with pytest.raises(AssertionError, match=r"max \|difference\| 0.5 at index \(0, 1\)"):
        assert_close(torch.tensor([[0.5, 1.0], [0.0, 0.0]]), expected, "weights")


def test_a_numpy_float_answer_to_the_masked_accuracy_check_is_accepted():
    from seqbook.checks.pretraining import check_masked_accuracy

    report = check_masked_accuracy(lambda lo, la: np.float32(masked_accuracy(lo, la)))
    assert report.ok, str(report)


@pytest.mark.parametrize("seed", range(200))
def test_the_top_pieces_check_draws_masks_and_no_ties_for_every_seed(seed):
    """Any right ranking passes only if the generated logits have no ties among the k + 1 best
    pieces at a mask (a stable sort and torch.topk may order ties differently), and the check
    means something only if there are masks to rank."""
    from seqbook.checks.pretraining import fill_mask_inputs

    logits, ids = fill_mask_inputs(seed, 3, 10, 40, 3, 2)
    at = logits[ids == 3]  # (M, V)
    assert at.shape[0] == 4 and not (ids[1] == 3).any()
    best = at.sort(-1, descending=True).values
    assert (best[:, :-1] > best[:, 1:]).all()


@pytest.mark.parametrize("seed", range(200))
def test_the_whole_word_check_agrees_with_a_word_by_word_count_for_every_seed(seed):
    """The check's vectorised reference equals the notebook's word-by-word count, and its
    generated batches always hold a masked word and never a labelled [CLS]."""
    from seqbook.checks.pretraining import whole_word_accuracy as reference
    from seqbook.checks.pretraining import whole_word_inputs

    logits, labels, starts = whole_word_inputs(seed, 4, 24, 10, 0.4, 0.7 if seed % 2 else 1.0)
    assert (labels[:, 0] == -100).all() and (labels != -100).any()
    assert reference(logits, labels, starts)[0] == pytest.approx(
        whole_word_accuracy(logits, labels, starts), abs=1e-12
    )


def test_the_wilson_reference_agrees_with_scipy():
    """`seqbook.sop_study.wilson` (z = 1.96) is within the check's tolerance of scipy's Wilson
    interval (the exact normal quantile) for counts from 0 to n."""
    from scipy.stats import binomtest

    from seqbook.sop_study import wilson as reference

    for n in (1, 2, 7, 10, 33, 400, 1000, 10000):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            ci = binomtest(k, n).proportion_ci(method="wilson")
            low, high = reference(k, n)
            assert abs(low - ci.low) < 5e-5 and abs(high - ci.high) < 5e-5, (k, n)
