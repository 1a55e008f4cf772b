"""The course kit: the assignments, their student build and the grader (seqbook.grading).

The slow tests run the grader for real (a fresh kernel per submission) on the solution notebooks,
on their student builds, on deliberately wrong solutions and on submissions that crash, loop or
forge their reports.
"""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from seqbook import grading
from seqbook.grading import ASSIGNMENTS, format_report, grade, student_build

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT_DIR = ROOT / "book" / "assignments"
NOTEBOOKS = {p.stem: p for p in sorted(ASSIGNMENT_DIR.glob("*.ipynb"))}


def read(name):
    return nbformat.read(NOTEBOOKS[name], as_version=4)


def solution_cell(nb, target):
    """The solution cell that defines `target`."""
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []) and f"def {target}(" in cell.source:
            return cell
    raise LookupError(target)


def points(report):
    return {t.id: t.points for t in report.tasks}


def full_marks_except(assignment, lost):
    return {t.id: (0 if t.id in lost else t.points) for t in ASSIGNMENTS[assignment]}


# ----------------------------------------------------------------------------- fast: structure


def test_every_assignment_has_a_notebook():
    assert sorted(NOTEBOOKS) == sorted(ASSIGNMENTS)


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_notebook_metadata_lists_the_graders_tasks(name):
    assert read(name).metadata["seqbook"] == grading.tasks_metadata(name)


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_each_task_has_stub_solution_and_check_in_order(name):
    cells = read(name).cells
    for task in ASSIGNMENTS[name]:
        stub = next(i for i, c in enumerate(cells) if f"def {task.target}(" in c.source)
        assert "raise NotImplementedError" in cells[stub].source
        assert cells[stub + 1].metadata.get("tags") == ["solution", "hide-input"]
        assert f"def {task.target}(" in cells[stub + 1].source
        check = cells[stub + 2].source
        assert check.startswith("# NBVAL_CHECK_OUTPUT")
        assert f"{task.check_function}({task.target})" in check


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_every_check_the_grader_calls_exists(name):
    import importlib

    for task in ASSIGNMENTS[name]:
        module = importlib.import_module(task.check_module)
        assert callable(getattr(module, task.check_function)), task.check


def test_student_build_drops_solutions_and_outputs_but_keeps_stubs_checks_and_text(tmp_path):
    written = student_build(list(NOTEBOOKS.values()), tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in NOTEBOOKS.values())
    for path in written:
        teacher = nbformat.read(NOTEBOOKS[path.stem], as_version=4)
        student = nbformat.read(path, as_version=4)
        kept = [c for c in teacher.cells if "solution" not in c.metadata.get("tags", [])]
        assert [c.source for c in student.cells] == [c.source for c in kept]
        solutions = [c.source for c in teacher.cells if c not in kept]
        assert len(solutions) == len(ASSIGNMENTS[path.stem])
        text = path.read_text()
        assert all(json.dumps(s)[1:-1] not in text for s in solutions)
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
        assert "widgets" not in student.metadata
        assert student.metadata["seqbook"] == teacher.metadata["seqbook"]


