"""The grader, outside the sandbox: plan a submission's run, read what came out, score it.

`grade(submission)`:

1. reads the notebook (size-capped) and takes its code cells as text; nothing else of it counts
   (not its outputs, not its metadata, not its check cells' printed reports);
2. draws every task's instance here, from a fresh 63-bit seed the sandbox never sees
   (`seqbook.checks.course.inputs.draw`): only each instance's public part (arguments, training
   data, held-out inputs) goes into the plan; held-out labels and the ids the data were built
   from stay here;
3. runs the cells in a new sandbox (`seqbook.grading.sandbox`) with the `seqbook` copy of that
   assignment (the modules it asks students to write withheld); after the cell that finishes a
   task, the runner calls the student's function (an experiment: the training function, on the
   drawn training data) on the public part;
4. decodes each answer (`seqbook.checks.course.wire`: exact types, no pickle, size caps) and
   judges it here (`seqbook.checks.course.judges`) against the reference answers of the course
   folder (`COURSE/grader/references.py`, which no student installs and the sandbox never
   mounts). A task scores its points when every case passes, else zero.

A failure on the grader's side (drawing an instance, a reference, a judge, or a probe with no line
of the submission involved) is never the student's zero: the submission is graded again with a
fresh seed. The report carries capped messages only; the grade file is written here, by the
grader, to a place the sandbox cannot see.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import secrets
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from seqbook.checks.course import ASSIGNMENTS, Assignment, Task, inputs, judges, wire
from seqbook.grading import sandbox
from seqbook.grading.sandbox import Limits

MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_CODE_CHARS = 2 * 2**20
MAX_MESSAGE = 300
MAX_FAILURES = 10
MAX_CELL_ERRORS = 20
GRADER_ERROR = "grader error"
GRADING_ATTEMPTS = 3  # a grader error draws a new seed and grades again, at most this often


@dataclass
class TaskResult:
    id: str
    title: str
    points: float
    max_points: int
    status: str  # "graded", "error", "not run", "by hand", "grader error" (never the student's)
    passed: int = 0
    total: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    note: str = ""


@dataclass
class GradeReport:
    assignment: str
    submission: str
    tasks: list[TaskResult]
    written: list[TaskResult]
    elapsed_s: float
    cells_run: int
    sandboxed: bool
    cell_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output_tail: str = ""
    seed: int | None = None  # the probes' inputs were drawn from it (None: nothing was run)

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


def _cap(text: object, n: int = MAX_MESSAGE) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 3] + "..."


# ----------------------------------------------------------------------------- planning

_DEFINES = "(?:def {0}\\s*\\(|class {0}\\b|{0}\\s*(?::[^=]*)?=[^=])"


def _defines(source: str, name: str) -> bool:
    return re.search(r"^" + _DEFINES.format(re.escape(name)), source, re.M) is not None


def _checks(source: str, task: Task) -> bool:
    return re.search(r"check\(\s*['\"]" + re.escape(task.id) + "['\"]", source) is not None


def positions(cells: list[str], tasks: tuple[Task, ...]) -> dict[int, list[str]]:
    """Index of the cell after which each task is probed: the last cell that self-checks it,
    unless its target is defined again later; otherwise the last cell."""
    where: dict[int, list[str]] = {}
    last = max(len(cells) - 1, 0)
    for task in tasks:
        calls = [i for i, c in enumerate(cells) if _checks(c, task)]
        defs = [i for i, c in enumerate(cells) if _defines(c, task.target)]
        at = calls[-1] if calls and (not defs or calls[-1] > defs[-1]) else last
        where.setdefault(at, []).append(task.id)
    return where


def resolve_assignment(nb, path: Path, assignment: str | None) -> str:
    """The assignment: as given, else the notebook's `seqbook` metadata, else the file name."""
    if assignment is None:
        meta = nb.get("metadata", {}).get("seqbook", {})
        assignment = meta.get("assignment") if isinstance(meta, dict) else None
    if assignment not in ASSIGNMENTS:
        assignment = next((a for a in ASSIGNMENTS if path.stem.startswith(a)), assignment)
    if assignment not in ASSIGNMENTS:
        raise ValueError(
            f"assignment must be one of {sorted(ASSIGNMENTS)}, got {_cap(assignment, 60)!r} "
            "(pass --assignment, or keep the notebook's seqbook metadata or file name)"
        )
    return assignment


