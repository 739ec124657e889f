"""Spiking networks (lab05_snn): latency coding, LIF neurons, the surrogate gradient, :class:`SpikingMLP`."""

from __future__ import annotations

import torch
from torch import nn

from greenkit.zoo.registry import architecture, load_state_strict, shape

__all__ = ["SpikingMLP", "LIF", "FastSigmoidSpike", "latency_encode"]


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside spike with the fast-sigmoid surrogate gradient (Zenke & Ganguli 2018).

    Forward: ``S = H(x)`` = 1 where ``x > 0``, else 0 (``x`` = membrane minus threshold).
    Backward: ``dS/dx ~ 1 / (1 + SLOPE * |x|)**2``.
    """

    SLOPE = 25.0

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad_output / (1.0 + FastSigmoidSpike.SLOPE * x.abs()) ** 2


def latency_encode(images: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Time-to-first-spike code: a pixel of intensity x in [0, 1] fires once, at step
    ``round((1 - x) * (num_steps - 1))`` (bright pixels first); a pixel with x == 0 never fires.

    ``(N, ...)`` in [0, 1] -> ``(num_steps, N, ...)`` of 0.0/1.0, same dtype.
    """
    steps = torch.round((1 - images) * (num_steps - 1)).long().clamp(0, num_steps - 1)
    t = torch.arange(num_steps, device=images.device).view(-1, *([1] * images.dim()))
    return ((t == steps.unsqueeze(0)) & (images > 0).unsqueeze(0)).to(images.dtype)


class LIF(nn.Module):
    """Leaky integrate-and-fire neurons run over a whole input train, reset by subtraction.

    For each step t: ``v = beta * v + I[t]``; ``S[t] = H(v - threshold)``;
    ``v = v - threshold * S[t]``, with ``v = 0`` before step 0.
    ``(T, N, F)`` input currents -> ``(T, N, F)`` spikes. Spikes use :class:`FastSigmoidSpike`
    in training (surrogate gradient), a plain comparison otherwise.
    """

    is_spiking_neuron = True  # counted by greenkit.metrics.synops for spike rates

    def __init__(self, beta: float = 0.9, threshold: float = 1.0):
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(currents[0])
        spikes = []
        for t in range(currents.shape[0]):
            v = self.beta * v + currents[t]
            if self.training:
                s = FastSigmoidSpike.apply(v - self.threshold)
            else:
                s = (v > self.threshold).to(v.dtype)
            v = v - self.threshold * s
            spikes.append(s)
        return torch.stack(spikes)  # (T, N, F)


@architecture("SpikingMLP")
class SpikingMLP(nn.Module):
    """A fully connected spiking network for Fashion-MNIST (lab05_snn).

    ``(N, 1, 28, 28)`` normalised images -> pixels in [0, 1] -> latency code ``(T, N, 784)``
    -> [Linear -> LIF] per hidden width -> Linear -> leaky non-spiking readout
    ``u[t] = beta * u[t-1] + W s[t] + b`` -> logits = mean over t of ``u[t]``, ``(N, 10)``.
    Each Linear runs once on all T steps (one matrix product); only the neurons loop over time.
    The matching ANN is ``FashionMLP(hidden)`` (same weights' shapes, ReLU instead of LIF).
    """

    def __init__(self, hidden: tuple[int, ...] = (256,), num_steps: int = 25, beta: float = 0.9,
                 threshold: float = 1.0, num_classes: int = 10):
        super().__init__()
        self.hidden, self.num_steps = tuple(int(h) for h in hidden), int(num_steps)
        self.beta, self.threshold = float(beta), float(threshold)
        # saved with the weights, so a checker can rebuild the network from its state dict alone
        self.register_buffer("num_steps_", torch.tensor(self.num_steps))
        self.register_buffer("beta_", torch.tensor(self.beta))
        self.register_buffer("threshold_", torch.tensor(self.threshold))
        widths = [28 * 28, *self.hidden]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=False))
        self.lifs = nn.ModuleList(LIF(beta, threshold) for _ in self.hidden)
        self.readout = nn.Linear(widths[-1], num_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        from greenkit.data import MEAN, STD
        # back to the 8-bit pixel grid k/255, so a black pixel is exactly 0 and never fires
        pixels = ((x * STD + MEAN) * 255).round().clamp(0, 255).flatten(1) / 255   # (N, 784)
        return latency_encode(pixels, self.num_steps)             # (T, N, 784)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.encode(x)
        for fc, lif in zip(self.fcs, self.lifs, strict=True):
            s = lif(fc(s))                                          # (T, N, hidden)
        cur = self.readout(s)                                       # (T, N, 10)
        u = torch.zeros_like(cur[0])
        total = torch.zeros_like(cur[0])
        for t in range(cur.shape[0]):
            u = self.beta * u + cur[t]
            total = total + u
        return total / cur.shape[0]                                 # (N, 10)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> SpikingMLP:
        """Rebuild from a state dict: widths from tensor shapes, ``num_steps``, ``beta`` and
        ``threshold`` from its buffers, in eval mode; ``ValueError`` when it does not fit."""
        n_hidden = sum(1 for k in state if k.startswith("fcs.") and k.endswith(".weight"))
        hidden = tuple(shape(state, f"fcs.{i}.weight", 2)[0] for i in range(n_hidden))
        num_classes = shape(state, "readout.weight", 2)[0]
        for key in ("num_steps_", "beta_", "threshold_"):
            shape(state, key, 0)
        num_steps = int(state["num_steps_"])
        if not (0 < num_steps <= 10_000 and all(0 < h <= 1 << 16 for h in (*hidden, num_classes))):
            raise ValueError(f"state dict: implausible SpikingMLP (T = {num_steps}, widths {hidden})")
        model = cls(hidden=hidden, num_steps=num_steps, beta=float(state["beta_"]),
                    threshold=float(state["threshold_"]), num_classes=num_classes)
        return load_state_strict(model, state)
