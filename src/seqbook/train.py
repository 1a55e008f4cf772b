"""The one training / evaluation loop every chapter uses, built on Hugging Face Accelerate.

The same code runs on a CPU, one GPU (with mixed precision) or several GPUs under
`accelerate launch`. A batch is a dict of tensors; by default the model is called with every
entry except "labels" and must return logits (B, C). A `forward(model, batch)` function can
replace that call; it may return logits or a dict with "loss" (and optionally "logits" and
"labels" to score).

- `fit`: epochs over a loader, validation after each, the best epoch's weights kept;
  `fit_steps`: a fixed number of optimizer steps on `batch_at(step)` (pretraining, synthetic
  tasks). Both share one update (`_update`), one schedule (`lr_factor`), one accelerator per
  process and one atomic checkpoint format (`save_checkpoint` / `load_checkpoint`), so an
  interrupted run of either kind resumes to the same weights.
- `RunRecord`: the typed result of a run (settings, history, test metrics, seconds, parameter
  count, profile, version); `run_experiment` is "seed, build, fit, time, evaluate" and
  `load_or_run` caches it under a digest of everything that produced it.
- `settings_parser` / `settings_from_args`: a command line built from a settings dataclass.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import numbers
import random
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from seqbook.cache import read_json, torch_load, torch_save, write_json
from seqbook.runtime import seed_everything
from seqbook.validate import check_number, check_positive_ints, check_tensor, describe

Forward = Callable[[nn.Module, dict[str, torch.Tensor]], object]


@dataclass
class History:
    """Per-epoch metrics; `best_epoch` (1-based) and its weights in `best_state`."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    monitor: str = "valid_accuracy"

    def metric(self, name: str) -> list[float]:
        """The values of one metric over the epochs."""
        return [e[name] for e in self.epochs if name in e]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.epochs).set_index("epoch")


