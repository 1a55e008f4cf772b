"""The course's five assignments: their tasks, and the self-check a student runs in a notebook.

This module is the registry the grader trusts (`ASSIGNMENTS`); it holds no reference answers, so
it is also visible inside the grading sandbox. A task is answered by a name the student defines
(`Task.target`): a function, or for an experiment the trained predictors an experiment cell
leaves behind. Grading a task has two halves that never share an interpreter:

* the *probe* (`seqbook.checks.course.inputs`, runs next to the student's code): make the task's
  inputs from a seed and call the student's object on them; what comes back is serialised with
  `seqbook.checks.course.wire`;
* the *check* (`seqbook.checks.course.a1` ... `a5`, holds the references; never importable in the
  sandbox): rebuild the same inputs from the seed and judge the deserialised answer.

In a notebook, `check(task_id, obj)` runs both halves in the reader's own kernel and returns a
`CheckReport` (there it is a study aid, not a grade). Inside the sandbox the reference modules are
absent, and `check` says that the grader checks the task outside.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from seqbook.checks import CaseResult, CheckReport

__all__ = ["ASSIGNMENTS", "Assignment", "Task", "WrittenQuestion", "attempt", "check", "task"]


@dataclass(frozen=True)
class Task:
    """One auto-graded task: the student defines `target`; the probe `inputs.probe_<id>` calls
    it and `a<k>.check_<id>` judges the answer; `points` only when every case passes."""

    id: str
    title: str
    points: int
    target: str
    experiment: bool = False

    @property
    def probe(self) -> str:
        return f"probe_{self.id}"


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
    module: str  # seqbook.checks.course.<module>: the reference checks
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
        "a1_attention", "Attention and the Transformer layer", "a1",
        (
            Task("positions", "Sinusoidal position encodings", 2, "sinusoidal_positions"),
            Task("encoder_layer", "A Transformer encoder layer from its weights", 4,
                 "encoder_layer"),
            Task("order_experiment", "Experiment: does attention need positions?", 4,
                 "order_models", experiment=True),
        ),
        (WrittenQuestion("q_order", "Why the model without positions scores what it scores", 2),),
        hidden=("attention",),
        blocked=("torch.nn.TransformerEncoderLayer", "torch.nn.MultiheadAttention",
                 "torch.nn.functional.multi_head_attention_forward"),
    ),
    Assignment(
        "a2_lstm_bilstm", "LSTM and BiLSTM", "a2",
        (
            Task("cifg_step", "An LSTM step with coupled input and forget gates", 3,
                 "cifg_step"),
            Task("tfidf", "TF-IDF from a count matrix", 3, "tfidf"),
            Task("bow_experiment", "Experiment: where TF-IDF fails and a BiLSTM does not", 4,
                 "negation_models", experiment=True),
        ),
        (WrittenQuestion("q_bow", "Why the bag of words scores what it scores", 2),),
        hidden=("lstm", "models", "baseline"),
        blocked=("sklearn.feature_extraction.text.TfidfTransformer",
                 "sklearn.feature_extraction.text.TfidfVectorizer"),
    ),
    Assignment(
        "a3_albert", "ALBERT and its pretraining", "a3",
        (
            Task("whole_word_mask", "Whole-word masking with the 80/10/10 rule", 3,
                 "whole_word_mask"),
            Task("pair_inputs", "Building a sentence pair, longest-first truncation", 3,
                 "pair_inputs"),
            Task("mask_rate_experiment", "Experiment: which masking rate learns fastest", 4,
                 "mlm_models", experiment=True),
        ),
        (WrittenQuestion("q_rate", "Reading the masking-rate experiment", 2),),
        hidden=("pretraining",),
        blocked=("transformers.DataCollatorForWholeWordMask",
                 "transformers.DataCollatorForLanguageModeling"),
    ),
    Assignment(
        "a4_albert_bilstm", "ALBERT + BiLSTM", "a4",
        (
            Task("scalar_mix", "A learned mix of the encoder's layers", 3, "scalar_mix"),
            Task("head_parameters", "Counting the BiLSTM head's parameters", 2,
                 "head_parameters"),
            Task("head_experiment", "Experiment: a BiLSTM head or a linear head on a frozen "
                 "encoder", 4, "head_models", experiment=True),
        ),
        (WrittenQuestion("q_head", "What the frozen encoder gives each head", 2),),
        hidden=("models", "finetune"),
    ),
    Assignment(
        "a5_fusion", "word2vec and fusion", "a5",
        (
            Task("skipgram_pairs", "Skip-gram training pairs", 2, "skipgram_pairs"),
            Task("sgns_loss", "The negative-sampling loss", 3, "sgns_loss"),
            Task("synonym_experiment", "Experiment: does word2vec find the synonyms?", 4,
                 "word_vectors", experiment=True),
        ),
        (WrittenQuestion("q_fusion", "Static vectors for words the encoder splits", 2),),
        hidden=("embeddings", "fusion"),
        blocked=("gensim.models.Word2Vec",),
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


SEED = 0  # the self-check's inputs; the grader draws a fresh seed for every submission


def check(task_id: str, answer: object) -> CheckReport | str:
    """Self-check `answer` (the function or predictors a task asks for) on generated inputs.

    Runs the probe and the reference check in this kernel, through the same serialisation as the
    grader, and returns a `CheckReport`. Inside the grading sandbox the references are absent:
    it returns a one-line note instead (the grader checks the task outside)."""
    from seqbook.checks.course import inputs, wire

    assignment = ASSIGNMENTS[_assignment_of(task_id)]
    t = task(assignment.id, task_id)
    try:
        module = importlib.import_module(f"seqbook.checks.course.{assignment.module}")
    except ImportError:
        return f"{t.id}: checked by the grader, outside this sandbox"
    if answer is None:
        report = CheckReport(t.id)
        report.results.append(CaseResult("answer", False, "not implemented yet"))
        return report
    value = getattr(inputs, t.probe)(answer, SEED)
    return module.judge(t.id, wire.decode(wire.encode(value)), SEED)


def attempt(fn, *args, **kwargs):
    """`fn(*args, **kwargs)`, or None (with a note) while `fn` still raises NotImplementedError.

    Experiment cells call the student's training function through this, so that a notebook whose
    stubs are not written yet still runs from top to bottom."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        print(f"{getattr(fn, '__name__', 'this function')}: not implemented yet")
        return None
