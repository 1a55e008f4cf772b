"""The model card of a pretraining run (`seqbook.pretrain_run`): its held-out figures measured
on a fixed, seeded subset of test-split blocks (`card_measurement`), with a Wilson interval for
SOP, and `card.json` + `README.md` written beside the saved model (`write_card`: the figures, the
command, commit, hardware and seconds, and the sha256 of every shipped file)."""

from __future__ import annotations

import json
from pathlib import Path

from seqbook.cache import read_json, write_text
from seqbook.pretrain_run import (
    RUN_FILE,
    HeldOut,
    PretrainRecord,
    build_stream,
    corpus_documents,
    evaluate_blocks,
    load_pretrained,
    word_start_table,
)
from seqbook.provenance import card_loading_section, file_digests

CARD_EVAL = {"blocks": 512, "block_len": 128, "seed": 2024}  # the card's fixed held-out subset


def card_measurement(directory: str | Path, blocks: int | None = None) -> dict:
    """Held-out MLM ([MASK]-only) and SOP accuracy of a saved run on the card's fixed, seeded
    subset of test-split blocks (`CARD_EVAL`), deterministic on one machine; with the floors
    and, for SOP, a 95 % Wilson interval."""
    directory = Path(directory)
    model, tokenizer = load_pretrained(directory)
    record = PretrainRecord.load(directory / RUN_FILE)
    floor_id = tokenizer.convert_tokens_to_ids(record.floor_piece)
    test = build_stream(tokenizer, corpus_documents("test"))
    n = blocks if blocks is not None else CARD_EVAL["blocks"]
    held = HeldOut.build(
        test, tokenizer, [CARD_EVAL["block_len"]], n, floor_id, seed=CARD_EVAL["seed"]
    )
    word_floor_id = tokenizer.convert_tokens_to_ids(record.word_floor_piece)
    metrics = evaluate_blocks(
        model,
        held.batches[CARD_EVAL["block_len"]],
        floor_id,
        tokenizer.mask_token_id,
        128,
        word_start_table(tokenizer),
        word_floor_id,
    )
    lo, hi = wilson_interval(round(metrics["sop_accuracy"] * n), n)
    return metrics | {"sop_interval": [lo, hi]}


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95 % for z = 1.96)."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} and {n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return centre - half, centre + half


CARD_FILE = "card.json"


