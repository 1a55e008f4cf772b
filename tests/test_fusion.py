"""seqbook.fusion: subword-to-word alignment, static lookups, the fusion modules and the cache."""

import re

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors

from seqbook import embeddings as emb
from seqbook import fusion as F
from seqbook.checks import fusion as checks
from seqbook.data import Vocab, bert_encoder_path, tokenize

TRICKY = (
    'Unbelievably, the "Schwarzeneggerian" sequel -- costing $200,000,000!? -- wasn\'t BAD... '
    "☃ naïve café; antidisestablishmentarianism (10/10)."
)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bert_encoder_path())


def manual_align(hidden, word_ids, num_words, strategy):
    """The definition, one word at a time."""
    out = torch.zeros(num_words, hidden.shape[-1])
    for w in range(num_words):
        rows = [t for t, i in enumerate(word_ids) if i == w]
        picked = {"first": rows[:1], "last": rows[-1:], "mean": rows}[strategy]
        out[w] = hidden[picked].mean(0)
    return out


# --------------------------------------------------------------------------- alignment
def test_word_ids_from_split_words_match_the_offsets_on_the_raw_text(tokenizer):
    words = tokenize(TRICKY)
    spans = [m.span() for m in re.finditer(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]", TRICKY.lower())]
    assert [TRICKY.lower()[a:b] for a, b in spans] == words  # tokenize is that regex
    raw = tokenizer(TRICKY, return_offsets_mapping=True)
    split = tokenizer(words, is_split_into_words=True)
    assert raw.tokens() == split.tokens()
    from_offsets = []
    for token, (start, end) in zip(raw.tokens(), raw["offset_mapping"], strict=True):
        if token in tokenizer.all_special_tokens and start == end:
            from_offsets.append(None)
            continue
        (word,) = [w for w, (a, b) in enumerate(spans) if a <= start and end <= b]
        from_offsets.append(word)
    assert from_offsets == split.word_ids()
    hidden = torch.randn(len(from_offsets), 4)
    for strategy in F.STRATEGIES:
        got = F.align_subwords(hidden, split.word_ids(), len(words), strategy)
        torch.testing.assert_close(got, manual_align(hidden, from_offsets, len(words), strategy))


def test_tricky_text_keeps_one_vector_per_word_with_unknown_and_long_words(tokenizer):
    words = tokenize(TRICKY)
    enc = tokenizer(words, is_split_into_words=True)
    ids, tokens = enc.word_ids(), enc.tokens()
    long_word = words.index("antidisestablishmentarianism")
    pieces = [t for t, i in zip(tokens, ids, strict=True) if i == long_word]
    assert len(pieces) >= 4 and pieces[1].startswith("##")
    snowman = words.index("☃")
    assert [t for t, i in zip(tokens, ids, strict=True) if i == snowman] == [tokenizer.unk_token]
    hidden = torch.arange(len(ids), dtype=torch.float32)[:, None].repeat(1, 3)  # row t holds t
    first = F.align_subwords(hidden, ids, len(words), "first")
    last = F.align_subwords(hidden, ids, len(words), "last")
    mean = F.align_subwords(hidden, ids, len(words), "mean")
    positions = [t for t, i in enumerate(ids) if i == long_word]
    assert first[long_word, 0] == positions[0] and last[long_word, 0] == positions[-1]
    assert mean[long_word, 0] == pytest.approx(sum(positions) / len(positions))
    assert first.shape == (len(words), 3)


@pytest.mark.parametrize("strategy", F.STRATEGIES)
def test_batched_alignment_equals_one_text_at_a_time_with_zero_padding_words(strategy):
    g = torch.Generator().manual_seed(0)
    ids_a = [None, 0, 0, 1, 2, 2, 2, None]
    ids_b = [None, 0, 1, 1, None, None, None, None]  # 2 words, then padding
    hidden = torch.randn(2, 8, 5, generator=g)
    got = F.align_subwords(hidden, [ids_a, ids_b], [3, 2], strategy)
    assert got.shape == (2, 3, 5)
    torch.testing.assert_close(got[0], manual_align(hidden[0], ids_a, 3, strategy))
    torch.testing.assert_close(got[1, :2], manual_align(hidden[1], ids_b, 2, strategy))
    assert torch.equal(got[1, 2], torch.zeros(5))
    padded_width = F.align_subwords(hidden, [ids_a, ids_b], 4, strategy)  # int: the width W
    assert padded_width.shape == (2, 4, 5)
    torch.testing.assert_close(padded_width[:, :3], got)


def test_alignment_rejects_a_word_without_subwords_and_out_of_range_ids():
    hidden = torch.randn(5, 2)
    with pytest.raises(ValueError, match=r"words \[1\] of text 0 have no subword"):
        F.align_subwords(hidden, [None, 0, 2, 2, None], 3)
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\)"):
        F.align_subwords(hidden, [None, 0, 1, 2, None], 2)
    with pytest.raises(ValueError, match="one entry per subword"):
        F.align_subwords(hidden, [None, 0, None], 1)
    with pytest.raises(ValueError, match="strategy must be one of"):
        F.align_subwords(hidden, [None, 0, 0, 0, None], 1, "max")


