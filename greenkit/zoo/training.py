"""Training the shipped baselines: ``python -m greenkit.zoo train NAME`` (or ``greenkit zoo train NAME``).

Deterministic for a given seed, torch version and thread count; writes
``datasets/checkpoints/NAME.pt`` and its ``NAME.json`` record (see :mod:`greenkit.zoo.checkpoints`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from greenkit.paths import DataFileError
from greenkit.tensors import accuracy
from greenkit.zoo import checkpoints

__all__ = ["train", "add_arguments", "run", "main"]


def train(name: str, epochs: int | None = None, seed: int | None = None,
          out_dir: Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Train baseline ``name`` on the full training set and write NAME.pt/.json.

    Deterministic for a given seed, torch version and thread count.
    Returns the metadata written.
    """
    from greenkit.data import load as load_data

    recipe = checkpoints.recipe(name)
    if recipe.arch.__name__ == "GPT":  # lab06: its own loop (greenkit.zoo.gpt_train); epochs count steps
        from greenkit.zoo.gpt_train import train_gpt
        return train_gpt(name, steps=epochs, seed=seed, out_dir=out_dir, log=log)
    epochs = recipe.epochs if epochs is None else epochs
    seed = recipe.seed if seed is None else seed
    torch.manual_seed(seed)
    model = checkpoints.build(name)
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
        acc = accuracy(model, *load_data("test"))
        log(f"[{name}] epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, test accuracy {acc:.4f}, "
            f"{time.perf_counter() - t0:.0f} s")
    train_s = time.perf_counter() - t0
    model.eval()
    meta = checkpoints.write_checkpoint(name, model, {
        "arch": recipe.arch.__name__,
        "kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.kwargs.items()},
        "description": recipe.description,
        "seed": seed,
        "epochs": epochs,
        "optimizer": f"Adam + OneCycleLR(max_lr={recipe.lr * 3})",
        "batch_size": recipe.batch_size,
        "test_accuracy": round(accuracy(model, *load_data("test")), 4),
        "train_seconds": round(train_s, 1),
        "made_by": f"python -m greenkit.zoo train {name} --epochs {epochs} --seed {seed}",
    }, out_dir)
    log(json.dumps(meta, indent=2))
    return meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``train NAME [--epochs --seed --out-dir --threads]`` and ``list`` (the ``greenkit zoo`` command)."""
    sub = parser.add_subparsers(dest="zoo_cmd")
    t = sub.add_parser("train", help="train a baseline and write its checkpoint")
    t.add_argument("name", choices=checkpoints.names())
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--out-dir", type=Path)
    t.add_argument("--threads", type=int, help="torch CPU threads (recorded in the JSON)")
    sub.add_parser("list", help="list the shipped baselines and their accuracy (the default)")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "zoo_cmd", None) == "train":
        if args.threads:
            torch.set_num_threads(args.threads)
        train(args.name, epochs=args.epochs, seed=args.seed, out_dir=args.out_dir)
        return 0
    for n in checkpoints.names():
        try:
            m = checkpoints.info(n)
            score = (f"test acc {m['test_accuracy']:.4f}" if "test_accuracy" in m
                     else f"val perplexity {m['val_perplexity']:.1f}")   # GPT checkpoints (lab06)
            print(f"{n:9s} {m['arch']:11s} {m['params']:>9,d} params  {score}")
        except DataFileError as err:
            print(f"{n:6s} (no checkpoint: {err})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m greenkit.zoo ...`` (an alias of ``greenkit zoo ...``)."""
    parser = argparse.ArgumentParser(prog="python -m greenkit.zoo", description="the labs' baseline models")
    add_arguments(parser)
    return run(parser.parse_args(argv))