_PACKAGES: dict[str, Path] = {}


def package_for(assignment: Assignment) -> Path:
    """The read-only `seqbook` copy for this assignment (made once per grader process)."""
    import atexit
    import shutil
    import tempfile

    if assignment.id not in _PACKAGES:
        root = Path(tempfile.mkdtemp(prefix=f"seqbook-pkg-{assignment.id}-"))
        root.chmod(0o755)
        atexit.register(shutil.rmtree, root, True)
        _PACKAGES[assignment.id] = sandbox.package_copy(assignment.hidden, root)
    return _PACKAGES[assignment.id]


# ----------------------------------------------------------------------------- the course folder

COURSE_ENV = "SEQBOOK_COURSE"


def course_folder(course: Path | str | None = None) -> Path:
    """The course folder whose `grader/references.py` holds the reference answers: `course` if
    given, else $SEQBOOK_COURSE, else `./course` (the book's own, in a checkout)."""
    chosen = course if course is not None else os.environ.get(COURSE_ENV) or "course"
    folder = Path(chosen).expanduser()
    if not (folder / "grader" / "references.py").is_file():
        raise ValueError(
            f"course must be a course folder holding grader/references.py (the reference "
            f"answers, kept off the students' machines), got {str(folder)!r}: pass --course DIR "
            f"or set {COURSE_ENV}"
        )
    return folder.resolve()


_REFERENCES: dict[Path, object] = {}


def references(course: Path | str | None = None):
    """The course folder's reference module (loaded once per folder, by path)."""
    import hashlib
    import importlib.util

    path = course_folder(course) / "grader" / "references.py"
    if path not in _REFERENCES:
        name = "seqbook_course_references_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _REFERENCES[path] = module
    return _REFERENCES[path]


def write_practice(course: Path | str | None = None, out: Path | None = None) -> Path:
    """Write the expected answers of every function task's practice instance (what `check` in a
    notebook compares with; null where the judge needs none) to `out` (default: the installed
    package's practice.json). An experiment's practice answer is its public practice instance's
    own secret part, so it needs no entry."""
    from seqbook.cache import write_text

    refs = references(course)
    table = {}
    for a in ASSIGNMENTS.values():
        for t in a.tasks:
            if not t.experiment:
                drawn = inputs.draw(t.id, inputs.PRACTICE_SEED)
                table[t.id] = json.loads(wire.encode(refs.expected(t.id, drawn)))
    if out is None:
        from seqbook.checks import course as public

        out = Path(public.__file__).parent / "practice.json"
    write_text(Path(out), json.dumps(table, sort_keys=True, separators=(",", ":")) + "\n")
    return Path(out)


# ----------------------------------------------------------------------------- reading results


def _records(raw: bytes) -> tuple[dict[str, dict], list[dict], bool]:
    """Answers by task (the last record per task wins), cell statuses, and whether the runner
    said it was done; junk is skipped. Nothing from the channel becomes a note of the report:
    the submission shares the runner's process and could write lines that look like the
    grader's own."""
    answers: dict[str, dict] = {}
    done = False
    cells: list[dict] = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("task"), str):
            answers[record["task"]] = record
        elif isinstance(record.get("cell"), int) and isinstance(record.get("status"), str):
            cells.append(record)
        elif record.get("done") is True:
            done = True
    return answers, cells, done


def judge(task: Task, record: dict | None, drawn: inputs.Drawn, expected, seed: int) -> TaskResult:
    """Score one task from its record and the instance it was drawn on."""
    base = dict(id=task.id, title=task.title, max_points=task.points)
    if record is None:
        return TaskResult(points=0, status="not run", note="its probe never ran", **base)
    if "missing" in record:
        return TaskResult(
            points=0, status="not run", note=f"`{task.target}` is not defined", **base
        )
    if "answer" not in record and "grader_error" in record:
        note = f"the grader failed, not the submission (seed {seed}): {record['grader_error']}"
        return TaskResult(points=0, status=GRADER_ERROR, note=_cap(note), **base)
    if "answer" not in record:
        return TaskResult(
            points=0, status="error", note=_cap(f"probe: {record.get('error')}"), **base
        )
    try:
        answer = wire.decode(json.dumps(record["answer"]))
    except Exception as e:  # noqa: BLE001 - any malformed answer is the submission's problem
        return TaskResult(points=0, status="error", note=_cap(f"unreadable answer: {e}"), **base)
    try:
        report = judges.judge(task.id, answer, drawn.public, expected)
    except Exception as e:  # noqa: BLE001 - a judge must judge any decoded answer: its own bug
        note = f"the grader's check failed (seed {seed}): {type(e).__name__}: {e}"
        return TaskResult(points=0, status=GRADER_ERROR, note=_cap(note), **base)
    failures = [
        {"case": _cap(r.name, 120), "message": _cap(r.message)}
        for r in report.results
        if not r.passed
    ]
    return TaskResult(
        points=task.points if report.ok else 0,
        status="graded",
        passed=report.passed,
        total=report.total,
        failures=failures[:MAX_FAILURES],
        **base,
    )