def default_forward(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Call the model with every batch entry but the labels."""
    return model(**{k: v for k, v in batch.items() if k != "labels"})


_ACCELERATOR = None  # one per process; replaced only when another precision is asked for


def _resolve_precision(mixed_precision: str) -> str:
    if mixed_precision not in ("auto", "no", "fp16", "bf16"):
        raise ValueError(f"mixed_precision must be auto, no, fp16 or bf16, got {mixed_precision!r}")
    if mixed_precision != "auto":
        return mixed_precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def accelerator(mixed_precision: str | None = None):
    """The process's Accelerator. `None` reuses the current one (creating an "auto" one if there
    is none); "auto" means bf16 (or fp16) autocast on CUDA and none elsewhere; an explicit
    precision other than the current one replaces it (Accelerate keeps one state per process)."""
    global _ACCELERATOR
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    if mixed_precision is None and _ACCELERATOR is not None:
        return _ACCELERATOR
    wanted = _resolve_precision(mixed_precision or "auto")
    if _ACCELERATOR is not None and _ACCELERATOR.mixed_precision == wanted:
        return _ACCELERATOR
    if _ACCELERATOR is not None:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    _ACCELERATOR = Accelerator(mixed_precision=wanted)
    return _ACCELERATOR


def _loss_and_scores(out: object, batch: dict[str, torch.Tensor]):
    """(loss, logits or None, labels or None) from a forward output."""
    if isinstance(out, dict):
        if "loss" not in out:
            raise ValueError(
                f"a forward that returns a dict must include 'loss', got keys {sorted(out)}"
            )
        return out["loss"], out.get("logits"), out.get("labels")
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model must return logits of shape (B, C), got {shape}")
    if "labels" not in batch:
        raise ValueError(f"the batch must hold 'labels' to score logits, got keys {sorted(batch)}")
    return F.cross_entropy(out.float(), batch["labels"]), out, batch["labels"]


def f1_score(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> float:
    """F1 of the positive class for two classes, macro-averaged F1 for more: `pred` and `target`
    integer class ids of one shape."""
    check_tensor(pred, "pred", dtype="integer")  # class ids: the argmax of the logits
    check_tensor(target, "target", dtype="integer")
    if pred.shape != target.shape:
        raise ValueError(
            "pred and target must have the same shape (one prediction per target), got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.numel() == 0:
        raise ValueError("pred and target must hold at least one prediction, got none")
    check_positive_ints(num_classes=num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    scores = []
    classes = [1] if num_classes == 2 else range(num_classes)
    for c in classes:
        tp = ((pred == c) & (target == c)).sum().item()
        fp = ((pred == c) & (target != c)).sum().item()
        fn = ((pred != c) & (target == c)).sum().item()
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / len(scores)


class _Meter:
    """Running loss, and the predictions needed for accuracy and F1."""

    def __init__(self):
        self.loss_sum, self.n, self.preds, self.targets, self.num_classes = 0.0, 0, [], [], 2
        self.batches = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor | None, labels: torch.Tensor | None):
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(
                f"the loss must be a single number (a 0-d tensor), got {describe(loss)}"
            )
        if logits is not None and labels is not None and labels.shape != logits.shape[:-1]:
            raise ValueError(
                "labels must have the shape of the logits without their class dimension, "
                f"{tuple(logits.shape[:-1])}, got {tuple(labels.shape)}"
            )
        self.batches += 1
        size = labels.numel() if labels is not None else 1
        self.loss_sum += loss.item() * size
        self.n += size
        if logits is not None and labels is not None:
            keep = labels != -100  # ignored positions (e.g. unmasked tokens in MLM)
            self.preds.append(logits.detach().argmax(-1)[keep].cpu())
            self.targets.append(labels[keep].cpu())
            self.num_classes = logits.shape[-1]

    def result(self, prefix: str = "") -> dict[str, float]:
        out = {f"{prefix}loss": self.loss_sum / max(self.n, 1)}
        if self.preds:
            pred, target = torch.cat(self.preds), torch.cat(self.targets)
            if not len(target):
                raise ValueError("every label is -100 (ignored): there is nothing to score")
            out[f"{prefix}accuracy"] = (pred == target).float().mean().item()
            out[f"{prefix}f1"] = f1_score(pred, target, self.num_classes)
        return out


def _to_device(batch: dict[str, object], device: torch.device) -> dict[str, object]:
    """A batch dict with its tensors on `device` (other entries as they are)."""
    if not isinstance(batch, dict):
        raise TypeError(f"a batch must be a dict of tensors, got {describe(batch)}")
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _check_loader(loader: object, name: str) -> None:
    """An iterable of batches (a DataLoader, a list of dicts), not one batch, and not known to be
    empty."""
    if isinstance(loader, dict | str | torch.Tensor) or not isinstance(loader, Iterable):
        hint = " (a single batch? pass [batch])" if isinstance(loader, dict) else ""
        raise TypeError(
            f"{name} must be an iterable of batches (a DataLoader or a list of dicts), got "
            f"{type(loader).__name__}{hint}"
        )
    try:
        empty = len(loader) == 0  # type: ignore[arg-type]
    except TypeError:  # no length (a generator, an iterable dataset): counted while it runs
        return
    if empty:
        raise ValueError(
            f"{name} must yield at least one batch, got an empty {type(loader).__name__}"
        )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    forward: Forward | None = None,
    prefix: str = "",
    progress: bool = False,
) -> dict[str, float]:
    """Mean loss, accuracy and F1 of `model` over `loader` (keys: loss, accuracy, f1)."""
    _check_loader(loader, "loader")
    acc = accelerator()
    forward = forward or default_forward
    model.to(acc.device)
    was_training = model.training
    model.eval()
    meter = _Meter()
    for batch in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        batch = _to_device(batch, acc.device)
        with acc.autocast():
            meter.add(*_loss_and_scores(forward(model, batch), batch))
    model.train(was_training)
    if not meter.batches:
        raise ValueError("loader must yield at least one batch, got none")
    return meter.result(prefix)


def fit(
    model: nn.Module,
    train_loader,
    valid_loader=None,
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    optimizer: torch.optim.Optimizer | None = None,
    clip_grad_norm: float | None = 1.0,
    monitor: str = "valid_accuracy",
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    forward: Forward | None = None,
    mixed_precision: str = "auto",
    schedule: str = "constant",
    warmup: float = 0.0,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Train `model` for `epochs`, evaluating on `valid_loader` after each epoch.

    `optimizer` replaces the default AdamW over the trainable parameters (e.g. with parameter
    groups at different learning rates; `lr` is then unused). `schedule="linear"` scales every
    group's learning rate up linearly over the first `warmup` fraction of the steps and then
    down linearly to zero at the last step (the schedule BERT and ALBERT were fine-tuned with);
    "constant" keeps it, after the same warm-up.

    Keeps the weights of the best epoch by `monitor` (a key of the history; "valid_*" needs a
    `valid_loader`, loss-like keys are minimised) and restores them at the end. With
    `checkpoint_path`, the state after every epoch is saved there; `resume=True` continues from
    it. `fit_steps` is the same update for step-based runs (pretraining).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral):
        raise TypeError(f"epochs must be an int >= 1, got {epochs!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    _check_schedule(schedule)
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"warmup must be a fraction in [0, 1), got {warmup!r}")
    if not isinstance(monitor, str):
        raise TypeError(f"monitor must be the name of a metric (a str), got {monitor!r}")
    if monitor.startswith("valid_") and valid_loader is None:
        raise ValueError(f"monitor={monitor!r} needs a valid_loader (or monitor a train_* metric)")
    _check_clip(clip_grad_norm)
    _check_loader(train_loader, "train_loader")
    if valid_loader is not None:
        _check_loader(valid_loader, "valid_loader")
    seed_everything(seed)
    acc = accelerator(mixed_precision)
    forward = forward or default_forward
    if optimizer is None:
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("model has no trainable parameters (is everything frozen?)")
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    shuffler = getattr(getattr(train_loader, "sampler", None), "generator", None)
    model, optimizer, train_loader = acc.prepare(model, optimizer, train_loader)
    history = History(monitor=monitor)
    start = 1
    if resume and checkpoint_path is not None and Path(checkpoint_path).is_file():
        saved = load_checkpoint(checkpoint_path, acc.unwrap_model(model), optimizer, shuffler)
        history = History(**saved["history"], best_state=saved["best_state"])
        start = saved["epoch"] + 1
    base_lrs = _base_lrs(optimizer)
    total_steps = epochs * len(train_loader)
    warmup_steps = int(warmup * total_steps)
    step = (start - 1) * len(train_loader)
    minimise = "loss" in monitor
    best = (
        min(history.metric(monitor), default=math.inf)
        if minimise
        else max(history.metric(monitor), default=-math.inf)
    )
    for epoch in range(start, epochs + 1):
        model.train()
        meter, t0 = _Meter(), time.perf_counter()
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress)
        for batch in bar:
            with acc.autocast():
                loss, logits, labels = _loss_and_scores(forward(model, batch), batch)
            step += 1
            factor = lr_factor(step, total_steps, schedule, warmup_steps)
            _update(acc, model, optimizer, loss, base_lrs, factor, clip_grad_norm)
            meter.add(loss, logits, labels)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        row = {"epoch": epoch, **meter.result("train_"), "seconds": time.perf_counter() - t0}
        if valid_loader is not None:
            row.update(evaluate(model, valid_loader, forward, prefix="valid_"))
        history.epochs.append(row)
        if monitor not in row:
            raise ValueError(f"monitor={monitor!r} is not among the metrics {sorted(row)}")
        value = row[monitor]
        if (value < best) if minimise else (value > best):
            best, history.best_epoch = value, epoch
            history.best_state = copy.deepcopy(acc.unwrap_model(model).state_dict())
        if checkpoint_path is not None:
            progress_state = {
                "history": {
                    "epochs": history.epochs,
                    "best_epoch": history.best_epoch,
                    "monitor": history.monitor,
                },
                "best_state": history.best_state,
                "epoch": epoch,
            }
            save_checkpoint(
                checkpoint_path, acc.unwrap_model(model), optimizer, progress_state, shuffler
            )
    model = acc.unwrap_model(model)
    if history.best_state is not None:
        model.load_state_dict(history.best_state)
    acc.free_memory()  # drop the accelerator's references to this run's model and optimizer
    return history


def _check_clip(clip_grad_norm: object) -> None:
    """None (no clipping) or a positive norm: 0 would zero every gradient, NaN poison them."""
    if clip_grad_norm is not None:
        check_number("clip_grad_norm", clip_grad_norm, positive=True)


def _check_schedule(schedule: str) -> None:
    if schedule not in ("constant", "linear"):
        raise ValueError(f"schedule must be 'constant' or 'linear', got {schedule!r}")


def _base_lrs(optimizer) -> list[float]:
    """Each parameter group's peak learning rate (kept in the group as "initial_lr", so a
    resumed optimizer state keeps the peak, not the last scheduled value)."""
    base_lrs = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
        group["initial_lr"] = base
    return base_lrs


def _update(acc, model, optimizer, loss, base_lrs, factor: float, clip_grad_norm) -> None:
    """One optimiser update, shared by `fit` and `fit_steps`: gradients of `loss` (scaled by
    the accelerator under fp16), clipping to `clip_grad_norm`, every group's learning rate set
    to its peak times the schedule's `factor`, then the step."""
    optimizer.zero_grad(set_to_none=True)
    acc.backward(loss)
    if clip_grad_norm is not None:
        acc.clip_grad_norm_(model.parameters(), clip_grad_norm)
    for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
        group["lr"] = base * factor
    optimizer.step()