def test_student_command_writes_the_build(tmp_path):
    nb = NOTEBOOKS["a1_attention"]
    done = subprocess.run(
        [sys.executable, "-m", "seqbook.grading", "student", str(tmp_path), str(nb)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (tmp_path / nb.name).is_file() and str(tmp_path / nb.name) in done.stdout


def test_grading_cell_follows_the_check_cell_or_goes_last():
    tasks = ASSIGNMENTS["a1_attention"][:2]  # masked_softmax, sdpa
    cells = [
        nbformat.v4.new_code_cell(s)
        for s in (
            "def masked_softmax(s, m):\n    raise NotImplementedError",
            "print(checks.check_masked_softmax(masked_softmax))",
            "def my_attention(q, k, v, mask=None):\n    ...",
            "x = 1",
        )
    ]
    where = grading._grading_positions(cells, tasks)
    assert where == {1: [tasks[0]], 3: [tasks[1]]}  # sdpa's check cell was deleted
    cells.append(nbformat.v4.new_code_cell("def masked_softmax(s, m):\n    return s"))
    assert grading._grading_positions(cells, tasks[:1]) == {4: [tasks[0]]}  # redefined later


def _cell_with(outputs):
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def _report(passed_flags):
    cases = [
        {"name": f"case {i}", "passed": ok, "message": "" if ok else "values differ"}
        for i, ok in enumerate(passed_flags)
    ]
    return {"check": "x", "passed": sum(passed_flags), "total": len(cases), "cases": cases}


def test_a_task_scores_only_when_every_case_passes():
    task = ASSIGNMENTS["a1_attention"][1]  # 3 points
    display = {"output_type": "display_data", "metadata": {}}
    full = _cell_with(
        [display | {"data": {grading.MIME: {"nonce": "n", "report": _report([1, 1])}}}]
    )
    partial = _cell_with(
        [display | {"data": {grading.MIME: {"nonce": "n", "report": _report([1, 0, 1])}}}]
    )
    assert grading._result_from_cell(task, full, "n", False).points == 3
    result = grading._result_from_cell(task, partial, "n", False)
    assert (result.points, result.passed, result.total) == (0, 2, 3)
    assert result.failures == [{"case": "case 1", "message": "values differ"}]


def test_printed_or_unsigned_reports_earn_nothing():
    task = ASSIGNMENTS["a1_attention"][1]
    forged = _cell_with(
        [
            {"output_type": "stream", "name": "stdout", "text": "PASS 5/5 cases passed\n"},
            {
                "output_type": "display_data",
                "metadata": {},
                "data": {grading.MIME: {"nonce": "guess", "report": _report([1, 1, 1])}},
            },
        ]
    )
    result = grading._result_from_cell(task, forged, "the-real-nonce", False)
    assert result.points == 0 and result.status == "error"


def test_report_table_lists_failing_cases_and_total():
    report = grading.GradeReport(
        "a1_attention",
        "sub.ipynb",
        [
            grading.TaskResult(
                "sdpa", "SDPA", 0, 3, "graded", 4, 5, [{"case": "c", "message": "m"}]
            ),
            grading.TaskResult("padding_mask", "Padding", 1, 1, "graded", 3, 3),
        ],
        elapsed_s=1.0,
        cells_run=3,
    )
    text = format_report(report)
    assert "- c: m" in text and "1/4" in text and "FAIL" in text


def _failed(report):
    return {r.name for r in report.results if not r.passed}


def test_masked_softmax_check_catches_a_finite_fill_and_passes_the_recipe():
    import torch

    from seqbook.checks.attention import check_masked_softmax

    def finite_fill(scores, mask):  # -1e9 instead of -inf: an empty row becomes uniform
        return torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)

    def recipe(scores, mask):
        allowed = mask.any(-1, keepdim=True)
        filled = scores.masked_fill(~mask, float("-inf")).masked_fill(~allowed, 0.0)
        return torch.softmax(filled, dim=-1) * allowed

    assert check_masked_softmax(recipe).ok
    assert _failed(check_masked_softmax(finite_fill)) == {
        "a row that may attend nowhere: zeros",
        "gradients, with an empty row (no NaN)",
    }


def test_lstm_layer_check_catches_a_loop_that_runs_through_the_padding():
    import torch

    from seqbook.checks.lstm import check_lstm_layer

    def through_padding(cell, x, lengths):
        h = c = x.new_zeros(x.shape[0], cell.hidden_size)
        outputs = []
        for x_t in x.unbind(1):
            h, c = cell(x_t, (h, c))
            outputs.append(h)
        return torch.stack(outputs, 1), (h, c)

    assert _failed(check_lstm_layer(through_padding)) == {
        "padded batch: states frozen, outputs zero",
        "a length-1 sequence",
        "gradients through a padded batch",
    }


def test_encoder_forward_check_catches_a_forgotten_mask():
    import torch

    from seqbook.checks.albert import check_encoder_forward

    def no_mask(encoder, input_ids, attention_mask):
        h = encoder.embedding_hidden_mapping_in(
            encoder.embeddings(input_ids, torch.zeros_like(input_ids))
        )
        for a, f in encoder.schedule:
            h = encoder.ffn_blocks[f](encoder.attention_blocks[a](h, None))
        return h

    failed = _failed(check_encoder_forward(no_mask))
    assert "sharing='all', no padding" not in failed and "sharing='all', padded batch" in failed


# ----------------------------------------------------------------------------- slow: the grader


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    student_build(list(NOTEBOOKS.values()), out)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_solution_scores_full_marks(name, tmp_path, capsys):
    out = tmp_path / "grades" / f"{name}.json"  # through the command line, as instructors run it
    assert (
        grading.main(["grade", str(NOTEBOOKS[name]), "--timeout", "120", "--json", str(out)]) == 0
    )
    table = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert {t["id"]: t["points"] for t in data["tasks"]} == full_marks_except(name, set()), table
    assert data["score"] == data["max_score"] and data["assignment"] == name
    assert data["cell_errors"] == [] and f"{data['max_score']}/{data['max_score']}" in table


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_student_build_scores_zero_with_not_implemented_feedback(name, student_dir):
    report = grade(student_dir / f"{name}.ipynb", cell_timeout=120)
    assert report.score == 0 and report.max_score == sum(t.points for t in ASSIGNMENTS[name])
    for task in report.tasks:
        assert task.status == "graded" and task.failures, format_report(report)
        assert {f["message"] for f in task.failures} == {"not implemented yet"}


WRONG = {
    # attention without the 1/sqrt(d_k) scaling
    ("a1_attention", "my_attention"): (
        "def my_attention(query, key, value, mask=None):\n"
        "    scores = query @ key.transpose(-2, -1)  # no / sqrt(d_k)\n"
        "    weights = masked_softmax(scores, mask) if mask is not None else scores.softmax(-1)\n"
        "    return weights @ value, weights"
    ),
    # an LSTM step that ignores the forget gate
    ("a2_lstm_bilstm", "lstm_step"): (
        "def lstm_step(x_t, h, c, weight_ih, weight_hh, bias_ih, bias_hh):\n"
        "    z = x_t @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh\n"
        "    z_i, z_f, z_g, z_o = z.chunk(4, dim=-1)\n"
        "    c_t = c + torch.sigmoid(z_i) * torch.tanh(z_g)  # f_t left out\n"
        "    return torch.sigmoid(z_o) * torch.tanh(c_t), c_t"
    ),
    # ALBERT without cross-layer sharing: every layer gets its own blocks
    ("a3_albert", "sharing_schedule"): (
        "def sharing_schedule(num_layers, sharing):\n    return [(l, l) for l in range(num_layers)]"
    ),
}
LOSES = {
    ("a1_attention", "my_attention"): {"sdpa"},
    ("a2_lstm_bilstm", "lstm_step"): {"lstm_step"},
    ("a3_albert", "sharing_schedule"): {"sharing_schedule"},
}


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(WRONG), ids=lambda k: f"{k[0]}-{k[1]}")
def test_wrong_solution_loses_exactly_its_tasks(key, tmp_path):
    name, target = key
    nb = read(name)
    solution_cell(nb, target).source = WRONG[key]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    report = grade(path, cell_timeout=120)
    assert points(report) == full_marks_except(name, LOSES[key]), format_report(report)
    lost = next(t for t in report.tasks if t.id in LOSES[key])
    assert lost.status == "graded" and 0 < len(lost.failures) <= lost.total


