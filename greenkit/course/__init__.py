"""Instructor tooling: everything a course runs that a student never needs.

- ``greenkit.course.authoring``      build nbgrader cells (``md``, ``code``, ``solution``, ``tests``, ``answer``)
- ``greenkit.course.notebooks``      read a lab's cells, execute a notebook, machine load for benchmarks
- ``greenkit.course.generation``     ``generate`` labs/ from solutions/, ``roundtrip`` a lab through nbgrader
                                     (with ``submission_with`` wrong answers that must earn nothing)
- ``greenkit.course.preprocessors``  nbgrader preprocessors that take the report-card verdict out of the kernel
- ``greenkit.course.layout``         where the course folder is (``$GREENKIT_COURSE``, the repo, or cwd)

    python -m greenkit.course generate [LAB ...]   # solutions/ -> labs/ (all labs by default)
    python -m greenkit.course roundtrip LAB        # the check every lab's test runs

Names are imported on first use, so ``import greenkit.course`` needs neither nbgrader
nor a course folder.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "md": "authoring", "code": "authoring", "solution": "authoring", "tests": "authoring",
    "answer": "authoring", "write_notebook": "authoring", "strip_outputs": "authoring",
    "cell_sources": "notebooks", "execute_notebook": "notebooks", "machine_load": "notebooks",
    "grade_id": "notebooks",
    "generate": "generation", "roundtrip": "generation", "RoundTrip": "generation", "lab_names": "generation",
    "submission_with": "generation",
    "ROOT": "layout", "SOLUTIONS": "layout", "LABS": "layout", "course_root": "layout",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"greenkit.course.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'greenkit.course' has no attribute {name!r}")
