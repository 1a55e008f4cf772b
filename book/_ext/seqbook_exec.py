"""Sphinx extension: notebook execution that a busy machine slows but does not stall.

myst-nb executes each notebook in the Sphinx process through nbclient; `seqbook.nbexec.install`
bounds nbclient's waits for kernel messages so that a missed ZeroMQ wake-up (seen after widget
cells, often under load) costs a quarter of a second instead of the whole cell timeout.
"""

from __future__ import annotations

from sphinx.application import Sphinx

from seqbook import nbexec


def setup(app: Sphinx) -> dict:
    nbexec.install()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
