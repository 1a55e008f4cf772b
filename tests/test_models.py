import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from seqbook.data import collate_batch
from seqbook.models import (
    POOLINGS,
    BiLSTMClassifier,
    last_state_pool,
    max_pool,
    mean_pool,
)
from seqbook.train import fit, parameter_count

V, E, H = 30, 8, 6


def padded_batch(seed: int = 0):
    """Three reviews of lengths 7, 4, 2, padded with <pad> = 0."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(2, V, (3, 7), generator=g)
    lengths = torch.tensor([7, 4, 2])
    mask = torch.arange(7) < lengths[:, None]
    return input_ids.masked_fill(~mask, 0), lengths, mask


IMPLS = ["python", "fused"]


def make_model(pooling: str = "max", num_layers: int = 2, **kwargs) -> BiLSTMClassifier:
    torch.manual_seed(0)
    model = BiLSTMClassifier(V, E, hidden_size=H, num_layers=num_layers, pooling=pooling, **kwargs)
    if model.attention is not None:  # an untrained query is plain mean pooling: make it matter
        torch.nn.init.normal_(model.attention.query)
    return model.eval()


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_adding_padding_does_not_change_the_logits(pooling, impl):
    model = make_model(pooling, impl=impl)
    input_ids, lengths, mask = padded_batch()
    logits = model(input_ids, lengths, mask)
    more_padding = torch.cat([input_ids, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(more_padding, lengths), logits, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_a_padded_batch_gives_each_review_its_unpadded_logits(pooling, impl):
    model = make_model(pooling, impl=impl)
    input_ids, lengths, _ = padded_batch(1)
    alone = torch.cat(
        [model(input_ids[b : b + 1, :n], lengths[b : b + 1]) for b, n in enumerate(lengths)]
    )
    torch.testing.assert_close(model(input_ids, lengths), alone, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_padding_token_values_cannot_leak_into_the_logits(pooling, impl):
    model = make_model(pooling, impl=impl)
    input_ids, lengths, mask = padded_batch(2)
    other = input_ids.masked_fill(~mask, 5)  # garbage ids in the padded positions
    torch.testing.assert_close(model(other, lengths), model(input_ids, lengths))


def test_last_state_pool_is_forward_end_and_backward_start():
    model = make_model("last", num_layers=1)
    input_ids, lengths, _ = padded_batch()
    output, pooled, _ = model.encode(input_ids, lengths)
    rows = torch.arange(3)
    forward_end = output[rows, lengths - 1, :H]  # ->h at each review's last real token
    backward_start = output[:, 0, H:]  # <-h at the first token
    torch.testing.assert_close(pooled, torch.cat([forward_end, backward_start], dim=-1))
    _, (h_n, _) = model.lstm(model.embedding(input_ids), lengths)
    torch.testing.assert_close(last_state_pool(h_n), pooled)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_python_and_fused_bilstm_give_the_same_logits_and_gradients(pooling):
    input_ids, lengths, mask = padded_batch(4)
    results = []
    for impl in IMPLS:
        model = make_model(pooling, impl=impl, dropout=0.3).double().train()
        torch.manual_seed(1)  # the same dropout masks
        model(input_ids, lengths, mask).sum().backward()
        results.append([p.grad for p in model.parameters()])
        torch.manual_seed(1)
        results[-1].append(model(input_ids, lengths, mask))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b, a, atol=1e-12, rtol=1e-10)


def test_mean_and_max_pool_ignore_padded_positions():
    output = torch.tensor([[[1.0, -2.0], [3.0, -4.0], [100.0, 100.0]]])  # (1, 3, 2)
    mask = torch.tensor([[True, True, False]])
    assert mean_pool(output, mask).tolist() == [[2.0, -3.0]]
    assert max_pool(output, mask).tolist() == [[3.0, -2.0]]


def test_attention_pooling_weights_are_zero_on_padding():
    model = make_model("attention")
    input_ids, lengths, mask = padded_batch()
    _, _, weights = model.encode(input_ids, lengths)
    assert weights.shape == (3, 7)
    assert torch.all(weights[~mask] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))


@pytest.mark.parametrize("pooling", POOLINGS)
def test_classifier_overfits_a_tiny_batch(pooling):
    torch.manual_seed(0)
    model = BiLSTMClassifier(V, E, hidden_size=H, num_layers=1, pooling=pooling)
    g = torch.Generator().manual_seed(3)
    input_ids = torch.randint(2, V, (8, 6), generator=g)
    lengths = torch.tensor([6, 5, 4, 3, 6, 2, 5, 4])
    input_ids = input_ids.masked_fill(torch.arange(6) >= lengths[:, None], 0)
    labels = torch.tensor([0, 1, 0, 1, 1, 0, 1, 0])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(50):
        loss = torch.nn.functional.cross_entropy(model(input_ids, lengths), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    assert torch.equal(model(input_ids, lengths).argmax(-1), labels)


def test_pretrained_embeddings_are_copied_and_frozen_when_asked():
    weights = torch.randn(V, E)
    frozen = BiLSTMClassifier.from_embeddings(weights, freeze_embeddings=True, hidden_size=H)
    tuned = BiLSTMClassifier.from_embeddings(weights, freeze_embeddings=False, hidden_size=H)
    assert torch.equal(frozen.embedding.weight, weights)
    assert parameter_count(tuned) - parameter_count(frozen, trainable_only=True) == V * E
    input_ids, lengths, _ = padded_batch()
    for model in (frozen, tuned):
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
        model(input_ids, lengths).sum().backward()
        optimizer.step()
    assert torch.equal(frozen.embedding.weight, weights)
    assert not torch.equal(tuned.embedding.weight, weights)


def test_classifier_trains_with_seqbook_fit():
    g = torch.Generator().manual_seed(0)
    items = [
        (torch.randint(2, V, (int(n),), generator=g), i % 2) for i, n in enumerate(range(2, 12))
    ]
    loader = DataLoader(items, batch_size=4, collate_fn=collate_batch)
    model = BiLSTMClassifier(V, E, hidden_size=H, pooling="mean")
    history = fit(model, loader, loader, epochs=2, lr=1e-2, progress=False)
    assert len(history.epochs) == 2
    assert 0.0 <= history.epochs[-1]["valid_accuracy"] <= 1.0


def test_parameter_count_matches_the_formula():
    model = BiLSTMClassifier(V, E, hidden_size=H, num_layers=2, pooling="max")
    lstm = 2 * 4 * (H * E + H * H + H) + 2 * 4 * (H * 2 * H + H * H + H)  # biases merged
    assert parameter_count(model) == V * E + lstm + (2 * H * 2 + 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pooling": "sum"}, "pooling must be one of"),
        ({"hidden_size": 0}, "hidden_size must be a positive int"),
        ({"embeddings": torch.zeros(V, E + 1)}, r"embeddings must have shape"),
        ({"dropout": 1.5}, "dropout must be"),
        ({"pad_id": V}, "pad_id must be"),
        ({"pad_id": True}, r"pad_id must be an int in \[0, \d+\), got True"),
        ({"impl": "cuda"}, "impl must be one of"),
    ],
)
def test_constructor_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BiLSTMClassifier(V, E, **kwargs)


def test_forward_rejects_bad_batches_with_clear_errors():
    model = make_model()
    input_ids, lengths, mask = padded_batch()
    with pytest.raises(ValueError, match=r"input_ids must have shape \(B, T\).*unsqueeze"):
        model(input_ids[0], lengths)
    with pytest.raises(ValueError, match="input_ids must be an integer tensor"):
        model(input_ids.float(), lengths)
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 30\)"):
        model(input_ids + V, lengths)
    with pytest.raises(ValueError, match=r"lengths must have shape \(3,\)"):
        model(input_ids, lengths[:2])
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 7\]"):
        model(input_ids, torch.tensor([8, 4, 2]))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        model(input_ids, lengths, mask.long())
    with pytest.raises(ValueError, match=r"mask and lengths disagree in rows \[0, 1, 2\]"):
        model(input_ids, lengths, ~mask)


# --------------------------------------------------------------------------- exercise checks
def _reverse(x, lengths):
    out = x.clone()
    for b, n in enumerate(lengths.tolist()):
        out[b, :n] = x[b, :n].flip(0)
    return out


def _bidirectional(forward_lstm, backward_lstm, x, lengths, reverse=_reverse, zero_pad=True):
    mask = (torch.arange(x.shape[1]) < lengths[:, None]).unsqueeze(-1)
    forward_out, _ = forward_lstm(x)
    backward_out, _ = backward_lstm(reverse(x, lengths))
    out = torch.cat([forward_out, reverse(backward_out, lengths)], dim=-1)
    return out * mask if zero_pad else out


def test_bilstm_checks_pass_correct_solutions():
    from seqbook.checks import bilstm as checks

    assert checks.check_reverse_padded(_reverse).ok
    assert checks.check_masked_mean(mean_pool).ok
    assert checks.check_masked_max(max_pool).ok
    assert checks.check_bidirectional(_bidirectional).ok


def test_bilstm_checks_reject_typical_mistakes():
    from seqbook.checks import bilstm as checks

    # reversing the whole padded row moves the padding to the front
    report = checks.check_reverse_padded(lambda x, lengths: x.flip(1))
    assert not report.ok and report.passed == 1  # only the unpadded case passes
    # dividing by T counts the padding
    report = checks.check_masked_mean(lambda out, mask: (out * mask[..., None]).sum(1) / 6)
    assert not report.ok
    # zero instead of -inf at the padding: wrong when every real value is negative
    report = checks.check_masked_max(lambda out, mask: (out * mask[..., None]).max(1).values)
    assert not report.ok and "every real value negative" in str(report)
    # ignoring the mask lets large padding values win
    report = checks.check_masked_max(lambda out, mask: out.max(1).values)
    assert not report.ok and "padding holds large values" in str(report)
    # the backward LSTM run over the padded row (starts in the padding)
    naive = lambda f, b, x, lengths: _bidirectional(  # noqa: E731
        f, b, x, lengths, reverse=lambda t, n: t.flip(1)
    )
    assert not checks.check_bidirectional(naive).ok
    unmasked = lambda f, b, x, lengths: _bidirectional(f, b, x, lengths, zero_pad=False)  # noqa: E731
    assert not checks.check_bidirectional(unmasked).ok


# --------------------------------------------------------------------------- checked once
def _refuse(*args, **kwargs):
    raise AssertionError("the classifier's inputs were checked again")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_the_classifier_checks_its_batch_once(monkeypatch, pooling, impl):
    """The BiLSTM, the attention pooling and the attention inside it run unchecked: their public
    forwards (which check) are never called."""
    import seqbook.attention
    from seqbook.attention import AttentionPooling
    from seqbook.lstm import LSTM

    model = make_model(pooling, impl=impl)
    input_ids, lengths, mask = padded_batch()
    with torch.no_grad():
        want = model(input_ids, lengths, mask)
        monkeypatch.setattr(LSTM, "forward", _refuse)
        monkeypatch.setattr(AttentionPooling, "forward", _refuse)
        monkeypatch.setattr(seqbook.attention, "_check_attention_inputs", _refuse)
        assert torch.equal(model(input_ids, lengths, mask), want)


def test_lengths_may_be_a_list():
    model = make_model()
    input_ids, lengths, _ = padded_batch()
    with torch.no_grad():
        assert torch.equal(model(input_ids, lengths.tolist()), model(input_ids, lengths))


# --------------------------------------------------------------------------- bad input, refused
@pytest.mark.parametrize("pool", [mean_pool, max_pool])
@pytest.mark.parametrize("shape", [(3,), (7, 3)], ids=["(B,)", "(T, B)"])
def test_pooling_refuses_a_mask_that_would_broadcast(pool, shape):
    output = torch.randn(3, 7, 4)
    with pytest.raises(ValueError, match=r"mask must have shape \(B=3, T=7\)"):
        pool(output, torch.ones(shape, dtype=torch.bool))


def test_max_pool_refuses_a_mask_of_numbers():
    with pytest.raises(TypeError, match="mask must be a bool tensor, got dtype torch.int64"):
        max_pool(torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.long))


def test_a_numpy_integer_pad_id_is_accepted():
    assert BiLSTMClassifier(V, E, pad_id=np.int64(1)).embedding.padding_idx == 1
