"""Apple Silicon via zeus-apple-silicon, with the library autospec'd.

On this Linux machine the package cannot be imported (a macOS-only C++ extension), so the
autospec is built from ``vendor_apis``' faithful copy of its published API; on a Mac with
the package installed the same tests autospec the real classes.
"""

from __future__ import annotations

import time
from unittest import mock

import pytest

from greenkit.energy import CounterUnavailable, measure
from greenkit.energy.apple import AppleBackend
from greenkit.energy.selection import auto_select, resolve_backends

from .vendor_apis import zeus_apple_silicon

ZAS = zeus_apple_silicon()


def metrics(**fields) -> mock.MagicMock:
    """An autospec'd AppleEnergyMetrics whose unset fields are None, as the library returns them."""
    m = mock.create_autospec(ZAS.AppleEnergyMetrics, instance=True)
    for name in ("cpu_total_mj", "efficiency_cores_mj", "performance_cores_mj", "efficiency_cluster_mj",
                 "performance_cluster_mj", "efficiency_core_manager_mj", "performance_core_manager_mj",
                 "dram_mj", "gpu_mj", "gpu_sram_mj", "ane_mj"):
        setattr(m, name, fields.get(name))
    return m


def monitor_factory(*samples) -> tuple[mock.MagicMock, mock.MagicMock]:
    """(factory, monitor): the autospec'd AppleEnergyMonitor returns ``samples`` in turn."""
    monitor = mock.create_autospec(ZAS.AppleEnergyMonitor, instance=True)
    monitor.get_cumulative_energy.side_effect = list(samples)
    factory = mock.create_autospec(ZAS.AppleEnergyMonitor)
    factory.return_value = monitor
    return factory, monitor


def mac(factory) -> AppleBackend:
    return AppleBackend(factory, system="Darwin", machine="arm64")


M2 = {"cpu_total_mj": 1_000, "gpu_mj": 500, "ane_mj": 0, "dram_mj": 200, "gpu_sram_mj": 10,
      "efficiency_cluster_mj": [300], "performance_cluster_mj": [700]}


def test_domains_are_millijoule_differences_and_clusters_are_a_breakdown():
    """Are cpu/gpu/ane/dram read as (c1 - c0) mJ / 1000, summed, with E/P clusters and GPU SRAM not added?"""
    later = {"cpu_total_mj": 6_000, "gpu_mj": 2_500, "ane_mj": 100, "dram_mj": 1_200, "gpu_sram_mj": 60,
             "efficiency_cluster_mj": [1_300], "performance_cluster_mj": [4_700]}
    factory, monitor = monitor_factory(metrics(**M2), metrics(**M2), metrics(**later))
    b = mac(factory)
    av = b.availability()
    assert av.available and av.kind == "measured", av.reason
    assert av.details["domains"] == ["cpu", "gpu", "ane", "dram"]
    r = b.open().read()
    assert r.total_domains == ("cpu", "gpu", "ane", "dram")
    assert r.total_j == pytest.approx(5.0 + 2.0 + 0.1 + 1.0)
    assert r.energy_j["cpu-e-cluster-0"] == pytest.approx(1.0) and r.energy_j["gpu-sram"] == pytest.approx(0.05)
    assert "Apple's on-chip model" in b.describe()
    monitor.begin_window.assert_not_called()  # cumulative counters: no named windows left open


def test_chip_without_dram_or_ane_says_so():
    """On a chip that reports no DRAM/ANE channel, are they left out of the total with a note (not 0 J)?"""
    m1 = {"cpu_total_mj": 10, "gpu_mj": 5}
    factory, _ = monitor_factory(metrics(**m1), metrics(**m1), metrics(cpu_total_mj=20, gpu_mj=7))
    b = mac(factory)
    av = b.availability()
    assert av.details["domains"] == ["cpu", "gpu"]
    assert any("no ane, dram energy" in n for n in av.details["notes"])
    assert b.open().read().energy_j == {"cpu": pytest.approx(0.01), "gpu": pytest.approx(0.002)}