@pytest.mark.slow
def test_crash_loop_and_dead_kernel_zero_only_the_tasks_they_reach(tmp_path):
    nb = read("a1_attention")
    cells = nb.cells
    first_check = next(i for i, c in enumerate(cells) if "check_masked_softmax(" in c.source)
    stub_5 = next(i for i, c in enumerate(cells) if "def my_multi_head(" in c.source)
    cells.insert(stub_5, nbformat.v4.new_code_cell("import os\n\nos._exit(1)"))
    cells.insert(stub_5, nbformat.v4.new_code_cell("while True:\n    pass"))
    cells.insert(first_check + 1, nbformat.v4.new_code_cell("raise RuntimeError('boom')"))
    path = tmp_path / "a1_attention.ipynb"
    nbformat.write(nb, path)
    report = grade(path, cell_timeout=5)
    assert points(report) == full_marks_except("a1_attention", {"multi_head"}), format_report(
        report
    )
    assert {t.id: t.status for t in report.tasks}["multi_head"] == "not run"
    assert any("RuntimeError: boom" in e for e in report.cell_errors), format_report(report)
    assert any("(while True:): interrupted after 5 s" in e for e in report.cell_errors)
    assert any("kernel died" in n for n in report.notes)


@pytest.mark.slow
def test_a_loop_that_ignores_interrupts_is_stopped_and_graded(tmp_path):
    nb = read("a1_attention")
    after = next(
        i for i, c in enumerate(nb.cells) if "check_scaled_dot_product_attention(" in c.source
    )
    nb.cells.insert(
        after + 1,
        nbformat.v4.new_code_cell(
            "import time\n\nwhile True:\n    try:\n        time.sleep(0.1)\n"
            "    except KeyboardInterrupt:\n        pass"
        ),
    )
    path = tmp_path / "a1_attention.ipynb"
    nbformat.write(nb, path)
    report = grade(path, cell_timeout=5)
    assert points(report) == full_marks_except(
        "a1_attention", {"padding_mask", "causal_mask", "multi_head"}
    ), format_report(report)
    assert report.elapsed_s < 60
    assert any("did not answer the interrupt" in n for n in report.notes)


@pytest.mark.slow
def test_forged_reports_points_and_a_slow_notebook_earn_nothing(tmp_path, student_dir):
    nb = nbformat.read(student_dir / "a1_attention.ipynb", as_version=4)
    nb.metadata["seqbook"]["tasks"][0]["points"] = 100  # the grader ignores the submission's copy
    for cell in nb.cells:  # every check cell replaced by a printed PASS and a fake grader output
        if "checks.check_" in cell.source:
            cell.source = (
                "from IPython.display import display\n\n"
                "print('PASS scaled_dot_product_attention: 5/5 cases passed')\n"
                f"display({{{grading.MIME!r}: {{'nonce': '0' * 32, 'report': {{}}}}}}, raw=True)"
            )
    nb.cells.append(nbformat.v4.new_code_cell("import time\n\ntime.sleep(60)"))
    path = tmp_path / "a1_attention.ipynb"
    nbformat.write(nb, path)
    report = grade(path, total_timeout=8)
    assert (report.score, report.max_score) == (0, 10)
    # the grader's own checks still ran after the total time limit stopped the student's cells
    assert all(t.status == "graded" and t.total > 0 for t in report.tasks)
    assert any("total time limit" in n for n in report.notes)