def draw_instances(spec: Assignment, seed: int, course: Path | str | None):
    """Every task's instance and expected answer, drawn here: {task id: (drawn, expected)} and
    {task id: why it failed} for tasks the grader could not prepare (its own error)."""
    refs = references(course)
    prepared, failed = {}, {}
    for t in spec.tasks:
        try:
            drawn = inputs.draw(t.id, seed)
            prepared[t.id] = (drawn, refs.expected(t.id, drawn))
        except Exception as e:  # noqa: BLE001 - the grader's own failure, never the student's
            failed[t.id] = _cap(f"{type(e).__name__}: {e}")
    return prepared, failed


# ----------------------------------------------------------------------------- grading


def _zero(assignment: Assignment, path: Path, note: str, elapsed: float = 0.0) -> GradeReport:
    tasks = [TaskResult(t.id, t.title, 0, t.points, "not run", note=note) for t in assignment.tasks]
    return GradeReport(
        assignment.id,
        str(path),
        tasks,
        _written(assignment),
        elapsed,
        0,
        sandbox.bwrap_works(),
        notes=[note],
    )


def _written(assignment: Assignment) -> list[TaskResult]:
    return [
        TaskResult(
            q.id,
            q.title,
            0,
            q.points,
            "by hand",
            note="graded with the rubric of the instructor's guide",
        )
        for q in assignment.written
    ]


def grade(
    submission: Path | str,
    assignment: str | None = None,
    limits: Limits | None = None,
    unsafe: bool = False,
    seed: int | None = None,
    course: Path | str | None = None,
) -> GradeReport:
    """Run `submission` in its own sandbox and score every task of its assignment, against the
    reference answers of `course` (see `course_folder`).

    A task whose probe or check failed on the grader's side (status "grader error": an input
    generator, a probe or a check raised with no line of the submission involved) is never
    scored as the student's zero: the whole submission is graded again with a fresh seed, up to
    `GRADING_ATTEMPTS` runs in all, and the report's notes name every seed that failed. If the
    last run still has a grader error, that task stays "grader error" for the instructor."""
    seeds, failed = [], []
    for attempt in range(GRADING_ATTEMPTS):
        report = _grade_once(
            submission, assignment, limits, unsafe, seed if attempt == 0 else None, course
        )
        seeds.append(report.seed)
        bad = [t for t in report.tasks if t.status == GRADER_ERROR]
        if not bad:
            break
        failed += [f"seed {report.seed}, task {t.id}: {t.note}" for t in bad]
    if failed:
        report.notes += [_cap(f"grader error, graded again: {f}") for f in failed]
        report.notes.append(f"graded {len(seeds)} times (seeds {', '.join(map(str, seeds))})")
    return report


