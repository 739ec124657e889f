"""Lab 0 (set-up check) passes the shared nbgrader round trip."""

import pytest

from greenkit.course import roundtrip, submission_with

# Plausible wrong answers of the right types and shapes (a wrong answer earns nothing): a balanced-looking
# count that never looked at the labels, and the accuracy of a model that guesses.
GARBAGE = {
    "class_counts": "def class_counts(labels):\n    return torch.full((10,), len(labels) // 10, dtype=torch.int64)\n",
    "evaluate": "def evaluate(model, images, labels, batch_size=1000):\n    return 0.1\n",
}


@pytest.mark.slow
def test_lab00_roundtrip(tmp_path):
    """Does the solution earn full marks, the untouched notebook and plausible garbage zero, and labs/ match
    generation?"""
    result = roundtrip("lab00_setup", wrong={"garbage": submission_with("lab00_setup", GARBAGE, tmp_path / "g")})
    assert result.ok, str(result)
    assert sum(top for _, top in result.solution_scores.values()) >= 2
