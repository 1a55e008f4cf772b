"""What ALBERT's ideas cost on pretrained weights, and the ALBERT + BiLSTM system on them.

Two tables, each computed once by a command and committed as a results file with its
provenance (the chapters read them; tests re-measure a figure from each). Every row is one
fine-tuning run (`seqbook.finetune`, chapter 8's recipe: the `FinetuneSettings` defaults)
identified by its settings key, so a rerun skips the rows already in the file::

    python -m seqbook.encoder_study cost --out data/results/albert_from_bert_cost.json
    python -m seqbook.encoder_study systems --out data/results/albert_bilstm_systems.json \\
        --labels 500 2000 --seeds 0 1 2
    python -m seqbook.encoder_study systems --out data/results/albert_bilstm_systems.json \\
        --labels all --seeds 0 --rows distilled minilm

`cost`: MiniLM run as ALBERT's E = H corner, then each of ALBERT's ideas imposed on it without
retraining (`seqbook.compress`: the E sweep; sharing all / attention / feed-forward at E = H and
E = 128, as in ALBERT's Table 4), then the distilled students given with `--distilled
NAME=FOLDER`, all with the BiLSTM head at `--labels` labelled reviews.
`systems`: the encoders of `SYSTEMS` under the BiLSTM head and the linear [CLS] head, at each
label count and seed, beside TF-IDF trained on the same reviews.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from seqbook.finetune import FinetuneSettings
from seqbook.hf import DISTILLED_ALBERT, MINILM, SHIPPED_ALBERT
from seqbook.pretrain_study import RECIPE as TINY_RECIPE
from seqbook.pretrain_study import (
    _provenance,
    merge_provenance,
    read_results,
    run_row,
    update_results,
)

PROG = "python -m seqbook.encoder_study"

# The cost table: MiniLM with ALBERT's ideas imposed, no retraining (`seqbook.compress` specs).
COST_ROWS = {
    "MiniLM as ALBERT (E = H = 384, no sharing)": "albert",
    "E = 256": "albert:E=256",
    "E = 128": "albert:E=128",
    "E = 64": "albert:E=64",
    "E = 384, all shared": "albert:sharing=all",
    "E = 384, attention shared": "albert:sharing=attention",
    "E = 384, feed-forward shared": "albert:sharing=ffn",
    "E = 128, all shared": "albert:E=128,sharing=all",
    "E = 128, attention shared": "albert:E=128,sharing=attention",
    "E = 128, feed-forward shared": "albert:E=128,sharing=ffn",
}

# Chapter 8's encoders: FinetuneSettings changes (the default recipe is chapter 8's).
SYSTEMS = {
    "distilled": {"encoder": DISTILLED_ALBERT},
    "minilm": {"encoder": MINILM, "transform": "albert"},  # through AlbertEncoder.from_bert
    "tiny": {"encoder": SHIPPED_ALBERT, **TINY_RECIPE},
    "random": {"encoder": DISTILLED_ALBERT, "random_init": True},
}
SYSTEM_NAMES = {
    "distilled": "distilled ALBERT (from MiniLM)",
    "minilm": "MiniLM through AlbertEncoder.from_bert",
    "tiny": "tiny in-book ALBERT",
    "random": "random weights (the distilled ALBERT's architecture)",
}
HEADS = {"bilstm": "BiLSTM head", "cls": "linear [CLS] head"}


def _recipe() -> dict:
    """Chapter 8's recipe: the `FinetuneSettings` defaults (the encoder and the data sizes
    vary by row)."""
    skip = ("encoder", "train_subset", "seed", "transform", "random_init")
    return {k: v for k, v in FinetuneSettings(MINILM).to_dict().items() if k not in skip}


def _log(row: dict) -> None:
    print(  # noqa: T201 - the command's progress lines
        f"{row.get('variant')} [{row.get('head', 'bilstm')}] labels={row['labels']} "
        f"seed={row['seed']}: test {row['test_accuracy']:.4f} ({row['seconds']:.0f} s)",
        flush=True,
    )


def _labels(value: str) -> int | None:
    return None if value == "all" else int(value)


def cost_table(
    out: Path,
    seeds: Sequence[int],
    labels: int,
    distilled: dict[str, str],
    argv,
    log=_log,
    transforms: Sequence[str] | None = None,
) -> dict:
    """The `COST_ROWS` transforms of MiniLM (all, or those whose spec is in `transforms`) and
    every distilled student, fine-tuned."""
    specs = list(COST_ROWS.values())
    chosen = specs if transforms is None else list(transforms)
    unknown = [t for t in chosen if t not in specs]
    if unknown:
        raise ValueError(f"transforms must be specs of COST_ROWS {specs}, got {unknown}")
    results = read_results(out)
    _provenance(results, argv, _recipe(), PROG)
    for seed in seeds:
        for name, spec in COST_ROWS.items():
            if spec not in chosen:
                continue
            s = FinetuneSettings(MINILM, transform=spec, train_subset=labels, seed=seed)
            run_row(s, {"variant": name, "transform": spec}, results, out, log)
        for name, folder in distilled.items():
            s = FinetuneSettings(folder, train_subset=labels, seed=seed)
            run_row(s, {"variant": name, "distilled": True}, results, out, log)
    return results


def tfidf_row(labels: int | None) -> dict:
    """TF-IDF + logistic regression trained on the reviews the fine-tuning runs use (the
    seeded subset of `labels` training reviews, C chosen on the same validation reviews),
    scored on the same test reviews."""
    from sklearn.metrics import accuracy_score, f1_score

    from seqbook.baseline import fit_tfidf_baseline
    from seqbook.data import load_split

    s = FinetuneSettings(MINILM, train_subset=labels)
    train = load_split("train", limit=s.train_subset)
    valid = load_split("valid", limit=s.eval_subset)
    test = load_split("test", limit=s.test_subset)
    base = fit_tfidf_baseline(train, valid)
    pred = base.pipeline.predict(test["text"])
    return {
        "variant": "TF-IDF + logistic regression",
        "head": "tfidf",
        "labels": labels,
        "seed": 0,
        "test_accuracy": float(accuracy_score(test["label"], pred)),
        "test_f1": float(f1_score(test["label"], pred)),
        "C": base.C,
        "test_reviews": len(test),
    }


def systems_table(
    out: Path,
    seeds: Sequence[int],
    labels: Sequence[int | None],
    rows: Sequence[str],
    heads: Sequence[str],
    argv,
    log=_log,
) -> dict:
    """`SYSTEMS` x `HEADS` x label counts x seeds, and TF-IDF at each label count."""
    results = read_results(out)
    _provenance(results, argv, _recipe(), PROG)
    ours = dict(results["provenance"])  # this command's, read once: the file's may be older
    for n in labels:
        if not any(r.get("head") == "tfidf" and r["labels"] == n for r in results["rows"]):
            row = tfidf_row(n)

            def add(stored: dict, row: dict = row) -> None:
                rows = stored["rows"]
                if not any(r.get("head") == "tfidf" and r["labels"] == row["labels"] for r in rows):
                    rows.append(row)
                merge_provenance(stored, ours)  # else run_row would merge the file's own back

            results.update(update_results(out, add))
        for seed in seeds:
            for head in heads:
                for name in rows:
                    change = {"train_subset": n, "seed": seed, "head": head}
                    s = FinetuneSettings(**(SYSTEMS[name] | change))
                    extra = {"variant": SYSTEM_NAMES[name], "system": name, "head": head}
                    run_row(s, extra, results, out, log)
    return results


def main(argv: Sequence[str] | None = None) -> dict:
    from seqbook.runtime import configure_threads

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m seqbook.encoder_study")
    parser.add_argument("what", choices=["cost", "systems"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--labels", nargs="+", default=["2000"], help="counts, or 'all'")
    parser.add_argument("--rows", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument("--heads", nargs="+", default=list(HEADS), choices=list(HEADS))
    parser.add_argument(
        "--distilled", nargs="*", default=[], help="cost: NAME=FOLDER of each distilled student"
    )
    parser.add_argument(
        "--transforms", nargs="+", default=None, help="cost: only these COST_ROWS specs"
    )
    args = parser.parse_args(argv)
    configure_threads()
    labels = [_labels(v) for v in args.labels]
    if args.what == "cost":
        distilled = dict(item.rsplit("=", 1) for item in args.distilled)  # names may hold "="
        return cost_table(
            Path(args.out), args.seeds, labels[0], distilled, argv, transforms=args.transforms
        )
    return systems_table(Path(args.out), args.seeds, labels, args.rows, args.heads, argv)


if __name__ == "__main__":
    main()
