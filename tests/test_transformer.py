"""The Transformer encoder layer of chapter 6: `seqbook.albert.AlbertLayer` against transformers'
`AlbertLayer`, GELU, LayerNorm and position information."""

from __future__ import annotations

import pytest
import torch
from transformers import AlbertConfig
from transformers.activations import ACT2FN
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.albert.modeling_albert import AlbertLayer as HFAlbertLayer

from seqbook.albert import ACTIVATIONS, AlbertEncoder, AlbertLayer


def layer_config(**overrides) -> AlbertConfig:
    values = dict(
        vocab_size=50,
        embedding_size=16,
        hidden_size=32,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_act="gelu_new",
        attn_implementation="eager",
    )
    return AlbertConfig(**(values | overrides))


def padded_inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(3, 7, 32, generator=g)  # (B, T, H)
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[1, 4:], mask[2, 2:] = 0, 0
    return hidden, mask


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
@pytest.mark.parametrize("activation", ["gelu_new", "gelu"])
@pytest.mark.parametrize("padded", [True, False])
def test_layer_matches_transformers_albert_layer(implementation, activation, padded):
    config = layer_config(attn_implementation=implementation, hidden_act=activation)
    torch.manual_seed(0)
    hf = HFAlbertLayer(config).eval()
    ours = AlbertLayer.from_hf(hf).eval()
    hidden, mask = padded_inputs()
    if not padded:
        mask = torch.ones_like(mask)
    hf_mask = create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask)
    with torch.no_grad():
        want = hf(hidden, hf_mask)
        got = ours(hidden, mask)
    # every position, padded queries included: both attend from them to the real keys only.
    # Eager attention does the same operations in the same order; torch's fused kernel sums in
    # another order (float32 rounding, up to ~1e-6 measured across CPU kernels)
    atol = 1e-6 if implementation == "eager" else 2e-6
    torch.testing.assert_close(got, want, atol=atol, rtol=0)


def test_layer_is_one_step_of_the_encoder():
    config = layer_config(num_hidden_layers=1)
    torch.manual_seed(1)
    encoder = AlbertEncoder(config, sharing="none").eval()
    layer = AlbertLayer(config).eval()
    layer.attention.load_state_dict(encoder.attention_blocks[0].state_dict())
    layer.feed_forward.load_state_dict(encoder.ffn_blocks[0].state_dict())
    ids = torch.randint(1, 50, (3, 7), generator=torch.Generator().manual_seed(2))
    _, mask = padded_inputs()
    with torch.no_grad():
        h0, h1 = encoder.hidden_states(ids, mask)
        torch.testing.assert_close(layer(h0, mask), h1, atol=0, rtol=0)


def test_padding_does_not_reach_real_tokens():
    torch.manual_seed(3)
    layer = AlbertLayer(layer_config()).eval()
    hidden, mask = padded_inputs()
    noisy = hidden.clone()
    noisy[mask == 0] = 100.0  # whatever sits at padded positions
    with torch.no_grad():
        real = mask.bool()
        torch.testing.assert_close(layer(noisy, mask)[real], layer(hidden, mask)[real])


def test_self_attention_layer_is_permutation_equivariant_without_positions():
    torch.manual_seed(4)
    layer = AlbertLayer(layer_config()).eval()
    hidden = torch.randn(2, 6, 32)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        torch.testing.assert_close(layer(hidden[:, perm]), layer(hidden)[:, perm])


def test_gelu_new_equals_transformers_and_stays_close_to_exact_gelu():
    x = torch.linspace(-6, 6, 2001)
    torch.testing.assert_close(ACTIVATIONS["gelu_new"](x), ACT2FN["gelu_new"](x))
    torch.testing.assert_close(ACTIVATIONS["gelu"](x), ACT2FN["gelu"](x))
    gap = (ACTIVATIONS["gelu_new"](x) - ACTIVATIONS["gelu"](x)).abs().max().item()
    assert 1e-5 < gap < 1e-3  # an approximation, not the same function


def test_layer_rejects_bad_inputs():
    layer = AlbertLayer(layer_config())
    with pytest.raises(ValueError, match=r"hidden must have shape \(B, T, H=32\), got \(7, 32\)"):
        layer(torch.zeros(7, 32))
    with pytest.raises(
        ValueError, match=r"hidden must have shape \(B, T, H=32\), got \(2, 7, 16\)"
    ):
        layer(torch.zeros(2, 7, 16))
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(B=2, T=7\)"):
        layer(torch.zeros(2, 7, 32), torch.ones(2, 5))
    with pytest.raises(TypeError, match="layer must be transformers' AlbertLayer"):
        AlbertLayer.from_hf(torch.nn.Linear(2, 2))


def test_encoder_layer_check_passes_the_layer_and_fails_a_wrong_answer():
    from seqbook.checks.albert import check_encoder_layer

    assert check_encoder_layer(lambda layer, h, mask: layer(h, mask)).ok
    # forgetting the mask: the padded cases must fail
    report = check_encoder_layer(lambda layer, h, mask: layer(h))
    assert not report.ok and report.passed == 1

    # pre-LN instead of post-LN is a different function
    def pre_ln(layer, h, mask):
        a, f = layer.attention, layer.feed_forward
        x = a.LayerNorm(h)
        return h + a.dense(x) + f.ffn_output(f.activation(f.ffn(x)))

    assert not check_encoder_layer(pre_ln).ok


def test_layer_rejects_a_mask_of_other_values_and_integer_states(monkeypatch):
    layer = AlbertLayer(layer_config())
    hidden, mask = padded_inputs()
    with pytest.raises(
        ValueError, match=r"attention_mask must hold only 0 and 1 .*got values \[2\]"
    ):
        layer(hidden, mask * 2)
    with pytest.raises(TypeError, match="hidden must be a floating-point tensor, got dtype"):
        layer(hidden.long(), mask)


def test_layer_checks_its_inputs_once(monkeypatch):
    import seqbook.attention

    layer = AlbertLayer(layer_config()).eval()
    hidden, mask = padded_inputs()
    with torch.no_grad():
        want = layer(hidden, mask)

    def refuse(*args):
        raise AssertionError("attention inputs checked again")

    monkeypatch.setattr(seqbook.attention, "_check_attention_inputs", refuse)
    with torch.no_grad():
        assert torch.equal(layer(hidden, mask), want)
