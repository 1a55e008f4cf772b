"""The course's five assignments: their tasks, and the self-check a student runs in a notebook.

This is the public half of the course kit; it holds no reference answer. A task is answered by a
name the student defines (`Task.target`): a function, or for an experiment the *training
function* the grader calls on data it draws itself. Grading a task has three parts:

* `seqbook.checks.course.inputs`: `draw(task_id, seed)` makes an instance (a public part for the
  student's code, a secret part that stays with the grader) and `probe` calls the student's code
  on the public part (inside the grading sandbox);
* the reference answers: `course/grader/references.py` of the course folder, on the grader's side
  only (never installed with this package, never mounted in the sandbox);
* `seqbook.checks.course.judges`: the comparison of an answer with what the reference (or, for an
  experiment, the held-out labels) says.

In a notebook, `check(task_id, answer)` judges the answer on the *practice* instance
(`inputs.PRACTICE_SEED`), whose expected outputs ship with this package (`practice.json`, written
by ``python -m seqbook.grading practice``): a study aid, not a grade. The grader draws its own
instance from a secret seed for every submission.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from seqbook.checks import CaseResult, CheckReport

__all__ = [
    "ASSIGNMENTS",
    "Assignment",
    "Task",
    "WrittenQuestion",
    "attempt",
    "check",
    "practice",
    "task",
]


@dataclass(frozen=True)
class Task:
    """One auto-graded task: the student defines `target` (for an experiment, a training
    function); `inputs.probe_<id>` calls it on a drawn instance and `judges.judge_<id>` judges
    the answer; `points` only when every case passes. `check_name` is what the notebook hands to
    `check`: the function itself, or for an experiment the models trained on the practice data."""

    id: str
    title: str
    points: int
    target: str
    experiment: bool = False
    check_name: str = ""


@dataclass(frozen=True)
class WrittenQuestion:
    """A question answered in prose and graded by hand with the rubric of the instructor's guide."""

    id: str
    title: str
    points: int


@dataclass(frozen=True)
class Assignment:
    """An assignment: its tasks, its written questions, and what the sandbox withholds.

    `hidden` lists the `seqbook` modules that implement what the tasks ask for (the sandbox
    replaces them, and every module importing them, by a module that raises ImportError);
    `blocked` lists third-party callables that do a task's whole job (the sandbox replaces them
    by a function that raises; see the instructor's guide for what this does not stop)."""

    id: str
    title: str
    tasks: tuple[Task, ...]
    written: tuple[WrittenQuestion, ...] = ()
    hidden: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    budget_s: int = 60  # the solution's run time on a 2-core CPU, rounded up (the tests check it)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def points(self) -> int:
        return sum(t.points for t in self.tasks)


# fmt: off
ASSIGNMENTS: dict[str, Assignment] = {a.id: a for a in (
    Assignment(
        "a1_attention", "Attention and the Transformer layer",
        (
            Task("positions", "Sinusoidal position encodings", 2, "sinusoidal_positions"),
            Task("encoder_layer", "A Transformer encoder layer from its weights", 4,
                 "encoder_layer"),
            Task("order_experiment", "Experiment: does attention need positions?", 4,
                 "train_order_classifier", experiment=True, check_name="order_models"),
        ),
        (WrittenQuestion("q_order", "Why the model without positions scores what it scores", 2),),
        hidden=("attention",),
        blocked=("torch.nn.TransformerEncoderLayer", "torch.nn.MultiheadAttention",
                 "torch.nn.functional.multi_head_attention_forward"),
    ),
    Assignment(
        "a2_lstm_bilstm", "LSTM and BiLSTM",
        (
            Task("cifg_step", "An LSTM step with coupled input and forget gates", 3,
                 "cifg_step"),
            Task("tfidf", "TF-IDF from a count matrix", 3, "tfidf"),
            Task("bow_experiment", "Experiment: where TF-IDF fails and a BiLSTM does not", 4,
                 "train_negation_models", experiment=True, check_name="negation_models"),
        ),
        (WrittenQuestion("q_bow", "Why the bag of words scores what it scores", 2),),
        hidden=("lstm", "models", "baseline"),
        blocked=("sklearn.feature_extraction.text.TfidfTransformer",
                 "sklearn.feature_extraction.text.TfidfVectorizer"),
    ),
    Assignment(
        "a3_albert", "ALBERT and its pretraining",
        (
            Task("whole_word_mask", "Whole-word masking with the 80/10/10 rule", 3,
                 "whole_word_mask"),
            Task("pair_inputs", "Building a sentence pair, longest-first truncation", 3,
                 "pair_inputs"),
            Task("mask_rate_experiment", "Experiment: which masking rate learns fastest", 4,
                 "train_mlm", experiment=True, check_name="mlm_models"),
        ),
        (WrittenQuestion("q_rate", "Reading the masking-rate experiment", 2),),
        hidden=("pretraining",),
        blocked=("transformers.DataCollatorForWholeWordMask",
                 "transformers.DataCollatorForLanguageModeling"),
    ),
    Assignment(
        "a4_albert_bilstm", "ALBERT + BiLSTM",
        (
            Task("scalar_mix", "A learned mix of the encoder's layers", 3, "scalar_mix"),
            Task("head_parameters", "Counting a peephole BiLSTM head's parameters", 2,
                 "head_parameters"),
            Task("head_experiment", "Experiment: a BiLSTM head or a linear head on the shipped "
                 "ALBERT, frozen, on real reviews", 4, "train_heads", experiment=True,
                 check_name="head_models"),
        ),
        (WrittenQuestion("q_head", "What the frozen encoder gives each head", 2),),
        hidden=("models", "finetune"),
    ),
    Assignment(
        "a5_fusion", "word2vec's loss, and fusing GloVe with ALBERT",
        (
            Task("subsampling", "Subsampling frequent words", 2, "keep_probability"),
            Task("sgns_loss", "The negative-sampling loss", 3, "sgns_loss"),
            Task("fusion_experiment", "Experiment: does GloVe add to the frozen ALBERT on real "
                 "reviews?", 4, "train_fusion", experiment=True, check_name="fusion_models"),
        ),
        (WrittenQuestion("q_fusion", "Reading the fusion experiment", 2),),
        hidden=("embeddings", "fusion", "fusion_study"),
    ),
)}
# fmt: on


