"""SynOps and spike rates against a brute-force count of (nonzero input, nonzero weight) pairs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from greenkit.metrics import synops


class Heaviside(nn.Module):
    """A stateless spiking neuron for the test: spike where the input exceeds 0."""
    is_spiking_neuron = True

    def forward(self, x):
        return (x > 0).float()


class TinySNN(nn.Module):
    """fc1 sees real-valued input (MACs); fc2 sees spikes (ACs); run for T steps."""

    def __init__(self, steps: int = 3):
        super().__init__()
        self.fc1, self.lif1, self.fc2, self.steps = nn.Linear(6, 5), Heaviside(), nn.Linear(5, 4), steps

    def forward(self, x):
        out = 0
        for _ in range(self.steps):
            out = out + self.fc2(self.lif1(self.fc1(x)))
        return out


def _pairs(x: torch.Tensor, w: torch.Tensor) -> int:
    """Brute force: for each sample, each input i and output j, count x_i != 0 and w_ji != 0."""
    n = 0
    for row in x:
        for j in range(w.shape[0]):
            for i in range(w.shape[1]):
                n += int(row[i] != 0 and w[j, i] != 0)
    return n


def test_synops_split_into_macs_and_acs_as_neurobench_counts():
    """Are non-spiking inputs counted as MACs, spikes as ACs, zeros skipped, per sample?"""
    torch.manual_seed(0)
    net = TinySNN()
    with torch.no_grad():
        net.fc2.weight[0] = 0  # a silent output neuron: its synapses never operate
    x = torch.randn(4, 6)
    x[0, :3] = 0
    ops = synops(net, x)
    spikes = (net.fc1(x) > 0).float()
    assert ops.macs == pytest.approx(3 * _pairs(x, net.fc1.weight) / 4)
    assert ops.acs == pytest.approx(3 * _pairs(spikes, net.fc2.weight) / 4)
    assert ops.dense == pytest.approx(3 * (6 * 5 + 5 * 4))
    assert ops.spike_rates["lif1"] == pytest.approx(spikes.mean().item())
    assert ops.activation_sparsity == pytest.approx(1 - spikes.mean().item())


def test_binary_real_valued_input_counts_as_spikes():
    """Is an input of only 0s and 1s treated as spikes (ACs), as in NeuroBench?"""
    lin = nn.Linear(3, 2)
    ops = synops(lin, torch.tensor([[1.0, 0.0, 1.0]]))
    assert (ops.acs, ops.macs) == (4, 0)
