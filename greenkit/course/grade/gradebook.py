"""Write a graded run into nbgrader's gradebook with nbgrader itself, so formgrader, feedback and export work.

After a worker has run a student's notebook, the grading machine (outside any sandbox) runs
nbgrader's own ``autograde`` in-process (:class:`nbgrader.apps.NbGraderAPI`) with two changes:

- its submitted folder is a *staging* copy, ``.greenkit/grade/LAB/staged/STUDENT/LAB/``: the
  student's files and ``timestamp.txt`` (late penalties still apply), with the notebook restored
  to the instructor's shape (the one that ran);
- ``Execute`` is replaced by :class:`InjectGreenkitOutputs`, which puts the outputs the sandbox
  produced (and the fresh-process report-card verdicts) into the cells. It refuses outputs made
  for another version of the notebook.

nbgrader's sanitizing steps (``OverwriteCells`` from the gradebook, ``CheckCellMetadata``) and the
rest of the pipeline (``SaveAutoGrades``, ``AssignLatePenalties``...) run as usual, into
``autograded/`` and the gradebook, under the grading machine's rights - which the students never had.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

__all__ = ["InjectGreenkitOutputs", "write_grades", "scores", "sources_sha256", "load_course_config", "db_url"]


def sources_sha256(nb) -> str:
    """Hash of the cells' types and sources: which version of a notebook outputs belong to."""
    h = hashlib.sha256()
    for c in nb.cells:
        h.update(c.cell_type.encode() + b"\0" + c.source.encode() + b"\1")
    return h.hexdigest()


class InjectGreenkitOutputs(NbGraderPreprocessor):
    """In place of ``Execute``: the outputs of the sandboxed run, from ``outputs_file`` (JSON)."""

    outputs_file = Unicode("", help="JSON written by greenkit grade: cells' outputs").tag(config=True)

    def preprocess(self, nb, resources):
        data = json.loads(Path(self.outputs_file).read_text())
        if data["sources_sha256"] != sources_sha256(nb):
            raise ValueError("greenkit grade: the outputs belong to another version of this notebook (the "
                             "source notebook changed after `nbgrader generate_assignment`? run it again)")
        by_index = {c["index"]: c for c in data["cells"]}
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            got = by_index.get(i, {"outputs": [], "execution_count": None})
            cell.outputs = [nbformat.from_dict(o) for o in got["outputs"]]
            cell.execution_count = got.get("execution_count")
        return nb, resources


def load_course_config(course: Path):
    """The course's ``nbgrader_config.py`` as a traitlets Config (nbgrader's own loader semantics)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = course / "nbgrader_config.py"
    if not path.is_file():
        return Config()
    return PyFileConfigLoader(path.name, path=str(course)).load_config()


def db_url(course: Path, config=None) -> str:
    """The gradebook's URL; a relative SQLite path is taken relative to the course folder, not the cwd."""
    config = load_course_config(course) if config is None else config
    db = config.CourseDirectory.get("db_url") or f"sqlite:///{course / 'gradebook.db'}"
    if db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
        db = f"sqlite:///{course / db[len('sqlite:///'):]}"
    return db


def _autograde_pipeline():
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )
    # Order as in nbgrader_config.py, with the sandboxed run (outputs + verdicts) in place of
    # ClearGreenkitSubmissions, Execute and VerifyGreenkitTargets.
    return [InjectGreenkitOutputs, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
            AssignLatePenalties, CheckCellMetadata]


def write_grades(course: Path, lab: str, student: str, notebook_name: str, nb, cells: list[dict],
                 submitted: Path, state_dir: Path) -> dict:
    """Stage, then nbgrader-autograde ``nb`` with ``cells``' outputs; returns NbGraderAPI's result dict."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    staged_root = state_dir / "staged"
    dest = staged_root / student / lab
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if submitted.is_dir():
        for p in submitted.iterdir():
            if p.is_file() and not p.is_symlink() and p.suffix != ".ipynb":
                shutil.copy(p, dest / p.name)   # timestamp.txt and data files, for autograded/ and feedback
    nbformat.write(nb, dest / f"{notebook_name}.ipynb")
    out_file = state_dir / "outputs" / f"{student}.json"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps({"sources_sha256": sources_sha256(nb), "cells": cells}))
    config = load_course_config(course)
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = db_url(course, config)
    config.CourseDirectory.submitted_directory = str(staged_root.relative_to(course))
    config.Autograde.autograde_preprocessors = _autograde_pipeline()
    config.InjectGreenkitOutputs.outputs_file = str(out_file)
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    return api.autograde(lab, student, force=True, create=True)


def scores(course: Path, lab: str, student: str) -> dict[str, tuple[float | None, float]]:
    """``grade_id -> (auto score or None for manual, max)`` from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(db_url(course)) as gb:
        try:
            sub = gb.find_submission(lab, student)
        except MissingEntry:
            return out
        for nb in sub.notebooks:
            for g in nb.grades:
                out[g.name] = (None if g.auto_score is None else float(g.auto_score), float(g.max_score))
    return out
