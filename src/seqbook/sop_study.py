"""Sentence-order prediction that learns, and ALBERT's NSP / SOP cross-test, on the book's reviews.

The shipped tiny ALBERT (chapter 7) was pretrained with SOP on pairs cut from a packed token
stream at arbitrary positions, and its SOP accuracy stayed at chance. This study continues its
pretraining (MLM + one sentence-level task) on pairs cut at *sentence* boundaries, in two
placements:

- ``anywhere``: A and B are consecutive runs of sentences from anywhere in a review (1 to 3
  sentences each, `pretraining.sentence_order_pairs`), Lan et al. (2020)'s setting;
- ``ends``: A is the review's opening (its first sentences, up to `MAX_WORDS` words) and B its
  closing (its last sentences, up to `MAX_WORDS` words); order at the scale of a whole review.

For each placement it trains one model with SOP (negatives: the two segments swapped) and one with
NSP (negatives: B taken from another review), from the same weights, on the same training reviews,
for the same steps, and scores each on held-out pairs (test-split reviews) of *both* tasks: the
2 x 2 table of ALBERT's Table 5. Label 0 is the positive class in both tasks (in order; B follows
A), so one head answers both.

    python -m seqbook.sop_study --out data/results/sop_study.json

One run is a few minutes on one CPU thread; the committed file holds every run with its
learning curve and provenance, and chapter 7 reads it.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from seqbook.pretraining import (
    SegmentPair,
    encode_pairs,
    next_sentence_pairs,
    sentence_order_pairs,
)
from seqbook.provenance import portable_path

PLACEMENTS = ("anywhere", "ends")
TASKS = ("sop", "nsp")
MAX_WORDS = 45  # words per segment of an "ends" pair: two segments fit 128 pieces


@dataclass(frozen=True)
class SOPSettings:
    """One continued-pretraining run."""

    task: str = "sop"  # the sentence-level task it trains: "sop" or "nsp"
    placement: str = "anywhere"  # where pairs come from: "anywhere" or "ends"
    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-4
    warmup: float = 0.1  # share of the steps with a linearly rising rate, then linear decay
    max_len: int = 128  # pieces per pair, [CLS] A [SEP] B [SEP]
    mlm_probability: float = 0.15  # 0 trains the sentence task alone
    train_docs: int | None = None  # training reviews read (None: all)
    eval_pairs: int = 1000  # held-out pairs scored along the way (the final score uses all)
    eval_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        for name in ("steps", "batch_size", "max_len", "eval_pairs", "eval_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0 < self.lr < 1 or not 0 <= self.warmup < 1:
            raise ValueError(
                f"lr must lie in (0, 1) and warmup in [0, 1), got {self.lr}, {self.warmup}"
            )
        if not 0 <= self.mlm_probability < 1:
            raise ValueError(f"mlm_probability must lie in [0, 1), got {self.mlm_probability}")


def _run(sentences: Sequence[str], limit: int, from_end: bool) -> list[str]:
    """The longest run of whole sentences from one end with at most `limit` words (at least one)."""
    order = list(reversed(sentences)) if from_end else list(sentences)
    kept, words = [], 0
    for s in order:
        n = len(s.split())
        if kept and words + n > limit:
            break
        kept.append(s)
        words += n
    return list(reversed(kept)) if from_end else kept


def end_pairs(
    documents: Sequence[Sequence[str]], task: str, *, seed: int = 0, max_words: int = MAX_WORDS
) -> list[SegmentPair]:
    """One pair per review of at least two sentences: A its opening, B its closing (whole
    sentences, at most `max_words` words each where a sentence allows, never overlapping).
    Half the pairs are negatives: for SOP, (B, A); for NSP, A with another review's closing."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    rng = random.Random(seed)
    ends = []
    for d, doc in enumerate(documents):
        if isinstance(doc, str):
            raise TypeError(f"documents must be lists of sentences, got a str at index {d}")
        if len(doc) < 2:
            continue
        head = _run(doc, max_words, from_end=False)
        tail = _run(doc, max_words, from_end=True)
        if len(head) + len(tail) > len(doc):  # they would overlap: cut the review in two
            cut = len(doc) // 2
            head, tail = _run(doc[:cut], max_words, False), _run(doc[cut:], max_words, True)
        ends.append((d, " ".join(head), " ".join(tail)))
    if task == "nsp" and len(ends) < 2:
        raise ValueError(f"NSP needs at least 2 usable documents, got {len(ends)}")
    pairs = []
    for i, (d, a, b) in enumerate(ends):
        if rng.random() < 0.5:
            pairs.append(SegmentPair(a, b, 0, d))
        elif task == "sop":
            pairs.append(SegmentPair(b, a, 1, d))
        else:
            j = rng.randrange(len(ends) - 1)
            j += j >= i  # any other review
            pairs.append(SegmentPair(a, ends[j][2], 1, d))
    return pairs


