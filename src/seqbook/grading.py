"""The course kit: a student build of the assignments and an autograder for submissions.

Command line::

    python -m seqbook.grading student OUT_DIR [NOTEBOOK ...]
    python -m seqbook.grading grade SUBMISSION.ipynb [--assignment ID] [--timeout S]
                                  [--total-timeout S] [--json OUT.json]

**Student build.** nbconvert's `TagRemovePreprocessor` drops every cell tagged `solution`;
`ClearOutputPreprocessor` drops the stored outputs (the instructor's copy is stored executed, so
its reports would say PASS and its figures would show the answers). Stubs, check cells and
narrative stay.

**What the grader trusts.** Only this module. `ASSIGNMENTS` below is the instructor's copy of
every assignment's tasks: which name the student must define, which `seqbook.checks` function
tests it, and how many points it is worth. The notebook's metadata carries the same list for
readers (a test keeps the two equal), but grading never reads points or checks from the
submission, nor the output of the submission's own check cells.

**How a submission is graded.** The grader executes the notebook in a fresh kernel with nbclient,
one cell at a time, errors allowed, after a warm-up cell (not timed against the student) that
imports torch and the assignment's check modules. After the submission's check cell of each task (or
at the end, if that cell was deleted) it runs a cell of its own that reloads the check module, calls
the check on the student's object and returns the report as a display output of a private MIME type
tagged with a random nonce; the grader reads that output from its own cell. A task scores its full
points when every case of its check passes, else zero, with the failing cases listed. A cell that
runs past the per-cell limit is interrupted (the kernel is stopped if it does not respond); once the
total limit is spent, the remaining student cells are skipped, but the tasks already defined are
still checked. A crash or a dead kernel zeroes only the tasks whose checks could not run. This
defends against printed or edited reports, deleted or edited check cells, changed points and stale
outputs; code written to subvert the grader from inside the kernel (patching seqbook or IPython) is
not caught automatically, and is plain to see when reading the submission.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = [
    "ASSIGNMENTS",
    "GradeReport",
    "Task",
    "TaskResult",
    "format_report",
    "grade",
    "student_build",
    "tasks_metadata",
]

MIME = "application/vnd.seqbook.grade+json"
SOLUTION_TAG = "solution"


@dataclass(frozen=True)
class Task:
    """One graded task: the student defines `target`; `check` (module:function) tests it."""

    id: str
    title: str
    points: int
    target: str
    check: str  # "seqbook.checks.attention:check_scaled_dot_product_attention"

    @property
    def check_module(self) -> str:
        return self.check.split(":")[0]

    @property
    def check_function(self) -> str:
        return self.check.split(":")[1]


def _tasks(module: str, *rows: tuple[str, int, str, str, str]) -> tuple[Task, ...]:
    """Rows (id, points, target, check name without `check_`, title) of one checks module."""
    return tuple(
        Task(id, title, points, target, f"seqbook.checks.{module}:check_{check}")
        for id, points, target, check, title in rows
    )


# The instructor's copy of every assignment: (task id, points, the name the student defines, the
# check in seqbook.checks.<module>, title). Keep it equal to the `seqbook` metadata of the
# notebooks in book/assignments/ (tests/test_grading.py checks that they agree).
# fmt: off
ASSIGNMENTS: dict[str, tuple[Task, ...]] = {
    "a1_attention": _tasks(
        "attention",
        ("masked_softmax", 2, "masked_softmax", "masked_softmax", "Masked softmax"),
        ("sdpa", 3, "my_attention", "scaled_dot_product_attention",
         "Scaled dot-product attention"),
        ("padding_mask", 1, "my_padding_mask", "padding_mask", "Padding mask"),
        ("causal_mask", 1, "my_causal_mask", "causal_mask", "Causal mask"),
        ("multi_head", 3, "my_multi_head", "multi_head_attention", "Multi-head attention"),
    ),
    "a2_lstm_bilstm": (
        *_tasks(
            "lstm",
            ("lstm_step", 3, "lstm_step", "torch_layout_step", "One LSTM step"),
            ("lstm_layer", 3, "lstm_layer", "lstm_layer", "An LSTM layer over a padded batch"),
            ("num_parameters", 1, "lstm_num_parameters", "lstm_num_parameters",
             "Counting parameters"),
        ),
        *_tasks(
            "bilstm",
            ("masked_max", 1, "masked_max", "masked_max", "Max pooling over real tokens"),
            ("bidirectional", 3, "bidirectional", "bidirectional", "A BiLSTM from two LSTMs"),
        ),
    ),
    "a3_albert": _tasks(
        "albert",
        ("embedding_parameters", 1, "embedding_parameters", "embedding_parameters",
         "Factorised embedding size"),
        ("sharing_schedule", 2, "sharing_schedule", "sharing_schedule",
         "Cross-layer sharing as a schedule"),
        ("parameter_count", 2, "parameter_count", "parameter_count",
         "Counting an encoder's parameters"),
        ("encoder_forward", 3, "encoder_forward", "encoder_forward",
         "The encoder's forward pass"),
    ),
    "a4_albert_bilstm": _tasks(
        "albert_bilstm",
        ("lengths_from_mask", 1, "lengths_from_mask", "lengths_from_mask",
         "Lengths from an attention mask"),
        ("logits", 3, "albert_bilstm_logits", "albert_bilstm_logits",
         "ALBERT, then a BiLSTM, mean pooling and a linear head"),
        ("param_groups", 2, "param_groups", "param_groups", "Two learning rates"),
    ),
    "a5_fusion": _tasks(
        "fusion",
        ("align_subwords", 2, "align_subwords", "align_subwords", "Subword-to-word alignment"),
        ("weighted_sum", 1, "weighted_sum", "weighted_sum", "Weighted-sum fusion"),
        ("gated_fusion", 3, "gated_fusion", "gated_fusion", "Gated fusion"),
    ),
}
# fmt: on


def tasks_metadata(assignment: str) -> dict[str, object]:
    """The `seqbook` notebook metadata that documents an assignment's tasks."""
    return {
        "assignment": assignment,
        "tasks": [asdict(t) for t in ASSIGNMENTS[assignment]],
    }


