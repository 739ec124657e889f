"""Reading and running lab notebooks (tests and benchmarks use these)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat

from greenkit.course import layout

__all__ = ["cell_sources", "execute_notebook", "machine_load", "grade_id"]


def grade_id(cell) -> str | None:
    """The nbgrader ``grade_id`` of a cell, or None (nbgrader has ``is_grade``-style helpers for the
    flags, not for the id; this is the one place that reads it)."""
    return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")


def cell_sources(lab: str, root: Path | None = None) -> dict[str, str]:
    """``grade_id -> source`` of the code cells of ``root/LAB/LAB.ipynb`` (default: solutions/).

    Tests and benchmarks exec these to reach a lab's functions without running the notebook.
    """
    root = layout.SOLUTIONS if root is None else Path(root)
    nb = nbformat.read(root / lab / f"{lab}.ipynb", as_version=4)
    return {grade_id(c): c.source for c in nb.cells if c.cell_type == "code" and grade_id(c)}


def execute_notebook(path: Path | str, timeout_s: int = 900, allow_errors: bool = False,
                     nb: nbformat.NotebookNode | None = None) -> float:
    """Execute a notebook top to bottom in a temporary copy of its folder; return wall seconds.

    Pass ``nb`` (the notebook read from ``path``) to keep its outputs: it is executed in place.

    Raises ``nbclient.exceptions.CellExecutionError`` on the first failing cell
    (unless ``allow_errors``) and ``CellTimeoutError`` when a cell exceeds ``timeout_s``.
    """
    import time

    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4) if nb is None else nb
    with tempfile.TemporaryDirectory(prefix=f"run-{path.stem}-") as tmp:
        shutil.copytree(path.parent, tmp, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "greenkit-submissions"))
        client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3", allow_errors=allow_errors,
                                resources={"metadata": {"path": tmp}})
        t0 = time.perf_counter()
        client.execute()
        return time.perf_counter() - t0


def machine_load() -> str:
    """The load average and core count, to print beside every timing."""
    try:
        loads = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # Windows
        loads = "n/a"
    return f"load average {loads} on {os.cpu_count()} CPUs"


