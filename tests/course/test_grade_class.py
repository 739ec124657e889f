"""A whole test class through ``greenkit grade``: honest, wrong and adversarial submissions of lab00_setup
(+ a report card), graded on a 2-worker LocalCluster and again through a "remote" Dask cluster started
with the ``dask scheduler`` / ``dask worker`` commands on 127.0.0.1.

One grading run per cluster is shared by every assertion (module-scoped fixtures). Limits are small
(360 s per notebook, 2 GiB) so the infinite loop and the memory hog cost little.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course import classroom
from greenkit.course.grade import GradeSettings, Limits, grade
from greenkit.course.grade.gradebook import scores
from greenkit.course.grade.sandbox import BWRAP_PACKAGE, probe

pytestmark = [pytest.mark.slow, pytest.mark.timeout(5400),   # a class run is one fixture shared by the tests
              pytest.mark.skipif(not probe().available, reason=f"no sandbox here ({probe().reason}); install the "
                                 f"Debian package '{BWRAP_PACKAGE}'")]

# 360 s: lab00 runs in < 30 s on an idle 2-core machine, but ~150 s when 7 engineers share it
SETTINGS = GradeSettings(limits=Limits(wall_s=360, memory_bytes=2 * 2**30, verify_wall_s=600), on_tamper="zero")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class, graded once on a 2-worker LocalCluster."""
    course = classroom.build_course(tmp_path_factory.mktemp("class"))
    result = grade(classroom.LAB, course=course, workers=2, settings=SETTINGS, progress=False)
    return course, result


def test_every_score_is_as_expected(graded):
    """Does each submission earn exactly what it deserves, the adversarial ones nothing they should not?"""
    course, result = graded
    got = {r["student"]: r["score"] for r in result.rows}
    assert got == classroom.EXPECTED, str(result)
    for student, want in classroom.EXPECTED.items():   # the gradebook itself, as formgrader reads it
        assert sum(s or 0 for s, _ in scores(course, classroom.LAB, student).values()) == want, student


def test_tampering_is_flagged_with_evidence_and_honest_work_is_not(graded):
    """Are exactly the tampering submissions flagged, each with evidence naming what was done?"""
    _, result = graded
    flagged = {r["student"] for r in result.rows if r["flags"]}
    assert flagged == classroom.FLAGGED, {r["student"]: r["flags"] for r in result.rows if r["flags"]}
    ev = {r["student"]: " ".join(f["evidence"] for f in r["flags"]) for r in result.rows}
    assert "torch.equal" in ev["patches_asserts"] and "builtins" in ev["patches_asserts"]
    assert "input_transformers_post" in ev["input_transformer"]
    assert "code-carrying artefact" in ev["pickle_artefact"]
    assert "exec" in ev["obfuscated_exec"]
    assert "fork" in ev["leaves_process"]


