"""seqbook.cache: digests that change with what produced a value, writes that cannot be torn."""

import dataclasses
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from seqbook import cache


@dataclasses.dataclass
class Settings:
    steps: int = 10
    lr: float = 1e-3
    task: str = "sop"


def test_digest_is_stable_and_changes_with_any_setting():
    base = cache.digest(Settings())
    assert base == cache.digest(Settings()) and len(base) == 16
    assert cache.digest({"b": 1, "a": 2}) == cache.digest({"a": 2, "b": 1})  # key order
    changed = {cache.digest(Settings(steps=11)), cache.digest(Settings(lr=2e-3))}
    changed.add(cache.digest(Settings(task="nsp")))
    assert base not in changed and len(changed) == 3
    # the same values in another dataclass type are another key
    other = dataclasses.make_dataclass(
        "Other", [("steps", int, 10), ("lr", float, 1e-3), ("task", str, "sop")]
    )
    assert cache.digest(other()) != base


def test_digest_rejects_what_it_cannot_canonicalise():
    with pytest.raises(TypeError, match="digest takes .* got Tensor"):
        cache.digest({"w": torch.ones(2)})


def test_atomic_write_replaces_whole_and_an_error_keeps_the_old_file(tmp_path):
    path = tmp_path / "results.json"
    cache.write_json(path, {"v": 1})
    with pytest.raises(RuntimeError), cache.atomic_path(path) as tmp:
        tmp.write_text('{"v": 2, "half')
        raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left behind


def _write_slowly(path: str) -> None:
    with cache.atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write('{"v": 2, ')
        f.flush()
        time.sleep(60)  # killed here
        f.write("}")


def test_a_killed_writer_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "metrics.json"
    cache.write_json(path, {"v": 1})
    proc = multiprocessing.get_context("fork").Process(target=_write_slowly, args=(str(path),))
    proc.start()
    deadline = time.time() + 20
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert cache.read_json(path) == {"v": 1}


def test_a_torn_file_raises_an_error_naming_it(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"v": 1, ')
    with pytest.raises(ValueError, match=r"metrics.json is not valid JSON.*delete it and rerun"):
        cache.read_json(path)
    ckpt = tmp_path / "ckpt.pt"
    cache.torch_save({"w": torch.arange(1000.0)}, ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"ckpt.pt could not be read.*delete it and rerun"):
        cache.torch_load(ckpt)


class Counter:
    """compute/load stand-ins that count their calls."""

    def __init__(self):
        self.computed = self.loaded = 0

    def compute(self, folder: Path) -> str:
        self.computed += 1
        (folder / "value.txt").write_text("made")
        return "made"

    def load(self, folder: Path) -> str:
        self.loaded += 1
        return (folder / "value.txt").read_text()


def test_a_value_is_computed_once_then_loaded(tmp_path):
    c = Counter()
    folder = tmp_path / "v"
    assert cache.load_or_compute(folder, {"n": 1}, c.compute, c.load) == ("made", False)
    assert cache.load_or_compute(folder, {"n": 1}, c.compute, c.load) == ("made", True)
    assert (c.computed, c.loaded) == (1, 1)
    assert cache.cache_state(folder, {"n": 1}) == "complete"


def test_an_owned_folder_of_another_key_is_recomputed_and_a_named_one_refused(tmp_path):
    c = Counter()
    folder = tmp_path / "v"
    cache.load_or_compute(folder, {"n": 1}, c.compute, c.load)
    (folder / "stale.bin").write_text("from the other run")
    assert cache.load_or_compute(folder, {"n": 2}, c.compute, c.load, owned=True)[1] is False
    assert not (folder / "stale.bin").exists() and c.computed == 2  # emptied, then recomputed
    with pytest.raises(ValueError, match=r"holds a result made from other settings.*\{'n': 2\}"):
        cache.load_or_compute(folder, {"n": 3}, c.compute, c.load, owned=False)
    assert (folder / "value.txt").is_file() and c.computed == 2  # refused: nothing touched


def test_a_folder_made_by_anything_else_is_never_served(tmp_path):
    c = Counter()
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "value.txt").write_text("written by hand")
    assert cache.cache_state(folder, {"n": 1}) == "foreign"
    with pytest.raises(ValueError, match=r"it has no CACHE.json"):
        cache.load_or_compute(folder, {"n": 1}, c.compute, c.load, owned=False)
    assert cache.load_or_compute(folder, {"n": 1}, c.compute, c.load) == ("made", False)


def test_an_interrupted_computation_is_resumed_not_served(tmp_path):
    c = Counter()
    folder = tmp_path / "v"

    def dies(folder: Path) -> str:
        (folder / "checkpoint").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.load_or_compute(folder, {"n": 1}, dies, c.load)
    assert cache.cache_state(folder, {"n": 1}) == "started"

    def resumes(folder: Path) -> str:
        assert (folder / "checkpoint").read_text() == "half"  # what the first call left
        return c.compute(folder)

    assert cache.load_or_compute(folder, {"n": 1}, resumes, c.load, owned=False) == ("made", False)


def test_temporaries_a_killed_write_left_are_removed_before_computing(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / ".value.txt.abc123.tmp").write_text("torn")
    assert cache.cache_state(folder, {"n": 1}) == "missing"  # leftovers alone are no content
    c = Counter()
    cache.load_or_compute(folder, {"n": 1}, c.compute, c.load)
    assert sorted(p.name for p in folder.iterdir()) == ["CACHE.json", "value.txt"]


def test_file_digest_is_sha256(tmp_path):
    import hashlib

    p = Path(tmp_path / "x.bin")
    p.write_bytes(b"abc" * 1000)
    assert cache.file_digest(p) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_the_report_lists_what_was_computed_with_its_seconds(tmp_path, capsys):
    def slow(folder):
        time.sleep(0.05)
        (folder / "value.txt").write_text("x")
        return "x"

    key = {"settings": {"name": "LSTM on GloVe", "seed": 3}, "revision": 1}
    cache.load_or_compute(tmp_path / "lstm" / "a", key, slow, lambda f: "x")
    cache.load_or_compute(tmp_path / "glove" / "b", {"glove files": "abc"}, slow, lambda f: "x")
    cache.write_json(tmp_path / "lstm" / "c" / cache.MARKER, {"key": "k", "complete": False})
    rows = cache.report(tmp_path)
    assert [r["kind"] for r in rows[:2]] == ["lstm", "glove"]  # oldest first
    assert rows[0]["label"] == "name=LSTM on GloVe, seed=3"
    assert rows[1]["label"] == "glove files"
    assert all(r["complete"] and r["seconds"] >= 0.05 for r in rows[:2])
    assert not rows[2]["complete"] and rows[2]["seconds"] is None
    assert cache.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"3 cached values under {tmp_path}")
    assert "interrupted  lstm" in out and "lstm: name=LSTM on GloVe, seed=3" in out


def test_the_report_refuses_what_is_not_a_marker(tmp_path):
    cache.write_json(tmp_path / "x" / "y" / cache.MARKER, [1, 2])
    with pytest.raises(ValueError, match="is not a cache marker"):
        cache.report(tmp_path)
    with pytest.raises(SystemExit):
        cache.main([str(tmp_path / "missing")])
