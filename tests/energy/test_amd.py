"""AMD GPUs via AMD SMI, with amdsmi autospec'd.

Here amdsmi cannot be imported (it loads ROCm's libamd_smi.so at import), so the autospec is
built from ``vendor_apis``' copy of amdsmi 7.0.2's published functions; on a ROCm machine
the same tests autospec the real module. Real exception classes and init flags are kept.
"""

from __future__ import annotations

import time
from unittest import mock

import pytest

from greenkit.energy import CounterUnavailable, PermissionDenied, measure
from greenkit.energy.amd import AmdSmiBackend, translate
from greenkit.energy.nvml import NvmlBackend
from greenkit.energy.selection import resolve_backends

from .vendor_apis import amdsmi

API = amdsmi()
RES_UJ = 15.3  # a typical counter_resolution, uJ per count


def fake_amdsmi(n_gpus: int = 1, power_w=100) -> mock.MagicMock:
    amd = mock.create_autospec(API, instance=False)
    for name in ("AmdSmiException", "AmdSmiLibraryException", "AmdSmiInitFlags"):
        setattr(amd, name, getattr(API, name))
    amd.amdsmi_get_processor_handles.return_value = [f"handle-{i}" for i in range(n_gpus)]
    amd.amdsmi_get_gpu_asic_info.side_effect = lambda h: {"market_name": f"Radeon Fake {h[-1]}"}
    amd.amdsmi_get_power_info.return_value = {"average_socket_power": power_w, "current_socket_power": power_w}
    return amd


def counting(amd, watts: dict[str, float], t0: float, key: str = "energy_accumulator") -> None:
    """The energy counter advances at ``watts[handle]``, in counts of RES_UJ microjoules."""
    amd.amdsmi_get_energy_count.side_effect = lambda h: {
        key: int((time.perf_counter() - t0) * watts[h] * 1e6 / RES_UJ), "counter_resolution": RES_UJ,
        "timestamp": 0}


def err(code: int):
    return API.AmdSmiLibraryException(code)


def test_counter_times_resolution_is_joules_per_gpu():
    """Is energy = (accumulator difference) x counter_resolution uJ, per GPU, all visible GPUs summed?"""
    amd = fake_amdsmi(2)
    counting(amd, {"handle-0": 100.0, "handle-1": 50.0}, time.perf_counter())
    b = AmdSmiBackend(amd, sanity_window_s=0.05)
    av = b.availability()
    assert av.available and [g["index"] for g in av.details["gpus"]] == [0, 1], av.reason
    s = b.open()
    time.sleep(0.2)
    r = s.read()
    dt = r.t_s - s.t0_s
    assert r.energy_j["amdgpu-0"] == pytest.approx(100 * dt, rel=0.1)
    assert r.energy_j["amdgpu-1"] == pytest.approx(50 * dt, rel=0.1)
    amd.amdsmi_init.assert_called_with(API.AmdSmiInitFlags.INIT_AMD_GPUS)


def test_pre_621_key_is_read_too():
    """Is the older result key 'power' (amdsmi < 6.2.1) read as the accumulator?"""
    amd = fake_amdsmi(1)
    counting(amd, {"handle-0": 80.0}, time.perf_counter(), key="power")
    assert AmdSmiBackend(amd, sanity_window_s=0.05).availability().available


def test_wrong_counter_is_refused_not_reported():
    """Is a GPU whose counter disagrees 100x with the driver's power (ROCm/amdsmi#38) left out, with a note?"""
    amd = fake_amdsmi(1, power_w=100)
    counting(amd, {"handle-0": 1.0}, time.perf_counter())  # counter says 1 W
    av = AmdSmiBackend(amd, sanity_window_s=0.05).availability()
    assert not av.available and "amdsmi#38" in " ".join(av.details["notes"]) and "NOT measured" in av.reason


def test_power_na_is_used_with_a_note():
    """If the driver's power reads 'N/A', is the counter used but flagged as unchecked?"""
    amd = fake_amdsmi(1, power_w="N/A")
    counting(amd, {"handle-0": 30.0}, time.perf_counter())
    av = AmdSmiBackend(amd, sanity_window_s=0.05).availability()
    assert av.available and any("could not be checked" in n for n in av.details["notes"])


