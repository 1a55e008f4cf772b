"""The course kit: instructor sources, public copies without solutions, and the grader.

Fast tests pin the structure (every task has a stub, a hidden solution and a self-check; the
public copies are exactly the student build of the instructor's; no solution reaches the public
book), the wire format, the planning and the package copy the sandbox sees. The slow tests run
the grader for real, one sandbox per submission: every solution scores full marks, every student
build scores zero with "not implemented yet". The adversarial submissions are in
tests/test_grading_adversarial.py.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from seqbook.checks import course
from seqbook.checks.course import ASSIGNMENTS, inputs, judges, wire
from seqbook.grading import build, core, sandbox
from seqbook.grading.core import format_report, grade

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR = {p.stem: p for p in sorted((ROOT / "course" / "instructor").glob("*.ipynb"))}
PUBLIC = {p.stem: p for p in sorted((ROOT / "book" / "assignments").glob("*.ipynb"))}
HTML = ROOT / "_build" / "html"
REFS = core.references(
    ROOT / "course"
)  # the reference answers: the course folder's, not the package's


def read(path):
    return nbformat.read(path, as_version=4)


def solution_cells(nb):
    return [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]


def distinctive_lines(cell):
    """Lines of a solution cell long and specific enough that a leak would show them."""
    return [
        ln.strip()
        for ln in cell.source.splitlines()
        if len(ln.strip()) > 40 and not ln.strip().startswith(("#", "def ", '"""', "**"))
    ]


# ----------------------------------------------------------------------------- structure


def test_every_assignment_has_an_instructor_source_and_a_public_copy():
    assert sorted(INSTRUCTOR) == sorted(ASSIGNMENTS) == sorted(PUBLIC)


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_public_copy_is_the_student_build_of_the_instructor_source(name):
    teacher, public = read(INSTRUCTOR[name]), read(PUBLIC[name])
    built = build.strip(teacher)
    assert [(c.cell_type, c.source, c.metadata.get("tags")) for c in public.cells] == [
        (c.cell_type, c.source, c.metadata.get("tags")) for c in built.cells
    ], "run `python -m seqbook.grading publish` after editing course/instructor/"
    assert public.metadata["seqbook"] == teacher.metadata["seqbook"] == {"assignment": name}


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_each_task_has_a_stub_a_solution_and_a_checked_self_check(name):
    cells = read(INSTRUCTOR[name]).cells
    sources = [c.source for c in cells]
    for task in ASSIGNMENTS[name].tasks:
        check = next(i for i, s in enumerate(sources) if f'course.check("{task.id}"' in s)
        assert sources[check].startswith("# NBVAL_CHECK_OUTPUT"), task.id
        handed = task.check_name or task.target  # an experiment's check takes the trained models
        assert f'course.check("{task.id}", {handed})' in sources[check], task.id
        defined = [i for i, s in enumerate(sources[:check]) if core._defines(s, task.target)]
        assert defined, f"{task.target} is not defined before its check"
        stubs = [i for i, s in enumerate(sources[:check]) if "raise NotImplementedError" in s]
        assert stubs and "solution" in cells[stubs[-1] + 1].metadata.get("tags", [])
    assert len(solution_cells(read(INSTRUCTOR[name]))) >= len(ASSIGNMENTS[name].tasks)


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_every_solution_cell_carries_the_marker(name):
    for cell in solution_cells(read(INSTRUCTOR[name])):
        assert cell.source.splitlines()[0] in (f"# {build.MARKER}", f"**{build.MARKER}.**")


def test_no_solution_reaches_the_public_book():
    """The public notebooks, and the built HTML when there is one, hold no solution cell. A line
    the public book shows anyway (a stub's signature, an import or a call a chapter also makes)
    is no secret and is not looked for."""
    leaks = {}
    secrets = {build.MARKER}
    public_cells = [c for p in sorted(ROOT.glob("book/*.ipynb")) for c in read(p).cells]
    for path in INSTRUCTOR.values():
        nb = read(path)
        shown = "\n".join(c.source for c in nb.cells if c not in solution_cells(nb))
        shown += "\n".join(c.source for c in public_cells)
        for cell in solution_cells(nb):
            secrets.update(ln for ln in distinctive_lines(cell) if ln not in shown)
    assert len(secrets) > 40
    public_texts = {p.name: p.read_text() for p in PUBLIC.values()}
    if HTML.is_dir():
        public_texts |= {str(p): p.read_text(errors="replace") for p in HTML.rglob("*.html")}
        public_texts |= {str(p): p.read_text(errors="replace") for p in HTML.rglob("*.ipynb")}
    for where, text in public_texts.items():
        text = text.replace("\\n", "\n").replace('\\"', '"').replace("&quot;", '"')
        found = [s for s in secrets if s in text]
        if found:
            leaks[where] = found[:3]
    assert not leaks, leaks


