"""Submitted models are saved and loaded without running the student's code or unpickling objects."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
import torch.nn.utils.prune as prune
from torch import nn

from greenkit import zoo
from greenkit.targets import check
from greenkit.targets.artefacts import ArtefactError, load_model, save_model
from greenkit.tensors import sha256_file

X = torch.randn(4, 1, 28, 28)


def _same(a, b):
    with torch.no_grad():
        return torch.allclose(a.eval()(X), b(X), atol=1e-5)


def test_pruned_zoo_model_round_trips_as_a_state_dict(tmp_path):
    """Is a torch-pruned zoo model saved as its effective weights and rebuilt with the same outputs?"""
    m = zoo.build("cnn", channels=(8, 16, 32), hidden=32).eval()
    prune.l1_unstructured(m.classifier[1], "weight", amount=0.8)
    meta = save_model(m, tmp_path / "model", X)
    assert meta["format"] == "zoo-state-dict" and meta["arch"] == "FashionCNN"
    loaded, _ = load_model(tmp_path / "model")
    assert _same(m, loaded)
    assert (loaded.classifier[1].weight == 0).float().mean().item() == pytest.approx(0.8, abs=1e-3)


def test_patched_forward_is_exported_not_trusted_as_the_zoo_architecture(tmp_path):
    """Is a zoo subclass with its own forward saved as an exported graph (so its real cost is measured)?"""
    class Sneaky(zoo.FashionMLP):
        def forward(self, x):
            return super().forward(x) * 2

    m = Sneaky().eval()
    assert save_model(m, tmp_path / "model", X)["format"] == "torch-export"
    loaded, _ = load_model(tmp_path / "model")
    assert _same(m, loaded)


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_a_pickled_object_in_state_pt_is_refused(tmp_path):
    """Does a state.pt carrying a pickled callable fail to load (weights_only) instead of running it?"""
    folder = tmp_path / "model"
    save_model(zoo.build("mlp"), folder, X)
    with open(folder / "state.pt", "wb") as f:
        pickle.dump({"net.1.weight": _Boom()}, f)
    meta = json.loads((folder / "meta.json").read_text())  # a cheat re-records the digest too
    (folder / "meta.json").write_text(json.dumps({**meta, "sha256": sha256_file(folder / "state.pt")}))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(ArtefactError):
            load_model(folder)
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "pwned.txt").exists()


@pytest.mark.parametrize("meta", [{"format": "zoo-state-dict", "arch": "os.system"},
                                  {"format": "pickle"}, {"format": "zoo-state-dict", "arch": "FashionMLP",
                                                         "kwargs": {"hidden": "512"}}])
def test_malformed_meta_is_refused(tmp_path, meta):
    """Is a meta.json naming an unknown format, architecture or an unexpected key refused with ArtefactError?"""
    folder = tmp_path / "model"
    save_model(zoo.build("mlp"), folder, X)
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtefactError):
        load_model(folder)


_BAD_METAS = {
    "SpikingMLP arch with a FashionMLP's state": {"format": "zoo-state-dict", "arch": "SpikingMLP", "kwargs": {}},
    "unhashable arch": {"format": "zoo-state-dict", "arch": ["FashionMLP"], "kwargs": {}},
    "kwargs not a dict": {"format": "zoo-state-dict", "arch": "FashionMLP", "kwargs": [1, 2]},
    "arch missing": {"format": "zoo-state-dict"},
    "format a list": {"format": ["zoo-state-dict"]},
    "meta a list": ["zoo-state-dict"],
    "meta null": None,
    "export with bad shape": {"format": "torch-export", "input_shape": "1x28x28"},
    "unknown kwarg": {"format": "zoo-state-dict", "arch": "FashionMLP", "kwargs": {"evil": [1]}},
    "zero width": {"format": "zoo-state-dict", "arch": "FashionMLP", "kwargs": {"hidden": [0]}},
}


@pytest.mark.parametrize("meta", list(_BAD_METAS.values()), ids=list(_BAD_METAS))
def test_every_bad_artefact_gets_a_verdict_not_a_traceback(tmp_path, meta):
    """Does each malformed meta.json give ArtefactError from load_model and a failed Report (0 points)
    from verify(), never another exception (e.g. the KeyError an arch of "SpikingMLP" used to raise)?"""
    from greenkit.targets import verify

    folder = tmp_path / "sub"
    save_model(zoo.build("mlp").eval(), folder / "model", X)
    (folder / "model" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtefactError):
        load_model(folder / "model")
    report = verify(folder, "lab00_setup")
    assert report.error.startswith("artefact 'model'") and report.points(10) == 0.0
    assert "could not be loaded" not in report.error, f"an unforeseen exception, not a verdict: {report.error}"


def test_submit_refuses_non_modules(tmp_path, data_root, write_spec):
    """Is an object that is not an nn.Module (e.g. one whose __eq__ is always True) refused at submission?"""
    spec = write_spec("typelab", '[[target]]\nkind = "accuracy_min"\nthreshold = 0.5\n')
    with pytest.raises(TypeError, match="torch.nn.Module"):
        check(object(), lab=str(spec), root=tmp_path)


def test_check_verifies_in_a_fresh_process(tmp_path, data_root, write_spec):
    """Does check() return a verdict computed in another process, over the saved files?"""
    spec = write_spec("freshlab", '[[target]]\nkind = "params_ratio_eq"\nthreshold = 1.0\n')
    report = check(zoo.load("mlp"), lab=str(spec), root=tmp_path)
    assert report.passed, str(report)
    assert "fresh process pid" in report.verified_by and str(os.getpid()) not in report.verified_by
    assert (tmp_path / "greenkit-submissions" / "freshlab" / "model" / "meta.json").is_file()


def test_a_missing_submission_fails_closed(tmp_path, data_root, write_spec):
    """Does verifying a folder with no saved model give 0 points and say the grade cell was not run?"""
    from greenkit.targets import verify_fresh

    spec = write_spec("emptylab", '[[target]]\nkind = "accuracy_min"\nthreshold = 0.0\n')
    report = verify_fresh(tmp_path / "nothing", str(spec))
    assert report.error and report.points(5) == 0.0 and "not submitted" in report.error


def test_nn_module_exports_of_quantized_models_load_safely(tmp_path):
    """Does an int8 torchao model round-trip through torch.export with every torch.load forced weights_only?"""
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    m = zoo.build("mlp").eval()
    quantize_(m, Int8DynamicActivationInt8WeightConfig())
    assert save_model(m, tmp_path / "q", X)["format"] == "torch-export"
    loaded, _ = load_model(tmp_path / "q")
    with torch.no_grad():
        assert torch.allclose(m(X), loaded(X), atol=1e-4)
    assert isinstance(loaded, nn.Module)


def test_verify_loads_the_artefact_a_gain_is_measured_over(tmp_path, data_root, write_spec):
    """Does verify() load the `over` model of an accuracy_gain target, though no target measures it?"""
    from greenkit.targets import verify

    spec = write_spec("gainlab", '[[target]]\nkind = "accuracy_gain_min"\nthreshold = 1.0\nover = "scratch"\n')
    folder = tmp_path / "sub"
    save_model(zoo.load("mlp"), folder / "model", X)
    save_model(zoo.build("mlp").eval(), folder / "scratch", X)  # untrained: ~10% accuracy
    report = verify(folder, str(spec))
    assert report.passed, str(report)
    assert report.results[0].value > 1.0


@pytest.mark.skipif(os.name == "nt", reason="uses a shell script as the checker's interpreter")
def test_the_fresh_checker_process_waits_passively(tmp_path, monkeypatch):
    """Does the checker's process get OMP_WAIT_POLICY=PASSIVE, so its energy does not grow with machine load?"""
    from greenkit.targets import verify_fresh

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    dump = tmp_path / "env.txt"
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!/bin/sh\nenv > {dump}\n")
    fake_python.chmod(0o755)
    report = verify_fresh(tmp_path, "lab01_energy", python=str(fake_python))
    assert report.error, "a checker that writes no report must fail closed"
    assert "OMP_WAIT_POLICY=PASSIVE" in dump.read_text().splitlines()


def test_a_state_file_swapped_after_saving_is_refused(tmp_path):
    """Is a state.pt replaced after submission (digest no longer the recorded one) refused?"""
    folder = tmp_path / "model"
    save_model(zoo.build("mlp").eval(), folder, X)
    other = zoo.build("mlp")
    torch.save(other.state_dict(), folder / "state.pt")
    with pytest.raises(ArtefactError, match="SHA-256"):
        load_model(folder)


def test_a_spiking_mlp_is_submitted_as_a_state_dict_and_rebuilt(tmp_path):
    """Is a SpikingMLP (now a registered architecture) saved as tensors only and rebuilt with its
    T, beta and threshold, computing the same logits?"""
    m = zoo.SpikingMLP(hidden=(16,), num_steps=4, beta=0.7, threshold=0.5).eval()
    assert save_model(m, tmp_path / "snn", X)["format"] == "zoo-state-dict"
    loaded, _ = load_model(tmp_path / "snn")
    assert type(loaded) is zoo.SpikingMLP and loaded.num_steps == 4 and loaded.beta == pytest.approx(0.7)
    with torch.no_grad():
        assert torch.equal(loaded(X), m(X))