def test_no_permission_and_no_driver():
    """Are AMDSMI_STATUS_NO_PERM and a missing driver reported with their fixes, permission flagged?"""
    amd = fake_amdsmi(1)
    amd.amdsmi_init.side_effect = err(10)
    av = AmdSmiBackend(amd).availability()
    assert not av.available and av.details["permission_denied"] and "render" in av.fix[0]
    amd = fake_amdsmi(1)
    amd.amdsmi_init.side_effect = err(34)
    av = AmdSmiBackend(amd).availability()
    assert not av.available and "no AMD GPU driver" in av.reason


def test_counter_not_supported_is_not_measured():
    """On a GPU whose energy counter is NOT_SUPPORTED, is it left out (no silent 0 J) and the backend unavailable?"""
    amd = fake_amdsmi(1)
    amd.amdsmi_get_energy_count.side_effect = err(2)
    av = AmdSmiBackend(amd, sanity_window_s=0.01).availability()
    assert not av.available and "NOT measured" in " ".join(av.details["notes"])


def test_vendor_error_is_translated_and_chained():
    """Is an AMD SMI error mid-measurement raised as our error with the original chained?"""
    amd = fake_amdsmi(1)
    counting(amd, {"handle-0": 100.0}, time.perf_counter())
    s = AmdSmiBackend(amd, sanity_window_s=0.05).open()
    amd.amdsmi_get_energy_count.side_effect = err(10)
    with pytest.raises(PermissionDenied) as ei:
        s.read()
    assert isinstance(ei.value.__cause__, API.AmdSmiLibraryException)
    assert isinstance(translate(amd, err(99), "x"), CounterUnavailable)


def test_hip_visible_devices_filters(monkeypatch):
    """Does HIP_VISIBLE_DEVICES=1 restrict the measurement to GPU 1?"""
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "1")
    amd = fake_amdsmi(2)
    counting(amd, {"handle-0": 100.0, "handle-1": 100.0}, time.perf_counter())
    av = AmdSmiBackend(amd, sanity_window_s=0.05).availability()
    assert [g["index"] for g in av.details["gpus"]] == [1]


def test_missing_package_says_how_to_install():
    """Without amdsmi (this machine), is the backend unavailable with ROCm install steps, not an error?"""
    av = AmdSmiBackend().availability()
    if av.available:
        pytest.skip("this machine has a working AMD GPU")
    assert "amdsmi" in av.reason and "ROCm" in av.fix[0]


def test_nvidia_and_amd_can_be_combined_but_not_doubled():
    """May an NVIDIA and an AMD GPU backend be summed (different GPUs), but not AMD twice?"""
    import pynvml

    nv = mock.create_autospec(pynvml, instance=False)
    for name in dir(pynvml):
        if name.startswith("NVML_") or name.startswith("NVMLError"):
            setattr(nv, name, getattr(pynvml, name))
    nv.nvmlDeviceGetCount.return_value = 1
    nv.nvmlDeviceGetName.return_value = "Fake"
    nv.nvmlDeviceGetTotalEnergyConsumption.return_value = 0
    amd = fake_amdsmi(1)
    counting(amd, {"handle-0": 100.0}, time.perf_counter())
    sel = resolve_backends([NvmlBackend(nv), AmdSmiBackend(amd, sanity_window_s=0.05)])
    assert sel.device == "gpu:nvidia+gpu:amd"
    with pytest.raises(ValueError, match="double count"):
        resolve_backends([AmdSmiBackend(amd, sanity_window_s=0.05), AmdSmiBackend(amd, sanity_window_s=0.05)])


def test_measure_with_amd_extends_short_windows():
    """Is a 1 ms block on the AMD counter (assumed 100 ms updates) kept open >= 1 s and measured, not ~0 J?"""
    amd = fake_amdsmi(1, power_w=150)
    counting(amd, {"handle-0": 150.0}, time.perf_counter())
    with measure(AmdSmiBackend(amd, sanity_window_s=0.05)) as m:
        time.sleep(0.001)
    assert m.duration_s >= 1.0 and m.kind == "measured" and m.backend == "amdsmi"
    assert m.energy_j == pytest.approx(150 * m.duration_s, rel=0.05)
