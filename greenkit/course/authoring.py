"""Authoring helpers: build nbgrader cells with the metadata set right.

A lab author writes content, not JSON: ``md``, ``code``, ``solution``, ``tests``,
``answer`` and ``write_notebook``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = ["md", "code", "solution", "tests", "answer", "write_notebook", "strip_outputs"]


def _meta(grade_id: str | None, *, grade: bool, solution: bool, locked: bool,
          points: float | None = None, task: bool = False) -> dict:
    meta = {"grade": grade, "solution": solution, "locked": locked, "schema_version": 3}
    if grade_id:
        meta["grade_id"] = grade_id
    if points is not None:
        meta["points"] = points
    if task:
        meta["task"] = True
    return {"nbgrader": meta}


def md(text: str, grade_id: str | None = None) -> nbformat.NotebookNode:
    """A locked (read-only) markdown cell."""
    cell = nbformat.v4.new_markdown_cell(text.strip("\n"))
    if grade_id:
        cell.metadata.update(_meta(grade_id, grade=False, solution=False, locked=True))
    return cell


def code(src: str, grade_id: str | None = None) -> nbformat.NotebookNode:
    """A code cell; locked (read-only) when given a ``grade_id``."""
    cell = nbformat.v4.new_code_cell(src.strip("\n"))
    if grade_id:
        cell.metadata.update(_meta(grade_id, grade=False, solution=False, locked=True))
    return cell


def solution(src: str, grade_id: str) -> nbformat.NotebookNode:
    """A cell the student completes; mark the answer with ### BEGIN/END SOLUTION."""
    if "### BEGIN SOLUTION" not in src:
        raise ValueError(f"solution cell {grade_id!r} has no '### BEGIN SOLUTION' marker")
    cell = nbformat.v4.new_code_cell(src.strip("\n"))
    cell.metadata.update(_meta(grade_id, grade=False, solution=True, locked=False))
    return cell


def tests(src: str, grade_id: str, points: float) -> nbformat.NotebookNode:
    """A locked, auto-graded test cell; hide tests with ### BEGIN/END HIDDEN TESTS."""
    if points <= 0:
        raise ValueError(f"test cell {grade_id!r} needs positive points")
    cell = nbformat.v4.new_code_cell(src.strip("\n"))
    cell.metadata.update(_meta(grade_id, grade=True, solution=False, locked=True, points=points))
    return cell


def answer(grade_id: str, points: float, rubric: str) -> nbformat.NotebookNode:
    """A manually graded written answer; the rubric is in the solution only."""
    text = f"### BEGIN SOLUTION\n{rubric.strip()}\n### END SOLUTION"
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata.update(_meta(grade_id, grade=True, solution=True, locked=False, points=points))
    return cell


def write_notebook(cells: list, path: Path | str) -> Path:
    """Write ``cells`` as a Python-3 notebook without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    strip_outputs(nb)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs and execution counts in place (notebooks are committed clean)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    return nb


