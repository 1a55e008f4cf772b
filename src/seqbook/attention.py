"""Attention: scaled dot-product, masks, multi-head attention and attention pooling.

Mask conventions (the same as torch's, see CONTRIBUTING):

- `mask` of `scaled_dot_product_attention` and `MultiHeadAttention.forward`: bool, **True = may
  attend**, broadcastable to `(..., T_q, T_k)`.
- `key_padding_mask` of `MultiHeadAttention.forward`: bool `(B, T_k)`, **True = padding,
  ignored** (torch.nn.MultiheadAttention's convention).
- `padding_mask(lengths)` and the `mask` of `AttentionPooling.forward`: bool `(B, T)`,
  **True = real token** (seqbook.data's `mask`, Hugging Face's `attention_mask`).

A query row whose mask allows no key at all gets **all-zero weights and a zero output** (torch
returns NaN there in some code paths). That keeps padded query rows of a padded batch harmless:
nothing NaN flows forward or backward.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from seqbook.validate import (
    check_lengths,
    check_mask,
    check_number,
    check_positive_ints,
    check_same,
    check_tensor,
    mask_from_lengths,
)

__all__ = [
    "AttentionPooling",
    "MultiHeadAttention",
    "causal_mask",
    "padding_mask",
    "scaled_dot_product_attention",
]


# ----------------------------------------------------------------------------- boundary checks


def _check_broadcast(mask: Tensor, target: tuple[int, ...]) -> None:
    try:
        ok = torch.broadcast_shapes(mask.shape, target) == torch.Size(target)
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"mask must be broadcastable to (..., T_q, T_k) = {target}, "
            f"got shape {tuple(mask.shape)}"
        )


# ----------------------------------------------------------------------------- masks


def padding_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """Bool mask `(B, T)` from sequence lengths, **True = real token** (seqbook.data's `mask`).

    `T` is `max_len`, or the longest length when `max_len` is None. For `MultiHeadAttention`'s
    `key_padding_mask` (True = padding) pass `~padding_mask(lengths)`.
    """
    lengths = check_lengths(lengths, low=0)  # a 1-D integer tensor, no negative length
    longest = int(lengths.max()) if lengths.numel() else 0
    if max_len is None:
        max_len = longest
    elif isinstance(max_len, bool) or not isinstance(max_len, numbers.Integral) or max_len < 0:
        raise ValueError(f"max_len must be a non-negative int or None, got {max_len!r}")
    elif longest > max_len:
        raise ValueError(f"max_len={max_len} is shorter than the longest length {longest}")
    return mask_from_lengths(lengths, int(max_len))  # (B, T)


def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    """Bool mask `(T, T)`, **True = may attend**: query i sees keys 0..i (lower triangle)."""
    if not isinstance(T, numbers.Integral) or isinstance(T, bool) or T < 0:
        raise ValueError(f"T must be a non-negative int, got {T!r}")
    T = int(T)
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


# ----------------------------------------------------------------------------- attention


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    mask: Tensor | None = None,
    *,
    scale: float | None = None,
    check: bool = True,
) -> tuple[Tensor, Tensor]:
    """Scaled dot-product attention, eq. (eq-attention-sdpa): softmax(Q K^T / sqrt(d_k)) V.

    Shapes: query `(..., T_q, d_k)`, key `(..., T_k, d_k)`, value `(..., T_k, d_v)`; the
    leading dimensions broadcast. `mask` is bool, broadcastable to `(..., T_q, T_k)`,
    True = may attend. `scale` replaces 1/sqrt(d_k) (a temperature knob for experiments).
    Returns `(output (..., T_q, d_v), weights (..., T_q, T_k))`. A query row whose mask allows
    nothing gets zero weights and a zero output. `check=False` skips the checks of the inputs,
    for a module that has checked its own (`MultiHeadAttention`, `AttentionPooling`, ALBERT).
    """
    if check:
        _check_attention_inputs(query, key, value, mask)
        if scale is not None and not (isinstance(scale, Tensor) and scale.numel() == 1):
            scale = check_number("scale", scale)  # a NaN or inf would poison every weight
    d_k = query.shape[-1]
    if scale is None:
        scale = 1.0 / math.sqrt(d_k)
    scores = query @ key.transpose(-2, -1) * scale  # (..., T_q, T_k)

    if mask is None:
        weights = torch.softmax(scores, dim=-1)
        return weights @ value, weights

    mask = mask.to(scores.device)
    allowed = mask.any(dim=-1, keepdim=True)  # (..., T_q, 1): may this row attend anywhere?
    scores = scores.masked_fill(~mask, float("-inf"))
    scores = scores.masked_fill(~allowed, 0.0)  # an empty row: finite scores, zeroed below
    weights = torch.softmax(scores, dim=-1) * allowed  # (..., T_q, T_k)
    return weights @ value, weights


def _check_batch_and_mask(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None) -> None:
    """Checks every attention shares: batch dimensions of query, key and value that broadcast,
    and a boolean mask that broadcasts to (..., T_q, T_k)."""
    try:
        batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except RuntimeError:
        raise ValueError(
            "the leading (batch) dimensions of query, key and value must broadcast, got "
            f"{tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}"
        ) from None
    if mask is not None:
        mask = check_mask(mask, name="mask", bool_only=True, meaning="may attend")
        _check_broadcast(mask, (*batch, query.shape[-2], key.shape[-2]))


def _check_attention_inputs(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None) -> None:
    """The checks of `scaled_dot_product_attention`: float tensors of matching shapes."""
    check_tensor(query, "query", "..., T_q, d_k", dtype="float")
    check_tensor(key, "key", "..., T_k, d_k", dtype="float")
    check_tensor(value, "value", "..., T_k, d_v", dtype="float")
    if not (query.dtype == key.dtype == value.dtype):
        raise TypeError(
            "query, key and value must share a dtype, got "
            f"{query.dtype}, {key.dtype} and {value.dtype}"
        )
    check_same("last dimension d_k", query=query.shape[-1], key=key.shape[-1])
    check_same("length T_k (dimension -2)", key=key.shape[-2], value=value.shape[-2])
    _check_batch_and_mask(query, key, value, mask)


class MultiHeadAttention(nn.Module):
    """Multi-head attention, eq. (eq-attention-mha): split, attend per head, concat, project.

    Batch-first. Numerically equal to `torch.nn.MultiheadAttention(batch_first=True)` with
    `average_attn_weights=False` (no dropout here), see `from_torch`.
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True) -> None:
        super().__init__()
        check_positive_ints(embed_dim=embed_dim, num_heads=num_heads)
        if embed_dim % num_heads:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^Q for all heads at once
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^K
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^V
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^O

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, E) -> (B, heads, T, E / heads)."""
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

    def merge_heads(self, x: Tensor) -> Tensor:
        """(B, heads, T, E / heads) -> (B, T, E): the concatenation in eq. (eq-attention-mha)."""
        B, _, T, _ = x.shape
        return x.transpose(1, 2).reshape(B, T, self.embed_dim)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        *,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Return `(output (B, T_q, E), weights (B, heads, T_q, T_k))`.

        `key_padding_mask` `(B, T_k)`: True = padding (torch's convention). `mask`: bool,
        broadcastable to `(B, heads, T_q, T_k)`, True = may attend (e.g. `causal_mask(T)`).
        """
        self._check_inputs(query, key, value, key_padding_mask, mask)
        allowed = mask
        if key_padding_mask is not None:
            keep = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, T_k), True = may attend
            allowed = keep if allowed is None else allowed & keep

        Q = self.split_heads(self.q_proj(query))  # (B, h, T_q, d)
        K = self.split_heads(self.k_proj(key))  # (B, h, T_k, d)
        V = self.split_heads(self.v_proj(value))  # (B, h, T_k, d)
        heads, weights = scaled_dot_product_attention(
            Q, K, V, allowed, check=False
        )  # (B, h, T_q, d)
        return self.out_proj(self.merge_heads(heads)), weights

    def _check_inputs(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None,
        mask: Tensor | None,
    ) -> None:
        for name, x in (("query", query), ("key", key), ("value", value)):
            check_tensor(
                x,
                name,
                "B, T, embed_dim",
                dtype="float",
                hint=" (batch first)",
                embed_dim=self.embed_dim,
            )
        check_same("batch size", query=query.shape[0], key=key.shape[0], value=value.shape[0])
        check_same("length T_k", key=key.shape[1], value=value.shape[1])
        B, T_q, T_k = query.shape[0], query.shape[1], key.shape[1]
        if key_padding_mask is not None:
            check_mask(
                key_padding_mask,
                "B, T_k",
                "key_padding_mask",
                bool_only=True,
                meaning="padding, ignored",
                B=B,
                T_k=T_k,
            )
        if mask is not None:
            check_mask(mask, name="mask", bool_only=True, meaning="may attend")
            _check_broadcast(mask, (B, self.num_heads, T_q, T_k))

    @classmethod
    def from_torch(cls, m: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of `torch.nn.MultiheadAttention` `m` (same weights, same outputs)."""
        if not isinstance(m, nn.MultiheadAttention):
            raise TypeError(f"m must be a torch.nn.MultiheadAttention, got {type(m).__name__}")
        if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
            raise ValueError(
                "from_torch supports kdim == vdim == embed_dim, add_bias_kv=False and "
                "add_zero_attn=False"
            )
        bias = m.in_proj_bias is not None
        new = cls(m.embed_dim, m.num_heads, bias=bias)
        new = new.to(device=m.in_proj_weight.device, dtype=m.in_proj_weight.dtype)
        E = m.embed_dim
        with torch.no_grad():
            for i, proj in enumerate((new.q_proj, new.k_proj, new.v_proj)):
                proj.weight.copy_(m.in_proj_weight[i * E : (i + 1) * E])
                if bias:
                    proj.bias.copy_(m.in_proj_bias[i * E : (i + 1) * E])
            new.out_proj.weight.copy_(m.out_proj.weight)
            if bias:
                new.out_proj.bias.copy_(m.out_proj.bias)
        return new


class AttentionPooling(nn.Module):
    """Attention pooling, eq. (eq-attention-pool): a learned query attends over a sequence.

    `alpha = softmax(q . (W_k h_t + b_k) / sqrt(dim))` over the real tokens and
    `pooled = sum_t alpha_t h_t`. The query `q` starts at zero, so an untrained layer is exactly
    mean pooling over the real tokens.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        check_positive_ints(dim=dim)
        self.dim = dim
        self.key_proj = nn.Linear(dim, dim)  # W_k, b_k
        self.query = nn.Parameter(torch.zeros(dim))  # q

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x `(B, T, dim)`, mask `(B, T)` True = real token -> `(pooled (B, dim), weights (B, T))`.

        A sequence with no real token pools to the zero vector.
        """
        check_tensor(x, "x", "B, T, dim", dtype="float", dim=self.dim)
        if mask is not None:
            B, T = x.shape[:2]
            check_mask(mask, "B, T", bool_only=True, meaning="real token", B=B, T=T)
        return self._forward(x, mask)

    def _forward(self, x: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """`forward` without its checks, for a model that has checked x and mask."""
        allowed = None if mask is None else mask[:, None, :]  # (B, 1, T)
        keys = self.key_proj(x)  # (B, T, dim)
        q = self.query.expand(x.shape[0], 1, self.dim)  # (B, 1, dim)
        pooled, weights = scaled_dot_product_attention(q, keys, x, allowed, check=False)
        return pooled.squeeze(1), weights.squeeze(1)  # (B, dim), (B, T)


# ----------------------------------------------------------------------------- additive attention

__all__ += ["AdditiveAttention", "additive_attention"]


def additive_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    W_q: Tensor,
    W_k: Tensor,
    v_a: Tensor,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Additive (Bahdanau) attention, eq. (eq-attention-additive): score(q, k) =
    v_a^T tanh(W_q q + W_k k), a softmax over the keys, a weighted sum of the values.

    Shapes: query `(..., T_q, d_q)`, key `(..., T_k, d_k)`, value `(..., T_k, d_v)`, W_q
    `(d_a, d_q)`, W_k `(d_a, d_k)`, v_a `(d_a,)`; queries and keys may differ in width. `mask`
    is that of `scaled_dot_product_attention`: bool, broadcastable to `(..., T_q, T_k)`,
    True = may attend, and a row that may attend nowhere gets zero weights and a zero output.
    Returns `(output (..., T_q, d_v), weights (..., T_q, T_k))`. The tanh layer holds
    `(..., T_q, T_k, d_a)` numbers: d_a times what the dot product's scores need.
    """
    _check_additive_inputs(query, key, value, W_q, W_k, v_a, mask)
    q = query @ W_q.T  # (..., T_q, d_a)
    k = key @ W_k.T  # (..., T_k, d_a)
    hidden = torch.tanh(q.unsqueeze(-2) + k.unsqueeze(-3))  # (..., T_q, T_k, d_a)
    scores = hidden @ v_a  # (..., T_q, T_k)
    if mask is None:
        weights = torch.softmax(scores, dim=-1)
        return weights @ value, weights
    mask = mask.to(scores.device)  # the masking of scaled_dot_product_attention
    allowed = mask.any(dim=-1, keepdim=True)  # (..., T_q, 1)
    scores = scores.masked_fill(~mask, float("-inf")).masked_fill(~allowed, 0.0)
    weights = torch.softmax(scores, dim=-1) * allowed  # (..., T_q, T_k)
    return weights @ value, weights


def _check_additive_inputs(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    W_q: Tensor,
    W_k: Tensor,
    v_a: Tensor,
    mask: Tensor | None,
) -> None:
    """The checks of `additive_attention`: float tensors whose sizes fit together."""
    check_tensor(query, "query", "..., T_q, d_q", dtype="float")
    check_tensor(key, "key", "..., T_k, d_k", dtype="float")
    check_tensor(value, "value", "..., T_k, d_v", dtype="float")
    check_same("length T_k (dimension -2)", key=key.shape[-2], value=value.shape[-2])
    check_tensor(v_a, "v_a", "d_a", dtype="float")
    d_a, d_q, d_k = v_a.shape[0], query.shape[-1], key.shape[-1]
    check_tensor(W_q, "W_q", "d_a, d_q", dtype="float", d_a=d_a, d_q=d_q)
    check_tensor(W_k, "W_k", "d_a, d_k", dtype="float", d_a=d_a, d_k=d_k)
    tensors = (query, key, value, W_q, W_k, v_a)
    if len({t.dtype for t in tensors}) > 1:
        raise TypeError(
            "query, key, value, W_q, W_k and v_a must share a dtype, got "
            f"{[str(t.dtype) for t in tensors]}"
        )
    _check_batch_and_mask(query, key, value, mask)


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention with learned W_q, W_k and v_a, eq. (eq-attention-additive).

    `forward(query, key, value, mask=None)` is `additive_attention` with this module's weights:
    query `(..., T_q, query_dim)`, key `(..., T_k, key_dim)`, value `(..., T_k, d_v)`.
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int) -> None:
        super().__init__()
        check_positive_ints(query_dim=query_dim, key_dim=key_dim, hidden_dim=hidden_dim)
        self.W_q = nn.Linear(query_dim, hidden_dim, bias=False)  # W_q (d_a, d_q)
        self.W_k = nn.Linear(key_dim, hidden_dim, bias=False)  # W_k (d_a, d_k)
        self.v_a = nn.Parameter(torch.empty(hidden_dim))  # v_a (d_a,)
        bound = hidden_dim**-0.5  # as nn.Linear initialises a layer with hidden_dim inputs
        nn.init.uniform_(self.v_a, -bound, bound)

    def forward(
        self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Return `(output (..., T_q, d_v), weights (..., T_q, T_k))`; mask True = may attend."""
        W_q, W_k = self.W_q.weight, self.W_k.weight
        return additive_attention(query, key, value, W_q, W_k, self.v_a, mask)
