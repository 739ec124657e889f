"""Lab 1 (measuring energy honestly): the shared round trip, plus fast checks of its graded cells."""

from __future__ import annotations

import math
import statistics
import time

import pytest
import torch

import greenkit as gk
from greenkit.course import LABS, SOLUTIONS, cell_sources, roundtrip, submission_with

LAB = "lab01_energy"
HAND_PARTS = ["energy_from_counter", "net_energy", "ci95", "per_inference", "grams_co2e"]

# Plausible wrong answers of the right types (issue 13: a wrong answer earns nothing): a counter difference
# that ignores the wrap, idle energy not scaled to the run, a made-up interval, energy per batch not per
# inference, a unit slip, a constant "measurement", and a model B as wide as A.
GARBAGE = {
    "energy_from_counter": "def energy_from_counter(readings_uj, max_range_uj):\n"
                           "    return (readings_uj[-1] - readings_uj[0]) / 1e6\n",
    "net_energy": "def net_energy(gross_j, duration_s, idle_j, idle_s):\n    return gross_j - idle_j\n",
    "ci95": "def ci95(samples):\n    m = sum(samples) / len(samples)\n    return m, m - 1.0, m + 1.0\n",
    "per_inference": "def per_inference(energy_j, batch_sizes):\n"
                     "    return energy_j / len(batch_sizes), len(batch_sizes) / energy_j\n",
    "grams_co2e": "def grams_co2e(energy_j, intensity_g_per_kwh, pue):\n    return energy_j * intensity_g_per_kwh\n",
    "my_energy_per_inference": "def my_energy_per_inference(model, images, batch_size, windows=6, backend='auto'):\n"
                               "    return 1e-3, 0.9e-3, 1.1e-3\n",
    "predicted_ratio": "model_b = gk.zoo.build('cnn').eval()\npredicted_ratio = 0.25\n",
}


def _cells(root) -> dict[str, str]:
    return cell_sources(LAB, root)


def _namespace(root) -> dict:
    """A namespace with the notebook's imports, the t-table helper and the cells of the hand parts."""
    cells = _cells(root)
    ns = {"math": math, "statistics": statistics, "time": time, "torch": torch, "gk": gk}
    exec(cells["t975"], ns)
    for gid in HAND_PARTS + ["my_energy_per_inference"]:
        exec(cells[gid], ns)
    return ns


@pytest.mark.parametrize("gid", HAND_PARTS)
def test_solution_passes_its_hidden_tests(gid):
    """Does each hand-written reference function pass its own grade cell, hidden tests included?"""
    ns = _namespace(SOLUTIONS)
    exec(_cells(SOLUTIONS)[f"test_{gid}"], ns)


@pytest.mark.parametrize("gid", HAND_PARTS)
def test_untouched_student_cell_fails(gid):
    """Does the released notebook's grade cell fail (zero marks) while the function is still a stub?"""
    ns = _namespace(LABS)
    with pytest.raises(NotImplementedError):
        exec(_cells(LABS)[f"test_{gid}"], ns)


def _hidden(src: str) -> str:
    return src.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]


def test_protocol_hidden_test_with_its_fake_meter():
    """Does the reference protocol give the fake meter's known answer, and does a sloppy one fail?"""
    ns = _namespace(SOLUTIONS)
    hidden = _hidden(_cells(SOLUTIONS)["test_my_energy_per_inference"])
    exec(hidden, dict(ns))

    def counts_batches(model, images, batch_size, windows=6, backend="auto"):
        """Wrong on purpose: divides by the number of batches, not of images."""
        per = []
        with torch.inference_mode():
            model.eval()
            batches = torch.split(images, batch_size)
            for b in batches:
                model(b)
            for _ in range(windows):
                with gk.measure(backend=backend) as m:
                    for b in batches:
                        model(b)
                per.append(m.energy_j / len(batches))
        return ns["ci95"](per)

    with pytest.raises(AssertionError):
        exec(hidden, {**ns, "my_energy_per_inference": counts_batches})


