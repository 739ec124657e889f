"""Synaptic operations and spike rates of spiking networks, counted as NeuroBench does.

NeuroBench (Yik et al., "The neurobench framework for benchmarking neuromorphic
computing algorithms and systems", Nature Communications 16, 1545 (2025);
``neurobench.metrics.workload.SynapticOperations``) counts, for every call of a
connection layer (Linear, ConvNd):

- a binary copy of the layer: nonzero weights -> 1, bias -> 0;
- binary inputs: nonzero -> 1;
- ops = sum(binary_layer(binary_inputs)) = number of (nonzero input, nonzero weight) pairs;
- the ops are accumulates (ACs) when every input value is 0 or 1 (spikes), otherwise MACs;
- ``dense`` = the same with all-ones weights and inputs.

Totals are divided by the number of samples (dim 0 of the input). Spike rates
are the mean of each spiking-neuron module's output (fraction of neurons that
fire per time step), over all its calls.

>>> ops = synops(snn, x)      # x: (batch, ...) ; the model loops over time steps itself
>>> ops.acs, ops.macs, ops.spike_rates
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from greenkit.tensors import as_args, batch_size, eval_mode

__all__ = ["SynOps", "LayerSynOps", "synops", "is_spiking_neuron"]

_CONNECTION = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NEURON_NAME = re.compile(r"(LIF|Leaky|Lapicque|Synaptic|IFNode|Spiking|SpikeNeuron)", re.IGNORECASE)


def is_spiking_neuron(module: nn.Module) -> bool:
    """A module counted for spike rates: ``is_spiking_neuron = True`` or a LIF-like class name
    (snnTorch's ``Leaky``, ``Synaptic``, ``Lapicque``; SpikingJelly's ``LIFNode``...)."""
    flag = getattr(module, "is_spiking_neuron", None)
    if flag is not None:
        return bool(flag)
    return any(_NEURON_NAME.search(c.__name__) for c in type(module).__mro__ if c not in (nn.Module, object))


@dataclass
class LayerSynOps:
    name: str
    type: str
    acs: int = 0
    macs: int = 0
    dense: int = 0
    calls: int = 0
    spiking_calls: int = 0


@dataclass
class SynOps:
    """Per-sample synaptic operations (ACs from spiking inputs, MACs from others) and spike rates."""
    acs: float
    macs: float
    dense: float
    samples: int
    layers: list[LayerSynOps] = field(default_factory=list)
    spike_rates: dict[str, float] = field(default_factory=dict)
    method: str = "NeuroBench SynapticOperations (binary weights and inputs, bias excluded)"

    @property
    def synops(self) -> float:
        return self.acs + self.macs

    @property
    def activation_sparsity(self) -> float:
        """1 - mean spike rate over all spiking neurons' outputs (NeuroBench ActivationSparsity)."""
        return 1.0 - self._mean_rate if self.spike_rates else 0.0

    def layer_names(self) -> list[str]:
        return [r.name for r in self.layers]

    def __str__(self) -> str:
        lines = [f"{'layer':24s} {'ACs/sample':>14s} {'MACs/sample':>14s} {'dense/sample':>14s}"]
        for r in self.layers:
            lines.append(f"{r.name:24s} {r.acs / self.samples:14,.0f} {r.macs / self.samples:14,.0f} "
                         f"{r.dense / self.samples:14,.0f}")
        lines += [f"{name:24s} spike rate {rate:.3f}" for name, rate in self.spike_rates.items()]
        lines.append(f"total: {self.acs:,.0f} ACs + {self.macs:,.0f} MACs per sample ({self.method})")
        return "\n".join(lines)

    _mean_rate: float = 0.0


def _binary_ops(layer: nn.Module, x: torch.Tensor, all_ones: bool) -> int:
    w = layer.weight.detach()
    wb = torch.ones_like(w) if all_ones else (w != 0).to(w.dtype)
    xb = torch.ones_like(x) if all_ones else (x != 0).to(w.dtype)
    if isinstance(layer, nn.Linear):
        out = F.linear(xb, wb)
    else:
        conv = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}[type(layer)]
        if layer.padding_mode != "zeros":
            raise NotImplementedError(f"synops: padding_mode={layer.padding_mode!r} is not supported")
        out = conv(xb, wb, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    return int(out.sum().round())


@torch.no_grad()
def synops(model: nn.Module, inputs, *, neuron: type | tuple[type, ...] | None = None) -> SynOps:
    """Run ``model(*inputs)`` once, recording every connection layer's inputs and every
    spiking neuron's outputs (snnTorch-style ``(spk, mem)`` tuples: the first element).

    Args:
        model: a network that runs its own time loop in ``forward`` (a connection layer
            called T times is counted T times).
        inputs: a tensor or tuple; samples = dim 0 of the first tensor.
        neuron: classes of spiking neurons (default: :func:`is_spiking_neuron`).
    """
    args = as_args(inputs)
    samples = batch_size(args)
    rows: dict[nn.Module, LayerSynOps] = {}
    spikes: dict[str, list[float]] = {}
    names = {m: n for n, m in model.named_modules()}

    def on_connection(module, inp, _out):
        x = inp[0]
        row = rows.setdefault(module, LayerSynOps(names[module], type(module).__name__))
        spiking = bool(torch.all((x == 0) | (x == 1)))
        ops = _binary_ops(module, x, all_ones=False)
        row.calls += 1
        row.dense += _binary_ops(module, x, all_ones=True)
        if spiking:
            row.acs += ops
            row.spiking_calls += 1
        else:
            row.macs += ops

    def on_neuron(module, _inp, out):
        spk = out[0] if isinstance(out, (tuple, list)) else out
        acc = spikes.setdefault(names[module], [0.0, 0.0])
        acc[0] += float(spk.detach().float().sum())
        acc[1] += spk.numel()

    handles = []
    for m in names:
        if type(m) in _CONNECTION:
            handles.append(m.register_forward_hook(on_connection))
        elif (isinstance(m, neuron) if neuron else is_spiking_neuron(m)) and m is not model:
            handles.append(m.register_forward_hook(on_neuron))
    try:
        with eval_mode(model):
            model(*args)
    finally:
        for h in handles:
            h.remove()
    layers = list(rows.values())
    rates = {n: s / max(c, 1) for n, (s, c) in spikes.items()}
    total_spikes = sum(s for s, _ in spikes.values())
    total_neurons = sum(c for _, c in spikes.values())
    result = SynOps(acs=sum(r.acs for r in layers) / samples, macs=sum(r.macs for r in layers) / samples,
                    dense=sum(r.dense for r in layers) / samples, samples=samples, layers=layers,
                    spike_rates=rates)
    result._mean_rate = total_spikes / total_neurons if total_neurons else 0.0
    return result
