"""Checker hardening (issue 15's checker items): each test is a cheat that must fail."""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import pytest
import torch
from torch import nn

from greenkit import zoo
from greenkit.targets import evaluate, load_spec, submit, verify
from greenkit.targets.artefacts import ArtefactError, load_model, no_unpickling, save_model
from greenkit.tensors import sha256_file

from .conftest import pruned

X = torch.randn(4, 1, 28, 28)


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_no_unpickling_blocks_pickle_and_forces_weights_only(tmp_path, monkeypatch):
    """Inside the loader's guard, does pickle.loads of a payload raise without running it, and does
    torch.load refuse a pickled callable even when asked for weights_only=False?"""
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps(_Boom())
    torch.save({"x": _Boom()}, tmp_path / "boom.pt")
    with no_unpickling():
        with pytest.raises(ArtefactError):
            pickle.loads(payload)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(tmp_path / "boom.pt", weights_only=False)
    assert not (tmp_path / "pwned.txt").exists()
    assert pickle.loads(pickle.dumps([1])) == [1], "the guard must be lifted afterwards"


def test_an_export_carrying_a_pickled_constant_is_refused(tmp_path, monkeypatch):
    """Is a torch.export archive with an opaque (pickled) constant refused before anything unpickles it?"""
    monkeypatch.chdir(tmp_path)

    class Sneaky(zoo.FashionMLP):
        def forward(self, x):
            return super().forward(x) * 2

    folder = tmp_path / "model"
    assert save_model(Sneaky().eval(), folder, X)["format"] == "torch-export"
    src, dst = folder / "model.pt2", folder / "evil.pt2"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        prefix = zin.namelist()[0].split("/")[0]
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        zout.writestr(f"{prefix}/data/constants/opaque_obj_0", pickle.dumps(_Boom()))
    dst.replace(src)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "sha256": sha256_file(src)}))
    with pytest.raises(ArtefactError, match="pickled constant"):
        load_model(folder)
    assert not (tmp_path / "pwned.txt").exists()


def test_a_spec_that_names_a_zoo_architecture_refuses_torch_export(tmp_path, data_root, write_spec):
    """Where the spec says the artefact is a FashionMLP, is an exported graph (any forward) refused at
    submission and at verification, while the plain FashionMLP passes?"""
    spec = write_spec("archlab", '[[target]]\nkind = "params_ratio_eq"\nthreshold = 1.0\n',
                      extra='[artefacts.model]\narch = "FashionMLP"\n')

    class Sneaky(zoo.FashionMLP):
        def forward(self, x):
            return super().forward(x) * 0

    with pytest.raises(ArtefactError, match="plain gk.zoo.FashionMLP"):
        submit(str(spec), Sneaky().eval(), root=tmp_path)
    folder = tmp_path / "greenkit-submissions" / "archlab"
    save_model(Sneaky().eval(), folder / "model", X)  # written by hand, past submit()
    report = verify(folder, str(spec))
    assert report.error and "accepts only a gk.zoo.FashionMLP" in report.error and report.points(4) == 0
    submit(str(spec), zoo.load("mlp"), root=tmp_path)
    assert verify(folder, str(spec)).passed


class _HiddenWeights(nn.Module):
    """Computes with a dense matrix kept as a buffer; its only parameter is an all-zero decoy."""

    def __init__(self, real: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros_like(real))
        self.register_buffer("real", real.clone())

    def forward(self, x):
        return x.flatten(1) @ (self.real + self.weight).T


def test_weights_hidden_in_buffers_count_for_sparsity_and_params(tmp_path, baseline):
    """Does an exported graph that computes with a dense buffer behind an all-zero decoy parameter get
    the buffer counted (sparsity 0.5, not 1.0; a 0.9 target fails) and counted as parameters?"""
    from greenkit.metrics import profile

    real = baseline.net[-1].weight.detach()[:, :1].repeat(1, 784)   # (10, 784), dense
    save_model(_HiddenWeights(real).eval(), tmp_path / "model", X)
    loaded, meta = load_model(tmp_path / "model")
    assert meta["format"] == "torch-export"
    spec = load_spec(_spec_file(tmp_path, '[[target]]\nkind = "sparsity_min"\nthreshold = 0.9\ngated_by = "none"\n'))
    r = evaluate(spec, {"model": loaded}).results[0]
    # counting parameters only saw the all-zero decoy: 100% "sparse"; the buffer makes it half
    assert r.status == "fail" and r.value == pytest.approx(0.5, abs=0.01), (r.value, r.how)
    assert profile(loaded, X).params >= 2 * 7840


