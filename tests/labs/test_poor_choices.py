"""Labs 1-5: poor choices and plausible garbage fail the report card, which says what to change.

Each test makes the artefacts a student would submit after a deliberately poor choice (99% sparsity
with no fine-tuning, all filters kept, a distilled student that ignores its teacher, a careless
calibration) or plausible garbage of the right type and shape (all-zero weights, untrained models),
then runs the released notebook's own report-card cell (locked, so the student's version is the
instructor's) on them. The cell calls the real fresh-process checker. The checks:

- the report card fails, and its message names the choice (SPARSITY, CHANNELS, T_BEST/ALPHA_BEST,
  CALIBRATION/PCT, NUM_STEPS/THRESHOLD/RATE_PENALTY) that moves the failed target;
- the report card pays 0 points: garbage that meets an efficiency target by being wrong (an all-zero
  model is "sparse" and "small", an untrained narrow one "cheap") earns nothing.
"""

from __future__ import annotations

import copy

import nbformat
import pytest
import torch
from torch import nn

import greenkit as gk
from greenkit.course import LABS

pytestmark = pytest.mark.slow   # each case runs the fresh-process checker (tens of seconds)

CNN_PRUNABLE = ["features.0", "features.3", "features.7", "classifier.1", "classifier.4"]


def _cell(lab: str, grade_id: str) -> str:
    nb = nbformat.read(LABS / lab / f"{lab}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _points(lab: str, grade_id: str) -> float:
    nb = nbformat.read(LABS / lab / f"{lab}.ipynb", as_version=4)
    return next(c.metadata["nbgrader"]["points"] for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _run_report_card(lab: str, grade_id: str, names: dict) -> tuple[str, object]:
    """Run the released report-card cell on ``names``; return its failure message and the report."""
    ns = {"gk": gk, "display": lambda obj: None, **names}
    with pytest.raises(AssertionError) as failed:
        exec(_cell(lab, grade_id), ns)
    report = ns["report"]
    assert not report.passed
    assert report.points(_points(lab, grade_id)) == 0, f"{lab}: a failed report card must pay nothing"
    return str(failed.value), report


def _zeroed(model: nn.Module) -> nn.Module:
    garbage = copy.deepcopy(model)
    with torch.no_grad():
        for p in garbage.parameters():
            p.zero_()
    return garbage.eval()


def _globally_pruned(model: nn.Module, sparsity: float) -> nn.Module:
    """The baseline with the smallest ``sparsity`` of its prunable weights zeroed, no fine-tuning."""
    pruned = copy.deepcopy(model)
    weights = [pruned.get_submodule(n).weight for n in CNN_PRUNABLE]
    flat = torch.cat([w.detach().abs().flatten() for w in weights])
    cut = flat.kthvalue(round(sparsity * flat.numel())).values
    with torch.no_grad():
        for w in weights:
            w.mul_((w.abs() > cut).to(w.dtype))
    return pruned.eval()


def test_lab02_poor_choices_fail_with_what_to_change(tmp_path, monkeypatch):
    """99% sparsity without fine-tuning and all filters kept: does the report card fail, naming SPARSITY and CHANNELS?"""
    monkeypatch.chdir(tmp_path)
    baseline = gk.zoo.load("cnn")
    message, report = _run_report_card("lab02_pruning", "report_card", {
        "sparse_model": _globally_pruned(baseline, 0.99),
        "channel_model": copy.deepcopy(baseline).eval(),          # CHANNELS = (32, 64, 128): nothing removed
    })
    failed = {r.id for r in report.results if not r.passed}
    assert {"sparse-accuracy", "channel-energy"} <= failed
    assert "SPARSITY" in message and "CHANNELS" in message


def test_lab02_garbage_earns_nothing(tmp_path, monkeypatch):
    """An all-zero 'sparse' model and an untrained narrow 'channel' model (zero, hence 'sparse'; narrow, hence 'cheap'): 0 points?"""
    monkeypatch.chdir(tmp_path)
    baseline = gk.zoo.load("cnn")
    torch.manual_seed(0)
    message, report = _run_report_card("lab02_pruning", "report_card", {
        "sparse_model": _zeroed(baseline),
        "channel_model": gk.zoo.build("cnn", channels=(4, 8, 8)).eval(),
    })
    assert not report["sparse-accuracy"].passed and not report["channel-accuracy"].passed
    assert "SPARSITY" in message and "CHANNELS" in message


def test_lab03_poor_choices_and_garbage_fail(tmp_path, monkeypatch):
    """All-zero INT8 and INT4 models of the right shape (small, hence 'meeting' size): 0 points, naming what to change?"""
    monkeypatch.chdir(tmp_path)
    from greenkit.course import SOLUTIONS, cell_sources

    cells = cell_sources("lab03_quantization", SOLUTIONS)
    ns: dict = {}
    exec("import copy, io, math, time\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
         "import greenkit as gk", ns)
    ns["baseline"] = gk.zoo.load("mlp")
    ns["accuracy"] = lambda model, *a, **k: float("nan")       # the quant-models cell prints accuracies
    for gid in ("quant_basics", "quantize_weight", "int4_pack", "quant-models"):
        exec(cells[gid], ns)
    zero = _zeroed(ns["baseline"])
    message, report = _run_report_card("lab03_quantization", "report_card", {
        "int8_mine": ns["quantize_mlp"](zero, 8, {n: (-1.0, 1.0) for n in ("net.1", "net.4", "net.7")}),
        "int4_qat": ns["quantize_mlp"](zero, 4),
    })
    assert not report["int8-accuracy"].passed and not report["int4-accuracy"].passed
    assert "CALIBRATION" in message and "QAT" in message


def test_lab04_student_ignoring_the_teacher_fails(tmp_path, monkeypatch):
    """ALPHA_BEST = 1 (the teacher ignored): no gain over scratch; and an untrained scratch cannot buy one?"""
    monkeypatch.chdir(tmp_path)
    from greenkit.course import SOLUTIONS, cell_sources

    cells = cell_sources("lab04_distillation", SOLUTIONS)
    ns: dict = {"torch": torch, "gk": gk}
    exec("import math\nimport torch.nn.functional as F", ns)
    for gid in ("log_softmax_t", "distillation_loss", "train_student"):
        exec(cells[gid], ns)
    widths = dict(channels=(8, 16, 16), hidden=32)
    x_lab, y_lab = gk.data.load("train", n_per_class=20)
    torch.manual_seed(0)
    alpha_one = gk.zoo.build("cnn", **widths)
    ns["train_student"](alpha_one, x_lab, torch.zeros(len(x_lab), 10), y_lab, T=1.0, alpha=1.0, epochs=80, seed=0)
    message, report = _run_report_card("lab04_distillation", "report_card", {
        "student": alpha_one.eval(), "scratch": copy.deepcopy(alpha_one).eval()})
    assert not report["gain"].passed and "T_BEST and ALPHA_BEST" in message

    torch.manual_seed(1)
    untrained = gk.zoo.build("cnn", **widths).eval()       # garbage scratch: would make any gain look large
    message, report = _run_report_card("lab04_distillation", "report_card", {
        "student": alpha_one.eval(), "scratch": untrained})
    assert not report["scratch_accuracy"].passed          # the gain over it would be large: refused
    assert "scratch" in message


def test_lab05_silent_network_and_too_many_steps_fail(tmp_path, monkeypatch):
    """An untrained SNN that never fires (cheap, sparse, useless) earns 0; NUM_STEPS = 40 and a threshold so low the
    hidden layer fires all the time are each named as the fix?"""
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    silent = gk.zoo.SpikingMLP(hidden=(256,), num_steps=25, beta=0.9, threshold=1.0)
    with torch.no_grad():
        silent.fcs[0].weight.mul_(0.01)                  # too weak to reach the threshold: no spikes
    message, report = _run_report_card("lab05_snn", "test_report", {"snn": silent.eval(), "losses": []})
    assert not report["accuracy"].passed
    assert "NUM_STEPS, THRESHOLD and RATE_PENALTY" in message

    too_long = gk.zoo.SpikingMLP(hidden=(256,), num_steps=40, beta=0.9, threshold=1.0).eval()
    message, report = _run_report_card("lab05_snn", "test_report", {"snn": too_long, "losses": []})
    assert not report["time-steps"].passed and "NUM_STEPS of at most 25" in message

    chatty = gk.zoo.SpikingMLP(hidden=(256,), num_steps=25, beta=0.9, threshold=0.01).eval()  # fires all the time
    message, report = _run_report_card("lab05_snn", "test_report", {"snn": chatty, "losses": []})
    assert report["spike-rate"].value > 0.2 and not report["spike-rate"].passed
    assert "raise THRESHOLD or RATE_PENALTY" in message


def test_lab01_model_b_too_wide_fails_with_what_to_change(tmp_path, monkeypatch):
    """Model B as wide as A (100% of its MACs): does the report card fail, telling the student to narrow B?"""
    monkeypatch.chdir(tmp_path)
    message, report = _run_report_card("lab01_energy", "report-card", {"model_b": gk.zoo.build("cnn").eval()})
    assert not report["macs-ratio"].passed
    assert "narrower channels for model B" in message
