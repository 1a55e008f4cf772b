"""Fine-tuning an encoder + BiLSTM classifier on raw reviews, in a notebook or from the shell.

The pipeline, done the way a subword model needs it:

    raw review -> the encoder's own tokenizer ([CLS] pieces [SEP], truncated to max_len
    explicitly) -> right padding + attention_mask -> AlbertBiLSTMClassifier -> logits

Command line (the same code the chapter runs; `accelerate launch` spreads it over GPUs):

    python -m seqbook.finetune --output runs/distilled
    SEQBOOK_PROFILE=full accelerate launch -m seqbook.finetune --all-data --output runs/base

With no other option the command runs chapter 8's system recipe: `FinetuneSettings`' defaults
on the active profile's `albert_name`, in the fast profile "albert-minilm-distilled" (the ALBERT
distilled from MiniLM that chapter 8 fine-tunes, shipped in `data/`), seed 0, 2,000 labelled
reviews: the run of the systems table's first row. `--encoder` is a local model folder, a
shipped model's name or a hub name already in the local Hugging Face cache (nothing is
downloaded); the full profile's default is "albert-base-v2".
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from seqbook.albert_bilstm import (
    ENCODER_DIR,
    AlbertBiLSTMClassifier,
    EncoderLinearClassifier,
    last_hidden_state,
    load_any_encoder,
)
from seqbook.data import collate_batch
from seqbook.hf import check_tokenizer_matches, load_tokenizer, quiet_transformers
from seqbook.train import RunRecord
from seqbook.validate import check_positive_ints

METRICS_FILE = "metrics.json"  # the run's RunRecord
# Bump when a change to the code changes what a fine-tuning run computes: cached runs of the
# older code are then recomputed, never served (seqbook.cache.load_or_compute).
FINETUNE_REVISION = 1
# the heads a run can put on the encoder: the BiLSTM of eq. (eq-albert-bilstm-model), or one
# linear layer on the mean of the real tokens' states ("linear") or on [CLS] (eq-albert-bilstm-cls)
HEADS = {"bilstm": None, "linear": "mean", "cls": "first"}
CHECKPOINT_FILE = "checkpoint.pt"  # an unfinished run's last epoch


# --------------------------------------------------------------------------- tokenisation
TRUNCATIONS = ("head", "head_tail")


def tokenize_reviews(
    tokenizer, texts: Sequence[str], max_len: int, truncation: str = "head_tail"
) -> dict[str, list]:
    """Encode raw `texts` with the encoder's `tokenizer`: `[CLS] pieces [SEP]`, at most
    `max_len` tokens; a longer review is cut explicitly and counted, never silently.

    `truncation="head"` keeps the first `max_len - 2` pieces; `"head_tail"` (what worked best
    for BERT on IMDB, Sun et al. 2019) keeps the first quarter of the budget from the review's
    start and the rest from its end, where reviewers tend to state their verdict.
    Returns lists `input_ids`, `lengths` and `truncated` (bool per text). Empty or
    whitespace-only texts are rejected: they would be a review with no evidence at all.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, got a single str (wrap it: [text])")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 4:
        raise ValueError(f"max_len must be an int >= 4 ([CLS], tokens, [SEP]), got {max_len!r}")
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"texts[{i}] is empty (or only whitespace): nothing to classify")
    with quiet_transformers():  # the untruncated pass would warn about over-long reviews
        full = tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    head = (max_len - 2) // 4 if truncation == "head_tail" else max_len - 2
    tail = max_len - 2 - head
    ids = [
        f if len(f) <= max_len else f[: 1 + head] + (f[len(f) - 1 - tail :] if tail else f[-1:])
        for f in full
    ]
    return {
        "input_ids": ids,
        "lengths": [len(x) for x in ids],
        "truncated": [len(f) > max_len for f in full],
    }


