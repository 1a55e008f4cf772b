"""The instructor's experiments measured over many drawn instances, once, for the answer keys.

    python -m seqbook.grading experiments --out data/results/course_experiments.json

A grading run sees one instance; an answer key that says "the two heads cannot be told apart"
needs the spread over many. This command draws instances as the grader draws them (63-bit
seeds, here from a public sequence: `instance_seed(k)`), calls the instructor notebook's
training function on each through the task's probe (in this process: the instructor's code is
trusted), and records every key's held-out accuracy, the judge's verdict and the seconds. The
results file (`seqbook.provenance` format) is committed; the instructor notebooks and the guide
read it, and `tests/test_course_experiments.py` re-measures an instance from it.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import nbformat
import torch

from seqbook.checks.course import ASSIGNMENTS, inputs, judges, wire

REVIEW_TASKS = ("head_experiment", "fusion_experiment")
FIRST = 20_000  # instance k is drawn from instance_seed(k): a sequence no test uses


def instance_seed(k: int) -> int:
    """The grader-style 63-bit seed of instance k."""
    return random.Random(FIRST + k).getrandbits(inputs.SEED_BITS)


def instructor_namespace(notebook: Path) -> dict:
    """An instructor notebook's definitions, in order: imports, stubs and the solutions that
    replace them, helpers (every code cell that defines a function or class, or only imports;
    a measurement cell that also defines one needs the practice run's results and is left out,
    and so is the Colab set-up)."""
    nb = nbformat.read(notebook, as_version=4)
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or "colab-setup" in cell.metadata.get("tags", []):
            continue
        lines = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")]
        defines = any(ln.startswith(("def ", "class ")) for ln in lines)
        imports_only = lines and all(ln.startswith(("import ", "from ")) for ln in lines)
        if defines or imports_only:
            try:
                exec(compile(cell.source, f"{notebook.name}:cell", "exec"), namespace)  # noqa: S102
            except NameError:
                if "solution" in cell.metadata.get("tags", []) and "def train" in cell.source:
                    raise
    return namespace


def _assignment_of(task_id: str) -> str:
    for a in ASSIGNMENTS.values():
        if any(t.id == task_id and t.experiment for t in a.tasks):
            return a.id
    raise ValueError(f"task_ids must name experiments, got {task_id!r}")


def measure(task_id: str, train, k: int) -> dict:
    """One row: the instructor's `train` on instance k of `task_id`, probed and judged."""
    seed = instance_seed(k)
    drawn = inputs.draw(task_id, seed)
    start = time.perf_counter()
    answer = wire.decode(wire.encode(inputs.probe(task_id, train, drawn.public)))
    seconds = time.perf_counter() - start
    labels = drawn.secret["y_eval"]
    accuracy = {key: round(judges.accuracy(value, labels, key), 4) for key, value in answer.items()}
    report = judges.judge(task_id, answer, drawn.public, drawn.secret)
    return {
        "task": task_id,
        "instance": k,
        "seed": str(seed),
        "held_out": len(labels),
        "accuracy": accuracy,
        "passed": report.ok,
        "seconds": round(seconds, 1),
    }


def run(course: Path, task_ids: tuple[str, ...], instances: int, out: Path) -> dict:
    """Measure every task on instances 0..instances-1 and write the results file `out`."""
    from seqbook.provenance import git_commit, hardware, new_results, write_results

    if instances < 1:
        raise ValueError(f"instances must be at least 1, got {instances}")
    trains = {}
    for task_id in task_ids:
        name = _assignment_of(task_id)
        target = next(t.target for t in ASSIGNMENTS[name].tasks if t.id == task_id)
        trains[task_id] = instructor_namespace(course / "instructor" / f"{name}.ipynb")[target]
    torch.set_num_threads(1)
    rows = []
    start = time.perf_counter()
    for k in range(instances):  # instance-major: a4 and a5 share an instance's encoding
        for task_id in task_ids:
            rows.append(measure(task_id, trains[task_id], k))
            print(rows[-1], flush=True)
    provenance = {
        "command": f"python -m seqbook.grading experiments --instances {instances} "
        f"--tasks {' '.join(task_ids)} --out {out.as_posix()}",
        "commit": git_commit(),
        "hardware": hardware(),
        "seconds": round(time.perf_counter() - start, 1),
        "instances": f"seqbook.grading.study.instance_seed(k), k = 0..{instances - 1}",
    }
    data = new_results(provenance, rows)
    write_results(out, data)
    return data


def summary(data: dict, task_id: str) -> dict[str, dict[str, float]]:
    """Per key of `task_id`: the mean, lowest and highest held-out accuracy over the file's
    instances, and how many instances passed."""
    rows = [r for r in data["rows"] if r["task"] == task_id]
    if not rows:
        raise ValueError(f"the results hold no row of {task_id!r}")
    keys = inputs.EXPERIMENT_KEYS[task_id]
    out: dict[str, dict[str, float]] = {}
    for key in keys:
        values = [r["accuracy"][key] for r in rows]
        out[key] = {
            "mean": sum(values) / len(values),
            "low": min(values),
            "high": max(values),
        }
    out["_"] = {"instances": len(rows), "passed": sum(r["passed"] for r in rows)}
    return out


def difference(data: dict, task_id: str, a: str, b: str) -> dict[str, float]:
    """Accuracy of classifier `a` minus classifier `b`, instance by instance: the mean, the
    standard deviation across instances, the standard error of the mean, and on how many
    instances `a` was ahead (the instances draw from one pool of snippets, so they are not
    independent: the standard error is a lower bound)."""
    rows = [r for r in data["rows"] if r["task"] == task_id]
    if len(rows) < 2:
        raise ValueError(f"the results hold {len(rows)} row(s) of {task_id!r}, need at least 2")
    gaps = [r["accuracy"][a] - r["accuracy"][b] for r in rows]
    mean = sum(gaps) / len(gaps)
    sd = (sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1)) ** 0.5
    return {
        "mean": mean,
        "sd": sd,
        "se": sd / len(gaps) ** 0.5,
        "ahead": sum(g > 0 for g in gaps),
        "instances": len(gaps),
    }