def _grade_once(
    submission: Path | str,
    assignment: str | None,
    limits: Limits | None,
    unsafe: bool,
    seed: int | None,
    course: Path | str | None = None,
) -> GradeReport:
    import nbformat

    limits = limits or Limits()
    path = Path(submission)
    start = time.monotonic()
    with open(path, "rb") as f:
        data = f.read(MAX_NOTEBOOK_BYTES + 1)
    nb = None
    if len(data) <= MAX_NOTEBOOK_BYTES:
        try:
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        except Exception:  # noqa: BLE001 - not a notebook: nothing to grade
            nb = None
    spec = ASSIGNMENTS[resolve_assignment(nb or {}, path, assignment)]
    if nb is None:
        return _zero(spec, path, "not a readable notebook under 20 MiB: nothing was run")
    cells = [c.source for c in nb.cells if c.cell_type == "code" and isinstance(c.source, str)]
    if sum(map(len, cells)) > MAX_CODE_CHARS:
        return _zero(spec, path, "more than 2 MiB of code: nothing was run")
    seed = secrets.randbits(inputs.SEED_BITS) if seed is None else seed
    prepared, unprepared = draw_instances(spec, seed, course)
    plan = {
        "cells": cells,
        "tasks": [
            {"id": t.id, "target": t.target, "public": wire.encode(prepared[t.id][0].public)}
            for t in spec.tasks
            if t.id in prepared
        ],
        "positions": {
            str(k): [i for i in v if i in prepared] for k, v in positions(cells, spec.tasks).items()
        },
        "cell_timeout": limits.cell_s,
        "blocked": list(spec.blocked),
    }
    result = sandbox.run(json.dumps(plan).encode(), package_for(spec), limits, unsafe)
    answers, statuses, done = _records(result.records)
    tasks = []
    for t in spec.tasks:
        if t.id in unprepared:
            note = f"the grader failed, not the submission (seed {seed}): {unprepared[t.id]}"
            tasks.append(TaskResult(t.id, t.title, 0, t.points, GRADER_ERROR, note=_cap(note)))
        else:
            drawn, expected = prepared[t.id]
            tasks.append(judge(t, answers.get(t.id), drawn, expected, seed))
    errors = [
        _cap(f"code cell {s['cell'] + 1}: {s.get('error')}")
        for s in statuses
        if s["status"] != "ok"
    ]
    notes = list(result.notes)
    if result.timed_out:
        notes.append(
            f"the submission ran past the wall-clock limit of {limits.wall_s:g} s and "
            "was stopped; tasks not probed by then score zero"
        )
    elif not done:
        notes.append(
            f"the submission ended before the grader's last step (exit status "
            f"{result.returncode}); tasks not probed by then score zero"
        )
    return GradeReport(
        assignment=spec.id,
        submission=str(path),
        tasks=tasks,
        written=_written(spec),
        elapsed_s=round(time.monotonic() - start, 1),
        cells_run=len({s["cell"] for s in statuses}),
        sandboxed=result.sandboxed,
        cell_errors=errors[:MAX_CELL_ERRORS],
        notes=notes,
        output_tail=result.output[-2000:],
        seed=seed,
    )


# ----------------------------------------------------------------------------- report


def format_report(report: GradeReport) -> str:
    """The per-task table a student or an instructor reads."""
    rows = report.tasks + report.written
    width = max([len(t.id) for t in rows] + [4])
    lines = [
        f"Assignment {report.assignment}: {report.submission}",
        f"  {'task':<{width}}  {'points':>7}  {'cases':>5}  result",
    ]
    for t in rows:
        cases = f"{t.passed}/{t.total}" if t.status == "graded" else "-"
        verdict = t.status
        if t.status == "graded":
            verdict = "pass" if t.points == t.max_points else "FAIL"
        points = f"{t.points:g}/{t.max_points}" if t.status != "by hand" else f"?/{t.max_points}"
        lines.append(f"  {t.id:<{width}}  {points:>7}  {cases:>5}  {verdict}  {t.title}")
        if t.note:
            lines.append(f"  {'':<{width}}      {t.note}")
        if t.failures and all(f["message"] == "not implemented yet" for f in t.failures):
            lines.append(f"  {'':<{width}}    - not implemented yet ({len(t.failures)} cases)")
        else:
            lines += [f"  {'':<{width}}    - {f['case']}: {f['message']}" for f in t.failures]
    lines.append(
        f"  {'total':<{width}}  {report.score:g}/{report.max_score:<5}  "
        f"auto-graded (+ {sum(q.max_points for q in report.written)} by hand)"
    )
    where = "in a bubblewrap sandbox" if report.sandboxed else "WITHOUT a sandbox"
    lines.append(
        f"  ran {report.cells_run} code cells {where} in {report.elapsed_s:.1f} s; "
        f"{len(report.cell_errors)} stopped with an error"
    )
    lines += [f"    {e}" for e in report.cell_errors]
    lines += [f"  note: {n}" for n in report.notes]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- folders


