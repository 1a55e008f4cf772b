"""seqbook.compress: ALBERT's factorised embeddings and shared layers made from a trained BERT."""

from __future__ import annotations

import conftest
import pytest
import torch
from transformers import AlbertModel, AutoModel

from seqbook.albert import AlbertEncoder, count_parameters
from seqbook.compress import (
    albert_from_bert,
    embedding_basis,
    factorise_embeddings,
    parse_transform,
    share_layers,
)


def tiny_bert(seed: int = 0, **overrides):
    return conftest.tiny_bert(seed, **({"num_hidden_layers": 4} | overrides))


def batch(seed: int = 0, vocab: int = 97):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (4, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:], mask[2, 3:] = 0, 0
    ids[mask == 0] = 0
    return ids, mask


def states(encoder, ids, mask):
    with torch.no_grad():
        return [h[mask.bool()] for h in encoder.eval().hidden_states(ids, mask)]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("from_text", [False, True])
def test_factorising_to_e_equal_h_gives_bert_back(seed, from_text):
    """With E = H nothing is dropped: LayerNorm over E then the projection is BERT's LayerNorm."""
    bert = AlbertEncoder.from_bert(tiny_bert(seed))
    ids, mask = batch(seed)
    sample = batch(seed + 100) if from_text else (None, None)
    ours = factorise_embeddings(bert, 16, *sample)
    assert ours.config.embedding_size == 16
    assert not isinstance(ours.embedding_hidden_mapping_in, torch.nn.Identity)
    for got, want in zip(states(ours, ids, mask), states(bert, ids, mask), strict=True):
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_the_factorised_embedding_loses_less_as_e_grows(seed):
    """The kept directions are nested, so the embedding output's error can only shrink with E."""
    bert = AlbertEncoder.from_bert(tiny_bert(seed))
    ids, mask = batch(seed)
    want = states(bert, ids, mask)[0]
    errors = []
    for E in (2, 4, 8, 12, 16):
        got = states(factorise_embeddings(bert, E, ids, mask), ids, mask)[0]
        errors.append((got - want).norm().item())
    assert all(a >= b - 1e-4 for a, b in zip(errors, errors[1:], strict=False)), errors
    assert errors[0] > 10 * max(errors[-1], 1e-4)


def test_the_basis_from_text_is_orthonormal_and_centred():
    bert = AlbertEncoder.from_bert(tiny_bert())
    for basis in (embedding_basis(bert, 7), embedding_basis(bert, 7, *batch())):
        torch.testing.assert_close(basis @ basis.T, torch.eye(7), atol=1e-5, rtol=0)
        assert basis.sum(-1).abs().max() < 1e-5  # orthogonal to the all-ones direction


def test_factorised_parameters_follow_the_closed_form_and_load_in_transformers():
    bert = AlbertEncoder.from_bert(tiny_bert())
    ours = factorise_embeddings(bert, 6)
    n = sum(p.numel() for p in ours.parameters())
    assert n == count_parameters(ours.config, "none").total
    hf = ours.to_hf()
    assert isinstance(hf, AlbertModel) and hf.config.embedding_size == 6
    ids, mask = batch()
    with torch.no_grad():
        torch.testing.assert_close(
            hf(ids, attention_mask=mask).last_hidden_state[mask.bool()],
            ours.eval()(ids, mask)[mask.bool()],
            atol=2e-5,
            rtol=1e-4,
        )


@pytest.mark.parametrize(
    ("sharing", "groups", "attention", "ffn"),
    [("all", 1, 1, 1), ("all", 2, 2, 2), ("attention", 1, 1, 4), ("ffn", 1, 4, 1)],
)
def test_shared_blocks_start_as_the_mean_of_the_layers_they_replace(
    sharing, groups, attention, ffn
):
    bert = AlbertEncoder.from_bert(tiny_bert())
    ours = share_layers(bert, sharing, groups)
    assert (len(ours.attention_blocks), len(ours.ffn_blocks)) == (attention, ffn)
    assert (
        sum(p.numel() for p in ours.parameters())
        == count_parameters(ours.config, sharing, projection=False).total
    )
    layers = [list(range(4))] if attention == 1 else [[i] for i in range(4)]
    if groups == 2:
        layers = [[0, 1], [2, 3]]
    for target, sources in enumerate(layers):
        want = torch.stack([bert.attention_blocks[i].query.weight for i in sources]).mean(0)
        torch.testing.assert_close(ours.attention_blocks[target].query.weight, want)
    torch.testing.assert_close(
        ours.embeddings.word_embeddings.weight, bert.embeddings.word_embeddings.weight
    )