def lr_factor(
    step: int, total_steps: int, schedule: str = "linear", warmup_steps: int = 0
) -> float:
    """Learning-rate multiplier for optimizer step `step` (1-based) of `total_steps`: a linear
    warm-up over the first `warmup_steps` steps (step/warmup_steps), then constant or a linear
    decay that reaches 0 at the last step. The one schedule of `fit` and `fit_steps`."""
    if step <= warmup_steps:
        return step / max(warmup_steps, 1)
    if schedule == "constant":
        return 1.0
    return max(0.0, (total_steps - step) / max(total_steps - warmup_steps, 1))


def _rng_state(shuffler: torch.Generator | None) -> dict[str, object]:
    """Every random state a resumed run must continue from: Python, NumPy, torch (CPU and CUDA)
    and the training loader's shuffling generator."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - the global state seed_everything seeds
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "shuffler": shuffler.get_state() if shuffler is not None else None,
    }


def _set_rng_state(state: dict[str, object], shuffler: torch.Generator | None) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if shuffler is not None and state["shuffler"] is not None:
        shuffler.set_state(state["shuffler"])


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer,
    progress: dict[str, object],
    shuffler: torch.Generator | None = None,
) -> None:
    """The one checkpoint format: weights, optimizer state, the run's `progress` (`fit`: epoch,
    history and best weights; `fit_steps`: step, seconds and history) and every random state,
    written atomically (a run killed while saving keeps its previous checkpoint)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "progress": progress,
        "rng": _rng_state(shuffler),
    }
    torch_save(state, path)


