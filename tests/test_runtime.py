import random
import time

import numpy as np
import pytest
import torch

from seqbook import runtime


def draws():
    legacy_numpy = np.random.rand()  # noqa: NPY002 - seeding the global state is the point
    return random.random(), legacy_numpy, torch.rand(3).tolist()


def test_seed_everything_reproduces_python_numpy_and_torch_draws():
    assert runtime.seed_everything(7) is None  # nothing for a notebook cell to echo
    first = draws()
    runtime.seed_everything(7)
    assert draws() == first
    runtime.seed_everything(8)
    assert draws() != first


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        runtime.seed_everything(bad)


def test_profile_defaults_to_fast_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv(runtime.PROFILE_ENV, raising=False)
    assert runtime.profile().name == "fast"
    monkeypatch.setenv(runtime.PROFILE_ENV, "FULL")
    assert runtime.profile().name == "full"
    assert runtime.profile().train_subset is None  # full = the whole split


def test_profile_rejects_unknown_names(monkeypatch):
    monkeypatch.setenv(runtime.PROFILE_ENV, "huge")
    with pytest.raises(ValueError, match=r"profile must be one of \['fast', 'full'\].*'huge'"):
        runtime.profile()


def test_the_fast_profile_is_nowhere_larger_than_the_full_one():
    """Profiles change sizes, never code paths: every size of "fast" (an int; None = all of it)
    is at most that of "full", and the two that set the cost are strictly smaller."""
    fast, full = (runtime.profile_sizes(runtime.PROFILES[n]) for n in ("fast", "full"))
    sizes = [k for k, v in full.items() if isinstance(v, int | None) and not isinstance(v, bool)]
    assert sizes, "no sizes to compare"
    for key in sizes:
        small, large = fast[key], full[key]
        assert large is None or (small is not None and small <= large), (key, small, large)
    assert fast["max_len"] < full["max_len"] and fast["albert_hidden"] < full["albert_hidden"]


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu"), (True, False, "cuda")],
)
def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert runtime.get_device() == torch.device(expected)


def test_environment_stamp_names_versions_device_and_profile():
    stamp = runtime.environment_stamp()
    assert f"torch {torch.__version__}" in stamp
    assert f"profile {runtime.profile().name}" in stamp
    assert f"device {runtime.get_device().type}" in stamp


@pytest.mark.cuda
def test_get_device_prefers_cuda():
    assert runtime.get_device().type == "cuda"


def test_configure_threads_follows_the_work_and_the_environment(monkeypatch):
    monkeypatch.delenv(runtime.THREADS_ENV, raising=False)
    monkeypatch.setattr(runtime, "idle_cpus", lambda: None)  # an OS that does not say
    assert runtime.configure_threads(work="stepwise") == 1 == torch.get_num_threads()
    expected = min(runtime.available_cpus(), runtime.MAX_THREADS)
    assert runtime.configure_threads() == expected == torch.get_num_threads()
    assert runtime.configure_threads(3) == 3 == torch.get_num_threads()
    monkeypatch.setenv(runtime.THREADS_ENV, "2")
    assert runtime.configure_threads(work="stepwise") == 2


@pytest.mark.parametrize(
    "idle, expected", [(0.0, 1), (0.04, 1), (0.6, 1), (1.4, 1), (1.6, 2), (2.0, 2), (40.0, 8)]
)
def test_batched_work_gets_one_thread_per_idle_core(monkeypatch, idle, expected):
    monkeypatch.delenv(runtime.THREADS_ENV, raising=False)
    monkeypatch.setattr(runtime, "idle_cpus", lambda: idle)
    assert runtime.configure_threads() == expected == torch.get_num_threads()
    assert runtime.configure_threads(work="stepwise") == 1


def test_idle_cpus_reads_the_share_of_idle_time(monkeypatch):
    # (idle + iowait, total) jiffies before and after: 150 of 400 idle on a 4-CPU machine
    samples = iter([(1000.0, 5000.0), (1150.0, 5400.0)])
    monkeypatch.setattr(runtime, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(runtime, "available_cpus", lambda: 4)
    assert runtime.idle_cpus(0.01) == pytest.approx(1.5)
    samples = iter([(1000.0, 5000.0), (1400.0, 5400.0)])  # all idle, but only 2 cores allowed
    monkeypatch.setattr(runtime, "available_cpus", lambda: 2)
    assert runtime.idle_cpus(0.01) == 2.0
    monkeypatch.setattr(runtime, "_cpu_times", lambda: None)
    assert runtime.idle_cpus(0.01) is None


@pytest.mark.parametrize("bad", [0, -0.1, True, "0.2"])
def test_idle_cpus_rejects_a_bad_sample(bad):
    with pytest.raises(ValueError, match="sample_s must be a positive number of seconds"):
        runtime.idle_cpus(bad)


def test_a_busy_machine_gets_one_batched_thread(monkeypatch):
    """Real load: one CPU-bound process per core leaves no core idle."""
    import subprocess
    import sys

    if runtime._cpu_times() is None:
        pytest.skip("this OS does not report CPU times")
    monkeypatch.delenv(runtime.THREADS_ENV, raising=False)
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(runtime.available_cpus())
    ]
    try:
        time.sleep(0.5)
        assert runtime.idle_cpus() < 0.5
        assert runtime.configure_threads() == 1
    finally:
        for p in burners:
            p.kill()
            p.wait()


@pytest.mark.parametrize(
    "kwargs, env, match",
    [
        ({"n": 0}, None, "n must be a positive int"),
        ({"work": "gpu"}, None, "work must be 'batched' or 'stepwise'"),
        ({}, "two", r"\$SEQBOOK_THREADS must be a positive integer, got 'two'"),
        ({}, "0", r"\$SEQBOOK_THREADS must be a positive integer"),
    ],
)
def test_configure_threads_rejects_bad_counts(monkeypatch, kwargs, env, match):
    monkeypatch.delenv(runtime.THREADS_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(runtime.THREADS_ENV, env)
    with pytest.raises(ValueError, match=match):
        runtime.configure_threads(**kwargs)


def test_environment_stamp_names_the_thread_count():
    torch.set_num_threads(1)
    assert "threads 1 " in runtime.environment_stamp()


def test_numpy_integers_are_accepted_as_seeds_and_thread_counts():
    runtime.seed_everything(np.int64(7))
    first = draws()
    runtime.seed_everything(7)
    assert draws() == first
    threads = torch.get_num_threads()
    try:
        assert runtime.configure_threads(np.int64(1)) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_profile_refuses_a_name_that_is_not_a_str():
    with pytest.raises(TypeError, match="profile name must be a str such as 'fast', got int"):
        runtime.profile(3)