# ----------------------------------------------------------------------------- student build


def student_build(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """Write each notebook to `out_dir` without its `solution` cells and without outputs."""
    import nbformat
    from nbconvert.exporters import NotebookExporter
    from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

    if not notebooks:
        raise ValueError("notebooks must name at least one .ipynb file, got none")
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = NotebookExporter()
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}, enabled=True), enabled=True
    )
    exporter.register_preprocessor(ClearOutputPreprocessor(enabled=True), enabled=True)
    written = []
    for path in notebooks:
        path = Path(path)
        nb = nbformat.read(path, as_version=4)
        nb.metadata.pop("widgets", None)  # saved widget state shows the instructor's figures
        body, _ = exporter.from_notebook_node(nb)
        left = nbformat.reads(body, as_version=4)
        if any(SOLUTION_TAG in c.metadata.get("tags", []) for c in left.cells):
            raise RuntimeError(f"{path}: a solution cell survived the student build")
        target = out_dir / path.name
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written


# ----------------------------------------------------------------------------- grading


@dataclass
class TaskResult:
    id: str
    title: str
    points: float
    max_points: int
    status: str  # "graded", "error", "timeout", "not run"
    passed: int = 0
    total: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    note: str = ""


@dataclass
class GradeReport:
    assignment: str
    submission: str
    tasks: list[TaskResult]
    elapsed_s: float
    cells_run: int
    cell_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(t.points for t in self.tasks)

    @property
    def max_score(self) -> int:
        return sum(t.max_points for t in self.tasks)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["score"], d["max_score"] = self.score, self.max_score
        return d


def _grading_cell(task: Task, nonce: str) -> str:
    """Source of the grader's own cell for `task`: fresh check module, report as display data."""
    return f"""\
def _seqbook_grade():
    import importlib

    from IPython.display import display

    import seqbook.checks

    importlib.reload(seqbook.checks)
    module = importlib.reload(importlib.import_module({task.check_module!r}))
    target = globals().get({task.target!r})
    if target is None:
        report = None
    else:
        report = getattr(module, {task.check_function!r})(target).to_dict()
    display({{{MIME!r}: {{"nonce": {nonce!r}, "report": report}}}}, raw=True)


_seqbook_grade()
del _seqbook_grade
"""


