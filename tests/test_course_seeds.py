"""The grader draws a fresh 63-bit seed for every submission, so every instance it draws, every
reference it computes and every judgement it makes must hold for every seed, not for the few a
test happened to try: here, a thousand seeds drawn as the grader draws them (and 5,000 for the
generator that once overflowed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import nbformat
import pytest
import torch

from seqbook.checks import CheckReport
from seqbook.checks.course import ASSIGNMENTS, inputs, judges, wire
from seqbook.grading import core, study

ROOT = Path(__file__).resolve().parents[1]
REFS = core.references(ROOT / "course")
SEEDS = [random.Random(k).getrandbits(inputs.SEED_BITS) for k in range(1000)]


def test_whole_word_inputs_fit_their_positions_for_every_seed():
    """The longest draw (15 words of 3 pieces) once overflowed 40 positions: 16 of the first
    1,000 seeds raised IndexError inside the probe and scored the student 0."""
    torch.set_num_threads(1)
    most, rows = inputs.WWM_WORDS[1], torch.arange(256)
    position = torch.arange(inputs.WWM_LEN)
    for seed in range(5000):
        ids, words = inputs.wwm_inputs(random.Random(seed).getrandbits(inputs.SEED_BITS))
        assert ids.shape == words.shape == (256, inputs.WWM_LEN), seed
        n = (words >= 0).sum(1)  # pieces per row
        inside = (position >= 1) & (position <= n[:, None])
        assert torch.equal(words >= 0, inside), seed  # [CLS], the pieces, then [SEP] + padding
        assert (ids[:, 0] == 1).all() and (ids[rows, n + 1] == 2).all(), seed
        assert ((ids >= inputs.SPECIAL) & (ids < inputs.WWM_VOCAB) | ~inside).all(), seed
        assert ((ids == 0) | (position <= n[:, None] + 1)).all(), seed  # padding after [SEP]
        # words numbered 0, 1, ... in order, each of 1..WWM_PIECES contiguous pieces
        step = words[:, 2:] - words[:, 1:-1]
        assert ((step == 0) | (step == 1) | ~inside[:, 2:]).all(), seed
        assert (words[:, 1] == 0).all(), seed
        count = torch.bincount((words + most * rows[:, None])[inside], minlength=256 * most)
        n_words = words.max(1).values + 1
        assert ((n_words >= inputs.WWM_WORDS[0]) & (n_words <= most)).all(), seed
        used = torch.arange(most) < n_words[:, None]
        count = count.view(256, most)
        assert ((count >= 1) & (count <= inputs.WWM_PIECES) | ~used).all(), seed
        assert (count[~used] == 0).all(), seed


def not_implemented(*args, **kwargs):
    raise NotImplementedError


TASKS = [(name, task) for name, a in sorted(ASSIGNMENTS.items()) for task in a.tasks]


def graded(task_id: str, target, seed: int):
    """What the grader does with `target` on the instance of `seed`: draw it, probe through the
    wire, compute the expected answer from the course folder's references, judge."""
    drawn = inputs.draw(task_id, seed)
    public = wire.decode(wire.encode(drawn.public))
    answer = wire.decode(json.dumps(json.loads(wire.encode(inputs.probe(task_id, target, public)))))
    return judges.judge(task_id, answer, drawn.public, REFS.expected(task_id, drawn))


def stand_in_encoder(ids, batch_size=64):
    """One feature per piece instead of the encoder's 384, at a thousandth of its cost (the
    draws, the GloVe lookups, the wire and the judges are what the seeds test; the encoder is a
    fixed function of the ids, run on real draws by the slow tests below)."""
    return (ids.float() / 30522)[..., None], ids != 0


@pytest.mark.parametrize("name, task", TASKS, ids=[t.id for _, t in TASKS])
def test_every_draw_reference_and_judge_runs_for_every_seed(name, task, monkeypatch):
    """A stand-in that does nothing is graded as the grader grades for every seed: the grader's
    own draws, references and judges never raise, and the answer fails."""
    torch.set_num_threads(1)
    monkeypatch.setattr(inputs, "encode_reviews", stand_in_encoder)
    for seed in SEEDS:
        report = graded(task.id, not_implemented, seed)
        assert isinstance(report, CheckReport) and report.total >= 1, (task.id, seed)
        assert not report.ok, (task.id, seed)


INSTRUCTOR = ROOT / "course" / "instructor"
FUNCTION_TASKS = [(n, t) for n, t in TASKS if not t.experiment]


def instructor_solution(name: str, target: str):
    """The instructor's solution of `target` (its SOLUTION cell), with the notebook's imports."""
    nb = nbformat.read(INSTRUCTOR / f"{name}.ipynb", as_version=4)
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.startswith("# SOLUTION") and f"def {target}(" in cell.source:
            exec(compile(cell.source, f"{name}:{target}", "exec"), namespace)  # noqa: S102
            return namespace[target]
        imports = [ln for ln in cell.source.splitlines() if ln.startswith(("import ", "from "))]
        exec("\n".join(imports), namespace)  # noqa: S102 - the notebook's own imports
    raise AssertionError(f"{name} has no SOLUTION cell defining {target}")


