"""Small tensor helpers, written once and used across greenkit (no greenkit imports: the bottom layer).

- :func:`eval_mode` - context manager: a model in eval (or train) mode inside, its mode restored after
- :func:`as_args` - one input or a tuple/list of inputs -> the positional arguments of ``model(*args)``
- :func:`batch_size` - samples in a batch (dim 0 of the first tensor; 1 for a scalar or none)
- :func:`accuracy` - top-1 accuracy of a classifier on ``(x, y)``, with the logits' shape checked
- :func:`sha256_file` - hex SHA-256 of a file, read in chunks

>>> with eval_mode(model):            # dropout off, BatchNorm frozen; restored even on error
...     logits = model(*as_args(inputs))
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

__all__ = ["eval_mode", "as_args", "batch_size", "accuracy", "sha256_file"]


@contextlib.contextmanager
def eval_mode(model: nn.Module, training: bool = False) -> Iterator[nn.Module]:
    """Inside: ``model.train(training)`` (eval by default); on exit its own mode again.

    Modules of ``torch.export`` programs are inference-only (``train()`` raises
    ``NotImplementedError``): they are left as they are.
    """
    was = model.training
    try:
        model.train(training)
    except NotImplementedError:
        yield model
        return
    try:
        yield model
    finally:
        model.train(was)


def as_args(inputs) -> tuple:
    """``x`` -> ``(x,)``; a tuple or list of inputs -> a tuple (the arguments of ``model(*args)``)."""
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def batch_size(inputs) -> int:
    """Dim 0 of the first input tensor (``inputs``: a tensor or a tuple/list); 1 if it has none."""
    args = as_args(inputs)
    first = args[0] if args else None
    return int(first.shape[0]) if isinstance(first, torch.Tensor) and first.dim() else 1


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch: int = 1000,
             num_classes: int | None = None) -> float:
    """Top-1 accuracy of ``model`` on images ``x`` ``(N, ...)`` with labels ``y`` ``(N,)``, in [0, 1].

    Runs in eval mode (the model's mode restored after) on the model's device, ``batch``
    samples at a time. With ``num_classes`` the output must be exactly a tensor of logits
    ``(batch, num_classes)``; anything else raises ``TypeError`` (a checker never guesses).
    """
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"accuracy needs as many labels as images (> 0), got {len(x)} and {len(y)}")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    correct = 0
    with eval_mode(model):
        for i in range(0, len(x), batch):
            xb = x[i:i + batch].to(device)
            out = model(xb)
            if num_classes is not None and (type(out) is not torch.Tensor or out.shape != (len(xb), num_classes)):
                raise TypeError(f"expected logits of shape (batch, {num_classes}), got "
                                f"{type(out).__name__} {tuple(getattr(out, 'shape', ()))}")
            correct += int((out.argmax(dim=1).cpu() == y[i:i + batch]).sum())
    return correct / len(x)


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()