def test_limits_are_hit_and_reported_and_the_run_goes_on(graded):
    """Do the infinite loop and the memory hog hit their limits, with the reason in the feedback?"""
    course, result = graded
    assert "wall" in result.row("infinite_loop")["limit_hits"]
    assert "memory" in result.row("memory_hog")["limit_hits"]
    assert any("died" in m for m in result.row("crashing")["messages"])
    nb = nbformat.read(course / "autograded" / "infinite_loop" / classroom.LAB / f"{classroom.LAB}.ipynb", 4)
    texts = [o.get("evalue", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("wall-time limit (360 s)" in t for t in texts)


def test_nothing_outlives_a_notebook_and_nothing_escapes(graded):
    """Is no process of any sandbox left, is the gradebook untouched later, and were network and writes blocked?"""
    course, result = graded
    assert all(not r.get("survivors") for r in result.rows), {r["student"]: r["survivors"] for r in result.rows}
    time.sleep(30)  # the daemon in leaves_process would rewrite the gradebook after 25 s
    assert sum(s or 0 for s, _ in scores(course, classroom.LAB, "leaves_process").values()) == 0
    assert not (course / "planted.txt").exists() and not list(course.rglob("planted.txt"))
    nb = nbformat.read(course / "autograded" / "escape_attempts" / classroom.LAB / f"{classroom.LAB}.ipynb", 4)
    out = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "REACHED" not in out and out.count("BLOCKED network") == 2
    assert "solutions" not in out.split("SEES")[1].split("\n")[0]


def test_wrong_lab_corrupt_and_edited_notebooks_are_reported(graded):
    """Are another lab's notebook, a corrupt file and an edited locked cell reported with the reason?"""
    _, result = graded
    assert "another lab" in " ".join(result.row(classroom.WRONG_LAB)["messages"])
    assert "could not be read" in " ".join(result.row(classroom.CORRUPT)["messages"])
    msgs = " ".join(result.row("edits_locked_cell")["messages"])
    assert "test_evaluate" in msgs and "test_class_counts" in msgs


def test_class_report_and_nbgrader_tools_work_afterwards(graded):
    """Do the CSV and HTML list every student, and do nbgrader's generate_feedback and export run unchanged?"""
    course, result = graded
    rows = {r["student"]: r for r in csv.DictReader(open(result.csv_path))}
    assert set(rows) == set(classroom.EXPECTED)
    assert rows["honest"]["report_card"] == "1" and "wall" in rows["infinite_loop"]["limit_hits"]
    assert "patches_asserts" in result.html_path.read_text()
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    for cmd in (["generate_feedback", classroom.LAB, "--student=honest"], ["export"]):
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *cmd, f"--CourseDirectory.root={course}"],
                              cwd=course, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert (course / "feedback" / "honest" / classroom.LAB / f"{classroom.LAB}.html").is_file()
    export = {r["student_id"]: r for r in csv.DictReader(open(course / "grades.csv"))}
    assert float(export["honest"]["score"]) == 3 and float(export["patches_asserts"]["score"]) == 0


def test_rerun_grades_only_what_changed(graded):
    """Does a second run skip unchanged submissions and regrade only a changed one?"""
    course, _ = graded
    t0 = time.perf_counter()
    again = grade(classroom.LAB, course=course, workers=1, settings=SETTINGS, progress=False)
    assert {r["status"] for r in again.rows} == {"unchanged"}
    assert time.perf_counter() - t0 < 120
    assert {r["student"]: r["score"] for r in again.rows} == classroom.EXPECTED
    shutil.copy(course / "submitted" / "honest" / classroom.LAB / f"{classroom.LAB}.ipynb",
                course / "submitted" / classroom.CORRUPT / classroom.LAB / f"{classroom.LAB}.ipynb")
    once = grade(classroom.LAB, [classroom.CORRUPT, "blank"], course=course, workers=1, settings=SETTINGS,
                 progress=False)
    assert once.row("blank")["status"] == "unchanged" and once.row(classroom.CORRUPT)["status"] == "graded"
    assert once.row(classroom.CORRUPT)["score"] == 3


@pytest.fixture(scope="module")
def remote_scheduler(tmp_path_factory):
    """A Dask cluster started with the `dask scheduler` and `dask worker` commands on 127.0.0.1."""
    d = tmp_path_factory.mktemp("dask")
    sched_file = d / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker"]
    if shutil.which("dask", path=str(Path(sys.executable).parent)):
        dask = [str(Path(sys.executable).parent / "dask"), "scheduler"]
        worker = [str(Path(sys.executable).parent / "dask"), "worker"]
    procs = [subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], cwd=d,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for _ in range(120):
        if sched_file.is_file():
            break
        time.sleep(0.5)
    procs.append(subprocess.Popen([*worker, "--scheduler-file", str(sched_file), "--nworkers", "2", "--nthreads", "1",
                                   "--memory-limit", "0", "--no-dashboard", "--host", "127.0.0.1"], cwd=d,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    import json
    address = json.loads(sched_file.read_text())["address"]
    from distributed import Client
    with Client(address, timeout=60) as c:
        c.wait_for_workers(2, timeout=180)
    yield address
    for p in reversed(procs):
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def test_same_class_through_a_remote_dask_cluster(tmp_path_factory, remote_scheduler):
    """Does the same class get the same scores through an existing scheduler (--scheduler tcp://...)?"""
    course = classroom.build_course(tmp_path_factory.mktemp("remote"))
    result = grade(classroom.LAB, course=course, scheduler=remote_scheduler, settings=SETTINGS, progress=False)
    assert remote_scheduler.startswith("tcp://127.0.0.1:")
    assert {r["student"]: r["score"] for r in result.rows} == classroom.EXPECTED, str(result)
    assert {r["student"] for r in result.rows if r["flags"]} == classroom.FLAGGED
