"""Estimated CPU energy where no counter can be read (VMs, containers, macOS, Windows, CI).

The model, stated in every result that uses it:

.. math:: E_{cpu} \\approx P_{core} \\cdot T_{cpu}

with :math:`T_{cpu}` the process's CPU time in seconds (user + system, all threads,
``time.process_time()``) and :math:`P_{core}` a power per busy core in watts, taken from,
in order:

1. ``watts_per_core=`` given to :class:`EstimateBackend`, or ``GREENKIT_WATTS_PER_CORE``;
2. ``tdp_w=`` (or ``GREENKIT_CPU_TDP_W``) divided by the physical core count;
3. an assumed default, :data:`DEFAULT_WATTS_PER_CORE` = 10 W per core (a desktop CPU of
   ~65 W TDP over 6-8 cores), labelled *assumed* wherever it is used.

The model has no idle term and no DRAM or GPU term: it counts only the CPU work of this
process, so an energy *ratio* between two models equals their CPU-time ratio, whatever
:math:`P_{core}`. Every number from it has ``kind="estimated"``.
"""

from __future__ import annotations

import math
import os
import time

from greenkit.energy.base import Availability, Backend, CounterSession, Reading, register

__all__ = ["DEFAULT_WATTS_PER_CORE", "EstimateBackend", "openmp_spin_note"]

#: Assumed power per busy core when nothing better is known, in watts.
DEFAULT_WATTS_PER_CORE = 10.0
DOMAIN = "cpu (estimated)"


def _physical_cores() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except ImportError:
        n = None
    return n or os.cpu_count() or 1


def _env_float(name: str) -> float | None:
    v = os.environ.get(name)
    if v is None or v.strip() == "":
        return None
    try:
        f = float(v)
    except ValueError as err:
        raise ValueError(f"{name}={v!r} is not a number of watts") from err
    if not (f > 0 and math.isfinite(f)):
        raise ValueError(f"{name}={v!r} must be a positive number of watts")
    return f


def openmp_spin_note() -> str | None:
    """A warning when OpenMP threads may spin while waiting, which inflates CPU time under load.

    Only ``OMP_WAIT_POLICY=PASSIVE`` makes waiting threads sleep; ``import greenkit`` before
    ``import torch`` sets it (see ``greenkit/__init__.py``).
    """
    policy = os.environ.get("OMP_WAIT_POLICY", "")
    if policy.strip().upper() == "PASSIVE":
        return None
    shown = f"OMP_WAIT_POLICY={policy}" if policy else "OMP_WAIT_POLICY is not set"
    return (f"{shown}: PyTorch's OpenMP threads spin while they wait, and the CPU time they burn grows "
            "with the machine's load, so this estimate does too; start Python with "
            "OMP_WAIT_POLICY=PASSIVE (`make lab` does), or import greenkit before torch")


@register("estimate")
class EstimateBackend(Backend):
    """CPU energy = CPU time x watts per core. Always ``kind="estimated"``."""

    kind = "estimated"
    device = "cpu"

    def __init__(self, watts_per_core: float | None = None, *, tdp_w: float | None = None,
                 cores: int | None = None) -> None:
        super().__init__()
        for label, v in (("watts_per_core", watts_per_core), ("tdp_w", tdp_w)):
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{label} must be a positive number of watts, got {v!r}")
        if cores is not None and cores < 1:
            raise ValueError(f"cores must be >= 1, got {cores!r}")
        cores = cores or _physical_cores()
        env_wpc, env_tdp = _env_float("GREENKIT_WATTS_PER_CORE"), _env_float("GREENKIT_CPU_TDP_W")
        if watts_per_core is not None:
            self.watts_per_core, self.basis = watts_per_core, "given"
        elif env_wpc is not None:
            self.watts_per_core, self.basis = env_wpc, "GREENKIT_WATTS_PER_CORE"
        elif tdp_w is not None or env_tdp is not None:
            tdp = tdp_w if tdp_w is not None else env_tdp
            self.watts_per_core = tdp / cores
            self.basis = f"TDP {tdp:g} W / {cores} cores" + (" (GREENKIT_CPU_TDP_W)" if tdp_w is None else "")
        else:
            self.watts_per_core = DEFAULT_WATTS_PER_CORE
            self.basis = ("assumed default, a desktop CPU of ~65 W TDP over 6-8 cores; set "
                          "GREENKIT_WATTS_PER_CORE or GREENKIT_CPU_TDP_W for your CPU")
        self.cores = cores

    def _probe(self) -> Availability:
        res = time.get_clock_info("process_time").resolution
        spin = openmp_spin_note()
        return Availability(
            self.name, True, self.kind, f"always available: {self.describe()}", (),
            "greenkit/energy/estimate.py docstring",
            {"update_period_s": max(res, 0.001), "watts_per_core": self.watts_per_core,
             "basis": self.basis, "clock_resolution_s": res, "notes": [spin] if spin else []})

    def open(self) -> EstimateSession:
        return EstimateSession(self.watts_per_core)

    def describe(self) -> str:
        return (f"estimate: process CPU time x {self.watts_per_core:.3g} W/core ({self.basis}); "
                "no idle, DRAM or GPU term")


class EstimateSession(CounterSession):
    def __init__(self, watts_per_core: float) -> None:
        super().__init__()
        self.watts_per_core = watts_per_core
        self.cpu0_s = time.process_time()

    def read(self) -> Reading:
        cpu_s = time.process_time() - self.cpu0_s
        return Reading(time.perf_counter(), {DOMAIN: cpu_s * self.watts_per_core}, (DOMAIN,))
