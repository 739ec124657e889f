"""pyRAPL as a second path to the RAPL counters, with its known limits fenced off.

pyRAPL (the kit's named dependency) reads ``package`` and ``dram`` ``energy_uj`` per
socket from ``/sys/class/powercap/intel-rapl``. What it does not do, and what we do for it:

- it subtracts raw counter values, so a wrap gives a negative or tiny number: we take
  its raw microjoule values and apply :func:`~greenkit.energy.base.wrap_delta` with the
  zone's ``max_energy_range_uj``, polling as often as the direct reader does;
- it returns ``-1`` for a value it could not read: we raise instead of adding it;
- it only looks for Intel's directory names and hard-codes the sysfs path;
- importing it logs warnings through the *root* logger (which configures the user's
  logging); we import it with those records filtered out.

Where both work, :func:`cross_check` compares it with the direct reader (``greenkit
doctor --probe`` shows the result). ``auto`` prefers the direct reader.
"""

from __future__ import annotations

import logging
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

from greenkit.energy.base import (
    Availability,
    Backend,
    CounterSession,
    CounterUnavailable,
    EnergyError,
    PermissionDenied,
    Reading,
    register,
    wrap_delta,
)
from greenkit.energy.rapl import DEFAULT_ROOT, MORE, discover_zones, permission_fix, wrap_safe_poll_interval_s
from greenkit.i18n import _

__all__ = ["PyRaplBackend", "import_pyrapl"]


class _DropPyRaplRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pyRAPL" not in (record.pathname or "")


def import_pyrapl():
    """Import pyRAPL without letting its import-time ``logging.warning`` configure root logging."""
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    guard = logging.NullHandler()  # root has a handler, so logging.warning() skips basicConfig()
    flt = _DropPyRaplRecords()
    root.addHandler(guard)
    root.addFilter(flt)
    try:
        import pyRAPL
    finally:
        root.removeFilter(flt)
        for h in list(root.handlers):
            if h not in handlers_before:
                root.removeHandler(h)
    return pyRAPL


@register("pyrapl")
class PyRaplBackend(Backend):
    """RAPL package + DRAM energy through pyRAPL's ``Sensor``, wrap-corrected by us.

    ``sensor_factory`` builds the pyRAPL sensor (tests pass an autospec'd fake);
    ``root`` is where ``max_energy_range_uj`` is read (pyRAPL does not know it).
    """

    kind = "measured"
    device = "cpu"

    def __init__(self, sensor_factory: Callable[[], object] | None = None, root: Path = DEFAULT_ROOT) -> None:
        super().__init__()
        self._factory = sensor_factory
        self.root = Path(root)

    def _make_sensor(self):
        if self._factory is not None:
            return self._factory()
        pyRAPL = import_pyrapl()
        try:
            return pyRAPL.Sensor()
        except PermissionError as err:
            raise PermissionDenied("pyRAPL cannot read energy_uj: root only since CVE-2020-8694",
                                   permission_fix()[0], MORE) from err
        except (pyRAPL.PyRAPLException, OSError) as err:
            raise CounterUnavailable(f"pyRAPL found no RAPL counters under /sys/class/powercap/intel-rapl "
                                     f"({type(err).__name__}{': ' + str(err) if str(err) else ''})",
                                     "run `greenkit doctor`", MORE) from err

    def _zones(self, n_sockets: int) -> tuple[list[tuple[int, int]], list[tuple[float | None, float | None]]]:
        """Per socket, from sysfs: (package, dram) ranges in uJ (0 where unknown) and stated max powers in W."""
        zones, _ = discover_zones(self.root)
        ranges, powers = [], []
        for s in range(n_sockets):
            pkg = next((z for z in zones if z.name == f"package-{s}" and z.zone.startswith("intel-rapl:")), None)
            dram = next((z for z in zones if z.domain == f"dram-{s}" and z.zone.startswith("intel-rapl:")), None)
            ranges.append(tuple(z.max_energy_range_uj if z else 0 for z in (pkg, dram)))
            powers.append(tuple(z.max_power_w if z else None for z in (pkg, dram)))
        return ranges, powers

    def _probe(self) -> Availability:
        details: dict = {"update_period_s": 0.001}
        try:
            sensor = self._make_sensor()
            raw = list(sensor.energy())
        except PermissionDenied as err:
            details["permission_denied"] = True
            return Availability(self.name, False, self.kind, err.cause, permission_fix(), MORE, details)
        except (EnergyError, ImportError) as err:
            details["not_applicable"] = platform.system() != "Linux"
            return Availability(self.name, False, self.kind,
                                _("pyRAPL unusable: {error}").format(error=str(err).split("\n")[0]),
                                (_("run `greenkit doctor` for the direct RAPL reader's diagnosis"),), MORE, details)
        n = len(raw) // 2
        ranges, powers = self._zones(n)
        details["sockets"] = n
        details["ranges_uj"] = ranges
        details["max_power_w"] = powers
        if all(v < 0 for v in raw[0::2]):
            return Availability(self.name, False, self.kind, "pyRAPL returns no package value (-1)",
                                (), MORE, details)
        if any(raw[2 * s] >= 0 and ranges[s][0] <= 0 for s in range(n)):
            return Availability(self.name, False, self.kind,
                                "pyRAPL works but max_energy_range_uj is unreadable, so its counter wraps "
                                "could not be corrected; not used", (), MORE, details)
        return Availability(self.name, True, self.kind, f"pyRAPL sensor: {n} socket(s), package"
                            + (" + dram" if any(v >= 0 for v in raw[1::2]) else ""), (), MORE, details)

    def open(self) -> PyRaplSession:
        av = self.require()
        return PyRaplSession(self._make_sensor(), av.details["ranges_uj"], av.details.get("max_power_w"))

    def describe(self) -> str:
        return "pyRAPL Sensor (RAPL package/DRAM energy_uj), wrap-corrected by greenkit"


