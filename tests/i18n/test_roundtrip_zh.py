"""The Chinese lab00_setup passes the same nbgrader round trip as the English one."""

import nbformat
import pytest

from greenkit.course import SOLUTIONS
from greenkit.i18n import build


@pytest.mark.slow
def test_lab00_zh_roundtrip():
    """Does the translated solution earn full marks and the untouched Chinese student notebook zero, with
    labs/zh_CN/lab00_setup exactly what generation gives, graded on the English lab's grade ids and points?"""
    result = build.roundtrip("lab00_setup", "zh_CN")
    assert result.ok, str(result)
    nb = nbformat.read(SOLUTIONS / "lab00_setup" / "lab00_setup.ipynb", as_version=4)
    graded = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert {g: top for g, (_, top) in result.solution_scores.items()} == graded