def test_the_instructor_sources_stay_out_of_the_book():
    toc = (ROOT / "_toc.yml").read_text()
    assert "course/" not in toc
    for name in ASSIGNMENTS:
        assert f"book/assignments/{name}\n" in toc


def test_student_build_refuses_to_write_into_its_source_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nb = src / "a1_attention.ipynb"
    nb.write_text(INSTRUCTOR["a1_attention"].read_text())
    for target in (src, src / "sub"):
        with pytest.raises(ValueError, match="out_dir must not be the folder of a source"):
            build.student_build([nb], target)
    assert len(solution_cells(read(nb))) == len(solution_cells(read(INSTRUCTOR["a1_attention"])))


def test_student_command_writes_the_build_elsewhere(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "seqbook.grading", "student", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=True,
    )
    written = sorted((tmp_path / "out").glob("*.ipynb"))
    assert [p.stem for p in written] == sorted(ASSIGNMENTS) and "wrote" in done.stdout
    for path in written:
        nb = read(path)
        assert not solution_cells(nb) and build.MARKER not in path.read_text()
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    refused = subprocess.run(
        [sys.executable, "-m", "seqbook.grading", "student", str(ROOT / "course" / "instructor")],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "must not be the folder" in refused.stderr


# ----------------------------------------------------------------------------- self-checks


def test_self_check_says_not_implemented_for_a_stub_and_passes_a_reference():
    def stub(T, d, base=10000.0):
        raise NotImplementedError

    def right(T, d, base=10000.0):
        if d % 2:
            raise ValueError(f"d must be even, got {d}")
        return REFS.reference_positions(T, d, base)

    def fixed_base(T, d, base=10000.0):  # what a library helper computes: base 10000 always
        return right(T, d)

    report = course.check("positions", stub)
    assert not report.ok and {r.message for r in report.results} == {"not implemented yet"}
    assert course.check("positions", right).ok
    assert not course.check("positions", lambda T, d, base=1e4: right(T, d, base) + 1e-3).ok
    report = course.check("positions", fixed_base)
    assert [r.passed for r in report.results] == [True, False, False, False, False, True]


def test_the_practice_answers_are_the_references_on_the_practice_instance(tmp_path):
    """practice.json (what a notebook's check compares with) is what the course folder's
    references give on the practice instance: written by `python -m seqbook.grading practice`."""
    shipped = Path(course.__file__).parent / "practice.json"
    fresh = core.write_practice(ROOT / "course", tmp_path / "practice.json")

    def same(a, b, where):  # same structure; numbers equal up to rounding (BLAS orders sums
        assert type(a) is type(b), where  # differently with the number of threads)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, where
            assert np.allclose(a, b, rtol=1e-12, atol=1e-12), where
        elif isinstance(a, dict):
            assert a.keys() == b.keys(), where
            for k in a:
                same(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, list | tuple):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                same(x, y, f"{where}[{i}]")
        else:
            assert a == b, where

    for name, value in json.loads(shipped.read_text()).items():
        fresh_value = json.loads(fresh.read_text())[name]
        same(wire.decode(json.dumps(fresh_value)), wire.decode(json.dumps(value)), name)
    tasks = {t.id for a in ASSIGNMENTS.values() for t in a.tasks}
    table = json.loads(shipped.read_text())
    assert set(table) == {t for t in tasks if not t.endswith("experiment")}
    assert table["whole_word_mask"] is None  # judged by its properties: nothing to compare with


def test_no_reference_answer_ships_in_the_package():
    """The reference implementations live in course/grader/ only: nothing installed with the
    package (what a student gets from pip) defines or imports them."""
    package = Path(course.__file__).parents[2]
    names = [n for n in dir(REFS) if n.startswith("reference_")]
    assert len(names) >= 9
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not any(f"def {n}(" in text for n in names), path
        assert "seqbook_course_references" not in text or path.name == "core.py", path
    assert {p.name for p in (package / "checks" / "course").glob("*.py")} == {
        "__init__.py",
        "inputs.py",
        "judges.py",
        "wire.py",
    }


def test_checks_catch_a_wrong_tfidf_and_an_uncoupled_gate():
    def raw_counts(counts):  # no idf, no normalisation
        return counts

    def cifg_with_forget_one(x_t, h, c, weight_ih, weight_hh, bias):
        z_i, z_g, z_o = (x_t @ weight_ih.T + h @ weight_hh.T + bias).chunk(3, dim=-1)
        c_t = c + torch.sigmoid(z_i) * torch.tanh(z_g)  # f = 1 instead of 1 - i
        return torch.sigmoid(z_o) * torch.tanh(c_t), c_t

    assert course.check("tfidf", raw_counts).passed == 0
    assert course.check("cifg_step", cifg_with_forget_one).passed == 0
    assert course.check("cifg_step", REFS.reference_cifg).ok
    assert course.check("tfidf", REFS.reference_tfidf).ok


def test_an_experiment_that_did_not_learn_fails_its_band():
    from seqbook.checks.course.inputs import ORDER_LEN

    a_id, b_id = course.practice("order_experiment")["ids"]

    def constant(x):
        return torch.zeros(len(x), dtype=torch.long)

    def sees_order(x, a=a_id, b=b_id):  # the rule itself, knowing the ids: right everywhere
        pos = torch.arange(ORDER_LEN)
        return (((x == a) * pos).sum(1) < ((x == b) * pos).sum(1)).long()

    report = course.check(
        "order_experiment", {"with positions": constant, "without positions": constant}
    )
    assert [r.passed for r in report.results] == [False, True]
    report = course.check(
        "order_experiment", {"with positions": sees_order, "without positions": sees_order}
    )
    assert [r.passed for r in report.results] == [True, False]


@pytest.mark.parametrize("task_id", ["head_experiment", "fusion_experiment"])
def test_a_review_experiment_fails_a_coin_and_labels_from_elsewhere(task_id):
    """On real reviews the grader's band has two edges: below 0.58 a classifier did not learn
    (a constant one scores 0.5, a coin 0.5 +- 0.02 on 600 snippets), above 0.85 its labels came
    from somewhere other than the training data (the corpus's public labels: here the held-out
    labels themselves, and the same with a fifth of them flipped, which lands inside)."""
    drawn = inputs.draw(task_id, 987654321)
    y = drawn.secret["y_eval"]
    keys = inputs.EXPERIMENT_KEYS[task_id]
    flipped = y.clone()
    flipped[: len(y) // 5] = 1 - flipped[: len(y) // 5]
    coin = torch.randint(2, (len(y),), generator=torch.Generator().manual_seed(0))
    for labels, passes in ((torch.ones_like(y), False), (coin, False), (y, False), (flipped, True)):
        answer = wire.decode(wire.encode(dict.fromkeys(keys, labels)))
        report = judges.judge(task_id, answer, drawn.public, drawn.secret)
        assert [r.passed for r in report.results] == [passes] * len(keys), report


def test_a_rule_written_before_the_data_were_drawn_fails_the_graders_instance():
    """The ids an experiment's data are built from are drawn with the instance: the rule that is
    right on the practice data scores chance on other draws (the grader's, from its secret seed)."""
    from seqbook.checks.course.inputs import ORDER_LEN

    a_id, b_id = course.practice("order_experiment")["ids"]

    def rule(x):
        pos = torch.arange(ORDER_LEN)
        return (((x == a_id) * pos).sum(1) < ((x == b_id) * pos).sum(1)).long()

    scores = []
    for seed in range(1, 40):
        drawn = inputs.draw("order_experiment", seed)
        if tuple(drawn.secret["ids"]) == (a_id, b_id):
            continue
        labels = inputs.predictions(
            {"with positions": rule}, ("with positions",), drawn.public["x_eval"]
        )
        answer = wire.decode(wire.encode({**labels, "without positions": labels["with positions"]}))
        report = judges.judge("order_experiment", answer, drawn.public, drawn.secret)
        scores.append(report.results[0].passed)
    assert len(scores) >= 30 and not any(scores)


# ----------------------------------------------------------------------------- wire format


def test_wire_round_trips_the_answer_types():
    value = {
        "t": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "n": np.array([[True, False]]),
        "l": [1, 2.5, None, "x", (torch.tensor(3),)],
        "nan": float("nan"),
    }
    back = wire.decode(wire.encode(value))
    assert back["t"].dtype == np.float32 and back["t"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back["n"].dtype == np.bool_ and back["l"][:4] == [1, 2.5, None, "x"]
    assert type(back["l"][4]) is tuple and back["l"][4][0].shape == () and np.isnan(back["nan"])
    odd = wire.decode(wire.encode({"f": print}))
    assert isinstance(odd["f"], wire.Unsupported) and odd["f"].what == "builtin_function_or_method"
    assert isinstance(wire.decode(wire.encode({1: 2})), wire.Unsupported)


@pytest.mark.parametrize(
    "text",
    [
        '{"$array": {"dtype": "object", "shape": [1], "data": [1]}}',
        '{"$array": {"dtype": "float64", "shape": [3], "data": [1, 2]}}',
        '{"$array": {"dtype": "int64", "shape": [1], "data": ["1"]}}',
        '{"$pickle": "gASVAAAAAAAAAAA="}',
        '{"a": 1, "b": 2}',
        "[" * 5000 + "]" * 5000,
        "NaN",
        "not json",
    ],
)
def test_wire_refuses_what_it_does_not_know(text):
    with pytest.raises(wire.WireError):
        wire.decode(text)


def test_wire_refuses_answers_over_the_size_cap():
    with pytest.raises(wire.WireError, match="bytes"):
        wire.encode(torch.zeros(2_000_000, dtype=torch.float64))
    with pytest.raises(wire.WireError, match="bytes"):
        wire.decode(" " * (wire.MAX_BYTES + 1))


# ----------------------------------------------------------------------------- planning, package


def test_each_task_is_probed_after_its_self_check_unless_redefined_later():
    tasks = ASSIGNMENTS["a1_attention"].tasks[:2]
    cells = [
        "def sinusoidal_positions(T, d):\n    raise NotImplementedError",
        'print(course.check("positions", sinusoidal_positions))',
        "def encoder_layer(x, p, h, m=None):\n    ...",
        "x = 1",
    ]
    assert core.positions(cells, tasks) == {1: ["positions"], 3: ["encoder_layer"]}
    cells.append("sinusoidal_positions = lambda T, d: None")
    assert core.positions(cells, tasks) == {4: ["positions", "encoder_layer"]}


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_the_sandbox_package_withholds_the_references(name, tmp_path):
    import seqbook

    spec = ASSIGNMENTS[name]
    dest = sandbox.package_copy(spec.hidden, tmp_path)
    pkg = dest / "seqbook"
    hidden = sandbox.hidden_modules(spec.hidden, Path(seqbook.__file__).parent)
    assert set(spec.hidden) <= hidden
    for module in hidden:
        assert "raise ImportError" in (pkg / f"{module}.py").read_text()
    kept = {p.relative_to(pkg).as_posix() for p in pkg.rglob("*.py")}
    assert {"checks/course/inputs.py", "checks/course/__init__.py", "grading/runner.py"} <= kept
    assert not {p for p in kept if re.match(r"checks/course/a\d\.py|checks/(?!course|__init__)", p)}
    assert not {"grading/core.py", "grading/sandbox.py", "grading/build.py"} & kept
    assert not {"checks/course/judges.py", "checks/course/practice.json"} & kept
    assert not list(pkg.rglob("references.py"))
    for module in ("runtime", "data", "viz", "results", "train"):
        assert "raise ImportError" not in (pkg / f"{module}.py").read_text(), module
    if name in ("a3_albert", "a4_albert_bilstm"):
        assert "albert" not in hidden  # their experiments build on it


def test_judging_survives_malformed_records():
    spec = ASSIGNMENTS["a1_attention"]
    task = spec.tasks[0]
    drawn = inputs.draw("positions", 0)
    expected = REFS.expected("positions", drawn)
    for record in (
        None,
        {"task": "positions", "missing": "sinusoidal_positions"},
        {"task": "positions", "error": "x" * 10_000},
        {"task": "positions", "answer": {"$array": {"dtype": "object"}}},
        {"task": "positions", "answer": [{"$tuple": ["raised", "ValueError: d"]}] * 6},
        {"task": "positions", "answer": 42},
    ):
        result = core.judge(task, record, drawn, expected, seed=0)
        assert result.points == 0 and len(result.note) <= core.MAX_MESSAGE
        assert all(len(f["message"]) <= core.MAX_MESSAGE for f in result.failures)


def probe_record(tmp_path, target_value, public=None, task_id="positions") -> dict:
    """What the runner's harness sends for a task given `target_value` and the instance's
    public part (default: the practice instance's)."""
    from types import SimpleNamespace

    from seqbook.grading import runner

    if public is None:
        public = wire.encode(inputs.draw(task_id, 0).public)
    target = {"positions": "sinusoidal_positions"}.get(task_id, task_id)
    task = {"id": task_id, "target": target, "public": public}
    shell = SimpleNamespace(user_ns={target: target_value})
    channel = runner.Channel(str(tmp_path / "channel"))
    runner.harness(shell, task, 30.0, channel)
    channel.file.close()
    return json.loads((tmp_path / "channel").read_text())


def test_a_failure_in_the_graders_own_code_is_reported_as_the_graders(tmp_path):
    # a probe that raises on an instance it cannot use, no student line involved
    empty = wire.encode({})
    record = probe_record(tmp_path, lambda *a: None, public=empty, task_id="whole_word_mask")
    assert "grader_error" in record and "error" not in record, record
    spec = ASSIGNMENTS["a3_albert"]
    drawn = inputs.draw("whole_word_mask", 0)
    result = core.judge(spec.tasks[0], record, drawn, None, seed=7)
    assert result.status == core.GRADER_ERROR and result.points == 0
    assert "the grader failed, not the submission (seed 7)" in result.note


def test_an_instance_the_grader_cannot_draw_is_the_graders_error(monkeypatch):
    real = inputs.draw

    def draw(task_id, seed):
        if task_id == "encoder_layer":
            raise IndexError("index 40 is out of bounds")
        return real(task_id, seed)

    monkeypatch.setattr(inputs, "draw", draw)
    prepared, failed = core.draw_instances(ASSIGNMENTS["a1_attention"], 11, ROOT / "course")
    assert set(prepared) == {"positions", "order_experiment"}
    assert failed == {"encoder_layer": "IndexError: index 40 is out of bounds"}


def test_a_failure_in_the_students_code_stays_the_students(tmp_path):
    namespace: dict = {}
    cell = "def sinusoidal_positions(T, d, base=1e4):\n    raise SystemExit('bye')\n"
    exec(compile(cell, "<ipython-input-3-0123>", "exec"), namespace)  # noqa: S102
    record = probe_record(tmp_path, namespace["sinusoidal_positions"])
    assert record.get("error") == "SystemExit: bye" and "grader_error" not in record, record

    class Huge:  # an answer the wire refuses is the answer's fault, though wire.py raised
        pass

    record = probe_record(tmp_path, lambda T, d, base=1e4: Huge())
    assert "grader_error" not in record, record


def test_a_check_that_raises_is_the_graders_error_not_the_students(monkeypatch):
    spec = ASSIGNMENTS["a1_attention"]
    drawn = inputs.draw("positions", 3)
    record = {"task": "positions", "answer": 42}
    monkeypatch.setattr(judges, "judge", lambda *a: (_ for _ in ()).throw(IndexError("bug")))
    result = core.judge(spec.tasks[0], record, drawn, None, seed=3)
    assert result.status == core.GRADER_ERROR and "IndexError: bug" in result.note
    bad = {"task": "positions", "answer": {"$array": {"dtype": "object"}}}  # undecodable
    assert core.judge(spec.tasks[0], bad, drawn, None, seed=3).status == "error"


def test_the_plan_holds_no_seed_no_label_and_no_reference(monkeypatch, tmp_path):
    """What enters the sandbox: the cells and each instance's public part. The seed, the
    held-out labels, the ids the data were built from and the expected answers stay outside."""
    seen = {}

    def run(plan, package_dir, limits, unsafe=False):
        seen["plan"] = json.loads(plan)
        return sandbox.RunResult(b"", "", 0, False, 0.0, True, [])

    monkeypatch.setattr(sandbox, "run", run)
    for name in sorted(ASSIGNMENTS):
        report = grade(INSTRUCTOR[name], seed=123456789)
        plan = seen["plan"]
        assert set(plan) == {"cells", "tasks", "positions", "cell_timeout", "blocked"}, name
        text = json.dumps(plan)
        assert "123456789" not in text
        drawn = {t.id: inputs.draw(t.id, 123456789) for t in ASSIGNMENTS[name].tasks}
        for t in plan["tasks"]:
            assert not set(wire.decode(t["public"])) & set(drawn[t["id"]].secret), t["id"]
        for task_id, d in drawn.items():
            for key, value in d.secret.items():
                encoded = wire.encode(value)
                assert len(encoded) < 40 or encoded not in text, (name, task_id, key)
        assert report.seed == 123456789


def fake_reports(statuses: list[str]):
    """`_grade_once` stand-in: the n-th run's task has the n-th status."""
    runs = iter(statuses)

    def once(submission, assignment, limits, unsafe, seed, course=None):
        status = next(runs)
        seed = 100 + len(seeds) if seed is None else seed
        seeds.append(seed)
        points = 10 if status == "graded" else 0
        task = core.TaskResult("positions", "t", points, 10, status, note=f"n{len(seeds)}")
        return core.GradeReport(
            "a1_attention", str(submission), [task], [], 1.0, 1, True, seed=seed
        )

    seeds: list[int] = []
    return once, seeds


def test_a_grader_error_is_graded_again_with_a_fresh_seed(monkeypatch):
    once, seeds = fake_reports([core.GRADER_ERROR, "graded"])
    monkeypatch.setattr(core, "_grade_once", once)
    report = grade("x.ipynb", seed=5)
    assert seeds == [5, 101] and report.score == 10 and report.seed == 101
    assert any("seed 5, task positions" in n for n in report.notes), report.notes
    assert "graded 2 times (seeds 5, 101)" in report.notes


def test_a_grader_error_in_every_run_is_left_for_the_instructor(monkeypatch, tmp_path):
    once, seeds = fake_reports([core.GRADER_ERROR] * core.GRADING_ATTEMPTS)
    monkeypatch.setattr(core, "_grade_once", once)
    folder = tmp_path / "a1_attention"
    folder.mkdir()
    (folder / "a.ipynb").write_text("{}")
    reports = core.grade_folder(folder, tmp_path / "out")
    assert len(seeds) == core.GRADING_ATTEMPTS
    assert reports[0].tasks[0].status == core.GRADER_ERROR and reports[0].score == 0
    rows = (tmp_path / "out" / "grades.csv").read_text().splitlines()
    assert rows[0].endswith(",grader_errors,status") and rows[1].endswith(",1,graded"), rows


def fake_grade(calls: list, on_call=None):
    def grade_stub(path, assignment, limits=None, unsafe=False, course=None):
        calls.append((Path(path).name, assignment))
        if on_call is not None:
            on_call(len(calls))
        task = core.TaskResult("positions", "t", 0, 10, "graded")
        return core.GradeReport(assignment, str(path), [task], [], 0.5, 1, True, seed=1)

    return grade_stub


def malformed_folder(root: Path) -> Path:
    """A submissions folder holding every kind of entry a grader meets."""
    import os

    folder = root / "a1_attention"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["seqbook"] = {"assignment": "a2_lstm_bilstm"}  # claims another assignment
    nbformat.write(nb, folder / "claims_a2.ipynb")
    (folder / "no_metadata.ipynb").write_text('{"cells": [], "nbformat": 4}')
    (folder / os.fsdecode(b"bad\xffname.ipynb")).write_text("{}")  # not UTF-8
    (folder / "a_link.ipynb").symlink_to(INSTRUCTOR["a1_attention"])  # the instructor copy
    (folder / "a_folder.ipynb").mkdir()
    os.mkfifo(folder / "a_fifo.ipynb")
    (folder / "notes.txt").write_text("not a notebook name")
    return folder


def test_grade_folder_grades_regular_files_only_as_the_folders_assignment(monkeypatch, tmp_path):
    calls: list = []
    monkeypatch.setattr(core, "grade", fake_grade(calls))
    folder = malformed_folder(tmp_path)
    core.grade_folder(folder, tmp_path / "out")
    assert sorted(calls) == sorted(
        [
            ("claims_a2.ipynb", "a1_attention"),
            ("no_metadata.ipynb", "a1_attention"),
            (os.fsdecode(b"bad\xffname.ipynb"), "a1_attention"),
        ]
    )
    import csv

    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert rows["bad\\xffname.ipynb"]["status"] == "graded"
    assert rows["a_link.ipynb"]["status"].startswith("skipped: a symbolic link")
    assert rows["a_folder.ipynb"]["status"] == "skipped: a folder"
    assert rows["a_fifo.ipynb"]["status"] == "skipped: not a regular file"
    assert len(rows) == 6 and "notes.txt" not in rows
    assert (tmp_path / "out" / "bad\\xffname.json").is_file()


def test_grade_folder_needs_an_assignment_it_is_told(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    with pytest.raises(ValueError, match="pass --assignment or name the folder"):
        core.grade_folder(folder, tmp_path / "out")
    assert core.folder_assignment(folder, "a3_albert") == "a3_albert"
    assert core.folder_assignment(tmp_path / "a5_fusion-2026", None) == "a5_fusion"


def test_a_sigterm_leaves_a_complete_grades_csv(monkeypatch, tmp_path):
    import os
    import signal

    calls: list = []

    def term_on_second(n):
        if n == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(core, "grade", fake_grade(calls, term_on_second))
    folder = tmp_path / "a1_attention"
    folder.mkdir()
    for name in ("a", "b", "c", "d"):
        (folder / f"{name}.ipynb").write_text("{}")
    with pytest.raises(core.Interrupted):
        core.grade_folder(folder, tmp_path / "out")
    lines = (tmp_path / "out" / "grades.csv").read_text().splitlines()
    assert lines[0].split(",") == core.CSV_HEADER
    status = [line.rsplit(",", 1)[1] for line in lines[1:]]
    assert status == [
        "graded",
        "not graded: interrupted",
        "not graded: interrupted",
        "not graded: interrupted",
    ], lines
    assert signal.getsignal(signal.SIGTERM) is not None  # the handler is put back


def test_the_channel_cannot_add_notes_to_the_report():
    raw = b'{"note": "grader: full marks confirmed"}\n{"cell": 0, "status": "ok"}\n{"done": true}\n'
    answers, cells, done = core._records(raw)
    assert answers == {} and cells == [{"cell": 0, "status": "ok"}] and done


def test_grading_refuses_without_a_sandbox_unless_told(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "bwrap_works", lambda: False)
    with pytest.raises(RuntimeError, match="bubblewrap.*--unsafe-no-sandbox"):
        grade(PUBLIC["a1_attention"])


def test_a_file_that_is_not_a_notebook_scores_zero_without_running(tmp_path):
    path = tmp_path / "a1_attention.ipynb"
    path.write_bytes(b"\x00" * 100)
    report = grade(path)
    assert (
        report.score == 0 and report.cells_run == 0 and "not a readable notebook" in report.notes[0]
    )


# ----------------------------------------------------------------------------- slow: the grader

TIMES: dict[str, float] = {}


def _timed(label, fn):
    start = time.monotonic()
    report = fn()
    TIMES[label] = time.monotonic() - start
    print(f"[grading] {label}: {TIMES[label]:.1f} s")
    return report


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_solution_scores_full_marks(name, tmp_path, capsys):
    out = tmp_path / "grades" / f"{name}.json"  # through the command line, as instructors run it
    _timed(
        f"solution {name}", lambda: core.main(["grade", str(INSTRUCTOR[name]), "--json", str(out)])
    )
    table = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["score"] == data["max_score"] == ASSIGNMENTS[name].points, table
    assert all(t["status"] == "graded" for t in data["tasks"]) and data["sandboxed"], table
    assert data["cell_errors"] == [] and data["notes"] == [], table
    assert [w["status"] for w in data["written"]] == ["by hand"] * len(ASSIGNMENTS[name].written)
    # the time budget the assignment states, with room for a loaded machine
    assert data["elapsed_s"] < 4 * ASSIGNMENTS[name].budget_s, table


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_student_build_scores_zero_with_not_implemented(name):
    report = _timed(f"student build {name}", lambda: grade(PUBLIC[name]))
    text = format_report(report)
    assert report.score == 0 and report.max_score == ASSIGNMENTS[name].points, text
    for task in report.tasks:
        assert task.status == "graded" and task.failures, text
        assert {f["message"] for f in task.failures} == {"not implemented yet"}, text
    assert "not implemented yet" in text and report.cell_errors == [], text


@pytest.mark.slow
def test_unsafe_mode_grades_without_the_sandbox_and_says_so():
    report = grade(PUBLIC["a5_fusion"], unsafe=True)
    assert report.score == 0 and any("UNSAFE" in n for n in report.notes)
    assert all({f["message"] for f in t.failures} == {"not implemented yet"} for t in report.tasks)


def test_as_root_the_sandbox_gets_process_and_memory_cgroups():
    import os

    if os.getuid() != 0:
        pytest.skip("as a normal user the kernel applies RLIMIT_NPROC; no cgroups are made")
    limits = sandbox.Limits(processes=17, total_memory_bytes=3 * 2**30)
    groups = sandbox._cgroups(limits)
    try:
        if not groups:
            pytest.skip("no cgroup controllers can be delegated here")
        names = ("pids.max", "memory.limit_in_bytes", "memory.max")
        values = {
            n: sandbox._read(g / n).strip() for g in groups for n in names if (g / n).exists()
        }
        assert values.get("pids.max") == "17"
        assert str(3 * 2**30) in (values.get("memory.limit_in_bytes"), values.get("memory.max"))
    finally:
        for group in groups:
            sandbox._remove_cgroup(group)
        assert not any(g.exists() for g in groups)


def test_the_tfidf_reference_is_scikit_learns_at_add_one_smoothing():
    from sklearn.feature_extraction.text import TfidfTransformer

    for seed in range(20):
        for counts, _ in inputs.draw("tfidf", seed).public["cases"]:
            want = TfidfTransformer(norm="l2", smooth_idf=True).fit_transform(counts.numpy())
            got = REFS.reference_tfidf(counts, 1.0)
            assert torch.allclose(got, torch.from_numpy(want.toarray()), atol=1e-12), seed


def test_an_installed_package_is_hidden_inside_the_sandbox(monkeypatch, tmp_path):
    """With a non-editable install (pip install git+...) the whole package sits in site-packages,
    which the sandbox mounts: its seqbook folder is covered by an empty read-only one, so only the
    filtered copy is importable, and no withheld module loads by its file path."""
    site = tmp_path / "lib" / "site-packages"
    (site / "seqbook").mkdir(parents=True)
    (site / "seqbook" / "attention.py").write_text("SECRET = 1\n")
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    binds = sandbox._system_binds()
    covered = str(site.resolve() / "seqbook")
    at = binds.index(covered)
    assert binds[at - 1] == "--tmpfs" and binds[at + 1 : at + 3] == ["--remount-ro", covered]
    assert binds.index(str(site.resolve())) < at - 1  # covered after site-packages is bound


def test_every_command_works_on_a_private_course_folder(monkeypatch, tmp_path):
    """An instructor's own course folder outside the repository: the references are read from
    it (here changed, to show that they are the ones used), the student copies built from it,
    and a grader without one stops with a message naming the option."""
    import shutil

    private = tmp_path / "private-course"
    shutil.copytree(ROOT / "course", private)
    refs = private / "grader" / "references.py"
    refs.write_text(refs.read_text() + "\nPRIVATE = True\n")
    assert core.references(private).PRIVATE and not hasattr(REFS, "PRIVATE")
    monkeypatch.chdir(tmp_path)  # no ./course here
    with pytest.raises(ValueError, match="pass --course DIR"):
        core.course_folder()
    assert core.course_folder(private) == private.resolve()
    monkeypatch.setenv(core.COURSE_ENV, str(private))
    assert core.course_folder() == private.resolve()
    assert core.main(["student", str(tmp_path / "out"), "--course", str(private)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.ipynb")) == sorted(
        p.name for p in (private / "instructor").glob("*.ipynb")
    )
    seen = {}

    def run(plan, package_dir, limits, unsafe=False):
        seen["plan"] = plan
        return sandbox.RunResult(b"", "", 0, False, 0.0, True, [])

    monkeypatch.setattr(sandbox, "run", run)
    report = grade(private / "instructor" / "a2_lstm_bilstm.ipynb", course=private)
    assert report.assignment == "a2_lstm_bilstm" and seen["plan"]
    assert {t.status for t in report.tasks} == {"not run"}  # the stand-in ran nothing