class PyRaplSession(CounterSession):
    """Like :class:`~greenkit.energy.rapl.RaplSession`, over pyRAPL's raw values (uJ).

    ``max_power_w``: each zone's stated maximum power, per socket (package, dram), as
    ``ranges_uj``; None where unknown. The poll interval is the direct reader's
    :func:`~greenkit.energy.rapl.wrap_safe_poll_interval_s`.
    """

    def __init__(self, sensor, ranges_uj: list[tuple[int, int]],
                 max_power_w: list[tuple[float | None, float | None]] | None = None) -> None:
        super().__init__()
        self.sensor = sensor
        self.ranges = [r for pair in ranges_uj for r in pair]  # pkg0, dram0, pkg1, dram1, ...
        powers = [p for pair in max_power_w for p in pair] if max_power_w else [None] * len(self.ranges)
        first = self._raw()
        self.slots = [i for i, v in enumerate(first) if v >= 0]  # -1 = pyRAPL could not read it
        self._last = {i: first[i] for i in self.slots}
        self._acc = dict.fromkeys(self.slots, 0.0)
        self.poll_interval_s = wrap_safe_poll_interval_s([(self.ranges[i], powers[i]) for i in self.slots])
        self.t0_s = time.perf_counter()

    def _raw(self) -> list[float]:
        try:
            return list(self.sensor.energy())
        except OSError as err:
            raise CounterUnavailable(f"pyRAPL read failed: {err}", "run `greenkit doctor`", MORE) from err

    @staticmethod
    def _domain(i: int) -> str:
        return f"cpu-package-{i // 2}" if i % 2 == 0 else f"dram-{i // 2}"

    def poll(self) -> None:
        with self._lock:
            raw = self._raw()
            for i in self.slots:
                v = raw[i]
                if v < 0:
                    raise CounterUnavailable(f"pyRAPL lost {self._domain(i)} (returned -1)",
                                             "run `greenkit doctor`", MORE)
                self._acc[i] += wrap_delta(int(self._last[i]), int(v), self.ranges[i])
                self._last[i] = v

    def read(self) -> Reading:
        self.poll()
        with self._lock:
            energy = {self._domain(i): self._acc[i] / 1e6 for i in self.slots}
        return Reading(time.perf_counter(), energy, tuple(energy))


def cross_check(seconds: float = 0.5, root: Path = DEFAULT_ROOT) -> dict:
    """Read the direct RAPL reader and pyRAPL over the same busy window; relative difference of totals."""
    from greenkit.energy.rapl import RaplBackend

    direct, viapy = RaplBackend(root), PyRaplBackend(root=root)
    if not (direct.is_available() and viapy.is_available()):
        return {"done": False, "reason": "both RAPL paths must be available"}
    a, b = direct.open(), viapy.open()
    try:
        t_end = time.perf_counter() + seconds
        x = 0
        while time.perf_counter() < t_end:
            x += 1
        ra, rb = a.read(), b.read()
    finally:
        a.close()
        b.close()
    pkg_a = math.fsum(v for k, v in ra.energy_j.items() if k in ra.total_domains)
    pkg_b = rb.total_j
    return {"done": True, "direct_j": pkg_a, "pyrapl_j": pkg_b,
            "relative_difference": abs(pkg_a - pkg_b) / max(pkg_a, 1e-12)}
