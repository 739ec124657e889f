"""What every benchmark script shares: its arguments, its header and running the solution notebook.

    from _common import load, parse_args, run_solution_notebook   # benchmarks/ is sys.path[0]

    args = parse_args(__doc__, argv)          # --no-notebook (alias --skip-notebook), --seeds 0 1 2
    print(header())                            # torch, threads, python, machine, load average
    if not args.no_notebook:
        wall, nb = run_solution_notebook(LAB)  # prints start/end lines with the budget verdict and load

Timings on a shared machine mean little without the load beside them: :func:`load` is
printed with every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import nbformat

from greenkit.course.layout import course_root
from greenkit.course.notebooks import execute_notebook, machine_load

__all__ = ["ROOT", "BUDGET_S", "load", "header", "parse_args", "solution_notebook", "run_solution_notebook"]

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 150.0  # LABS.md: the solution notebook runs end to end within this on a 2-core CPU


def load() -> str:
    """Load average, cores and the OpenMP wait policy in force (spinning threads skew timings)."""
    return f"{machine_load()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}"


def header() -> str:
    """One line: torch version and threads, Python, machine, load."""
    import torch

    return (f"torch {torch.__version__}, {torch.get_num_threads()} threads, Python {platform.python_version()}, "
            f"{platform.machine()} {platform.processor() or ''}".rstrip() + f"; {load()}")


def parse_args(doc: str | None, argv: list[str] | None = None, *, seeds: list[int] | None = (0, 1, 2),
               extra=None) -> argparse.Namespace:
    """The common arguments: ``--no-notebook`` (``--skip-notebook`` kept as an alias) and ``--seeds``.

    ``seeds=None`` leaves ``--seeds`` out; ``extra(parser)`` adds a script's own arguments.
    """
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    parser.add_argument("--no-notebook", "--skip-notebook", dest="no_notebook", action="store_true",
                        help="skip executing the whole solution notebook")
    if seeds is not None:
        parser.add_argument("--seeds", type=int, nargs="+", default=list(seeds))
    if extra is not None:
        extra(parser)
    return parser.parse_args(argv)


def solution_notebook(lab: str) -> Path:
    return course_root() / "solutions" / lab / f"{lab}.ipynb"


def run_solution_notebook(lab: str, timeout_s: int = 900, budget_s: float = BUDGET_S
                          ) -> tuple[float, nbformat.NotebookNode]:
    """Execute ``solutions/LAB/LAB.ipynb`` (a copy, in a temporary folder); print its wall time against
    the budget with the load before and after; return ``(seconds, the executed notebook)``."""
    path = solution_notebook(lab)
    print(f"[notebook] executing {path.relative_to(course_root())} ({load()}) ...", flush=True)
    nb = nbformat.read(path, as_version=4)
    wall = execute_notebook(path, timeout_s, nb=nb)
    verdict = "inside" if wall <= budget_s else "OVER"
    print(f"[notebook] {wall:.1f} s end to end, {verdict} the {budget_s:.0f} s budget ({load()})", flush=True)
    return wall, nb