def write_card(directory: str | Path, command: str, commit: str, notes: str = "") -> dict:
    """Measure a finished run on the card's fixed held-out subset and write `card.json` (the
    figures, the provenance and the sha256 of every shipped file) and `README.md` (the same,
    for people)."""
    directory = Path(directory)
    record = PretrainRecord.load(directory / RUN_FILE)
    measured = card_measurement(directory)
    card = {
        "command": command,
        "commit": commit,
        "hardware": record.hardware,
        "seconds": record.seconds,
        "steps": record.steps,
        "tokens": record.tokens,
        "eval": dict(CARD_EVAL),
        "floor_piece": record.floor_piece,
        **{k: measured[k] for k in ("mlm_accuracy", "mlm_floor", "mlm_loss", "mask_positions")},
        "mlm_accuracy_all_selected": measured["mlm_accuracy_all_selected"],
        "word_floor_piece": record.word_floor_piece,
        **{
            k: measured[k]
            for k in ("mlm_accuracy_word_start", "mlm_floor_word_start", "word_start_positions")
        },
        "sop_accuracy": measured["sop_accuracy"],
        "sop_interval": measured["sop_interval"],
        "sop_floor": measured["sop_floor"],
        "notes": notes,
    }
    write_text(directory / CARD_FILE, json.dumps(card, indent=1))
    card["files"] = file_digests(directory)
    card["files"].pop(CARD_FILE, None)
    write_text(directory / CARD_FILE, json.dumps(card, indent=1))
    s = read_json(directory / "settings.json")
    punctuation = "split from" if s.get("split_punctuation") else "glued to"
    phases = ", then ".join(
        f"{p['steps']:,} steps of {p['batch_size']} x {p['block_len']} pieces" for p in s["phases"]
    )
    lines = [
        "# tiny-albert-imdb: the book's own pretrained ALBERT",
        "",
        "A 4-layer ALBERT (all layers sharing one set of weights; E = {e}, H = {h}, {heads} heads,"
        " feed-forward {ff}, vocabulary {v:,}, {pos} positions) pretrained with masked-language"
        " modelling and sentence-order prediction on the IMDB training reviews of"
        " `seqbook.data` (never the validation or test reviews).".format(
            e=s["embedding_size"],
            h=s["hidden_size"],
            heads=s["num_heads"],
            ff=s["intermediate_size"],
            v=s["vocab_size"],
            pos=s["max_position_embeddings"],
        ),
        "",
        "## How it was made",
        "",
        f"- command: `{command}` (from a checkout of the book, `PYTHONPATH=src`,"
        " `OMP_NUM_THREADS=1`)",
        f"- code: commit `{commit}`",
        f"- recipe: {phases}; AdamW, peak learning rate {s['lr']}, linear warm-up over"
        f" {s['warmup_steps']} steps, linear decay to zero at the last step; masking rate"
        f" {s['mlm_probability']}, {'whole-word' if s['whole_word'] else 'piece'} masking;"
        f" no dropout; packed blocks; punctuation {punctuation} words by the tokenizer; seed 0",
        f"- hardware: {record.hardware['cpu']}, {record.hardware['cores']} cores, torch"
        f" {record.hardware['torch']} on {record.hardware['torch_threads']} thread; the"
        " other core of the machine ran other jobs meanwhile, so the time is an upper bound",
        f"- training time: {record.seconds:.0f} s for {record.steps:,} steps,"
        f" {record.tokens:,} training pieces seen",
        "",
        "## Held-out figures",
        "",
        f"Measured on a fixed, seeded subset of the IMDB **test** reviews: {CARD_EVAL['blocks']}"
        f" blocks of {CARD_EVAL['block_len']} pieces, masking seed {CARD_EVAL['seed']}"
        " (`seqbook.pretrain_card.card_measurement`).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| MLM accuracy, `[MASK]` positions only ({measured['mask_positions']:,}) |"
        f" {measured['mlm_accuracy']:.4f} |",
        f"| floor: always `{record.floor_piece}` | {measured['mlm_floor']:.4f} |",
        f"| MLM accuracy, `[MASK]` positions hiding a word-initial piece"
        f" ({measured['word_start_positions']:,}) | {measured['mlm_accuracy_word_start']:.4f} |",
        f"| floor: always `{card['word_floor_piece']}` | {measured['mlm_floor_word_start']:.4f} |",
        f"| MLM loss at `[MASK]` positions (nats) | {measured['mlm_loss']:.3f} |",
        f"| MLM accuracy counting every selected position | "
        f"{measured['mlm_accuracy_all_selected']:.4f} |",
        f"| SOP accuracy ({CARD_EVAL['blocks']} pairs) | {measured['sop_accuracy']:.4f}"
        f" (95 % interval {measured['sop_interval'][0]:.3f}-{measured['sop_interval'][1]:.3f}) |",
        f"| SOP floor (majority label) | {measured['sop_floor']:.4f} |",
        "",
        notes,
        "",
        *card_loading_section("tiny-albert-imdb"),
        "",
        "Weights are stored in fp16; pass `dtype=torch.float32` (transformers would otherwise keep"
        " fp16). `budgets/step-NNNNN/` hold the same model after NNNNN steps (the budget curve of"
        " chapter 8).",
        "",
        "## Files (sha256)",
        "",
        *[f"- `{name}`: `{h}`" for name, h in card["files"].items()],
        "",
    ]
    write_text(directory / "README.md", "\n".join(lines))
    return card
