import random

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
    assert runtime.configure_threads(work="stepwise") == 1 == torch.get_num_threads()
    expected = min(runtime.available_cpus(), runtime.MAX_THREADS)
    assert runtime.configure_threads() == expected == torch.get_num_threads()
    assert runtime.configure_threads(3) == 3 == torch.get_num_threads()
    monkeypatch.setenv(runtime.THREADS_ENV, "2")
    assert runtime.configure_threads(work="stepwise") == 2


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
