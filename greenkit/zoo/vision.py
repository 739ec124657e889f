"""The image classifiers of the labs: :class:`FashionCNN` and :class:`FashionMLP` (1x28x28 inputs)."""

from __future__ import annotations

import torch
from torch import nn

from greenkit.zoo.registry import architecture, load_state_strict, shape

__all__ = ["FashionCNN", "FashionMLP"]

_MAX_WIDTH = 1 << 16


def _widths(*ws: int) -> None:
    if not all(0 < w <= _MAX_WIDTH for w in ws):
        raise ValueError(f"state dict: implausible layer widths {ws}")


@architecture("FashionCNN")
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

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> FashionCNN:
        """Rebuild from a state dict: channels and widths from tensor shapes (so channel-pruned
        models rebuild too), in eval mode; ``ValueError`` when it does not fit."""
        channels = tuple(shape(state, f"features.{i}.weight", 4)[0] for i in (0, 3, 7))
        hidden = shape(state, "classifier.1.weight", 2)[0]
        num_classes = shape(state, "classifier.4.weight", 2)[0]
        _widths(*channels, hidden, num_classes)
        return load_state_strict(cls(channels, hidden, num_classes), state)


@architecture("FashionMLP")
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

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> FashionMLP:
        """Rebuild from a state dict: widths from the ``net.N.weight`` shapes, in eval mode;
        ``ValueError`` when it does not fit."""
        keys = sorted(int(k.split(".")[1]) for k in state
                       if k.startswith("net.") and k.endswith(".weight") and k.split(".")[1].isdigit())
        if not keys:
            raise ValueError("state dict: no net.N.weight tensors (not a FashionMLP)")
        outs = [shape(state, f"net.{i}.weight", 2)[0] for i in keys]
        _widths(*outs)
        return load_state_strict(cls(hidden=tuple(outs[:-1]), num_classes=outs[-1]), state)
