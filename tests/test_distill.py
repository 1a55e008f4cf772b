"""seqbook.distill: the distillation objective, its text windows and its settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_bert

from seqbook.albert import AlbertEncoder
from seqbook.compress import albert_from_bert
from seqbook.distill import (
    DistillSettings,
    attention_loss,
    distill_losses,
    hidden_loss,
    sample_windows,
)


def masked(seed: int, B: int = 4, T: int = 12, H: int = 8):
    g = torch.Generator().manual_seed(seed)
    teacher = torch.randn(B, T, H, generator=g) * torch.rand(H, generator=g) * 3
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 7:], mask[3, 2:] = False, False
    return teacher, mask, g


@pytest.mark.parametrize("seed", range(20))
def test_hidden_loss_ignores_a_rescaling_and_shift_of_each_dimension(seed):
    teacher, mask, g = masked(seed)
    H = teacher.shape[-1]
    scale = torch.rand(H, generator=g) * 4 + 0.1
    scale = scale * torch.where(torch.rand(H, generator=g) < 0.5, -1.0, 1.0)
    shift = torch.randn(H, generator=g) * 5
    assert hidden_loss(teacher, teacher, mask) < 1e-6
    assert hidden_loss(teacher * scale + shift, teacher, mask) < 1e-5


@pytest.mark.parametrize("seed", range(20))
def test_hidden_loss_is_a_share_of_variance_and_near_one_for_unrelated_states(seed):
    teacher, mask, g = masked(seed, B=64, T=40)
    noise = torch.randn(teacher.shape, generator=g)
    value = hidden_loss(noise, teacher, mask).item()
    assert 0.95 < value <= 1.0
    half = hidden_loss(teacher + noise * teacher.std(), teacher, mask).item()
    assert 0.0 < half < value


def test_hidden_loss_counts_only_real_tokens():
    teacher, mask, _ = masked(0)
    student = teacher.clone()
    student[~mask] = 1e6  # padding positions may hold anything
    assert hidden_loss(student, teacher, mask) < 1e-6


@pytest.mark.parametrize("seed", range(10))
def test_attention_loss_is_the_kl_divergence_over_real_queries(seed):
    g = torch.Generator().manual_seed(seed)
    B, heads, T = 3, 2, 6
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[2, 4:] = False
    logits_t, logits_s = torch.randn(2, B, heads, T, T, generator=g)
    key_mask = mask[:, None, None, :]
    t = logits_t.masked_fill(~key_mask, -torch.inf).softmax(-1)
    s = logits_s.masked_fill(~key_mask, -torch.inf).softmax(-1)
    got = attention_loss(s, t, mask)
    want = []
    for b in range(B):
        for q in range(int(mask[b].sum())):
            n = int(mask[b].sum())
            want.append(F.kl_div(s[b, :, q, :n].log(), t[b, :, q, :n], reduction="none").sum(-1))
    torch.testing.assert_close(got, torch.cat(want).mean(), atol=1e-5, rtol=1e-5)
    assert attention_loss(t, t, mask) < 1e-6


def tiny_pair():
    bert = tiny_bert(vocab_size=50, intermediate_size=32)
    teacher = AlbertEncoder.from_bert(bert).eval().requires_grad_(False)
    return teacher, albert_from_bert(teacher, E=8, sharing="all")


@pytest.mark.parametrize("layers", ["all", "last"])
def test_the_loss_trains_the_student_and_never_the_teacher(layers):
    teacher, student = tiny_pair()
    ids = torch.randint(5, 50, (4, 10))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[0, 6:] = False
    out = distill_losses(student, teacher, {"input_ids": ids, "attention_mask": mask}, layers)
    assert set(out) == {"loss", "hidden", "attention"}
    out["loss"].backward()
    assert student.attention_blocks[0].query.weight.grad.abs().sum() > 0
    assert student.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    # the student equal to the teacher has nothing to learn
    same = distill_losses(teacher, teacher, {"input_ids": ids, "attention_mask": mask}, layers)
    assert same["loss"] < 1e-5


@pytest.mark.parametrize("seed", range(20))
def test_windows_are_framed_padded_and_no_longer_than_max_len(seed):
    rng = np.random.default_rng(seed)
    reviews = [np.arange(10, 10 + n) for n in rng.integers(1, 40, 30)]
    batch = sample_windows(reviews, 8, 16, np.random.default_rng(seed), cls=1, sep=2, pad=0)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape[0] == 8 and ids.shape[1] <= 16 and mask.dtype == torch.bool
    for row, m in zip(ids, mask, strict=True):
        n = int(m.sum())
        assert row[0] == 1 and row[n - 1] == 2 and (row[n:] == 0).all()
        body = row[1 : n - 1]
        assert (body[1:] - body[:-1] == 1).all()  # one contiguous stretch of a review
    again = sample_windows(reviews, 8, 16, np.random.default_rng(seed), cls=1, sep=2, pad=0)
    assert torch.equal(again["input_ids"], ids)


def test_settings_refuse_bad_values_by_name():
    with pytest.raises(ValueError, match="layers must be 'all' or 'last'"):
        DistillSettings(layers="first")
    with pytest.raises(ValueError, match="steps"):
        DistillSettings(steps=0)
    with pytest.raises(ValueError, match="warmup must lie in"):
        DistillSettings(warmup=1.0)
    with pytest.raises(ValueError, match="attention_weight must be >= 0"):
        DistillSettings(attention_weight=-1.0)


@pytest.mark.parametrize("seed", range(10))
def test_the_plain_loss_charges_a_rescaled_copy_that_the_affine_loss_forgives(seed):
    """A shared LayerNorm gives every depth one scale: only the affine comparison lets a student
    whose states are the teacher's up to scale score zero."""
    from seqbook.distill import plain_hidden_loss

    teacher, mask, _ = masked(seed, B=16, T=20)
    copy = 0.3 * teacher + 1.0
    assert hidden_loss(copy, teacher, mask) < 1e-5
    assert plain_hidden_loss(copy, teacher, mask) > 0.4
    assert plain_hidden_loss(teacher, teacher, mask) < 1e-6


def test_ship_command_records_the_command_without_its_ship_option(monkeypatch):
    from seqbook import distill

    seen = {}
    monkeypatch.setattr(
        distill, "ship", lambda run, out, command, commit, extra: seen.update(locals())
    )
    argv = ["--out", "runs/x", "--embedding-size", "112", "--ship", "data/y", "--groups", "2"]
    distill.ship_command("runs/x", "data/y", argv)
    assert seen["command"] == (
        "python -m seqbook.distill --out runs/x --embedding-size 112 --groups 2"
    )
    assert seen["out"] == "data/y" and seen["extra"]["hardware"]["cpu"]
    assert argv[-4:] == ["--ship", "data/y", "--groups", "2"]  # the caller's list is untouched


def test_the_distillation_record_is_typed_and_reads_the_shipped_run(tmp_path):
    from seqbook.data import shipped_data_dir
    from seqbook.distill import HISTORY_FILE, DistillRecord

    shipped = DistillRecord.load(shipped_data_dir() / "albert-minilm-distilled" / HISTORY_FILE)
    assert shipped.finished and shipped.steps == shipped.settings["steps"]
    assert shipped.hardware is None  # made before the machine was recorded
    assert DistillRecord.from_dict(shipped.to_dict()) == shipped
    torn = {k: v for k, v in shipped.to_dict().items() if k != "finished"}
    with pytest.raises(ValueError, match=r"a DistillRecord needs the fields \['finished'\]"):
        DistillRecord.from_dict(torn)