def _defines(source: str, name: str) -> bool:
    return any(
        line.startswith((f"def {name}(", f"class {name}(", f"class {name}:", f"{name} ="))
        for line in source.splitlines()
    )


def _grading_positions(cells: list, tasks: tuple[Task, ...]) -> dict[int, list[Task]]:
    """Index of the code cell after which each task's grading cell runs: the submission's last
    cell that calls the task's check, unless the target is redefined later or no cell calls the
    check; then after the last cell."""
    positions: dict[int, list[Task]] = {}
    for task in tasks:
        calls = [i for i, c in enumerate(cells) if task.check_function in c.source]
        defs = [i for i, c in enumerate(cells) if _defines(c.source, task.target)]
        where = len(cells) - 1
        if calls and (not defs or calls[-1] > defs[-1]):
            where = calls[-1]
        positions.setdefault(where, []).append(task)
    return positions


def _error_text(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {out.get('evalue')}"[:300]
    return None


def _result_from_cell(task: Task, cell, nonce: str, timed_out: bool) -> TaskResult:
    base = dict(id=task.id, title=task.title, max_points=task.points)
    for out in cell.get("outputs", []):
        data = out.get("data", {}).get(MIME)
        if out.get("output_type") != "display_data" or not isinstance(data, dict):
            continue
        if data.get("nonce") != nonce:
            continue
        report = data.get("report")
        if report is None:
            return TaskResult(
                points=0, status="not run", note=f"`{task.target}` is not defined", **base
            )
        failures = [
            {"case": c["name"], "message": c["message"]} for c in report["cases"] if not c["passed"]
        ]
        ok = report["total"] > 0 and not failures
        return TaskResult(
            points=task.points if ok else 0,
            status="graded",
            passed=report["passed"],
            total=report["total"],
            failures=failures,
            **base,
        )
    if timed_out:
        return TaskResult(points=0, status="timeout", note="the check ran past the limit", **base)
    error = _error_text(cell) or "the check returned no report"
    return TaskResult(points=0, status="error", note=f"the check crashed: {error}", **base)


def _resolve_assignment(nb, path: Path, assignment: str | None) -> str:
    if assignment is None:
        assignment = nb.metadata.get("seqbook", {}).get("assignment")
    if assignment is None:
        assignment = next((a for a in ASSIGNMENTS if path.stem.startswith(a)), None)
    if assignment not in ASSIGNMENTS:
        raise ValueError(
            f"assignment must be one of {sorted(ASSIGNMENTS)}, got {assignment!r} (pass "
            "--assignment, or keep the notebook's seqbook metadata or file name)"
        )
    return assignment


def grade(
    submission: Path | str,
    assignment: str | None = None,
    cell_timeout: int = 60,
    total_timeout: int = 600,
    kernel_name: str = "python3",
) -> GradeReport:
    """Execute `submission` in a fresh kernel and score every task of its assignment."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    path = Path(submission)
    nb = nbformat.read(path, as_version=4)
    assignment = _resolve_assignment(nb, path, assignment)
    tasks = ASSIGNMENTS[assignment]
    student_cells = [c for c in nb.cells if c.cell_type == "code"]
    for c in student_cells:
        c.outputs, c.execution_count = [], None

    # The cells to run: the student's, with the grader's own cell after each task's check.
    nonces = {t.id: secrets.token_hex(16) for t in tasks}
    plan: list[tuple[object, Task | None]] = []
    positions = _grading_positions(student_cells, tasks)
    for i, cell in enumerate(student_cells):
        plan.append((cell, None))
        for task in positions.get(i, []):
            plan.append((nbformat.v4.new_code_cell(_grading_cell(task, nonces[task.id])), task))
    if not student_cells:
        for task in tasks:
            plan.append((nbformat.v4.new_code_cell(_grading_cell(task, nonces[task.id])), task))
    run_nb = nbformat.v4.new_notebook(cells=[c for c, _ in plan], metadata=nb.metadata)

    replies: dict[int, dict] = {}

    def on_executed(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply

    client = NotebookClient(
        run_nb,
        kernel_name=kernel_name,
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "interrupted", "traceback": []},
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(path.parent.resolve())}},
        on_cell_executed=on_executed,
    )
    labels = _labels(nb.cells)
    results: dict[str, TaskResult] = {}
    errors: list[str] = []
    notes: list[str] = []
    cells_run, stopped = 0, None
    start = time.monotonic()
    with client.setup_kernel():
        # Warm-up, outside the student's time: importing torch and the checks takes seconds.
        modules = sorted({"torch", *(t.check_module for t in tasks)})
        warm = nbformat.v4.new_code_cell(
            f"import importlib as _il\n\nfor _m in {modules!r}:\n    _il.import_module(_m)\n"
            "del _il, _m"
        )
        client.nb.cells.append(warm)
        client.timeout = max(cell_timeout, 300)
        client.execute_cell(warm, len(client.nb.cells) - 1)
        start = time.monotonic()
        out_of_time = False
        for index, (cell, task) in enumerate(plan):
            label = labels.get(id(cell), "")
            if task is None:
                remaining = total_timeout - (time.monotonic() - start)
                if out_of_time or remaining < 1:
                    if not out_of_time:
                        notes.append(
                            f"total time limit of {total_timeout} s reached before {label}; "
                            "the student's cells from there on were not run"
                        )
                    out_of_time = True
                    continue
                client.timeout = int(min(cell_timeout, remaining))
                client.iopub_timeout = 4  # nbclient's default
            else:
                client.timeout = cell_timeout
                client.iopub_timeout = 15  # the report must not be lost on a busy machine
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                stopped = f"the kernel died in {label or 'the check of ' + task.id}"
                break
            timed_out = _timed_out(replies.get(index))
            if task is None:
                cells_run += 1
                if timed_out:
                    errors.append(f"{label}: interrupted after {client.timeout} s")
                    if client.timeout < cell_timeout:
                        out_of_time = True
                        notes.append(
                            f"total time limit of {total_timeout} s reached in {label}; the "
                            "student's cells after it were not run"
                        )
                elif (err := _reply_error(replies.get(index))) is not None:
                    errors.append(f"{label}: {err}")
            else:
                results[task.id] = _result_from_cell(task, cell, nonces[task.id], timed_out)
            if timed_out and not _responsive(client, max(2, min(5, cell_timeout))):
                where = label or f"the check of {task.id}"
                stopped = (
                    f"{where} ran past its time limit and the kernel did not answer the "
                    "interrupt, so it was stopped"
                )
                break
    if stopped:
        notes.append(stopped + "; the tasks not checked by then score zero")
    for task in tasks:
        if task.id not in results:
            results[task.id] = TaskResult(
                task.id, task.title, 0, task.points, "not run", note="its check never ran"
            )
    return GradeReport(
        assignment=assignment,
        submission=str(path),
        tasks=[results[t.id] for t in tasks],
        elapsed_s=round(time.monotonic() - start, 1),
        cells_run=cells_run,
        cell_errors=errors,
        notes=notes,
    )


def _labels(cells: list) -> dict[int, str]:
    """'code cell 7 (def my_attention(...)' for each code cell: what a student can find."""
    labels, k = {}, 0
    for cell in cells:
        if cell.cell_type != "code":
            continue
        k += 1
        first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
        first = first if len(first) <= 40 else first[:37] + "..."
        labels[id(cell)] = f"code cell {k} ({first})" if first else f"code cell {k}"
    return labels


def _reply_error(reply: dict | None) -> str | None:
    """'Name: message' of a cell that raised, from its execute reply (not from the outputs,
    which a slow machine may deliver late)."""
    content = (reply or {}).get("content", {})
    if content.get("status") != "error":
        return None
    return f"{content.get('ename')}: {content.get('evalue')}"[:300]


def _timed_out(reply: dict | None) -> bool:
    return bool(reply) and reply.get("content", {}).get("ename") == "CellTimeoutError"


def _responsive(client, timeout: int) -> bool:
    """After an interrupt: does the kernel answer a trivial cell within `timeout` seconds?"""
    import nbformat
    from nbclient.exceptions import DeadKernelError

    probe = nbformat.v4.new_code_cell("pass")
    client.nb.cells.append(probe)  # execute_cell stores the cell at its index
    previous, client.timeout, client.iopub_timeout = client.timeout, timeout, 4
    replies_before = client.on_cell_executed
    seen: dict[str, dict] = {}
    client.on_cell_executed = lambda cell, cell_index, execute_reply: seen.update(r=execute_reply)
    try:
        client.execute_cell(probe, len(client.nb.cells) - 1)
    except DeadKernelError:
        return False
    finally:
        client.timeout, client.on_cell_executed = previous, replies_before
    return not _timed_out(seen.get("r"))


# ----------------------------------------------------------------------------- report


def format_report(report: GradeReport) -> str:
    """The per-task table a student or an instructor reads."""
    width = max([len(t.id) for t in report.tasks] + [4])
    lines = [
        f"Assignment {report.assignment}: {report.submission}",
        f"  {'task':<{width}}  {'points':>7}  {'cases':>5}  result",
    ]
    for t in report.tasks:
        cases = f"{t.passed}/{t.total}" if t.status == "graded" else "-"
        verdict = "pass" if t.points == t.max_points and t.status == "graded" else t.status
        if t.status == "graded" and t.points < t.max_points:
            verdict = "FAIL"
        points = f"{t.points:g}/{t.max_points}"
        lines.append(f"  {t.id:<{width}}  {points:>7}  {cases:>5}  {verdict}  {t.title}")
        if t.note:
            lines.append(f"  {'':<{width}}      {t.note}")
        if t.failures and all(f["message"] == "not implemented yet" for f in t.failures):
            lines.append(f"  {'':<{width}}    - not implemented yet ({len(t.failures)} cases)")
        else:
            for f in t.failures:
                lines.append(f"  {'':<{width}}    - {f['case']}: {f['message']}")
    score = f"{report.score:g}/{report.max_score}"
    lines.append(f"  {'total':<{width}}  {score:>7}")
    lines.append(
        f"  ran {report.cells_run} code cells in {report.elapsed_s:.1f} s; "
        f"{len(report.cell_errors)} raised an error"
    )
    lines += [f"    {e}" for e in report.cell_errors]
    lines += [f"  note: {n}" for n in report.notes]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m seqbook.grading", description="The course kit of the seqbook book."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("student", help="write the student versions of assignment notebooks")
    s.add_argument("out_dir", type=Path)
    s.add_argument("notebooks", type=Path, nargs="*", help="default: book/assignments/*.ipynb")
    g = sub.add_parser("grade", help="grade one submitted notebook")
    g.add_argument("submission", type=Path)
    g.add_argument("--assignment", choices=sorted(ASSIGNMENTS), help="default: from the notebook")
    g.add_argument("--timeout", type=int, default=60, help="seconds per cell (default 60)")
    g.add_argument(
        "--total-timeout", type=int, default=600, help="seconds for all cells (default 600)"
    )
    g.add_argument("--json", type=Path, help="also write the report as JSON here")
    g.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    args = parser.parse_args(argv)

    if args.command == "student":
        notebooks = args.notebooks or sorted(Path("book/assignments").glob("*.ipynb"))
        if not notebooks:
            parser.error("no notebooks given and none found under book/assignments/")
        for path in student_build(notebooks, args.out_dir):
            print(f"wrote {path}")
        return 0

    if not args.submission.is_file():
        parser.error(f"submission must be an existing .ipynb file, got {args.submission}")
    try:
        report = grade(
            args.submission, args.assignment, args.timeout, args.total_timeout, args.kernel
        )
    except ValueError as e:
        parser.error(str(e))
    print(format_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
