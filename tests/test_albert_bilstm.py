"""The ALBERT + BiLSTM classifier (seqbook.albert_bilstm), encoder loading (seqbook.hf) and the
fine-tuning data path (seqbook.finetune: tokenisation, batches, features); the fine-tuning run
itself is tested in test_finetune.py."""

import pytest
import torch
from conftest import TINY_REVIEWS, tiny_bert
from torch import nn

from seqbook.albert_bilstm import AlbertBiLSTMClassifier, EncoderLinearClassifier
from seqbook.checks.albert_bilstm import (
    check_albert_bilstm_logits,
    check_lengths_from_mask,
    check_param_groups,
    reference_albert_bilstm_logits,
    tiny_albert,
)
from seqbook.finetune import (
    collate_tokenized,
    encoder_features,
    predict_proba,
    review_batches,
    tokenize_reviews,
)
from seqbook.hf import load_encoder, resolve_encoder
from seqbook.models import lengths_from_mask
from seqbook.train import parameter_count

SENTENCES = TINY_REVIEWS


def classifier(pooling="mean", seed=0, **kwargs):
    torch.manual_seed(seed)
    model = AlbertBiLSTMClassifier(tiny_albert(seed), hidden_size=5, pooling=pooling, **kwargs)
    return model.eval()


def padded_batch(lengths, T, seed=0, vocab=40):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(T) < torch.tensor(lengths)[:, None]
    ids = torch.randint(2, vocab, (len(lengths), T), generator=g).masked_fill(~mask, 0)
    return ids, mask


# --------------------------------------------------------------------------- lengths from masks
def test_lengths_from_mask_counts_real_tokens_for_bool_and_integer_masks():
    mask = torch.arange(6) < torch.tensor([6, 1, 3])[:, None]
    assert lengths_from_mask(mask).tolist() == [6, 1, 3]
    assert lengths_from_mask(mask.long()).dtype == torch.long
    assert lengths_from_mask(mask.long()).tolist() == [6, 1, 3]


@pytest.mark.parametrize(
    "mask, message",
    [
        (torch.tensor([[1, 0, 1]]), "right-padded"),
        (torch.tensor([[0, 0, 0], [1, 1, 0]]), "at least one real token"),
        (torch.tensor([[1.0, 0.0]]), "dtype"),
        (torch.tensor([[2, 0]]), "only 0 and 1"),
        (torch.ones(3, dtype=torch.bool), r"shape \(B, T\)"),
    ],
)
def test_lengths_from_mask_rejects_malformed_masks(mask, message):
    with pytest.raises(ValueError, match=message):
        lengths_from_mask(mask)


# --------------------------------------------------------------------------- the classifier
@pytest.mark.parametrize("pooling", ["mean", "max", "last", "attention"])
def test_padded_batch_equals_reviews_run_one_by_one(pooling):
    model = classifier(pooling)
    lengths = [7, 3, 5, 2]
    ids, mask = padded_batch(lengths, 7)
    with torch.no_grad():
        batched = model(input_ids=ids, attention_mask=mask)
        single = torch.cat(
            [
                model(input_ids=ids[b : b + 1, :n], attention_mask=mask[b : b + 1, :n])
                for b, n in enumerate(lengths)
            ]
        )
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)


def test_classifier_matches_the_step_by_step_reference():
    model = classifier("mean")
    ids, mask = padded_batch([6, 2, 4], 6)
    with torch.no_grad():
        expected = reference_albert_bilstm_logits(model.encoder, model.lstm, model.head, ids, mask)
        torch.testing.assert_close(model(input_ids=ids, attention_mask=mask), expected)


def test_encode_exposes_every_intermediate_with_its_shape():
    model = classifier("attention")
    ids, mask = padded_batch([4, 2], 4)
    out = model.encode(ids, mask)
    assert out["h"].shape == (2, 4, 16)
    assert out["u"].shape == (2, 4, 10)
    assert out["z"].shape == (2, 10)
    assert out["weights"].shape == (2, 4)
    assert out["lengths"].tolist() == [4, 2]
    assert torch.all(out["u"][1, 2:] == 0), "BiLSTM outputs at padding must be zero"


def test_encoder_states_path_equals_the_input_ids_path():
    model = classifier("max")
    ids, mask = padded_batch([5, 3], 5)
    with torch.no_grad():
        states = model.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        torch.testing.assert_close(
            model(encoder_states=states, attention_mask=mask),
            model(input_ids=ids, attention_mask=mask),
        )