def test_a_word_the_tokenizer_deletes_gets_the_unknown_token(tokenizer):
    words = ["a", "\u200b", "film"]  # a zero-width space: BERT's cleaning removes it
    assert len(tokenizer(words, is_split_into_words=True).tokens()) == 4  # [CLS] a film [SEP]
    prepared = F.encode_words([words], tokenizer, limit=512)
    assert prepared.words == [words]
    assert prepared.pieces == [["a", tokenizer.unk_token, "film"]]


# --------------------------------------------------------------------------- truncation
def test_too_long_text_is_an_error_naming_the_limit_and_the_length(tokenizer):
    words = ["antidisestablishmentarianism"] * 100  # several pieces each: far over 512
    with pytest.raises(ValueError, match=r"needs \d+ subwords for 100 words.*limit is 512"):
        F.encode_words([words], tokenizer, limit=512)


def test_truncation_is_explicit_and_cuts_at_a_whole_word(tokenizer):
    words = ["antidisestablishmentarianism"] * 100
    per_word = len(
        tokenizer(words[:1], is_split_into_words=True, add_special_tokens=False).tokens()
    )
    prepared = F.encode_words([words, ["short", "one"]], tokenizer, limit=512, truncate=True)
    kept = len(prepared.words[0])
    assert kept == (512 - 2) // per_word  # the most whole words that fit beside [CLS], [SEP]
    assert prepared.dropped == [100 - kept, 0]
    by_max_words = F.encode_words([words], tokenizer, limit=512, max_words=10)
    assert len(by_max_words.words[0]) == 10 and by_max_words.dropped == [90]


