"""What pretraining buys downstream: the budget curve and the multi-seed comparison of chapter 8.

Both exceed a chapter's time budget, so a command computes them once and writes a results file
with its provenance (command, commit, hardware, seconds); the chapters read the file, and a
test validates it. Every row is one fine-tuning run of the fixed recipe `RECIPE`
(`seqbook.finetune.FinetuneSettings`), identified by its settings key (recipe + encoder
weights): a rerun skips rows already present, so the command can be resumed.

    python -m seqbook.pretrain_study budget --model data/tiny-albert-imdb \\
        --out data/results/pretraining_budget.json --seeds 0
    python -m seqbook.pretrain_study seeds --model data/tiny-albert-imdb \\
        --out data/results/albert_bilstm_seeds.json --seeds 0 1 2
    python -m seqbook.pretrain_study seeds --model data/tiny-albert-imdb \\
        --out data/results/albert_bilstm_encoder_lr.json --seeds 0 --encoder-lr 1e-4 \\
        --variants 'fine-tuned, pretrained' 'fine-tuned, random init'
    python -m seqbook.pretrain_study recipe --out data/results/pretraining_recipe.json \\
        --steps 2500

`budget` fine-tunes every budget snapshot of the run (step 0 is its random initialisation) at
each label count; `seeds` runs chapter 8's table (`VARIANTS` and the frozen MiniLM row) per seed
(`--encoder-lr` changes the recipe's encoder learning rate, for a check of the recipe).
`recipe` is the measured comparison behind the shipped run's tokenizer and masking: the first
`--steps` steps of the same 6,000-step run (64 blocks of 32 pieces) under each of
`RECIPE_VARIANTS`, with held-out [MASK]-only MLM accuracy every 250 steps.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seqbook.cache import read_json
from seqbook.finetune import FinetuneSettings, load_or_train
from seqbook.pretrain_run import BUDGETS_DIR
from seqbook.provenance import (  # noqa: F401 - the results-file helpers, re-exported
    git_commit,
    hardware,
    merge_provenance,
    new_results,
    read_results,
    update_results,
    write_results,
)

# The fixed fine-tuning recipe of the budget curve and the seeds table (see chapter 8).
RECIPE = {
    "eval_subset": 1000,
    "max_len": 128,
    "truncation": "head_tail",
    "batch_size": 32,
    "epochs": 3,
    "encoder_lr": 5e-4,
    "head_lr": 2e-3,
}

VARIANTS = {
    "fine-tuned, pretrained": {},
    "fine-tuned, random init": {"random_init": True},
    "frozen, pretrained": {"freeze_encoder": True},
    "frozen, random init": {"freeze_encoder": True, "random_init": True},
}
MINILM_ROW = "frozen MiniLM-L6 (BERT pretrained at scale)"

# The recipe comparison: changes to the base run of `recipe_settings`.
RECIPE_VARIANTS = {
    "punctuation glued to words": {},
    "punctuation split": {"split_punctuation": True},
    "punctuation split, 30 % masking": {"split_punctuation": True, "mlm_probability": 0.3},
}


def run_row(settings: FinetuneSettings, extra: dict, results: dict, path: Path, log) -> dict:
    """Fine-tune `settings` unless the file already holds its key; append the row and save
    (under `update_results`' lock, with this command's provenance merged in). `results` is
    updated to the file's content."""
    key = settings.key()
    for row in read_results(path)["rows"] + results["rows"]:
        if row.get("key") == key:  # TF-IDF rows have no fine-tuning key
            return row
    t0 = time.perf_counter()
    run = load_or_train(settings, progress=False)  # cached by key: a crash loses no training
    record = run.record
    row = {
        **extra,
        "key": key,
        "labels": settings.train_subset,
        "seed": settings.seed,
        **record.row(),
        "encoder_parameters": (record.extra or {}).get("encoder_parameters"),
        "settings": record.settings,
    }
    if not run.loaded:  # the wall-clock time of this call, feature extraction included
        row["seconds"] = round(time.perf_counter() - t0, 1)
    ours = results["provenance"]
    row["commit"] = ours.get("commit")  # the file's provenance keeps only the latest commit

    def add(stored: dict) -> None:
        if not any(r.get("key") == key for r in stored["rows"]):
            stored["rows"].append(row)
        merge_provenance(stored, ours)

    results.update(update_results(path, add))
    if log is not None:
        log(row)
    return row


def _command(argv: Sequence[str], prog: str = "python -m seqbook.pretrain_study") -> str:
    """The command a results file records: `argv` without its `--variants` (one group per
    invocation) and without `--runs FOLDER` (a scratch folder of this machine, not part of what
    the results depend on)."""
    kept, skipping = [], False
    for a in argv:
        skipping = a in ("--variants", "--runs") or (skipping and not a.startswith("--"))
        if not skipping:
            kept.append(a)
    return f"{prog} " + shlex.join(kept)


