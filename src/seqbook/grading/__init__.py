"""The course kit: the student build of the assignments and the sandboxed grader.

Command line (``python -m seqbook.grading --help``)::

    python -m seqbook.grading student OUT_DIR [NOTEBOOK ...]
    python -m seqbook.grading publish
    python -m seqbook.grading grade SUBMISSION.ipynb [--json OUT.json] [--unsafe-no-sandbox]
    python -m seqbook.grading grade-folder SUBMISSIONS_DIR GRADES_DIR

Modules: `seqbook.grading.build` (student build, the public copies), `seqbook.grading.core` (the
grader outside the sandbox and its report), `seqbook.grading.sandbox` (bubblewrap, limits, the
kill), `seqbook.grading.runner` (the only part inside the sandbox); how answers leave the sandbox is
`seqbook.checks.course.wire`, beside the probes that make them, so that no import of the checks
runs back up into this package. The names below are imported lazily, so that the sandbox, which
holds only the runner, the probes and the wire format, can import this package.
"""

from __future__ import annotations

_EXPORTS = {
    "GradeReport": "core",
    "TaskResult": "core",
    "format_report": "core",
    "grade": "core",
    "grade_folder": "core",
    "main": "core",
    "publish": "build",
    "student_build": "build",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'seqbook.grading' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"seqbook.grading.{_EXPORTS[name]}"), name)