def test_contextual_vectors_of_a_short_text_match_the_encoder_on_its_first_subwords(tokenizer):
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(bert_encoder_path()).eval()
    words = tokenize("An unbelievably good film!")
    kept, vectors = F.contextual_word_vectors([words, words[:2]], tokenizer, encoder, "first")
    assert kept == [words, words[:2]] and vectors[0].shape == (len(words), 384)
    enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**enc).last_hidden_state[0]
    first = [enc.word_ids().index(w) for w in range(len(words))]
    torch.testing.assert_close(vectors[0], hidden[first], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(vectors[1], vectors[0][:2], atol=1e-2)  # context changes vectors


# --------------------------------------------------------------------------- static vectors
@pytest.fixture
def kv():
    out = KeyedVectors(vector_size=4, count=0, dtype=np.float32)
    out.add_vectors(["good", "film"], np.arange(8, dtype=np.float32).reshape(2, 4) + 1)
    return out


def test_static_vectors_follow_the_oov_policy(kv):
    vectors, found = F.static_word_vectors(["good", "zzq", "film"], kv, oov="zeros")
    assert found.tolist() == [True, False, True]
    assert torch.equal(vectors[1], torch.zeros(4)) and torch.equal(
        vectors[2], torch.tensor(kv["film"])
    )
    random_a, _ = F.static_word_vectors(["zzq", "good"], kv, oov="random")
    random_b, _ = F.static_word_vectors(["film", "zzq"], kv, oov="random")
    assert torch.equal(random_a[0], random_b[1]) and random_a[0].abs().sum() > 0  # per word
    with pytest.raises(ValueError, match=r"no vector for 1 words, e.g. \['zzq'\]"):
        F.static_word_vectors(["good", "zzq"], kv, oov="error")
    with pytest.raises(ValueError, match="oov must be one of"):
        F.static_word_vectors(["good"], kv, oov="skip")
    assert F.OOV_POLICIES is emb.OOV_POLICIES  # one policy set for the book
    vocab = Vocab(["<pad>", "<unk>", "good", "zzq", "film"])
    with pytest.raises(ValueError, match=r"kv has no vector for 1 words of the vocabulary.*zzq"):
        emb.build_embedding_matrix(vocab, kv, oov="error")
    full = emb.build_embedding_matrix(Vocab(["<pad>", "<unk>", "good"]), kv, oov="error")
    assert full.weights[2].tolist() == kv["good"].tolist()


# --------------------------------------------------------------------------- fusion modules
def pair(B=2, W=5, Dc=12, Ds=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, W, Dc, generator=g), torch.randn(B, W, Ds, generator=g)


@pytest.mark.parametrize(
    "make, width",
    [
        (lambda: F.ConcatFusion(12, 4), 16),
        (lambda: F.WeightedSumFusion(12, 4, 8), 8),
        (lambda: F.WeightedSumFusion(12, 4, 8, alpha=0.3, learn_alpha=True), 8),
        (lambda: F.GatedFusion(12, 4, 8), 8),
        (lambda: F.SingleSource(12, 4, 8, "static"), 8),
    ],
)
def test_fusion_modules_map_aligned_words_to_their_out_dim(make, width):
    module = make()
    h, e = pair()
    out = module(h, e)
    assert out.shape == (2, 5, width) and module.out_dim == width


def test_concat_is_the_two_sources_side_by_side():
    h, e = pair()
    out = F.ConcatFusion(12, 4)(h, e)
    assert torch.equal(out[..., :12], h) and torch.equal(out[..., 12:], e)


@pytest.mark.parametrize("alpha, source", [(1.0, "contextual"), (0.0, "static")])
def test_weighted_sum_at_alpha_one_or_zero_is_one_source_alone(alpha, source):
    torch.manual_seed(0)
    fusion = F.WeightedSumFusion(12, 4, 8, alpha=alpha)
    single = F.SingleSource(12, 4, 8, source)
    proj = fusion.proj_context if source == "contextual" else fusion.proj_static
    single.proj.load_state_dict(proj.state_dict())
    h, e = pair()
    other_h, other_e = pair(seed=1)
    out = fusion(h, e)
    torch.testing.assert_close(out, single(h, e), rtol=0, atol=0)
    changed = fusion(h, other_e) if source == "contextual" else fusion(other_h, e)
    torch.testing.assert_close(changed, out, rtol=0, atol=0)  # the other source has no say


def test_weighted_sum_in_between_mixes_the_two_projections():
    torch.manual_seed(0)
    fusion = F.WeightedSumFusion(12, 4, 8, alpha=0.25)
    h, e = pair()
    expected = 0.25 * fusion.proj_context(h) + 0.75 * fusion.proj_static(e)
    torch.testing.assert_close(fusion(h, e), expected)


def test_learned_alpha_starts_where_asked_and_receives_a_gradient():
    fusion = F.WeightedSumFusion(12, 4, 8, alpha=0.3, learn_alpha=True)
    assert fusion.alpha.item() == pytest.approx(0.3)
    h, e = pair()
    fusion(h, e).pow(2).sum().backward()
    assert fusion.theta.grad is not None and fusion.theta.grad.abs() > 0
    with pytest.raises(ValueError, match="strictly inside"):
        F.WeightedSumFusion(12, 4, 8, alpha=1.0, learn_alpha=True)
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        F.WeightedSumFusion(12, 4, 8, alpha=1.5)


def test_gate_lies_in_zero_one_and_the_two_weights_of_each_word_sum_to_one():
    torch.manual_seed(0)
    fusion = F.GatedFusion(12, 4, 8)
    h, e = pair(B=3, W=7)
    with torch.no_grad():
        fusion.gate.weight.mul_(5.0)  # spread the gates out
        fused, gate = fusion(h, e, return_gate=True)
    assert gate.shape == (3, 7) and torch.equal(fusion.last_gate, gate)
    assert bool((gate > 0).all() and (gate < 1).all())
    assert gate.std() > 0.1  # a per-word weighting, not one constant
    hp, ep = fusion.proj_context(h), fusion.proj_static(e)
    # fused = g h' + (1 - g) e': solve for the weights per word and check they add to one
    w_context = ((fused - ep) * (hp - ep)).sum(-1) / (hp - ep).pow(2).sum(-1)
    w_static = ((fused - hp) * (ep - hp)).sum(-1) / (ep - hp).pow(2).sum(-1)
    torch.testing.assert_close(w_context, gate, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(w_context + w_static, torch.ones(3, 7), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("module", [F.ConcatFusion(12, 4), F.GatedFusion(12, 4, 8)])
def test_fusion_rejects_mismatched_word_counts_and_widths(module):
    h, e = pair()
    with pytest.raises(ValueError, match=r"same words, got \(B, W\) = \(2, 5\) and \(2, 6\)"):
        module(h, torch.randn(2, 6, 4))
    with pytest.raises(ValueError, match=r"static must have shape \(B, W, 4\).*got \(2, 5, 50\)"):
        module(h, torch.randn(2, 5, 50))
    with pytest.raises(ValueError, match=r"contextual must have shape \(B, W, 12\)"):
        module(h[0], e)


def test_naive_weighted_sum_of_unprojected_vectors_is_refused():
    with pytest.raises(ValueError, match=r"project both to a common width first.*\(9, 384\)"):
        F.weighted_sum(torch.randn(9, 384), torch.randn(7, 50), 0.5)


# --------------------------------------------------------------------------- classifier
@pytest.mark.parametrize("head", F.HEADS)
def test_classifier_logits_do_not_depend_on_padding_words(head):
    torch.manual_seed(0)
    model = F.FusionClassifier(F.GatedFusion(12, 4, 8), head=head, hidden_size=6).eval()
    h1, e1 = pair(1, 3, seed=1)
    h2, e2 = pair(1, 6, seed=2)
    items = [(h1[0], e1[0], 0), (h2[0], e2[0], 1)]
    batch = F.collate_fusion(items)
    assert batch["contextual"].shape == (2, 6, 12) and batch["mask"].sum().item() == 9
    with torch.no_grad():
        together = model(batch["contextual"], batch["static"], batch["mask"], batch["lengths"])
        alone = model(h1, e1)
    assert together.shape == (2, 2)
    torch.testing.assert_close(together[0], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("head", F.HEADS)
def test_classifier_rejects_a_mask_and_lengths_that_disagree(head):
    model = F.FusionClassifier(F.ConcatFusion(12, 4), head=head, hidden_size=6).eval()
    h, e = pair(3, 5, seed=3)
    lengths = torch.tensor([5, 3, 2])
    mask = torch.arange(5) < lengths[:, None]
    model(h, e, mask, lengths)  # agreeing: fine
    with pytest.raises(ValueError, match=r"mask and lengths disagree in rows \[1\]"):
        model(h, e, mask, torch.tensor([5, 4, 2]))
    with pytest.raises(ValueError, match="mask must hold only 0 and 1"):
        model(h, e, mask.long() * 2)
    with pytest.raises(ValueError, match="mask must be right-padded"):
        model(h, e, mask.flip(1))
    with pytest.raises(ValueError, match=r"mask must have shape \(B=3, W=5\)"):
        model(h, e, mask[:, :4])
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        model(h, e, lengths=torch.tensor([6, 3, 2]))
    with pytest.raises(ValueError, match=r"lengths must have shape \(3,\)"):
        model(h, e, lengths=lengths[:2])


def test_classifier_bilstm_head_gives_the_same_logits_on_both_implementations():
    torch.manual_seed(0)
    fused = F.FusionClassifier(F.GatedFusion(12, 4, 8), head="bilstm", hidden_size=6).eval()
    python = F.FusionClassifier(
        F.GatedFusion(12, 4, 8), head="bilstm", hidden_size=6, impl="python"
    ).eval()
    python.load_state_dict(fused.state_dict())
    assert fused.lstm.impl == "fused" and python.lstm.impl == "python"
    h, e = pair(3, 5, seed=4)
    lengths = torch.tensor([5, 1, 3])
    torch.testing.assert_close(fused(h, e, lengths=lengths), python(h, e, lengths=lengths))


def test_dataset_rejects_texts_whose_two_sources_cover_different_words():
    with pytest.raises(ValueError, match="text 0: contextual has 3 words and static 4"):
        F.FusionDataset([torch.zeros(3, 12)], [torch.zeros(4, 4)], [1])


# --------------------------------------------------------------------------- cache
def test_contextual_features_are_computed_once_then_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBOOK_CACHE", str(tmp_path))
    texts = ["A fine film.", "Dull, dull, dull!"]
    words, vectors, seconds = F.contextual_features(
        texts, "test", max_words=3, progress=False, return_seconds=True
    )
    assert seconds > 0
    assert words == [["a", "fine", "film"], ["dull", ",", "dull"]]
    assert [v.shape for v in vectors] == [(3, 384), (3, 384)]
    (path,) = (tmp_path / "fusion_features_test").glob("*/features.pt")
    monkeypatch.setattr(
        F, "load_contextual_encoder", lambda *a: pytest.fail("the encoder ran again")
    )
    words_again, vectors_again, seconds_again = F.contextual_features(
        texts, "test", max_words=3, return_seconds=True
    )
    assert seconds_again == seconds  # the cold pass's cost, stored with the features
    assert words_again == words and all(
        torch.equal(a, b) for a, b in zip(vectors, vectors_again, strict=True)
    )
    other = F.features_folder("test", texts, "first", 3, bert_encoder_path())
    assert other != path.parent  # another strategy is another folder


# --------------------------------------------------------------------------- checks
def test_checks_pass_the_reference_and_fail_a_wrong_answer():
    assert checks.check_align_subwords(F.align_subwords).ok
    assert checks.check_weighted_sum(F.weighted_sum).ok
    assert checks.check_gated_fusion(F.GatedFusion).ok
    assert not checks.check_align_subwords(lambda h, w, n, s: F.align_subwords(h, w, n)).ok
    assert not checks.check_weighted_sum(lambda h, e, a: a * h + a * e).ok

    def gate_per_feature(h, e, w_g, b_g):  # a gate that forgets 1 - g on the static side
        g = torch.sigmoid(torch.cat([h, e], -1) @ w_g + b_g)
        return g[..., None] * h + e, g

    report = checks.check_gated_fusion(gate_per_feature)
    assert not report.ok and "fused vectors" in str(report)


# --------------------------------------------------------------------------- intervals
def test_paired_bootstrap_gain_is_the_accuracy_difference_with_an_interval_around_it():
    rng = np.random.default_rng(0)
    b = rng.random(1000) < 0.7
    a = b.copy()
    flip = rng.choice(1000, 60, replace=False)
    a[flip] = True  # a is right wherever b is, and on up to 60 more items
    gain, low, high = F.paired_bootstrap_gain(a, b, samples=500)
    assert gain == pytest.approx(a.mean() - b.mean())
    assert 0 < low < gain < high  # a strict improvement: the whole interval is above zero
    same, low0, high0 = F.paired_bootstrap_gain(b, b, samples=200)
    assert same == low0 == high0 == 0.0
    noisy = rng.random(1000) < 0.7  # an unrelated model of the same accuracy
    _, low1, high1 = F.paired_bootstrap_gain(noisy, b, samples=500)
    assert low1 < 0 < high1
    with pytest.raises(ValueError, match="one entry per test item"):
        F.paired_bootstrap_gain(a, b[:10])


def test_features_cache_is_keyed_by_every_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBOOK_CACHE", str(tmp_path))
    texts = ["A fine film.", "Dull!"]
    base = F.features_folder("t", texts, "mean", 3, bert_encoder_path())
    assert base == F.features_folder("t", list(texts), "mean", 3, bert_encoder_path())
    assert base != F.features_folder("t", texts, "mean", 4, bert_encoder_path())
    assert base != F.features_folder("t", texts, "last", 3, bert_encoder_path())
    assert base != F.features_folder("t", [*texts, "More."], "mean", 3, bert_encoder_path())
    # cutting long texts to the encoder's positions is another set of features; not cutting
    # keeps the key it had before the option existed
    assert base != F.features_folder("t", texts, "mean", 3, bert_encoder_path(), truncate=True)
    assert "truncate" not in F.features_key(texts, "mean", 3, bert_encoder_path())
    fake = tmp_path / "encoder"
    fake.mkdir()
    (fake / "config.json").write_text("{}")
    other = F.features_folder("t", texts, "mean", 3, fake)
    (fake / "config.json").write_text('{"hidden_size": 8}')  # the encoder changed
    assert F.features_folder("t", texts, "mean", 3, fake) != other


def test_fusion_rejects_integer_vectors():
    h, e = pair()
    with pytest.raises(TypeError, match="contextual must be a floating-point tensor, got dtype"):
        F.ConcatFusion(12, 4)(h.long(), e)  # torch.cat would promote it silently


def test_dataset_rejects_fractional_labels_and_non_tensors():
    h, e = pair(1, 3)
    with pytest.raises(ValueError, match=r"labels\[1\] must be an integer class id, got 0.7"):
        F.FusionDataset([h[0], h[0]], [e[0], e[0]], [1, 0.7])  # int(0.7) would be 0
    with pytest.raises(TypeError, match=r"static\[0\] must be a tensor of shape \(W, D_static\)"):
        F.FusionDataset([h[0]], [e[0].tolist()], [1])


def test_classifier_rejects_a_dropout_that_is_not_a_number():
    with pytest.raises(TypeError, match=r"dropout must be a float in \[0, 1\), got str"):
        F.FusionClassifier(F.ConcatFusion(12, 4), dropout="0.1")


@pytest.mark.parametrize("head", F.HEADS)
def test_classifier_checks_its_batch_once(monkeypatch, head):
    """The fusion module checks the vectors and the classifier the mask; the BiLSTM and the
    pooling then run unchecked."""
    import seqbook.attention
    from seqbook.attention import AttentionPooling
    from seqbook.lstm import LSTM

    def refuse(*args, **kwargs):
        raise AssertionError("the classifier's inputs were checked again")

    torch.manual_seed(0)
    model = F.FusionClassifier(F.GatedFusion(12, 4, 8), head=head, hidden_size=6).eval()
    h, e = pair(3, 5, seed=3)
    lengths = torch.tensor([5, 3, 2])
    with torch.no_grad():
        want = model(h, e, lengths=lengths)
        monkeypatch.setattr(LSTM, "forward", refuse)
        monkeypatch.setattr(AttentionPooling, "forward", refuse)
        monkeypatch.setattr(seqbook.attention, "_check_attention_inputs", refuse)
        assert torch.equal(model(h, e, lengths=lengths.tolist()), want)


# --------------------------------------------------------------------------- numbers of any kind
def test_alignment_accepts_a_numpy_integer_width():
    hidden = torch.randn(2, 4, 3)
    word_ids = [[None, 0, 1, None], [None, 0, None, None]]
    torch.testing.assert_close(
        F.align_subwords(hidden, word_ids, np.int64(2)), F.align_subwords(hidden, word_ids, 2)
    )


# --------------------------------------------------------------------------- bad input, refused
@pytest.mark.parametrize(
    ("words", "got"), [([1, 2], "int 1"), ([["good"], ["film"]], r"list \['good'\]")]
)
def test_static_vectors_refuse_words_that_are_not_str(kv, words, got):
    # ids used to come back as zero vectors, "not found"
    with pytest.raises(TypeError, match=rf"words\[0\] must be a str, got {got}"):
        F.static_word_vectors(words, kv)


@pytest.mark.parametrize(
    ("alpha", "match"),
    [
        (float("nan"), "alpha must be a finite number, got nan"),
        (2.0, r"alpha must lie in \[0, 1\]"),
    ],
)
def test_weighted_sum_refuses_an_alpha_outside_zero_one(alpha, match):
    with pytest.raises(ValueError, match=match):
        F.weighted_sum(torch.ones(2, 3), torch.zeros(2, 3), alpha)


def test_collate_fusion_refuses_texts_of_different_vector_widths():
    items = [(torch.ones(2, 3), torch.ones(2, 4), 0), (torch.ones(1, 5), torch.ones(1, 4), 1)]
    with pytest.raises(ValueError, match=r"items\[1\] has \(contextual, static\) widths \(5, 4\)"):
        F.collate_fusion(items)


def test_collate_fusion_refuses_a_fractional_label():
    with pytest.raises(ValueError, match=r"labels\[0\] must be an integer class id, got 0.5"):
        F.collate_fusion([(torch.ones(2, 3), torch.ones(2, 4), 0.5)])


def test_contextual_features_refuse_a_truncate_that_is_not_a_bool():
    with pytest.raises(TypeError, match="truncate must be a bool, got str"):
        F.contextual_features(["A review."], "test", truncate="no")


def test_contextual_features_refuse_one_text_instead_of_a_list():
    # one review used to be encoded as one text per character
    with pytest.raises(TypeError, match="texts must be a list of str, got a single str"):
        F.contextual_features("one review", "test")


def test_contextual_word_vectors_refuse_an_empty_batch_size():
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        F.contextual_word_vectors([["good"]], None, None, batch_size=0)


@pytest.mark.parametrize(
    "correct_a", [[1, 0, float("nan")], [0.9, 0.2, 0.6]], ids=["NaN", "probabilities"]
)
def test_paired_bootstrap_refuses_values_that_are_not_right_or_wrong(correct_a):
    with pytest.raises(ValueError, match="correct_a must say per test item whether the model"):
        F.paired_bootstrap_gain(correct_a, [1, 1, 0])


def test_paired_bootstrap_refuses_zero_resamples():
    with pytest.raises(ValueError, match="samples must be a positive int, got 0"):
        F.paired_bootstrap_gain([1, 0], [1, 1], samples=0)
