"""The build's executions checked against the committed notebooks, without executing again.

`make book` executes every notebook once with the CPU kernels torch detects and every core, and
myst-nb writes each executed copy to `_build/jupyter_execute/`. The cells whose printed values
must hold everywhere (`# NBVAL_CHECK_OUTPUT`) are compared here, output by output, with the
committed notebook, under the same sanitising rules nbval uses. nbval then executes every
notebook once more under the other configuration (portable kernels, one thread, a fresh
cache): each configuration runs each notebook once.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "_build" / "jupyter_execute"
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if "_build" not in p.parts)
MARK = "# NBVAL_CHECK_OUTPUT"


def sanitizers() -> list[tuple[re.Pattern, str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def merged_streams(outputs: list[dict], executed: bool) -> list[dict]:
    """The outputs as the build shows them, with every stream of one name merged into its first
    (the book sets `nb_merge_streams`). myst-nb merges them into the first stream in place and
    writes its executed copy with the other streams still there: for an `executed` copy the
    first stream of each name already holds them all, so the rest are dropped; a committed
    notebook's streams are merged the way myst-nb merges them."""
    from myst_nb.core.utils import coalesce_streams
    from nbformat import from_dict

    outputs = [from_dict(json.loads(json.dumps(o))) for o in outputs]
    for o in outputs:
        if o["output_type"] == "stream" and isinstance(o["text"], list):
            o["text"] = "".join(o["text"])
    if not executed:
        # the kernel may hand one print to the notebook in several chunks (the second starting
        # with the first's newline); joined as they arrived, they are the text the reader sees
        joined: list = []
        for o in outputs:
            last = joined[-1] if joined else None
            if (
                o["output_type"] == "stream"
                and last is not None
                and last["output_type"] == "stream"
                and last["name"] == o["name"]
            ):
                last["text"] += o["text"]
            else:
                joined.append(o)
        return coalesce_streams(joined)
    seen, kept = set(), []
    for o in outputs:
        if o["output_type"] == "stream":
            if o["name"] in seen:
                continue
            seen.add(o["name"])
        kept.append(o)
    return kept


def checked_outputs(cells: list[dict], executed: bool = False) -> dict[int, list[str]]:
    """For every checked code cell (by index), its text outputs as the build shows them
    (`merged_streams`), sanitised, in order."""
    rules = sanitizers()
    out = {}
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code" or not "".join(cell["source"]).startswith(MARK):
            continue
        texts = []
        for o in merged_streams(cell.get("outputs", []), executed):
            if o["output_type"] == "stream":
                text = "".join(o["text"])
            elif o["output_type"] in ("execute_result", "display_data"):
                text = "".join(o.get("data", {}).get("text/plain", ""))
            elif o["output_type"] == "error":
                text = f"error: {o.get('ename')}: {o.get('evalue')}"
            else:
                continue
            for pattern, replacement in rules:
                text = pattern.sub(replacement, text)
            texts.append(text)
        out[i] = ["".join(texts)]
    return out


def executed_copy(path: Path) -> Path:
    return EXECUTED / path.relative_to(ROOT).with_suffix(".ipynb")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_builds_checked_outputs_equal_the_committed_ones(path):
    copy = executed_copy(path)
    if not copy.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{copy} is missing: run `make book` before `make test`")
        pytest.skip("no build of the book here (run `make book` first)")
    committed = checked_outputs(json.loads(path.read_text())["cells"])
    built = checked_outputs(json.loads(copy.read_text())["cells"], executed=True)
    assert set(built) == set(committed), "the build's notebook has other checked cells"
    differing = [i for i in committed if committed[i] != built[i]]
    assert not differing, "checked outputs differ in cells " + ", ".join(
        f"{i}:\n--- committed\n{committed[i][0]}\n--- built\n{built[i][0]}" for i in differing
    )


def test_the_comparison_catches_a_changed_checked_output():
    cell = {
        "cell_type": "code",
        "source": [MARK + "\n", "print(1)"],
        "outputs": [{"output_type": "stream", "name": "stdout", "text": ["shape (2, 3)\n"]}],
    }
    changed = json.loads(json.dumps(cell))
    changed["outputs"][0]["text"] = ["shape (2, 4)\n"]
    moved = json.loads(json.dumps(cell))
    moved["outputs"][0]["text"] = ["at 0x7f00aa11bb22\n"]
    other = json.loads(json.dumps(moved))
    other["outputs"][0]["text"] = ["at 0x7f00cc33dd44\n"]
    assert checked_outputs([cell]) != checked_outputs([changed])
    assert checked_outputs([moved]) == checked_outputs([other])  # addresses are sanitised
    unchecked = {**cell, "source": ["print(1)"]}
    assert checked_outputs([unchecked]) == {}


def test_an_executed_copy_with_myst_nbs_merged_first_stream_compares_equal():
    # what myst-nb writes: the first stdout stream holds every stdout stream, the rest remain
    def stream(text):
        return {"output_type": "stream", "name": "stdout", "text": [text]}

    committed = {"cell_type": "code", "source": [MARK], "outputs": [stream("a\n"), stream("b\n")]}
    executed = {**committed, "outputs": [stream("a\nb\n"), stream("b\n")]}
    assert checked_outputs([committed]) == checked_outputs([executed], executed=True)
    wrong = {**committed, "outputs": [stream("a\nc\n"), stream("c\n")]}
    assert checked_outputs([committed]) != checked_outputs([wrong], executed=True)


def test_a_print_split_into_chunks_reads_as_one_stream_and_a_changed_digit_still_differs():
    def stream(*texts):
        return [{"output_type": "stream", "name": "stdout", "text": t} for t in texts]

    def cell(outputs):
        return [{"cell_type": "code", "source": MARK + "\nprint(x)", "outputs": outputs}]

    one = checked_outputs(cell(stream("table\nall equal: True\n")))
    chunks = checked_outputs(cell(stream("table", "\nall equal: True\n")))
    other = checked_outputs(cell(stream("table", "\nall equal: False\n")))
    assert one == chunks and one != other
