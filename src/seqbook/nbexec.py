"""Executing notebooks on a busy machine: a bounded wait for the kernel's messages.

nbclient (under myst-nb's build, the instructor's ``publish`` and the Colab simulation) waits for
each cell's reply with one long ``get_msg(timeout=cell_timeout)`` on an asyncio ZeroMQ socket.
pyzmq wakes that wait from the socket's file descriptor, which is edge-triggered; when the
wake-up is missed (we see it after cells that display widgets, and far more often when other
processes compete for the CPU), the reply sits in the socket until the timeout fires, and pyzmq's
final zero-time poll then finds it. The cell is not failed, only held back for the whole cell
timeout: chapter 3 took 315 s under load, 300 s of it one such wait (nbclient issue 312).

`install` makes every such wait a series of short polls, so a missed wake-up costs at most
`SLICE_S` seconds. A message is still returned as soon as a poll sees it, and the caller's timeout
is still honoured: `Empty` is raised once the deadline has passed, as before.
"""

from __future__ import annotations

import functools
import time
from queue import Empty

SLICE_S = 0.25  # longest single wait; a missed wake-up costs at most this much
_MARK = "_seqbook_bounded"


def bounded(get_msg):
    """Wrap an async ``get_msg(self, timeout=None)`` so no single wait exceeds `SLICE_S`."""

    @functools.wraps(get_msg)
    async def wrapper(self, timeout: float | None = None):
        if timeout is not None and (isinstance(timeout, bool) or timeout < 0):
            raise ValueError(f"timeout must be None or seconds >= 0, got {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = SLICE_S if remaining is None else min(SLICE_S, remaining)
            try:
                return await get_msg(self, timeout=step)
            except Empty:
                if remaining is not None and remaining <= step:
                    raise

    setattr(wrapper, _MARK, True)
    return wrapper


def install(channel_class=None) -> bool:
    """Bound the waits of jupyter_client's asyncio channel (or `channel_class`); True if changed.

    Idempotent: a second call leaves the class as it is.
    """
    if channel_class is None:
        from jupyter_client.channels import AsyncZMQSocketChannel as channel_class
    if getattr(channel_class.get_msg, _MARK, False):
        return False
    channel_class.get_msg = bounded(channel_class.get_msg)
    return True