def test_not_a_mac_is_unavailable_and_not_applicable():
    """On Linux, is the backend unavailable with a reason and fix, and flagged so auto does not mention it?"""
    factory, _ = monitor_factory()
    av = AppleBackend(factory, system="Linux", machine="x86_64").availability()
    assert not av.available and "not macOS" in av.reason and "zeus-apple-silicon" in av.fix[0]
    assert av.details["not_applicable"]
    factory.assert_not_called()
    here = AppleBackend().availability()  # this machine: Linux
    assert not here.available and here.details["not_applicable"]


def test_intel_mac_is_unavailable():
    """On an Intel Mac, does the probe say IOReport has no energy model there, without calling the library?"""
    factory, _ = monitor_factory()
    av = AppleBackend(factory, system="Darwin", machine="x86_64").availability()
    assert not av.available and "Intel Mac" in av.reason
    factory.assert_not_called()


def test_missing_package_says_how_to_install():
    """On an Apple Silicon Mac without zeus-apple-silicon, does the probe give the pip command?"""
    def factory():
        raise ImportError("No module named 'zeus_apple_silicon'")

    av = AppleBackend(factory, system="Darwin", machine="arm64").availability()
    assert not av.available and "not installed" in av.reason and av.fix[0].startswith("pip install zeus-apple-silicon")


def test_subscription_failure_is_translated_and_chained():
    """Is the library's RuntimeError (IOReport subscription failed) reported by the probe, and chained when raised?"""
    factory = mock.create_autospec(ZAS.AppleEnergyMonitor)
    factory.side_effect = RuntimeError("Failed to create IOReport subscription.")
    b = mac(factory)
    av = b.availability()
    assert not av.available and "IOReport subscription" in av.reason
    with pytest.raises(CounterUnavailable) as ei:
        b._call(factory, "AppleEnergyMonitor()")
    assert isinstance(ei.value.__cause__, RuntimeError)


def test_unknown_chip_without_cpu_channel_is_unavailable():
    """If IOReport gives no CPU channel (a chip the library does not know), is the backend refused, not 0 J?"""
    factory, _ = monitor_factory(metrics())
    av = mac(factory).availability()
    assert not av.available and "no CPU energy channel" in av.reason


def test_auto_prefers_apple_over_the_estimate(registry):
    """With no RAPL but a working Apple SoC, does auto measure with it (kind measured) and skip NVML/AMD?"""
    factory, _ = monitor_factory(*[metrics(**M2)] * 10)
    registry("apple", mac(factory))
    sel = auto_select()
    if sel.backends[0].name in ("rapl", "pyrapl"):
        pytest.skip("this machine has a readable RAPL counter, which auto prefers")
    assert sel.name == "apple" and sel.kind == "measured"
    assert sel.device == "cpu+gpu:apple"
    assert not any(n.startswith("apple:") for n in sel.notes)


def test_apple_and_a_cpu_backend_would_double_count():
    """Is combining Apple's SoC total with another CPU backend refused (both cover the CPU)?"""
    from greenkit.energy.estimate import EstimateBackend

    factory, _ = monitor_factory(metrics(**M2))
    with pytest.raises(ValueError, match="double count"):
        resolve_backends([mac(factory), EstimateBackend()])


def test_measure_extends_short_windows_and_reports_the_soc():
    """Does measure() with Apple keep a 1 ms block open for >= 10 assumed updates and report each SoC domain?"""
    t0 = time.perf_counter()

    def sample():  # 4 W CPU, 2 W GPU, quantised to 1 mJ like IOReport
        t = time.perf_counter() - t0
        return metrics(cpu_total_mj=int(4_000 * t), gpu_mj=int(2_000 * t), ane_mj=0, dram_mj=0)

    monitor = mock.create_autospec(ZAS.AppleEnergyMonitor, instance=True)
    monitor.get_cumulative_energy.side_effect = lambda: sample()
    factory = mock.create_autospec(ZAS.AppleEnergyMonitor, return_value=monitor)
    with measure(mac(factory)) as m:
        time.sleep(0.001)
    assert m.duration_s >= 0.1 and m.extended_by_s > 0
    assert m.kind == "measured" and m.backend == "apple" and set(m.energy_j_by_domain) == {"cpu", "gpu", "ane", "dram"}
    assert m.energy_j == pytest.approx(6.0 * m.duration_s, rel=0.1, abs=0.003)
