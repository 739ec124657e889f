"""Apple Silicon (M1 and later) energy through ``zeus-apple-silicon`` (IOReport, no sudo).

``zeus-apple-silicon`` (from the Zeus project, Apache-2.0) subscribes to macOS's IOReport
"Energy Model" channel group and returns an ``AppleEnergyMetrics`` with cumulative
millijoules per SoC subsystem; a field the chip does not report is ``None``. We open one
``AppleEnergyMonitor`` per session and difference ``get_cumulative_energy()``:

.. math:: E_d = (c_{d,1} - c_{d,0}) \\cdot 10^{-3}\\ \\text{J}

Domains added into the total (non-overlapping): ``cpu`` (``cpu_total_mj``, all CPU
clusters), ``gpu`` (``gpu_mj``), ``ane`` (``ane_mj``, the Neural Engine) and ``dram``
(``dram_mj``). Reported as a breakdown, *not* added: the E/P cluster totals (inside
``cpu``) and ``gpu_sram_mj`` (we could not confirm whether IOReport counts it inside "GPU
Energy"; leaving it out may undercount the GPU by its share, adding it could double
count). Per-core and cluster-manager fields are not reported.

What the figures are: IOReport's energy values are believed to be Apple's on-chip
*model* estimates (from utilisation, frequency and voltage), not a power sensor, with a
1 mJ resolution (zeus-apple-silicon README, "Accuracy"). They are counters the chip keeps,
read the same way RAPL is, so we label them ``kind="measured"`` and say in ``describe()``
what they are. The counters are 64-bit millijoules (no wrap in practice), so sessions need
no polling. Windows under ~10 ms are dominated by the 1 mJ quantisation; we assume an
update period of :data:`ASSUMED_UPDATE_PERIOD_S`, which makes ``measure()`` extend
windows to at least 0.1 s.

Errors from the library (``RuntimeError`` from its C++ core, e.g. "Failed to create
IOReport subscription.") are translated once, in :meth:`AppleBackend._call`.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

from greenkit.energy.base import Availability, Backend, CounterSession, CounterUnavailable, Reading, register
from greenkit.i18n import _

__all__ = ["ASSUMED_UPDATE_PERIOD_S", "AppleBackend", "BREAKDOWN_FIELDS", "TOTAL_FIELDS"]

MORE = "https://github.com/ml-energy/zeus-apple-silicon ; run `greenkit doctor`"
INSTALL = "pip install zeus-apple-silicon  (the README's install command does this on macOS arm64)"
#: Assumed counter update period until measured on a Mac (1 mJ resolution; ~10 ms windows are noise).
ASSUMED_UPDATE_PERIOD_S = 0.01
#: Our domain -> ``AppleEnergyMetrics`` field (mJ), for the domains added into the total.
TOTAL_FIELDS = {"cpu": "cpu_total_mj", "gpu": "gpu_mj", "ane": "ane_mj", "dram": "dram_mj"}
#: Breakdown domains (inside or possibly overlapping the totals; never added). List fields
#: (one value per cluster) become ``<domain>-<i>``.
BREAKDOWN_FIELDS = {"cpu-e-cluster": "efficiency_cluster_mj", "cpu-p-cluster": "performance_cluster_mj",
                    "gpu-sram": "gpu_sram_mj"}


def _default_factory() -> Callable[[], object]:
    import zeus_apple_silicon  # a missing package is reported by the probe, not hidden

    return zeus_apple_silicon.AppleEnergyMonitor


def _flatten(metrics) -> tuple[dict[str, int], dict[str, int]]:
    """(total domains, breakdown domains) -> cumulative mJ, for the fields this chip reports."""
    total = {d: int(v) for d, f in TOTAL_FIELDS.items() if (v := getattr(metrics, f, None)) is not None}
    breakdown: dict[str, int] = {}
    for d, f in BREAKDOWN_FIELDS.items():
        v = getattr(metrics, f, None)
        if isinstance(v, (list, tuple)):
            breakdown.update({f"{d}-{i}": int(x) for i, x in enumerate(v)})
        elif v is not None:
            breakdown[d] = int(v)
    return total, breakdown


@register("apple")
class AppleBackend(Backend):
    """SoC energy (CPU, GPU, Neural Engine, DRAM) on Apple Silicon Macs.

    ``monitor_factory`` builds an ``AppleEnergyMonitor`` (tests pass an autospec'd one);
    ``system`` / ``machine`` override ``platform.system()`` / ``platform.machine()``.
    """

    kind = "measured"
    device = "soc"
    covers = ("cpu", "gpu:apple")

    def __init__(self, monitor_factory: Callable[[], object] | None = None, *, system: str | None = None,
                 machine: str | None = None) -> None:
        super().__init__()
        self._factory = monitor_factory
        self.system = system or platform.system()
        self.machine = machine or platform.machine()

    def _call(self, fn: Callable, what: str):
        """Call into zeus-apple-silicon; its errors become :class:`CounterUnavailable`, chained."""
        try:
            return fn()
        except (RuntimeError, ValueError) as err:
            raise CounterUnavailable(f"zeus-apple-silicon failed during {what}: {err}",
                                     "update macOS and zeus-apple-silicon (pip install -U zeus-apple-silicon); "
                                     "run `greenkit doctor`", MORE) from err

    def _monitor(self):
        factory = self._factory or _default_factory()
        return self._call(factory, "AppleEnergyMonitor() (IOReport subscription)")

    def _probe(self) -> Availability:
        details: dict = {"update_period_s": ASSUMED_UPDATE_PERIOD_S, "system": self.system, "machine": self.machine}
        if self.system != "Darwin":
            details["not_applicable"] = True  # no news off a Mac: ``auto`` does not mention it
            return Availability(self.name, False, self.kind,
                                _("not macOS ({system}): Apple Silicon energy needs a Mac with an M-series chip"
                                  ).format(system=self.system),
                                (_("on a Mac with Apple Silicon (M1 or later): {command}").format(command=INSTALL),),
                                MORE, details)
        if self.machine != "arm64":
            return Availability(self.name, False, self.kind,
                                f"an Intel Mac ({self.machine}): IOReport has no energy model for it, and macOS "
                                "gives no RAPL access; GreenKit will use labelled estimates",
                                ("nothing to enable on an Intel Mac; estimates are labelled as such",), MORE, details)
        try:
            monitor = self._monitor()
        except ImportError as err:
            return Availability(self.name, False, self.kind, f"zeus-apple-silicon is not installed ({err})",
                                (INSTALL,), MORE, details)
        except CounterUnavailable as err:
            return Availability(self.name, False, self.kind, err.cause, (err.fix,), MORE, details)
        try:
            total, breakdown = _flatten(self._call(monitor.get_cumulative_energy, "get_cumulative_energy()"))
        except CounterUnavailable as err:
            return Availability(self.name, False, self.kind, err.cause, (err.fix,), MORE, details)
        details["domains"] = list(total)
        details["breakdown"] = list(breakdown)
        missing = [d for d in TOTAL_FIELDS if d not in total]
        details["notes"] = [f"this chip reports no {', '.join(missing)} energy; not included"] if missing else []
        if "cpu" not in total:
            return Availability(self.name, False, self.kind,
                                "IOReport gave no CPU energy channel (a chip newer than this zeus-apple-silicon "
                                f"knows? found: {list(total) or 'nothing'})",
                                ("pip install -U zeus-apple-silicon",
                                 "check the chip with zeus-apple-silicon's examples/python/check_compatibility.py"),
                                MORE, details)
        return Availability(self.name, True, self.kind,
                            f"Apple Silicon via IOReport (zeus-apple-silicon): {', '.join(total)}", (), MORE, details)

    def open(self) -> AppleSession:
        av = self.require()
        return AppleSession(self, self._monitor(), tuple(av.details["domains"]))

    def describe(self) -> str:
        domains = self.availability().details.get("domains", [])
        return (f"Apple IOReport energy model via zeus-apple-silicon ({' + '.join(domains) or 'none'}; "
                "Apple's on-chip model figures, 1 mJ resolution)")


class AppleSession(CounterSession):
    """Differences of cumulative mJ counters from one ``AppleEnergyMonitor``."""

    def __init__(self, backend: AppleBackend, monitor, domains: tuple[str, ...]) -> None:
        super().__init__()
        self.backend, self.monitor, self.domains = backend, monitor, domains
        self._start_total, self._start_breakdown = self._sample()
        self.t0_s = time.perf_counter()

    def _sample(self) -> tuple[dict[str, int], dict[str, int]]:
        return _flatten(self.backend._call(self.monitor.get_cumulative_energy, "get_cumulative_energy()"))

    def read(self) -> Reading:
        with self._lock:
            total, breakdown = self._sample()
        lost = [d for d in self.domains if d not in total]
        if lost:
            raise CounterUnavailable(f"IOReport stopped reporting {lost} during the measurement",
                                     "re-run the measurement; run `greenkit doctor`", MORE)
        energy = {d: (total[d] - self._start_total[d]) / 1e3 for d in self.domains}
        energy.update({d: (v - self._start_breakdown[d]) / 1e3 for d, v in breakdown.items()
                       if d in self._start_breakdown})
        return Reading(time.perf_counter(), energy, self.domains)
