"""The part of the grader that runs inside the sandbox, next to the student's code.

    python -m seqbook.grading.runner PLAN.json CHANNEL

It executes the submission's code cells one by one in an IPython shell (magics work, no kernel,
no network), each under a per-cell alarm, and after the cell that finishes a task it calls the
task's probe on the object the student defined, with the instance's public part that the grader
drew outside (the plan holds no seed, no label and no reference), and sends the serialised answer
down `CHANNEL` (a pipe the grader reads). It decides nothing: everything it writes is treated by
the grader as untrusted data (the student's code runs in this same interpreter and could
overwrite any of it), and the judges that score it run outside the sandbox. Standard library,
IPython, the probes and the wire format only; nothing here knows an answer.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys


class CellTimeout(BaseException):  # noqa: N818 - shown to students as the reason a cell stopped
    """Raised by the per-cell alarm (a BaseException, so `except Exception` does not swallow it)."""


def _alarm(signum, frame):
    raise CellTimeout("the cell ran past its time limit")


def _blocked(name: str):
    def refuse(*args, **kwargs):
        raise RuntimeError(f"{name} does this task's whole job and is not available in grading")

    refuse.__name__ = name.rsplit(".", 1)[1]
    return refuse


def block(names: list[str]) -> None:
    """Replace each dotted callable, wherever a loaded module holds it, by one that raises (a
    name this environment's libraries lack needs no blocking)."""
    for name in names:
        module_name, attr = name.rsplit(".", 1)
        try:
            original = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            continue
        stand_in = _blocked(name)
        for module in list(sys.modules.values()):
            for key, value in list(getattr(module, "__dict__", {}).items()):
                if value is original:
                    setattr(module, key, stand_in)


class Channel:
    """The pipe to the grader: one JSON record per line."""

    def __init__(self, path: str):
        # an inherited pipe ("/dev/fd/N") is used as the descriptor it is: reopening it by
        # name checks the pipe's owner, the grader, against the sandbox's unprivileged user
        fd = path.removeprefix("/dev/fd/")
        if fd.isdigit():
            self.file = os.fdopen(int(fd), "wb", buffering=0)
        else:
            self.file = open(path, "wb", buffering=0)  # noqa: SIM115 - open for the whole run

    def send(self, record: dict) -> None:
        self.file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")

    def send_raw(self, text: str) -> None:
        self.file.write(text.encode() + b"\n")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _grader_side(exc: BaseException) -> bool:
    """True when every frame `exc` passed through is the grader's own code (this package) or an
    installed library: no line of the submission ran, so the failure is the grader's (an input
    generator or a probe), not the student's. The submission's cells, and any file it wrote,
    live elsewhere. (A submission can fake this record; a grader error never scores points, it
    only makes the grader draw a new seed and grade again.)"""
    import sysconfig
    import traceback

    from seqbook.checks.course import wire

    if isinstance(exc, wire.WireError):  # the answer itself is too large or of no known type
        return False
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../seqbook
    paths = sysconfig.get_paths()
    roots = [package] + [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    roots = [os.path.abspath(r) + os.sep for r in roots]
    for frame in traceback.extract_tb(exc.__traceback__):
        name = frame.filename
        if name.startswith("<frozen "):
            continue
        if not any(os.path.abspath(name).startswith(r) for r in roots):
            return False
    return True


def harness(shell, task: dict, timeout: float, channel: Channel) -> None:
    """Probe one task and write its answer (or why there is none)."""
    from seqbook.checks.course import inputs, wire

    try:
        public = wire.decode(task["public"])  # the grader's own plan: its failure is the grader's
    except Exception as e:  # noqa: BLE001
        channel.send({"task": task["id"], "grader_error": _describe(e)})
        return
    if task["target"] not in shell.user_ns:
        text = json.dumps({"task": task["id"], "missing": task["target"]})
    else:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            value = inputs.probe(task["id"], shell.user_ns[task["target"]], public)
            text = json.dumps({"task": task["id"]})[:-1] + ',"answer":' + wire.encode(value) + "}"
        except CellTimeout:
            text = json.dumps({"task": task["id"], "error": "the probe ran past its time limit"})
        except BaseException as e:  # noqa: BLE001 - whatever the student's object does
            kind = "grader_error" if _grader_side(e) else "error"
            text = json.dumps({"task": task["id"], kind: _describe(e)})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    channel.send_raw(text)


def main(plan_path: str, channel_path: str) -> None:
    channel = Channel(channel_path)
    with open(plan_path, encoding="utf-8") as f:
        plan = json.load(f)
    os.environ["SEQBOOK_GRADING"] = "1"  # the notebook's self-checks step aside
    signal.signal(signal.SIGALRM, _alarm)
    block(plan["blocked"])

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    tasks = {t["id"]: t for t in plan["tasks"]}
    timeout = float(plan["cell_timeout"])
    for index, source in enumerate(plan["cells"]):
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            result = shell.run_cell(source, store_history=True)
            error = result.error_before_exec or result.error_in_exec
        except CellTimeout as e:  # raised outside the user code, e.g. while compiling
            error = e
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        status = "timeout" if isinstance(error, CellTimeout) else "error" if error else "ok"
        channel.send({"cell": index, "status": status, "error": error and _describe(error)})
        for task_id in plan["positions"].get(str(index), []):
            harness(shell, tasks[task_id], timeout, channel)
    channel.send({"done": True})
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no atexit hooks of the student's


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