class Interrupted(Exception):  # noqa: N818 - what a SIGTERM becomes inside grade_folder
    """The grading run was told to stop (SIGTERM)."""


def folder_assignment(folder: Path, assignment: str | None) -> str:
    """The assignment a folder of submissions is graded as: `assignment` if given, else the one
    the folder is named after (`a1_attention`, or a name starting with it); never what a
    notebook says of itself, so a notebook of another assignment cannot choose its grader."""
    if assignment is None:
        assignment = next((a for a in sorted(ASSIGNMENTS) if folder.name.startswith(a)), None)
    if assignment not in ASSIGNMENTS:
        raise ValueError(
            f"assignment must be one of {sorted(ASSIGNMENTS)}: pass --assignment or name the "
            f"folder after it; got folder {folder.name!r}"
        )
    return assignment


def printable(name: str) -> str:
    """A file name as text, whatever bytes it holds (undecodable ones as \\xNN escapes)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _skip_reason(entry: os.DirEntry) -> str | None:
    """Why a directory entry named *.ipynb is not graded, or None for a regular file."""
    if entry.is_symlink():
        return "skipped: a symbolic link (links are never followed)"
    if entry.is_dir(follow_symlinks=False):
        return "skipped: a folder"
    if not entry.is_file(follow_symlinks=False):
        return "skipped: not a regular file"
    return None


CSV_HEADER = [
    "submission",
    "assignment",
    "score",
    "max_score",
    "seconds",
    "grader_errors",
    "status",
]


def grade_folder(
    folder: Path,
    out_dir: Path,
    limits: Limits | None = None,
    unsafe: bool = False,
    assignment: str | None = None,
    course: Path | str | None = None,
) -> list[GradeReport]:
    """Grade every regular `*.ipynb` file directly in `folder` as one assignment
    (`folder_assignment`), one sandbox each; write `<name>.json`, `<name>.txt` and `grades.csv`
    to `out_dir`.

    Symbolic links, folders, FIFOs and anything else that is not a regular file are skipped,
    each with a row saying why; any file name is accepted (written with escapes where it is not
    UTF-8). `grades.csv` is rewritten after every submission, so it always holds every row done
    so far; a SIGTERM stops the run (the current sandbox is killed and its private files
    removed), marks the rows not graded as "not graded: interrupted" and then exits."""
    import signal

    from seqbook.cache import write_text

    folder, out_dir = Path(folder), Path(out_dir)
    if out_dir.resolve() == folder.resolve():
        raise ValueError(f"out_dir must differ from the submissions folder, got {out_dir}")
    spec_id = folder_assignment(folder, assignment)
    course_folder(course)  # a missing course folder stops here, before any grading
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = sorted(
        (e for e in os.scandir(folder) if e.name.endswith(".ipynb")),
        key=lambda e: os.fsencode(e.name),
    )
    rows: list[list[object]] = []
    reports: list[GradeReport] = []

    def write_csv(pending: list[os.DirEntry], why: str) -> None:
        import io

        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)
        for e in pending:
            writer.writerow([printable(e.name), spec_id, "", "", "", "", why])
        write_text(out_dir / "grades.csv", text.getvalue())

    def stop(signum, frame):
        raise Interrupted("SIGTERM")

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main_thread else None
    try:
        for i, entry in enumerate(entries):
            write_csv(entries[i:], "not graded yet")
            name = printable(entry.name)
            reason = _skip_reason(entry)
            if reason is not None:
                rows.append([name, spec_id, "", "", "", "", reason])
                continue
            report = grade(Path(entry.path), spec_id, limits=limits, unsafe=unsafe, course=course)
            report.submission = printable(report.submission)  # the report files are UTF-8
            stem = name[: -len(".ipynb")]
            write_text(out_dir / f"{stem}.json", json.dumps(report.to_dict(), indent=2))
            write_text(out_dir / f"{stem}.txt", format_report(report) + "\n")
            unresolved = sum(t.status == GRADER_ERROR for t in report.tasks)  # for the instructor
            rows.append(
                [
                    name,
                    spec_id,
                    report.score,
                    report.max_score,
                    report.elapsed_s,
                    unresolved,
                    "graded",
                ]
            )
            reports.append(report)
        write_csv([], "")
    except Interrupted:
        write_csv(entries[len(rows) :], "not graded: interrupted")
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return reports


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    from seqbook.grading.build import publish, student_build

    parser = argparse.ArgumentParser(
        prog="python -m seqbook.grading",
        description="The course kit of the seqbook book. Every command works on a course folder "
        "(--course DIR, default $SEQBOOK_COURSE or ./course): DIR/instructor/*.ipynb are the "
        "instructor's notebooks, DIR/grader/references.py the reference answers.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("student", help="write assignments without their solutions")
    s.add_argument("out_dir", type=Path)
    s.add_argument("notebooks", type=Path, nargs="*", help="default: COURSE/instructor/*.ipynb")
    p = sub.add_parser(
        "publish", help="write the executed student copies (the book's own: book/assignments/)"
    )
    p.add_argument(
        "--out", type=Path, help="default: book/assignments for ./course, else COURSE/public"
    )
    sub.add_parser("practice", help="write the practice answers the self-checks compare with")
    e = sub.add_parser(
        "experiments",
        help="measure the instructor's experiments on many drawn instances (a results file)",
    )
    e.add_argument("--out", type=Path, required=True, help="the results file to write")
    e.add_argument("--instances", type=int, default=20)
    e.add_argument("--tasks", nargs="+", default=None, help="default: the review experiments")
    for command in (s, p, sub.choices["practice"], e):
        command.add_argument("--course", type=Path, help="the course folder")
    for name in ("grade", "grade-folder"):
        g = sub.add_parser(name, help=f"{name.replace('-', ' ')} (each submission sandboxed)")
        if name == "grade":
            g.add_argument("submission", type=Path)
            g.add_argument("--json", type=Path, help="also write the report as JSON here")
        else:
            g.add_argument("folder", type=Path)
            g.add_argument("out_dir", type=Path)
        g.add_argument("--course", type=Path, help="the course folder")
        g.add_argument(
            "--assignment",
            choices=sorted(ASSIGNMENTS),
            help="default: from the file" if name == "grade" else "default: the folder's name",
        )
        g.add_argument("--wall", type=float, default=Limits.wall_s, help="seconds in all")
        g.add_argument("--cell", type=float, default=Limits.cell_s, help="seconds per cell")
        g.add_argument(
            "--unsafe-no-sandbox",
            action="store_true",
            help="grade without bubblewrap (only for code you trust)",
        )
    args = parser.parse_args(argv)

    if args.command in ("student", "publish", "practice", "experiments"):
        try:
            folder = Path(args.course or os.environ.get(COURSE_ENV) or "course")
            if args.command == "experiments":
                from seqbook.grading import study

                tasks = tuple(args.tasks or study.REVIEW_TASKS)
                study.run(folder, tasks, args.instances, args.out)
                print(f"wrote {args.out}")
                return 0
            if args.command == "practice":
                print(f"wrote {write_practice(folder)}")
                return 0
            instructor = folder / "instructor"
            notebooks = getattr(args, "notebooks", None) or sorted(instructor.glob("*.ipynb"))
            if not notebooks:
                parser.error(f"no notebooks given and none in {instructor}")
            if args.command == "student":
                written = student_build(notebooks, args.out_dir)
            else:
                own = folder.resolve() == Path("course").resolve()
                out = args.out or (Path("book/assignments") if own else folder / "public")
                written = publish(instructor, out)
        except ValueError as e:
            parser.error(str(e))
        for path in written:
            print(f"wrote {path}")
        return 0
    limits = Limits(wall_s=args.wall, cell_s=args.cell)
    try:
        if args.command == "grade-folder":
            try:
                reports = grade_folder(
                    args.folder,
                    args.out_dir,
                    limits,
                    args.unsafe_no_sandbox,
                    args.assignment,
                    args.course,
                )
            except Interrupted:
                print(f"interrupted: {args.out_dir / 'grades.csv'} lists what was graded")
                return 128 + 15  # the shell's code for a SIGTERM
            for r in reports:
                print(format_report(r), end="\n\n")
            return 0
        if not args.submission.is_file():
            parser.error(f"submission must be an existing .ipynb file, got {args.submission}")
        report = grade(
            args.submission, args.assignment, limits, args.unsafe_no_sandbox, course=args.course
        )
    except (ValueError, RuntimeError) as e:
        parser.error(str(e))
    print(format_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
