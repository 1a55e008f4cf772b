"""The pretraining command: `python -m seqbook.pretrain_run` (or `python -m seqbook.pretrain_cli`).

`--preset` picks a `seqbook.pretrain_run.PRESETS` entry and every scalar field of
`PretrainSettings` is an option; `--card` measures the finished run and writes its model card
(`seqbook.pretrain_card`). The run itself is `seqbook.pretrain_run.run_pretraining`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from seqbook.pretrain_run import (
    PRESETS,
    PausedRun,
    Phase,
    PretrainRecord,
    PretrainSettings,
    prepare,
    run_pretraining,
    throughput,
)
from seqbook.provenance import git_commit


def command_line(argv: Sequence[str] | None = None):
    """(settings, args) from the command line: `--preset` picks a `PRESETS` entry, and every
    scalar field of `PretrainSettings` is an option (built from the dataclass by
    `train.settings_parser`, defaulted from the preset) that changes it; `--steps-scale`
    scales every phase's steps and the warm-up."""
    from seqbook.train import settings_parser

    chooser = argparse.ArgumentParser(add_help=False)
    chooser.add_argument("--preset", choices=sorted(PRESETS), default="long")
    preset = PRESETS[chooser.parse_known_args(argv)[0].preset]
    structured = ("phases", "snapshots")  # tuples: set by the preset and --steps-scale
    parser = settings_parser(
        PretrainSettings,
        description="Pretrain the book's tiny ALBERT on IMDB training reviews (MLM + SOP).",
        defaults={k: v for k, v in preset.to_dict().items() if k not in structured},
        prog="python -m seqbook.pretrain_run",
        exclude=structured,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="long")
    parser.add_argument("--out", required=True, help="folder for the run (resumable)")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="scale every phase's steps")
    parser.add_argument("--probe", action="store_true", help="only print the throughput")
    parser.add_argument("--stop-after-seconds", type=float, default=None)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--card", action="store_true", help="after the run, measure it and write its model card"
    )
    args = parser.parse_args(argv)
    changes = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(PretrainSettings)
        if f.name not in structured
    }
    if args.steps_scale != 1.0:
        changes["phases"] = tuple(
            Phase(max(1, round(p.steps * args.steps_scale)), p.batch_size, p.block_len)
            for p in preset.phases
        )
        changes["warmup_steps"] = max(1, round(preset.warmup_steps * args.steps_scale))
    return dataclasses.replace(preset, **changes), args


def main(argv: Sequence[str] | None = None) -> PretrainRecord | PausedRun | dict:
    settings, args = command_line(argv)
    out = Path(args.out)
    if args.probe:
        tokenizer, train, _ = prepare(settings, out)
        rates = throughput(settings, tokenizer, train)
        for T, r in rates.items():
            print(f"block length {T}: {r:,.0f} training tokens/s")  # noqa: T201
        return {"throughput": rates}

    def log(row: dict) -> None:
        T = [k.split("@")[1] for k in row if k.startswith("mlm_accuracy@")]
        parts = " ".join(
            f"T{t}: mlm {row[f'mlm_accuracy@{t}']:.4f} (floor {row[f'mlm_floor@{t}']:.4f})"
            f" loss {row[f'mlm_loss@{t}']:.3f} sop {row[f'sop_accuracy@{t}']:.3f}"
            for t in T
        )
        print(  # noqa: T201
            f"step {row['step']} tokens {row['tokens']} s {row['seconds']:.0f} "
            f"train {row.get('loss', float('nan')):.3f} | {parts}",
            flush=True,
        )

    print(f"settings key {settings.key()}: {settings.to_dict()}", flush=True)  # noqa: T201
    tokenizer, train, _ = prepare(settings, out)
    rates = throughput(settings, tokenizer, train)
    for T, r in rates.items():
        print(f"throughput probe, block length {T}: {r:,.0f} training tokens/s", flush=True)  # noqa: T201
    record = run_pretraining(
        settings,
        out,
        stop_after_seconds=args.stop_after_seconds,
        progress=not args.no_progress,
        log=log,
    )
    shown = {k: v for k, v in dataclasses.asdict(record).items() if k != "settings"}
    print(json.dumps(shown, indent=1))  # noqa: T201
    if args.card and isinstance(record, PretrainRecord):
        given = list(sys.argv[1:] if argv is None else argv)
        command = " ".join(["python -m seqbook.pretrain_run", *given])
        from seqbook.pretrain_card import write_card  # the card measures what this module made

        card = write_card(out, command, git_commit())
        print(f"model card written: MLM {card['mlm_accuracy']:.4f}")  # noqa: T201
    return record


if __name__ == "__main__":
    main()
