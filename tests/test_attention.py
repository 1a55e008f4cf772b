"""Pin seqbook.attention to torch: eq-attention-sdpa, eq-attention-mha, eq-attention-pool."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqbook.attention import (
    AttentionPooling,
    MultiHeadAttention,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from seqbook.checks.attention import (
    check_attention_pooling,
    check_causal_mask,
    check_multi_head_attention,
    check_padding_mask,
    check_scaled_dot_product_attention,
)

F64 = torch.float64
ATOL = 1e-12

SHAPES = [  # (query shape, key shape, d_v)
    ((3, 4), (3, 4), 4),  # no batch dimension
    ((2, 5, 8), (2, 7, 8), 3),  # 3-D, T_q != T_k, d_v != d_k
    ((2, 3, 6, 4), (2, 3, 9, 4), 5),  # 4-D (batch, heads)
    ((2, 3, 6, 4), (1, 3, 9, 4), 5),  # broadcast batch dimension
]


def _qkv(q_shape, k_shape, d_v, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*q_shape, generator=g, dtype=F64)
    k = torch.randn(*k_shape, generator=g, dtype=F64)
    v = torch.randn(*k_shape[:-1], d_v, generator=g, dtype=F64)
    return [t.requires_grad_(requires_grad) for t in (q, k, v)]


def _random_mask(shape, seed=1):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(*shape, generator=g) > 0.5
    mask[..., 0] = True  # keep every row non-empty: torch gives NaN for empty rows
    return mask


@pytest.mark.parametrize(("q_shape", "k_shape", "d_v"), SHAPES)
def test_sdpa_matches_torch_without_mask(q_shape, k_shape, d_v):
    q, k, v = _qkv(q_shape, k_shape, d_v)
    out, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=ATOL, rtol=0)
    expected_w = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
    torch.testing.assert_close(weights, expected_w, atol=ATOL, rtol=0)


@pytest.mark.parametrize(("q_shape", "k_shape", "d_v"), SHAPES)
def test_sdpa_matches_torch_with_bool_mask(q_shape, k_shape, d_v):
    q, k, v = _qkv(q_shape, k_shape, d_v)
    mask = _random_mask((*q_shape[:-1], k_shape[-2]))
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)


def test_sdpa_matches_torch_with_causal_mask_4d():
    q, k, v = _qkv((2, 3, 7, 4), (2, 3, 7, 4), 4)
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(7))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    assert torch.all(weights.triu(diagonal=1) == 0)


def test_sdpa_broadcasts_a_key_mask_over_queries():
    q, k, v = _qkv((2, 5, 4), (2, 6, 4), 3)
    keys = padding_mask(torch.tensor([6, 2]))  # (2, 6), True = real token
    out, weights = scaled_dot_product_attention(q, k, v, keys[:, None, :])  # (2, 1, 6)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=keys[:, None, :])
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    assert torch.all(weights[1, :, 2:] == 0)


def test_sdpa_weight_rows_sum_to_one_and_masked_positions_get_zero():
    q, k, v = _qkv((2, 3, 6, 4), (2, 3, 9, 4), 5)
    mask = _random_mask((2, 3, 6, 9))
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 6, dtype=F64))
    assert torch.all(weights[~mask] == 0)
    assert torch.all(weights[mask] > 0)


def test_sdpa_row_that_may_attend_nowhere_gets_zero_weights_and_output():
    q, k, v = _qkv((2, 4, 4), (2, 5, 4), 3, requires_grad=True)
    mask = torch.ones(2, 4, 5, dtype=torch.bool)
    mask[0, 1] = False
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(weights[0, 1] == 0)
    assert torch.all(out[0, 1] == 0)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    assert torch.all(q.grad[0, 1] == 0)  # the empty row depends on nothing
    # the other rows are unaffected by the empty one
    ref, _ = scaled_dot_product_attention(q[1:], k[1:], v[1:])
    torch.testing.assert_close(out[1:], ref, atol=ATOL, rtol=0)


def test_sdpa_gradients_match_torch():
    q, k, v = _qkv((2, 3, 5, 4), (2, 3, 6, 4), 3, requires_grad=True)
    mask = _random_mask((2, 1, 5, 6))
    g = torch.randn(2, 3, 5, 3, dtype=F64, generator=torch.Generator().manual_seed(3))
    (scaled_dot_product_attention(q, k, v, mask)[0] * g).sum().backward()
    ours = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    (F.scaled_dot_product_attention(q, k, v, attn_mask=mask) * g).sum().backward()
    for mine, theirs, name in zip(ours, (q.grad, k.grad, v.grad), "qkv", strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-11, rtol=0, msg=f"grad of {name}")


def test_sdpa_scale_overrides_one_over_sqrt_dk():
    q, k, v = _qkv((2, 5, 8), (2, 5, 8), 8)
    out, _ = scaled_dot_product_attention(q, k, v, scale=0.3)
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, scale=0.3), atol=ATOL, rtol=0
    )


def test_sdpa_passes_gradcheck():
    q, k, v = _qkv((1, 3, 4), (1, 4, 4), 2, requires_grad=True)
    mask = _random_mask((1, 3, 4))
    assert torch.autograd.gradcheck(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, mask), (q, k, v)
    )


@pytest.mark.parametrize(
    ("q_shape", "k_shape", "v_shape", "match"),
    [
        ((2, 5, 8), (2, 7, 6), (2, 7, 3), "same last dimension d_k"),
        ((2, 5, 8), (2, 7, 8), (2, 6, 3), "same length T_k"),
        ((2, 5, 8), (3, 7, 8), (3, 7, 3), "must broadcast"),
        ((8,), (7, 8), (7, 3), r"query must have shape \(..., T_q, d_k\), got \(8,\)"),
    ],
)
def test_sdpa_rejects_mismatched_shapes_with_clear_errors(q_shape, k_shape, v_shape, match):
    q, k, v = (torch.randn(*s) for s in (q_shape, k_shape, v_shape))
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(q, k, v)


def test_sdpa_rejects_a_non_bool_mask():
    q, k, v = _qkv((2, 5, 4), (2, 5, 4), 4)
    with pytest.raises(TypeError, match=r"mask must be a bool tensor.*got dtype torch.int64"):
        scaled_dot_product_attention(q, k, v, torch.ones(2, 5, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        scaled_dot_product_attention(q, k, v, torch.zeros(2, 5, 5))


def test_sdpa_rejects_a_mask_that_does_not_broadcast():
    q, k, v = _qkv((2, 5, 4), (2, 6, 4), 4)
    with pytest.raises(ValueError, match=r"broadcastable to \(..., T_q, T_k\) = \(2, 5, 6\)"):
        scaled_dot_product_attention(q, k, v, torch.ones(2, 5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="broadcastable"):  # would grow the batch
        scaled_dot_product_attention(q, k, v, torch.ones(3, 2, 5, 6, dtype=torch.bool))


def test_sdpa_rejects_integer_inputs_and_mixed_dtypes():
    q, k, v = _qkv((2, 5, 4), (2, 5, 4), 4)
    with pytest.raises(TypeError, match="query must be a floating-point tensor"):
        scaled_dot_product_attention(q.long(), k, v)
    with pytest.raises(TypeError, match="share a dtype"):
        scaled_dot_product_attention(q.float(), k, v)


# ----------------------------------------------------------------------------- masks


def test_padding_mask_is_true_on_real_tokens():
    mask = padding_mask(torch.tensor([3, 1, 0]), max_len=4)
    expected = torch.tensor(
        [[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool
    )  # True = real token
    assert mask.dtype == torch.bool
    assert torch.equal(mask, expected)
    assert padding_mask(torch.tensor([2, 5])).shape == (2, 5)


def test_padding_mask_rejects_bad_lengths():
    with pytest.raises(ValueError, match=r"lengths must have shape \(B,\)"):
        padding_mask(torch.tensor([[3, 2]]))
    with pytest.raises(ValueError, match="lengths must be an integer tensor"):
        padding_mask(torch.tensor([3.0, 2.0]))
    with pytest.raises(ValueError, match=r"lengths must be at least 0, got \[3, -1\]"):
        padding_mask(torch.tensor([3, -1]))
    with pytest.raises(ValueError, match="shorter than the longest length 5"):
        padding_mask(torch.tensor([5, 2]), max_len=4)


def test_causal_mask_lets_position_i_see_only_positions_up_to_i():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    for i in range(4):
        for j in range(4):
            assert bool(mask[i, j]) == (j <= i)
    with pytest.raises(ValueError, match="T must be a non-negative int"):
        causal_mask(2.0)


# ----------------------------------------------------------------------------- multi-head


def _torch_and_ours(E=16, heads=4, bias=True, seed=0):
    torch.manual_seed(seed)
    ref = torch.nn.MultiheadAttention(E, heads, bias=bias, batch_first=True).double()
    return ref, MultiHeadAttention.from_torch(ref)


@pytest.mark.parametrize("bias", [True, False])
def test_mha_matches_torch_self_attention(bias):
    ref, ours = _torch_and_ours(bias=bias)
    x = torch.randn(3, 6, 16, dtype=F64)
    expected, expected_w = ref(x, x, x, average_attn_weights=False)
    out, weights = ours(x, x, x)
    assert weights.shape == (3, 4, 6, 6)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(weights, expected_w, atol=ATOL, rtol=0)


def test_mha_matches_torch_cross_attention_with_key_padding_mask():
    ref, ours = _torch_and_ours(E=12, heads=3)
    q, kv = torch.randn(2, 4, 12, dtype=F64), torch.randn(2, 7, 12, dtype=F64)
    kpm = ~padding_mask(torch.tensor([7, 3]))  # True = padding, torch's convention
    expected, expected_w = ref(q, kv, kv, key_padding_mask=kpm, average_attn_weights=False)
    out, weights = ours(q, kv, kv, key_padding_mask=kpm)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(weights, expected_w, atol=ATOL, rtol=0)
    assert torch.all(weights[1, :, :, 3:] == 0)


def test_mha_matches_torch_with_causal_mask():
    ref, ours = _torch_and_ours()
    x = torch.randn(2, 5, 16, dtype=F64)
    # torch's MultiheadAttention bool attn_mask means True = NOT allowed: the opposite of ours
    expected, _ = ref(x, x, x, attn_mask=~causal_mask(5))
    out, weights = ours(x, x, x, mask=causal_mask(5))
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    assert torch.all(weights.triu(diagonal=1) == 0)


def test_mha_gradients_match_torch():
    ref, ours = _torch_and_ours()
    x = torch.randn(2, 5, 16, dtype=F64, requires_grad=True)
    kpm = ~padding_mask(torch.tensor([5, 3]))
    ref(x, x, x, key_padding_mask=kpm)[0].pow(2).sum().backward()
    grad_x_ref = x.grad.clone()
    x.grad = None
    ours(x, x, x, key_padding_mask=kpm)[0].pow(2).sum().backward()
    torch.testing.assert_close(x.grad, grad_x_ref, atol=1e-11, rtol=0)
    torch.testing.assert_close(
        torch.cat([ours.q_proj.weight.grad, ours.k_proj.weight.grad, ours.v_proj.weight.grad]),
        ref.in_proj_weight.grad,
        atol=1e-11,
        rtol=0,
    )
    torch.testing.assert_close(
        ours.out_proj.weight.grad, ref.out_proj.weight.grad, atol=1e-11, rtol=0
    )


def test_mha_fully_padded_sequence_gives_finite_output_where_torch_gives_nan():
    ref, ours = _torch_and_ours()
    x = torch.randn(2, 3, 16, dtype=F64)
    kpm = torch.tensor([[False, False, False], [True, True, True]])
    out, weights = ours(x, x, x, key_padding_mask=kpm)
    assert torch.all(weights[1] == 0)
    torch.testing.assert_close(out[1], ours.out_proj.bias.expand(3, 16))  # zero heads, + b_O
    torch.testing.assert_close(out[0], ref(x, x, x, key_padding_mask=kpm)[0][0], atol=ATOL, rtol=0)


def test_mha_splits_and_merges_heads_as_inverses():
    mha = MultiHeadAttention(12, 3)
    x = torch.randn(2, 5, 12)
    assert mha.split_heads(x).shape == (2, 3, 5, 4)
    assert torch.equal(mha.merge_heads(mha.split_heads(x)), x)
    assert torch.equal(mha.split_heads(x)[:, 1], x[..., 4:8])  # head 1 owns features 4..7


def test_mha_rejects_bad_configuration_and_inputs():
    with pytest.raises(ValueError, match=r"embed_dim \(10\) must be divisible by num_heads \(4\)"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="num_heads must be a positive int"):
        MultiHeadAttention(8, 0)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match=r"query must have shape \(B, T, embed_dim=8\)"):
        mha(torch.randn(2, 5, 6), x, x)
    with pytest.raises(ValueError, match="same batch size"):
        mha(x, torch.randn(3, 5, 8), torch.randn(3, 5, 8))
    with pytest.raises(ValueError, match="same length T_k"):
        mha(x, x, torch.randn(2, 4, 8))
    with pytest.raises(TypeError, match=r"key_padding_mask must be a bool tensor \(True = padding"):
        mha(x, x, x, key_padding_mask=torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(B=2, T_k=5\)"):
        mha(x, x, x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be broadcastable"):
        mha(x, x, x, mask=causal_mask(4))
    with pytest.raises(TypeError, match="torch.nn.MultiheadAttention"):
        MultiHeadAttention.from_torch(torch.nn.Linear(8, 8))
    with pytest.raises(ValueError, match="kdim == vdim == embed_dim"):
        MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(8, 2, kdim=4, vdim=4))


# ----------------------------------------------------------------------------- pooling


def test_attention_pooling_starts_as_mean_pooling_over_real_tokens():
    pool = AttentionPooling(6).double()
    x = torch.randn(2, 5, 6, dtype=F64)
    mask = padding_mask(torch.tensor([5, 2]))
    pooled, weights = pool(x, mask)
    assert pooled.shape == (2, 6) and weights.shape == (2, 5)
    torch.testing.assert_close(pooled[0], x[0].mean(0))
    torch.testing.assert_close(pooled[1], x[1, :2].mean(0))
    assert torch.all(weights[1, 2:] == 0)


def test_attention_pooling_follows_its_equation():
    torch.manual_seed(0)
    pool = AttentionPooling(4).double()
    with torch.no_grad():
        pool.query.normal_()
    x = torch.randn(3, 6, 4, dtype=F64)
    mask = padding_mask(torch.tensor([6, 4, 1]))
    pooled, weights = pool(x, mask)
    scores = pool.key_proj(x) @ pool.query / 2.0  # sqrt(dim) = 2
    alpha = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    torch.testing.assert_close(weights, alpha, atol=ATOL, rtol=0)
    torch.testing.assert_close(pooled, (alpha[..., None] * x).sum(1), atol=ATOL, rtol=0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, dtype=F64))


def test_attention_pooling_empty_sequence_pools_to_zero_and_trains():
    pool = AttentionPooling(4)
    x = torch.randn(2, 3, 4)
    pooled, _ = pool(x, torch.tensor([[True, True, False], [False, False, False]]))
    assert torch.all(pooled[1] == 0)
    pooled.sum().backward()
    assert pool.query.grad is not None and torch.isfinite(pool.query.grad).all()
    assert pool.query.grad.abs().sum() > 0


def test_attention_pooling_rejects_bad_inputs():
    pool = AttentionPooling(4)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, dim=4\)"):
        pool(torch.randn(2, 3, 5))
    with pytest.raises(TypeError, match=r"mask must be a bool tensor \(True = real token\)"):
        pool(torch.randn(2, 3, 4), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"mask must have shape \(B=2, T=3\), got \(2, 4\)"):
        pool(torch.randn(2, 3, 4), torch.ones(2, 4, dtype=torch.bool))


# ----------------------------------------------------------------------------- exercise checks


def test_checks_pass_the_reference_implementations():
    reports = [
        check_scaled_dot_product_attention(scaled_dot_product_attention),
        check_padding_mask(padding_mask),
        check_causal_mask(causal_mask),
        check_multi_head_attention(lambda m, q, k, v, kpm=None: m(q, k, v, kpm)),
        check_attention_pooling(lambda layer, x, mask: layer(x, mask)),
    ]
    for report in reports:
        assert report.ok, str(report)


def test_checks_catch_a_missing_scale_and_a_flipped_mask():
    def unscaled(q, k, v, mask=None):
        return scaled_dot_product_attention(q, k, v, mask, scale=1.0)

    report = check_scaled_dot_product_attention(unscaled)
    assert not report.ok and "weights: values differ" in str(report)
    report = check_padding_mask(lambda lengths, max_len=None: ~padding_mask(lengths, max_len))
    assert report.passed == 0


def test_checks_report_unimplemented_stubs_without_crashing():
    def stub(*args):
        raise NotImplementedError

    report = check_multi_head_attention(stub)
    assert report.passed == 0 and "not implemented yet" in str(report)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sdpa_and_mha_match_torch_on_cuda():
    q, k, v = (t.cuda() for t in _qkv((2, 3, 6, 4), (2, 3, 9, 4), 5))
    mask = _random_mask((2, 1, 6, 9)).cuda()
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=0)
    assert weights.device.type == "cuda"
    ref, _ = _torch_and_ours()
    ref = ref.cuda()
    ours = MultiHeadAttention.from_torch(ref)
    assert ours.q_proj.weight.device.type == "cuda"
    x = torch.randn(2, 5, 16, dtype=F64, device="cuda")
    kpm = ~padding_mask(torch.tensor([5, 3], device="cuda"))
    expected_out, _ = ref(x, x, x, key_padding_mask=kpm)
    torch.testing.assert_close(ours(x, x, x, kpm)[0], expected_out, atol=1e-10, rtol=0)


# ----------------------------------------------------------------------------- checked once


def test_the_modules_check_their_inputs_once_not_again_in_the_attention(monkeypatch):
    import seqbook.attention as attention

    calls = []
    check = attention._check_attention_inputs
    monkeypatch.setattr(
        attention, "_check_attention_inputs", lambda *args: calls.append(1) or check(*args)
    )
    x = torch.randn(2, 5, 8)
    MultiHeadAttention(8, 2)(x, x, x, key_padding_mask=~padding_mask(torch.tensor([5, 2])))
    AttentionPooling(8)(x, padding_mask(torch.tensor([5, 2])))
    assert calls == []  # both checked x and the masks themselves
    scaled_dot_product_attention(x, x, x)
    assert calls == [1]


def test_attention_pooling_unchecked_path_gives_what_forward_gives():
    pool = AttentionPooling(4)
    torch.nn.init.normal_(pool.query)
    x, mask = torch.randn(2, 3, 4), padding_mask(torch.tensor([3, 1]))
    for got, want in zip(pool._forward(x, mask), pool(x, mask), strict=True):
        assert torch.equal(got, want)


def test_padding_mask_rejects_ragged_lengths_by_name():
    with pytest.raises(TypeError, match="lengths must be a 1-D integer tensor or list, got list"):
        padding_mask([[3, 2], [1]])


# --------------------------------------------------------------------------- numbers of any kind
def test_mask_builders_accept_numpy_integers():
    assert causal_mask(np.int64(3)).equal(causal_mask(3))
    lengths = torch.tensor([1, 2])
    assert padding_mask(lengths, np.int64(4)).equal(padding_mask(lengths, 4))


# --------------------------------------------------------------------------- bad input, refused
def test_padding_mask_refuses_a_bool_max_len():
    # True used to be read as max_len=1
    with pytest.raises(ValueError, match="max_len must be a non-negative int or None, got True"):
        padding_mask(torch.tensor([1, 1]), True)


@pytest.mark.parametrize(
    ("scale", "error", "match"),
    [
        (float("nan"), ValueError, "scale must be a finite number, got nan"),
        (float("inf"), ValueError, "scale must be a finite number, got inf"),
        ("0.5", TypeError, "scale must be a number, got str"),
    ],
)
def test_sdpa_refuses_a_scale_that_would_poison_every_weight(scale, error, match):
    q = torch.randn(1, 2, 4)
    with pytest.raises(error, match=match):
        scaled_dot_product_attention(q, q, q, scale=scale)


# ----------------------------------------------------------------------------- additive attention


def test_additive_attention_matches_a_hand_computation():
    """eq-attention-additive on two keys, W_q = W_k = I, v_a = (1, 1), worked by hand:
    query 1 = (1, 0): scores v_a . tanh((1, 0) + k) = tanh(1) = 0.761594 for k = (0, 0) and
    tanh(2) = 0.964028 for k = (1, 0); softmax: e^0.761594 = 2.141688, e^0.964028 = 2.622237,
    weights 2.141688 / 4.763925 = 0.449564 and 0.550436; output 0.449564 (1, 0) +
    0.550436 (0, 2) = (0.449564, 1.100872).
    query 2 = (0, 1): scores tanh(0) + tanh(1) = 0.761594 and tanh(1) + tanh(1) = 1.523188;
    weights 1 / (1 + e^0.761594) = 0.318300 and 0.681700."""
    from seqbook.attention import AdditiveAttention, additive_attention

    query = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)  # (T_q, d_q) = (2, 2)
    key = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=F64)  # (T_k, d_k) = (2, 2)
    value = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=F64)  # (T_k, d_v) = (2, 2)
    eye, v_a = torch.eye(2, dtype=F64), torch.ones(2, dtype=F64)
    out, weights = additive_attention(query, key, value, eye, eye, v_a)
    hand = torch.tensor([[0.449564, 0.550436], [0.318300, 0.681700]], dtype=F64)
    assert torch.allclose(weights, hand, atol=1e-6)
    assert torch.allclose(out[0], torch.tensor([0.449564, 1.100872], dtype=F64), atol=1e-6)
    assert torch.allclose(out, weights @ value)

    module = AdditiveAttention(2, 2, 2).double()
    with torch.no_grad():
        module.W_q.weight.copy_(eye), module.W_k.weight.copy_(eye), module.v_a.copy_(v_a)
    for got, want in zip(module(query, key, value), (out, weights), strict=True):
        assert torch.equal(got, want)


def test_additive_attention_masks_as_scaled_dot_product_does():
    from seqbook.attention import AdditiveAttention

    torch.manual_seed(0)
    attention = AdditiveAttention(query_dim=3, key_dim=5, hidden_dim=4)  # d_q != d_k is fine
    q, k, v = torch.randn(2, 4, 3), torch.randn(2, 6, 5), torch.randn(2, 6, 7)
    mask = padding_mask(torch.tensor([6, 2]))[:, None, :] & causal_mask(6)[:4]  # (2, 4, 6)
    mask[1, 0] = False  # a query that may attend nowhere
    out, weights = attention(q, k, v, mask)
    assert out.shape == (2, 4, 7) and weights.shape == (2, 4, 6)
    assert bool((weights[~mask] == 0).all())
    assert torch.allclose(weights[0].sum(-1), torch.ones(4))
    assert bool((weights[1, 0] == 0).all()) and bool((out[1, 0] == 0).all())
    out.sum().backward()  # no NaN from the empty row
    assert all(torch.isfinite(p.grad).all() for p in attention.parameters())
    one, _ = attention(q[:1, :1], k[:1], v[:1], mask[:1, :1])  # the same row, alone
    assert torch.allclose(one[0, 0], out[0, 0], atol=1e-6)


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"W_q": torch.eye(3)}, ValueError, r"W_q must have shape \(d_a=2, d_q=2\)"),
        ({"v_a": torch.ones(2, 1)}, ValueError, "v_a must have shape"),
        ({"value": torch.ones(3, 2)}, ValueError, "length T_k"),
        ({"mask": torch.ones(2, 2)}, TypeError, "mask must be a bool tensor"),
        ({"mask": torch.ones(3, 2, dtype=torch.bool)}, ValueError, "mask must be broadcastable"),
        ({"W_k": torch.eye(2, dtype=F64)}, TypeError, "must share a dtype"),
        ({"query": [[1.0, 0.0]]}, TypeError, "query must be a tensor"),
    ],
)
def test_additive_attention_refuses_bad_inputs_by_name(change, error, match):
    from seqbook.attention import additive_attention

    args = {
        "query": torch.ones(2, 2),
        "key": torch.ones(2, 2),
        "value": torch.ones(2, 2),
        "W_q": torch.eye(2),
        "W_k": torch.eye(2),
        "v_a": torch.ones(2),
        "mask": None,
    }
    with pytest.raises(error, match=match):
        additive_attention(**(args | change))
