"""Estimated CPU energy where no counter can be read (VMs, containers, Windows, Intel Macs, CI).

The model, stated in every result that uses it:

.. math:: E_{cpu} \\approx P_{thread} \\cdot T_{cpu}

with :math:`T_{cpu}` the process's CPU time in seconds (user + system, all threads,
``time.process_time()``) and :math:`P_{thread}` a power per busy hardware thread in
watts, taken from, in order:

1. ``watts_per_core=`` given to :class:`EstimateBackend`, or ``GREENKIT_WATTS_PER_CORE``;
2. ``tdp_w=`` (or ``GREENKIT_CPU_TDP_W``) divided by the hardware threads (logical CPUs);
3. this CPU model's TDP from the table in ``greenkit/energy/data/cpu_tdp.csv``, divided
   by the hardware threads (see *The TDP table* below);
4. an assumed default, :data:`DEFAULT_WATTS_PER_CORE` = 10 W per thread, labelled
   *assumed* wherever it is used.

**The rule** for 2 and 3 ("equal share of TDP"): the chip's TDP is shared equally by its
hardware threads, :math:`P_{thread} = TDP / n_{threads}`, so a process keeping every
hardware thread busy for :math:`t` seconds is charged :math:`TDP \\cdot t`, and one
busy thread :math:`TDP / n_{threads} \\cdot t`. CPU time counts per hardware thread, so
dividing by *physical* cores would charge a fully loaded SMT chip twice its TDP. This
is CodeCarbon's process-mode curve (linear in CPU load, no idle floor). In a virtual
machine the threads we see are a slice of a bigger chip, so the table's TDP is not used
there (rule 4 applies, with a note); give ``GREENKIT_WATTS_PER_CORE`` instead.

The model has no idle term and no DRAM or GPU term: it counts only the CPU work of this
process, so an energy *ratio* between two models equals their CPU-time ratio, whatever
:math:`P_{thread}`. Every number from it has ``kind="estimated"``.

**How far off it can be** (:data:`ACCURACY_NOTE`, printed by ``greenkit doctor``):
CodeCarbon's own validation of its CPU-load x TDP fallback found it deviating from the
RAPL counters by about -60% to +190% across four CPUs and load points (its machine-mode
curve, January 2025; it states the figures do not transfer to its linear process mode,
which is our rule, and which nobody has characterised), and it states that no wall-socket
(wattmeter) validation of any of its backends has been done. We found no published
wall-meter figure for the TDP rule; treat absolute joules from it as an order of magnitude
and compare models by ratio.

The TDP table
-------------
``data/cpu_tdp.csv`` is CodeCarbon's maintained ``codecarbon/data/hardware/cpu_power.csv``
(columns ``Name,TDP``, watts), copied unchanged from the codecarbon 3.3.2 wheel on PyPI
(MIT licence, Copyright (c) 2019 Mila, BCG Gamma, CometML, Haverford College; the licence
is in ``data/cpu_tdp.LICENSE``, the provenance in ``data/README.md``). We carry the
figures over instead of depending on ``codecarbon``: that package pulls in pandas,
rapidfuzz, py-cpuinfo, prometheus/requests clients and more for one 5000-row table, and
its import starts hardware probing we do not want at notebook start. Rows whose TDP is not
a positive number (a handful: "27.29.5", "0.0") are skipped. To update: copy the file from
a newer codecarbon release and its row count and checksum into ``data/README.md``.

Matching (:func:`match_tdp`) follows CodeCarbon's rules without fuzzy scoring: the CPU's
name as the OS reports it, lower-cased, equal to a table name; else the same after removing
``(R)``, ``(TM)``, ``CPU``, ``@ 2.80GHz`` and "n-Core Processor"; else the one table name
whose words are all in the CPU's name (unless the extra words name a stronger tier: "Pro",
"Max", "Ultra", ...) or that contains all of the CPU's words. Two or more such names is no
match (``AMD EPYC`` alone could be any of 148 chips).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import os
import platform
import re
import subprocess
import time
from pathlib import Path

from greenkit.energy.base import Availability, Backend, CounterSession, Reading, register
from greenkit.i18n import N_, _

__all__ = ["ACCURACY_NOTE", "DEFAULT_WATTS_PER_CORE", "TDP_TABLE", "CpuTdp", "EstimateBackend", "cpu_model",
           "match_tdp", "openmp_spin_note", "tdp_table"]

#: Assumed power per busy hardware thread when nothing better is known, in watts.
DEFAULT_WATTS_PER_CORE = 10.0
DOMAIN = "cpu (estimated)"
TDP_TABLE = Path(__file__).with_name("data") / "cpu_tdp.csv"
TDP_TABLE_SOURCE = ("CodeCarbon's cpu_power.csv (codecarbon 3.3.2, MIT licence), "
                    "greenkit/energy/data/cpu_tdp.csv")
RULE = "equal share of TDP: P = TDP / hardware threads per busy thread"
#: What is known about the accuracy of TDP-based estimates, with its source.
ACCURACY_NOTE = N_(
    "TDP-based CPU estimates are rough: CodeCarbon's validation of its CPU-load x TDP fallback found it "
    "off from the RAPL counters by about -60% to +190% (4 CPUs, Jan 2025, its machine-mode curve; the "
    "linear per-thread rule used here, like its process mode, has not been characterised), and it reports "
    "that no wall-socket (wattmeter) validation of any backend has been done "
    "(https://github.com/mlco2/codecarbon/blob/master/docs/explanation/accuracy.md). Compare models by "
    "ratio on one machine; read absolute joules as an order of magnitude.")


# ----------------------------------------------------------------------------- CPU model
def _hypervisor() -> bool:
    try:
        return " hypervisor" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def cpu_model() -> str | None:
    """The CPU's marketing name as the OS reports it (Linux, macOS, Windows), or None."""
    system = platform.system()
    try:
        if system == "Linux":
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() or None
        elif system == "Darwin":
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                 text=True, timeout=5, check=False)
            return out.stdout.strip() or None
        elif system == "Windows":
            import winreg

            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0") as k:
                return str(winreg.QueryValueEx(k, "ProcessorNameString")[0]).strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or None


