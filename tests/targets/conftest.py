"""Fixtures for the checker: a quickly trained 'mlp' baseline in a temporary data root, and spec files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from greenkit import data, zoo
from greenkit.data import sha256_file


@pytest.fixture(scope="session")
def _trained_data_root(tmp_path_factory) -> Path:
    """A data root with checkpoints/mlp.pt (+ .json) trained in a few seconds (built once)."""
    root = tmp_path_factory.mktemp("gkdata")
    (root / "checkpoints").mkdir()
    torch.manual_seed(0)
    model = zoo.build("mlp")
    x, y = data.load("train", n_per_class=300)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        for i in range(0, len(x), 64):
            loss = nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    pt = root / "checkpoints" / "mlp.pt"
    torch.save(model.eval().state_dict(), pt)
    (root / "checkpoints" / "mlp.json").write_text(json.dumps(
        {"name": "mlp", "arch": "FashionMLP", "kwargs": {"hidden": [512, 256]}, "epochs": 3,
         "test_accuracy": 0.0, "sha256": sha256_file(pt)}))
    return root


@pytest.fixture
def data_root(_trained_data_root, monkeypatch) -> Path:
    """GREENKIT_DATA -> the quick 'mlp' root for this test only; data falls through to the repo.

    (Function-scoped on purpose: a session-wide GREENKIT_DATA leaked the fake checkpoint
    into later test files, e.g. tests/test_zoo.py.)
    """
    monkeypatch.setenv("GREENKIT_DATA", str(_trained_data_root))
    return _trained_data_root


@pytest.fixture
def baseline(data_root) -> nn.Module:
    return zoo.load("mlp")


@pytest.fixture
def write_spec(tmp_path):
    """write_spec(name, targets_toml, **sections) -> path of a spec with baseline 'mlp'."""
    def write(name: str, targets: str, n_per_class: int = 50, extra: str = "") -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(f'lab = "{name}"\ntitle = "Test lab {name}"\nbaseline = "mlp"\n'
                        f"[data]\nn_per_class = {n_per_class}\n{textwrap.dedent(extra)}\n"
                        f"{textwrap.dedent(targets)}")
        return path
    return write


def pruned(model: nn.Module, amount: float) -> nn.Module:
    """Magnitude-prune every Linear weight of ``model`` in place (plain tensors, no masks)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                k = int(amount * m.weight.numel())
                thresh = m.weight.abs().flatten().kthvalue(k).values
                m.weight[m.weight.abs() <= thresh] = 0
    return model
