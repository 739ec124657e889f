"""Lab 5 (spiking networks): what the checker computes on a submitted :class:`greenkit.zoo.SpikingMLP`.

Named by ``greenkit/targets/specs/lab05_snn.toml`` through the ``scalar`` quantity
(``function = "greenkit.targets.kinds_snn:snn_energy_ratio"``), each called as ``fn(model, ctx)``.
The submitted model is rebuilt as a SpikingMLP from its tensors alone and refused if the
rebuild computes different logits; spikes and SynOps are counted by :func:`greenkit.metrics.synops`,
and priced by :mod:`greenkit.metrics.energy_model` (Horowitz 2014).
"""

from __future__ import annotations

import torch
from torch import nn

from greenkit.zoo import FashionMLP, SpikingMLP

__all__ = ["snn_num_steps", "snn_hidden_spike_rate", "snn_energy_ratio", "rebuilt_snn"]

_IMAGES = 500  # test images the SNN is simulated on (an SNN is slow on a CPU)


@torch.no_grad()
def rebuilt_snn(model: nn.Module, ctx) -> tuple[SpikingMLP, torch.Tensor]:
    """The submitted model as a SpikingMLP (checked to compute the same logits) and the test images used."""
    def run():
        try:
            rebuilt = SpikingMLP.from_state_dict(dict(model.state_dict()))
        except ValueError as err:
            raise ValueError(f"the submission is not a gk.zoo.SpikingMLP ({err})") from err
        x = ctx.test_data()[0][:_IMAGES]
        if not torch.allclose(rebuilt(x), model(x), atol=1e-4, rtol=1e-4):
            raise ValueError("the submitted model does not compute what a SpikingMLP with its weights "
                             "computes; submit the gk.zoo.SpikingMLP you trained")
        return rebuilt, x
    return ctx.cached(("snn", id(model)), run)


def _synops(model: nn.Module, ctx):
    from greenkit.metrics import synops
    rebuilt, x = rebuilt_snn(model, ctx)
    return ctx.cached(("synops", id(model)), lambda: synops(rebuilt, x))


def snn_num_steps(model: nn.Module, ctx) -> float:
    """Simulation time steps T of a submitted SpikingMLP."""
    return float(rebuilt_snn(model, ctx)[0].num_steps)


def snn_hidden_spike_rate(model: nn.Module, ctx) -> float:
    """Mean spike rate of the hidden LIF neurons (spikes per neuron per step) on test images."""
    return float(1.0 - _synops(model, ctx).activation_sparsity)


def snn_energy_ratio(model: nn.Module, ctx) -> float:
    """Estimated synaptic energy of a SpikingMLP over the MAC energy of the matching ANN,
    both from Horowitz (ISSCC 2014) 45 nm fp32: AC = fp32 add, MAC = fp32 multiply + add.

    SNN: SynOps counted on test images (:func:`greenkit.metrics.synops`), priced by
    :func:`greenkit.metrics.energy_model.synops_energy_pj`; ANN: MACs of ``FashionMLP(hidden)``
    (:func:`greenkit.metrics.profile`) at :func:`~greenkit.metrics.energy_model.mac_energy_pj`.
    Compute only (no memory traffic).
    """
    from greenkit.metrics import profile
    from greenkit.metrics.energy_model import mac_energy_pj, synops_energy_pj
    rebuilt, x = rebuilt_snn(model, ctx)
    ann = FashionMLP(hidden=rebuilt.hidden, num_classes=rebuilt.readout.out_features)
    ann_macs = profile(ann, x[:1]).macs
    return synops_energy_pj(_synops(model, ctx)) / (ann_macs * mac_energy_pj(32, 32))
