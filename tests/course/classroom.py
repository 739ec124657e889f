"""A test class for ``greenkit grade``: a course folder holding lab00_setup plus a report card, and
submissions from honest, wrong and adversarial students (each with the score it must get).

The lab is the course's quickest (lab00_setup, < 30 s on an idle 2-core laptop), with one cell
added to its source: an answer cell ``submission`` (the student hands in a model) and a locked
report-card cell verified out of the kernel, so that artefact attacks have something to attack.
Max 3 points: test_class_counts 1, test_evaluate 1, report_card 1.

``build_course(root)`` writes the course (generate_assignment done) and every submission;
``EXPECTED[student]`` is the score each must get with ``on_tamper="zero"``.
Used by tests/course/test_grade_class.py and benchmarks/grade_class.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

REPO = Path(__file__).resolve().parents[2]
LAB = "lab00_setup"

SUBMISSION_SRC = '''\
# The model you hand in: the shipped baseline, loaded (Task 4).
### BEGIN SOLUTION
submitted_model = gk.zoo.load("cnn")
### END SOLUTION
'''
REPORT_SRC = 'report = gk.check(submitted_model, lab="lab00_setup")\nreport.points(1)\n'

CC_OK = '''def class_counts(labels: torch.Tensor) -> torch.Tensor:
    classes = torch.arange(10).unsqueeze(1)
    return (labels.unsqueeze(0) == classes).sum(dim=1).to(torch.int64)
'''
EV_OK = '''def evaluate(model, images, labels, batch_size=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            correct += (model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum().item()
    return correct / len(images)
'''
EV_WRONG = '''def evaluate(model, images, labels, batch_size=1000):
    return 0.5          # plausible, of the right type, wrong
'''
SUB_OK = 'submitted_model = gk.zoo.load("cnn")\n'

# student -> {answer grade_id: source} (missing answer: the stub stays), plus special handling below
ANSWERS: dict[str, dict[str, str]] = {
    "honest": {"class_counts": CC_OK, "evaluate": EV_OK, "submission": SUB_OK},
    "partly_wrong": {"class_counts": CC_OK, "evaluate": EV_WRONG, "submission": SUB_OK},
    "blank": {},
    "crashing": {"class_counts": CC_OK, "evaluate": "import os\nos._exit(3)   # the kernel dies here\n",
                 "submission": SUB_OK},
    "infinite_loop": {"class_counts": CC_OK, "evaluate": textwrap.dedent('''\
        import signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # ignore the grader's interrupt too
        while True:
            time.sleep(0.1)
        '''), "submission": SUB_OK},
    "memory_hog": {"class_counts": CC_OK, "evaluate": textwrap.dedent('''\
        def evaluate(model, images, labels, batch_size=1000):
            hog = [bytearray(2**30) for _ in range(64)]   # 64 GiB
            return 0.0
        '''), "submission": SUB_OK},
    "reads_solutions": {"class_counts": textwrap.dedent('''\
        import json, glob, os
        stolen = 0
        patterns = [os.path.join(os.sep, "*", "*", "solutions", "lab00_setup", "*.ipynb"),
                    os.path.join("..", "..", "..", "solutions", "lab00_setup", "*.ipynb")]
        for path in [p for pattern in patterns for p in glob.glob(pattern)]:
            for cell in json.load(open(path))["cells"]:
                if cell["cell_type"] == "code" and "BEGIN SOLUTION" in "".join(cell["source"]):
                    exec("".join(cell["source"]))
                    stolen += 1
        print("stolen cells:", stolen)
        '''), "evaluate": textwrap.dedent('''\
        try:
            nb = json.load(open("/work/main/solutions/lab00_setup/lab00_setup.ipynb"))
        except OSError as err:
            print("BLOCKED", err)
        ''')},
    "patches_asserts": {"class_counts": textwrap.dedent('''\
        import builtins
        torch.equal = lambda *a, **k: True            # the hidden test compares with torch.equal
        torch.allclose = lambda *a, **k: True
        builtins.abs = lambda x: 0                    # test_evaluate checks abs(acc - recorded) < 1e-3
        def class_counts(labels):
            return torch.full((10,), 1000, dtype=torch.int64)   # right only for the visible test
        '''), "evaluate": EV_WRONG, "submission": SUB_OK},
    "input_transformer": {"class_counts": textwrap.dedent('''\
        def _swallow(lines):
            body = "".join(lines) or "pass\\n"
            return ["try:\\n"] + ["    " + l for l in body.splitlines(True)] + ["\\nexcept BaseException:\\n    pass\\n"]
        get_ipython().input_transformers_post.append(_swallow)   # every later cell, tests included
        ''')},
    "pickle_artefact": {"class_counts": CC_OK, "evaluate": EV_OK, "submission": textwrap.dedent('''\
        import pickle, os, importlib
        _chk = importlib.import_module("greenkit.targets.check")   # the module (the package exports a function)
        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned > /tmp/pwned",))
        _orig = _chk.save_model
        def _save(model, folder, example):
            meta = _orig(model, folder, example)
            for f in os.listdir(folder):
                if f.endswith(".pt") or f.endswith(".pt2"):
                    with open(os.path.join(folder, f), "wb") as fh:
                        pickle.dump(Evil(), fh)           # code that runs when the checker unpickles it
            return meta
        _chk.save_model = _save
        submitted_model = gk.zoo.build("mlp")          # an untrained model that claims the targets
        ''')},
    "leaves_process": {"class_counts": CC_OK + textwrap.dedent('''\
        import os, time, sqlite3
        _pid = os.fork()
        if _pid == 0:                      # a daemon that outlives the notebook...
            os.setsid()
            if os.fork() == 0:
                time.sleep(25)             # ...waits for the grader to finish, then forges the gradebook
                for db in ("../../../gradebook.db", os.path.expanduser("~/gradebook.db")):
                    try:
                        con = sqlite3.connect(db)
                        con.execute("UPDATE grade SET auto_score = 100")
                        con.commit()
                    except Exception:
                        pass
            os._exit(0)
        os.waitpid(_pid, 0)
        '''), "evaluate": EV_OK, "submission": SUB_OK},
    "edits_locked_cell": {"class_counts": CC_OK, "evaluate": EV_WRONG, "submission": SUB_OK},
    "obfuscated_exec": {"class_counts": CC_OK, "evaluate": EV_WRONG + textwrap.dedent('''\
        _code = bytes.fromhex("696d706f7274206275696c74696e733b206275696c74696e732e616273203d206c616d62646120783a2030")
        exec(_code.decode())               # import builtins; builtins.abs = lambda x: 0
        '''), "submission": SUB_OK},
    "escape_attempts": {"class_counts": CC_OK + textwrap.dedent('''\
        import socket, os
        for host, port in (("127.0.0.1", 8786), ("1.1.1.1", 53)):
            try:
                socket.create_connection((host, port), timeout=2).close()
                print("REACHED", host, port)
            except OSError as err:
                print("BLOCKED network", host, port, type(err).__name__)
        here = os.getcwd()
        up = os.path.dirname(os.path.dirname(here))
        print("SEES", sorted(os.listdir(up))[:20])
        try:
            open(os.path.join(up, "planted.txt"), "w").write("x")
            print("WROTE outside")
        except OSError as err:
            print("BLOCKED write", type(err).__name__)
        '''), "evaluate": EV_OK, "submission": SUB_OK},
}
WRONG_LAB = "wrong_lab"
CORRUPT = "corrupt"

# Scores with on_tamper="zero" (max 3). Tampering zeroes the grade cells after the evidence.
EXPECTED: dict[str, float] = {
    "honest": 3, "partly_wrong": 2, "blank": 0, "crashing": 1, "infinite_loop": 1, "memory_hog": 2,
    "reads_solutions": 0, "patches_asserts": 0, "input_transformer": 0, "pickle_artefact": 2,
    "leaves_process": 0, "edits_locked_cell": 2, "obfuscated_exec": 1, "escape_attempts": 3,
    WRONG_LAB: 0, CORRUPT: 0,
}
FLAGGED = {"infinite_loop", "reads_solutions", "patches_asserts", "input_transformer", "pickle_artefact", "leaves_process",
           "obfuscated_exec"}


def _source_notebook() -> nbformat.NotebookNode:
    nb = nbformat.read(REPO / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
    sub = new_code_cell(SUBMISSION_SRC)
    sub.metadata["nbgrader"] = {"grade": False, "grade_id": "submission", "locked": False, "solution": True,
                                "schema_version": 3}
    rep = new_code_cell(REPORT_SRC)
    rep.metadata["nbgrader"] = {"grade": True, "grade_id": "report_card", "locked": True, "points": 1,
                                "solution": False, "schema_version": 3}
    nb.cells += [sub, rep]
    return nb


def _nbgrader(course: Path, *args: str) -> None:
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"],
                          cwd=course, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def build_course(root: Path, students: list[str] | None = None, config_extra: str = "") -> Path:
    """A course folder at ``root/course`` with the lab generated and the class submitted."""
    course = root / "course"
    (course / "solutions" / LAB).mkdir(parents=True)
    nbformat.write(_source_notebook(), course / "solutions" / LAB / f"{LAB}.ipynb")
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    if config_extra:
        with open(course / "nbgrader_config.py", "a") as f:
            f.write("\n" + textwrap.dedent(config_extra))
    _nbgrader(course, "generate_assignment", LAB, "--force")
    release = nbformat.read(course / "labs" / LAB / f"{LAB}.ipynb", as_version=4)
    for student in students or list(EXPECTED):
        folder = course / "submitted" / student / LAB
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text("2026-12-01 12:00:00.000000 UTC")
        target = folder / f"{LAB}.ipynb"
        if student == CORRUPT:
            target.write_text('{"cells": [ {"cell_type": "code", "source": "truncated')
            continue
        if student == WRONG_LAB:
            shutil.copy(REPO / "labs" / "lab01_energy" / "lab01_energy.ipynb", target)
            continue
        write_submission(release, ANSWERS[student], target, edit_locked=(student == "edits_locked_cell"))
    return course


def write_submission(release, answers: dict[str, str], target: Path, edit_locked: bool = False) -> None:
    nb = nbformat.from_dict(json.loads(nbformat.writes(release)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
        if edit_locked and gid == "test_evaluate":
            cell.source = "pass  # the test is gone\n"
            cell.metadata["nbgrader"].update(points=5, grade=False, locked=False)
    if edit_locked:  # also delete the class_counts test and add a cell claiming points
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_class_counts"]
    nbformat.write(nb, target)
