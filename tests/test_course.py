"""greenkit.course: authoring helpers and the nbgrader round trip catch broken labs."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from greenkit import course


def test_solution_cell_requires_markers():
    """Is a solution cell without ### BEGIN SOLUTION refused (it would leak the answer)?"""
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        course.solution("def f(): return 1", "f")


def test_test_cell_requires_points():
    """Is a graded test cell with no points refused?"""
    with pytest.raises(ValueError, match="points"):
        course.tests("assert True", "t", points=0)


def test_cells_carry_nbgrader_metadata():
    """Do the helpers set the nbgrader flags nbgrader needs (locked tests, graded answers)?"""
    t = course.tests("assert True", "t1", points=2).metadata["nbgrader"]
    assert t["grade"] and t["locked"] and not t["solution"] and t["points"] == 2
    a = course.answer("a1", 3, "rubric").metadata["nbgrader"]
    assert a["grade"] and a["solution"] and not a["locked"]
    s = course.solution("### BEGIN SOLUTION\nx=1\n### END SOLUTION", "s1").metadata["nbgrader"]
    assert s["solution"] and not s["grade"] and not s["locked"]


def test_strip_outputs_clears_everything():
    """Are outputs and execution counts removed before a notebook is committed?"""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1+1")
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    cell.execution_count = 1
    nb.cells = [cell]
    course.strip_outputs(nb)
    assert cell.outputs == [] and cell.execution_count is None


@pytest.fixture
def fake_course(tmp_path, monkeypatch):
    """A course folder ($GREENKIT_COURSE) holding copies of lab00_setup that tests may break."""
    sol, labs = tmp_path / "solutions", tmp_path / "labs"
    shutil.copytree(course.SOLUTIONS / "lab00_setup", sol / "lab00_setup")
    shutil.copytree(course.LABS / "lab00_setup", labs / "lab00_setup")
    shutil.copy(course.ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    monkeypatch.setenv("GREENKIT_COURSE", str(tmp_path))
    return sol / "lab00_setup" / "lab00_setup.ipynb", labs / "lab00_setup" / "lab00_setup.ipynb"


def test_roundtrip_catches_drift_and_a_solution_that_fails(fake_course):
    """Does the round trip flag a hand-edited labs/ copy and a wrong solution?"""
    src, released = fake_course
    nb = nbformat.read(released, as_version=4)
    nb.cells[0].source += "\nEdited by hand."
    nbformat.write(nb, released)
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:  # break the evaluate() solution: always report 0.5
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "evaluate":
            cell.source = cell.source.replace("return correct / len(images)", "return 0.5")
    nbformat.write(nb, src)
    # a "wrong" submission that is in fact half right (the solution's class_counts) must be flagged too
    result = course.roundtrip("lab00_setup", wrong={"copied": src.parent})
    assert not result.ok
    text = " ".join(result.problems)
    assert "differs from what generation produces" in text
    assert "solution earns 0/1 on 'test_evaluate'" in text
    assert "AssertionError: your accuracy 0.5000" in text, "a failed round trip must say why the cell failed"
    assert "wrong submission 'copied' earns" in text and "'test_class_counts'" in text
    assert result.wrong_scores["copied"]["test_evaluate"][0] == 0


def test_submission_with_needs_an_answer_for_every_answer_cell(tmp_path):
    """Is a wrong-answer submission refused when it leaves an answer cell out, or names a cell that is not one?"""
    with pytest.raises(KeyError, match="evaluate"):
        course.submission_with("lab00_setup", {"class_counts": "def class_counts(labels): return {}"}, tmp_path / "a")
    answers = {"class_counts": "x = 1", "evaluate": "y = 2", "test_evaluate": "assert True"}
    with pytest.raises(KeyError, match="test_evaluate"):
        course.submission_with("lab00_setup", answers, tmp_path / "b")
    del answers["test_evaluate"]
    out = course.submission_with("lab00_setup", answers, tmp_path / "c")
    sources = {course.grade_id(c): c.source for c in nbformat.read(out / "lab00_setup.ipynb", as_version=4).cells}
    assert sources["class_counts"] == "x = 1" and sources["evaluate"] == "y = 2"