def load_checkpoint(
    path: str | Path, model: nn.Module, optimizer=None, shuffler: torch.Generator | None = None
) -> dict[str, object]:
    """Load a `save_checkpoint` file into `model` (and `optimizer`, and the random states, so
    the run continues exactly as an uninterrupted one); return the saved `progress`."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint path must be an existing file, got {str(path)!r}")
    state = torch_load(path)
    if not isinstance(state, dict) or "progress" not in state:
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"{path} is not a seqbook.train checkpoint (keys {keys}, expected 'model', "
            "'optimizer', 'progress', 'rng'): delete it to start the run afresh"
        )
    model.load_state_dict(state["model"])
    if optimizer is not None and state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    _set_rng_state(state["rng"], shuffler)
    return state["progress"]


# --------------------------------------------------------------------------- step-based runs
@dataclass
class StepProgress:
    """Where a step-based run stands (what its checkpoint restores): optimizer steps done,
    seconds spent in them (evaluation excluded), the rows the run's callback logged, and
    whether the run stopped before its last step."""

    step: int = 0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    paused: bool = False


def fit_steps(
    model: nn.Module,
    batch_at: Callable[[int], dict[str, torch.Tensor]],
    *,
    total_steps: int,
    optimizer: torch.optim.Optimizer,
    forward: Forward | None = None,
    schedule: str = "linear",
    warmup_steps: int = 0,
    clip_grad_norm: float | None = 1.0,
    mixed_precision: str = "auto",
    on_step: Callable[[StepProgress, object], dict[str, str] | None] | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_seconds: float = 180.0,
    stop_at_step: int | None = None,
    stop_after_seconds: float | None = None,
    progress: bool = True,
) -> StepProgress:
    """Train for `total_steps` optimizer steps on `batch_at(step)` (0-based): the loop of runs
    that count steps, not epochs (pretraining). The update, the schedule (`lr_factor`), mixed
    precision and the checkpoint format are `fit`'s.

    `batch_at` must be a function of the step alone (seed it by the step), so a resumed run
    sees the batches an uninterrupted one would. `forward(model, batch)` returns logits or a
    dict with "loss" (see `fit`). `on_step(progress, output)` runs after every step (and once,
    with output None, before the first step of a fresh run); it may append rows to
    `progress.history` and return a dict for the progress bar. With `checkpoint_path`, the run
    resumes from that file if it exists and saves there every `checkpoint_seconds`, at a pause
    and at the end. `stop_at_step` / `stop_after_seconds` pause the run (`progress.paused`)
    without changing its schedule.
    """
    check_positive_ints(total_steps=total_steps)
    if not callable(batch_at) or isinstance(batch_at, nn.Module):
        raise TypeError(
            "batch_at must be a function of the step (step -> batch dict), got "
            f"{type(batch_at).__name__}"
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {describe(optimizer)}")
    _check_schedule(schedule)
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, numbers.Integral):
        raise TypeError(f"warmup_steps must be an int, got {warmup_steps!r}")
    _check_clip(clip_grad_norm)
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must lie in [0, {total_steps}), got {warmup_steps!r}")
    acc = accelerator(mixed_precision)
    forward = forward or default_forward
    model, optimizer = acc.prepare(model, optimizer)
    state = StepProgress()
    if checkpoint_path is not None and Path(checkpoint_path).is_file():
        saved = load_checkpoint(checkpoint_path, acc.unwrap_model(model), optimizer)
        state = StepProgress(**{**saved, "paused": False})
    base_lrs = _base_lrs(optimizer)

    def save() -> None:
        if checkpoint_path is not None:
            progress_state = dataclasses.asdict(state)
            save_checkpoint(checkpoint_path, acc.unwrap_model(model), optimizer, progress_state)

    if state.step == 0 and not state.history and on_step is not None:
        on_step(state, None)
    started = last_save = time.perf_counter()
    model.train()
    bar = tqdm(
        total=total_steps, initial=state.step, desc="step", leave=False, disable=not progress
    )
    while state.step < total_steps:
        if stop_at_step is not None and state.step >= stop_at_step:
            state.paused = True
            break
        t0 = time.perf_counter()
        batch = _to_device(batch_at(state.step), acc.device)
        with acc.autocast():  # a forward that calls submodules (not model()) is covered too
            out = forward(model, batch)
        loss = _loss_and_scores(out, batch)[0]
        _update(
            acc,
            model,
            optimizer,
            loss,
            base_lrs,
            lr_factor(state.step + 1, total_steps, schedule, warmup_steps),
            clip_grad_norm,
        )
        state.step += 1
        state.seconds += time.perf_counter() - t0
        postfix = on_step(state, out) if on_step is not None else None
        bar.update(1)
        if postfix:
            bar.set_postfix(postfix)
        now = time.perf_counter()
        if stop_after_seconds is not None and now - started > stop_after_seconds:
            state.paused = state.step < total_steps
            break
        if now - last_save > checkpoint_seconds:
            save()
            last_save = now
    bar.close()
    save()
    acc.free_memory()
    return state


# --------------------------------------------------------------------------- typed runs
class Record:
    """What every run record shares (a dataclass that inherits this): JSON of its fields, saved
    atomically, and read back checked: every field without a default must be there, fields the
    class does not know are ignored (a newer writer may add some)."""

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]):
        if not isinstance(data, dict):
            raise ValueError(
                f"a {cls.__name__} is read from a JSON object, got {type(data).__name__}"
            )
        fields = dataclasses.fields(cls)
        required = {
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = required - set(data)
        if missing:
            raise ValueError(
                f"a {cls.__name__} needs the fields {sorted(missing)}, got {sorted(data)}"
            )
        names = {f.name for f in fields}
        return cls(**{k: v for k, v in data.items() if k in names})

    def save(self, path: str | Path) -> Path:
        """Write the record as JSON, atomically."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path):
        data = read_json(path)
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object (a {cls.__name__}), got {type(data)}")
        return cls.from_dict(data)


