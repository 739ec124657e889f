"""``greenkit grade LAB [STUDENT ...]``: grade a whole class, sandboxed, in parallel, resumable, on Dask.

- ``greenkit.course.grade.restore``    the submission in the instructor's shape (locked cells restored)
- ``greenkit.course.grade.sandbox``    bubblewrap: what a notebook and the checker can see and do
- ``greenkit.course.grade.limits``     wall time, memory, processes, disk (``c.GreenkitGrade.*``)
- ``greenkit.course.grade.execute``    one submission on a worker: sandboxed kernel, probes, verification
- ``greenkit.course.grade.integrity``  static + post-run tamper checks, code-carrying artefacts
- ``greenkit.course.grade.locks``      notebooks side by side, energy verification alone on the node
- ``greenkit.course.grade.runner``     Dask: a LocalCluster, or ``--scheduler tcp://HOST:8786``
- ``greenkit.course.grade.gradebook``  results into nbgrader's gradebook with nbgrader's own autograde
- ``greenkit.course.grade.report``     class report (CSV + self-contained HTML), progress bar

The Python twin of the command is :func:`grade`; it returns a :class:`ClassResult`.

Resumable: each graded submission leaves ``.greenkit/grade/LAB/state/STUDENT.json`` holding the
hash of the submitted folder, the source notebook and the settings; a re-run skips a student whose
hash is unchanged (``force=True`` regrades) and a killed run loses at most the students in flight.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import io
import json
import os
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["grade", "ClassResult", "add_arguments", "run", "apply_tamper_policy", "GradeSettings", "Limits"]

from greenkit.course.grade.limits import GradeSettings, Limits  # noqa: E402  (light: traitlets only)

_VERSION = "1"   # bump when grading changes meaning: every submission is regraded once
_MAX_FOLDER_BYTES = 256 * 2**20


@dataclass
class ClassResult:
    """What ``greenkit grade`` did: one row per student, and where the reports are."""
    lab: str
    rows: list[dict] = field(default_factory=list)
    csv_path: Path | None = None
    html_path: Path | None = None
    sandboxed: bool = False
    seconds: float = 0.0

    def row(self, student: str) -> dict:
        for r in self.rows:
            if r["student"] == student:
                return r
        raise KeyError(f"no student {student!r} in this run ({sorted(r['student'] for r in self.rows)})")

    def __str__(self) -> str:
        graded = [r for r in self.rows if r["status"] != "error"]
        flagged = [r for r in self.rows if r.get("flags")]
        lines = [f"{self.lab}: {len(self.rows)} submissions ({sum(r['status'] == 'unchanged' for r in self.rows)} "
                 f"unchanged), {len(flagged)} flagged, {len(self.rows) - len(graded)} errors, "
                 f"{'sandboxed' if self.sandboxed else 'NOT SANDBOXED'}, {self.seconds:.0f} s"]
        for r in self.rows:
            lines.append(f"  {r['student']:<20} {r.get('score', 0):>6g} / {r.get('max_score', 0):g}  {r['status']}"
                         + (f"  limits: {','.join(r['limit_hits'])}" if r.get("limit_hits") else "")
                         + (f"  FLAGGED ({len(r['flags'])})" if r.get("flags") else ""))
        if self.csv_path:
            lines.append(f"CSV: {self.csv_path}\nHTML: {self.html_path}")
        return "\n".join(lines)


def _folder_tar(folder: Path, skip_name: str) -> str:
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder)
            if p.is_symlink() or not p.is_file() or rel.parts[0] in (".ipynb_checkpoints", "__pycache__",
                                                                     "greenkit-submissions") or str(rel) == skip_name:
                continue
            total += p.stat().st_size
            if total > _MAX_FOLDER_BYTES:
                raise ValueError(f"the submitted folder is larger than {_MAX_FOLDER_BYTES >> 20} MiB")
            tar.add(p, arcname=str(rel), recursive=False)
    return base64.b64encode(buf.getvalue()).decode()


def _folder_sha256(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink() and ".ipynb_checkpoints" not in p.parts:
            h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes() + b"\1")
    return h.hexdigest()


def _error_output(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}


def _is_grade(cell) -> bool:
    return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("grade"))


def _fail_unrun_grade_cells(nb, cells: list[dict], res: dict) -> None:
    """A grade cell the worker did not run (or sent back without outputs) gets an error, never full marks.

    nbgrader gives full points to a grade cell without an error output; fail closed here too.
    """
    executed = set(res.get("executed", []))
    by_index = {c["index"]: c for c in cells}
    for i, cell in enumerate(nb.cells):
        if not _is_grade(cell):
            continue
        c = by_index.setdefault(i, {"index": i, "outputs": [], "execution_count": None})
        if i not in executed and not any(o.get("output_type") == "error" for o in c["outputs"]):
            c["outputs"] = [_error_output("GreenkitNotRun", "this cell was not run by the grader; it earns 0")]
    cells[:] = sorted(by_index.values(), key=lambda c: c["index"])


def apply_tamper_policy(nb, cells: list[dict], flags: list[dict], policy: str) -> None:
    """``zero``: grade cells after the first cell with static evidence get an error (all grade cells when
    the only evidence is from the run: the probe or an artefact, which name no cell)."""
    if policy != "zero" or not flags:
        return
    static = [f["cell"] for f in flags if f["cell"] >= 0]
    first = min(static) if static else -1
    why = "; ".join(f["evidence"] for f in flags[:3])
    for c in cells:
        if c["index"] > first and _is_grade(nb.cells[c["index"]]):
            kept = [o for o in c["outputs"] if o.get("output_type") == "error"]   # e.g. a limit's message
            c["outputs"] = kept + [_error_output("GreenkitTamperZeroed", f"zeroed for tampering evidence: {why}")]


def _settings_from_config(course: Path) -> GradeSettings:
    from greenkit.course.grade.gradebook import load_course_config
    from greenkit.course.grade.limits import GreenkitGrade

    config = load_course_config(course)
    stub = config.ClearSolutions.get("code_stub", {"python": None})
    text = config.ClearSolutions.get("text_stub", None)
    return GreenkitGrade(config=config).settings(code_stub=stub.get("python") if isinstance(stub, dict) else None,
                                                 text_stub=text)


def _warn_no_sandbox(reason: str) -> None:
    bar = "!" * 78
    sys.stderr.write(f"{bar}\nWARNING: NO SANDBOX. Student notebooks will run with YOUR rights: they can read\n"
                     f"solutions/, write the gradebook and reach the network.\nWhy: {reason}\n"
                     f"Use --require-sandbox to refuse instead.\n{bar}\n")


def grade(lab: str, students: list[str] | None = None, *, course: str | Path | None = None,
          scheduler: str | None = None, workers: int | None = None, force: bool = False,
          settings: GradeSettings | None = None, require_sandbox: bool | None = None,
          report_dir: str | Path | None = None, progress: bool = True, client=None) -> ClassResult:
    """Grade ``lab`` for ``students`` (default: everyone in ``submitted/*/LAB``); see the module docstring.

    ``settings`` default to ``c.GreenkitGrade.*`` in the course's nbgrader_config.py.
    ``scheduler``: an existing Dask scheduler (``tcp://HOST:8786``); else a LocalCluster of
    ``workers`` (default: sized to this machine). ``client``: an existing ``distributed.Client``.
    Raises :class:`~greenkit.course.grade.sandbox.SandboxUnavailable` when a sandbox is required
    and cannot be had; one student's failure never raises (it is in that student's row).
    """
    from greenkit.course import layout
    from greenkit.course.grade import gradebook as gbk
    from greenkit.course.grade import report
    from greenkit.course.grade.restore import grade_cells, instructor_template, restore
    from greenkit.course.grade.sandbox import probe

    t0 = time.perf_counter()
    course = Path(course).resolve() if course else layout.course_root()
    settings = settings or _settings_from_config(course)
    if require_sandbox is not None:
        settings = dataclasses.replace(settings, require_sandbox=require_sandbox)
    status = probe()
    if not status.available:
        if settings.require_sandbox:
            status.require()
        _warn_no_sandbox(status.reason)
    config = gbk.load_course_config(course)
    source_dir = course / (config.CourseDirectory.get("source_directory") or "source")
    submitted_root = course / (config.CourseDirectory.get("submitted_directory") or "submitted")
    src = source_dir / lab / f"{lab}.ipynb"
    if not src.is_file():
        raise FileNotFoundError(f"{src} not found: greenkit grade needs the lab's source notebook "
                                f"{source_dir.name}/{lab}/{lab}.ipynb")
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(gbk.db_url(course, config)) as gb:
        try:
            gb.find_assignment(lab)
        except MissingEntry:
            raise LookupError(f"{lab} is not in the gradebook: run `nbgrader generate_assignment {lab}` "
                              "first (it records the locked cells and points)") from None
    template = instructor_template(src, settings.code_stub, settings.text_stub)
    points = grade_cells(template)
    state_dir = course / ".greenkit" / "grade" / lab
    (state_dir / "state").mkdir(parents=True, exist_ok=True)
    if students is None:
        students = sorted(p.parent.name for p in submitted_root.glob(f"*/{lab}") if p.is_dir())
    settings_json = json.dumps(settings.to_dict(), sort_keys=True)
    base_key = hashlib.sha256((_VERSION + src.read_text() + settings_json).encode()).hexdigest()
    result = ClassResult(lab, sandboxed=status.available)
    bar = report.Progress(len(students)) if progress else None
    jobs, pending = [], {}
    cores = os.cpu_count() or 1

    def finish(student: str, nb, cells: list[dict], res: dict, key: str, folder: Path):
        row = {"student": student, "lab": lab, "status": "graded", "flags": res.get("flags", []),
               "limit_hits": res.get("limit_hits", []), "energy_kind": res.get("energy_kind", ""),
               "messages": list(res.get("messages", [])), "execute_s": res.get("seconds", {}).get("execute", 0.0),
               "sandboxed": res.get("sandboxed", status.available), "reports": res.get("reports", []),
               "survivors": res.get("survivors", [])}
        if res.get("error"):
            row["status"] = "error"
            row["messages"].append(res["error"])
            cells = [{"index": i, "outputs": [_error_output("GreenkitGradingError", res["error"])],
                      "execution_count": None} for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        _fail_unrun_grade_cells(nb, cells, res)
        apply_tamper_policy(nb, cells, row["flags"], settings.on_tamper)
        out = gbk.write_grades(course, lab, student, lab, nb, cells, folder, state_dir)
        if not out.get("success"):
            row["status"] = "error"
            row["messages"].append("nbgrader autograde failed: " + (out.get("error") or out.get("log") or "")[-600:])
        got = gbk.scores(course, lab, student)
        row["points"] = {gid: got.get(gid, (None, p))[0] for gid, p in points.items()}
        row["score"] = sum(v for v in row["points"].values() if v is not None)
        row["max_score"] = sum(points.values())
        if row["status"] != "error":
            tmp = state_dir / "state" / f".{student}.json.tmp"
            tmp.write_text(json.dumps({"key": key, "row": row}))
            os.replace(tmp, state_dir / "state" / f"{student}.json")
        result.rows.append(row)
        if bar:
            bar.update(student, bool(row["flags"]), row["status"] == "error")

    for student in students:
        folder = submitted_root / student / lab
        key = hashlib.sha256((base_key + (_folder_sha256(folder) if folder.is_dir() else "missing")).encode()
                             ).hexdigest()
        state = state_dir / "state" / f"{student}.json"
        if not force and state.is_file():
            try:
                saved = json.loads(state.read_text())
            except ValueError:
                saved = {}
            if saved.get("key") == key:
                row = dict(saved["row"], status="unchanged")
                result.rows.append(row)
                if bar:
                    bar.update(student, bool(row.get("flags")), False, skipped=True)
                continue
        nb_path = folder / f"{lab}.ipynb"
        fatal = None
        restored = None
        if not nb_path.is_file():
            fatal = f"no {lab}.ipynb in submitted/{student}/{lab}/"
        else:
            try:
                restored = restore(nb_path.read_bytes().decode("utf-8", errors="replace"), template)
                fatal = restored.fatal
            except Exception as err:  # one student's notebook must not stop the class
                fatal = f"the notebook could not be restored ({type(err).__name__}: {err})"
        if fatal:
            nb = copy.deepcopy(template)
            cells = [{"index": i, "outputs": [_error_output("GreenkitNotGraded", fatal)] if _is_grade(c) else [],
                      "execution_count": None} for i, c in enumerate(nb.cells) if c.cell_type == "code"]
            finish(student, nb, cells, {"messages": [fatal]}, key, folder)
            continue
        try:
            files = _folder_tar(folder, f"{lab}.ipynb")
        except (OSError, ValueError) as err:
            nb = restored.nb
            finish(student, nb, [], {"error": f"the submitted folder could not be read: {err}"}, key, folder)
            continue
        import nbformat
        job = {"student": student, "lab": lab, "notebook_name": lab, "notebook": nbformat.writes(restored.nb),
               "student_cells": restored.student_cells, "files": files, "settings": settings.to_dict()}
        jobs.append(job)
        pending[student] = (restored, key, folder)

    if jobs:
        from distributed import as_completed

        from greenkit.course.grade import runner

        def run_all(c):
            n_workers = max(1, len(c.scheduler_info().get("workers", {})))
            for job in jobs:
                job["threads"] = max(1, cores // n_workers) if not scheduler and client is None else None
            futures = c.map(runner.grade_task, jobs, pure=False, retries=1,
                            key=[f"greenkit-grade-{lab}-{j['student']}-{os.urandom(4).hex()}" for j in jobs])
            for fut in as_completed(futures):
                try:
                    res = fut.result()
                except Exception as err:  # a worker lost twice: this student's problem
                    idx = futures.index(fut)
                    res = {"student": jobs[idx]["student"], "error": f"the Dask task failed: "
                           f"{type(err).__name__}: {str(err)[:300]}"}
                student = res["student"]
                restored, key, folder = pending[student]
                for msg in restored.problems:
                    res.setdefault("messages", []).append(msg)
                finish(student, restored.nb, res.get("cells", []), res, key, folder)

        if client is not None:
            run_all(client)
        else:
            with runner.dask_client(scheduler, workers, settings.limits.memory_bytes) as c:
                run_all(c)

    order = {s: i for i, s in enumerate(students)}
    result.rows.sort(key=lambda r: order.get(r["student"], 0))
    out_dir = Path(report_dir) if report_dir else state_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    result.csv_path = report.write_csv(result.rows, out_dir / f"{lab}.csv")
    result.html_path = report.write_html(result.rows, out_dir / f"{lab}.html", f"GreenKit class report: {lab}")
    result.seconds = time.perf_counter() - t0
    return result


# ---- the command ---------------------------------------------------------------------------------

def add_arguments(p) -> None:
    """Arguments of ``greenkit grade``."""
    p.add_argument("lab", help="the lab (assignment) to grade, e.g. lab02_pruning")
    p.add_argument("students", nargs="*", help="only these students (default: everyone who submitted)")
    p.add_argument("--course", help="the course folder (default: $GREENKIT_COURSE, the repo, or cwd)")
    p.add_argument("--scheduler", help="an existing Dask scheduler, e.g. tcp://HOST:8786 (default: a "
                   "LocalCluster on this machine)")
    p.add_argument("--workers", type=int, help="LocalCluster workers (default: one per 2 cores, within memory)")
    p.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    p.add_argument("--require-sandbox", action="store_true", help="refuse to run where no sandbox can be had")
    p.add_argument("--on-tamper", choices=["flag", "zero"], help="override c.GreenkitGrade.on_tamper")
    p.add_argument("--wall-s", type=float, help="override c.GreenkitGrade.wall_s (whole notebook)")
    p.add_argument("--report-dir", help="where the CSV and HTML go (default: .greenkit/grade/LAB/report)")


def run(args) -> int:
    """``greenkit grade``: exit 0 when every submission was graded, 1 when one could not be, 2 on set-up errors."""
    from greenkit.course.grade.sandbox import SandboxUnavailable

    settings = None
    if args.on_tamper or args.wall_s:
        from greenkit.course import layout
        course = Path(args.course).resolve() if args.course else layout.course_root()
        settings = _settings_from_config(course)
        if args.on_tamper:
            settings = dataclasses.replace(settings, on_tamper=args.on_tamper)
        if args.wall_s:
            settings = dataclasses.replace(settings, limits=dataclasses.replace(settings.limits, wall_s=args.wall_s))
    try:
        res = grade(args.lab, args.students or None, course=args.course, scheduler=args.scheduler,
                    workers=args.workers, force=args.force, settings=settings,
                    require_sandbox=True if args.require_sandbox else None, report_dir=args.report_dir)
    except (SandboxUnavailable, FileNotFoundError, LookupError) as err:
        print(f"greenkit grade: {err}", file=sys.stderr)
        return 2
    print(res)
    return 1 if any(r["status"] == "error" for r in res.rows) else 0