def task_pairs(documents, task: str, placement: str, seed: int = 0) -> list[SegmentPair]:
    """The pairs of `task` ("sop" / "nsp") in `placement` ("anywhere" / "ends")."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    if placement == "ends":
        return end_pairs(documents, task, seed=seed)
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    make = sentence_order_pairs if task == "sop" else next_sentence_pairs
    return make(documents, seed=seed, max_sentences=4)


def encode(tokenizer, pairs: Sequence[SegmentPair], max_len: int) -> dict[str, torch.Tensor]:
    """Padded tensors of `pairs`: input_ids, token_type_ids, attention_mask, order_labels."""
    rows = encode_pairs(tokenizer, pairs, max_len)
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    types = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"])
        types[i, :n] = torch.tensor(r["token_type_ids"])
        mask[i, :n] = 1
    labels = torch.tensor([r["label"] for r in rows], dtype=torch.long)
    return {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "order_labels": labels,
    }


def _rows(batch: dict[str, torch.Tensor], index) -> dict[str, torch.Tensor]:
    return {k: v[index] for k, v in batch.items()}


@torch.no_grad()
def accuracy(model, batch: dict[str, torch.Tensor], batch_size: int = 128) -> tuple[int, int]:
    """(correct, total) of the model's sentence-level head on `batch` (no masking)."""
    model.eval()
    correct = 0
    n = len(batch["order_labels"])
    for start in range(0, n, batch_size):
        part = _rows(batch, slice(start, start + batch_size))
        hidden = model.encoder(part["input_ids"], part["attention_mask"], part["token_type_ids"])
        logits = model.sop_classifier(model.encoder.pool(hidden))
        correct += int((logits.argmax(-1) == part["order_labels"]).sum())
    return correct, n


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion `correct / n`."""
    if n < 1 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n and n >= 1, got {correct}, {n}")
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def score(correct: int, n: int) -> dict:
    """A results-file score: accuracy, the counts behind it and its 95 % Wilson interval."""
    return {
        "accuracy": correct / n,
        "correct": correct,
        "pairs": n,
        "ci95": list(wilson(correct, n)),
    }


def words_baseline(train: Sequence[SegmentPair], test: Sequence[SegmentPair]) -> dict:
    """What the words of each segment say on their own: logistic regression on TF-IDF features
    of the first and of the second segment, side by side (unigrams and bigrams, C = 4). It can
    learn that a closing word comes second, but it cannot compare the two segments (no feature
    sees both), so a task solved by matching A with B stays at chance for it."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def features(vec, pairs):
        return hstack(
            [vec.transform([p.first for p in pairs]), vec.transform([p.second for p in pairs])]
        ).tocsr()

    vec = TfidfVectorizer(min_df=3, ngram_range=(1, 2), max_features=50_000, sublinear_tf=True)
    vec.fit([p.first for p in train] + [p.second for p in train])
    clf = LogisticRegression(C=4.0, max_iter=2000)
    clf.fit(features(vec, train), [p.label for p in train])
    hits = clf.predict(features(vec, test)) == [p.label for p in test]
    return score(int(hits.sum()), len(test))


