"""seqbook.benchmark: interleaved timings with their spread, bytes saved for backward."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from seqbook.benchmark import Timing, saved_bytes, time_interleaved


def test_time_interleaved_orders_known_durations_and_reports_quartiles():
    calls = {"short": 0, "long": 0}

    def sleeper(name, seconds):
        def run():
            calls[name] += 1
            time.sleep(seconds)

        return run

    t = time_interleaved(
        {"short": sleeper("short", 0.002), "long": sleeper("long", 0.012)}, repeats=5, warmup=2
    )
    assert calls == {"short": 7, "long": 7}  # warm-up rounds plus timed rounds, each in turn
    for timing in t.values():
        assert timing.q1 <= timing.median <= timing.q3 and timing.repeats == 5
    assert t["short"].median >= 0.002 and t["long"].median >= 0.012
    assert t["short"].median < t["long"].median
    assert not t["short"].overlaps(t["long"])


def test_timing_overlap_and_text():
    a, b = Timing(0.010, 0.009, 0.012, 5), Timing(0.011, 0.0105, 0.013, 5)
    assert a.overlaps(b) and b.overlaps(a)
    assert not a.overlaps(Timing(0.02, 0.019, 0.021, 5))
    assert str(a) == "10.0 ms [9.0, 12.0]"


def test_time_interleaved_rejects_bad_arguments():
    with pytest.raises(ValueError, match="candidates must be a non-empty dict"):
        time_interleaved({})
    with pytest.raises(TypeError, match=r"candidates\['x'\] must be callable"):
        time_interleaved({"x": 3})
    with pytest.raises(ValueError, match="repeats must be an int >= 3"):
        time_interleaved({"x": lambda: None}, repeats=2)
    with pytest.raises(ValueError, match="warmup must be a non-negative int"):
        time_interleaved({"x": lambda: None}, warmup=-1)


def test_saved_bytes_counts_what_autograd_keeps():
    x = torch.randn(10, 7)
    assert saved_bytes(torch.exp, x) == 10 * 7 * 4  # exp keeps its result
    assert saved_bytes(lambda t: t + 1, x) == 0  # an addition keeps nothing
    w = torch.nn.Parameter(torch.randn(7))
    assert saved_bytes(lambda t: t * w, x) == 10 * 7 * 4 + 7 * 4  # both factors
    assert saved_bytes(lambda t: t * w, x, exclude=[w]) == 10 * 7 * 4  # activations only


def test_saved_bytes_passes_integer_inputs_through():
    table = torch.nn.Embedding(11, 3)
    ids = torch.tensor([[1, 2, 3]])
    saved = saved_bytes(lambda i: table(i).exp(), ids, exclude=table.parameters())
    assert saved == 3 * 3 * 4 + 3 * 8  # exp keeps its float32 result, the lookup its int64 ids


def test_time_interleaved_accepts_a_numpy_integer_count():
    timings = time_interleaved({"nothing": lambda: None}, repeats=np.int64(3), warmup=np.int64(0))
    assert timings["nothing"].repeats == 3


def test_saved_bytes_refuses_a_list_of_inputs_and_a_callable_that_is_not_one():
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a tensor, got list"):
        saved_bytes(lambda x: x * 2, [torch.ones(2)])
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        saved_bytes(3, torch.ones(2))
