"""An analytical energy MODEL (not a measurement): operation counts x energy per operation.

Energy per operation, 45 nm CMOS at 0.9 V, from

    M. Horowitz, "1.1 Computing's energy problem (and what we can do about it)",
    ISSCC 2014, pp. 10-14, doi:10.1109/ISSCC.2014.6757323 (Figure 1.1.9).

==================  =========  ===========================================
operation           energy     note
==================  =========  ===========================================
int8 add            0.03 pJ
int16 add           0.05 pJ
int32 add           0.1 pJ
fp16 add            0.4 pJ
fp32 add            0.9 pJ     = one synaptic accumulate (AC) of an SNN
int8 multiply       0.2 pJ
int32 multiply      3.1 pJ
fp16 multiply       1.1 pJ
fp32 multiply       3.7 pJ
SRAM read 64 bit    10 pJ      8 KB cache; 20 pJ at 32 KB; 100 pJ at 1 MB
DRAM read 64 bit    1.3-2.6 nJ we use the low end, 1300 pJ
==================  =========  ===========================================

Derived: fp32 MAC = 3.7 + 0.9 = 4.6 pJ; fp16 MAC = 1.5 pJ; int8 MAC = int8 multiply +
int32 accumulate = 0.3 pJ. The model prices each layer's (effective) MACs at its
precision and reads every stored weight once per inference from DRAM (or SRAM).
It ignores activations' memory traffic, control, and static power, so it is a
lower bound that says which way a change goes; it is never a substitute for a
measurement and is always labelled ``kind="estimated"``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["HOROWITZ_2014_PJ", "SOURCE", "EnergyEstimate", "estimate_energy", "mac_energy_pj", "synops_energy_pj"]

SOURCE = ("Horowitz, ISSCC 2014, doi:10.1109/ISSCC.2014.6757323, 45 nm, 0.9 V "
          "(analytical model: ops x energy per op + weight reads)")

HOROWITZ_2014_PJ: dict[str, float] = {
    "int8_add": 0.03, "int16_add": 0.05, "int32_add": 0.1, "fp16_add": 0.4, "fp32_add": 0.9,
    "int8_mult": 0.2, "int32_mult": 3.1, "fp16_mult": 1.1, "fp32_mult": 3.7,
    "sram_8kb_read_64b": 10.0, "sram_32kb_read_64b": 20.0, "sram_1mb_read_64b": 100.0,
    "dram_read_64b": 1300.0, "dram_read_64b_high": 2600.0,
}


def mac_energy_pj(weight_bits: int, activation_bits: int, table: dict[str, float] = HOROWITZ_2014_PJ) -> float:
    """Energy of one MAC at the given precisions (an integer MAC needs both operands <= 8 bits)."""
    if weight_bits <= 8 and activation_bits <= 8:
        return table["int8_mult"] + table["int32_add"]
    if max(weight_bits, activation_bits) <= 16 and activation_bits <= 16:
        return table["fp16_mult"] + table["fp16_add"]
    return table["fp32_mult"] + table["fp32_add"]  # weight-only quantization dequantizes to fp32


def synops_energy_pj(synops, table: dict[str, float] = HOROWITZ_2014_PJ) -> float:
    """Compute energy of a spiking network's synaptic operations per sample, in pJ:
    ``ACs * e_fp32_add + MACs * e_fp32_MAC`` (an accumulate per spike, a MAC per non-binary input)."""
    return synops.acs * table["fp32_add"] + synops.macs * mac_energy_pj(32, 32, table)


@dataclass
class EnergyEstimate:
    """Modelled energy per inference, in joules. ``kind`` is always ``"estimated"``.

    ``energy_j_per_inference`` = ``compute_j`` + ``memory_j`` (both per inference too).
    """
    energy_j_per_inference: float
    compute_j: float
    memory_j: float
    breakdown_j: dict[str, float] = field(default_factory=dict)
    kind: str = "estimated"
    source: str = SOURCE
    assumptions: tuple[str, ...] = ()

    @property
    def energy_j(self) -> float:
        """Deprecated name of :attr:`energy_j_per_inference` (it held joules per inference, not a total)."""
        import warnings

        warnings.warn("EnergyEstimate.energy_j is deprecated; use energy_j_per_inference",
                      DeprecationWarning, stacklevel=2)
        return self.energy_j_per_inference

    def beside(self, measured_j: float | None = None, measured_kind: str = "measured") -> str:
        """One line with the model next to a measured figure (if there is one)."""
        line = f"model (estimated, {self.source.split(',')[0]}): {self.energy_j_per_inference * 1e6:.3f} uJ/inference"
        if measured_j is not None:
            line += f" | {measured_kind}: {measured_j * 1e6:.3f} uJ/inference"
            line += (f" (measured / model = {measured_j / self.energy_j_per_inference:.1f}x)"
                     if self.energy_j_per_inference else "")
        return line

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v * 1e6:.3f} uJ" for k, v in self.breakdown_j.items())
        return (f"ESTIMATED {self.energy_j_per_inference * 1e6:.3f} uJ per inference ({parts}). Source: {self.source}. "
                + " ".join(self.assumptions))

    def _repr_html_(self) -> str:
        return f"<p><b>Estimated (model)</b>: {html.escape(str(self))}</p>"


def estimate_energy(profile, synops=None, *, memory: str = "dram", skip_zero_weights: bool = True,
                    table: dict[str, float] = HOROWITZ_2014_PJ) -> EnergyEstimate:
    """Estimate energy per inference from a :class:`~greenkit.metrics.Profile` (and SynOps).

    ``E = sum_layers MACs_l * e_MAC(bits_l) + ACs * e_fp32_add + weight_bits / 64 * e_read_64b``.

    Args:
        profile: from :func:`greenkit.metrics.profile`.
        synops: optional :class:`~greenkit.metrics.SynOps`; its ACs and MACs replace the
            profile's MACs of the connection layers it counted (spiking networks).
        memory: ``"dram"`` (weights do not fit on chip) or ``"sram"`` (1 MB SRAM).
        skip_zero_weights: price effective MACs (hardware that skips zero weights).
    """
    if memory not in ("dram", "sram"):
        raise ValueError(f"memory must be 'dram' or 'sram', got {memory!r}")
    breakdown: dict[str, float] = {}
    compute_pj = 0.0
    weight_bits_total = 0
    syn_layers = set(synops.layer_names()) if synops is not None else set()
    for row in profile.layers:
        dense_bits = row.params * row.weight_bits
        # hardware that skips zeros stores only nonzeros (CSR, 16-bit column indices)
        sparse_bits = row.nonzero_params * (row.weight_bits + 16)
        weight_bits_total += min(dense_bits, sparse_bits) if skip_zero_weights else dense_bits
        if row.name in syn_layers:
            continue
        macs = row.effective_macs if skip_zero_weights else row.macs
        compute_pj += macs * mac_energy_pj(row.weight_bits, row.activation_bits, table)
    if synops is not None:
        compute_pj += synops_energy_pj(synops, table)
    read_pj = table["dram_read_64b"] if memory == "dram" else table["sram_1mb_read_64b"]
    memory_pj = weight_bits_total / 64 * read_pj
    breakdown["compute"] = compute_pj * 1e-12
    breakdown[f"weights from {memory}"] = memory_pj * 1e-12
    return EnergyEstimate(
        energy_j_per_inference=(compute_pj + memory_pj) * 1e-12, compute_j=compute_pj * 1e-12, memory_j=memory_pj * 1e-12,
        breakdown_j=breakdown,
        assumptions=("Each stored weight is read once per inference;",
                     "activation traffic, control and static power are not modelled.",
                     "Zero weights skipped and stored sparse (CSR, 16-bit indices) where that is smaller." if skip_zero_weights else "Dense MACs and storage."),
    )
