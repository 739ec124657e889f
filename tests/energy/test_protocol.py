"""measure_inference() and compare(): windows, interleaving, intervals."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from greenkit.energy import compare, measure_inference, median_ci95


def test_median_ci95_matches_binomial_tables():
    """Do the order-statistic intervals match the textbook ranks: n=6 (1,6), n=10 (2,9), n=20 (6,15)?"""
    for n, (lo, hi), cov in [(6, (1, 6), 1 - 2 / 64), (10, (2, 9), 1 - 2 * 11 / 1024), (20, (6, 15), None)]:
        med, ci, coverage = median_ci95(list(range(1, n + 1)))
        assert ci == (lo, hi) and med == (n + 1) / 2
        if cov is not None:
            assert coverage == pytest.approx(cov)
        # independent check of the coverage: 1 - 2 P(Binomial(n, 1/2) <= lo - 1) >= 0.95
        tail = sum(math.comb(n, i) for i in range(lo)) / 2**n
        assert coverage == pytest.approx(1 - 2 * tail) and coverage >= 0.95


def test_median_ci95_needs_six():
    """Is a 95% interval refused (ValueError) for fewer than 6 values, where none exists?"""
    with pytest.raises(ValueError, match="at least 6"):
        median_ci95([1, 2, 3, 4, 5])


def small_cnn(width: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * width * 49, 10)).eval()


def test_measure_inference_fields():
    """Are per-inference energy and latency per sample of the batch, with intervals around the medians?"""
    x = torch.randn(64, 1, 28, 28)
    r = measure_inference(small_cnn(4), x, backend="estimate", windows=6)
    assert r.batch_size == 64 and r.windows == 6 and r.kind == "estimated"
    assert r.inferences_per_window == r.calls_per_window * 64
    assert r.energy_j_ci95[0] <= r.energy_j_per_inference <= r.energy_j_ci95[1]
    assert r.latency_s_ci95[0] <= r.latency_s_per_inference <= r.latency_s_ci95[1]
    assert r.window_s >= 0.05 and r.threads == torch.get_num_threads() and r.device == "cpu"
    # every window lasted at least the window length, even if the machine sped up after calibration
    assert len(r.window_durations_s) == 6 and min(r.window_durations_s) >= r.window_s * 0.99


def test_any_callable_model():
    """Does measure_inference accept a plain function, and reject a non-callable with ValueError?"""
    r = measure_inference(lambda t: t * 2, torch.ones(10, 3), backend="estimate", windows=6, warmup=1)
    assert r.batch_size == 10
    with pytest.raises(ValueError, match="callable"):
        measure_inference(42, torch.ones(1), backend="estimate")
    with pytest.raises(ValueError, match="windows"):
        measure_inference(lambda t: t, torch.ones(1), backend="estimate", windows=3)


def test_compare_twice_the_work_is_about_twice_the_energy():
    """Does B = A run twice give an energy ratio near 2 (CPU-time estimate) and a latency ratio above 1?"""

    def a(x):  # single-threaded fixed work, so CPU time is robust to a loaded CI machine
        return sum(i * i for i in range(20_000))

    def b(x):
        a(x)
        return a(x)

    c = compare(a, b, torch.ones(1), backend="estimate", pairs=6)
    assert 1.7 < c.energy_ratio < 2.3, c
    assert c.latency_ratio > 1.2, c  # wall time: shared cores make it noisier than CPU time
    assert c.energy_ratio_ci95[0] <= c.energy_ratio <= c.energy_ratio_ci95[1]
    assert c.kind == "estimated" and "CPU-time ratio" in repr(c)


def test_compare_interleaves_abba(monkeypatch):
    """Are the windows run as A B | B A | A B ... (ABBA), after each model's own warm-up?"""
    from greenkit.energy import protocol

    log = []
    original = protocol._window

    def marked_window(group, run, n, min_s=0.0):
        log.append("|")  # a window starts
        return original(group, run, n, min_s)

    monkeypatch.setattr(protocol, "_window", marked_window)

    def ma(x):
        log.append("a")

    def mb(x):
        log.append("b")

    compare(ma, mb, torch.ones(1), backend="estimate", pairs=6, warmup=0, min_window_s=0.001)
    chunks = "".join(log).split("|")
    assert set(chunks[0]) == {"a", "b"}  # calibration came before any window
    windows = [set(ch) for ch in chunks[1:]]
    expected = [{s} for p in range(6) for s in (("a", "b") if p % 2 == 0 else ("b", "a"))]
    assert windows == expected


def test_compare_two_small_cnns_ranks_them():
    """Does a full compare of two small CNNs on 256 images find the narrower one cheaper?

    (How long it takes is measured in benchmarks/, not asserted here.)
    """
    x = torch.randn(256, 1, 28, 28)
    c = compare(small_cnn(8), small_cnn(4), x)
    assert c.pairs == 10 and c.energy_ratio < 1  # the narrower net is cheaper