class TokenizedReviews(Dataset):
    """Reviews tokenised once by the encoder's tokenizer; items are (ids LongTensor, label)."""

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[int],
        tokenizer,
        max_len: int,
        truncation: str = "head_tail",
    ):
        texts, labels = list(texts), [int(y) for y in labels]
        if len(texts) != len(labels):
            raise ValueError(
                f"texts and labels must have the same length, got {len(texts)} and {len(labels)}"
            )
        encoded = tokenize_reviews(tokenizer, texts, max_len, truncation)
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
    df,
    tokenizer,
    max_len: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    truncation: str = "head_tail",
) -> DataLoader:
    """A DataLoader of padded batches over a frame with columns text, label."""
    dataset = TokenizedReviews(df["text"], df["label"], tokenizer, max_len, truncation)
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
        h = last_hidden_state(encoder(input_ids=ids, attention_mask=mask.long())).float().cpu()
        pad = pad_to - h.shape[1]
        states.append(nn.functional.pad(h, (0, 0, 0, pad)))  # (B, pad_to, H)
        masks.append(nn.functional.pad(batch["attention_mask"], (0, pad)))  # (B, pad_to)
        labels.append(batch["labels"])
    encoder.train(was_training)
    return EncoderFeatures(torch.cat(states), torch.cat(masks), torch.cat(labels))


