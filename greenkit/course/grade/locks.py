"""One node, two kinds of work: notebooks execute side by side; an energy verification runs alone.

:func:`node_lock` is a writer-preferring reader/writer lock between the processes of one machine
(``fcntl`` locks on files in ``$GREENKIT_GRADE_LOCKS``, default the system's temp folder):

- executing a notebook takes it *shared*: any number of workers execute at once;
- verifying a report card with energy or latency targets takes it *exclusive*: it waits for the
  notebooks running now to finish, no new one starts meanwhile (a turnstile stops them), and the
  paired energy comparison is measured on a quiet node.

A Dask cluster spread over several machines gets one such lock per machine: nodes verify in
parallel, each alone on itself.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["node_lock", "lock_dir"]


def lock_dir() -> Path:
    d = Path(os.environ.get("GREENKIT_GRADE_LOCKS") or tempfile.gettempdir())
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def node_lock(exclusive: bool):
    """Hold the node lock shared (execute a notebook) or exclusive (verify energy) for the block."""
    try:
        import fcntl
    except ImportError:  # Windows: no node-wide lock (and no sandbox either); say nothing, grade
        yield
        return
    d = lock_dir()
    with open(d / "greenkit-grade.turnstile", "a+") as turn, open(d / "greenkit-grade.node", "a+") as node:
        fcntl.flock(turn, fcntl.LOCK_EX)          # writers queue here; readers pass through
        if exclusive:
            fcntl.flock(node, fcntl.LOCK_EX)      # wait for running notebooks; hold the turnstile meanwhile
            fcntl.flock(turn, fcntl.LOCK_UN)
        else:
            fcntl.flock(turn, fcntl.LOCK_UN)
            fcntl.flock(node, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(node, fcntl.LOCK_UN)
