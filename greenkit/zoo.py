"""The labs' baseline architectures and their shipped, verified checkpoints.

>>> import greenkit as gk
>>> teacher = gk.zoo.load("cnn")          # eval mode, checksum verified, no download
>>> gk.zoo.build("cnn", channels=(16, 32, 64))   # same family, other widths (e.g. pruned)

Each checkpoint ``datasets/checkpoints/NAME.pt`` (a ``state_dict``) has a
``NAME.json`` beside it: architecture and its arguments, seed, epochs, test
accuracy, torch version, training time, and the SHA-256 of the ``.pt`` file.
Re-make one with ``python -m greenkit.zoo train NAME`` (writes both files).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from greenkit.paths import DataFileError, find_data_file

__all__ = ["FashionCNN", "FashionMLP", "build", "load", "info", "names", "train", "ARCHITECTURES"]


class FashionCNN(nn.Module):
    """Three conv blocks and two linear layers for 1x28x28 images.

    Shapes: ``(N, 1, 28, 28)`` -> conv(c1) -> conv(c2) -> pool -> ``(N, c2, 14, 14)``
    -> conv(c3) -> pool -> ``(N, c3, 7, 7)`` -> flatten ``(N, 49*c3)`` -> ``hidden`` -> ``(N, 10)``.
    Each conv is 3x3, padding 1, followed by BatchNorm and ReLU, so channel
    pruning must fix the BatchNorm and the next layer's input (the lab does).
    """

    def __init__(self, channels: tuple[int, int, int] = (32, 64, 128), hidden: int = 128,
                 num_classes: int = 10, dropout: float = 0.3):
        super().__init__()
        c1, c2, c3 = (int(c) for c in channels)
        self.channels, self.hidden = (c1, c2, c3), int(hidden)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1, bias=False), nn.BatchNorm2d(c3), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c3 * 7 * 7, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class FashionMLP(nn.Module):
    """A multilayer perceptron: flatten 784 -> hidden... -> 10, ReLU between."""

    def __init__(self, hidden: tuple[int, ...] = (512, 256), num_classes: int = 10,
                 dropout: float = 0.2):
        super().__init__()
        self.hidden = tuple(int(h) for h in hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        width = 28 * 28
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


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


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"FashionCNN": FashionCNN, "FashionMLP": FashionMLP}

RECIPES: dict[str, Recipe] = {
    "cnn": Recipe(FashionCNN, {"channels": (32, 64, 128), "hidden": 128}, epochs=8,
                  description="Teacher CNN (~0.9 M params), baseline for pruning and distillation."),
    "mlp": Recipe(FashionMLP, {"hidden": (512, 256)}, epochs=10,
                  description="Linear-heavy MLP (~0.5 M params), baseline for quantization."),
}


def names() -> list[str]:
    """Names of the shipped baselines."""
    return sorted(RECIPES)


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"Unknown zoo model {name!r}; choose one of {names()}.")
    return RECIPES[name]


def build(name: str, **overrides) -> nn.Module:
    """A fresh (untrained) model of baseline ``name``; kwargs override its widths."""
    recipe = _recipe(name)
    return recipe.arch(**{**recipe.kwargs, **overrides})


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
    from greenkit.data import sha256_file

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


def train(name: str, epochs: int | None = None, seed: int | None = None,
          out_dir: Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Train baseline ``name`` on the full training set and write NAME.pt/.json.

    Deterministic for a given seed, torch version and thread count.
    Returns the metadata written.
    """
    from greenkit.data import load as load_data
    from greenkit.data import sha256_file
    from greenkit.metrics import accuracy

    recipe = _recipe(name)
    epochs = recipe.epochs if epochs is None else epochs
    seed = recipe.seed if seed is None else seed
    torch.manual_seed(seed)
    model = build(name)
    x, y = load_data("train")
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=recipe.lr * 3, total_steps=epochs * ((len(x) + recipe.batch_size - 1) // recipe.batch_size))
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), recipe.batch_size):
            idx = perm[i:i + recipe.batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(model, "test")
        log(f"[{name}] epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, test accuracy {acc:.4f}, "
            f"{time.perf_counter() - t0:.0f} s")
    train_s = time.perf_counter() - t0
    model.eval()
    out_dir = Path(out_dir) if out_dir else Path(__file__).resolve().parent.parent / "datasets" / "checkpoints"
    out_dir.mkdir(parents=True, exist_ok=True)
    pt = out_dir / f"{name}.pt"
    torch.save(model.state_dict(), pt)
    meta = {
        "name": name,
        "arch": recipe.arch.__name__,
        "kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.kwargs.items()},
        "description": recipe.description,
        "params": sum(p.numel() for p in model.parameters()),
        "seed": seed,
        "epochs": epochs,
        "optimizer": f"Adam + OneCycleLR(max_lr={recipe.lr * 3})",
        "batch_size": recipe.batch_size,
        "test_accuracy": round(accuracy(model, "test"), 4),
        "train_seconds": round(train_s, 1),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "sha256": sha256_file(pt),
        "made_by": f"python -m greenkit.zoo train {name} --epochs {epochs} --seed {seed}",
    }
    pt.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    log(json.dumps(meta, indent=2))
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m greenkit.zoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a baseline and write its checkpoint")
    t.add_argument("name", choices=names())
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--out-dir", type=Path)
    sub.add_parser("list", help="list the shipped baselines and their accuracy")
    args = parser.parse_args(argv)
    if args.cmd == "train":
        train(args.name, epochs=args.epochs, seed=args.seed, out_dir=args.out_dir)
    else:
        for n in names():
            try:
                m = info(n)
                print(f"{n:6s} {m['arch']:11s} {m['params']:>9,d} params  test acc {m['test_accuracy']:.4f}")
            except DataFileError as err:
                print(f"{n:6s} (no checkpoint: {err})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
