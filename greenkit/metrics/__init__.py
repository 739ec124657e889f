"""Model metrics: accuracy, profiles (params, sparsity, bytes, MACs, BitOps), SynOps,
an analytical energy model and latency.

- :func:`accuracy` - top-1 accuracy on a Fashion-MNIST split
- :func:`profile` - :class:`Profile` with per-layer rows (``greenkit.metrics.profile`` module docstring
  gives every definition)
- :func:`synops` - synaptic operations (ACs vs MACs) and spike rates, NeuroBench's way
- :func:`estimate_energy` - Horowitz (ISSCC 2014) operation-energy model, labelled "estimated"
- :func:`latency` - ``torch.utils.benchmark`` latency with the thread count recorded
"""

from greenkit.metrics.energy_model import HOROWITZ_2014_PJ, EnergyEstimate, estimate_energy
from greenkit.metrics.evaluation import accuracy
from greenkit.metrics.latency import Latency, latency
from greenkit.metrics.profile import ENCODINGS, Encoding, LayerProfile, Profile, profile
from greenkit.metrics.snn import SynOps, is_spiking_neuron, synops

__all__ = ["accuracy", "profile", "Profile", "LayerProfile", "Encoding", "ENCODINGS", "synops", "SynOps",
           "is_spiking_neuron", "estimate_energy", "EnergyEstimate", "HOROWITZ_2014_PJ", "latency", "Latency"]
