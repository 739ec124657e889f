"""greenkit grade, piece by piece (seconds each): restoring notebooks, tamper checks, the sandbox,
the node lock, limits and the class report in a real headless browser."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from greenkit.course.grade import integrity, locks
from greenkit.course.grade.limits import GradeSettings, Limits
from greenkit.course.grade.restore import instructor_template, restore
from greenkit.course.grade.sandbox import BWRAP_PACKAGE, probe, sandbox_argv, sandbox_uid

REPO = Path(__file__).resolve().parents[2]
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def _cell(kind, src, **nbg):
    c = new_code_cell(src) if kind == "code" else new_markdown_cell(src)
    if nbg:
        c.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False, "locked": False, **nbg}
    return c


def _source(tmp_path) -> Path:
    nb = new_notebook(cells=[
        _cell("md", "# Lab", grade_id="intro", locked=True),
        _cell("code", "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n",
              grade_id="f", solution=True),
        _cell("code", "assert f(2) == 4\n### BEGIN HIDDEN TESTS\nassert f(5) == 10\n### END HIDDEN TESTS\n",
              grade_id="test_f", grade=True, locked=True, points=2),
    ])
    path = tmp_path / "src.ipynb"
    nbformat.write(nb, path)
    return path


def _submission(template, f_src: str | None, edit=None) -> str:
    nb = nbformat.from_dict(json.loads(nbformat.writes(template)))
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "f" and f_src is not None:
            c.source = f_src
        if gid == "test_f":  # what students see: no hidden tests
            c.source = "assert f(2) == 4\n"
    if edit:
        edit(nb)
    return nbformat.writes(nb)


# ---- restore -------------------------------------------------------------------------------------

def test_restore_takes_only_answers_from_the_student(tmp_path):
    """Is an edited test cell (source, points, grade flag) replaced by the instructor's, hidden tests included?"""
    t = instructor_template(_source(tmp_path), STUB, "ANSWER")

    def edit(nb):
        nb.cells[2].source = "pass"
        nb.cells[2].metadata["nbgrader"].update(points=100, grade=False)
    r = restore(_submission(t, "def f(x):\n    return 2 * x\n", edit), t)
    assert r.fatal is None
    test = r.nb.cells[2]
    assert "assert f(5) == 10" in test.source and test.metadata["nbgrader"]["points"] == 2
    assert test.metadata["nbgrader"]["grade"] is True
    assert r.nb.cells[1].source == "def f(x):\n    return 2 * x\n"
    assert r.student_cells == [1]
    assert any("test_f" in p and "edited" in p for p in r.problems)


def test_untouched_locked_cell_is_not_reported(tmp_path):
    """Is a student notebook as released (hidden tests removed) restored without any problem reported?"""
    t = instructor_template(_source(tmp_path), STUB, "ANSWER")
    assert restore(_submission(t, None), t).problems == []


def test_restore_reinstates_deleted_and_reordered_cells(tmp_path):
    """Do a deleted test cell come back, a moved one go back in place, and added cells keep their place?"""
    t = instructor_template(_source(tmp_path), STUB, "ANSWER")

    def edit(nb):
        extra = new_code_cell("helper = 1")
        extra.metadata["nbgrader"] = {"grade": True, "grade_id": "fake", "points": 50, "locked": True}
        nb.cells = [nb.cells[0], extra, nb.cells[1]]      # test cell deleted, a fake grade cell added
    r = restore(_submission(t, "def f(x):\n    return 0\n", edit), t)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in r.nb.cells]
    assert ids == ["intro", None, "f", "test_f"]          # the added cell is an ordinary cell now
    assert r.nb.cells[1].source == "helper = 1" and "nbgrader" not in r.nb.cells[1].metadata
    assert 1 in r.student_cells and 2 in r.student_cells
    assert any("deleted" in p for p in r.problems)


def test_restore_refuses_wrong_lab_and_corrupt_notebooks(tmp_path):
    """Are another lab's notebook and a truncated file reported (fatal), not executed and not a crash?"""
    t = instructor_template(_source(tmp_path), STUB, "ANSWER")
    other = (REPO / "labs" / "lab01_energy" / "lab01_energy.ipynb").read_text()
    assert "another lab" in restore(other, t).fatal
    assert "could not be read" in restore('{"cells": [', t).fatal
    assert restore(b"\xff\xfe garbage".decode("latin-1"), t).fatal


