"""Ship one fine-tuned ALBERT + BiLSTM classifier of chapter 8's systems table, for the
chapter's error analysis and its widget: the classifier in fp16 (`AlbertBiLSTMClassifier.
from_pretrained` loads it), its class probabilities on every test review made with exactly
those weights, and a card.

    python scripts/ship_classifier.py --system distilled --labels 2000 --seed 0 \
        --out data/albert-minilm-distilled-imdb

The run is `seqbook.encoder_study.SYSTEMS[system]` with chapter 8's recipe; `load_or_train`
loads it from the cache when the systems command trained it already, and trains it otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import torch

from seqbook.cache import file_digest, write_json
from seqbook.data import load_split
from seqbook.encoder_study import SYSTEMS
from seqbook.finetune import FinetuneSettings, load_or_train, predict_proba
from seqbook.provenance import git_commit, hardware
from seqbook.runtime import configure_threads

PREDICTIONS = "test_predictions.json"


def main(argv: list[str] | None = None) -> dict:
    from seqbook.albert_bilstm import AlbertBiLSTMClassifier

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python scripts/ship_classifier.py")
    parser.add_argument("--system", choices=list(SYSTEMS), default="distilled")
    parser.add_argument("--labels", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    configure_threads()
    s = FinetuneSettings(
        **(SYSTEMS[args.system] | {"train_subset": args.labels, "seed": args.seed})
    )
    if s.head != "bilstm":
        raise ValueError(f"only the BiLSTM head ships, got head={s.head!r}")
    run = load_or_train(s, progress=False)
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    run.model.half().save_pretrained(out, tokenizer=run.tokenizer)
    shipped = AlbertBiLSTMClassifier.from_pretrained(out).float().eval()
    test = load_split("test", limit=s.test_subset)
    t0 = time.perf_counter()
    probs = predict_proba(shipped, run.tokenizer, test["text"].tolist(), max_len=s.max_len)
    seconds = time.perf_counter() - t0
    p_pos = [round(float(p), 5) for p in probs[:, 1]]
    accuracy = float(((probs.argmax(1).numpy()) == test["label"].to_numpy()).mean())
    write_json(out / PREDICTIONS, {"p_positive": p_pos, "reviews": len(test)})
    card = {
        "command": " ".join(["python scripts/ship_classifier.py", *argv]),
        "commit": git_commit(),
        "hardware": hardware(),
        "settings": s.to_dict(),
        "key": s.key(),
        "fine_tuning_seconds": run.record.seconds,
        "prediction_seconds": round(seconds, 1),
        "test_accuracy_run": run.accuracy,  # the fp32 model, as the systems table records it
        "test_accuracy_shipped": accuracy,  # these fp16 weights, from the predictions file
        "test_reviews": len(test),
        "torch": torch.__version__,
    }
    card["files"] = {
        str(f.relative_to(out)): file_digest(f) for f in sorted(out.rglob("*")) if f.is_file()
    }
    write_json(out / "card.json", card)
    print(  # noqa: T201 - the command's one line of output
        f"shipped to {out}: test accuracy {accuracy:.4f} (run: {run.accuracy:.4f})"
    )
    return card


if __name__ == "__main__":
    main()