def test_freezing_leaves_encoder_weights_unchanged_and_trains_the_head():
    model = classifier(freeze_encoder=True).train()
    assert not model.encoder.training, "a frozen encoder runs in eval mode (no dropout)"
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.param_groups(1e-2, 1e-2))
    ids, mask = padded_batch([5, 3, 4], 5)
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(ids, mask), torch.tensor([0, 1, 1]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert parameter_count(model, trainable_only=True) < parameter_count(model)


def test_param_groups_give_the_encoder_its_own_learning_rate():
    model = classifier()
    groups = model.param_groups(1e-5, 1e-3)
    assert [g["lr"] for g in groups] == [1e-5, 1e-3]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert check_param_groups(lambda m, e, h: m.param_groups(e, h)).ok


def test_unfreezing_returns_the_encoder_to_training():
    model = classifier(freeze_encoder=True)
    model.freeze_encoder(False).train()
    assert model.encoder.training
    assert all(p.requires_grad for p in model.encoder.parameters())


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"pooling": "sum"}, ValueError, "pooling must be one of"),
        ({"hidden_size": 0}, ValueError, "hidden_size must be a positive int"),
        ({"dropout": 1.5}, ValueError, "dropout"),
    ],
)
def test_classifier_rejects_bad_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        AlbertBiLSTMClassifier(tiny_albert(0), **kwargs)


def test_classifier_rejects_a_non_hugging_face_encoder():
    with pytest.raises(TypeError, match="config.hidden_size"):
        AlbertBiLSTMClassifier(nn.Linear(3, 3))


def test_classifier_rejects_ids_outside_the_encoders_vocabulary():
    model = classifier()
    ids, mask = padded_batch([3], 3)
    ids[0, 1] = 40  # the tiny encoder has 40 rows
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 40\).*own tokenizer"):
        model(ids, mask)


def test_classifier_rejects_encoder_states_of_the_wrong_width():
    model = classifier()
    _, mask = padded_batch([3, 2], 3)
    with pytest.raises(ValueError, match=r"encoder_states must have shape \(B=2, T=3, H=16\)"):
        model(encoder_states=torch.zeros(2, 3, 8), attention_mask=mask)


def test_classifier_rejects_token_types_and_states_of_the_wrong_kind():
    model = classifier()
    ids, mask = padded_batch([3, 2], 3)
    with pytest.raises(
        ValueError, match=r"token_type_ids must have shape \(B=2, T=3\), got \(1, 3\)"
    ):
        model(ids, mask, torch.zeros(1, 3, dtype=torch.long))  # the encoder would broadcast it
    with pytest.raises(TypeError, match="token_type_ids must be an integer tensor"):
        model(ids, mask, torch.zeros(2, 3))
    with pytest.raises(TypeError, match="encoder_states must be a floating-point tensor"):
        model(encoder_states=torch.ones(2, 3, 16, dtype=torch.long), attention_mask=mask)


def test_linear_head_rejects_bad_options():
    with pytest.raises(ValueError, match="num_classes must be a positive int, got 0"):
        EncoderLinearClassifier(tiny_albert(0), num_classes=0)
    with pytest.raises(TypeError, match=r"dropout must be a float in \[0, 1\), got str"):
        EncoderLinearClassifier(tiny_albert(0), dropout="0.1")


@pytest.mark.parametrize("pooling", ["mean", "max", "last", "attention"])
def test_classifier_checks_its_batch_once(monkeypatch, pooling):
    """encoder_states checks the batch; the BiLSTM and the pooling then run unchecked."""
    import seqbook.attention
    from seqbook.attention import AttentionPooling
    from seqbook.lstm import LSTM

    def refuse(*args, **kwargs):
        raise AssertionError("the classifier's inputs were checked again")

    model = classifier(pooling)
    ids, mask = padded_batch([3, 2], 3)
    states = torch.randn(2, 3, 16)
    with torch.no_grad():
        want = model(ids, mask), model(encoder_states=states, attention_mask=mask)
        monkeypatch.setattr(LSTM, "forward", refuse)
        monkeypatch.setattr(AttentionPooling, "forward", refuse)
        monkeypatch.setattr(seqbook.attention, "_check_attention_inputs", refuse)
        assert torch.equal(model(ids, mask), want[0])
        assert torch.equal(model(encoder_states=states, attention_mask=mask), want[1])