@pytest.mark.parametrize("name, task", FUNCTION_TASKS, ids=[t.id for _, t in FUNCTION_TASKS])
def test_the_instructor_solutions_pass_for_every_seed(name, task):
    """Full marks on every seed, not on the one a grading run happened to draw."""
    torch.set_num_threads(1)
    solution = instructor_solution(name, task.target)
    for seed in SEEDS:
        report = graded(task.id, solution, seed)
        assert report.ok, (task.id, seed, [r.message for r in report.results if not r.passed])


def test_every_experiment_instance_is_well_formed_for_every_seed():
    """The held-out labels the judges use are those of the rule the data were built by, the
    twins are twins, the masked positions are three per sequence."""
    from seqbook.checks.course.inputs import MASK_ID, ORDER_LEN

    pos = torch.arange(ORDER_LEN)
    for seed in SEEDS:
        d = inputs.draw("order_experiment", seed)
        a, b = d.secret["ids"]
        for x, y in ((d.public["x"], d.public["y"]), (d.public["x_eval"], d.secret["y_eval"])):
            assert ((x == a).sum(1) == 1).all() and ((x == b).sum(1) == 1).all(), seed
            assert torch.equal((((x == a) * pos).sum(1) < ((x == b) * pos).sum(1)).long(), y)
        half = len(d.secret["y_eval"]) // 2
        assert torch.equal(d.secret["y_eval"][:half], 1 - d.secret["y_eval"][half:]), seed
        d = inputs.draw("bow_experiment", seed)
        not_id, good, bad = d.secret["ids"]
        x, y = d.public["x_eval"], d.secret["y_eval"]
        sentiment = (x == good) | (x == bad)
        assert (sentiment.sum(1) == 1).all() and ((x == not_id).sum(1) == 1).all(), seed
        where = sentiment.int().argmax(1)
        negated = x[torch.arange(len(x)), where - 1] == not_id
        is_good = (x == good).any(1)
        assert torch.equal((is_good ^ negated).long(), y), seed
        d = inputs.draw("mask_rate_experiment", seed)
        masked = d.public["x_eval"] == MASK_ID
        assert (masked.sum(1) == inputs.MLM_HIDDEN).all(), seed
        assert torch.equal(d.public["x_eval"][~masked], d.secret["originals"][~masked]), seed


def test_every_review_instance_is_whole_balanced_and_disjoint_for_every_seed():
    """Each draw of the review experiments: 800 training and 600 held-out snippets of the pool,
    none in both, half of each positive, labels and pieces exactly the pool's (no snippet cut
    short: the pieces dropped with the width are padding), and GloVe rows only at real pieces."""
    pool = inputs.review_pool()
    P, L = pool["ids"].shape
    assert P > 8000 and L == inputs.REVIEW_LEN
    lengths = (pool["ids"] != 0).sum(1)
    last = pool["ids"][torch.arange(P), lengths - 1]
    assert (lengths >= 3).all()  # [CLS], at least one piece, [SEP]: then padding only
    assert (pool["ids"][:, 0] == pool["ids"][0, 0]).all() and (last == last[0]).all()
    assert torch.equal(pool["ids"] != 0, torch.arange(L) < lengths[:, None])
    assert ((pool["rows"] >= 0).sum(1) <= lengths - 2).all()  # [CLS] and [SEP] have no word
    for seed in SEEDS:
        d = inputs.draw("head_experiment", seed)
        p, held = d.public, torch.tensor(d.secret["snippets"])
        assert len(p["y"]) == inputs.REVIEW_TRAIN and len(held) == inputs.REVIEW_EVAL, seed
        assert int(p["y"].sum()) == inputs.REVIEW_TRAIN // 2, seed
        assert int(d.secret["y_eval"].sum()) == inputs.REVIEW_EVAL // 2, seed
        assert torch.equal(pool["labels"][held], d.secret["y_eval"]), seed
        width = p["ids"].shape[1]
        assert torch.equal(pool["ids"][held, :width], p["ids_eval"]), seed
        assert torch.equal(pool["rows"][held, :width], p["rows_eval"]), seed
        assert (lengths[held] <= width).all(), seed
        # the training snippets are other pool rows: find them by their pieces
        index = {tuple(r.tolist()): i for i, r in enumerate(pool["ids"][:, :width])}
        train = torch.tensor([index[tuple(r.tolist())] for r in p["ids"]])
        assert torch.equal(pool["labels"][train], p["y"]), seed
        assert not set(train.tolist()) & set(held.tolist()), seed
        assert ((p["rows"] < 0) | (p["ids"] != 0)).all(), seed
        if seed == SEEDS[20]:
            break  # the pool lookup above is slow: the cheap checks below run for every seed
    for seed in SEEDS:
        d = inputs.draw("fusion_experiment", seed)
        held = d.secret["snippets"]
        assert len(set(held)) == inputs.REVIEW_EVAL, seed
        assert int(d.public["y"].sum()) == inputs.REVIEW_TRAIN // 2, seed
        assert int(d.secret["y_eval"].sum()) == inputs.REVIEW_EVAL // 2, seed
        assert torch.equal(pool["labels"][torch.tensor(held)], d.secret["y_eval"]), seed


