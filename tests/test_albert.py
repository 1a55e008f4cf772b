"""seqbook.albert: equality with transformers.AlbertModel, sharing, parameter counts, errors."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_bert
from transformers import AlbertConfig, AlbertModel

from seqbook.albert import (
    SHARING_MODES,
    AlbertEncoder,
    count_parameters,
    count_parameters_meta,
    embedding_parameters,
    layer_distances,
    sharing_schedule,
)
from seqbook.checks.albert import (
    check_embedding_parameters,
    check_layer_distances,
    check_mask_tokens,
    check_parameter_count,
    check_sop_loss,
)


def tiny_config(**overrides) -> AlbertConfig:
    values = dict(
        vocab_size=97,
        embedding_size=12,
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=40,
        max_position_embeddings=32,
    )
    return AlbertConfig(**(values | overrides))


def padded_batch(config: AlbertConfig, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, config.vocab_size, (4, 9), generator=g)
    mask = torch.ones(4, 9, dtype=torch.long)
    mask[1, 6:], mask[2, 3:], mask[3, 1:] = 0, 0, 0
    ids[mask == 0] = config.pad_token_id
    types = torch.zeros_like(ids)
    types[:, 4:] = 1
    return ids, mask, types


@pytest.mark.parametrize(
    "overrides",
    [
        dict(hidden_act="gelu_new"),
        dict(hidden_act="gelu", num_hidden_groups=3),
        dict(hidden_act="relu", num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2),
        dict(hidden_act="silu", inner_group_num=2),
        dict(hidden_act="gelu_pytorch_tanh", embedding_size=16, num_attention_heads=2),
        dict(hidden_act="tanh", num_hidden_layers=5, num_hidden_groups=2),
    ],
    ids=["gelu_new", "gelu-unshared", "relu-groups", "silu-inner", "E=H", "tanh-uneven-groups"],
)
def test_encoder_matches_transformers_with_padding(overrides):
    config = tiny_config(**overrides)
    torch.manual_seed(1)
    hf = AlbertModel(config).eval()
    ours = AlbertEncoder.from_hf(hf).eval()
    ids, mask, types = padded_batch(config)
    with torch.no_grad():
        want = hf(ids, attention_mask=mask, token_type_ids=types)
        got = ours(ids, mask, types)
    real = mask.bool()
    torch.testing.assert_close(got[real], want.last_hidden_state[real], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(ours.pool(got), want.pooler_output, atol=2e-5, rtol=1e-4)


def test_encoder_matches_transformers_without_mask_or_token_types():
    config = tiny_config()
    torch.manual_seed(2)
    hf = AlbertModel(config).eval()
    ids, _, _ = padded_batch(config)
    with torch.no_grad():
        torch.testing.assert_close(
            AlbertEncoder.from_hf(hf)(ids), hf(ids).last_hidden_state, atol=2e-5, rtol=1e-4
        )


def test_padding_does_not_change_real_token_states():
    config = tiny_config()
    torch.manual_seed(3)
    encoder = AlbertEncoder(config).eval()
    ids = torch.randint(5, config.vocab_size, (1, 5))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    mask = torch.tensor([[1] * 5 + [0] * 4])
    with torch.no_grad():
        torch.testing.assert_close(encoder(padded, mask)[:, :5], encoder(ids), atol=1e-5, rtol=0)


def test_from_hf_of_an_unshared_model_uses_sharing_none():
    hf = AlbertModel(tiny_config(num_hidden_groups=3))
    assert AlbertEncoder.from_hf(hf).sharing == "none"
    assert AlbertEncoder.from_hf(AlbertModel(tiny_config())).sharing == "all"


@pytest.mark.parametrize("sharing", ["all", "none"])
@pytest.mark.parametrize("pooler", [True, False])
def test_to_hf_gives_the_same_hidden_states(sharing, pooler):
    config = tiny_config()
    torch.manual_seed(4)
    ours = AlbertEncoder(config, sharing=sharing, pooler=pooler).eval()
    hf = ours.to_hf()
    assert (hf.pooler is not None) == pooler
    ids, mask, types = padded_batch(config)
    with torch.no_grad():
        want = ours(ids, mask, types)
        got = hf(ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    torch.testing.assert_close(got[mask.bool()], want[mask.bool()], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("sharing", ["attention", "ffn"])
def test_to_hf_rejects_sharing_transformers_cannot_express(sharing):
    with pytest.raises(ValueError, match=f"cannot express sharing='{sharing}'"):
        AlbertEncoder(tiny_config(), sharing=sharing).to_hf()


def test_save_pretrained_round_trip(tmp_path):
    config = tiny_config()
    torch.manual_seed(5)
    ours = AlbertEncoder(config).eval()
    ours.to_hf().save_pretrained(tmp_path)
    loaded = AlbertModel.from_pretrained(tmp_path).eval()
    ids, mask, _ = padded_batch(config)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(ids, attention_mask=mask).last_hidden_state[mask.bool()],
            ours(ids, mask)[mask.bool()],
            atol=2e-5,
            rtol=1e-4,
        )


def test_sharing_modes_reuse_exactly_the_shared_blocks():
    config = tiny_config(num_hidden_layers=4)
    expected = {
        "all": [(0, 0)] * 4,
        "attention": [(0, i) for i in range(4)],
        "ffn": [(i, 0) for i in range(4)],
        "none": [(i, i) for i in range(4)],
    }
    for sharing, schedule in expected.items():
        encoder = AlbertEncoder(config, sharing=sharing)
        assert encoder.schedule == schedule
        assert len(encoder.attention_blocks) == 1 + max(a for a, _ in schedule)
        assert len(encoder.ffn_blocks) == 1 + max(f for _, f in schedule)


def test_transformers_grouping_schedule():
    config = tiny_config(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)
    # layer i runs group int(i / (L / G)); each group runs its inner_group_num layers
    groups = [(0, 0), (1, 1)], [(2, 2), (3, 3)]
    assert sharing_schedule(config) == groups[0] + groups[0] + groups[1] + groups[1]


@pytest.mark.parametrize("sharing", SHARING_MODES)
@pytest.mark.parametrize("pooler", [True, False])
def test_parameter_count_equals_real_modules(sharing, pooler):
    config = tiny_config(num_hidden_layers=5)
    real = sum(p.numel() for p in AlbertEncoder(config, sharing, pooler=pooler).parameters())
    assert count_parameters(config, sharing, pooler).total == real
    assert count_parameters_meta(config, sharing, pooler) == real


@pytest.mark.parametrize("overrides", [{}, {"num_hidden_groups": 3}, {"inner_group_num": 2}])
def test_parameter_count_equals_transformers(overrides):
    config = tiny_config(**overrides)
    hf = AlbertModel(config)
    sharing = AlbertEncoder.from_hf(hf).sharing
    assert count_parameters(config, sharing).total == sum(p.numel() for p in hf.parameters())


def test_parameter_count_of_albert_base_is_about_12m_without_allocating():
    base = AlbertConfig(
        vocab_size=30000,
        embedding_size=128,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
    )
    assert 11.5e6 < count_parameters(base, "all").total < 12.5e6  # Lan et al. 2020: 12M
    bert_like = AlbertConfig(**(base.to_dict() | {"embedding_size": 768}))
    assert 108e6 < count_parameters(bert_like, "none").total < 111e6  # BERT-base: 108M


def test_embedding_parameters_is_the_factorised_cost():
    assert embedding_parameters(30000, 128, 768) == 30000 * 128 + 128 * 768
    with pytest.raises(ValueError, match="E must be a positive int"):
        embedding_parameters(30000, 0, 768)


def test_hidden_states_end_with_forward_output():
    config = tiny_config()
    encoder = AlbertEncoder(config).eval()
    ids, mask, types = padded_batch(config)
    with torch.no_grad():
        states = encoder.hidden_states(ids, mask, types)
        assert len(states) == config.num_hidden_layers + 1
        torch.testing.assert_close(states[-1], encoder(ids, mask, types))


def test_layer_distances_ignore_padding():
    h0 = torch.zeros(1, 3, 2)
    h1 = torch.tensor([[[3.0, 4.0], [3.0, 4.0], [100.0, 0.0]]])
    l2, cosine = layer_distances([h0 + 1, h1 + 1], torch.tensor([[1, 1, 0]]))
    torch.testing.assert_close(l2, torch.tensor([5.0]))
    assert cosine.shape == (1,) and 0 < cosine.item() < 1


# ----------------------------------------------------------------------------- errors


def test_unknown_sharing_mode_is_rejected():
    with pytest.raises(ValueError, match="sharing must be one of"):
        AlbertEncoder(tiny_config(), sharing="layers")


def test_hidden_size_not_divisible_by_heads_is_rejected():
    with pytest.raises(ValueError, match=r"hidden_size \(18\) must be divisible"):
        AlbertEncoder(tiny_config(hidden_size=18))


def test_token_ids_outside_the_vocabulary_are_rejected():
    encoder = AlbertEncoder(tiny_config())
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 97\).*\(vocab_size\)"):
        encoder(torch.tensor([[1, 97]]))
    with pytest.raises(ValueError, match="input_ids must lie"):
        encoder(torch.tensor([[-1, 2]]))


def test_other_bad_inputs_are_rejected_with_named_arguments():
    encoder = AlbertEncoder(tiny_config())
    with pytest.raises(TypeError, match="input_ids must be an integer"):
        encoder(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(B=2, T=3\)"):
        encoder(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 4))
    with pytest.raises(ValueError, match="max_position_embeddings=32"):
        encoder(torch.ones(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="token_type_ids must lie"):
        encoder(torch.ones(1, 3, dtype=torch.long), token_type_ids=torch.full((1, 3), 2))
    with pytest.raises(ValueError, match="hidden_act must be one of"):
        AlbertEncoder(tiny_config(hidden_act="mish"))
    with pytest.raises(TypeError, match="config must be a transformers.AlbertConfig"):
        AlbertEncoder({"hidden_size": 16})
    with pytest.raises(ValueError, match="num_hidden_groups=1 and inner_group_num=1"):
        AlbertEncoder(tiny_config(num_hidden_groups=3), sharing="ffn")


# ----------------------------------------------------------------------------- exercise checks


def test_checks_pass_the_reference_and_fail_a_wrong_answer():
    from seqbook.pretraining import mask_tokens, sop_loss

    assert check_embedding_parameters(embedding_parameters).ok
    assert not check_embedding_parameters(lambda V, E, H: V * H).ok
    assert check_parameter_count(lambda c, s: count_parameters(c, s).total).ok
    assert not check_parameter_count(lambda c, s: count_parameters(c, "all").total).ok
    assert check_sop_loss(sop_loss).ok
    assert not check_sop_loss(lambda z, y: sop_loss(z, y, reduction="sum")).ok
    assert check_mask_tokens(mask_tokens).ok
    assert not check_mask_tokens(lambda ids, **kw: mask_tokens(ids, **kw, mlm_probability=0.3)).ok
    assert check_layer_distances(layer_distances).ok
    assert not check_layer_distances(lambda s, m: layer_distances(s)).ok


def test_check_reports_unimplemented_exercises():
    def stub(*args):
        raise NotImplementedError

    report = check_sop_loss(stub)
    assert not report.ok and "not implemented yet" in str(report)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_encoder_matches_transformers_on_cuda():
    config = tiny_config()
    hf = AlbertModel(config).eval().cuda()
    ours = AlbertEncoder.from_hf(hf).eval()
    ids, mask, types = (t.cuda() for t in padded_batch(config))
    with torch.no_grad():
        want = hf(ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        got = ours(ids, mask, types)
    torch.testing.assert_close(got[mask.bool()], want[mask.bool()], atol=1e-4, rtol=1e-3)


# ------------------------------------------------------------------ BERT as a special case


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new", "relu"])
def test_from_bert_matches_a_random_bert_with_padding(hidden_act):
    bert = tiny_bert(hidden_act=hidden_act)
    ours = AlbertEncoder.from_bert(bert).eval()
    assert ours.sharing == "none" and ours.config.hidden_act == hidden_act
    ids, mask, types = padded_batch(ours.config)
    with torch.no_grad():
        want = bert(input_ids=ids, attention_mask=mask, token_type_ids=types)
        got = ours(ids, mask, types)
    real = mask.bool()
    torch.testing.assert_close(got[real], want.last_hidden_state[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.pool(got), want.pooler_output, atol=1e-5, rtol=0)


def test_bert_is_albert_with_e_equal_h_no_sharing_and_no_projection():
    bert = tiny_bert()
    ours = AlbertEncoder.from_bert(bert)
    c = ours.config
    assert c.embedding_size == c.hidden_size and isinstance(
        ours.embedding_hidden_mapping_in, torch.nn.Identity
    )
    real = sum(p.numel() for p in bert.parameters())
    assert count_parameters(c, "none", projection=False).total == real
    assert count_parameters_meta(c, "none", projection=False) == real
    assert sum(p.numel() for p in ours.parameters()) == real
    # ALBERT's E -> H projection is all that the default (projection=True) adds
    H = c.hidden_size
    assert count_parameters(c, "none").total - real == H * H + H


def test_from_bert_encoder_exports_to_albert_model():
    bert = tiny_bert(seed=1)
    ours = AlbertEncoder.from_bert(bert).eval()
    ids, mask, types = padded_batch(ours.config)
    with torch.no_grad():
        want = bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        got = ours.to_hf()(ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    torch.testing.assert_close(got[mask.bool()], want[mask.bool()], atol=1e-5, rtol=0)


def test_from_bert_holds_the_offline_minilm_encoder_exactly():
    from seqbook.data import bert_encoder_path
    from seqbook.hf import load_encoder

    bert = load_encoder(bert_encoder_path()).eval()
    ours = AlbertEncoder.from_bert(bert).eval()
    assert (ours.config.hidden_size, ours.config.num_hidden_layers) == (384, 6)
    assert ours.config.hidden_act == "gelu"  # BERT's exact GELU, not ALBERT's gelu_new
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (3, 24), generator=g)
    ids[:, 0] = 101  # [CLS]
    mask = torch.ones_like(ids)
    mask[1, 15:], mask[2, 6:] = 0, 0
    ids[mask == 0] = 0
    with torch.no_grad():
        want = bert(input_ids=ids, attention_mask=mask)
        got = ours(ids, mask)
    real = mask.bool()
    assert (got - want.last_hidden_state)[real].abs().max().item() < 1e-5
    assert (ours.pool(got) - want.pooler_output).abs().max().item() < 1e-5
    assert count_parameters(ours.config, "none", projection=False).total == sum(
        p.numel() for p in bert.parameters()
    )


def test_from_bert_and_projection_reject_bad_arguments():
    with pytest.raises(TypeError, match="model must be a transformers.BertModel"):
        AlbertEncoder.from_bert(AlbertModel(tiny_config()))
    with pytest.raises(ValueError, match="needs embedding_size == hidden_size, got E=12 and H=16"):
        AlbertEncoder(tiny_config(), projection=False)
    with pytest.raises(ValueError, match="needs embedding_size == hidden_size"):
        count_parameters(tiny_config(), projection=False)
    with pytest.raises(ValueError, match="only absolute position embeddings"):
        AlbertEncoder.from_bert(tiny_bert(position_embedding_type="relative_key"))


# ----------------------------------------------------------------------------- input checks


def test_masks_and_token_types_of_the_wrong_kind_are_rejected():
    from seqbook.albert import layer_distances

    encoder = AlbertEncoder(tiny_config())
    ids, mask, _ = padded_batch(tiny_config())
    with pytest.raises(
        ValueError, match=r"attention_mask must hold only 0 and 1 .*got values \[2\]"
    ):
        encoder(ids, mask * 2)  # .bool() would read 2 as a real token
    with pytest.raises(ValueError, match=r"attention_mask must hold only 0 and 1 .*\[0.5"):
        encoder(ids, mask * 0.5)
    with pytest.raises(
        TypeError, match="token_type_ids must be an integer tensor .int64 or int32."
    ):
        encoder(ids, mask, torch.zeros(ids.shape))
    states = encoder.hidden_states(ids, mask)
    with pytest.raises(ValueError, match="attention_mask must hold only 0 and 1"):
        layer_distances(states, mask * 2)  # would weight those tokens twice


def test_the_encoder_checks_a_batch_once(monkeypatch):
    """forward checks its inputs once, and its layers run attention without checks."""
    import seqbook.attention

    encoder = AlbertEncoder(tiny_config()).eval()
    ids, mask, types = padded_batch(tiny_config())
    with torch.no_grad():
        want = encoder(ids, mask, types)
    calls = []
    check = AlbertEncoder._check_inputs
    monkeypatch.setattr(
        AlbertEncoder, "_check_inputs", lambda *args: calls.append(1) or check(*args)
    )

    def refuse(*args):
        raise AssertionError("attention inputs checked again")

    monkeypatch.setattr(seqbook.attention, "_check_attention_inputs", refuse)
    with torch.no_grad():
        assert torch.equal(encoder(ids, mask, types), want)
        assert calls == [1]
        encoder.hidden_states(ids, mask, types)
        assert calls == [1, 1]
