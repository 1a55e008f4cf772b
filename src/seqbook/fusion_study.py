"""When fusing static vectors into a contextual encoder pays: chapter 9's comparison repeated with
a weak and a strong contextual encoder, at two numbers of labelled reviews, with seeds.

The weak encoder is the book's own tiny ALBERT (`data/tiny-albert-imdb`, 20 M pieces of
pretraining, H = 128); the strong one is MiniLM-L6 (H = 384, pretrained at scale). Both are
frozen; their word vectors (subword states averaged per word, eq. eq-fusion-align) are fused with
GloVe's by chapter 9's models: contextual only, static only, concatenation and the gate, each
a fusion module, attention pooling and a linear layer, trained as chapter 9 trains them. The
data are chapter 9's in the fast profile: the first `MAX_WORDS` words of each review, 250
validation and 750 test reviews, and the balanced training subsets of 500 and 2,000 reviews.

The questions are what the static vectors add to the contextual side, and whether a fusion beats
the better of its two sources: per encoder and size, the gain of each fusion over "contextual
only" or over "static only (GloVe)", averaged over seeds, with a paired bootstrap interval over
the test reviews of the seed-averaged correctness (`gains`). One command makes the committed
results file (a few minutes on one CPU thread)::

    python -m seqbook.fusion_study --out data/results/fusion_encoders.json --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

ENCODERS = ("tiny", "minilm")  # the weak and the strong contextual encoder
VARIANTS = ("contextual only", "static only (GloVe)", "concatenation", "gated")
FUSIONS = ("concatenation", "gated")  # compared with "contextual only"
SIZES = (500, 2000)  # labelled training reviews
VALID, TEST = 250, 750  # chapter 9's split of the fast profile's 1,000 evaluation reviews
MAX_WORDS = 64  # chapter 9's cut in the fast profile (max_len // 2)
D_MODEL, DROPOUT, LR, EPOCHS, BATCH = 64, 0.2, 1e-3, 4, 32  # chapter 9's training


def encoder_path(name: str) -> Path:
    """The folder of the weak ("tiny") or strong ("minilm") encoder."""
    from seqbook.data import bert_encoder_path
    from seqbook.hf import shipped_albert_path

    if name not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {name!r}")
    return shipped_albert_path() if name == "tiny" else bert_encoder_path()


def features(name: str, split: str, n: int) -> tuple[list[list[str]], list[torch.Tensor], list]:
    """(words, contextual vectors, labels) of the first `n` reviews of `split` (the balanced,
    seeded subset `seqbook.data.load_split` gives) under encoder `name`, cached. A review whose
    first `MAX_WORDS` words need more subword positions than the encoder has is cut at the last
    whole word that fits (the tiny ALBERT has 128 positions)."""
    from seqbook import fusion
    from seqbook.data import load_split

    df = load_split(split, limit=n)
    words, vectors = fusion.contextual_features(
        df["text"].tolist(),
        f"study-{name}-{split}-{n}",
        strategy="mean",
        max_words=MAX_WORDS,
        encoder_path=encoder_path(name),
        progress=False,
        truncate=True,
    )
    return words, vectors, df["label"].tolist()


def _model(variant: str, d_context: int, d_static: int):
    from seqbook import fusion

    if variant == "contextual only":
        module = fusion.SingleSource(d_context, d_static, D_MODEL, "contextual")
    elif variant == "static only (GloVe)":
        module = fusion.SingleSource(d_context, d_static, D_MODEL, "static")
    elif variant == "concatenation":
        module = fusion.ConcatFusion(d_context, d_static)
    elif variant == "gated":
        module = fusion.GatedFusion(d_context, d_static, D_MODEL)
    else:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return fusion.FusionClassifier(module, dropout=DROPOUT)


@torch.no_grad()
def _correct(model, loader) -> str:
    """Per test review, in order: '1' where the prediction is right, else '0'."""
    model.eval()
    hits = [
        model(**{k: v for k, v in b.items() if k != "labels"}).argmax(-1) == b["labels"]
        for b in loader
    ]
    return "".join("1" if h else "0" for h in torch.cat(hits).tolist())


def run_cell(
    name: str,
    n: int,
    seeds: Sequence[int],
    glove,
    variants: Sequence[str] = VARIANTS,
    log=print,
) -> list[dict]:
    """Each of `variants` for each seed, encoder `name`, `n` labelled reviews: one row each."""
    from seqbook import fusion
    from seqbook.data import load_split, tokenize
    from seqbook.train import run_experiment

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"variants must be among {VARIANTS}, got {unknown}")

    data = {
        split: features(name, split, size)
        for split, size in (("train", n), ("valid", VALID), ("test", TEST))
    }
    static = {
        split: [fusion.static_word_vectors(ws, glove, oov="zeros")[0] for ws in words]
        for split, (words, _, _) in data.items()
    }
    d_context = data["train"][1][0].shape[1]
    # reviews of the test split the encoder could not read to MAX_WORDS words (cut to fit)
    wanted = [min(MAX_WORDS, len(tokenize(t))) for t in load_split("test", limit=TEST)["text"]]
    cut = sum(len(ws) < w for ws, w in zip(data["test"][0], wanted, strict=True))
    rows = []
    for seed in seeds:
        loaders = {}
        for split, (_, vectors, labels) in data.items():
            dataset = fusion.FusionDataset(vectors, static[split], labels)
            size = BATCH if split == "train" else 256
            loaders[split] = fusion.fusion_loader(
                dataset, size, shuffle=split == "train", seed=seed
            )
        for variant in variants:
            model, record = run_experiment(
                f"fusion-study {name} {n} {variant}",
                lambda v=variant: _model(v, d_context, glove.vector_size),
                loaders["train"],
                loaders["valid"],
                loaders["test"],
                settings={"encoder": name, "train_reviews": n, "variant": variant},
                seed=seed,
                epochs=EPOCHS,
                lr=LR,
                progress=False,
            )
            row = {
                "encoder": name,
                "train_reviews": n,
                "seed": seed,
                "variant": variant,
                **record.row(),
                "correct": _correct(model, loaders["test"]),
                "cut_test_reviews": cut,
            }
            rows.append(row)
            log(
                f"{name} {n} seed {seed} {variant}: test {row['test_accuracy']:.3f}"
                f" ({row['seconds']:.0f} s)"
            )
    return rows


def gains(results: dict, baseline: str = "contextual only", samples: int = 2000) -> list[dict]:
    """Per encoder, size and fusion: the mean over seeds of (fusion minus `baseline`) test
    accuracy, the per-seed values, and the 95 % paired bootstrap interval over the test reviews
    of the seed-averaged correctness (each review's share of seeds right: the seeds' noise stays
    in the estimate, the bootstrap adds which reviews were drawn). `baseline` is a single source:
    "contextual only" (what the static vectors add to the encoder) or "static only (GloVe)".
    Points, i.e. accuracy x 100."""
    from seqbook.fusion import bootstrap_mean_difference

    if baseline not in VARIANTS[:2]:
        raise ValueError(f"baseline must be one of {VARIANTS[:2]}, got {baseline!r}")
    rows = results["rows"]
    out = []
    for name in dict.fromkeys(r["encoder"] for r in rows):
        for n in sorted({r["train_reviews"] for r in rows if r["encoder"] == name}):

            def of(variant, name=name, n=n):
                return {
                    r["seed"]: np.array([c == "1" for c in r["correct"]], dtype=float)
                    for r in rows
                    if (r["encoder"], r["train_reviews"], r["variant"]) == (name, n, variant)
                }

            base = of(baseline)
            for variant in FUSIONS:
                mine = of(variant)
                seeds = sorted(set(base) & set(mine))
                if not seeds:
                    continue
                per_seed = [100 * (mine[s].mean() - base[s].mean()) for s in seeds]
                a = np.mean([mine[s] for s in seeds], axis=0)  # share of seeds right, per review
                b = np.mean([base[s] for s in seeds], axis=0)
                gain, low, high = bootstrap_mean_difference(a, b, samples)
                out.append(
                    {
                        "encoder": name,
                        "train_reviews": n,
                        "fusion": variant,
                        "baseline": baseline,
                        "seeds": len(seeds),
                        "baseline_accuracy": float(100 * b.mean()),
                        "fused": float(100 * a.mean()),
                        "gain": 100 * gain,
                        "low": 100 * low,
                        "high": 100 * high,
                        "per_seed": [round(float(g), 2) for g in per_seed],
                    }
                )
    return out


def main(argv: Sequence[str] | None = None) -> dict:
    from seqbook.embeddings import glove_keyed_vectors
    from seqbook.provenance import git_commit, hardware, new_results, write_results
    from seqbook.runtime import configure_threads

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m seqbook.fusion_study")
    parser.add_argument("--out", required=True)
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=ENCODERS)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args(argv)
    configure_threads()
    commit = git_commit()  # read now: the checkout may move on during the run
    start = time.perf_counter()
    glove = glove_keyed_vectors()
    rows = []
    for name in args.encoders:
        for n in args.sizes:
            rows += run_cell(name, n, args.seeds, glove, log=lambda s: print(s, flush=True))  # noqa: T201
    results = new_results(
        {
            "command": " ".join(["python -m seqbook.fusion_study", *argv]),
            "commit": commit,
            "hardware": hardware(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "seconds": round(time.perf_counter() - start, 1),
            "settings": {
                "max_words": MAX_WORDS,
                "valid_reviews": VALID,
                "test_reviews": TEST,
                "d_model": D_MODEL,
                "dropout": DROPOUT,
                "lr": LR,
                "epochs": EPOCHS,
                "batch_size": BATCH,
            },
        },
        rows,
    )
    write_results(Path(args.out), results)
    return results


if __name__ == "__main__":
    main()
