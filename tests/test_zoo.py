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