# --------------------------------------------------------------------------- prediction
@torch.no_grad()
def predict_proba(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    max_len: int,
    batch_size: int = 32,
    truncation: str = "head_tail",
) -> Tensor:
    """Class probabilities (N, C) for raw `texts` (a str is taken as one text)."""
    if isinstance(texts, str):
        texts = [texts]
    check_tokenizer_matches(tokenizer, model.encoder)
    encoded = tokenize_reviews(tokenizer, texts, max_len, truncation)
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
@dataclass(frozen=True)
class FinetuneSettings:
    """One fine-tuning recipe; `key()` names it together with the encoder's weights, so a run
    cached under that key is recomputed whenever the recipe or the encoder changes.

    The defaults are chapter 8's recipe for encoders pretrained at scale (MiniLM and the ALBERT
    distilled from it): two epochs, encoder learning rate 5e-5 and head 1e-3, warmed up over
    the first 10 % of the steps and then decayed linearly to zero, batches of 32 reviews cut to
    128 pieces (head + tail). The book's tiny ALBERT has its own (`pretrain_study.RECIPE`)."""

    encoder: str  # folder (or cached hub name) of the encoder and its tokenizer
    train_subset: int | None = 2000
    eval_subset: int | None = 1000  # validation reviews (the epoch kept is best on them)
    test_subset: int | None = None  # test reviews (None: all 2,500, as chapters 1 and 5 use)
    max_len: int = 128
    truncation: str = "head_tail"
    batch_size: int = 32
    epochs: int = 2
    encoder_lr: float = 5e-5
    head_lr: float = 1e-3
    head: str = "bilstm"  # "bilstm" (AlbertBiLSTMClassifier) or "linear" (see `HEADS`)
    hidden_size: int = 64
    num_layers: int = 1
    pooling: str = "mean"
    dropout: float = 0.1
    freeze_encoder: bool = False
    random_init: bool = False
    transform: str = ""  # "" (the encoder as saved) or a `seqbook.compress.parse_transform` spec
    warmup: float = 0.1
    mixed_precision: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {self.truncation!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {sorted(HEADS)}, got {self.head!r}")
        check_positive_ints(epochs=self.epochs)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def cache_key(self) -> dict:
        """What a run of these settings depends on: the recipe, the encoder's files and the
        fine-tuning code's revision (`FINETUNE_REVISION`). The encoder enters by content only
        (`encoder_fingerprint`), not by where it lies: the same weights in another checkout, in
        Colab's download of `data/` or under a name such as "minilm" are the same run."""
        recipe = self.to_dict()
        del recipe["encoder"]
        return {
            "settings": recipe,
            "encoder_files": encoder_fingerprint(self),
            "revision": FINETUNE_REVISION,
        }

    def key(self) -> str:
        """sha256 (16 hex digits) of `cache_key()`: names the run's folder and results rows."""
        from seqbook.cache import digest

        return digest(self.cache_key())


def encoder_fingerprint(settings: FinetuneSettings) -> str:
    """sha256 of the encoder folder's weights, config and tokenizer (the hub name if not a
    folder); a model card or history written beside them changes nothing."""
    from seqbook.hf import resolve_encoder

    source = resolve_encoder(settings.encoder)
    if not isinstance(source, Path):
        return str(source)
    from seqbook.cache import digest, file_digest

    names = ("config.json", "tokenizer.json", "tokenizer_config.json")  # what shapes the model
    files = sorted(
        f for f in source.glob("*") if f.suffix in (".safetensors", ".bin") or f.name in names
    )
    return digest({f.name: file_digest(f) for f in files if f.is_file()})


def build_classifier(settings: FinetuneSettings):
    """(classifier, tokenizer) for `settings`: the encoder (pretrained, or re-initialised with
    `random_init`), seeded, under the chosen head."""
    from seqbook.runtime import seed_everything

    seed_everything(settings.seed)
    tokenizer = load_tokenizer(settings.encoder)
    enc = load_any_encoder(settings.encoder, random_init=settings.random_init, seed=settings.seed)
    if settings.transform:
        from seqbook.compress import transform_encoder

        enc = transform_encoder(enc, settings.transform, tokenizer)
    check_tokenizer_matches(tokenizer, enc)
    torch.manual_seed(settings.seed)
    if settings.head == "bilstm":
        model = AlbertBiLSTMClassifier(
            enc,
            settings.hidden_size,
            settings.num_layers,
            settings.pooling,
            dropout=settings.dropout,
            freeze_encoder=settings.freeze_encoder,
        )
    else:
        model = EncoderLinearClassifier(
            enc,
            HEADS[settings.head],
            dropout=settings.dropout,
            freeze_encoder=settings.freeze_encoder,
        )
    return model, tokenizer


@dataclass
class FinetuneRun:
    """A fine-tuned classifier, its tokenizer and its `RunRecord` (test metrics under
    "test_accuracy", "test_f1", "test_loss"; `record.extra` holds the settings key, the share of
    truncated training reviews and the total parameter count). `loaded` is True when the run
    was read from `directory`, False when it was trained now."""

    model: nn.Module | None
    tokenizer: object
    record: RunRecord
    directory: Path | None = None
    loaded: bool = False

    @property
    def accuracy(self) -> float:
        return self.record.test["test_accuracy"]


def finetune(
    settings: FinetuneSettings, progress: bool = True, checkpoint_path: str | Path | None = None
) -> FinetuneRun:
    """Fine-tune on IMDB's training split (a seeded, balanced subset of `train_subset`
    reviews), keep the epoch that is best on validation, score the test split: one
    `train.run_experiment` (AdamW with the encoder and head learning rates, linear warm-up
    and decay). With `checkpoint_path`, every epoch is saved there and an interrupted run
    resumes from it. `record.seconds` is the training time; a frozen encoder's one pass over
    the reviews is `record.extra["feature_seconds"]`."""
    from seqbook.data import load_split
    from seqbook.train import parameter_count, run_experiment

    model, tokenizer = build_classifier(settings)
    s = settings
    limits = {"train": s.train_subset, "valid": s.eval_subset, "test": s.test_subset}
    loaders = {
        split: review_batches(
            load_split(split, limit=limits[split]),
            tokenizer,
            s.max_len,
            s.batch_size,
            shuffle=split == "train",
            seed=s.seed,
            truncation=s.truncation,
        )
        for split in ("train", "valid", "test")
    }
    truncated = loaders["train"].dataset.truncated
    t0 = time.perf_counter()
    if s.freeze_encoder:  # fixed features: run the encoder once, not once per epoch
        loaders = {
            split: DataLoader(
                encoder_features(model.encoder, loader, pad_to=s.max_len, progress=False),
                batch_size=s.batch_size,
                shuffle=split == "train",
                generator=torch.Generator().manual_seed(s.seed),
            )
            for split, loader in loaders.items()
        }
    feature_seconds = time.perf_counter() - t0
    optimizer = torch.optim.AdamW(model.param_groups(s.encoder_lr, s.head_lr, weight_decay=0.01))
    model, record = run_experiment(
        f"encoder + {s.head} head",
        lambda: model,  # built above: the loaders need its tokenizer and, frozen, its encoder
        loaders["train"],
        loaders["valid"],
        loaders["test"],
        settings=s,
        seed=s.seed,
        epochs=s.epochs,
        lr=s.head_lr,
        optimizer=optimizer,
        schedule="linear",
        warmup=s.warmup,
        mixed_precision=s.mixed_precision,
        checkpoint_path=checkpoint_path,
        resume=checkpoint_path is not None,
        progress=progress,
    )
    record.extra = {
        "key": s.key(),
        "truncated_share": sum(truncated) / len(truncated),
        "total_parameters": parameter_count(model),
        "encoder_parameters": parameter_count(model.encoder),
        "feature_seconds": feature_seconds,
    }
    return FinetuneRun(model, tokenizer, record)


def save_run(directory: str | Path, run: FinetuneRun) -> Path:
    """Write a run to `directory`: the classifier with its tokenizer (if it can save itself;
    `AlbertBiLSTMClassifier.from_pretrained(directory)` reads it back) and its `RunRecord` as
    `metrics.json`, each atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if hasattr(run.model, "save_pretrained"):
        run.model.save_pretrained(directory, run.tokenizer)
    return run.record.save(directory / METRICS_FILE)


def load_or_train(
    settings: FinetuneSettings, directory: str | Path | None = None, progress: bool = True
) -> FinetuneRun:
    """The run of `settings`, through the book's cache policy (`seqbook.cache.load_or_compute`,
    keyed by the recipe, the encoder's file digests and `FINETUNE_REVISION`): loaded from its
    folder if it was completed there, else fine-tuned now (resuming from the folder's
    checkpoint if an earlier call was interrupted) and saved there.

    `directory` defaults to `cache_dir()/finetune/<key>`, a folder of this key alone. A folder
    you name that holds another run (other settings, another encoder, older code, or files
    this function did not write) is refused with a message, never served. `run.loaded` says
    which happened; the classifier is loaded back for the BiLSTM head (`model` is None for the
    linear heads, whose runs keep only their record)."""
    from seqbook.cache import load_or_compute

    if not isinstance(settings, FinetuneSettings):
        raise TypeError(f"settings must be a FinetuneSettings, got {type(settings).__name__}")
    key = settings.cache_key()
    owned = directory is None
    if owned:
        from seqbook.data import cache_dir

        directory = cache_dir() / "finetune" / settings.key()
    directory = Path(directory)

    def compute(folder: Path) -> FinetuneRun:
        checkpoint = folder / CHECKPOINT_FILE
        run = finetune(settings, progress=progress, checkpoint_path=checkpoint)
        save_run(folder, run)
        checkpoint.unlink(missing_ok=True)
        run.directory = folder
        return run

    def load(folder: Path) -> FinetuneRun:
        record = RunRecord.load(folder / METRICS_FILE)  # a torn file raises, naming itself
        model = tokenizer = None
        if settings.head == "bilstm":
            model = AlbertBiLSTMClassifier.from_pretrained(folder)
            tokenizer = load_tokenizer(str(folder / ENCODER_DIR))
        return FinetuneRun(model, tokenizer, record, folder, True)

    run, _ = load_or_compute(directory, key, compute, load, owned=owned)
    return run


def command_settings(argv: Sequence[str] | None = None):
    """(settings, parsed arguments) of the command line `argv`: one option per
    `FinetuneSettings` field (built from the dataclass by `train.settings_parser`), plus
    `--output`, `--all-data` and `--no-progress`."""
    from seqbook.runtime import profile
    from seqbook.train import settings_from_args, settings_parser

    parser = settings_parser(
        FinetuneSettings,
        description="Fine-tune an ALBERT (+ BiLSTM) sentiment classifier on IMDB.",
        defaults={"encoder": profile().albert_name},
        prog="python -m seqbook.finetune",
    )
    parser.add_argument("--output", required=True, help="directory for the saved classifier")
    parser.add_argument("--all-data", action="store_true", help="use every review (no subsets)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.all_data:
        args.train_subset = args.eval_subset = args.test_subset = None
    return settings_from_args(FinetuneSettings, args), args


def main(argv: Sequence[str] | None = None) -> FinetuneRun:
    """The command line (`command_settings`): fine-tune, save, print the test figures."""
    from seqbook.train import accelerator

    settings, args = command_settings(argv)
    run = finetune(settings, progress=not args.no_progress)
    if accelerator(settings.mixed_precision).is_main_process:
        save_run(args.output, run)
    test = run.record.test
    print(  # noqa: T201 - the command's one line of output
        f"test accuracy {test['test_accuracy']:.4f}  F1 {test['test_f1']:.4f}  "
        f"training {run.record.seconds:.0f} s  -> {args.output}"
    )
    return run


if __name__ == "__main__":
    main()
