"""AMD GPU energy through AMD SMI (``amdsmi``, ROCm 6.1 and later).

``amdsmi_get_energy_count(handle)`` returns the GPU's energy accumulator: a 64-bit count
of ``counter_resolution`` microjoules (about 15.3 uJ) since the driver loaded, so

.. math:: E = (a_1 - a_0) \\cdot r \\cdot 10^{-6}\\ \\text{J}

Before amdsmi 6.2.1 the count was returned under the key ``"power"``; both are read.
The count is 64 bits wide (no wrap in practice), so sessions need no polling.

The counter is known to be wrong on some GPUs and driver versions (ROCm/amdsmi issue #38:
counts off by orders of magnitude). As Zeus does, the probe checks it once against the
driver's own power reading: over :data:`SANITY_WINDOW_S` the counter's joules must lie
within 0.1x-10x of ``power x time``; a GPU that fails is left out, with a note, never
reported with a wrong figure. A GPU whose power reads "N/A" cannot be checked and is
used with a note saying so.

GPUs are filtered by ``HIP_VISIBLE_DEVICES``, else ``ROCR_VISIBLE_DEVICES``, else
``CUDA_VISIBLE_DEVICES`` (indices). AMD SMI errors (``AmdSmiLibraryException``, with a
status code from ``amd_smi.h``) are translated once, in :func:`translate`. The refresh
period of the counter is not documented; we assume :data:`ASSUMED_UPDATE_PERIOD_S`
(NVML's slow end), so windows are at least 1 s.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from greenkit.energy.base import (
    Availability,
    Backend,
    CounterSession,
    CounterUnavailable,
    EnergyError,
    PermissionDenied,
    Reading,
    probe_devices,
    register,
)
from greenkit.i18n import _

__all__ = ["ASSUMED_UPDATE_PERIOD_S", "AmdSmiBackend", "SANITY_WINDOW_S", "translate"]

MORE = ("https://rocm.docs.amd.com/projects/amdsmi/en/latest/ ; "
        "https://github.com/ROCm/amdsmi/issues/38 ; run `greenkit doctor`")
INSTALL = ("install ROCm >= 6.1 (it ships the amdsmi Python package: "
           "pip install /opt/rocm/share/amd_smi), or pip install amdsmi matching your ROCm version")
#: Assumed refresh period of the energy counter, in seconds (not documented by AMD).
ASSUMED_UPDATE_PERIOD_S = 0.1
#: Seconds the probe compares the counter with power x time.
SANITY_WINDOW_S = 0.2
# amdsmi_status_t codes from amd_smi.h (the same table Zeus maps).
_NOT_SUPPORTED = {2, 3}                 # AMDSMI_STATUS_NOT_SUPPORTED, _NOT_YET_IMPLEMENTED
_NO_PERMISSION = {10}                   # AMDSMI_STATUS_NO_PERM
_NO_DRIVER = {34, 45, 51, 52}           # DRIVER_NOT_LOADED, NO_ENERGY_DRV, NO_DRV, FILE_NOT_FOUND


def _import_amdsmi():
    import amdsmi  # a missing package, or one without libamd_smi.so, is reported by the probe

    return amdsmi


def translate(amd, err: Exception, what: str) -> EnergyError:
    """Map an ``AmdSmiException`` to our exceptions (chain it with ``raise ... from err``)."""
    code = err.get_error_code() if isinstance(err, amd.AmdSmiLibraryException) else None
    if code in _NO_PERMISSION:
        return PermissionDenied(f"AMD SMI refused {what}: no permission",
                                "add your user to the render and video groups (sudo usermod -aG render,video $USER), "
                                "log out and in; in Docker pass --device /dev/kfd --device /dev/dri", MORE)
    if code in _NOT_SUPPORTED:
        return CounterUnavailable(f"{what} is not supported by this AMD GPU/driver",
                                  "update ROCm (>= 6.1), or accept labelled estimates", MORE)
    if code in _NO_DRIVER:
        return CounterUnavailable(f"no AMD GPU driver here ({what}: {err})",
                                  "install the amdgpu driver and ROCm, or ignore this on a machine without an AMD GPU",
                                  MORE)
    return CounterUnavailable(f"AMD SMI error during {what}: {err}", "run `amd-smi`; update ROCm", MORE)


def _joules(reading: dict) -> float:
    """Joules in an ``amdsmi_get_energy_count`` result (``energy_accumulator``, or ``power`` before 6.2.1)."""
    count = reading["energy_accumulator"] if "energy_accumulator" in reading else reading["power"]
    return float(count) * float(reading["counter_resolution"]) / 1e6


def _visible(n: int) -> list[int]:
    for var in ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"):
        env = os.environ.get(var)
        if env is not None:
            return [int(t) for t in env.split(",") if t.strip().isdigit() and int(t) < n]
    return list(range(n))


@dataclass(frozen=True)
class _Gpu:
    index: int
    name: str


@register("amdsmi")
class AmdSmiBackend(Backend):
    """GPU energy for every visible AMD GPU whose counter passes the sanity check.

    ``amdsmi`` injects the module (tests: an autospec); ``sanity_window_s`` the check's length.
    """

    kind = "measured"
    device = "gpu"
    covers = ("gpu:amd",)

    def __init__(self, amdsmi=None, *, sanity_window_s: float = SANITY_WINDOW_S) -> None:
        super().__init__()
        self._amd = amdsmi
        self.sanity_window_s = sanity_window_s

    @property
    def amd(self):
        if self._amd is None:
            self._amd = _import_amdsmi()
        return self._amd

    def _power_w(self, h) -> float | None:
        info = self.amd.amdsmi_get_power_info(h)
        for key in ("average_socket_power", "current_socket_power"):
            v = info.get(key)
            if isinstance(v, (int, float)) and v > 0:
                return float(v)
        return None

    def _gpus(self) -> tuple[list[_Gpu], list[str]]:
        amd = self.amd
        handles = amd.amdsmi_get_processor_handles()
        gpus, notes, checks = [], [], []
        for i in _visible(len(handles)):
            h = handles[i]
            name = str(amd.amdsmi_get_gpu_asic_info(h).get("market_name") or f"AMD GPU {i}")
            try:
                e0 = _joules(amd.amdsmi_get_energy_count(h))
            except amd.AmdSmiException as err:
                e = translate(amd, err, f"GPU {i} energy counter")
                if isinstance(e, PermissionDenied):
                    raise e from err
                notes.append(f"gpu-{i} ({name}): no energy counter ({e.cause}); NOT measured")
                continue
            checks.append((i, h, name, e0, self._power_w(h)))
        t0 = time.perf_counter()
        time.sleep(self.sanity_window_s)
        for i, h, name, e0, p_w in checks:
            dt = time.perf_counter() - t0
            got = _joules(amd.amdsmi_get_energy_count(h)) - e0
            if p_w is None:
                notes.append(f"gpu-{i} ({name}): power reads N/A, so the energy counter could not be checked "
                             "(ROCm/amdsmi#38 reports wrong counters on some GPUs)")
            elif not 0.1 < got / (p_w * dt) < 10:
                notes.append(f"gpu-{i} ({name}): energy counter gave {got:.3g} J over {dt:.2f} s while the driver "
                             f"reports {p_w:.3g} W ({p_w * dt:.3g} J); counter known to be wrong on some GPUs "
                             "(ROCm/amdsmi#38); NOT measured")
                continue
            gpus.append(_Gpu(i, name))
        return gpus, notes

    def _probe(self) -> Availability:
        details: dict = {"update_period_s": ASSUMED_UPDATE_PERIOD_S}
        try:
            amd = self.amd
        except ImportError as err:
            return Availability(self.name, False, self.kind,
                                _("{package} is not installed ({error})").format(package="amdsmi", error=err), (INSTALL,),
                                MORE, details)
        except (OSError, KeyError, AttributeError) as err:
            # amdsmi's import loads libamd_smi.so: KeyError/OSError when ROCm is absent,
            # AttributeError when the Python package is newer than the installed ROCm
            return Availability(self.name, False, self.kind,
                                f"amdsmi is installed but cannot load ROCm's libamd_smi.so "
                                f"({type(err).__name__}: {err}): no ROCm here, or a version mismatch",
                                (INSTALL, "on a machine without an AMD GPU: nothing to do"), MORE, details)
        found = probe_devices(self, details, MORE, init=lambda: amd.amdsmi_init(amd.AmdSmiInitFlags.INIT_AMD_GPUS),
                              init_name="amdsmi_init", shutdown=amd.amdsmi_shut_down, list_devices=self._gpus,
                              vendor_error=amd.AmdSmiException, translate=lambda err, what: translate(amd, err, what))
        if isinstance(found, Availability):
            return found
        gpus, notes = found
        details["gpus"] = [{"index": g.index, "name": g.name} for g in gpus]
        details["notes"] = notes
        if not gpus:
            return Availability(self.name, False, self.kind,
                                "AMD SMI works but no visible GPU gives a trustworthy energy counter"
                                + (f": {notes}" if notes else ""),
                                ("check HIP_VISIBLE_DEVICES and `amd-smi metric --energy`",), MORE, details)
        desc = ", ".join(f"gpu-{g.index} {g.name}" for g in gpus)
        return Availability(self.name, True, self.kind, f"AMD SMI energy counter: {desc}", (), MORE, details)

    def open(self) -> AmdSmiSession:
        av = self.require()
        return AmdSmiSession(self.amd, [g["index"] for g in av.details["gpus"]])

    def describe(self) -> str:
        gpus = self.availability().details.get("gpus", [])
        return "AMD SMI " + ", ".join(f"amdgpu-{g['index']} amdsmi_get_energy_count" for g in gpus)


class AmdSmiSession(CounterSession):
    """Differences of each GPU's energy accumulator since the session opened."""

    def __init__(self, amd, indices: list[int]) -> None:
        super().__init__()
        self.amd = amd
        try:
            amd.amdsmi_init(amd.AmdSmiInitFlags.INIT_AMD_GPUS)
            handles = amd.amdsmi_get_processor_handles()
        except amd.AmdSmiException as err:
            raise translate(amd, err, "amdsmi_init") from err
        self.handles = {i: handles[i] for i in indices}
        self._start = {i: self._joules(i) for i in indices}
        self.t0_s = time.perf_counter()

    def _joules(self, i: int) -> float:
        try:
            return _joules(self.amd.amdsmi_get_energy_count(self.handles[i]))
        except self.amd.AmdSmiException as err:
            raise translate(self.amd, err, f"gpu-{i} energy counter") from err

    def read(self) -> Reading:
        with self._lock:
            energy = {f"amdgpu-{i}": self._joules(i) - start for i, start in sorted(self._start.items())}
        return Reading(time.perf_counter(), energy, tuple(energy))

    def close(self) -> None:
        try:
            self.amd.amdsmi_shut_down()
        except self.amd.AmdSmiException:
            pass
