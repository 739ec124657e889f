"""Cheat attempts from inside the notebook do not earn points: the grader's verdict comes from a fresh process.

Each notebook is executed by nbclient as nbgrader's Execute would; then nbgrader's
OverwriteCells step is reproduced (locked cells get the instructor's source back) and
greenkit's VerifyGreenkitTargets re-verifies the saved artefacts in a new process.
We compare the points nbgrader would give from the kernel's own output with the points
after verification.
"""

from __future__ import annotations

import textwrap

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.utils import determine_grade

from greenkit.course.preprocessors import ClearGreenkitSubmissions, VerifyGreenkitTargets

pytestmark = pytest.mark.slow

TARGETS = """
[[target]]
id = "accuracy"
kind = "accuracy_drop_max"
threshold = 1.0
weight = 3
[[target]]
id = "params"
kind = "params_ratio_eq"
threshold = 1.0
weight = 1
"""

SETUP = "import torch, greenkit as gk\ntorch.manual_seed(0)\n"
HONEST = "model = gk.zoo.load('mlp')\n"
UNTRAINED = "model = gk.zoo.build('mlp').eval()   # 10% accuracy\n"


def _grade_cell(spec_path) -> str:
    return f'report = gk.check(model, lab="{spec_path}")\nreport.points(2)\n'


def _notebook(student_src: str, grade_src: str):
    nb = new_notebook(cells=[new_code_cell(SETUP), new_code_cell(student_src), new_code_cell(grade_src)])
    nb.cells[2].metadata["nbgrader"] = {"grade": True, "grade_id": "report_card", "locked": True,
                                        "points": 2, "solution": False, "schema_version": 3}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _autograde(nb, instructor_grade_src: str, folder):
    """Execute like nbgrader, restore the locked cell (OverwriteCells), verify; return (kernel, verified) points."""
    resources = {"metadata": {"path": str(folder)}}
    ClearGreenkitSubmissions().preprocess(nb, resources)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True, resources=resources).execute()
    kernel_points, _ = determine_grade(nb.cells[2])
    nb.cells[2].source = instructor_grade_src  # what nbgrader's OverwriteCells does for locked cells
    VerifyGreenkitTargets().preprocess(nb, resources)
    verified_points, _ = determine_grade(nb.cells[2])
    return kernel_points, verified_points, nb.cells[2].outputs


CHEATS = {
    "honest baseline earns full points": (HONEST, None, 2.0),
    # the params target is met, but efficiency targets are gated on the same model's accuracy
    "untrained model earns nothing, not even the params share": (UNTRAINED, None, 0.0),
    "monkeypatched gk.check returning a fake report": (UNTRAINED + textwrap.dedent("""
        class FakeReport:
            passed = True
            def points(self, max_points): return max_points
        import greenkit.targets, greenkit.targets.check
        gk.check = greenkit.targets.check = greenkit.targets.check.check = lambda *a, **k: FakeReport()
        """), None, 0.0),
    "patched meter, accuracy and in-process verifier": (UNTRAINED + textwrap.dedent("""
        import greenkit.targets.check as C, greenkit.targets.kinds as K, greenkit.metrics as M
        K.Context.accuracy = lambda self, name: 0.99          # hard-coded accuracy
        M.accuracy = lambda *a, **k: 0.99
        import greenkit.energy as E
        E.compare = lambda *a, **k: None                      # the meter
        C.verify_fresh = lambda folder, lab, **k: C.verify(folder, lab)   # skip the fresh process
        """), None, 0.0),
    "an object whose __eq__ is always True": (textwrap.dedent("""
        class AlwaysEqual:
            def __eq__(self, other): return True
            def __ge__(self, other): return True
            def __le__(self, other): return True
            def points(self, m): return m
        model = AlwaysEqual()
        """), None, 0.0),
    "edited locked grade cell": (HONEST, "2.0  # the student replaced the check with a number\n", 0.0),
}


FOOLS_THE_KERNEL = {"monkeypatched gk.check returning a fake report", "edited locked grade cell"}


@pytest.mark.parametrize("name", list(CHEATS))
def test_cheats_do_not_earn_points(name, write_spec, data_root, tmp_path):
    """Does the independently verified grade match what the model really achieves, whatever the kernel claimed?"""
    student_src, edited_grade, want = CHEATS[name]
    spec = write_spec("advlab", TARGETS)
    instructor = _grade_cell(spec)
    nb = _notebook(student_src, edited_grade or instructor)
    kernel_points, verified, outputs = _autograde(nb, instructor, tmp_path)
    assert verified == want, (kernel_points, [o.get("text", o.get("evalue", "")) for o in outputs])
    if name in FOOLS_THE_KERNEL:
        assert kernel_points == 2.0  # the cheat fooled the kernel; only verification caught it
    text = outputs[0]["data"]["text/plain"]
    assert "fresh process" in text or "COULD NOT CHECK" in text
