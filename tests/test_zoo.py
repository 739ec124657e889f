"""greenkit.zoo: baseline architectures and verified shipped checkpoints."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from greenkit import zoo
from greenkit.metrics import accuracy
from greenkit.paths import REPO_DATASETS, DataFileError


def _count_cnn(c1, c2, c3, hidden):
    """Parameters of FashionCNN counted by hand: convs (no bias), BN (2 per channel), linears."""
    convs = 1 * c1 * 9 + c1 * c2 * 9 + c2 * c3 * 9
    bns = 2 * (c1 + c2 + c3)
    linears = (c3 * 49 * hidden + hidden) + (hidden * 10 + 10)
    return convs + bns + linears


@pytest.mark.parametrize("channels,hidden", [((32, 64, 128), 128), ((8, 16, 24), 32)])
def test_cnn_parameter_count_matches_hand_count(channels, hidden):
    """Does FashionCNN have exactly the parameters its layers imply, for any widths?"""
    model = zoo.build("cnn", channels=channels, hidden=hidden)
    assert sum(p.numel() for p in model.parameters()) == _count_cnn(*channels, hidden)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_mlp_shapes():
    """Does FashionMLP map (N,1,28,28) to (N,10) with 784*512+512*256+256*10 weights?"""
    model = zoo.build("mlp")
    n = sum(p.numel() for p in model.parameters())
    assert n == (784 * 512 + 512) + (512 * 256 + 256) + (256 * 10 + 10)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_unknown_name_lists_choices():
    """Is an unknown model name refused with the list of names that exist?"""
    with pytest.raises(KeyError, match="cnn"):
        zoo.build("resnet")


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_shipped_checkpoint_loads_verified_and_reaches_recorded_accuracy(name):
    """Does each shipped checkpoint load in eval mode and reproduce its recorded test accuracy?"""
    model = zoo.load(name)
    meta = zoo.info(name)
    assert not model.training
    for key in ("seed", "epochs", "test_accuracy", "torch_version", "sha256", "made_by"):
        assert key in meta
    acc = accuracy(model, "test")
    assert abs(acc - meta["test_accuracy"]) < 2e-3


def test_teacher_meets_the_brief():
    """Is the CNN teacher 0.5-1 M parameters with >= 91% test accuracy?"""
    meta = zoo.info("cnn")
    assert 500_000 <= meta["params"] <= 1_000_000
    assert meta["test_accuracy"] >= 0.91


def test_corrupt_checkpoint_is_refused_by_name(tmp_path, monkeypatch):
    """Is a checkpoint whose bytes changed refused, naming the file and the fix?"""
    ck = tmp_path / "datasets" / "checkpoints"
    ck.mkdir(parents=True)
    shutil.copy(REPO_DATASETS / "checkpoints" / "mlp.pt", ck / "mlp.pt")
    shutil.copy(REPO_DATASETS / "checkpoints" / "mlp.json", ck / "mlp.json")
    blob = bytearray((ck / "mlp.pt").read_bytes())
    blob[-100] ^= 0xFF
    (ck / "mlp.pt").write_bytes(bytes(blob))
    monkeypatch.setenv("GREENKIT_DATA", str(tmp_path / "datasets"))
    with pytest.raises(DataFileError) as err:
        zoo.load("mlp")
    assert "mlp.pt" in str(err.value) and "corrupt" in str(err.value)
    assert "python -m greenkit.zoo train mlp" in str(err.value)


def test_metadata_is_valid_json_with_matching_checksum():
    """Does each .json record the .pt file's real SHA-256?"""
    from greenkit.data import sha256_file

    for name in zoo.names():
        meta = json.loads((REPO_DATASETS / "checkpoints" / f"{name}.json").read_text())
        assert meta["sha256"] == sha256_file(REPO_DATASETS / "checkpoints" / f"{name}.pt")


def _pruned_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return zoo.build("cnn", channels=(5, 7, 9), hidden=11).eval()


@pytest.mark.parametrize("make", [
    _pruned_cnn,
    lambda: zoo.FashionMLP(hidden=(33, 17, 9)).eval(),
    lambda: zoo.SpikingMLP(hidden=(21, 13), num_steps=6, beta=0.8, threshold=0.7).eval(),
], ids=["FashionCNN", "FashionMLP", "SpikingMLP"])
def test_every_architecture_rebuilds_itself_from_its_state_dict(make):
    """Does each registered architecture rebuild from its state dict alone (widths from shapes, settings
    from buffers) into a model that computes the same outputs?"""
    model = make()
    rebuilt = type(model).from_state_dict(model.state_dict())
    assert type(rebuilt) is type(model) and not rebuilt.training
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    assert zoo.ARCHITECTURES[type(model).__name__] is type(model)


@pytest.mark.parametrize("arch, state", [
    ("FashionCNN", {"features.0.weight": torch.zeros(3, 3)}),
    ("FashionMLP", {"net.1.weight": torch.zeros(4, 784), "net.4.weight": torch.zeros(10, 5)}),
    ("FashionMLP", {}),
    ("SpikingMLP", {"fcs.0.weight": torch.zeros(4, 784), "readout.weight": torch.zeros(10, 4)}),
    ("SpikingMLP", zoo.FashionMLP(hidden=(8,)).state_dict()),
])
def test_a_state_dict_that_does_not_fit_raises_value_error(arch, state):
    """Is a state dict of the wrong shapes or keys refused with ValueError (never KeyError/RuntimeError)?"""
    with pytest.raises(ValueError):
        zoo.ARCHITECTURES[arch].from_state_dict(state)


def test_a_new_module_can_register_an_architecture():
    """Can a module outside the zoo add an architecture with @architecture (and is one without
    from_state_dict refused)?"""
    from torch import nn

    @zoo.architecture("TestTiny")
    class Tiny(nn.Module):
        @classmethod
        def from_state_dict(cls, state):
            return cls()

    try:
        assert zoo.ARCHITECTURES["TestTiny"] is Tiny and zoo.architecture_of(Tiny()) == "TestTiny"
        with pytest.raises(TypeError, match="from_state_dict"):
            zoo.architecture("NoRebuild")(type("NoRebuild", (nn.Module,), {}))
    finally:
        zoo.ARCHITECTURES.pop("TestTiny")


def test_the_zoo_imports_neither_metrics_nor_targets():
    """Does importing greenkit.zoo (and its training module) leave greenkit.metrics and greenkit.targets
    unimported (the zoo sits below them)?"""
    import subprocess
    import sys
    code = ("import sys, greenkit.zoo, greenkit.zoo.training; "
            "print(sorted(m for m in sys.modules if m.startswith(('greenkit.metrics', 'greenkit.targets'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_written_checkpoint_loads_verified(tmp_path, monkeypatch):
    """Does write_checkpoint record the .pt file's SHA-256 so that zoo.load accepts it, and the same weights?"""
    from greenkit.zoo.checkpoints import write_checkpoint
    torch.manual_seed(3)
    model = zoo.build("mlp").eval()
    meta = write_checkpoint("mlp", model, {"arch": "FashionMLP", "made_by": "test"}, tmp_path / "checkpoints")
    assert meta["params"] == sum(p.numel() for p in model.parameters()) and len(meta["sha256"]) == 64
    monkeypatch.setenv("GREENKIT_DATA", str(tmp_path))
    loaded = zoo.load("mlp")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values(),
                                                 strict=True))
