"""The analytical energy model: Horowitz (ISSCC 2014) figures and a hand-worked estimate."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from greenkit.metrics import HOROWITZ_2014_PJ, estimate_energy, latency, profile


def test_table_holds_horowitz_2014_figures():
    """Does the table hold the 45 nm figures of Horowitz, ISSCC 2014, Fig. 1.1.9?"""
    paper = {"int8_add": 0.03, "int32_add": 0.1, "fp16_add": 0.4, "fp32_add": 0.9, "int8_mult": 0.2,
             "int32_mult": 3.1, "fp16_mult": 1.1, "fp32_mult": 3.7, "sram_8kb_read_64b": 10,
             "dram_read_64b": 1300}
    for k, v in paper.items():
        assert HOROWITZ_2014_PJ[k] == v


def test_estimate_of_one_linear_layer_by_hand():
    """Is a Linear(100, 10) priced at 4.6 pJ per fp32 MAC plus one DRAM read per 64 weight bits, labelled estimated?"""
    lin = nn.Linear(100, 10)
    est = estimate_energy(profile(lin, torch.zeros(1, 100)))
    want_pj = 1000 * (3.7 + 0.9) + (1010 * 32 / 64) * 1300
    assert est.energy_j_per_inference == pytest.approx(want_pj * 1e-12)
    assert est.kind == "estimated" and "Horowitz" in est.source
    assert "uJ" in est.beside(1e-3)


def test_energy_j_is_a_deprecated_alias_of_the_per_inference_figure():
    """Does the old name EnergyEstimate.energy_j still give joules per inference, with a DeprecationWarning?"""
    est = estimate_energy(profile(nn.Linear(8, 2), torch.zeros(1, 8)))
    with pytest.warns(DeprecationWarning, match="energy_j_per_inference"):
        assert est.energy_j == est.energy_j_per_inference


def test_latency_records_threads():
    """Does a latency measurement say how many threads it used?"""
    lat = latency(nn.Linear(10, 10), torch.zeros(4, 10), threads=1, min_run_time_s=0.05)
    assert lat.threads == 1 and lat.median_s > 0 and lat.batch_size == 4