def test_sharing_one_chosen_layer_copies_it_and_groups_export_to_transformers():
    bert = AlbertEncoder.from_bert(tiny_bert(1))
    ours = share_layers(bert, "all", 1, init=2)
    torch.testing.assert_close(ours.ffn_blocks[0].ffn.weight, bert.ffn_blocks[2].ffn.weight)
    grouped = albert_from_bert(tiny_bert(1), E=8, sharing="all", groups=2)
    hf = grouped.to_hf()
    assert hf.config.num_hidden_groups == 2 and hf.config.embedding_size == 8
    ids, mask = batch(1)
    with torch.no_grad():
        torch.testing.assert_close(
            hf(ids, attention_mask=mask).last_hidden_state[mask.bool()],
            grouped.eval()(ids, mask)[mask.bool()],
            atol=2e-5,
            rtol=1e-4,
        )


def test_sharing_none_changes_nothing():
    bert = AlbertEncoder.from_bert(tiny_bert(2))
    ids, mask = batch(2)
    for got, want in zip(
        states(share_layers(bert, "none"), ids, mask), states(bert, ids, mask), strict=True
    ):
        torch.testing.assert_close(got, want)


def test_bad_arguments_are_refused_with_their_names():
    bert = AlbertEncoder.from_bert(tiny_bert())
    with pytest.raises(TypeError, match="encoder must be a seqbook.albert.AlbertEncoder"):
        factorise_embeddings(tiny_bert(), 8)
    with pytest.raises(ValueError, match=r"E must lie in \[2, hidden_size=16\], got 17"):
        factorise_embeddings(bert, 17)
    with pytest.raises(ValueError, match="encoder must be BERT-shaped"):
        factorise_embeddings(factorise_embeddings(bert, 8), 4)
    with pytest.raises(ValueError, match="encoder must be unshared"):
        share_layers(share_layers(bert, "all"), "all")
    with pytest.raises(ValueError, match="groups must lie in"):
        share_layers(bert, "attention", groups=2)
    with pytest.raises(ValueError, match="init must be a layer index in"):
        share_layers(bert, "all", init=4)
    with pytest.raises(ValueError, match="sharing must be one of"):
        share_layers(bert, "some")


def test_transform_specs_parse_and_bad_ones_are_named():
    assert parse_transform("albert") == {}
    assert parse_transform("albert:E=128,sharing=all,groups=2,init=3") == {
        "E": 128,
        "sharing": "all",
        "groups": 2,
        "init": 3,
    }
    assert parse_transform("albert:init=mean")["init"] == "mean"
    for bad in ("bert", "albert:E", "albert:size=3", "albert:E=big"):
        with pytest.raises(ValueError, match="transform"):
            parse_transform(bad)


# ----------------------------------------------------------------------------- saving


@pytest.mark.parametrize("sharing", ["attention", "ffn", "all", "none"])
def test_any_sharing_mode_saves_and_loads_in_seqbooks_format(tmp_path, sharing):
    ours = share_layers(factorise_embeddings(AlbertEncoder.from_bert(tiny_bert()), 8), sharing)
    ours.save_pretrained(tmp_path)
    back = AlbertEncoder.from_pretrained(tmp_path)
    assert back.sharing == sharing and AlbertEncoder.is_saved(tmp_path)
    ids, mask = batch()
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(ids, mask), ours.eval()(ids, mask))
    with pytest.raises(OSError):  # transformers finds no weights it knows, instead of random ones
        AutoModel.from_pretrained(tmp_path)


def test_loading_a_folder_of_another_format_is_refused(tmp_path):
    tiny_bert().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="written by AlbertEncoder.save_pretrained"):
        AlbertEncoder.from_pretrained(tmp_path)
