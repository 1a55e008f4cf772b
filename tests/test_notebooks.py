"""The notebooks follow the book's conventions, and nbval is configured to check them."""

import configparser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the chapters and the course kit's assignments (nothing under a build folder)
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if "_build" not in p.parts)
TOC = (ROOT / "_toc.yml").read_text()


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks under book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_in_the_table_of_contents(path):
    assert f"{path.relative_to(ROOT).with_suffix('').as_posix()}\n" in TOC


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_runtime_and_environment_stamp(path):
    nb = cells(path)
    assert nb[0]["cell_type"] == "markdown" and source(nb[0]).startswith("# ")
    assert "**Runtime:**" in source(nb[0]), "the first cell must state the runtime and profile"
    code = [c for c in nb if c["cell_type"] == "code"]
    # The first code cell is the Colab set-up (tests/test_colab.py pins its exact text); the
    # stamp, profile and seed come right after it.
    assert source(code[0]).startswith("# Colab set-up:"), "run `python scripts/colab_cell.py`"
    assert "environment_stamp()" in source(code[1])
    assert "seed_everything(" in source(code[1])
    assert "configure_threads(" in source(code[1]), "threads are chosen by configure_threads()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_hard_codes_the_thread_count(path):
    for c in cells(path):
        if c["cell_type"] == "code":
            assert "set_num_threads" not in source(c), "use seqbook.runtime.configure_threads"


STRAY = [
    re.compile(r"Loading weights"),  # transformers' loading report / progress bar
    re.compile(r"Some weights of .* were not (used|initialized)"),
    re.compile(r"^\d+$"),  # a bare number echoed by a set-up call
]