@dataclass
class RunRecord(Record):
    """Everything one supervised training run produced (`run_experiment`, `fit`), in a form that
    can be saved, compared and tabled. Step-based runs have their own records of the same kind:
    `pretrain_run.PretrainRecord`, `distill.DistillRecord`."""

    name: str
    settings: dict[str, object]  # what produced the run (a settings dataclass, as a dict)
    history: list[dict[str, float]]  # one row per epoch (or per evaluation, for step-based runs)
    test: dict[str, float]  # test metrics of the kept weights
    seconds: float  # wall-clock training time
    parameters: int  # trainable parameters
    profile: str
    version: str  # seqbook version
    seed: int
    best_epoch: int = 0
    extra: dict[str, object] = field(default_factory=dict)  # what a caller adds (cache key, ...)

    def row(self) -> dict[str, object]:
        """The figures every results-file row of a run carries, defined once: the test metrics
        of the kept weights, the validation accuracy of the kept epoch (`best_epoch`, 1-based;
        None for a run that kept no epoch), that epoch, the training seconds and the trainable
        parameters."""
        kept = self.history[self.best_epoch - 1] if self.best_epoch >= 1 else {}
        return {
            **{k: self.test[k] for k in ("test_accuracy", "test_f1") if k in self.test},
            "valid_accuracy": kept.get("valid_accuracy"),
            "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 1),
            "parameters": self.parameters,
        }


