"""Collect distillation runs (`python -m seqbook.distill --out RUN`) into one results file for
chapter 7b: each run's settings, steps, seconds and held-out history, and, where given, the
fine-tuned accuracy of its student (a `metrics.json` written by `seqbook.finetune`).

    python scripts/collect_distill_runs.py --out data/results/distill_runs.json \
        --run "NAME=runs/distill/FOLDER[=path/to/metrics.json]" ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqbook.cache import read_json
from seqbook.provenance import git_commit, hardware, new_results, write_results


def collect(specs: list[str]) -> list[dict]:
    rows = []
    for spec in specs:
        parts = spec.split("=")
        if len(parts) not in (2, 3):
            raise ValueError(f"--run must be NAME=RUN[=METRICS], got {spec!r}")
        name, run = parts[0], Path(parts[1])
        record = read_json(run / "history.json")
        if not record.get("finished"):
            raise ValueError(f"--run {spec!r}: {run} is not a finished distillation run")
        row = {
            "name": name,
            "run": str(run),
            "settings": record["settings"],
            "steps": record["steps"],
            "seconds": record["seconds"],
            "history": record["history"],
        }
        if len(parts) == 3:
            metrics = read_json(Path(parts[2]))
            row["finetuned"] = {
                "test_accuracy": metrics["test"]["test_accuracy"],
                "labels": metrics["settings"]["train_subset"],
                "seed": metrics["settings"]["seed"],
                "test_subset": metrics["settings"]["test_subset"],
                "encoder_parameters": metrics["extra"]["encoder_parameters"],
                "seconds": metrics["seconds"],
                "settings": metrics["settings"],
            }
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python scripts/collect_distill_runs.py")
    parser.add_argument("--out", required=True)
    parser.add_argument("--run", action="append", required=True)
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    provenance = {
        "command": " ".join(["python scripts/collect_distill_runs.py", *argv]),
        "commit": git_commit(),
        "hardware": hardware(),
        "note": args.note,
    }
    write_results(Path(args.out), new_results(provenance, collect(args.run)))


if __name__ == "__main__":
    main()
