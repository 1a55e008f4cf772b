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


def checked_outputs(cells: list[dict]) -> dict[int, list[str]]:
    """For every checked code cell (by index), its text outputs, sanitised, in order."""
    rules = sanitizers()
    out = {}
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code" or not "".join(cell["source"]).startswith(MARK):
            continue
        texts = []
        for o in cell.get("outputs", []):
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
        out[i] = ["".join(texts)]  # streams may be split differently between runs: join them
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
    built = checked_outputs(json.loads(copy.read_text())["cells"])
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