def _provenance(
    results: dict,
    argv: Sequence[str],
    recipe: dict = RECIPE,
    prog: str = "python -m seqbook.pretrain_study",
) -> None:
    argv = list(argv)
    invocations = results["provenance"].get("invocations", [])
    results["provenance"] |= {
        "command": _command(argv, prog),
        "invocations": [*invocations, shlex.join(argv)],  # quoted: it can be run again
        "commit": git_commit(),
        "hardware": hardware(),
        "recipe": recipe,
        "note": "2-core CPU shared with other jobs; seconds are upper bounds",
    }


def budget_points(model: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every snapshot under `model/budgets` and of the final model."""
    points = []
    for d in sorted((model / "budgets").glob("step-*")):
        points.append((int(d.name.split("-")[1]), d))
    from seqbook.pretrain_run import RUN_FILE, PretrainRecord

    if (model / RUN_FILE).is_file():
        points.append((PretrainRecord.load(model / RUN_FILE).steps, model))
    return points


def pretraining_metrics(folder: Path, blocks: int = 256) -> dict:
    """Held-out MLM ([MASK]-only) and SOP accuracy of one snapshot at block lengths 32 and 128."""
    from seqbook.pretrain_run import (
        HeldOut,
        build_stream,
        corpus_documents,
        evaluate_blocks,
        load_pretrained,
    )

    model, tokenizer = load_pretrained(folder)
    stream = build_stream(tokenizer, corpus_documents("test"))
    floor_id = tokenizer.convert_tokens_to_ids("▁the")
    held = HeldOut.build(stream, tokenizer, [32, 128], blocks, floor_id, seed=2024)
    out = {}
    for T, batch in held.batches.items():
        m = evaluate_blocks(model, batch, floor_id, tokenizer.mask_token_id)
        out |= {f"mlm_accuracy@{T}": m["mlm_accuracy"], f"sop_accuracy@{T}": m["sop_accuracy"]}
    return out


def budget_curve(model: Path, out: Path, labels: Sequence[int], seed: int, argv, log=None):
    """Fine-tune every snapshot of the run in `model` at each label count (seed `seed`)."""
    from seqbook.pretrain_run import PretrainSettings

    results = read_results(out)
    _provenance(results, argv)
    settings = read_json(model / "settings.json")
    settings.pop("key", None)
    run = PretrainSettings.from_dict(settings)
    steps_tokens = {folder: (step, run.tokens_at(step)) for step, folder in budget_points(model)}
    for folder, (step, tokens) in steps_tokens.items():
        pre = None
        for n in labels:
            s = FinetuneSettings(str(folder), train_subset=n, seed=seed, **RECIPE)
            if pre is None and not any(r["key"] == s.key() for r in results["rows"]):
                pre = pretraining_metrics(folder)
            extra = {"budget_step": step, "tokens": tokens, "variant": "fine-tuned"}
            row = run_row(s, extra | (pre or {}), results, out, log)
            if pre is None and "mlm_accuracy@128" in row:
                pre = {k: row[k] for k in row if k.startswith(("mlm_accuracy@", "sop_accuracy@"))}
    return results


def seeds_table(
    model: Path,
    out: Path,
    seeds: Sequence[int],
    labels: int,
    argv,
    log=None,
    variants: Sequence[str] | None = None,
    recipe: dict = RECIPE,
):
    """The chapter 8 comparison: each variant of `VARIANTS` and the frozen MiniLM row, per seed
    (only `variants`, if given). A random-init variant takes its architecture and tokenizer
    from the run's step-0 snapshot (the same as the final model's) and draws fresh weights from
    its seed, so it does not wait for, or depend on, the final weights."""
    from seqbook.data import bert_encoder_path

    results = read_results(out)
    _provenance(results, argv, recipe)
    wanted = list(variants) if variants else [*VARIANTS, MINILM_ROW]
    unknown = set(wanted) - {*VARIANTS, MINILM_ROW}
    if unknown:
        raise ValueError(f"variants must be among {[*VARIANTS, MINILM_ROW]}, got {sorted(unknown)}")
    step0 = model / BUDGETS_DIR / "step-00000"
    for seed in seeds:
        for name in wanted:
            if name == MINILM_ROW:
                encoder, change = str(bert_encoder_path()), {"freeze_encoder": True}
            else:
                change = VARIANTS[name]
                random = change.get("random_init", False) and step0.is_dir()
                encoder = str(step0 if random else model)
            s = FinetuneSettings(encoder, train_subset=labels, seed=seed, **(recipe | change))
            run_row(s, {"variant": name}, results, out, log)
    return results


def recipe_settings(change: dict):
    """The base run of the recipe comparison (6,000 steps of 64 x 32 pieces) with `change`."""
    from seqbook.pretrain_run import Phase, PretrainSettings

    return PretrainSettings(phases=(Phase(6000, 64, 32),), eval_blocks=128, snapshots=(), **change)


def recipe_comparison(runs: Path, out: Path, steps: int, argv, log=None) -> dict:
    """Run the first `steps` steps of every `RECIPE_VARIANTS` run (resumable, one folder per
    settings key under `runs`) and write their held-out curves to `out`."""
    from seqbook.pretrain_run import HISTORY_FILE, run_pretraining

    results = read_results(out)
    rows = []
    for name, change in RECIPE_VARIANTS.items():
        settings = recipe_settings(change)
        folder = runs / settings.key()
        run_pretraining(settings, folder, stop_at_step=steps, progress=False)
        history = read_json(folder / HISTORY_FILE)
        curve = [
            {k: r[k] for k in ("step", "tokens", "seconds") if k in r}
            | {k.split("@")[0]: v for k, v in r.items() if k.endswith("@32")}
            for r in history
            if r["step"] <= steps
        ]
        rows.append({"variant": name, "change": change, "key": settings.key(), "curve": curve})
        if log is not None:
            last = curve[-1]
            log({"variant": name, "step": last["step"], "mlm": last["mlm_accuracy"]})
    results = new_results(
        {
            "command": _command(argv),
            "commit": git_commit(),
            "hardware": hardware(),
            "base": recipe_settings({}).to_dict(),
            "note": "each run's seconds exclude evaluations; each run shared the 2-core CPU"
            " with one other job",
        },
        rows,
    )
    write_results(out, results)
    return results


def summarise(results: dict, by: Sequence[str] = ("variant",)) -> list[dict]:
    """Mean, sample standard deviation, min and max of test accuracy per group of rows."""
    groups: dict[tuple, list[float]] = {}
    for r in results["rows"]:
        groups.setdefault(tuple(r.get(k) for k in by), []).append(r["test_accuracy"])
    out = []
    for key, accs in groups.items():
        a = np.array(accs)
        out.append(
            dict(zip(by, key, strict=True))
            | {
                "n": len(a),
                "mean": float(a.mean()),
                "std": float(a.std(ddof=1)) if len(a) > 1 else float("nan"),
                "min": float(a.min()),
                "max": float(a.max()),
            }
        )
    return out


def paired_differences(results: dict, a: str, b: str) -> dict[int, float]:
    """Per seed, the test accuracy of variant `a` minus that of variant `b`, in points. A seed
    fixes the labelled subset, its order and the head's initialisation for every variant, so
    the per-seed difference is the comparison a few seeds can make."""
    acc: dict[str, dict[int, float]] = {a: {}, b: {}}
    for r in results["rows"]:
        if r["variant"] in acc:
            acc[r["variant"]][r["seed"]] = r["test_accuracy"]
    if not acc[a] or set(acc[a]) != set(acc[b]):
        raise ValueError(
            f"variants {a!r} and {b!r} must have rows for the same seeds, got seeds "
            f"{sorted(acc[a])} and {sorted(acc[b])}"
        )
    return {seed: 100 * (acc[a][seed] - acc[b][seed]) for seed in sorted(acc[a])}


def main(argv: Sequence[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m seqbook.pretrain_study")
    parser.add_argument("what", choices=["budget", "seeds", "recipe"])
    parser.add_argument("--model", default="data/tiny-albert-imdb")
    parser.add_argument("--out", required=True)
    parser.add_argument("--labels", type=int, nargs="+", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=None, help="seeds: only these rows")
    parser.add_argument("--steps", type=int, default=3000, help="recipe: steps of each run")
    parser.add_argument("--runs", default=None, help="recipe: folder of the runs")
    parser.add_argument(
        "--encoder-lr",
        type=float,
        default=None,
        help=f"seeds: the encoder's learning rate instead of the recipe's {RECIPE['encoder_lr']}",
    )
    args = parser.parse_args(argv)
    if args.what == "recipe":
        from seqbook.data import cache_dir

        runs = Path(args.runs) if args.runs else cache_dir() / "pretrain" / "recipe"
        return recipe_comparison(
            runs,
            Path(args.out),
            args.steps,
            argv,
            lambda r: print(r, flush=True),  # noqa: T201
        )

    def log(row: dict) -> None:
        print(  # noqa: T201
            f"{row.get('variant')} step={row.get('budget_step')} labels={row['labels']} "
            f"seed={row['seed']}: test {row['test_accuracy']:.4f} ({row['seconds']:.0f} s)",
            flush=True,
        )

    model, out = Path(args.model), Path(args.out)
    if args.what == "budget":
        return budget_curve(model, out, args.labels or [500, 2000], args.seeds[0], argv, log)
    labels = (args.labels or [2000])[0]
    recipe = RECIPE if args.encoder_lr is None else RECIPE | {"encoder_lr": args.encoder_lr}
    return seeds_table(model, out, args.seeds, labels, argv, log, args.variants, recipe)


if __name__ == "__main__":
    main()


__all__ = [
    "MINILM_ROW",
    "RECIPE",
    "RECIPE_VARIANTS",
    "VARIANTS",
    "budget_curve",
    "budget_points",
    "read_results",
    "recipe_comparison",
    "recipe_settings",
    "seeds_table",
    "summarise",
]
