"""Fine-tuning an encoder + BiLSTM classifier on raw reviews, in a notebook or from the shell.

The pipeline, done the way a subword model needs it:

    raw review -> the encoder's own tokenizer ([CLS] pieces [SEP], truncated to max_len
    explicitly) -> right padding + attention_mask -> AlbertBiLSTMClassifier -> logits

Command line (the same code the chapter runs; `accelerate launch` spreads it over GPUs):

    python -m seqbook.finetune --encoder .cache/tiny-albert --output runs/tiny --train-subset 2000
    accelerate launch -m seqbook.finetune --profile full --output runs/albert-base-v2

`--encoder` is a Hugging Face name or directory (default: the profile's `albert_name`, where
"tiny-albert" means the book's own pretrained model under `seqbook.data.cache_dir()`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from seqbook.data import collate_batch
from seqbook.models import (
    HEAD_FILE,
    AlbertBiLSTMClassifier,
    check_tokenizer_matches,
    load_encoder,
    quiet_transformers,
)

METRICS_FILE = "metrics.json"


# --------------------------------------------------------------------------- tokenisation
def tokenize_reviews(tokenizer, texts: Sequence[str], max_len: int) -> dict[str, list]:
    """Encode raw `texts` with the encoder's `tokenizer`: `[CLS] pieces [SEP]`, cut to
    `max_len` tokens (the tail of a longer review is dropped and counted, never silently).

    Returns lists `input_ids`, `lengths` and `truncated` (bool per text). Empty or
    whitespace-only texts are rejected: they would be a review with no evidence at all.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, got a single str (wrap it: [text])")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 3:
        raise ValueError(f"max_len must be an int >= 3 ([CLS], a token, [SEP]), got {max_len!r}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"texts[{i}] is empty (or only whitespace): nothing to classify")
    with quiet_transformers():  # the untruncated pass would warn about over-long reviews
        full = tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    cut = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_len)
    ids = cut["input_ids"]
    return {
        "input_ids": ids,
        "lengths": [len(x) for x in ids],
        "truncated": [len(f) > max_len for f in full],
    }


class TokenizedReviews(Dataset):
    """Reviews tokenised once by the encoder's tokenizer; items are (ids LongTensor, label)."""

    def __init__(self, texts: Sequence[str], labels: Sequence[int], tokenizer, max_len: int):
        texts, labels = list(texts), [int(y) for y in labels]
        if len(texts) != len(labels):
            raise ValueError(
                f"texts and labels must have the same length, got {len(texts)} and {len(labels)}"
            )
        encoded = tokenize_reviews(tokenizer, texts, max_len)
        self.ids = [torch.tensor(x, dtype=torch.long) for x in encoded["input_ids"]]
        self.truncated = encoded["truncated"]
        self.labels = labels
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.ids[i], self.labels[i]


def collate_tokenized(items: Sequence[tuple[Tensor, int]], pad_id: int = 0) -> dict[str, Tensor]:
    """Right-pad to the batch's longest review: input_ids (B, T), attention_mask (B, T) bool
    with True at real tokens, labels (B,)."""
    batch = collate_batch(items, pad_id)  # the word-level collate: the same right padding
    return {
        "input_ids": batch["input_ids"],
        "attention_mask": batch["mask"],
        "labels": batch["labels"],
    }


def review_batches(
    df, tokenizer, max_len: int, batch_size: int, shuffle: bool = False, seed: int = 0
) -> DataLoader:
    """A DataLoader of padded batches over a frame with columns text, label."""
    dataset = TokenizedReviews(df["text"], df["label"], tokenizer, max_len)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=lambda items: collate_tokenized(items, dataset.pad_id),
    )


# --------------------------------------------------------------------------- frozen features
class EncoderFeatures(Dataset):
    """Encoder states computed once, for heads trained on a frozen encoder: items are dicts
    with encoder_states (T, H), attention_mask (T,), labels; batches feed straight into
    `AlbertBiLSTMClassifier(..., freeze_encoder=True)` (the same model, the same numbers, without
    re-running the encoder every epoch)."""

    def __init__(self, states: Tensor, attention_mask: Tensor, labels: Tensor):
        self.states, self.attention_mask, self.labels = states, attention_mask, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {
            "encoder_states": self.states[i],
            "attention_mask": self.attention_mask[i],
            "labels": self.labels[i],
        }


