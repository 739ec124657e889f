"""NVIDIA GPU energy through NVML (``nvidia-ml-py``, imported as ``pynvml``).

Two ways, per GPU:

- **energy counter** (Volta and newer): ``nvmlDeviceGetTotalEnergyConsumption`` gives
  millijoules since the driver loaded, so :math:`E = (c_1 - c_0) \\cdot 10^{-3}` J.
  The driver refreshes it every ~20-100 ms, so a window must span many refreshes:
  the protocol uses windows of at least ``10 x update_period_s`` and ``measure()``
  extends shorter ones (never reports ~0 J for a short window).
- **power samples** (older GPUs, where the counter says ``NVML_ERROR_NOT_SUPPORTED``):
  ``nvmlDeviceGetPowerUsage`` (milliwatts) sampled every ``sample_interval_s`` by the
  meter's thread and integrated with the trapezoid rule,
  :math:`E \\approx \\sum_i \\tfrac{1}{2}(P_i + P_{i-1})(t_i - t_{i-1})`.
  The driver itself averages power over up to ~1 s, so short windows blur.

All GPUs NVML reports are read (filtered by ``CUDA_VISIBLE_DEVICES`` when set).
NVML errors are translated once, in :func:`translate`.
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

__all__ = ["NvmlBackend", "translate"]

MORE = "https://docs.nvidia.com/deploy/nvml-api/ ; run `greenkit doctor`"
#: Assumed refresh period of NVML's energy counter and power reading until probed
#: (``greenkit doctor --probe`` times it). 0.1 s is the slow end seen on datacenter GPUs.
ASSUMED_UPDATE_PERIOD_S = 0.1


def _import_nvml():
    import pynvml  # nvidia-ml-py; a missing package is a real error, not a silent skip

    return pynvml


def translate(nvml, err: Exception, what: str) -> EnergyError:
    """Map an ``NVMLError`` to our exceptions (chain it with ``raise ... from err``)."""
    code = getattr(err, "value", None)
    if code == nvml.NVML_ERROR_NO_PERMISSION:
        return PermissionDenied(
            f"NVML refused {what}: no permission",
            "run as a user allowed to query the GPU; in Docker pass --gpus all and "
            "NVIDIA_DRIVER_CAPABILITIES=compute,utility; check with `nvidia-smi -q -d POWER`", MORE)
    if code == nvml.NVML_ERROR_NOT_SUPPORTED:
        return CounterUnavailable(f"{what} is not supported by this GPU/driver",
                                  "use a newer GPU/driver, or accept power sampling/estimates", MORE)
    if code in (getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", -1), getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", -1)):
        return CounterUnavailable(_("no NVIDIA driver here ({what}: {error})").format(what=what, error=err),
                                  _("install the NVIDIA driver, or ignore this on a machine without an NVIDIA GPU"),
                                  MORE)
    return CounterUnavailable(f"NVML error during {what}: {err}", "run `nvidia-smi`; update the driver", MORE)


@dataclass(frozen=True)
class _Gpu:
    index: int
    name: str
    mode: str  # "energy" or "power"


def _visible(nvml, count: int) -> list[int]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None or env.strip() == "":
        return list(range(count)) if env is None else []
    out = []
    for tok in env.split(","):
        tok = tok.strip()
        if tok.isdigit() and int(tok) < count:
            out.append(int(tok))
        elif tok.startswith("GPU-"):
            for i in range(count):
                uuid = nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))
                uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
                if uuid.startswith(tok):
                    out.append(i)
    return out


@register("nvml")
class NvmlBackend(Backend):
    """GPU energy for every visible NVIDIA GPU. ``nvml`` injects the module (tests: autospec)."""

    kind = "measured"
    device = "gpu"
    covers = ("gpu:nvidia",)

    def __init__(self, nvml=None, *, sample_interval_s: float = 0.05) -> None:
        super().__init__()
        if not sample_interval_s > 0:
            raise ValueError(f"sample_interval_s must be > 0 s, got {sample_interval_s!r}")
        self._nvml = nvml
        self.sample_interval_s = sample_interval_s

    @property
    def nvml(self):
        if self._nvml is None:
            self._nvml = _import_nvml()
        return self._nvml

    def _gpus(self) -> tuple[list[_Gpu], list[str]]:
        nv = self.nvml
        gpus, notes = [], []
        for i in _visible(nv, nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            name = nv.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else str(name)
            try:
                nv.nvmlDeviceGetTotalEnergyConsumption(h)
                gpus.append(_Gpu(i, name, "energy"))
                continue
            except nv.NVMLError as err:
                e = translate(nv, err, f"GPU {i} energy counter")
                if isinstance(e, PermissionDenied):
                    raise e from err
                notes.append(f"gpu-{i} ({name}): no energy counter ({e.cause}); sampling power instead")
            try:
                nv.nvmlDeviceGetPowerUsage(h)
                gpus.append(_Gpu(i, name, "power"))
            except nv.NVMLError as err:
                e = translate(nv, err, f"GPU {i} power reading")
                if isinstance(e, PermissionDenied):
                    raise e from err
                notes.append(f"gpu-{i} ({name}): no power reading either ({e.cause}); NOT measured")
        return gpus, notes

    def _probe(self) -> Availability:
        details: dict = {"update_period_s": ASSUMED_UPDATE_PERIOD_S, "update_period_probed": False}
        try:
            nv = self.nvml
        except ImportError as err:
            return Availability(self.name, False, self.kind, f"nvidia-ml-py is not installed ({err})",
                                ("pip install nvidia-ml-py",), MORE, details)
        found = probe_devices(self, details, MORE, init=nv.nvmlInit, init_name="nvmlInit", shutdown=nv.nvmlShutdown,
                              list_devices=self._gpus, vendor_error=nv.NVMLError,
                              translate=lambda err, what: translate(nv, err, what))
        if isinstance(found, Availability):
            return found
        gpus, notes = found
        details["gpus"] = [{"index": g.index, "name": g.name, "mode": g.mode} for g in gpus]
        details["notes"] = notes
        if not gpus:
            return Availability(self.name, False, self.kind,
                                "NVML works but no visible GPU gives energy or power" + (f": {notes}" if notes else ""),
                                ("check CUDA_VISIBLE_DEVICES and `nvidia-smi`",), MORE, details)
        desc = ", ".join(f"gpu-{g.index} {g.name} ({'energy counter' if g.mode == 'energy' else 'power samples'})"
                         for g in gpus)
        return Availability(self.name, True, self.kind, f"NVML: {desc}", (), MORE, details)

    def probe_update_period(self, budget_s: float = 1.0) -> float | None:
        """Time how often GPU 0's counter (or power reading) changes, by polling it; seconds or None."""
        av = self.require()
        nv = self.nvml
        nv.nvmlInit()
        try:
            g = av.details["gpus"][0]
            h = nv.nvmlDeviceGetHandleByIndex(g["index"])
            get = nv.nvmlDeviceGetTotalEnergyConsumption if g["mode"] == "energy" else nv.nvmlDeviceGetPowerUsage
            changes, last = [], get(h)
            t_end = time.perf_counter() + budget_s
            while time.perf_counter() < t_end:
                v = get(h)
                if v != last:
                    changes.append(time.perf_counter())
                    last = v
                time.sleep(0.001)
        finally:
            nv.nvmlShutdown()
        if len(changes) < 3:
            return None
        gaps = sorted(b - a for a, b in zip(changes, changes[1:], strict=False))
        period = gaps[len(gaps) // 2]
        self._availability = Availability(
            av.name, av.available, av.kind, av.reason, av.fix, av.more,
            {**av.details, "update_period_s": period, "update_period_probed": True})
        return period

    def open(self) -> NvmlSession:
        av = self.require()
        return NvmlSession(self.nvml, av.details["gpus"], self.sample_interval_s)

    def describe(self) -> str:
        av = self.availability()
        parts = [f"gpu-{g['index']} {'nvmlDeviceGetTotalEnergyConsumption' if g['mode'] == 'energy' else 'power samples (trapezoid)'}"
                 for g in av.details.get("gpus", [])]
        return "NVML " + ", ".join(parts)


class NvmlSession(CounterSession):
    """Energy-counter GPUs: difference of mJ counters. Power GPUs: trapezoid over polled samples."""

    def __init__(self, nvml, gpus: list[dict], sample_interval_s: float) -> None:
        super().__init__()
        self.nv = nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as err:
            raise translate(nvml, err, "nvmlInit") from err
        self.gpus = gpus
        self.handles = {g["index"]: nvml.nvmlDeviceGetHandleByIndex(g["index"]) for g in gpus}
        self._start_mj: dict[int, int] = {}
        self._power: dict[int, tuple[float, float, float]] = {}  # index -> (t_s, last W, joules so far)
        now = time.perf_counter()
        for g in gpus:
            i = g["index"]
            if g["mode"] == "energy":
                self._start_mj[i] = self._call(nvml.nvmlDeviceGetTotalEnergyConsumption, i, "energy counter")
            else:
                self._power[i] = (now, self._call(nvml.nvmlDeviceGetPowerUsage, i, "power") / 1e3, 0.0)
        if self._power:
            self.poll_interval_s = sample_interval_s
        self.t0_s = now

    def _call(self, fn, i: int, what: str):
        try:
            return fn(self.handles[i])
        except self.nv.NVMLError as err:
            raise translate(self.nv, err, f"gpu-{i} {what}") from err

    def poll(self) -> None:
        with self._lock:
            now = time.perf_counter()
            for i, (t, p_w, e_j) in self._power.items():
                p_now = self._call(self.nv.nvmlDeviceGetPowerUsage, i, "power") / 1e3
                self._power[i] = (now, p_now, e_j + 0.5 * (p_w + p_now) * (now - t))

    def read(self) -> Reading:
        self.poll()
        with self._lock:
            energy = {}
            for i, start in self._start_mj.items():
                now_mj = self._call(self.nv.nvmlDeviceGetTotalEnergyConsumption, i, "energy counter")
                energy[f"gpu-{i}"] = (now_mj - start) / 1e3
            for i, (_, _, e_j) in self._power.items():
                energy[f"gpu-{i}"] = e_j
            energy = dict(sorted(energy.items()))
        return Reading(time.perf_counter(), energy, tuple(energy))

    def close(self) -> None:
        try:
            self.nv.nvmlShutdown()
        except self.nv.NVMLError:
            pass
