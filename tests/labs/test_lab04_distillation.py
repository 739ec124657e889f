"""Lab 4 (knowledge distillation): the shared round trip, plus fast checks of its graded cells."""

from __future__ import annotations

import math

import nbformat
import pytest
import torch
import torch.nn.functional as F

import greenkit as gk
from greenkit.course import LABS, SOLUTIONS, roundtrip, submission_with

LAB = "lab04_distillation"
HAND_PARTS = ["log_softmax_t", "distillation_loss", "teacher_logits", "train_student", "sweep", "break_even"]

# Plausible wrong answers of the right types and shapes (issue 13: a wrong answer earns nothing): scaled
# logits that are not log-probabilities, a loss that ignores the teacher, zero logits, no training, a flat
# sweep, a break-even without the student's cost, a made-up prediction.
GARBAGE = {
    "log_softmax_t": "def log_softmax_t(logits, T):\n    return logits / T\n",
    "distillation_loss": (
        "def distillation_loss(student_logits, teacher_logits, labels, T, alpha):\n"
        "    keep = labels >= 0\n"
        "    return F.cross_entropy(student_logits[keep], labels[keep]) if keep.any() else student_logits.sum() * 0\n"),
    "teacher_logits": "def teacher_logits(teacher, images, batch_size=1000):\n    return torch.zeros(len(images), 10)\n",
    "train_student": (
        "def train_student(student, images, soft_logits, labels, *, T, alpha, epochs, batch_size=128, lr=3e-3, seed=0):\n"
        "    student.eval()\n"
        "    return [1.0 / (e + 1) for e in range(epochs)]\n"),
    "sweep": (
        "def sweep(make_student, images, soft_logits, labels, val_images, val_labels, temperatures, alphas, *,\n"
        "          epochs, seed=0):\n"
        "    return {(T, a): 0.5 for T in temperatures for a in alphas}\n"),
    "choose_t_alpha": "T_BEST, ALPHA_BEST = 4.0, 0.5\n",
    "break_even": (
        "def break_even(distil_energy_j, teacher_j_per_inference, student_j_per_inference):\n"
        "    return distil_energy_j / teacher_j_per_inference\n"),
    "predict": "predicted_energy_ratio = 0.1\n",
}


def _cells(root) -> dict[str, str]:
    nb = nbformat.read(root / LAB / f"{LAB}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and "grade_id" in c.metadata.get("nbgrader", {})}


def _namespace(root) -> dict:
    """The notebook's imports and its hand-written functions (solution or stubs)."""
    cells = _cells(root)
    ns = {"math": math, "torch": torch, "F": F, "gk": gk}
    for gid in HAND_PARTS:
        exec(cells[gid], ns)
    return ns


def _hidden(src: str) -> str:
    return src.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]


@pytest.mark.parametrize("gid", HAND_PARTS)
def test_solution_passes_its_hidden_tests(gid):
    """Does each reference function pass the hidden tests of its grade cell?"""
    ns = _namespace(SOLUTIONS)
    exec(_hidden(_cells(SOLUTIONS)[f"test_{gid}"]), ns)


@pytest.mark.parametrize("gid", HAND_PARTS)
def test_untouched_student_function_fails(gid):
    """With the released stubs, does the grade cell's hidden test (restored at grading) fail?"""
    ns = _namespace(LABS)
    assert "### BEGIN HIDDEN TESTS" not in _cells(LABS)[f"test_{gid}"], "hidden tests leaked into labs/"
    with pytest.raises(NotImplementedError):
        exec(_hidden(_cells(SOLUTIONS)[f"test_{gid}"]), ns)


def _wrong(gid: str, src: str):
    """Run the hidden test of ``gid`` with one reference function replaced by ``src``."""
    ns = _namespace(SOLUTIONS)
    exec(src, ns)
    exec(_hidden(_cells(SOLUTIONS)[f"test_{gid}"]), ns)


@pytest.mark.parametrize("borrowed", [
    lambda z, T: F.log_softmax(z / T, dim=1),
    lambda z, T: torch.log_softmax(z / T, dim=1),
    lambda z, T: (z / T).log_softmax(1),
    lambda z, T: torch.log(torch.softmax(z / T, dim=1)),
])
def test_log_softmax_from_the_library_fails(borrowed):
    """Does a log_softmax_t that calls torch's (log-)softmax (the tests' reference) fail, and is torch restored?"""
    ns = _namespace(SOLUTIONS)
    ns["log_softmax_t"] = borrowed
    with pytest.raises(AssertionError, match="must not call torch's softmax|not stable"):
        exec(_cells(SOLUTIONS)["test_log_softmax_t"], ns)
    z = torch.randn(3, 4)
    assert torch.allclose(F.log_softmax(z, 1), torch.log_softmax(z, 1)) and torch.allclose(z.softmax(1).sum(1), torch.ones(3))


def test_loss_without_t_squared_fails():
    """Is a distillation loss that forgets the T^2 factor caught?"""
    with pytest.raises(AssertionError):
        _wrong("distillation_loss", """
def distillation_loss(s, t, y, T, alpha):
    log_ps, log_pt = log_softmax_t(s, T), log_softmax_t(t, T)
    soft = (log_pt.exp() * (log_pt - log_ps)).sum(1).mean()
    hard = -log_softmax_t(s[y >= 0], 1.0).gather(1, y[y >= 0].unsqueeze(1)).mean() if (y >= 0).any() else s.sum() * 0
    return alpha * hard + (1 - alpha) * soft
""")


