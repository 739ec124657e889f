"""Lab 0 (set-up check) passes the shared nbgrader round trip."""

import pytest

from greenkit.course import roundtrip


@pytest.mark.slow
def test_lab00_roundtrip():
    """Does the solution earn full marks, the untouched notebook zero, and labs/ match generation?"""
    result = roundtrip("lab00_setup")
    assert result.ok, str(result)
    assert sum(top for _, top in result.solution_scores.values()) >= 2