def _spec_file(tmp_path, targets: str, energy_batch: int = 64):
    path = tmp_path / "hard.toml"
    path.write_text(f'lab = "hard"\nbaseline = "mlp"\n[data]\nn_per_class = 50\n[energy]\nbatch = {energy_batch}\n'
                    + targets)
    return path


class _BatchCheat(nn.Module):
    """The real model at the batch size accuracy used to be measured at (500), a zero-cost guess otherwise."""

    def __init__(self, real: nn.Module):
        super().__init__()
        self.real = real

    def forward(self, x):
        return self.real(x) if x.shape[0] == 500 else torch.zeros(x.shape[0], 10)


def test_accuracy_is_measured_at_the_energy_batch_size(tmp_path, baseline):
    """Does a model that is accurate only at batch 500 (and free at the energy batch, 64) fail its
    accuracy target, because accuracy is now measured at the energy batch size?"""
    spec = load_spec(_spec_file(tmp_path, '[[target]]\nkind = "accuracy_min"\nthreshold = 0.5\n'))
    honest = evaluate(spec, {"model": baseline}).results[0]
    cheat = evaluate(spec, {"model": _BatchCheat(baseline).eval()}).results[0]
    assert honest.passed and not cheat.passed and cheat.value < 0.2


_GATED = ('[[target]]\nid = "acc"\nkind = "accuracy_min"\nthreshold = 0.5\nweight = 1\n'
          '[[target]]\nid = "sparse"\nkind = "sparsity_min"\nthreshold = 0.5\nweight = 3\n')


def test_efficiency_earns_nothing_without_the_same_artefacts_accuracy(tmp_path, baseline):
    """Does an all-zero model (100% sparse, 10% accurate) fail its sparsity target because the same
    artefact fails accuracy, while a pruned accurate model passes both, also when only the sparsity
    target is selected (the gate is still evaluated)?"""
    zeros = zoo.build("mlp").eval()
    with torch.no_grad():
        for p in zeros.parameters():
            p.zero_()
    spec = load_spec(_spec_file(tmp_path, _GATED))
    cheat = evaluate(spec, {"model": zeros})
    assert cheat["sparse"].value == 1.0 and cheat["sparse"].status == "fail"
    assert "gated on target 'acc'" in cheat["sparse"].reason and cheat.points(4) == 0.0
    only_sparse = evaluate(spec.select(["sparse"]), {"model": zeros})
    assert [r.id for r in only_sparse.results] == ["sparse"] and not only_sparse.results[0].passed
    honest = evaluate(spec, {"model": pruned(zoo.load("mlp"), 0.6)})
    assert honest.passed, str(honest)


def test_gated_by_none_turns_the_gate_off(tmp_path, baseline):
    """With gated_by = "none", does the all-zero model's sparsity pass (so the gate alone made it fail)?"""
    zeros = zoo.build("mlp").eval()
    with torch.no_grad():
        for p in zeros.parameters():
            p.zero_()
    spec = load_spec(_spec_file(tmp_path, _GATED.replace('weight = 3\n', 'weight = 3\ngated_by = "none"\n')))
    assert evaluate(spec, {"model": zeros})["sparse"].passed


def test_a_gate_on_another_artefact_is_refused(tmp_path):
    """Is gated_by naming a target of another artefact refused at load time?"""
    path = _spec_file(tmp_path, '[[target]]\nid = "acc"\nkind = "accuracy_min"\nthreshold = 0.5\nartefact = "a"\n'
                                '[[target]]\nkind = "sparsity_min"\nthreshold = 0.5\nartefact = "b"\ngated_by = "acc"\n')
    with pytest.raises(ValueError, match="same artefact"):
        load_spec(path)


@pytest.mark.parametrize("lab, names, arch", [("lab02_pruning", {"sparse", "channel"}, "FashionCNN"),
                                              ("lab04_distillation", {"student", "scratch"}, "FashionCNN"),
                                              ("lab05_snn", {"snn"}, "SpikingMLP")])
def test_labs_whose_models_are_zoo_architectures_refuse_other_graphs(lab, names, arch):
    """Do the labs that submit zoo models name their architecture, so an exported graph of another
    forward (weights hidden behind a decoy, a branch on batch size) is refused, not measured?"""
    from greenkit.targets import load_spec

    artefacts = load_spec(lab).artefacts
    assert {n for n, a in artefacts.items() if a.arch == arch} == names