def test_loss_with_reversed_kl_fails():
    """Is KL(student || teacher) instead of KL(teacher || student) caught?"""
    with pytest.raises(AssertionError):
        _wrong("distillation_loss", """
def distillation_loss(s, t, y, T, alpha):
    log_ps, log_pt = log_softmax_t(s, T), log_softmax_t(t, T)
    soft = (log_ps.exp() * (log_ps - log_pt)).sum(1).mean()
    hard = -log_softmax_t(s[y >= 0], 1.0).gather(1, y[y >= 0].unsqueeze(1)).mean() if (y >= 0).any() else s.sum() * 0
    return alpha * hard + (1 - alpha) * T * T * soft
""")


def test_loss_counting_unlabelled_in_hard_term_fails():
    """Is a hard term averaged over the whole batch (unlabelled images as zeros) caught?"""
    with pytest.raises(AssertionError):
        _wrong("distillation_loss", """
def distillation_loss(s, t, y, T, alpha):
    log_ps, log_pt = log_softmax_t(s, T), log_softmax_t(t, T)
    soft = (log_pt.exp() * (log_pt - log_ps)).sum(1).mean()
    m = y >= 0
    hard = -(log_softmax_t(s, 1.0).gather(1, y.clamp(min=0).unsqueeze(1)).squeeze(1) * m).sum() / len(y)
    return alpha * hard + (1 - alpha) * T * T * soft
""")


def test_teacher_logits_in_train_mode_fails():
    """Are teacher logits computed with dropout still on caught?"""
    with pytest.raises(AssertionError):
        _wrong("teacher_logits", """
def teacher_logits(teacher, images, batch_size=1000):
    with torch.no_grad():
        return torch.cat([teacher(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
""")


def test_train_student_with_sgd_fails():
    """Is a loop that departs from the recipe (SGD instead of Adam) caught by the weight comparison?"""
    ns = _namespace(SOLUTIONS)
    src = _cells(SOLUTIONS)["train_student"].replace("torch.optim.Adam", "torch.optim.SGD")
    exec(src, ns)
    with pytest.raises(AssertionError):
        exec(_hidden(_cells(SOLUTIONS)["test_train_student"]), ns)


def test_break_even_without_inf_fails():
    """Is a break-even that divides by a non-positive saving caught?"""
    with pytest.raises((AssertionError, ZeroDivisionError)):
        _wrong("break_even", """
def break_even(e, et, es):
    return float(e / (et - es))
""")


def test_predict_hidden_test_matches_profile():
    """Does the MAC ratio from gk.profile equal the grade cell's analytical count?"""
    x = torch.zeros(1, 1, 28, 28)
    widths = {"channels": (8, 16, 16), "hidden": 32}
    ns = {"STUDENT_WIDTHS": widths,
          "predicted_energy_ratio": gk.profile(gk.zoo.build("cnn", **widths), x).macs
          / gk.profile(gk.zoo.build("cnn"), x).macs}
    exec(_hidden(_cells(SOLUTIONS)["test_predict"]), ns)


def test_spec_targets():
    """Does the lab's spec hold the targets the report card describes (student <= 5% of the teacher,
    distilled over scratch checked by the fresh-process checker from the two submitted artefacts)?"""
    spec = gk.targets.load_spec(LAB)
    ids = {t.id: t for t in spec.targets}
    assert set(ids) == {"accuracy", "params", "energy", "gain", "scratch_accuracy", "scratch_params"}
    assert {t.artefact for t in spec.targets} == {"student", "scratch"}
    assert all(t.weight == 0 for t in spec.targets), "all or nothing: garbage meeting one target earns no points"
    assert ids["gain"].kind == "accuracy_gain_min" and ids["gain"].options.over == "scratch"
    assert ids["gain"].threshold > 0
    assert ids["params"].kind == "params_ratio_max" and ids["params"].threshold <= 0.05
    assert ids["energy"].kind == "energy_ratio_max" and ids["energy"].threshold <= 0.3
    assert spec.baseline == "cnn"
    student = gk.zoo.build("cnn", channels=(8, 16, 16), hidden=32)
    ratio = sum(p.numel() for p in student.parameters()) / sum(p.numel() for p in gk.zoo.build("cnn").parameters())
    assert ratio <= ids["params"].threshold


def test_report_card_submits_both_students():
    """Does the report card submit the artefacts the spec names, and leave the gain to the checker?"""
    src = _cells(SOLUTIONS)["report_card"]
    assert 'gk.check({"student": student, "scratch": scratch}, lab="lab04_distillation")' in src
    assert "accuracy(" not in src, "the gain is recomputed by the checker, not in the student's kernel"


@pytest.mark.slow
def test_lab04_roundtrip(tmp_path):
    """Does the solution earn full marks, the untouched notebook and plausible garbage zero, and labs/
    match generation?"""
    result = roundtrip(LAB, wrong={"garbage": submission_with(LAB, GARBAGE, tmp_path / "garbage")})
    assert result.ok, str(result)
    assert sum(top for _, top in result.solution_scores.values()) >= 15