def test_linear_head_reads_the_first_token_or_the_mean():
    torch.manual_seed(0)
    encoder = tiny_albert(0)
    ids, mask = padded_batch([4, 2], 4)
    with torch.no_grad():
        h = encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        first = EncoderLinearClassifier(encoder, "first", dropout=0.0).eval()
        torch.testing.assert_close(first(ids, mask), first.head(h[:, 0]))
        mean = EncoderLinearClassifier(encoder, "mean", dropout=0.0).eval()
        expected = mean.head(torch.stack([h[0].mean(0), h[1, :2].mean(0)]))
        torch.testing.assert_close(mean(ids, mask), expected)


# --------------------------------------------------------------------------- the pipeline
def test_tokenize_reviews_uses_the_encoders_tokenizer_and_counts_truncation(saved_encoder):
    _, tokenizer = saved_encoder
    out = tokenize_reviews(tokenizer, ["i loved it", SENTENCES[0] * 3], max_len=8)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert all(ids[0] == cls and ids[-1] == sep for ids in out["input_ids"])
    assert out["lengths"][1] == 8 and max(out["lengths"]) == 8
    assert out["truncated"] == [False, True]


@pytest.mark.parametrize("texts", [["fine", ""], ["   \n"]])
def test_empty_text_is_rejected_with_its_index(saved_encoder, texts):
    _, tokenizer = saved_encoder
    with pytest.raises(ValueError, match=r"texts\[\d\] is empty"):
        tokenize_reviews(tokenizer, texts, max_len=8)


def test_a_single_string_is_not_split_into_characters(saved_encoder):
    _, tokenizer = saved_encoder
    with pytest.raises(TypeError, match="single str"):
        tokenize_reviews(tokenizer, "a review", max_len=8)


def test_collate_right_pads_and_masks():
    batch = collate_tokenized([(torch.tensor([2, 7, 3]), 1), (torch.tensor([2, 3]), 0)], pad_id=0)
    assert batch["input_ids"].tolist() == [[2, 7, 3], [2, 3, 0]]
    assert batch["attention_mask"].tolist() == [[True, True, True], [True, True, False]]
    assert lengths_from_mask(batch["attention_mask"]).tolist() == [3, 2]


def test_mismatched_tokenizer_and_encoder_vocab_sizes_are_refused(saved_encoder):
    _, tokenizer = saved_encoder
    small = AlbertBiLSTMClassifier(tiny_albert(0, vocab_size=len(tokenizer) - 10), hidden_size=4)
    with pytest.raises(ValueError, match=r"tokenizer has \d+ tokens but the encoder's vocab_size"):
        predict_proba(small, tokenizer, ["a fine film"], max_len=16)


def test_save_load_predict_round_trip(saved_encoder, tmp_path):
    directory, tokenizer = saved_encoder
    torch.manual_seed(0)
    model = AlbertBiLSTMClassifier(load_encoder(directory), hidden_size=6, pooling="attention")
    texts = ["i loved every minute", "boring and far too long", "great cast"]
    before = predict_proba(model, tokenizer, texts, max_len=16)
    model.save_pretrained(tmp_path / "clf", tokenizer)
    loaded = AlbertBiLSTMClassifier.from_pretrained(tmp_path / "clf")
    from transformers import AutoTokenizer

    tokenizer2 = AutoTokenizer.from_pretrained(tmp_path / "clf" / "encoder")
    after = predict_proba(loaded, tokenizer2, texts, max_len=16)
    torch.testing.assert_close(before, after)
    assert after.shape == (3, 2)
    torch.testing.assert_close(after.sum(1), torch.ones(3))
    assert loaded.settings == model.settings
    head = tmp_path / "clf" / "head.pt"
    head.write_bytes(head.read_bytes()[:100])  # a save killed half-way, before atomic writes
    with pytest.raises(ValueError, match="head.pt"):
        AlbertBiLSTMClassifier.from_pretrained(tmp_path / "clf")


def test_from_pretrained_explains_a_wrong_directory(tmp_path):
    with pytest.raises(ValueError, match="must hold encoder/ and head.pt"):
        AlbertBiLSTMClassifier.from_pretrained(tmp_path)


def test_random_init_keeps_the_architecture_and_changes_the_weights(saved_encoder):
    directory, _ = saved_encoder
    pretrained = load_encoder(directory)  # saved from seed 0
    fresh = load_encoder(directory, random_init=True, seed=1)
    assert parameter_count(pretrained) == parameter_count(fresh)
    w = "embeddings.word_embeddings.weight"
    assert not torch.equal(pretrained.state_dict()[w], fresh.state_dict()[w])


