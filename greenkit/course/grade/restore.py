"""Put a submitted notebook back into the instructor's shape before anything runs.

The instructor's template is the source notebook (``solutions/LAB/NB.ipynb``) with solutions
replaced by stubs (nbgrader's ``ClearSolutions``) and hidden tests kept: what nbgrader's gradebook
holds and its ``OverwriteCells`` restores. From a submission we take only the *answers*: the
source of unlocked solution cells, matched by ``grade_id``, and the cells the student added.
Everything else comes from the template:

- locked cells (tests, grade cells, instructions): source, type and metadata, so an edited test,
  an edited ``grade``/``points`` flag or a deleted test cell changes nothing;
- the order of the template's cells (a test moved above the answer it tests goes back);
- an answer cell the student deleted comes back as the stub (it fails its tests);
- cells the student added keep their place after the template cell they followed, without
  nbgrader metadata (they cannot become grade cells);
- a duplicated ``grade_id`` keeps its first cell; the copies are dropped (reported).

A notebook that cannot be read, or in which none of the template's answer cells is found
(another lab's notebook), is reported and not executed: every grade cell gets zero, with the reason.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["instructor_template", "restore", "Restored", "grade_cells"]


@dataclass
class Restored:
    """The notebook to execute, which of its cells are the student's, and what was repaired."""
    nb: nbformat.NotebookNode | None
    student_cells: list[int] = field(default_factory=list)   # indices of answer + added code cells
    problems: list[str] = field(default_factory=list)         # what was repaired (shown to the instructor)
    fatal: str | None = None                                  # why the notebook is not executed at all


_KEYS = ("grade", "solution", "locked", "points", "grade_id")
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def _without_hidden(source: str) -> str:
    """The source as released to students (nbgrader's ClearHiddenTests), stripped."""
    return _HIDDEN.sub("", source).strip()


def _nbg(cell) -> dict:
    md = cell.get("metadata", {}).get("nbgrader")
    return md if isinstance(md, dict) else {}


def instructor_template(source_path: str | Path, code_stub: str, text_stub: str) -> nbformat.NotebookNode:
    """The source notebook with nbgrader's ClearSolutions applied (hidden tests kept)."""
    from nbgrader.preprocessors import ClearSolutions

    nb = nbformat.read(str(source_path), as_version=4)
    pp = ClearSolutions(code_stub={"python": code_stub}, text_stub=text_stub)
    nb, _ = pp.preprocess(nb, {"language": "python"})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def grade_cells(nb) -> dict[str, float]:
    """``grade_id -> points`` of the auto- and manually graded cells of ``nb``."""
    return {_nbg(c)["grade_id"]: float(_nbg(c).get("points", 0)) for c in nb.cells
            if _nbg(c).get("grade") and "grade_id" in _nbg(c)}


def restore(submitted: str | bytes, template: nbformat.NotebookNode) -> Restored:
    """Rebuild ``submitted`` (notebook JSON text) in the template's shape; see the module docstring."""
    try:
        student = nbformat.reads(submitted, as_version=4)
        cells = list(student.cells)
    except Exception as err:  # nbformat raises many types on corrupt JSON; one student's problem
        return Restored(None, fatal=f"the notebook could not be read ({type(err).__name__}: {str(err)[:200]})")
    index = {}
    for i, c in enumerate(template.cells):
        gid = _nbg(c).get("grade_id")
        if gid:
            index[gid] = i
    answer_ids = {_nbg(c)["grade_id"] for c in template.cells if _nbg(c).get("solution") and _nbg(c).get("grade_id")}
    taken: dict[str, dict] = {}
    added: dict[int, list] = {}
    last = -1
    problems: list[str] = []
    for c in cells:
        if not isinstance(c, dict) or c.get("cell_type") not in ("code", "markdown", "raw"):
            problems.append("a malformed cell was dropped")
            continue
        gid = _nbg(c).get("grade_id")
        if isinstance(gid, str) and gid in index:
            if gid in taken:
                problems.append(f"cell '{gid}' appears twice: the copy was dropped")
                continue
            taken[gid] = c
            last = index[gid]
            continue
        extra = nbformat.v4.new_code_cell(c.get("source", "")) if c.get("cell_type") == "code" else \
            nbformat.v4.new_markdown_cell(c.get("source", ""))
        if isinstance(gid, str):
            problems.append(f"cell with unknown grade_id '{gid[:40]}' kept as an ordinary cell")
        added.setdefault(last, []).append(extra)
    if answer_ids and not (answer_ids & set(taken)):
        return Restored(None, fatal="none of this lab's answer cells was found: is it the notebook of another "
                        "lab, or were the cells' nbgrader metadata deleted?")
    out = copy.deepcopy(template)
    out.cells = []
    student_cells: list[int] = []

    def put(cell, mine: bool):
        if mine and cell.cell_type == "code":
            student_cells.append(len(out.cells))
        out.cells.append(cell)

    for cell in added.get(-1, []):
        put(cell, True)
    for i, tcell in enumerate(template.cells):
        nbg = _nbg(tcell)
        gid = nbg.get("grade_id")
        cell = copy.deepcopy(tcell)
        mine = False
        if gid and nbg.get("solution") and not nbg.get("locked"):
            if gid in taken:
                src = taken[gid].get("source", "")
                cell.source = "".join(src) if isinstance(src, list) else str(src)
                mine = True
            else:
                problems.append(f"answer cell '{gid}' was deleted: graded as the empty stub")
        elif gid and gid in taken:
            s = taken[gid].get("source", "")
            s = "".join(s) if isinstance(s, list) else s
            theirs = {k: _nbg(taken[gid]).get(k) for k in _KEYS}
            if s.strip() not in (tcell.source.strip(), _without_hidden(tcell.source)) or \
                    theirs != {k: nbg.get(k) for k in _KEYS}:
                problems.append(f"locked cell '{gid}' was edited (source or metadata): restored")
        elif gid:
            problems.append(f"locked cell '{gid}' was deleted: restored")
        put(cell, mine)
        for extra in added.get(i, []):
            put(extra, True)
    for c in out.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return Restored(out, student_cells, problems)