def overlap_baseline(train: Sequence[SegmentPair], test: Sequence[SegmentPair]) -> dict:
    """What a pure topic matcher gets: the cosine similarity of the two segments' TF-IDF
    vectors, with the threshold that is best on the training pairs (label 0 above it). It sees
    nothing but how many (weighted) words the segments share, so it measures how much NSP's
    negatives give away by topic, and how little the order of two segments does."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(min_df=3, sublinear_tf=True, stop_words="english")
    vec.fit([p.first for p in train] + [p.second for p in train])

    def similarity(pairs):
        a = vec.transform([p.first for p in pairs])
        b = vec.transform([p.second for p in pairs])
        return np.asarray(a.multiply(b).sum(axis=1)).ravel()  # rows are L2-normalised

    sim, labels = similarity(train), np.array([p.label for p in train])
    candidates = np.unique(np.quantile(sim, np.linspace(0, 1, 201)))
    accuracy = [((sim > t) == (labels == 0)).mean() for t in candidates]
    threshold = float(candidates[int(np.argmax(accuracy))])
    hits = (similarity(test) > threshold) == (np.array([p.label for p in test]) == 0)
    return score(int(hits.sum()), len(test)) | {"threshold": threshold}


def load_documents(train_docs: int | None):
    from seqbook.pretrain_run import corpus_documents

    return corpus_documents("train", train_docs), corpus_documents("test")


def run(
    settings: SOPSettings,
    model_dir: Path,
    documents=None,
    progress: bool = True,
    stop_after: int | None = None,
) -> dict:
    """Continue `model_dir`'s pretraining on `settings.task` pairs; return the run's record.

    `stop_after` ends the run after that many steps, on the full run's schedule (to re-measure
    the start of a committed run); such a record has no final test scores."""
    if stop_after is not None and not 0 < stop_after <= settings.steps:
        raise ValueError(f"stop_after must lie in [1, steps={settings.steps}], got {stop_after}")
    from tqdm.auto import tqdm

    from seqbook.pretrain_run import load_pretrained, mask_batch
    from seqbook.runtime import seed_everything

    seed_everything(settings.seed)
    model, tokenizer = load_pretrained(model_dir)
    train_docs, test_docs = documents or load_documents(settings.train_docs)
    train = encode(
        tokenizer,
        task_pairs(train_docs, settings.task, settings.placement, settings.seed),
        settings.max_len,
    )
    held_out = {
        t: encode(tokenizer, task_pairs(test_docs, t, settings.placement, seed=1), settings.max_len)
        for t in TASKS
    }
    curve_rows = torch.randperm(
        len(held_out[settings.task]["order_labels"]), generator=torch.Generator().manual_seed(0)
    )[: settings.eval_pairs]
    curve_batch = _rows(held_out[settings.task], curve_rows)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
        lr=settings.lr,
    )
    warm = max(1, int(settings.warmup * settings.steps))

    def rate(step: int) -> float:  # linear warm-up, then linear decay to 0
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (settings.steps - step) / max(1, settings.steps - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, rate)
    g = torch.Generator().manual_seed(settings.seed)
    n_train = len(train["order_labels"])
    history, window = [], []
    correct, total = accuracy(model, curve_batch)
    history.append({"step": 0, "heldout_accuracy": correct / total, "train_task_loss": None})
    started = time.perf_counter()
    for step in tqdm(range(stop_after or settings.steps), disable=not progress, desc=settings.task):
        model.train()
        batch = _rows(train, torch.randint(n_train, (settings.batch_size,), generator=g))
        width = int(batch["attention_mask"].sum(1).max())
        batch = {k: v[:, :width] if v.dim() == 2 else v for k, v in batch.items()}
        if settings.mlm_probability > 0:
            batch = mask_batch(batch, tokenizer, settings.mlm_probability, g)
        hidden = model.encoder(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        logits = model.sop_classifier(model.encoder.pool(hidden))
        task_loss = F.cross_entropy(logits, batch["order_labels"])
        loss = task_loss
        if settings.mlm_probability > 0:
            selected = batch["mlm_labels"] != -100
            if selected.any():
                mlm_logits = model.mlm_logits(hidden[selected])
                loss = loss + F.cross_entropy(mlm_logits, batch["mlm_labels"][selected])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        window.append(task_loss.item())
        if (step + 1) % settings.eval_every == 0 or step + 1 == settings.steps:
            correct, total = accuracy(model, curve_batch)
            history.append(
                {
                    "step": step + 1,
                    "heldout_accuracy": correct / total,
                    "train_task_loss": sum(window) / len(window),
                }
            )
            window = []
    seconds = time.perf_counter() - started
    scores = {}
    for t in TASKS if stop_after is None else ():
        scores[t] = score(*accuracy(model, held_out[t]))
    return {
        "settings": asdict(settings),
        "model": portable_path(model_dir),
        "train_pairs": n_train,
        "history": history,
        "test": scores,
        "seconds": round(seconds, 1),
    }


def _note_command(stored: dict, command: str, commit: str) -> None:
    """The file's provenance after `command` (at `commit`) added rows to it."""
    from seqbook.provenance import hardware

    known = stored["provenance"].get("invocations", [])
    stored["provenance"] |= {
        "command": command,
        "commit": commit,
        "hardware": hardware(),
        "invocations": known + ([command] if command not in known else []),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    from seqbook import provenance
    from seqbook.hf import shipped_albert_path
    from seqbook.runtime import configure_threads

    parser = argparse.ArgumentParser(prog="python -m seqbook.sop_study", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="results file (JSON), extended")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped tiny ALBERT")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--placements", nargs="+", choices=PLACEMENTS, default=list(PLACEMENTS))
    parser.add_argument("--steps", type=int, default=SOPSettings.steps)
    parser.add_argument("--lr", type=float, default=SOPSettings.lr)
    parser.add_argument("--mlm-probability", type=float, default=SOPSettings.mlm_probability)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--baselines", action="store_true", help="only the words-alone baseline of each pairing"
    )
    args = parser.parse_args(argv)
    configure_threads()
    model_dir = args.model or shipped_albert_path()
    results = provenance.read_results(args.out)
    documents = load_documents(None)
    commit = provenance.git_commit()
    if args.baselines:
        train_docs, test_docs = documents
        for placement in args.placements:
            for task in args.tasks:
                started = time.perf_counter()
                train_pairs = task_pairs(train_docs, task, placement, seed=args.seed)
                test_pairs = task_pairs(test_docs, task, placement, seed=1)
                score = {
                    "words": words_baseline(train_pairs, test_pairs),
                    "overlap": overlap_baseline(train_pairs, test_pairs),
                }
                score |= {
                    "task": task,
                    "placement": placement,
                    "seconds": round(time.perf_counter() - started, 1),
                }
                command = "python -m seqbook.sop_study " + " ".join(argv or [])

                def add(stored: dict, score=score, command=command) -> None:
                    stored["rows"] = [
                        r
                        for r in stored["rows"]
                        if (r["kind"], r["task"], r["placement"])
                        != ("baseline", score["task"], score["placement"])
                    ] + [{"kind": "baseline", **score}]
                    _note_command(stored, command, commit)

                results = provenance.update_results(args.out, add)
                words, overlap = score["words"]["accuracy"], score["overlap"]["accuracy"]
                print(f"{placement} {task}: words {words:.3f}, overlap {overlap:.3f}", flush=True)
        return results
    for placement in args.placements:
        for task in args.tasks:
            settings = SOPSettings(
                task=task,
                placement=placement,
                steps=args.steps,
                lr=args.lr,
                mlm_probability=args.mlm_probability,
                seed=args.seed,
            )
            runs = [r for r in results["rows"] if r["kind"] == "run"]
            if any(r["settings"] == asdict(settings) for r in runs):
                continue  # resumable: a run already in the file is not repeated
            record = run(settings, model_dir, documents)
            command = "python -m seqbook.sop_study " + " ".join(argv or [])
            record["provenance"] = {
                "command": command,
                "commit": commit,
                "hardware": provenance.hardware(),
                "threads": torch.get_num_threads(),
            }

            def add(stored: dict, record=record, command=command) -> None:
                stored["rows"].append({"kind": "run", **record})
                _note_command(stored, command, commit)

            # under the file's lock: another process may be adding its runs meanwhile
            results = provenance.update_results(args.out, add)
            sop, nsp = (record["test"][t]["accuracy"] for t in ("sop", "nsp"))
            print(f"{placement} {task}: SOP {sop:.3f}, NSP {nsp:.3f} ({record['seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