def settings_dict(settings: object) -> dict[str, object]:
    """A settings dataclass (or a dict) as a plain dict."""
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        return dataclasses.asdict(settings)
    if isinstance(settings, dict):
        return dict(settings)
    raise TypeError(f"settings must be a dataclass instance or a dict, got {type(settings)}")


def parameter_count(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of `model` (only those that receive gradients when
    `trainable_only`). `seqbook.albert.count_parameters` is the closed form for a config."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def run_experiment(
    name: str,
    build: Callable[[], nn.Module],
    train_loader,
    valid_loader=None,
    test_loader=None,
    *,
    settings: object,
    seed: int = 0,
    forward: Forward | None = None,
    **fit_options,
) -> tuple[nn.Module, RunRecord]:
    """Seed, build a fresh model, `fit` it, time it and score it on `test_loader`: the one
    "seed, build, fit, time, evaluate" every chapter runs. `fit_options` go to `fit` (epochs,
    lr, ...). Returns the model (best weights) and its `RunRecord`."""
    from seqbook import __version__
    from seqbook.runtime import profile

    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    if isinstance(build, nn.Module) or not callable(build):
        raise TypeError(
            "build must be a function that returns a fresh model (e.g. lambda: Model(...)), got "
            + (
                f"a {type(build).__name__} instance"
                if isinstance(build, nn.Module)
                else describe(build)
            )
        )
    settings_dict(settings)  # a dataclass or a dict, checked before any training
    seed_everything(seed)
    model = build()
    if not isinstance(model, nn.Module):
        raise TypeError(f"build() must return a torch.nn.Module, got {describe(model)}")
    start = time.perf_counter()
    history = fit(model, train_loader, valid_loader, forward=forward, seed=seed, **fit_options)
    seconds = time.perf_counter() - start
    test = evaluate(model, test_loader, forward, prefix="test_") if test_loader is not None else {}
    record = RunRecord(
        name=name,
        settings=settings_dict(settings),
        history=history.epochs,
        test=test,
        seconds=seconds,
        parameters=parameter_count(model, trainable_only=True),
        profile=profile().name,
        version=__version__,
        seed=seed,
        best_epoch=history.best_epoch,
    )
    return model, record