def output_text(output):
    if output["output_type"] == "stream":
        return "".join(output["text"])
    return "".join(output.get("data", {}).get("text/plain", ""))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stray_outputs_are_stored(path):
    for i, c in enumerate(cells(path)):
        if c["cell_type"] != "code":
            continue
        for o in c["outputs"]:
            text = output_text(o).strip()
            for pattern in STRAY:
                assert not pattern.search(text), f"cell {i} stores a stray output: {text[:80]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_checked_cells_and_no_stored_errors(path):
    nb = [c for c in cells(path) if c["cell_type"] == "code"]
    assert any(source(c).startswith("# NBVAL_CHECK_OUTPUT") for c in nb)
    for c in nb:
        assert all(o["output_type"] != "error" for o in c["outputs"]), source(c)[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cells_have_stored_outputs(path):
    for c in cells(path):
        if c["cell_type"] == "code" and source(c).startswith("# NBVAL_CHECK_OUTPUT"):
            assert c["outputs"], f"a checked cell has no stored output: {source(c)[:80]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solution_cells_are_hidden_and_follow_a_stub(path):
    nb = cells(path)
    for i, c in enumerate(nb):
        tags = c.get("metadata", {}).get("tags", [])
        if "solution" in tags:
            assert "hide-input" in tags
            stub = source(nb[i - 1])
            assert "NotImplementedError" in stub, f"no stub before the solution in cell {i}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_headings_carry_no_hand_numbering(path):
    # Jupyter Book numbers chapters and sections itself; "# 3. Attention" would print twice.
    for c in cells(path):
        if c["cell_type"] == "markdown":
            for line in source(c).splitlines():
                assert not re.match(r"#+ \d+(\.\d+)*\.? ", line), line


def test_sanitising_never_blanks_plain_numbers():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg")
    sample = "TEST accuracy 0.888, F1 0.891 on 2500 reviews; max |diff| 1.2e-16; shape (32, 128)"
    for section in cfg.sections():
        assert re.sub(cfg[section]["regex"], cfg[section]["replace"], sample) == sample, section
    assert re.sub(cfg["memory addresses"]["regex"], "X", "<obj at 0x7f3a2b1c9d80>") == "<obj at X>"


def make_dry_run(target: str) -> list[str]:
    """The commands `make TARGET` would run, as `make -n` prints them without running them:
    variables expanded, continued lines joined, one command per line."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.replace("\\\n", " ").splitlines()


def test_make_test_runs_nbval_lax_over_every_notebook():
    runs = [c.split() for c in make_dry_run("test") if "pytest" in c and "--nbval-lax" in c]
    assert runs, "make test runs no pytest with --nbval-lax"
    words = [w for run in runs for w in run]
    missing = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS]
    missing = [p for p in missing if p not in words]
    assert not missing, f"make test does not run nbval over {missing}"
    for run in runs:
        assert run[run.index("--nbval-sanitize-with") + 1] == "tests/nbval_sanitize.cfg"


def test_make_book_fails_on_any_sphinx_warning_and_missing_reference():
    builds = [c.split() for c in make_dry_run("book") if "jupyter-book build" in c]
    assert builds, "make book runs no jupyter-book build"
    for build in builds:
        assert {"--warningiserror", "-W"} & set(build), build
        assert {"--nitpick", "-n"} & set(build), build


FAKE_TOOL = """#!/bin/sh
kernels="ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY-}"
threads="SEQBOOK_THREADS=${SEQBOOK_THREADS-}"
echo "$(basename "$0") $* | $kernels $threads" >> "$SEQBOOK_CI_LOG"
if [ -n "${SEQBOOK_CACHE-}" ]; then
  echo "cache $SEQBOOK_CACHE $(ls -A "$SEQBOOK_CACHE" 2>/dev/null | wc -l)" >> "$SEQBOOK_CI_LOG"
fi
if [ "$(basename "$0") $1" = "make test" ]; then exit "${FAKE_TEST_RC:-0}"; fi
"""


def fake_ci(tmp_path, **extra_env) -> tuple[subprocess.CompletedProcess, Path]:
    """Run `.ci/run` with stand-ins for make (and for what it could install or run) that only
    log; returns the finished process and the log."""
    fakes = tmp_path / "bin"
    fakes.mkdir()
    for tool in ("make", "chromium", "bwrap", "sudo", "apt-get", "python", "python3", "pytest"):
        (fakes / tool).write_text(FAKE_TOOL)
        (fakes / tool).chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "SEQBOOK_THREADS")
    }
    env |= {"PATH": f"{fakes}{os.pathsep}{env['PATH']}", "SEQBOOK_CI_LOG": str(log)}
    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run")],
        env=env | extra_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, log


def test_ci_builds_with_native_kernels_then_tests_under_portable_ones(tmp_path):
    """Stored outputs must survive another CPU, and CI plays one: `.ci/run` builds the book with
    the kernels torch detects, then runs `make test` under ATEN_CPU_CAPABILITY=default on one
    thread."""
    result, log = fake_ci(tmp_path)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    book = "make book | ATEN_CPU_CAPABILITY= SEQBOOK_THREADS="
    test = "make test | ATEN_CPU_CAPABILITY=default SEQBOOK_THREADS=1"
    assert book in calls and test in calls, calls
    assert calls.index(book) < calls.index(test), "the tests must run after the build"
    # the test pass starts from an empty cache of its own: nothing the build trained is reused
    after = calls[calls.index(test) + 1]
    assert after.startswith("cache ") and after.endswith(" 0"), calls
    assert not Path(after.split()[1]).exists(), "the fresh cache is removed at the end"
    # and it says what the test pass computed for itself
    assert "0 cached values under" in result.stdout, result.stdout


def test_ci_fails_when_the_tests_fail_and_still_reports_the_fresh_cache(tmp_path):
    result, _ = fake_ci(tmp_path, FAKE_TEST_RC="3")
    assert result.returncode == 3, result.stderr
    assert "0 cached values under" in result.stdout and "[ci] total" in result.stdout


def test_every_module_of_the_package_has_a_page_in_the_api_reference():
    modules = sorted(
        p.stem for p in (ROOT / "src" / "seqbook").glob("*.py") if p.stem != "__init__"
    ) + ["checks", "grading"]
    pages = {p.stem for p in (ROOT / "book" / "api").glob("*.md")}
    assert not set(modules) - pages, f"modules without a page in book/api/: {set(modules) - pages}"
    for stem in modules:
        text = (ROOT / "book" / "api" / f"{stem}.md").read_text()
        assert f".. automodule:: seqbook.{stem}" in text, (
            f"book/api/{stem}.md documents another module"
        )