def test_duplicated_answer_cell_keeps_the_first(tmp_path):
    """Does a duplicated grade_id keep its first cell and report the copy?"""
    t = instructor_template(_source(tmp_path), STUB, "ANSWER")

    def edit(nb):
        dup = nbformat.from_dict(json.loads(json.dumps(nb.cells[1])))
        dup.source = "def f(x):\n    return 2 * x\n"
        nb.cells.insert(2, dup)
    r = restore(_submission(t, "def f(x):\n    return -1\n", edit), t)
    assert "return -1" in r.nb.cells[1].source
    assert any("twice" in p for p in r.problems)


# ---- static tamper check -------------------------------------------------------------------------

ATTACKS = {
    "patched torch.allclose": ("import torch\ntorch.allclose = lambda *a, **k: True", "monkeypatch"),
    "aliased module patch": ("import numpy.testing as npt\nnpt.assert_allclose = print", "monkeypatch"),
    "module bound by assignment": ("import importlib\nm = importlib.import_module('greenkit.targets.check')\n"
                                   "m.save_model = print", "monkeypatch"),
    "submodule alias": ("import torch\nt = torch.testing\nt.assert_close = print", "monkeypatch"),
    "setattr on a module": ("import torch\nsetattr(torch, 'equal', lambda a, b: True)", "monkeypatch"),
    "module __dict__ write": ("import torch\ntorch.__dict__['equal'] = max", "monkeypatch"),
    "builtins": ("import builtins\nbuiltins.abs = lambda x: 0", "builtins"),
    "__builtins__": ("__builtins__.abs = lambda x: 0", "builtins"),
    "sys.modules": ("import sys\nsys.modules['torch.testing'] = object()", "sys.modules"),
    "input transformer": ("get_ipython().input_transformers_post.append(lambda l: l)", "ipython-hook"),
    "ast transformer": ("ip = get_ipython()\nip.ast_transformers.append(object())", "ipython-hook"),
    "event hook": ("get_ipython().events.register('post_run_cell', print)", "ipython-hook"),
    "custom exception handler": ("get_ipython().set_custom_exc((Exception,), lambda *a: None)", "ipython-hook"),
    "magic %run": ("%run /tmp/x.py", "ipython-hook"),
    "settrace": ("import sys\nsys.settrace(lambda *a: None)", "tracing"),
    "frame walking": ("import inspect\ng = inspect.currentframe().f_back.f_globals", "tracing"),
    "exec of a built string": ("exec(bytes.fromhex('7072696e74').decode())", "exec"),
    "eval via importlib": ("import importlib\nm = importlib.import_module('o' + 's')", "exec"),
    "reads solutions": ("x = open('/course/solutions/lab/lab.ipynb').read()", "path"),
    "always-equal object": ("class A:\n    def __eq__(self, o):\n        return True", "dunder"),
    "torch_function override": ("class T:\n    __torch_function__ = None", "dunder"),
    "fork": ("import os\nif os.fork() == 0:\n    os.setsid()", "process"),
    "ctypes": ("import ctypes", "process"),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_static_check_flags_each_attack(name):
    """Is each tampering idiom flagged, with the kind of evidence we expect?"""
    src, kind = ATTACKS[name]
    nb = new_notebook(cells=[new_code_cell("import torch, numpy as np"), new_code_cell(src)])
    flags = integrity.static_flags(nb, [1])
    assert kind in {f.kind for f in flags}, flags
    assert all(f.cell == 1 for f in flags)


def test_static_check_ignores_ordinary_code():
    """Are model.eval(), torch.stack, settings like torch.backends.* and plain helpers left alone?"""
    src = ("import torch, copy\nm = copy.deepcopy(torch.nn.Linear(2, 2)).eval()\nx = torch.stack([torch.ones(2)])\n"
           "torch.backends.cudnn.deterministic = True\nclass Net(torch.nn.Module):\n    def forward(self, x):\n"
           "        return x\nprint('solutions are below')\nopen('results.csv', 'w').write('a')\n%timeit 1 + 1\n")
    nb = new_notebook(cells=[new_code_cell(src)])
    assert integrity.static_flags(nb, [0]) == []


@pytest.mark.parametrize("path", sorted(REPO.glob("solutions/*/*.ipynb")), ids=lambda p: p.parent.name)
def test_no_false_flag_on_any_reference_solution(path):
    """Does the static check stay silent on every lab's reference solution (its answer cells, restored)?"""
    cfg = GradeSettings()
    t = instructor_template(path, cfg.code_stub, cfg.text_stub)
    r = restore(path.read_text(), t)
    assert r.fatal is None and r.problems == []
    assert integrity.static_flags(r.nb, r.student_cells) == []


# ---- artefacts -----------------------------------------------------------------------------------

class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/greenkit-test-pwned",))


def test_artefact_scan_flags_code_carrying_pickles_without_running_them(tmp_path):
    """Is a pickle that calls os.system flagged (bare, and inside a torch.save zip) and never executed?"""
    marker = Path("/tmp/greenkit-test-pwned")
    marker.unlink(missing_ok=True)
    (tmp_path / "m").mkdir()
    torch.save(torch.nn.Linear(3, 2).state_dict(), tmp_path / "m" / "state.pt")
    assert integrity.scan_artefacts(tmp_path) == []          # a plain state dict is fine
    (tmp_path / "m" / "evil.pkl").write_bytes(pickle.dumps(_Evil()))
    torch.save({"w": torch.ones(1), "x": _Evil()}, tmp_path / "m" / "zipped.pt")
    flags = integrity.scan_artefacts(tmp_path)
    assert {Path(f.evidence.split(" ")[0]).parts[1] for f in flags} == {"evil.pkl", "zipped.pt"}
    assert all("system" in f.evidence for f in flags)
    assert not marker.exists()


# ---- the sandbox ---------------------------------------------------------------------------------

needs_bwrap = pytest.mark.skipif(not probe().available, reason=f"no sandbox here ({probe().reason}); "
                                 f"install the Debian package '{BWRAP_PACKAGE}'")


def _in_sandbox(code: str, tmp_path: Path, limits: Limits | None = None, timeout: float = 60):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    uid = sandbox_uid(str(scratch)) if probe().privileged else None
    if uid is not None:
        os.chown(scratch, uid, uid)
    argv = sandbox_argv([sys.executable, "-c", code], writable=[scratch], limits=limits or Limits(), uid=uid,
                        env={"PATH": "/usr/bin:/bin", "HOME": str(scratch)}, chdir=scratch)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@needs_bwrap
def test_sandbox_hides_the_course_and_allows_only_its_folder(tmp_path):
    """Can sandboxed code see neither the course's solutions nor the repo, and write only its own folder?"""
    secret = tmp_path / "solutions" / "lab.ipynb"
    secret.parent.mkdir()
    secret.write_text("answers")
    code = (f"import os\nprint('secret', os.path.exists({str(secret)!r}))\n"
            f"print('repo', sorted(os.listdir({str(REPO)!r})))\n"
            f"open('mine.txt', 'w').write('ok')\n"
            f"try:\n    open({str(tmp_path / 'planted.txt')!r}, 'w')\n    print('wrote outside')\n"
            f"except OSError as e:\n    print('blocked', type(e).__name__)\n"
            f"print('uid', os.getuid())")
    proc = _in_sandbox(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "secret False" in proc.stdout and "blocked" in proc.stdout
    assert "solutions" not in proc.stdout.split("repo")[1].split("\n")[0]
    assert (tmp_path / "scratch" / "mine.txt").read_text() == "ok"
    assert not (tmp_path / "planted.txt").exists()
    if probe().privileged:
        assert "uid 0" not in proc.stdout


@needs_bwrap
def test_sandbox_has_no_network(tmp_path):
    """Is a server listening on the host's loopback unreachable from the sandbox?"""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    try:
        proc = _in_sandbox(f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                           f"    print('REACHED')\nexcept OSError as e:\n    print('blocked', e)", tmp_path)
    finally:
        srv.close()
    assert "blocked" in proc.stdout and "REACHED" not in proc.stdout, proc.stdout + proc.stderr


@needs_bwrap
def test_sandbox_kills_what_the_notebook_leaves_behind(tmp_path):
    """Does a double-forked, setsid'd daemon die with the sandbox instead of writing after it ended?"""
    marker = tmp_path / "scratch" / "late.txt"
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(3)\n"
            f"        open({str(marker)!r}, 'w').write('still alive')\n    os._exit(0)\nprint('parent done')")
    proc = _in_sandbox(code, tmp_path)
    assert "parent done" in proc.stdout
    time.sleep(5)
    assert not marker.exists()


@needs_bwrap
def test_memory_limit_raises_memory_error_in_the_sandbox_only(tmp_path):
    """Does an allocation past the memory limit fail inside the sandbox (MemoryError), the grader unharmed?"""
    proc = _in_sandbox("try:\n    b = bytearray(3 * 2**30)\n    print('allocated')\nexcept MemoryError:\n"
                       "    print('MemoryError')", tmp_path, Limits(memory_bytes=1 * 2**30))
    assert "MemoryError" in proc.stdout, proc.stdout + proc.stderr


def test_require_sandbox_refuses_without_one(monkeypatch, tmp_path):
    """Does --require-sandbox refuse to grade (naming the package) where no sandbox can be had?"""
    from greenkit.course import grade as grade_mod
    from greenkit.course.grade import sandbox

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.probe.cache_clear()
    try:
        status = sandbox.probe()
        assert not status.available and BWRAP_PACKAGE in status.reason
        (tmp_path / "nbgrader_config.py").write_text("")
        with pytest.raises(sandbox.SandboxUnavailable, match=BWRAP_PACKAGE):
            grade_mod.grade("lab00_setup", course=tmp_path, require_sandbox=True, progress=False)
    finally:
        sandbox.probe.cache_clear()


# ---- node lock, limits ---------------------------------------------------------------------------

def test_energy_verification_waits_for_running_notebooks(tmp_path, monkeypatch):
    """Does an exclusive (energy) hold wait until a running notebook's shared hold ends, and block new ones?"""
    monkeypatch.setenv("GREENKIT_GRADE_LOCKS", str(tmp_path))
    events = []
    started = threading.Event()

    def notebook(name, hold_s):
        with locks.node_lock(exclusive=False):
            events.append(f"{name} start")
            started.set()
            time.sleep(hold_s)
            events.append(f"{name} end")

    def verify():
        with locks.node_lock(exclusive=True):
            events.append("verify start")
            time.sleep(0.3)
            events.append("verify end")

    def verifier_queued() -> bool:
        """Does someone hold the turnstile (the verifier, waiting for the node)? A probe of our own."""
        import fcntl

        with open(tmp_path / "greenkit-grade.turnstile", "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    a = threading.Thread(target=notebook, args=("a", 1.0))
    a.start()
    started.wait()
    v = threading.Thread(target=verify)
    v.start()
    # b must arrive while the verifier waits: once it holds the turnstile (no race with a fixed sleep), and
    # at the latest half-way through a's run (a lock without writer preference then lets b in: caught)
    deadline = time.monotonic() + 0.5
    while not verifier_queued() and time.monotonic() < deadline:
        time.sleep(0.005)
    b = threading.Thread(target=notebook, args=("b", 0.1))   # arrives while the verifier waits
    b.start()
    for t in (a, v, b):
        t.join(10)
    assert events.index("verify start") > events.index("a end")
    assert events.index("b start") > events.index("verify end")


@pytest.mark.parametrize("bad", [dict(wall_s=0), dict(memory_bytes=100), dict(processes=4), dict(disk_bytes=-1)])
def test_limits_refuse_nonsense(bad):
    """Are impossible limits refused with a message naming the field?"""
    with pytest.raises(ValueError, match=next(iter(bad))):
        Limits(**bad)


def test_settings_round_trip_and_policy_check():
    """Do settings survive the trip to a worker (JSON), and is an unknown tamper policy refused?"""
    s = GradeSettings(limits=Limits(wall_s=60, extra_readonly=("/opt/x",)), on_tamper="zero")
    assert GradeSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(ValueError, match="on_tamper"):
        GradeSettings(on_tamper="ignore")


# ---- the class report ----------------------------------------------------------------------------

ROWS = [
    {"student": "ada", "lab": "lab02", "status": "graded", "score": 3.0, "max_score": 3.0,
     "points": {"t1": 1.0, "t2": 2.0}, "flags": [], "limit_hits": [], "energy_kind": "measured",
     "messages": [], "reports": [{"results": [{"id": "energy", "kind": "energy_ratio_max", "value": 0.61,
                                               "method": "measured"}]}]},
    {"student": "bob", "lab": "lab02", "status": "graded", "score": 0.0, "max_score": 3.0,
     "points": {"t1": 0.0, "t2": 0.0}, "flags": [{"kind": "monkeypatch", "cell": 6, "evidence":
                                                   "line 2: assigns torch.allclose", "source": "static"}],
     "limit_hits": ["wall"], "energy_kind": "", "messages": ["the notebook reached its wall-time limit"]},
]


def test_csv_has_a_row_per_student_with_points_flags_and_limits(tmp_path):
    """Does the CSV carry each student's points per cell, flags with evidence, limit hits and energy kind?"""
    import csv

    from greenkit.course.grade import report

    rows = list(csv.DictReader(open(report.write_csv(ROWS, tmp_path / "c.csv"))))
    assert [r["student"] for r in rows] == ["ada", "bob"]
    assert rows[0]["t2"] == "2" and rows[0]["energy_kind"] == "measured"
    assert "torch.allclose" in rows[1]["flags"] and rows[1]["limit_hits"] == "wall"


def test_progress_bar_counts(capsys):
    """Does the progress bar count graded, flagged and failed students?"""
    import io

    from greenkit.course.grade.report import Progress

    buf = io.StringIO()
    p = Progress(2, stream=buf)
    p.update("ada", False, False)
    p.update("bob", True, True)
    assert "2/2 graded, 1 flagged, 1 errors" in buf.getvalue()


def test_html_report_renders_in_headless_chromium(tmp_path):
    """Does the self-contained HTML page draw its three plotly figures and the flagged row in a real browser?"""
    from greenkit.course.grade import report

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed: install the Debian package 'chromium'")
    page = report.write_html(ROWS, tmp_path / "r.html", "Test class")
    text = page.read_text()
    assert "<script src=\"http" not in text      # self-contained: plotly.js inlined, no network
    profile = tmp_path / "profile"
    proc = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert dom.count("class=\"main-svg\"") >= 3, proc.stderr[-2000:]   # plotly drew the three figures
    assert "Score distribution" in dom and "Flagged submissions" in dom
    assert "assigns torch.allclose" in dom and "class=\"flagged\"" in dom


def test_command_says_what_is_missing(tmp_path, capsys):
    """Does `greenkit grade` exit 2 naming the missing source notebook, instead of a traceback?"""
    import argparse

    from greenkit.course.grade import add_arguments, run

    (tmp_path / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.source_directory = "solutions"\n')
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["lab09_none", "--course", str(tmp_path)])) == 2
    assert "solutions/lab09_none/lab09_none.ipynb" in capsys.readouterr().err


def test_zero_policy_zeroes_after_the_evidence_and_keeps_limit_messages():
    """Does "zero" fail only the grade cells after the flagged cell, keeping a limit's message for the feedback?"""
    from greenkit.course.grade import apply_tamper_policy

    nb = new_notebook(cells=[_cell("code", "t1", grade_id="t1", grade=True, points=1),
                             _cell("code", "x", grade_id="a", solution=True),
                             _cell("code", "t2", grade_id="t2", grade=True, points=1),
                             _cell("code", "t3", grade_id="t3", grade=True, points=1)])
    limit = {"output_type": "error", "ename": "GreenkitLimit", "evalue": "wall-time limit", "traceback": []}
    cells = [{"index": i, "outputs": [limit] if i == 3 else [], "execution_count": None} for i in range(4)]
    flags = [{"kind": "monkeypatch", "cell": 1, "evidence": "assigns torch.equal", "source": "static"}]
    apply_tamper_policy(nb, cells, flags, "zero")
    assert cells[0]["outputs"] == [] and cells[1]["outputs"] == []
    assert "torch.equal" in cells[2]["outputs"][0]["evalue"]
    assert [o["ename"] for o in cells[3]["outputs"]] == ["GreenkitLimit", "GreenkitTamperZeroed"]
    untouched = [{"index": i, "outputs": [], "execution_count": None} for i in range(4)]
    apply_tamper_policy(nb, untouched, flags, "flag")
    assert all(c["outputs"] == [] for c in untouched)
