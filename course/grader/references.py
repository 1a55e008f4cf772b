"""The course's reference answers. Grader side only: never in the student's package or sandbox.

`expected(task_id, drawn)` is what the student's answer to one drawn instance should be: the
reference implementation's output (a gradient task: its output and the gradients of the same loss
the probe applies), or for an experiment the instance's secret part (the held-out labels), or
None where the judge needs no reference (whole-word masking is judged by its properties). The
grader loads this file from the course folder it is given (``--course DIR``:
``DIR/grader/references.py``), so an instructor's private course folder can hold its own.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seqbook.checks.course import inputs
from seqbook.checks.course.inputs import Drawn

# ----------------------------------------------------------------------------- a1


def reference_positions(T: int, d: int, base: float = 10000.0) -> torch.Tensor:
    """Eq. (eq-a1-positions) in float64, for any base."""
    t = torch.arange(T, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(base) * torch.arange(0, d, 2, dtype=torch.float64) / d)
    pe = torch.zeros(T, d, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(t * freq), torch.cos(t * freq)
    return pe


STATE_NAMES = {
    "in_proj_weight": "self_attn.in_proj_weight",
    "in_proj_bias": "self_attn.in_proj_bias",
    "out_proj_weight": "self_attn.out_proj.weight",
    "out_proj_bias": "self_attn.out_proj.bias",
}


def reference_encoder_layer(x, params, num_heads, mask, scale=None) -> torch.Tensor:
    """torch's own post-LN `nn.TransformerEncoderLayer` (ReLU, no dropout) with the case's
    weights. Its scores are scaled by 1/sqrt(d_head); another `scale` is obtained by scaling the
    query projection by scale * sqrt(d_head), which multiplies every score by the same factor."""
    d, ff = x.shape[-1], params["linear1_weight"].shape[0]
    params = {k: v.clone() for k, v in params.items()}
    if scale is not None:
        factor = scale * math.sqrt(d // num_heads)
        params["in_proj_weight"][:d] *= factor
        params["in_proj_bias"][:d] *= factor
    layer = torch.nn.TransformerEncoderLayer(
        d, num_heads, ff, dropout=0.0, batch_first=True, dtype=torch.float64
    )
    layer.load_state_dict({STATE_NAMES.get(k, k.replace("_", ".")): v for k, v in params.items()})
    layer.train()  # no fast path: every position computed the plain way
    with torch.no_grad():
        return layer(x, src_key_padding_mask=mask)


# ----------------------------------------------------------------------------- a2


def reference_cifg(x_t, h, c, weight_ih, weight_hh, bias):
    """Eq. (eq-a2-cifg): gates i, g, o; the forget gate is 1 - i."""
    z_i, z_g, z_o = (x_t @ weight_ih.T + h @ weight_hh.T + bias).chunk(3, dim=-1)
    i = torch.sigmoid(z_i)
    c_t = (1 - i) * c + i * torch.tanh(z_g)
    return torch.sigmoid(z_o) * torch.tanh(c_t), c_t


def reference_tfidf(counts: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Eq. (eq-a2-tfidf) with add-k smoothing: idf = ln((n + k) / (df + k)) + 1, rows scaled to
    unit l2 norm (an empty document stays zero). With k = 1 it is scikit-learn's
    `TfidfTransformer(smooth_idf=True)` (a test pins the two)."""
    n = counts.shape[0]
    df = (counts > 0).sum(0).double()
    weighted = counts * (torch.log((n + smooth) / (df + smooth)) + 1)
    norm = weighted.norm(dim=1, keepdim=True)
    return torch.where(norm > 0, weighted / norm.clamp_min(1e-300), weighted)


# ----------------------------------------------------------------------------- a3


def reference_pair(a: list[int], b: list[int], max_len: int, cls_id: int, sep_id: int):
    """[CLS] a [SEP] b [SEP], longest-first truncation; None where max_len < 5 (a ValueError)."""
    if max_len < 5:
        return None
    a, b = list(a), list(b)
    while len(a) + len(b) + 3 > max_len:
        (a if len(a) > len(b) else b).pop()
    return [cls_id, *a, sep_id, *b, sep_id], [0] * (len(a) + 2) + [1] * (len(b) + 1)


