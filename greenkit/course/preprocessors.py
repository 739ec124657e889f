"""nbgrader preprocessors: the binding greenkit verdict comes from outside the student's kernel.

Add to ``nbgrader_config.py`` (order matters, see the comments)::

    from greenkit.course.preprocessors import ClearGreenkitSubmissions, VerifyGreenkitTargets
    c.Autograde.autograde_preprocessors = [
        ClearGreenkitSubmissions,   # before Execute: no stale artefacts from the student's own run
        Execute,
        VerifyGreenkitTargets,      # right after Execute, before anything reads grades
        IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata,
    ]

A greenkit grade cell is a grade cell whose source calls ``check(..., lab="<lab>")``.
nbgrader's ``OverwriteCells`` has restored locked cells' source from the gradebook
before this runs, so the call (lab, targets) is the instructor's, not the student's.
For each such cell :class:`VerifyGreenkitTargets` runs ``python -m greenkit verify``
in a new process on the files the notebook saved, and replaces the cell's outputs with
that report and its points (partial credit: an ``execute_result`` holding the number),
or with an error (0 points) when the check could not run. What the kernel displayed
is discarded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import Float, Unicode

from greenkit.targets.check import find_check_calls, submission_dir, verify_fresh

__all__ = ["ClearGreenkitSubmissions", "VerifyGreenkitTargets", "verified_outputs"]


def _notebook_dir(resources: dict) -> Path:
    path = (resources.get("metadata") or {}).get("path")
    if not path:
        raise ValueError("greenkit grading: resources['metadata']['path'] (the notebook's folder) is not set")
    return Path(path)


class ClearGreenkitSubmissions(NbGraderPreprocessor):
    """Delete ``greenkit-submissions/<lab>`` for every lab the notebook checks (run before Execute)."""

    def preprocess(self, nb, resources):
        folder = _notebook_dir(resources)
        for call in find_check_calls(nb):
            shutil.rmtree(submission_dir(call.lab, folder), ignore_errors=True)
        return nb, resources


def verified_outputs(report, max_points: float | None) -> list:
    """The outputs a graded greenkit cell gets: the report, then its points or an error."""
    outputs = [new_output("display_data", data={"text/plain": str(report), "text/html": report._repr_html_()})]
    if report.error:
        outputs.append(new_output("error", ename="GreenkitCheckError", evalue=report.error,
                                  traceback=[f"GreenkitCheckError: {report.error}"]))
    elif max_points is not None:
        pts = report.points(max_points)
        outputs.append(new_output("execute_result", data={"text/plain": repr(pts)}, execution_count=None))
    elif not report.passed:
        failed = ", ".join(r.id for r in report.results if not r.passed)
        outputs.append(new_output("error", ename="GreenkitTargetsNotMet", evalue=f"targets not met: {failed}",
                                  traceback=[f"GreenkitTargetsNotMet: {failed}"]))
    return outputs


class VerifyGreenkitTargets(NbGraderPreprocessor):
    """Re-verify each greenkit grade cell in a fresh process; its outputs become that verdict."""

    timeout = Float(600, help="seconds one verification may take before it counts as failed").tag(config=True)
    python = Unicode("", help="python to run `-m greenkit verify` with (default: this one)").tag(config=True)

    def preprocess(self, nb, resources):
        folder = _notebook_dir(resources)
        for call in find_check_calls(nb):
            cell = nb.cells[call.cell_index]
            if not is_grade(cell):
                continue  # feedback-only check cells are left as the kernel ran them
            report = verify_fresh(submission_dir(call.lab, folder), call.lab,
                                  targets=list(call.targets) if call.targets else None,
                                  timeout_s=self.timeout, python=self.python or None)
            self.log.info("greenkit %s cell %d: %s", call.lab, call.cell_index, repr(report))
            cell.outputs = verified_outputs(report, call.max_points)
        return nb, resources