# ----------------------------------------------------------------------------- TDP table
@functools.lru_cache(maxsize=4)
def tdp_table(path: Path = TDP_TABLE) -> dict[str, tuple[str, float]]:
    """Lower-cased CPU name -> (name as in the table, TDP in W); rows without a positive TDP skipped."""
    out: dict[str, tuple[str, float]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = (row.get("Name") or "").strip()
            try:
                tdp = float(row.get("TDP") or "")
            except ValueError:
                continue
            if name and tdp > 0 and math.isfinite(tdp):
                out.setdefault(name.lower(), (name, tdp))
    return out


def _clean(model: str) -> str:
    m = re.sub(r"\((R|TM|r|tm)\)", "", model)
    m = re.sub(r"\s*@\s*\d+(\.\d+)?\s*GHz", "", m)
    m = re.sub(r"\b\d+-Core Processor\b", "", m)
    m = re.sub(r"\bCPU\b", "", m)
    return " ".join(m.split())


#: Words that name a different, stronger chip: "Apple M1 Pro" is not an "Apple M1".
_TIER_WORDS = frozenset({"pro", "max", "ultra", "plus", "extreme", "x", "xt", "hx", "h", "k", "ks", "kf"})


def _words(s: str) -> frozenset[str]:
    return frozenset(re.sub(r"[^0-9a-z]+", " ", s.lower()).split())


@dataclasses.dataclass(frozen=True)
class CpuTdp:
    """A CPU model's TDP from the table: which name matched, by which rule (or why none did)."""

    cpu: str | None
    name: str | None
    tdp_w: float | None
    how: str


def match_tdp(model: str | None, table: dict[str, tuple[str, float]] | None = None) -> CpuTdp:
    """Find ``model`` (e.g. ``"Intel(R) Core(TM) i7-1165G7 @ 2.80GHz"``) in the TDP table."""
    if not model:
        return CpuTdp(None, None, None, "the OS does not report a CPU model name")
    table = tdp_table() if table is None else table
    if model.lower() in table:
        name, tdp = table[model.lower()]
        return CpuTdp(model, name, tdp, "exact name")
    cleaned = _clean(model)
    if cleaned.lower() in table:
        name, tdp = table[cleaned.lower()]
        return CpuTdp(model, name, tdp, f"name without vendor marks ({cleaned!r})")
    words = _words(cleaned)
    hits = [(n, t) for key, (n, t) in table.items()
            if (w := _words(key)) and (words <= w or (w <= words and not (words - w) & _TIER_WORDS))]
    if len(hits) == 1:
        return CpuTdp(model, hits[0][0], hits[0][1], "the only table name sharing all its words with the CPU's")
    if hits:
        return CpuTdp(model, None, None, f"{len(hits)} table names fit {cleaned!r} equally (ambiguous)")
    return CpuTdp(model, None, None, f"{cleaned!r} is not in the table")


# ------------------------------------------------------------------------------ helpers
def _threads() -> int:
    return os.cpu_count() or 1


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


# ------------------------------------------------------------------------------ backend
@register("estimate")
class EstimateBackend(Backend):
    """CPU energy = CPU time x watts per hardware thread. Always ``kind="estimated"``.

    ``cores`` is the number of hardware threads the TDP is shared by (default: logical
    CPUs); ``cpu`` overrides the detected CPU model name (tests, or a wrong OS report).
    """

    kind = "estimated"
    device = "cpu"

    def __init__(self, watts_per_core: float | None = None, *, tdp_w: float | None = None,
                 cores: int | None = None, cpu: str | None = None) -> None:
        super().__init__()
        for label, v in (("watts_per_core", watts_per_core), ("tdp_w", tdp_w)):
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{label} must be a positive number of watts, got {v!r}")
        if cores is not None and cores < 1:
            raise ValueError(f"cores must be >= 1, got {cores!r}")
        cores = cores or _threads()
        env_wpc, env_tdp = _env_float("GREENKIT_WATTS_PER_CORE"), _env_float("GREENKIT_CPU_TDP_W")
        self.cpu = cpu if cpu is not None else cpu_model()
        self.tdp: CpuTdp | None = None
        self.rule = RULE
        self.notes: list[str] = []
        if watts_per_core is not None:
            self.watts_per_core, self.basis, self.rule = watts_per_core, "given", "given W per thread"
        elif env_wpc is not None:
            self.watts_per_core, self.basis = env_wpc, "GREENKIT_WATTS_PER_CORE"
            self.rule = "given W per thread"
        elif tdp_w is not None or env_tdp is not None:
            tdp = tdp_w if tdp_w is not None else env_tdp
            self.watts_per_core = tdp / cores
            self.basis = f"TDP {tdp:g} W / {cores} threads" + (" (GREENKIT_CPU_TDP_W)" if tdp_w is None else "")
        else:
            self.tdp = match_tdp(self.cpu)
            if self.tdp.tdp_w is not None and not _hypervisor():
                self.watts_per_core = self.tdp.tdp_w / cores
                self.basis = (f"{self.tdp.name}: TDP {self.tdp.tdp_w:g} W from {TDP_TABLE_SOURCE} "
                              f"/ {cores} threads")
            else:
                self.watts_per_core = DEFAULT_WATTS_PER_CORE
                self.rule = "assumed W per thread"
                why = (f"{self.tdp.name} (TDP {self.tdp.tdp_w:g} W) is in the TDP table, but this is a virtual "
                       "machine: its threads are a slice of that chip" if self.tdp.tdp_w is not None
                       else f"no TDP for this CPU: {self.tdp.how}")
                self.basis = (f"assumed default, a desktop CPU of ~65 W TDP over 6-8 cores ({why}); set "
                              "GREENKIT_WATTS_PER_CORE or GREENKIT_CPU_TDP_W for your CPU")
        self.cores = cores

    def _probe(self) -> Availability:
        res = time.get_clock_info("process_time").resolution
        spin = openmp_spin_note()
        details = {"update_period_s": max(res, 0.001), "watts_per_core": self.watts_per_core,
                   "basis": self.basis, "rule": self.rule, "cpu": self.cpu, "threads": self.cores,
                   "clock_resolution_s": res, "accuracy": ACCURACY_NOTE, "notes": [spin] if spin else []}
        if self.tdp is not None:
            details["tdp_match"] = dataclasses.asdict(self.tdp)
        return Availability(self.name, True, self.kind, _("always available: {how}").format(how=self.describe()), (),
                            "greenkit/energy/estimate.py docstring", details)

    def open(self) -> EstimateSession:
        return EstimateSession(self.watts_per_core)

    def describe(self) -> str:
        return _("estimate: process CPU time x {watts:.3g} W per busy thread ({basis}); CPU: {cpu}; rule: {rule}; "
                 "no idle, DRAM or GPU term").format(watts=self.watts_per_core, basis=self.basis,
                                                     cpu=self.cpu or "unknown", rule=self.rule)


class EstimateSession(CounterSession):
    def __init__(self, watts_per_core: float) -> None:
        super().__init__()
        self.watts_per_core = watts_per_core
        self.cpu0_s = time.process_time()

    def read(self) -> Reading:
        cpu_s = time.process_time() - self.cpu0_s
        return Reading(time.perf_counter(), {DOMAIN: cpu_s * self.watts_per_core}, (DOMAIN,))

