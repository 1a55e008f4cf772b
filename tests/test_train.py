import dataclasses

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from seqbook import train
from seqbook.runtime import seed_everything


class BagOfEmbeddings(nn.Module):
    def __init__(self, vocab_size=50, dim=8):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.out = nn.Linear(dim, 2)

    def forward(self, input_ids, mask):
        h = (self.embed(input_ids) * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return self.out(h)


def toy_batches(n=64, T=6, seed=0):
    """Label 1 iff token 7 occurs: learnable from a bag of embeddings."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (n, T), generator=g)
    labels = (ids == 7).any(1).long()
    ids[labels == 0] = torch.where(ids[labels == 0] == 7, 8, ids[labels == 0])
    ids[: n // 2, 0] = 7
    labels = (ids == 7).any(1).long()
    mask = torch.ones(n, T, dtype=torch.bool)
    items = [{"input_ids": ids[i], "mask": mask[i], "labels": labels[i]} for i in range(n)]
    return items


def loader(items, batch_size=16, shuffle=True, seed=0):
    return DataLoader(
        items, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed)
    )


def test_tiny_model_overfits_one_batch():
    seed_everything(0)
    model = BagOfEmbeddings()
    batch = toy_batches(n=16)
    history = train.fit(
        model, loader(batch), epochs=60, lr=0.05, monitor="train_loss", progress=False
    )
    assert history.epochs[-1]["train_loss"] < 0.05
    assert history.epochs[-1]["train_accuracy"] == 1.0


def fit_toy(seed=0, **options):
    """Seed, build a fresh model, and fit it on 48 toy reviews with 16 for validation."""
    seed_everything(seed)
    model = BagOfEmbeddings()
    items = toy_batches()
    valid = loader(items[48:], shuffle=False)
    options = {"epochs": 3, "lr": 0.05, "progress": False, "seed": seed, **options}
    return train.fit(model, loader(items[:48]), valid, **options), model, valid


def without_seconds(history):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in history.epochs]


def test_two_seeded_runs_give_equal_histories_and_weights():
    (h1, m1, _), (h2, m2, _) = fit_toy(), fit_toy()
    assert without_seconds(h1) == without_seconds(h2)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_history_reports_loss_accuracy_f1_and_restores_best_weights():
    h, model, valid = fit_toy(epochs=4)
    expected = {"train_loss", "train_accuracy", "valid_loss", "valid_accuracy", "valid_f1"}
    assert expected <= set(h.epochs[0])
    best = max(h.metric("valid_accuracy"))
    assert h.epochs[h.best_epoch - 1]["valid_accuracy"] == best
    assert train.evaluate(model, valid)["accuracy"] == pytest.approx(best)


def test_a_loss_monitor_keeps_the_epoch_of_lowest_loss():
    # lr 0: nothing changes, so the first epoch stays the best (ties keep the earlier epoch)
    h, _, _ = fit_toy(epochs=3, lr=0.0, monitor="valid_loss")
    assert len(h.epochs) == 3 and h.best_epoch == 1


def test_checkpoint_save_load_and_resume(tmp_path):
    items = toy_batches()
    path = tmp_path / "ckpt.pt"
    seed_everything(0)
    model = BagOfEmbeddings()
    h = train.fit(
        model,
        loader(items),
        epochs=2,
        lr=0.05,
        monitor="train_loss",
        checkpoint_path=path,
        progress=False,
    )
    fresh = BagOfEmbeddings()
    loaded = train.load_checkpoint(path, fresh)
    assert loaded["epoch"] == 2 and loaded["history"]["epochs"] == h.epochs
    h2 = train.fit(
        fresh,
        loader(items),
        epochs=4,
        lr=0.05,
        monitor="train_loss",
        checkpoint_path=path,
        resume=True,
        progress=False,
    )
    assert [e["epoch"] for e in h2.epochs] == [1, 2, 3, 4]


def test_forward_may_return_a_dict_with_its_own_loss():
    seed_everything(0)
    model = BagOfEmbeddings()

    def forward(m, batch):
        logits = m(batch["input_ids"], batch["mask"])
        return {
            "loss": nn.functional.cross_entropy(logits, batch["labels"]),
            "logits": logits,
            "labels": batch["labels"],
        }

    h = train.fit(
        model,
        loader(toy_batches()),
        epochs=2,
        lr=0.05,
        monitor="train_loss",
        forward=forward,
        progress=False,
    )
    assert "train_accuracy" in h.epochs[0]


def test_clear_errors():
    model = BagOfEmbeddings()
    with pytest.raises(ValueError, match="needs a valid_loader"):
        train.fit(model, loader(toy_batches()), epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        train.fit(model, loader(toy_batches()), epochs=0, lr=0.1, monitor="train_loss")
    with pytest.raises(ValueError, match=r"logits of shape \(B, C\)"):
        train.fit(
            nn.Sequential(),
            loader([{"x": torch.ones(3), "labels": torch.tensor(1)}]),
            epochs=1,
            lr=0.1,
            monitor="train_loss",
            forward=lambda m, b: b["x"][:, 0],
            optimizer=torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1),
            progress=False,
        )
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train.fit(model, loader(toy_batches()), epochs=1, lr=0.1, monitor="train_loss")


def test_f1_score_matches_hand_count():
    pred = torch.tensor([1, 1, 0, 0, 1])
    target = torch.tensor([1, 0, 0, 1, 1])
    assert train.f1_score(pred, target, 2) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))


@pytest.mark.cuda
def test_fit_runs_on_cuda_with_mixed_precision():
    seed_everything(0)
    model = BagOfEmbeddings()
    h = train.fit(
        model, loader(toy_batches(n=16)), epochs=20, lr=0.05, monitor="train_loss", progress=False
    )
    assert next(model.parameters()).device.type == "cuda"
    assert train.accelerator().mixed_precision in ("bf16", "fp16")
    assert h.epochs[-1]["train_loss"] < h.epochs[0]["train_loss"]


def test_lr_factor_warms_up_then_decays_linearly_to_zero():
    factors = [train.lr_factor(s, 10, "linear", warmup_steps=2) for s in range(1, 11)]
    assert factors[:2] == [0.5, 1.0]
    assert factors[-1] == 0.0
    assert all(a >= b for a, b in zip(factors[1:], factors[2:], strict=False))
    assert [train.lr_factor(s, 10, "constant", 0.0) for s in (1, 10)] == [1.0, 1.0]


def test_fit_rejects_an_unknown_schedule():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="schedule must be 'constant' or 'linear'"):
        train.fit(model, [], epochs=1, lr=0.1, schedule="cosine", monitor="train_loss")


@pytest.mark.parametrize("precision", ["bf16", "no"])
def test_fit_with_an_explicit_precision_validates_and_evaluates(precision):
    # explicit precisions used to fail at the first validation pass ("AcceleratorState has
    # already been initialized"): evaluate asked for a second, "auto" accelerator
    h, model, valid = fit_toy(epochs=2, mixed_precision=precision)
    assert train.accelerator().mixed_precision == precision
    assert "valid_accuracy" in h.epochs[-1]
    best = h.epochs[h.best_epoch - 1]["valid_accuracy"]  # fit restores the best epoch's weights
    assert train.evaluate(model, valid)["accuracy"] == pytest.approx(best)
    fit_toy(epochs=1, mixed_precision="auto")  # switching back works too
    assert train.accelerator().mixed_precision == train._resolve_precision("auto")


@pytest.mark.parametrize(
    ("cuda", "bf16", "expected"),
    [(False, False, "no"), (True, True, "bf16"), (True, False, "fp16")],
)
def test_auto_precision_is_bf16_or_fp16_on_cuda_and_none_elsewhere(
    monkeypatch, cuda, bf16, expected
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert train._resolve_precision("auto") == expected
    assert train._resolve_precision("no") == "no"  # an explicit choice is kept


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tmp_path):
    items = toy_batches()
    options = {"epochs": 4, "lr": 0.05, "monitor": "train_loss", "progress": False}

    def run(checkpoint=None, resume=False, epochs=4):
        seed_everything(0)
        model = BagOfEmbeddings()
        data = loader(items)  # a fresh, identically seeded shuffle per run
        h = train.fit(
            model,
            data,
            **{**options, "epochs": epochs},
            checkpoint_path=checkpoint,
            resume=resume,
            schedule="linear",
        )
        return h, model

    full_history, full_model = run()
    path = tmp_path / "ckpt.pt"
    calls = {"n": 0}

    def dies_in_epoch_3(model, batch):  # 4 batches an epoch: call 9 opens epoch 3
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return train.default_forward(model, batch)

    seed_everything(0)
    model = BagOfEmbeddings()
    with pytest.raises(KeyboardInterrupt):
        train.fit(
            model,
            loader(items),
            **options,
            checkpoint_path=path,
            schedule="linear",
            forward=dies_in_epoch_3,
        )
    assert train.load_checkpoint(path, BagOfEmbeddings())["epoch"] == 2
    seed_everything(123)  # the resumed process starts from other random states
    resumed_history, resumed_model = run(checkpoint=path, resume=True)
    assert [e["epoch"] for e in resumed_history.epochs] == [1, 2, 3, 4]
    assert without_seconds(resumed_history) == without_seconds(full_history)
    for a, b in zip(
        full_model.state_dict().values(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_run_experiment_returns_a_typed_record_that_round_trips(tmp_path):
    @dataclasses.dataclass
    class Settings:
        epochs: int = 2
        lr: float = 0.05

    items = toy_batches()
    s = Settings()
    model, record = train.run_experiment(
        "bag",
        BagOfEmbeddings,
        loader(items[:48]),
        loader(items[48:], shuffle=False),
        loader(items[48:], shuffle=False),
        settings=s,
        seed=3,
        epochs=s.epochs,
        lr=s.lr,
        progress=False,
    )
    assert record.settings == {"epochs": 2, "lr": 0.05} and record.seed == 3
    assert len(record.history) == 2 and record.seconds > 0
    assert record.parameters == sum(p.numel() for p in model.parameters())
    assert set(record.test) == {"test_loss", "test_accuracy", "test_f1"}
    path = record.save(tmp_path / "run.json")
    assert train.RunRecord.load(path) == record
    with pytest.raises(ValueError, match=r"needs the fields \['history'"):
        train.RunRecord.from_dict({k: v for k, v in record.to_dict().items() if k != "history"})


def test_settings_parser_is_built_from_the_dataclass():
    @dataclasses.dataclass
    class Settings:
        steps: int = 100
        lr: float = 1e-3
        task: str = "sop"
        dropout: bool = False
        subset: int | None = None

    parser = train.settings_parser(Settings)
    args = parser.parse_args(["--steps", "7", "--lr", "0.01", "--dropout", "--subset", "5"])
    assert train.settings_from_args(Settings, args) == Settings(7, 0.01, "sop", True, 5)
    assert train.settings_from_args(Settings, parser.parse_args([])) == Settings()
    with pytest.raises(SystemExit):
        parser.parse_args(["--steps", "many"])


# --------------------------------------------------------------------------- step-based runs
def step_batches(seed=0):
    """`batch_at(step)` for fit_steps: 8 toy reviews drawn by a generator seeded by the step."""
    items = toy_batches(n=64)

    def batch_at(step):
        g = torch.Generator().manual_seed(seed * 1000 + step)
        rows = [items[int(i)] for i in torch.randint(0, len(items), (8,), generator=g)]
        return {k: torch.stack([r[k] for r in rows]) for k in rows[0]}

    return batch_at


def fit_steps_toy(checkpoint=None, **options):
    seed_everything(0)
    model = BagOfEmbeddings()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    rows = []

    def log(progress, out):
        rows.append((progress.step, None if out is None else round(float(out.detach()[0, 0]), 6)))

    options = {"total_steps": 20, "warmup_steps": 4, "progress": False, **options}
    state = train.fit_steps(
        model,
        step_batches(),
        optimizer=optimizer,
        checkpoint_path=checkpoint,
        on_step=log,
        **options,
    )
    return model, state, rows


def test_fit_steps_learns_and_calls_back_once_before_the_first_step():
    model, state, rows = fit_steps_toy(total_steps=60)
    assert state.step == 60 and not state.paused and state.seconds > 0
    assert rows[0] == (0, None) and [r[0] for r in rows[1:]] == list(range(1, 61))
    batch = step_batches(seed=1)(0)
    accuracy = (model(batch["input_ids"], batch["mask"]).argmax(-1) == batch["labels"]).float()
    assert accuracy.mean() >= 0.75  # chance is about 0.5


def test_fit_steps_paused_and_resumed_equals_an_uninterrupted_run(tmp_path):
    straight, _, _ = fit_steps_toy()
    path = tmp_path / "steps.pt"
    _, paused, _ = fit_steps_toy(path, stop_at_step=7)
    assert paused.paused and paused.step == 7 and path.is_file()
    assert train.load_checkpoint(path, BagOfEmbeddings())["step"] == 7
    seed_everything(123)  # a new process starts from other random states
    resumed, state, rows = fit_steps_toy(path)
    assert state.step == 20 and not state.paused
    assert rows[0][0] == 8  # no second "before the first step" call on a resumed run
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("precision", ["bf16", "no"])
def test_fit_steps_with_an_explicit_precision_autocasts_a_custom_forward(precision):
    seen = []

    def forward(model, batch):  # calls submodules, not model(): autocast must still apply
        seen.append(torch.is_autocast_enabled("cpu"))
        h = model.embed(batch["input_ids"]).mean(1)
        return model.out(h)

    _, state, _ = fit_steps_toy(
        total_steps=3, warmup_steps=0, mixed_precision=precision, forward=forward
    )
    assert state.step == 3 and train.accelerator().mixed_precision == precision
    assert seen == [precision == "bf16"] * 3


def test_fit_steps_rejects_bad_settings_and_a_foreign_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="total_steps must be a positive int, got 0"):
        fit_steps_toy(total_steps=0)
    with pytest.raises(ValueError, match=r"warmup_steps must lie in \[0, 5\), got 5"):
        fit_steps_toy(total_steps=5, warmup_steps=5)
    foreign = tmp_path / "old.pt"
    torch.save({"model": BagOfEmbeddings().state_dict(), "state": {}}, foreign)
    with pytest.raises(ValueError, match="is not a seqbook.train checkpoint.*delete it"):
        fit_steps_toy(foreign)


def test_load_or_run_trains_once_loads_after_and_retrains_when_a_setting_changes(tmp_path):
    items = toy_batches()
    settings = {"reviews": 48, "dim": 8}

    def run(**options):
        options = {"epochs": 2, "lr": 0.05, "progress": False, **options}
        return train.load_or_run(
            tmp_path,
            "bag",
            BagOfEmbeddings,
            loader(items[:48]),
            loader(items[48:], shuffle=False),
            settings=settings,
            **options,
        )

    model, record, loaded = run()
    again, record_again, loaded_again = run()
    assert not loaded and loaded_again and record_again == record
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    _, other, loaded_other = run(lr=0.01)
    assert not loaded_other and other.history != record.history
    assert len(list(tmp_path.iterdir())) == 2  # one folder per key
    with pytest.raises(TypeError, match="optimizer must be a plain value"):
        run(optimizer=torch.optim.SGD(BagOfEmbeddings().parameters(), lr=0.1))


# --------------------------------------------------------------------------- bad input, refused
class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 2)

    def forward(self, x):
        return self.layer(x)


def xy_batches(n=2):
    return [{"x": torch.ones(3, 2), "labels": torch.tensor([0, 1, 0])} for _ in range(n)]


FIT = {"epochs": 1, "lr": 0.1, "monitor": "train_loss", "progress": False}


def test_f1_refuses_targets_that_would_broadcast_against_the_predictions():
    # a (B, 1) target against (B,) predictions used to give 0.5 for a perfect prediction
    with pytest.raises(ValueError, match=r"same shape .* got \(3,\) and \(3, 1\)"):
        train.f1_score(torch.tensor([1, 0, 1]), torch.tensor([[1], [0], [1]]), 2)


def test_f1_of_no_predictions_is_an_error_not_zero():
    empty = torch.tensor([], dtype=torch.long)
    with pytest.raises(ValueError, match="at least one prediction, got none"):
        train.f1_score(empty, empty, 2)


def test_f1_refuses_probabilities_instead_of_class_ids():
    with pytest.raises(TypeError, match="pred must be an integer tensor, got dtype torch.float32"):
        train.f1_score(torch.tensor([0.9, 0.2]), torch.tensor([1, 0]), 2)


def test_f1_refuses_fewer_than_two_classes():
    with pytest.raises(ValueError, match="num_classes must be at least 2, got 1"):
        train.f1_score(torch.tensor([0, 0]), torch.tensor([0, 0]), 1)


@pytest.mark.parametrize("loader", [[], iter([])], ids=["empty list", "empty iterator"])
def test_evaluate_on_no_batches_is_an_error_not_a_zero_loss(loader):
    with pytest.raises(ValueError, match="loader must yield at least one batch"):
        train.evaluate(Linear(), loader)


def test_evaluate_refuses_one_batch_instead_of_a_loader():
    # the batch's keys used to be taken for batches
    with pytest.raises(TypeError, match=r"got dict \(a single batch\? pass \[batch\]\)"):
        train.evaluate(Linear(), xy_batches(1)[0])


def test_evaluate_refuses_batches_that_are_not_dicts():
    with pytest.raises(TypeError, match="a batch must be a dict of tensors, got tuple"):
        train.evaluate(Linear(), [(torch.ones(3, 2), torch.tensor([0, 1, 0]))])


def test_scoring_refuses_labels_that_would_broadcast_against_the_logits():
    def forward(m, batch):
        logits = m(batch["x"])
        return {"loss": logits.sum() * 0, "logits": logits, "labels": batch["labels"][:, None]}

    with pytest.raises(ValueError, match=r"labels must have the shape of the logits .*\(3,\), got"):
        train.evaluate(Linear(), xy_batches(1), forward)


def test_scoring_refuses_a_loss_that_is_not_one_number():
    with pytest.raises(ValueError, match=r"the loss must be a single number .*shape \(3,\)"):
        train.evaluate(Linear(), xy_batches(1), lambda m, b: {"loss": m(b["x"]).sum(1)})


def test_scoring_with_every_label_ignored_is_an_error_not_nan():
    def forward(m, batch):
        logits = m(batch["x"])
        return {"loss": logits.sum() * 0, "logits": logits, "labels": torch.full((3,), -100)}

    with pytest.raises(ValueError, match=r"every label is -100 \(ignored\)"):
        train.evaluate(Linear(), xy_batches(1), forward)


def test_fit_on_no_training_batches_is_an_error_not_a_zero_loss():
    with pytest.raises(ValueError, match="train_loader must yield at least one batch"):
        train.fit(Linear(), [], **FIT)


def test_fit_refuses_an_empty_validation_loader():
    with pytest.raises(ValueError, match="valid_loader must yield at least one batch"):
        train.fit(Linear(), xy_batches(), [], **FIT)


def test_fit_refuses_one_batch_instead_of_a_loader():
    with pytest.raises(TypeError, match=r"train_loader must be an iterable of batches .*dict"):
        train.fit(Linear(), xy_batches(1)[0], **FIT)


def test_fit_refuses_a_fractional_number_of_epochs():
    with pytest.raises(TypeError, match="epochs must be an int >= 1, got 2.5"):
        train.fit(Linear(), xy_batches(), **(FIT | {"epochs": 2.5}))


@pytest.mark.parametrize("clip", [0, -1.0, float("nan")])
def test_fit_refuses_a_clipping_norm_that_would_stop_or_poison_training(clip):
    # 0 used to zero every gradient: a run that "trained" without moving
    with pytest.raises(ValueError, match="clip_grad_norm must be a positive, finite number"):
        train.fit(Linear(), xy_batches(), clip_grad_norm=clip, **FIT)


def test_fit_refuses_a_monitor_that_is_not_a_metric_name():
    with pytest.raises(TypeError, match="monitor must be the name of a metric"):
        train.fit(Linear(), xy_batches(), **(FIT | {"monitor": None}))


def step_options(model):
    return {
        "total_steps": 2,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "progress": False,
    }


def test_fit_steps_refuses_a_loader_instead_of_a_function_of_the_step():
    model = Linear()
    with pytest.raises(TypeError, match="batch_at must be a function of the step"):
        train.fit_steps(model, xy_batches(), **step_options(model))


def test_fit_steps_refuses_a_missing_optimizer():
    model = Linear()
    options = step_options(model) | {"optimizer": None}
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer, got NoneType"):
        train.fit_steps(model, lambda step: xy_batches(1)[0], **options)


def test_fit_steps_refuses_a_fractional_number_of_warm_up_steps():
    model = Linear()
    with pytest.raises(TypeError, match="warmup_steps must be an int, got 0.5"):
        train.fit_steps(model, lambda s: xy_batches(1)[0], warmup_steps=0.5, **step_options(model))


def test_fit_steps_refuses_a_nan_clipping_norm():
    model = Linear()
    with pytest.raises(ValueError, match="clip_grad_norm must be a positive, finite number"):
        train.fit_steps(
            model, lambda s: xy_batches(1)[0], clip_grad_norm=float("nan"), **step_options(model)
        )


def test_run_experiment_refuses_a_model_instead_of_a_builder():
    with pytest.raises(TypeError, match="build must be a function .* got a Linear instance"):
        train.run_experiment("run", Linear(), xy_batches(), settings={}, **FIT)


def test_run_experiment_refuses_a_builder_that_returns_no_model():
    with pytest.raises(TypeError, match=r"build\(\) must return a torch.nn.Module, got dict"):
        train.run_experiment("run", dict, xy_batches(), settings={}, **FIT)


def test_run_experiment_refuses_bad_settings_before_it_trains(monkeypatch):
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained before refusing"))
    with pytest.raises(TypeError, match="settings must be a dataclass instance or a dict"):
        train.run_experiment("run", Linear, xy_batches(), settings=3, **FIT)


def test_every_results_row_takes_a_runs_figures_from_one_definition():
    from seqbook.train import RunRecord

    history = [{"valid_accuracy": 0.7}, {"valid_accuracy": 0.9}, {"valid_accuracy": 0.8}]
    record = RunRecord(
        name="r",
        settings={},
        history=history,
        test={"test_accuracy": 0.85, "test_f1": 0.84, "test_loss": 0.4},
        seconds=12.345,
        parameters=7,
        profile="fast",
        version="0",
        seed=0,
        best_epoch=2,
    )
    assert record.row() == {
        "test_accuracy": 0.85,
        "test_f1": 0.84,
        "valid_accuracy": 0.9,  # of the kept epoch (1-based), not the last one
        "best_epoch": 2,
        "seconds": 12.3,
        "parameters": 7,
    }
    record.best_epoch = 3  # kept on another monitor: its own epoch's value, not the maximum
    assert record.row()["valid_accuracy"] == 0.8
    record.best_epoch = 0  # no epoch kept
    assert record.row()["valid_accuracy"] is None