def task(assignment: str, task_id: str) -> Task:
    """The `Task` with id `task_id` of `assignment`."""
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment must be one of {sorted(ASSIGNMENTS)}, got {assignment!r}")
    for t in ASSIGNMENTS[assignment].tasks:
        if t.id == task_id:
            return t
    ids = [t.id for t in ASSIGNMENTS[assignment].tasks]
    raise ValueError(f"task_id must be one of {ids} for {assignment}, got {task_id!r}")


def _assignment_of(task_id: str) -> str:
    for a in ASSIGNMENTS.values():
        if any(t.id == task_id for t in a.tasks):
            return a.id
    ids = sorted(t.id for a in ASSIGNMENTS.values() for t in a.tasks)
    raise ValueError(f"task_id must be one of {ids}, got {task_id!r}")


def practice(task_id: str) -> dict:
    """The practice instance of task `task_id` as tensors: its public part and, since the
    practice is public, its secret part too (an experiment's held-out labels); for an experiment
    on real reviews also what its training function is given (the frozen encoder's features `h`,
    the masks, for a5 the GloVe vectors `g`). The grader draws its own instance, with other ids
    and other data, from a seed it never shows.

    In the grading sandbox (which has no reviews) a review experiment's practice is a dict of
    None: the notebook's practice run is skipped there (`attempt`), and the grader calls the
    training function on its own instance."""
    import os

    from seqbook.checks.course import inputs

    _assignment_of(task_id)
    if task_id in inputs.REVIEW_EXPERIMENTS and os.environ.get("SEQBOOK_GRADING") == "1":
        names = ("ids", "rows", "y", "ids_eval", "rows_eval", "seed", "y_eval", "snippets")
        names += ("h", "mask", "h_eval", "mask_eval", "g", "g_eval")
        return dict.fromkeys(names)
    drawn = inputs.draw(task_id, inputs.PRACTICE_SEED)
    out = {**drawn.public, **drawn.secret}
    if task_id in inputs.REVIEW_EXPERIMENTS:
        out |= inputs.review_features(drawn.public, glove=inputs.REVIEW_EXPERIMENTS[task_id])
    return out


def _practice_expected(task_id: str):
    import json
    from importlib.resources import files

    from seqbook.checks.course import wire

    table = json.loads(files(__package__).joinpath("practice.json").read_text(encoding="utf-8"))
    if task_id not in table:
        raise ValueError(f"practice.json holds no expected answer for {task_id!r}")
    return wire.decode(json.dumps(table[task_id]))


def check(task_id: str, answer: object) -> CheckReport | str:
    """Self-check `answer` on the practice instance: for a function task the function itself,
    for an experiment the models (or vectors) trained on `practice(task_id)`'s data.

    Runs the probe and the judge in this kernel, through the same serialisation as the grader,
    against the practice answers that ship with the package, and returns a `CheckReport`. In the
    grading sandbox it returns a one-line note instead (the grader checks every task outside,
    on an instance of its own)."""
    import os

    t = task(_assignment_of(task_id), task_id)
    if os.environ.get("SEQBOOK_GRADING") == "1":  # the judges are not even in the sandbox
        return f"{t.id}: checked by the grader, outside this sandbox"
    from seqbook.checks.course import inputs, judges, wire

    if answer is None:
        report = CheckReport(t.id)
        report.results.append(CaseResult("answer", False, "not implemented yet"))
        return report
    drawn = inputs.draw(t.id, inputs.PRACTICE_SEED)
    public = wire.decode(wire.encode(drawn.public))
    if t.experiment:
        value = inputs.predictions(
            answer, inputs.EXPERIMENT_KEYS[t.id], *inputs.held_out_inputs(t.id, drawn.public)
        )
        expected = drawn.secret
    else:
        value = inputs.probe(t.id, answer, public)
        expected = _practice_expected(t.id)
    return judges.judge(t.id, wire.decode(wire.encode(value)), public, expected)


def attempt(fn, *args, **kwargs):
    """`fn(*args, **kwargs)`, or None (with a note) while `fn` still raises NotImplementedError.

    Experiment cells call the student's training function through this, so that a notebook whose
    stubs are not written yet still runs from top to bottom. In the grading sandbox, a practice
    whose data are withheld there (the review experiments': an argument is None) is not run:
    the grader calls the training function itself, on its own instance."""
    import os

    if os.environ.get("SEQBOOK_GRADING") == "1" and any(a is None for a in args):
        return None
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        print(f"{getattr(fn, '__name__', 'this function')}: not implemented yet")
        return None