def test_encoder_features_feed_the_frozen_classifier(saved_encoder):
    import pandas as pd

    directory, tokenizer = saved_encoder
    df = pd.DataFrame({"text": SENTENCES[:6], "label": [1, 0, 1, 0, 1, 0]})
    loader = review_batches(df, tokenizer, max_len=12, batch_size=4)
    model = AlbertBiLSTMClassifier(load_encoder(directory), hidden_size=4, freeze_encoder=True)
    model.eval()
    features = encoder_features(model.encoder, loader, pad_to=12, progress=False)
    assert features.states.shape == (6, 12, model.encoder.config.hidden_size)
    item = features[1]
    batch = next(iter(loader))
    with torch.no_grad():
        direct = model(
            input_ids=batch["input_ids"][1:2], attention_mask=batch["attention_mask"][1:2]
        )
        cached = model(
            encoder_states=item["encoder_states"][None],
            attention_mask=item["attention_mask"][None],
        )
    torch.testing.assert_close(direct, cached, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- checks and the CLI
def test_checks_pass_the_reference_and_fail_a_padding_blind_forward():
    assert check_lengths_from_mask(lengths_from_mask).ok
    assert check_albert_bilstm_logits(reference_albert_bilstm_logits).ok

    def ignores_padding(encoder, lstm, head, ids, mask):
        h = encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return head(lstm(h)[0].mean(1))

    report = check_albert_bilstm_logits(ignores_padding)
    failed = {r.name for r in report.results if not r.passed}
    assert failed == {"a padded batch", "extra padding changes nothing"}


@pytest.mark.cuda
def test_classifier_runs_on_cuda_with_mixed_precision():
    model = classifier().cuda()
    ids, mask = padded_batch([5, 3], 5)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(ids.cuda(), mask.cuda())
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()


def test_head_tail_truncation_keeps_the_opening_quarter_and_the_ending(saved_encoder):
    _, tokenizer = saved_encoder
    text = " ".join(SENTENCES[:6])
    full = tokenizer(text)["input_ids"]
    out = tokenize_reviews(tokenizer, [text], max_len=18, truncation="head_tail")["input_ids"][0]
    assert len(out) == 18 and out[:5] == full[:5] and out[5:] == full[-13:]
    head = tokenize_reviews(tokenizer, [text], max_len=18, truncation="head")["input_ids"][0]
    assert head == full[:17] + full[-1:]
    with pytest.raises(ValueError, match="truncation must be one of"):
        tokenize_reviews(tokenizer, [text], max_len=18, truncation="tail")


def test_an_encoder_that_is_not_here_is_an_error_not_a_download_or_a_pretraining(tmp_path):
    with pytest.raises(ValueError, match="the book downloads nothing"):
        resolve_encoder("someone/not-a-cached-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no config.json"):
        resolve_encoder(tmp_path / "empty")


# ----------------------------------------------------------------------------- seqbook's encoder


def _tiny_bert(seed: int = 0):
    return tiny_bert(seed, vocab_size=60, num_hidden_layers=2, max_position_embeddings=64)


@pytest.mark.parametrize("head", ["bilstm", "cls", "mean"])
def test_albert_encoder_from_bert_plugs_into_the_classifiers(head):
    """AlbertEncoder returns the states themselves; the classifiers take it like the BertModel it
    copies, with the same logits."""
    from seqbook.albert import AlbertEncoder

    bert = _tiny_bert()
    ours = AlbertEncoder.from_bert(bert).eval()
    ids = torch.randint(5, 60, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    logits = []
    for encoder in (bert, ours):
        torch.manual_seed(1)
        if head == "bilstm":
            model = AlbertBiLSTMClassifier(encoder, hidden_size=8)
        else:
            model = EncoderLinearClassifier(encoder, "first" if head == "cls" else "mean")
        with torch.no_grad():
            logits.append(model.eval()(ids, mask))
    torch.testing.assert_close(logits[1], logits[0], atol=1e-5, rtol=1e-4)


def test_a_classifier_on_an_attention_shared_encoder_saves_and_loads(tmp_path):
    """Sharing transformers cannot express (attention only) survives save_pretrained."""
    from seqbook.albert import AlbertEncoder
    from seqbook.compress import share_layers

    encoder = share_layers(AlbertEncoder.from_bert(_tiny_bert(1)), "attention")
    model = AlbertBiLSTMClassifier(encoder, hidden_size=8).eval()
    model.save_pretrained(tmp_path)
    back = AlbertBiLSTMClassifier.from_pretrained(tmp_path).eval()
    assert isinstance(back.encoder, AlbertEncoder) and back.encoder.sharing == "attention"
    ids = torch.randint(5, 60, (2, 7))
    with torch.no_grad():
        torch.testing.assert_close(back(ids), model(ids))
