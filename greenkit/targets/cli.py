"""``greenkit verify`` and ``greenkit check``: :data:`VERIFY` and :data:`CHECK` (see :mod:`greenkit.cli`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from types import SimpleNamespace

__all__ = ["VERIFY", "CHECK"]


def _verify(args: argparse.Namespace) -> int:
    from greenkit.targets.check import verify

    report = verify(args.folder, args.lab, targets=args.target or None,
                    verified_by=f"fresh process pid {os.getpid()} (python -m greenkit verify)")
    if args.json:
        Path(args.json).write_text(report.to_json())
    else:
        print(report)
    return 0 if report.passed else 1


def _check(args: argparse.Namespace) -> int:
    from greenkit.targets.check import check_notebook

    results = check_notebook(args.notebook, timeout_s=args.timeout)
    if not results:
        print(f"{args.notebook}: no cell calls check(..., lab=...); nothing to check.")
        return 2
    total = got = 0.0
    for call, report in results:
        print(report)
        if call.max_points is not None:
            pts = report.points(call.max_points)
            total += call.max_points
            got += pts
            print(f"cell {call.cell_index}: {pts:g} / {call.max_points:g} points")
        print()
    if total:
        print(f"Report card total: {got:g} / {total:g} points")
    return 0 if all(r.passed for _, r in results) else 1


def _verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="greenkit-submissions/<lab> folder")
    p.add_argument("--lab", help="lab name (default: the folder's name)")
    p.add_argument("--target", action="append", help="only this target id (repeatable)")
    p.add_argument("--json", help="write the report as JSON to this file instead of printing it")


def _check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook")
    p.add_argument("--timeout", type=float, default=600, help="seconds per cell and per check")


# the ``greenkit verify`` and ``greenkit check`` commands (registered in greenkit/cli.py)
VERIFY = SimpleNamespace(add_arguments=_verify_arguments, run=_verify)
CHECK = SimpleNamespace(add_arguments=_check_arguments, run=_check)