def test_spec_matches_the_grade_cell():
    """Does the lab's spec have the targets the report-card cell reads, and does model B meet the MACs one?"""
    spec = gk.targets.load_spec(LAB)
    ids = {t.id: t for t in spec.targets}
    assert set(ids) == {"macs-ratio", "energy-ratio"}
    assert spec.energy.batch == 64, "the notebook compares the student's ratio at batch 64"
    x = torch.zeros(1, 1, 28, 28)
    ratio = (gk.profile(gk.zoo.build("cnn", channels=(16, 32, 64)), x).macs
             / gk.profile(gk.zoo.build("cnn"), x).macs)
    assert ratio <= ids["macs-ratio"].threshold
    cells = _cells(SOLUTIONS)
    assert 'lab="lab01_energy"' in cells["report-card"]
    assert 'report["energy-ratio"]' in cells["reproduce"] and "gk.compare(cnn_cpu, model_b" in cells["reproduce"]


def test_in_kernel_reproduce_check_earns_no_points():
    """Is the in-kernel 'reproduce' check ungraded (a patched gk.compare could pass it), its points on the report card?"""
    import json

    nb = json.loads((SOLUTIONS / LAB / f"{LAB}.ipynb").read_text())
    meta = {c["metadata"]["nbgrader"].get("grade_id"): c["metadata"]["nbgrader"]
            for c in nb["cells"] if "nbgrader" in c["metadata"]}
    assert not meta["reproduce"].get("grade") and "points" not in meta["reproduce"]
    assert meta["report-card"]["points"] == 4


class _FakeResult:
    def __init__(self, value, interval):
        self.value, self.interval, self.method = value, interval, "estimated (test)"


@pytest.mark.parametrize(("per_inference_j", "passes"), [
    ({"A": 1.0, "B": 0.40}, True),    # honest, 33% above gk.compare's 0.30
    ({"A": 1.0, "B": 0.22}, True),    # honest, 27% below
    ({"A": 1.0, "B": 1.00}, False),   # measured model A twice
    ({"A": 0.30, "B": 1.0}, False),   # A and B swapped
    ({"A": 1.0, "B": 0.0}, False),    # B's windows ran nothing
])
def test_reproduce_cell_accepts_honest_disagreement_and_rejects_wrong_protocols(per_inference_j, passes):
    """Does the 'reproduce' self-check (0 points) pass within a factor of 2 of gk.compare's ratio, and only then?"""
    import types

    compared = []

    def fake_compare(a, b, x, pairs):
        compared.append((a, b, pairs))
        return types.SimpleNamespace(energy_ratio=0.30, energy_ratio_ci95=(0.28, 0.32), kind="estimated")

    def protocol(model, images, batch_size):
        e = per_inference_j[model]
        return (e, e * 0.95, e * 1.05)

    ns = {"gk": types.SimpleNamespace(compare=fake_compare), "my_energy_per_inference": protocol,
          "cnn_cpu": "A", "model_b": "B", "x64": None, "x_test": torch.zeros(256, 1, 28, 28),
          "report": {"energy-ratio": _FakeResult(0.175, (0.169, 0.322))}}
    cell = _cells(SOLUTIONS)["reproduce"]
    if passes:
        exec(cell, ns)
    else:
        with pytest.raises(AssertionError):
            exec(cell, ns)
    assert compared == [("A", "B", 8)], "the cell must measure baseline A against model B with gk.compare"


@pytest.mark.slow
def test_lab01_roundtrip(tmp_path):
    """Does the solution earn full marks, the untouched notebook and plausible garbage zero, and labs/
    match generation?"""
    result = roundtrip(LAB, wrong={"garbage": submission_with(LAB, GARBAGE, tmp_path / "garbage")})
    assert result.ok, str(result)
    assert sum(top for _, top in result.solution_scores.values()) >= 10
