"""Top-1 accuracy on Fashion-MNIST (re-exported as ``greenkit.metrics.accuracy``)."""

from __future__ import annotations

from torch import nn

from greenkit import tensors

__all__ = ["accuracy"]


def accuracy(model: nn.Module, split: str = "test", n_per_class: int | None = None,
             batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on a Fashion-MNIST split, in [0, 1].

    Runs in eval mode (restores the model's mode afterwards) on the model's device
    (:func:`greenkit.tensors.accuracy` on :func:`greenkit.data.load`).
    """
    from greenkit.data import load

    x, y = load(split, n_per_class=n_per_class)
    return tensors.accuracy(model, x, y, batch=batch_size)