# ----------------------------------------------------------------------------- a4


def reference_scalar_mix(hidden_states, weights, gamma):
    """Eq. (eq-a4-scalar-mix)."""
    return gamma * (weights.softmax(0)[:, None, None, None] * hidden_states).sum(0)


def reference_head_parameters(H, hidden, layers, classes, bidirectional, peepholes=False) -> int:
    """Counted on `torch.nn.LSTM` and `torch.nn.Linear` built with the case's sizes, plus, with
    peepholes, the three diagonal peephole vectors (input, forget and output gate; `hidden`
    entries each) of every layer and direction (Gers & Schmidhuber 2000)."""
    lstm = torch.nn.LSTM(H, hidden, layers, bidirectional=bidirectional, device="meta")
    linear = torch.nn.Linear(hidden * (2 if bidirectional else 1), classes, device="meta")
    plain = sum(p.numel() for p in [*lstm.parameters(), *linear.parameters()])
    directions = 2 if bidirectional else 1
    return plain + (3 * hidden * layers * directions if peepholes else 0)


# ----------------------------------------------------------------------------- a5


def reference_keep_probability(counts: torch.Tensor, t: float = 1e-5) -> torch.Tensor:
    """Eq. (eq-a5-subsampling): word w is kept with probability min(1, sqrt(t / f(w))), f(w) its
    share of all tokens (Mikolov et al. 2013); a word that never occurs: 1."""
    f = counts / counts.sum()
    keep = torch.sqrt(t / f.clamp_min(1e-300)).clamp(max=1.0)
    return torch.where(counts > 0, keep, torch.ones_like(keep))


def reference_sgns(center, context, negatives):
    """Eq. (eq-a5-sgns)."""
    positive = F.logsigmoid((center * context).sum(-1))
    negative = F.logsigmoid(-(negatives @ center.unsqueeze(-1)).squeeze(-1)).sum(-1)
    return -(positive + negative).mean()


# ----------------------------------------------------------------------------- by task


def with_grads(reference, case: dict, loss):
    """The reference's output and the gradients of `loss(output)` (the probe's loss)."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in case.items()}
    out = reference(**leaves)
    loss(out).backward()
    detach = tuple(o.detach() for o in out) if isinstance(out, tuple) else out.detach()
    return detach, {k: v.grad for k, v in leaves.items()}


def expected(task_id: str, drawn: Drawn):
    """What the answer to the instance `drawn` of task `task_id` should be (see the module)."""
    p = drawn.public
    if task_id.endswith("experiment"):
        return drawn.secret
    if task_id == "positions":
        return [reference_positions(T, d, 10000.0 if b is None else b) for T, d, b in p["cases"]]
    if task_id == "encoder_layer":
        return [reference_encoder_layer(*case) for case in p["cases"]]
    if task_id == "cifg_step":
        return [with_grads(reference_cifg, c, inputs.cifg_loss) for c in p["cases"]]
    if task_id == "tfidf":
        return [reference_tfidf(c, 1.0 if k is None else k) for c, k in p["cases"]]
    if task_id == "whole_word_mask":
        return None
    if task_id == "pair_inputs":
        return [reference_pair(a, b, m, 1, 2) for a, b, m in p["cases"]]
    if task_id == "scalar_mix":
        return [with_grads(reference_scalar_mix, c, inputs.mix_loss) for c in p["cases"]]
    if task_id == "head_parameters":
        return [reference_head_parameters(*c) for c in p["cases"]]
    if task_id == "subsampling":
        return [reference_keep_probability(c, 1e-5 if t is None else t) for c, t in p["cases"]]
    if task_id == "sgns_loss":
        return [with_grads(reference_sgns, c, lambda out: out) for c in p["cases"]]
    raise ValueError(f"task_id must name a task of the course, got {task_id!r}")