def load_or_run(
    directory: str | Path,
    name: str,
    build: Callable[[], nn.Module],
    train_loader,
    valid_loader=None,
    test_loader=None,
    *,
    settings: object,
    seed: int = 0,
    **fit_options,
) -> tuple[nn.Module, RunRecord, bool]:
    """`run_experiment`, cached by the book's one policy (`seqbook.cache.load_or_compute`): the
    weights (`model.pt`) and the record (`run.json`) are saved in `directory/<key>/`, where the
    key digests `name`, the settings, the seed, the fit options and the seqbook version, and the
    next call with the same key loads them instead of training. Any changed setting is another
    key, so a run made by other settings is never reused.
    `settings` must name whatever shapes the run beyond the fit options (data and model sizes).
    Returns (model, record, loaded)."""
    from seqbook import __version__
    from seqbook.cache import digest, load_or_compute

    for option, value in fit_options.items():
        if not isinstance(value, int | float | str | bool | type(None)):
            raise TypeError(
                f"load_or_run keys the run by its fit options, so {option} must be a plain "
                f"value (int, float, str, bool or None), got {type(value).__name__}"
            )
    key = {
        "name": name,
        "settings": settings_dict(settings),
        "seed": seed,
        "fit": fit_options,
        "version": __version__,
    }

    def compute(folder: Path) -> tuple[nn.Module, RunRecord]:
        model, record = run_experiment(
            name,
            build,
            train_loader,
            valid_loader,
            test_loader,
            settings=settings,
            seed=seed,
            **fit_options,
        )
        torch_save(model.state_dict(), folder / "model.pt")
        record.save(folder / "run.json")
        return model, record

    def load(folder: Path) -> tuple[nn.Module, RunRecord]:
        model = build()
        model.load_state_dict(torch_load(folder / "model.pt", weights_only=True))
        return model, RunRecord.load(folder / "run.json")

    (model, record), loaded = load_or_compute(Path(directory) / digest(key), key, compute, load)
    return model, record, loaded


# --------------------------------------------------------------------------- settings on the CLI
def settings_parser(
    settings_cls: type,
    description: str = "",
    defaults: dict[str, object] | None = None,
    prog: str | None = None,
    exclude: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """An argparse parser with one `--option` per field of the settings dataclass (underscores
    become dashes), typed and defaulted from the fields: the CLI cannot drift from the settings.
    `defaults` replaces the defaults of some fields on the command line (e.g. one that depends
    on the active profile); fields named in `exclude` (structured ones, set another way) get
    no option."""
    if not (dataclasses.is_dataclass(settings_cls) and isinstance(settings_cls, type)):
        raise TypeError(f"settings_cls must be a dataclass type, got {settings_cls!r}")
    names = {f.name for f in dataclasses.fields(settings_cls)}
    for what, given in (("defaults", defaults or {}), ("exclude", exclude)):
        unknown = sorted(set(given) - names)
        if unknown:
            raise ValueError(f"{what} must name fields of {settings_cls.__name__}, got {unknown}")
    parser = argparse.ArgumentParser(prog=prog, description=description)
    hints = typing.get_type_hints(settings_cls)
    for f in dataclasses.fields(settings_cls):
        if f.name in exclude:
            continue
        kind = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        if defaults and f.name in defaults:
            default = defaults[f.name]
        flag = "--" + f.name.replace("_", "-")
        base = _base_type(kind)
        if base is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(
                flag,
                type=base,
                default=default,
                required=default is None and not _optional(kind),
                help=f"default: {default}",
            )
    return parser


def settings_from_args(settings_cls: type, args: argparse.Namespace):
    """The settings dataclass filled from parsed `settings_parser` arguments."""
    return settings_cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(settings_cls)})


def _optional(kind: object) -> bool:
    return type(None) in typing.get_args(kind)


def _base_type(kind: object) -> type:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    base = args[0] if args else kind
    if base not in (int, float, str, bool):
        raise TypeError(
            f"settings fields must be int, float, str or bool (or optional), got {kind}"
        )
    return base