@torch.no_grad()
def encoder_features(
    encoder: nn.Module, loader: DataLoader, pad_to: int, progress: bool = True
) -> EncoderFeatures:
    """Run `encoder` (in eval mode) over `loader`'s batches once; states padded to `pad_to`."""
    from seqbook.runtime import get_device

    device = get_device()
    was_training = encoder.training
    encoder.eval().to(device)
    states, masks, labels = [], [], []
    for batch in tqdm(loader, desc="encoder features", disable=not progress):
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        h = encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state.float().cpu()
        pad = pad_to - h.shape[1]
        states.append(nn.functional.pad(h, (0, 0, 0, pad)))  # (B, pad_to, H)
        masks.append(nn.functional.pad(batch["attention_mask"], (0, pad)))  # (B, pad_to)
        labels.append(batch["labels"])
    encoder.train(was_training)
    return EncoderFeatures(torch.cat(states), torch.cat(masks), torch.cat(labels))


# --------------------------------------------------------------------------- prediction
@torch.no_grad()
def predict_proba(
    model: nn.Module, tokenizer, texts: Sequence[str], max_len: int, batch_size: int = 32
) -> Tensor:
    """Class probabilities (N, C) for raw `texts` (a str is taken as one text)."""
    if isinstance(texts, str):
        texts = [texts]
    check_tokenizer_matches(tokenizer, model.encoder)
    encoded = tokenize_reviews(tokenizer, texts, max_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    items = [(torch.tensor(x), 0) for x in encoded["input_ids"]]
    for start in range(0, len(items), batch_size):
        batch = collate_tokenized(items[start : start + batch_size], pad_id)
        logits = model(
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
        )
        out.append(logits.float().softmax(-1).cpu())
    model.train(was_training)
    return torch.cat(out)


# --------------------------------------------------------------------------- one training run
def resolve_encoder(name_or_path: str) -> str:
    """A name starting with "tiny-albert" (the fast profile's `albert_name`) means the book's own
    model of that name under `seqbook.data.cache_dir()`; anything else is a Hugging Face name or
    directory."""
    if name_or_path.startswith("tiny-albert") and not Path(name_or_path).exists():
        from seqbook.data import cache_dir

        local = cache_dir() / name_or_path
        if not (local / "config.json").is_file():
            raise ValueError(
                f"encoder {name_or_path!r} is the book's own ALBERT, but {local} holds no saved "
                "model: run the pretraining chapter (or seqbook.pretraining.load_or_pretrain()) "
                "first"
            )
        return str(local)
    return name_or_path


def train_albert_bilstm(
    encoder: str,
    output_dir: str | Path | None = None,
    *,
    train_subset: int | None,
    eval_subset: int | None,
    max_len: int,
    batch_size: int,
    epochs: int,
    encoder_lr: float = 2e-5,
    head_lr: float = 1e-3,
    hidden_size: int = 64,
    num_layers: int = 1,
    pooling: str = "mean",
    dropout: float = 0.1,
    freeze_encoder: bool = False,
    random_init: bool = False,
    warmup: float = 0.1,
    mixed_precision: str = "auto",
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Fine-tune `encoder` + BiLSTM on IMDB's training split (a seeded, balanced subset of
    `train_subset` reviews), select the epoch on validation, score the test split.

    Returns {"model", "tokenizer", "history", "test" (loss/accuracy/f1), "settings",
    "seconds"}; with `output_dir`, the classifier and tokenizer are saved there
    (`AlbertBiLSTMClassifier.from_pretrained(output_dir)`) with `metrics.json`.
    """
    from transformers import AutoTokenizer

    from seqbook.data import load_split
    from seqbook.runtime import seed_everything
    from seqbook.train import accelerator, evaluate, fit

    settings = {  # what metrics.json records about the run
        "encoder": encoder,
        "train_subset": train_subset,
        "eval_subset": eval_subset,
        "max_len": max_len,
        "batch_size": batch_size,
        "epochs": epochs,
        "encoder_lr": encoder_lr,
        "head_lr": head_lr,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "pooling": pooling,
        "dropout": dropout,
        "freeze_encoder": freeze_encoder,
        "random_init": random_init,
        "warmup": warmup,
        "mixed_precision": mixed_precision,
        "seed": seed,
    }
    path = resolve_encoder(encoder)
    seed_everything(seed)
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path)
    enc = load_encoder(path, random_init=random_init, seed=seed)
    check_tokenizer_matches(tokenizer, enc)
    model = AlbertBiLSTMClassifier(
        enc, hidden_size, num_layers, pooling, dropout=dropout, freeze_encoder=freeze_encoder
    )
    loaders = {
        split: review_batches(
            load_split(split, limit=train_subset if split == "train" else eval_subset),
            tokenizer,
            max_len,
            batch_size,
            shuffle=split == "train",
            seed=seed,
        )
        for split in ("train", "valid", "test")
    }
    optimizer = torch.optim.AdamW(model.param_groups(encoder_lr, head_lr, weight_decay=0.01))
    t0 = time.perf_counter()
    history = fit(
        model,
        loaders["train"],
        loaders["valid"],
        epochs=epochs,
        lr=head_lr,
        optimizer=optimizer,
        schedule="linear",
        warmup=warmup,
        mixed_precision=mixed_precision,
        seed=seed,
        progress=progress,
    )
    seconds = time.perf_counter() - t0
    test = evaluate(model, loaders["test"])
    result = {
        "model": model,
        "tokenizer": tokenizer,
        "history": history,
        "test": test,
        "settings": settings,
        "seconds": seconds,
        "truncated_share": sum(loaders["train"].dataset.truncated) / len(loaders["train"].dataset),
    }
    if output_dir is not None and accelerator(mixed_precision).is_main_process:
        save_run(output_dir, result)
    return result


def save_run(directory: str | Path, result: dict) -> None:
    """Write a run: the classifier (if it can save itself, with `result["tokenizer"]`) and
    `metrics.json` (settings, test metrics, seconds, per-epoch history, parameter counts)."""
    from seqbook.models import count_parameters

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = result["model"]
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(directory, result.get("tokenizer"))
    history = result["history"]
    record = {
        "settings": result.get("settings", {}),
        "test": result["test"],
        "seconds": result["seconds"],
        "history": history.epochs,
        "best_epoch": history.best_epoch,
        "parameters": count_parameters(model),
        "trainable_parameters": count_parameters(model, trainable_only=True),
    }
    if "truncated_share" in result:
        record["truncated_share"] = result["truncated_share"]
    (directory / METRICS_FILE).write_text(json.dumps(record, indent=2))


def load_or_train(directory: str | Path, train: Callable[[], dict]) -> dict:
    """The run saved in `directory` if there is one (its metrics, history and, where saved, the
    classifier), else `train()` (a dict with model, history, test, seconds, settings), saved
    there. `result["cached"]` says which happened."""
    from seqbook.train import History

    directory = Path(directory)
    if (directory / METRICS_FILE).is_file():
        record = json.loads((directory / METRICS_FILE).read_text())
        model = (
            AlbertBiLSTMClassifier.from_pretrained(directory)
            if (directory / HEAD_FILE).is_file()
            else None
        )
        history = History(epochs=record["history"], best_epoch=record["best_epoch"])
        return {**record, "model": model, "history": history, "cached": True}
    result = train()
    save_run(directory, result)
    from seqbook.models import count_parameters

    return {
        **result,
        "parameters": count_parameters(result["model"]),
        "trainable_parameters": count_parameters(result["model"], trainable_only=True),
        "cached": False,
    }


def main(argv: Sequence[str] | None = None) -> dict:
    """The command line: every size defaults to the active profile's."""
    from seqbook.runtime import PROFILES, profile

    parser = argparse.ArgumentParser(
        prog="python -m seqbook.finetune",
        description="Fine-tune an ALBERT (+ BiLSTM) sentiment classifier on IMDB.",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None)
    parser.add_argument("--encoder", default=None, help="HF name or directory (profile default)")
    parser.add_argument("--output", required=True, help="directory for the saved classifier")
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--eval-subset", type=int, default=None)
    parser.add_argument("--all-data", action="store_true", help="use every review (no subsets)")
    parser.add_argument("--max-len", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--encoder-lr", type=float, default=None)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--pooling", default="mean")
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--freeze-encoder", action="store_true")
    parser.add_argument("--random-init", action="store_true")
    parser.add_argument("--mixed-precision", default="auto", choices=["auto", "no", "fp16", "bf16"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    P = profile(args.profile) if args.profile else profile()
    train_subset = args.train_subset if args.train_subset is not None else P.train_subset
    eval_subset = args.eval_subset if args.eval_subset is not None else P.eval_subset
    if args.all_data:
        train_subset = eval_subset = None
    result = train_albert_bilstm(
        args.encoder or P.albert_name,
        args.output,
        train_subset=train_subset,
        eval_subset=eval_subset,
        max_len=args.max_len or P.max_len,
        batch_size=args.batch_size or P.batch_size,
        epochs=args.epochs or P.finetune_epochs,
        encoder_lr=args.encoder_lr if args.encoder_lr is not None else P.encoder_lr,
        head_lr=args.head_lr,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        pooling=args.pooling,
        dropout=args.dropout,
        freeze_encoder=args.freeze_encoder,
        random_init=args.random_init,
        mixed_precision=args.mixed_precision,
        seed=args.seed,
        progress=not args.no_progress,
    )
    test = result["test"]
    print(
        f"test accuracy {test['accuracy']:.4f}  F1 {test['f1']:.4f}  "
        f"training {result['seconds']:.0f} s  -> {args.output}"
    )
    return result


if __name__ == "__main__":
    main()
