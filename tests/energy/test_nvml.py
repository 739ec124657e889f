"""NVML with the real pynvml mocked by autospec; the real constants and exception classes are kept."""

from __future__ import annotations

import time
from unittest import mock

import pynvml
import pytest

from greenkit.energy import CounterUnavailable, PermissionDenied, measure
from greenkit.energy.meter import resolve_backends
from greenkit.energy.nvml import NvmlBackend


def fake_nvml(n_gpus: int = 1) -> mock.MagicMock:
    """pynvml autospec'd: real signatures; real error codes and NVMLError classes put back."""
    nv = mock.create_autospec(pynvml, instance=False)
    for name in dir(pynvml):
        if name.startswith("NVML_") or name.startswith("NVMLError"):
            setattr(nv, name, getattr(pynvml, name))
    nv.nvmlDeviceGetCount.return_value = n_gpus
    nv.nvmlDeviceGetHandleByIndex.side_effect = lambda i: f"handle-{i}"
    nv.nvmlDeviceGetName.side_effect = lambda h: f"Fake GPU {h[-1]}"
    return nv


def err(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


def test_energy_counter_millijoules_to_joules():
    """On a Volta+ GPU, is the counter difference read as mJ / 1000 = J, per GPU, for all GPUs?"""
    nv = fake_nvml(2)
    counters = {"handle-0": iter([1_000, 1_000, 6_000]), "handle-1": iter([50, 50, 2_050])}
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = lambda h: next(counters[h])
    b = NvmlBackend(nv)
    assert b.availability().available, b.availability().reason
    s = b.open()
    r = s.read()
    assert r.energy_j == {"gpu-0": pytest.approx(5.0), "gpu-1": pytest.approx(2.0)}
    assert r.total_j == pytest.approx(7.0)
    nv.nvmlDeviceGetPowerUsage.assert_not_called()


def test_old_gpu_falls_back_to_power_sampling():
    """On a GPU whose energy counter is NVML_ERROR_NOT_SUPPORTED, is sampled power integrated over time?"""
    nv = fake_nvml(1)
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = err(pynvml.NVML_ERROR_NOT_SUPPORTED)
    nv.nvmlDeviceGetPowerUsage.return_value = 100_000  # mW = 100 W
    b = NvmlBackend(nv, sample_interval_s=0.01)
    av = b.availability()
    assert av.available and av.details["gpus"][0]["mode"] == "power"
    assert any("sampling power" in n for n in av.details["notes"])
    s = b.open()
    assert s.poll_interval_s == 0.01  # the meter will poll it
    t0 = time.perf_counter()
    for _ in range(5):
        time.sleep(0.01)
        s.poll()
    r = s.read()
    elapsed = r.t_s - t0
    assert r.energy_j["gpu-0"] == pytest.approx(100 * elapsed, rel=0.05)


def test_no_permission_is_reported_not_skipped():
    """Does NVML_ERROR_NO_PERMISSION make the backend unavailable with a permission reason, and raise PermissionDenied when asked for?"""
    nv = fake_nvml(1)
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = err(pynvml.NVML_ERROR_NO_PERMISSION)
    b = NvmlBackend(nv)
    av = b.availability()
    assert not av.available and av.details["permission_denied"]
    with pytest.raises(PermissionDenied):
        resolve_backends(b)


def test_gpu_without_energy_or_power_is_not_measured():
    """If a GPU supports neither counter nor power, is NVML unavailable (no silent 0 J for the GPU)?"""
    nv = fake_nvml(1)
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = err(pynvml.NVML_ERROR_NOT_SUPPORTED)
    nv.nvmlDeviceGetPowerUsage.side_effect = err(pynvml.NVML_ERROR_NOT_SUPPORTED)
    av = NvmlBackend(nv).availability()
    assert not av.available and "NOT measured" in " ".join(av.details["notes"])


def test_no_driver_is_unavailable():
    """Without a driver (NVML_ERROR_LIBRARY_NOT_FOUND), does the probe say so instead of raising?"""
    nv = fake_nvml(0)
    nv.nvmlInit.side_effect = err(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    av = NvmlBackend(nv).availability()
    assert not av.available and "no NVIDIA driver" in av.reason


def test_vendor_error_is_translated_and_chained():
    """Is an NVMLError raised mid-measurement translated once into our error, with the original chained?"""
    nv = fake_nvml(1)
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = [1, 1, err(pynvml.NVML_ERROR_NO_PERMISSION)]
    s = NvmlBackend(nv).open()
    with pytest.raises(PermissionDenied) as ei:
        s.read()
    assert isinstance(ei.value.__cause__, pynvml.NVMLError)


def test_short_window_is_extended_not_zero():
    """Is a 1 ms block on a counter that updates every 100 ms measured over >= 10 updates, not as ~0 J?"""
    nv = fake_nvml(1)
    t0 = time.perf_counter()
    # 200 W, counter refreshed every 100 ms (quantised), in mJ
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = (
        lambda h: int((time.perf_counter() - t0) // 0.1 * 0.1 * 200 * 1000))
    with measure(NvmlBackend(nv)) as m:
        time.sleep(0.001)
    assert m.duration_s >= 1.0 and m.extended_by_s > 0.9
    assert m.energy_j == pytest.approx(200 * m.duration_s, rel=0.15)
    assert "extended" in repr(m)


def test_mixed_measured_gpu_and_estimated_cpu_says_estimated():
    """When the GPU is measured but the CPU estimated, is the total kind 'estimated' with per-domain kinds?"""
    nv = fake_nvml(1)
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = iter(range(0, 10**9, 50_000))
    from greenkit.energy.estimate import EstimateBackend

    with measure([EstimateBackend(), NvmlBackend(nv)], extend_short_windows=False) as m:
        sum(i * i for i in range(200_000))
    assert m.kind == "estimated"
    assert m.kinds_by_domain == {"cpu (estimated)": "estimated", "gpu-0": "measured"}
    assert m.energy_j == pytest.approx(sum(m.energy_j_by_domain.values()))
    assert any("mixes measured and estimated" in n for n in m.notes)


def test_unavailable_error_carries_fix():
    """Does resolve_backends on an unavailable NVML raise CounterUnavailable whose message has a fix?"""
    nv = fake_nvml(0)
    nv.nvmlInit.side_effect = err(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    with pytest.raises(CounterUnavailable, match="Fix:"):
        resolve_backends(NvmlBackend(nv))