def wrong_masks():
    """Whole-word maskers that each break one rule the check states."""

    def make(split=(0.8, 0.9), per_piece=False, rate_scale=1.0):
        def masker(input_ids, word_ids, rate, mask_id, vocab_size, generator):
            B, T = input_ids.shape
            n_words = int(word_ids.max()) + 1
            if per_piece:
                chosen = (word_ids >= 0) & (torch.rand(B, T, generator=generator) < rate)
            else:
                pick = torch.rand(B, n_words, generator=generator) < rate * rate_scale
                chosen = (word_ids >= 0) & pick.gather(1, word_ids.clamp(min=0))
            labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
            u = torch.rand(B, T, generator=generator)
            random_ids = torch.randint(5, vocab_size, (B, T), generator=generator)
            masked = torch.where(
                chosen & (u < split[0]), torch.full_like(input_ids, mask_id), input_ids
            )
            return torch.where(
                chosen & (u >= split[0]) & (u < split[1]), random_ids, masked
            ), labels

        return masker

    return {
        "every chosen piece [MASK]": make(split=(1.0, 1.0)),
        "no random replacement": make(split=(0.9, 0.9)),
        "no piece left unchanged": make(split=(0.8, 1.0)),
        "70/15/15": make(split=(0.7, 0.85)),
        "pieces chosen, not words": make(per_piece=True),
        "rate too low by 40 %": make(rate_scale=0.6),
    }


@pytest.mark.parametrize("what", sorted(wrong_masks()))
def test_the_whole_word_check_still_fails_each_broken_rule(what):
    torch.set_num_threads(1)
    masker = wrong_masks()[what]
    for seed in SEEDS[:40]:
        assert not graded("whole_word_mask", masker, seed).ok, (what, seed)


def instructor_namespace(name: str) -> dict:
    return study.instructor_namespace(INSTRUCTOR / f"{name}.ipynb")


EXPERIMENTS = [(n, t) for n, t in TASKS if t.experiment and t.id not in inputs.REVIEW_EXPERIMENTS]
EXPERIMENT_SEEDS = [random.Random(10_000 + k).getrandbits(inputs.SEED_BITS) for k in range(8)]


@pytest.mark.slow
@pytest.mark.parametrize("name, task", EXPERIMENTS, ids=[t.id for _, t in EXPERIMENTS])
def test_the_instructor_experiments_pass_on_the_graders_draws(name, task):
    """The instructor's training functions, trained by the probe on instances drawn as the grader
    draws them, land in every band (training is seconds per seed, so eight seeds here; the note
    of issue 26 gives the counts measured once over hundreds)."""
    torch.set_num_threads(1)
    train = instructor_namespace(name)[task.target]
    for seed in EXPERIMENT_SEEDS:
        report = graded(task.id, train, seed)
        assert report.ok, (task.id, seed, [r.message for r in report.results if not r.passed])


@pytest.mark.slow
def test_the_instructor_review_experiments_pass_on_the_graders_draws():
    """a4's and a5's training functions on instances drawn as the grader draws them, with the
    real frozen encoder (25 s of encoding per instance, shared by the two tasks: three seeds
    here; the committed data/results/course_experiments.json holds twenty)."""
    torch.set_num_threads(1)
    trains = {
        "head_experiment": instructor_namespace("a4_albert_bilstm")["train_heads"],
        "fusion_experiment": instructor_namespace("a5_fusion")["train_fusion"],
    }
    for seed in EXPERIMENT_SEEDS[:3]:
        for task_id, train in trains.items():
            report = graded(task_id, train, seed)
            failed = [r.message for r in report.results if not r.passed]
            assert report.ok, (task_id, seed, failed)


def test_a_tokenizers_own_truncation_fails_every_draw_of_the_pair_task(tmp_path):
    """Hugging Face's longest-first truncation agrees with the task's rule except where the
    last token to remove meets a tie; every draw holds such pairs, so the library's own pair
    building cannot stand in for the task."""
    from transformers import BertTokenizer

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"]))
    vocab.write_text(vocab.read_text() + "\n" + "\n".join(f"w{i}" for i in range(5, 100)))
    tokenizer = BertTokenizer(str(vocab))

    def library(a, b, max_len, cls_id, sep_id):
        if max_len < 5:
            raise ValueError(f"max_len must be at least 5, got {max_len}")
        out = tokenizer(
            " ".join(f"w{i}" for i in a),
            " ".join(f"w{i}" for i in b),
            truncation="longest_first",
            max_length=max_len,
        )
        return out["input_ids"], out["token_type_ids"]

    for seed in SEEDS[:200]:
        report = graded("pair_inputs", library, seed)
        assert report.total - report.passed == 2, (seed, report.passed)  # the two tie cases
