"""Generate labs/ from solutions/ and round-trip a lab through nbgrader.

The round trip, in a temporary course directory (nothing in the repo changes):

1. generate the student version of LAB from ``solutions/LAB`` with nbgrader;
2. fail if it differs from the committed ``labs/LAB`` (run ``make labs``);
3. autograde the solution notebook: every auto-graded cell must earn full marks;
4. autograde the untouched student notebook: every graded cell must earn zero,
   and the grader must not crash;
5. optionally (``wrong={name: folder}``), autograde other submissions, such as plausible garbage of
   the right types and shapes: each must be graded on every cell the solution is, and earn zero.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from greenkit.course import layout, notebooks
from greenkit.course.authoring import strip_outputs

__all__ = ["generate", "roundtrip", "RoundTrip", "submission_with", "lab_names", "add_arguments", "run", "main"]


def lab_names() -> list[str]:
    """Labs with a source notebook, in order."""
    return sorted(p.name for p in layout.SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").is_file())


def _nbgrader(course: Path, *args: str, timeout_s: float | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"]
    env = dict(os.environ)
    # nbgrader shells out to `alembic`, which sits beside this interpreter in a venv.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, timeout=timeout_s, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed ({proc.returncode}):\n"
                           f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def _new_course(tmp: Path, lab: str) -> Path:
    course = tmp / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copytree(layout.SOLUTIONS / lab, course / "solutions" / lab,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__",
                                                  "greenkit-submissions"))
    shutil.copy(layout.ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    return course


def _generate_into(course: Path, lab: str) -> Path:
    _nbgrader(course, "generate_assignment", lab, "--force")
    out = course / "labs" / lab
    for nb_path in out.glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        nbformat.write(strip_outputs(nb), nb_path)
    return out


def generate(labs: list[str] | None = None) -> list[Path]:
    """Regenerate ``labs/LAB`` from ``solutions/LAB`` for each lab (all by default)."""
    written = []
    for lab in labs or lab_names():
        with tempfile.TemporaryDirectory() as tmp:
            out = _generate_into(_new_course(Path(tmp), lab), lab)
            dest = layout.LABS / lab
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(out, dest)
            written.append(dest)
        # keep the source clean too
        for nb_path in (layout.SOLUTIONS / lab).glob("*.ipynb"):
            nb = nbformat.read(nb_path, as_version=4)
            nbformat.write(strip_outputs(nb), nb_path)
    return written


def submission_with(lab: str, answers: Mapping[str, str], dest: Path) -> Path:
    """Write a submission of ``lab`` into ``dest``: the released ``labs/LAB`` with each answer cell
    (an nbgrader solution code cell) replaced by ``answers[grade_id]``; returns ``dest``.

    Every answer code cell must be given, so that a lab that gains one makes its caller say what a
    (wrong) student writes there. For :func:`roundtrip`'s ``wrong``: write the submission that should
    earn nothing, and let the autograder prove it.
    """
    released = layout.LABS / lab
    shutil.copytree(released, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__",
                                                                 "greenkit-submissions"))
    path = dest / f"{lab}.ipynb"
    nb = nbformat.read(path, as_version=4)
    wanted = {notebooks.grade_id(c) for c in nb.cells
              if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    if missing := wanted - set(answers):
        raise KeyError(f"{lab}: no answer given for the answer cells {sorted(missing)}")
    if unknown := set(answers) - wanted:
        raise KeyError(f"{lab}: {sorted(unknown)} are not answer code cells of the lab")
    for cell in nb.cells:
        if (gid := notebooks.grade_id(cell)) in answers and cell.cell_type == "code":
            cell.source = answers[gid]
    nbformat.write(nb, path)
    return dest


@dataclass
class RoundTrip:
    """What a round trip found; ``problems`` is empty when the lab is sound."""
    lab: str
    solution_scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # grade_id -> (score, max)
    blank_scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    wrong_scores: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)  # name -> scores
    manual_cells: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = [f"Round trip of {self.lab}: {'OK' if self.ok else 'FAILED'}"]
        for name, scores in (("solution", self.solution_scores), ("untouched student", self.blank_scores),
                             *((f"wrong submission {k!r}", v) for k, v in self.wrong_scores.items())):
            got = sum(s for s, _ in scores.values())
            top = sum(m for _, m in scores.values())
            lines.append(f"  {name}: {got:g}/{top:g} auto-graded points")
        lines += [f"  {k}: {v:.1f} s" for k, v in self.seconds.items()]
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)


def _notebook_diff(a: Path, b: Path) -> str | None:
    """None if two notebooks have the same cells (source, type, nbgrader metadata)."""
    def cells(p: Path):
        nb = nbformat.read(p, as_version=4)
        return [(c.cell_type, c.source, json.dumps(c.metadata.get("nbgrader", {}), sort_keys=True))
                for c in nb.cells]
    ca, cb = cells(a), cells(b)
    if len(ca) != len(cb):
        return f"{len(ca)} cells vs {len(cb)}"
    for i, (x, y) in enumerate(zip(ca, cb, strict=True)):
        if x != y:
            return f"cell {i} differs"
    return None


def _autograde_scores(course: Path, lab: str, student: str) -> tuple[dict, list[str]]:
    from nbgrader.api import Gradebook

    db = f"sqlite:///{course / 'gradebook.db'}"
    scores, manual = {}, []
    with Gradebook(db) as gb:
        sub = gb.find_submission(lab, student)
        for nb in sub.notebooks:
            for grade in nb.grades:
                if grade.auto_score is None:
                    manual.append(grade.name)
                else:
                    scores[grade.name] = (float(grade.auto_score), float(grade.max_score))
    return scores, manual


def _cell_outputs(folder: Path, grade_id: str, limit_chars: int = 2000) -> str:
    """What the cell ``grade_id`` printed and raised in the autograded notebooks of ``folder``.

    Put into a failed round trip's report, so that a CI log says *why* the solution lost points.
    """
    texts = []
    for path in sorted(folder.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if notebooks.grade_id(cell) != grade_id:
                continue
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    texts.append(out.get("text", ""))
                elif out.get("output_type") == "error":
                    texts.append(f"{out.get('ename')}: {out.get('evalue')}")
    text = "".join(t if t.endswith("\n") else t + "\n" for t in texts).strip()
    return text if len(text) <= limit_chars else "..." + text[-limit_chars:]


def roundtrip(lab: str, timeout_s: float = 1800, *, wrong: Mapping[str, Path] | None = None) -> RoundTrip:
    """Run the checks of the module docstring for ``lab``; never raises on findings.

    ``wrong`` maps a name (an nbgrader student id: letters, digits, ``_``, ``-``) to a folder holding a
    submission of ``lab`` that must earn nothing, e.g. plausible garbage of the right types and shapes.
    """
    import time

    result = RoundTrip(lab)
    with tempfile.TemporaryDirectory(prefix=f"roundtrip-{lab}-") as tmp:
        course = _new_course(Path(tmp), lab)
        t0 = time.perf_counter()
        released = _generate_into(course, lab)
        result.seconds["generate"] = time.perf_counter() - t0
        committed = layout.LABS / lab
        for nb_path in released.glob("*.ipynb"):
            mine = committed / nb_path.name
            if not mine.is_file():
                result.problems.append(f"labs/{lab}/{nb_path.name} is missing: run `make labs`")
            elif (diff := _notebook_diff(nb_path, mine)) is not None:
                result.problems.append(f"labs/{lab}/{nb_path.name} differs from what generation "
                                       f"produces ({diff}): run `make labs` and commit")
        for student, source in (("reference", layout.SOLUTIONS / lab), ("untouched", released),
                                *((f"wrong-{k}", Path(v)) for k, v in (wrong or {}).items())):
            dest = course / "submitted" / student / lab
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns(
                ".ipynb_checkpoints", "__pycache__", "greenkit-submissions"))
            t0 = time.perf_counter()
            try:
                _nbgrader(course, "autograde", lab, f"--student={student}", "--force",
                          timeout_s=timeout_s)
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                result.problems.append(f"autograde of the {student} notebook crashed: {err}")
                continue
            result.seconds[f"autograde {student}"] = time.perf_counter() - t0
            scores, manual = _autograde_scores(course, lab, student)
            if student == "reference":
                result.solution_scores, result.manual_cells = scores, manual
                for gid, (got, top) in scores.items():
                    if got != top:
                        why = _cell_outputs(course / "autograded" / student / lab, gid)
                        result.problems.append(f"solution earns {got:g}/{top:g} on '{gid}'"
                                               + (f"; the cell printed:\n{why}" if why else ""))
                if not scores:
                    result.problems.append("the lab has no auto-graded cells")
            else:
                if student == "untouched":
                    result.blank_scores, who = scores, "untouched student notebook"
                else:
                    name = student.removeprefix("wrong-")
                    result.wrong_scores[name], who = scores, f"wrong submission {name!r}"
                    if ungraded := sorted(set(result.solution_scores) - set(scores)):
                        result.problems.append(f"{who} was not graded on {ungraded}")
                for gid, (got, top) in scores.items():
                    if got != 0:
                        why = _cell_outputs(course / "autograded" / student / lab, gid)
                        result.problems.append(f"{who} earns {got:g}/{top:g} on '{gid}'"
                                               + (f"; the cell printed:\n{why}" if why and student != "untouched" else ""))
    return result




# ---- the command: ``greenkit course ...`` (alias ``python -m greenkit.course ...``) -------------

def add_arguments(parser) -> None:
    """``generate [LAB ...]`` and ``roundtrip LAB``."""
    sub = parser.add_subparsers(dest="course_cmd", required=True)
    g = sub.add_parser("generate", help="regenerate labs/ (and labs/zh_CN/) from solutions/ (all labs by default)")
    g.add_argument("--lang", choices=["all", "en", "zh_CN"], default="all",
                   help="all (default): English, then each lab's translation that has one (greenkit.i18n)")
    g.add_argument("labs", nargs="*")
    r = sub.add_parser("roundtrip", help="generate, compare and autograde a lab in a temp course")
    r.add_argument("lab")


def run(args) -> int:
    if args.course_cmd == "generate":
        if args.lang in ("all", "en"):
            for path in generate(args.labs or None):
                print(f"wrote {path.relative_to(layout.ROOT)}", flush=True)
        if args.lang in ("all", "zh_CN"):  # labs/zh_CN/<lab> from the same source + its catalogue
            from greenkit.i18n.build import build_command

            build_command(args.labs, "zh_CN")
        return 0
    result = roundtrip(args.lab)
    print(result)
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m greenkit.course ...`` (an alias of ``greenkit course ...``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m greenkit.course", description="GreenKit instructor tooling")
    add_arguments(parser)
    return run(parser.parse_args(argv))
