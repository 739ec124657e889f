"""Energy figures in greenkit.plots: units on axes, measured/estimated in the title."""

from __future__ import annotations

import time

import pytest
import torch

from greenkit import plots
from greenkit.energy import measure, measure_inference


def test_power_trace_figure():
    """Does the power trace plot every sample with W and s on the axes and 'ESTIMATED' in the title?"""
    with measure("estimate", trace_interval_s=0.02) as m:
        t_end = time.perf_counter() + 0.15
        while time.perf_counter() < t_end:
            pass
    fig = plots.power_trace(m)
    assert len(fig.data[0].x) == len(m.trace)
    assert "(W)" in fig.layout.yaxis.title.text and "(s)" in fig.layout.xaxis.title.text
    assert "ESTIMATED" in fig.layout.title.text


def test_power_trace_needs_trace():
    """Is a report without a trace refused with a ValueError that says how to get one?"""
    with measure("estimate") as m:
        pass
    with pytest.raises(ValueError, match="trace_interval_s"):
        plots.power_trace(m)


def test_energy_per_inference_error_bars():
    """Do the bars carry asymmetric 95% error bars equal to the CI distances, with J on the axis?"""
    r = measure_inference(torch.nn.Linear(16, 4), torch.randn(32, 16), backend="estimate", windows=6)
    fig = plots.energy_per_inference({"linear": r})
    bar = fig.data[0]
    assert bar.y[0] == r.energy_j_per_inference
    assert bar.error_y.array[0] == pytest.approx(r.energy_j_ci95[1] - r.energy_j_per_inference)
    assert bar.error_y.arrayminus[0] == pytest.approx(r.energy_j_per_inference - r.energy_j_ci95[0])
    assert "(J)" in fig.layout.yaxis.title.text and "ESTIMATED" in fig.layout.title.text


def test_title_label_follows_energys_rule_for_a_mix():
    """Is a figure with one part of unknown provenance labelled ESTIMATED (energy's combined_kind), and only
    an all-measured one 'measured'?"""
    import dataclasses

    r = measure_inference(torch.nn.Linear(16, 4), torch.randn(32, 16), backend="estimate", windows=6)
    measured = dataclasses.replace(r, kind="measured", backend="rapl")
    unknown = dataclasses.replace(r, kind="", backend="rapl")   # no kind recorded: never shown as measured
    title = plots.energy_per_inference({"a": measured, "b": unknown}).layout.title.text
    assert "ESTIMATED" in title and "measured" not in title
    title = plots.energy_per_inference({"a": measured, "b": measured}).layout.title.text
    assert "measured (rapl)" in title and "ESTIMATED" not in title
