"""The shipped, verified checkpoints: how each is made (:class:`Recipe`), and loading them.

Each checkpoint ``datasets/checkpoints/NAME.pt`` (a ``state_dict``) has a ``NAME.json``
beside it: architecture and its arguments, seed, epochs, test accuracy, torch version,
training time, and the SHA-256 of the ``.pt`` file. A new baseline is one entry in
:data:`RECIPES` (``RECIPES["name"] = Recipe(...)`` from its own module works too).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from greenkit.paths import DataFileError, find_data_file
from greenkit.tensors import sha256_file
from greenkit.zoo.vision import FashionCNN, FashionMLP

__all__ = ["Recipe", "RECIPES", "names", "build", "load", "info", "recipe", "write_checkpoint", "CHECKPOINTS_DIR"]

CHECKPOINTS_DIR = Path(__file__).resolve().parents[2] / "datasets" / "checkpoints"  # in a clone


@dataclass(frozen=True)
class Recipe:
    """How a shipped checkpoint is made: architecture, its kwargs, training."""
    arch: Callable[..., nn.Module]
    kwargs: dict = field(default_factory=dict)
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    description: str = ""


RECIPES: dict[str, Recipe] = {
    "cnn": Recipe(FashionCNN, {"channels": (32, 64, 128), "hidden": 128}, epochs=5,
                  description="Teacher CNN (~0.9 M params), baseline for pruning and distillation."),
    "mlp": Recipe(FashionMLP, {"hidden": (512, 256)}, epochs=10,
                  description="Linear-heavy MLP (~0.5 M params), baseline for quantization."),
}


def names() -> list[str]:
    """Names of the shipped baselines."""
    return sorted(RECIPES)


def recipe(name: str) -> Recipe:
    """The recipe of baseline ``name`` (KeyError naming the choices)."""
    if name not in RECIPES:
        raise KeyError(f"Unknown zoo model {name!r}; choose one of {names()}.")
    return RECIPES[name]


def build(name: str, **overrides) -> nn.Module:
    """A fresh (untrained) model of baseline ``name``; kwargs override its widths."""
    r = recipe(name)
    return r.arch(**{**r.kwargs, **overrides})


def _checkpoint_paths(name: str) -> tuple[Path, Path]:
    hint = (f"restore it with `git checkout -- datasets/checkpoints` or re-make it with "
            f"`python -m greenkit.zoo train {name}`.")
    pt = find_data_file(f"checkpoints/{name}.pt", f"checkpoint '{name}.pt' is missing: {hint}")
    meta = pt.with_suffix(".json")
    if not meta.is_file():
        raise DataFileError(f"Checkpoint metadata {meta} is missing: {hint}")
    return pt, meta


def info(name: str) -> dict:
    """The JSON record of how checkpoint ``name`` was made."""
    _, meta = _checkpoint_paths(name)
    return json.loads(meta.read_text())


def load(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped, trained baseline ``name`` in eval mode, checksum verified."""
    pt, meta_path = _checkpoint_paths(name)
    meta = json.loads(meta_path.read_text())
    digest = sha256_file(pt)
    if digest != meta["sha256"]:
        raise DataFileError(
            f"Checkpoint {pt} is corrupt (SHA-256 {digest[:16]}... expected {meta['sha256'][:16]}...). "
            f"Fix: `git checkout -- datasets/checkpoints` or `python -m greenkit.zoo train {name}`."
        )
    model = build(name)
    state = torch.load(pt, map_location=device, weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval()


def write_checkpoint(name: str, model: nn.Module, record: dict, out_dir: str | Path | None = None) -> dict:
    """Write ``NAME.pt`` (the state dict) and ``NAME.json`` (``record`` plus the environment and the
    ``.pt`` file's SHA-256) into ``out_dir`` (default: the clone's ``datasets/checkpoints``); return the record.

    ``record`` says how the model was made (architecture, arguments, seed, accuracy, ``made_by``...).
    """
    out = Path(out_dir) if out_dir else CHECKPOINTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    pt = out / f"{name}.pt"
    torch.save(model.state_dict(), pt)
    meta = {"name": name, **record,
            "params": sum(p.numel() for p in model.parameters()),
            "torch_version": torch.__version__, "threads": torch.get_num_threads(),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "sha256": sha256_file(pt)}
    pt.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
