"""seqbook.nbexec: a missed wake-up costs a short poll, not the caller's whole timeout."""

from __future__ import annotations

import asyncio
import time
from queue import Empty

import pytest

from seqbook import nbexec


def channel_class(arrives_after: float | None):
    """A channel whose poll misses the wake-up: it always waits its full timeout, then returns
    the message if it has arrived by then (pyzmq's final zero-time poll), else raises Empty."""

    class Missed:
        polls: list[float | None] = []

        def __init__(self):
            self.start = time.monotonic()

        async def get_msg(self, timeout=None):
            type(self).polls.append(timeout)
            await asyncio.sleep(3600 if timeout is None else timeout)
            if arrives_after is not None and time.monotonic() - self.start >= arrives_after:
                return {"msg_type": "execute_reply"}
            raise Empty

    return Missed


def timed(coro):
    t0 = time.monotonic()
    try:
        return asyncio.run(coro), time.monotonic() - t0
    except Empty:
        return Empty, time.monotonic() - t0


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_a_message_is_seen_within_a_slice_of_its_arrival(timeout):
    cls = channel_class(arrives_after=0.1)
    assert nbexec.install(cls)
    msg, took = timed(cls().get_msg(timeout=timeout))
    assert msg == {"msg_type": "execute_reply"}
    assert took < 0.1 + nbexec.SLICE_S + 0.2  # the unbounded wait would take 30 s or forever
    assert all(t is not None and t <= nbexec.SLICE_S for t in cls.polls)


@pytest.mark.parametrize("timeout", [0.0, 0.1, 0.6])
def test_the_callers_timeout_still_holds(timeout):
    cls = channel_class(arrives_after=None)
    nbexec.install(cls)
    result, took = timed(cls().get_msg(timeout=timeout))
    assert result is Empty
    assert timeout - 0.01 <= took < timeout + 0.2


def test_install_is_idempotent():
    cls = channel_class(arrives_after=0.0)
    assert nbexec.install(cls) is True
    wrapped = cls.get_msg
    assert nbexec.install(cls) is False
    assert cls.get_msg is wrapped


@pytest.mark.parametrize("bad", [-1.0, True])
def test_a_bad_timeout_is_refused(bad):
    cls = channel_class(arrives_after=0.0)
    nbexec.install(cls)
    with pytest.raises(ValueError, match="timeout must be None or seconds >= 0"):
        asyncio.run(cls().get_msg(timeout=bad))


def test_a_widget_notebook_runs_through_the_bounded_client():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from nbformat.v4 import new_code_cell, new_notebook

    nbexec.install()
    from jupyter_client.channels import AsyncZMQSocketChannel

    assert getattr(AsyncZMQSocketChannel.get_msg, nbexec._MARK)
    cells = [new_code_cell("import ipywidgets as w")]
    cells += [new_code_cell("w.interactive(lambda x: x, x=(0, 3))"), new_code_cell("print(6 * 7)")]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    t0 = time.monotonic()
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    assert nb.cells[2].outputs[0]["text"] == "42\n"
    assert any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in nb.cells[1].outputs
    )
    assert time.monotonic() - t0 < 55  # no cell waited out its timeout
    assert nbformat.validate(nb) is None
