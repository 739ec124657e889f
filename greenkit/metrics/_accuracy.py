"""Top-1 accuracy on Fashion-MNIST (re-exported as ``greenkit.metrics.accuracy``)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["accuracy"]


@torch.no_grad()
def accuracy(model: nn.Module, split: str = "test", n_per_class: int | None = None,
             batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on a Fashion-MNIST split, in [0, 1].

    Runs in eval mode (restores the model's mode afterwards) on the model's device.
    """
    from greenkit.data import load

    x, y = load(split, n_per_class=n_per_class)
    was_training = model.training
    model.eval()
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        correct = 0
        for i in range(0, len(x), batch_size):
            out = model(x[i:i + batch_size].to(device))
            correct += (out.argmax(dim=1).cpu() == y[i:i + batch_size]).sum().item()
    finally:
        model.train(was_training)
    return correct / len(x)
