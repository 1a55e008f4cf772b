"""The one training / evaluation loop every chapter uses, built on Hugging Face Accelerate.

The same code runs on a CPU, one GPU (with mixed precision) or several GPUs under
`accelerate launch`. A batch is a dict of tensors; by default the model is called with every
entry except "labels" and must return logits (B, C). A `forward(model, batch)` function can
replace that call; it may return logits or a dict with "loss" (and optionally "logits" and
"labels" to score), which is how pretraining plugs in its own losses.
"""

from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from seqbook.runtime import seed_everything

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


@functools.cache
def accelerator(mixed_precision: str = "auto"):
    """One Accelerator per process: bf16 (or fp16) autocast on CUDA under "auto", none elsewhere."""
    from accelerate import Accelerator

    if mixed_precision not in ("auto", "no", "fp16", "bf16"):
        raise ValueError(f"mixed_precision must be auto, no, fp16 or bf16, got {mixed_precision!r}")
    if mixed_precision == "auto":
        if torch.cuda.is_available():
            mixed_precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            mixed_precision = "no"
    return Accelerator(mixed_precision=mixed_precision)


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
    """F1 of the positive class for two classes, macro-averaged F1 for more."""
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

    def add(self, loss: torch.Tensor, logits: torch.Tensor | None, labels: torch.Tensor | None):
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
            out[f"{prefix}accuracy"] = (pred == target).float().mean().item()
            out[f"{prefix}f1"] = f1_score(pred, target, self.num_classes)
        return out


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    forward: Forward | None = None,
    prefix: str = "",
    progress: bool = False,
) -> dict[str, float]:
    """Mean loss, accuracy and F1 of `model` over `loader` (keys: loss, accuracy, f1)."""
    acc = accelerator()
    forward = forward or default_forward
    model.to(acc.device)
    was_training = model.training
    model.eval()
    meter = _Meter()
    for batch in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        batch = {
            k: v.to(acc.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
        }
        meter.add(*_loss_and_scores(forward(model, batch), batch))
    model.train(was_training)
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
    patience: int | None = None,
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
    `valid_loader`, loss-like keys are minimised) and restores them at the end. `patience`
    stops after that many epochs without improvement. With `checkpoint_path`, the state after
    every epoch is saved there; `resume=True` continues from it.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if schedule not in ("constant", "linear"):
        raise ValueError(f"schedule must be 'constant' or 'linear', got {schedule!r}")
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"warmup must be a fraction in [0, 1), got {warmup!r}")
    if monitor.startswith("valid_") and valid_loader is None:
        raise ValueError(f"monitor={monitor!r} needs a valid_loader (or monitor a train_* metric)")
    seed_everything(seed)
    acc = accelerator(mixed_precision)
    forward = forward or default_forward
    if optimizer is None:
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("model has no trainable parameters (is everything frozen?)")
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    model, optimizer, train_loader = acc.prepare(model, optimizer, train_loader)
    history = History(monitor=monitor)
    start = 1
    if resume and checkpoint_path is not None and Path(checkpoint_path).is_file():
        history, start = load_checkpoint(checkpoint_path, acc.unwrap_model(model), optimizer)
        start += 1
    base_lrs = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
    for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
        group["initial_lr"] = base
    total_steps = epochs * len(train_loader)
    step = (start - 1) * len(train_loader)
    minimise = "loss" in monitor
    best = (
        min(history.metric(monitor), default=math.inf)
        if minimise
        else max(history.metric(monitor), default=-math.inf)
    )
    stale = 0
    for epoch in range(start, epochs + 1):
        model.train()
        meter, t0 = _Meter(), time.perf_counter()
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress)
        for batch in bar:
            loss, logits, labels = _loss_and_scores(forward(model, batch), batch)
            optimizer.zero_grad(set_to_none=True)
            acc.backward(loss)
            if clip_grad_norm is not None:
                acc.clip_grad_norm_(model.parameters(), clip_grad_norm)
            step += 1
            factor = lr_factor(step, total_steps, schedule, warmup)
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = base * factor
            optimizer.step()
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
            best, stale, history.best_epoch = value, 0, epoch
            history.best_state = copy.deepcopy(acc.unwrap_model(model).state_dict())
        else:
            stale += 1
        if checkpoint_path is not None:
            save_checkpoint(checkpoint_path, acc.unwrap_model(model), optimizer, history, epoch)
        if patience is not None and stale >= patience:
            break
    model = acc.unwrap_model(model)
    if history.best_state is not None:
        model.load_state_dict(history.best_state)
    acc.free_memory()  # drop the accelerator's references to this run's model and optimizer
    return history


def lr_factor(step: int, total_steps: int, schedule: str = "linear", warmup: float = 0.0) -> float:
    """Learning-rate multiplier at optimizer step `step` (1-based) of `total_steps`: a linear
    warm-up over the first `warmup` fraction, then constant or linear decay to 0 at the end."""
    warmup_steps = int(warmup * total_steps)
    if step <= warmup_steps:
        return step / max(warmup_steps, 1)
    if schedule == "constant":
        return 1.0
    return max(0.0, (total_steps - step) / max(total_steps - warmup_steps, 1))


def save_checkpoint(
    path: str | Path, model: nn.Module, optimizer, history: History, epoch: int
) -> None:
    """Save weights, optimizer state, history and epoch to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "history": {
            "epochs": history.epochs,
            "best_epoch": history.best_epoch,
            "monitor": history.monitor,
        },
        "best_state": history.best_state,
        "epoch": epoch,
    }
    torch.save(state, path)


def load_checkpoint(path: str | Path, model: nn.Module, optimizer=None) -> tuple[History, int]:
    """Load a checkpoint into `model` (and `optimizer`); return (history, last epoch)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint path must be an existing file, got {str(path)!r}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    if optimizer is not None and state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    history = History(**state["history"], best_state=state["best_state"])
    return history, state["epoch"]
