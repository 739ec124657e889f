"""Lab 2 (pruning): the shared round trip, plus fast checks of its graded cells.

The fast tests run the hand-written reference functions and their grade cells (hidden tests
included) in a namespace with a randomly initialised baseline, so they need no checkpoint and
take seconds; they also check that plausible wrong answers fail the hidden tests.
"""

from __future__ import annotations

import copy
import time

import nbformat
import pytest
import torch
import torch.nn.functional as F
import torch.nn.utils.prune as prune
from torch import nn

import greenkit as gk
from greenkit.course import LABS, SOLUTIONS, roundtrip, submission_with

LAB = "lab02_pruning"
HAND = ["magnitude_mask", "sensitivity_scan", "global_masks", "finetune_masked", "filter_norms",
        "prune_channels"]
GRADED = {"test_magnitude_mask": ["magnitude_mask"], "test_sensitivity_scan": ["sensitivity_scan"],
          "test_global_masks": ["global_masks"], "test_finetune_masked": ["finetune_masked"],
          "test_prune_channels": ["filter_norms", "prune_channels"]}
PRUNABLE = ["features.0", "features.3", "features.7", "classifier.1", "classifier.4"]


def _cells(root) -> dict[str, str]:
    nb = nbformat.read(root / LAB / f"{LAB}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and "grade_id" in c.metadata.get("nbgrader", {})}


@torch.no_grad()
def _accuracy_on(model, images, labels, batch_size=1000):
    model.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        correct += (model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum().item()
    return correct / len(images)


def _namespace(root) -> dict:
    """The set-up's names (with a random, untrained baseline: no checkpoint needed) and the hand cells."""
    torch.manual_seed(0)
    x_scan, y_scan = gk.data.load("test", n_per_class=20)
    ns = {"copy": copy, "time": time, "torch": torch, "F": F, "prune": prune, "nn": nn, "gk": gk,
          "PRUNABLE": list(PRUNABLE), "baseline": gk.zoo.build("cnn").eval(), "accuracy_on": _accuracy_on,
          "x_scan": x_scan, "y_scan": y_scan}
    cells = _cells(root)
    for gid in HAND:
        exec(cells[gid], ns)
    return ns


@pytest.mark.parametrize("grade_id", sorted(GRADED))
def test_solution_passes_its_hidden_tests(grade_id):
    """Does each hand-written reference function pass its own grade cell, hidden tests included?"""
    ns = _namespace(SOLUTIONS)
    exec(_cells(SOLUTIONS)[grade_id], ns)


@pytest.mark.parametrize("grade_id", sorted(GRADED))
def test_untouched_student_cell_fails(grade_id):
    """Does the released notebook's grade cell fail (zero marks) while the functions are stubs?"""
    cells = _cells(LABS)
    for gid in GRADED[grade_id]:
        assert "raise NotImplementedError()" in cells[gid], f"{gid} should be a stub in labs/"
    ns = _namespace(LABS)
    with pytest.raises(NotImplementedError):
        exec(cells[grade_id], ns)


def _grade_with(grade_id: str, **replacements) -> None:
    ns = _namespace(SOLUTIONS)
    ns.update(replacements)
    exec(_cells(SOLUTIONS)[grade_id], ns)


def test_threshold_without_tie_handling_fails():
    """Is a mask '|w| > k-th smallest' (which over-prunes ties) rejected?"""
    def by_threshold(weight, sparsity):
        if not 0 <= sparsity <= 1:
            raise ValueError(sparsity)
        k = round(sparsity * weight.numel())
        if k == 0:
            return torch.ones_like(weight)
        t = weight.abs().flatten().kthvalue(k).values
        return (weight.abs() > t).to(weight.dtype)

    with pytest.raises(AssertionError, match="exactly 3|tied"):
        _grade_with("test_magnitude_mask", magnitude_mask=by_threshold)


def test_finetune_without_masking_fails():
    """Does fine-tuning that lets pruned weights grow back fail the grade cell?"""
    def leaky(model, masks, images, labels, steps, batch_size=64, lr=1e-3, seed=0):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        with torch.no_grad():
            for n, m in masks.items():
                model.get_submodule(n).weight.mul_(m)
        model.train()
        for _ in range(steps):
            idx = torch.randint(len(images), (batch_size,), generator=gen)
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return model.eval()

    with pytest.raises(AssertionError, match="came back"):
        _grade_with("test_finetune_masked", finetune_masked=leaky)


def test_magnitude_mask_calling_torch_prune_fails():
    """Does a magnitude_mask that calls torch.nn.utils.prune (the tests' reference) fail the hidden tests?"""
    def borrowed(weight, sparsity):
        if not 0 <= sparsity <= 1:
            raise ValueError(sparsity)
        holder = nn.Module()
        holder.weight = nn.Parameter(weight.detach().clone())
        prune.l1_unstructured(holder, "weight", amount=sparsity)
        return holder.weight_mask

    with pytest.raises(AssertionError, match="must not call torch.nn.utils.prune"):
        _grade_with("test_magnitude_mask", magnitude_mask=borrowed)
    assert prune.L1Unstructured.compute_mask.__qualname__ == "L1Unstructured.compute_mask", "restored after the test"


def test_global_masks_calling_torch_prune_fails():
    """Does a global_masks built on prune.global_unstructured fail the hidden tests?"""
    def borrowed(model, layer_names, sparsity):
        ref = copy.deepcopy(model)
        prune.global_unstructured([(ref.get_submodule(n), "weight") for n in layer_names],
                                  pruning_method=prune.L1Unstructured, amount=sparsity)
        return {n: ref.get_submodule(n).weight_mask.clone() for n in layer_names}

    with pytest.raises(AssertionError, match="must not call torch.nn.utils.prune"):
        _grade_with("test_global_masks", global_masks=borrowed)


def test_finetune_by_reparameterisation_passes():
    """Does approach 2 (torch.nn.utils.prune's re-parameterisation, folded back with prune.remove) earn the points?"""
    def reparameterised(model, masks, images, labels, steps, batch_size=64, lr=1e-3, seed=0):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)    # as the given lines: before re-parameterising
        for n, m in masks.items():
            prune.custom_from_mask(model.get_submodule(n), "weight", m)
        # the optimiser holds the original weight Parameter, which prune renamed weight_orig: same object
        model.train()
        for _ in range(steps):
            idx = torch.randint(len(images), (batch_size,), generator=gen)
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        for n in masks:
            prune.remove(model.get_submodule(n), "weight")
        return model.eval()

    _grade_with("test_finetune_masked", finetune_masked=reparameterised)


def test_finetune_that_keeps_the_reparameterisation_is_told_to_fold_it():
    """Does the visible test tell an approach-2 answer that forgot prune.remove what to do?"""
    def unfolded(model, masks, images, labels, steps, batch_size=64, lr=1e-3, seed=0):
        for n, m in masks.items():
            prune.custom_from_mask(model.get_submodule(n), "weight", m)
        return model.eval()

    with pytest.raises(AssertionError, match="fold the masks back in"):
        _grade_with("test_finetune_masked", finetune_masked=unfolded)


def test_channel_pruning_that_forgets_batchnorm_fails():
    """Is a channel pruning that keeps the first BatchNorm entries (not the surviving ones) rejected?"""
    ns = _namespace(SOLUTIONS)
    right = ns["prune_channels"]

    def wrong_bn(model, channels, p=1):
        small = right(model, channels, p)
        with torch.no_grad():
            for i, c in zip((1, 4, 8), channels, strict=True):
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    getattr(small.features[i], attr).copy_(getattr(model.features[i], attr)[:c])
        return small

    with pytest.raises(AssertionError):
        _grade_with("test_prune_channels", prune_channels=wrong_bn)


def test_spec_matches_the_report_card():
    """Does the spec hold the issue's targets, and does the report-card cell check both artefacts?"""
    spec = gk.targets.load_spec(LAB)
    t = {x.id: x for x in spec.targets}
    assert (t["sparse-sparsity"].kind, t["sparse-sparsity"].threshold) == ("sparsity_min", 0.90)
    assert (t["sparse-accuracy"].kind, t["sparse-accuracy"].threshold) == ("accuracy_drop_max", 1.0)
    assert (t["channel-accuracy"].kind, t["channel-accuracy"].threshold) == ("accuracy_drop_max", 2.0)
    assert (t["channel-energy"].kind, t["channel-energy"].threshold) == ("energy_ratio_max", 0.7)
    assert spec.data.n_per_class == 1000, "final accuracy is on the full test split"
    src = _cells(SOLUTIONS)["report_card"]
    assert 'lab="lab02_pruning"' in src and '"sparse": sparse_model' in src and '"channel": channel_model' in src


def test_channel_pruned_model_round_trips_through_the_checker(tmp_path):
    """Does a model from prune_channels save and load back as a zoo state dict, computing the same logits?"""
    from greenkit.targets.artefacts import load_model, save_model

    ns = _namespace(SOLUTIONS)
    small = ns["prune_channels"](ns["baseline"], (16, 32, 64))
    x = gk.data.load("test", n_per_class=1)[0]
    save_model(small, tmp_path / "channel", x[:4])
    loaded, _ = load_model(tmp_path / "channel")
    assert type(loaded) is gk.zoo.FashionCNN and loaded.channels == (16, 32, 64)
    with torch.no_grad():
        assert torch.allclose(loaded.eval()(x), small(x), atol=1e-5)


# Plausible garbage of the right types and shapes, no tampering (issue 13: such a notebook once earned
# 1.7 of 16 auto points): masks with exactly the asked-for number of zeros but at random places, no
# fine-tuning, random filter norms, an untrained model of the asked-for widths, a made-up prediction.
GARBAGE = {
    "magnitude_mask": (
        "def magnitude_mask(weight, sparsity):\n"
        "    flat = torch.ones(weight.numel(), dtype=weight.dtype, device=weight.device)\n"
        "    flat[torch.randperm(weight.numel())[:round(sparsity * weight.numel())]] = 0\n"
        "    return flat.view_as(weight)\n"),
    "sensitivity_scan": (
        "def sensitivity_scan(model, layer_names, sparsities, images, labels):\n"
        "    return {name: [0.9 - 0.1 * s for s in sparsities] for name in layer_names}\n"),
    "global_masks": (
        "def global_masks(model, layer_names, sparsity):\n"
        "    return {n: magnitude_mask(model.get_submodule(n).weight, sparsity) for n in layer_names}\n"),
    "finetune_masked": (
        "def finetune_masked(model, masks, images, labels, steps, batch_size=64, lr=1e-3, seed=0):\n"
        "    return model\n"),
    "choose_sparsity": "SPARSITY, FT_LR = 0.9, 3e-4\n",
    "filter_norms": "def filter_norms(weight, p=1):\n    return torch.rand(weight.shape[0]) + 0.1\n",
    "prune_channels": (
        "def prune_channels(model, channels, p=1):\n"
        "    return gk.zoo.build('cnn', channels=list(channels)).eval()\n"),
    "choose_channels": "CHANNELS = (16, 32, 64)\n",
    "predict": 'predicted_energy_ratio = {"fine-grained": 0.5, "channel-pruned": 0.5}\n',
}


@pytest.mark.slow
def test_lab02_roundtrip(tmp_path):
    """Does the solution earn full marks, the untouched notebook and plausible garbage zero, and labs/
    match generation?"""
    garbage = submission_with(LAB, GARBAGE, tmp_path / "garbage")
    result = roundtrip(LAB, wrong={"garbage": garbage})
    assert result.ok, str(result)
    assert sum(top for _, top in result.solution_scores.values()) >= 12
