"""RAPL energy counters read directly from Linux powercap sysfs (Intel, and AMD Zen).

The kernel exposes one *zone* per RAPL domain under ``/sys/class/powercap``::

    intel-rapl:0          name=package-0   energy_uj  max_energy_range_uj   (socket 0)
    intel-rapl:0:0        name=core                                         (inside package-0)
    intel-rapl:0:1        name=uncore                                       (inside package-0)
    intel-rapl:0:2        name=dram                                         (beside package-0)
    intel-rapl:1          name=package-1                                    (socket 1)
    intel-rapl:2          name=psys                                         (whole platform)
    intel-rapl-mmio:0     name=package-0   (same package through MMIO: a duplicate)

``energy_uj`` is a counter in microjoules that wraps to 0 past ``max_energy_range_uj``.
The energy of a window is therefore

.. math:: E = \\sum_{\\text{reads } i} \\Delta_i \\cdot 10^{-6}\\ \\text{J},\\quad
          \\Delta_i = u_i - u_{i-1} \\text{ or } (R - u_{i-1}) + u_i \\text{ after a wrap}

and the reads must come at least once per wrap period :math:`R / P_{max}`; the meter's
background thread polls at ``poll_interval_s`` (half that period) so a second wrap in one
window cannot go unseen.

Totals never double count: total = every package + every DRAM zone. ``core`` and
``uncore`` are *inside* their package and ``psys`` *contains* the packages, so they are
reported as a breakdown (``EnergyReport.energy_j_breakdown``), never added in.

Since Linux 5.10 (CVE-2020-8694, "PLATYPUS") ``energy_uj`` is readable by root only;
:func:`permission_fix` gives the commands to open it, and what that costs in security.
"""

from __future__ import annotations

import math
import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path

from greenkit.energy.base import (
    Availability,
    Backend,
    CounterSession,
    CounterStalled,
    CounterUnavailable,
    PermissionDenied,
    Reading,
    register,
    wrap_delta,
)
from greenkit.i18n import _

__all__ = ["DEFAULT_ROOT", "RaplBackend", "RaplZone", "discover_zones", "permission_fix", "wrap_period_s",
           "wrap_safe_poll_interval_s"]

DEFAULT_ROOT = Path("/sys/class/powercap")
_ZONE_RE = re.compile(r"^(?P<ctype>intel-rapl(?:-mmio)?):(?P<ids>\d+(?::\d+)*)$")
#: RAPL updates its counters about every 1 ms (Intel SDM vol. 3B, 15.10.1).
RAPL_UPDATE_PERIOD_S = 0.001
#: Power assumed when a zone states no maximum: high enough for any one socket today.
FALLBACK_MAX_POWER_W = 1000.0
#: Longest poll interval, in seconds, however slowly the counters could wrap.
MAX_POLL_INTERVAL_S = 60.0
#: A package counter that has not moved for this long while we poll it is stalled:
#: even an idle package draws > 1 W, i.e. > 10^5 uJ per 0.1 s, far above the ~61 uJ unit.
STALL_AFTER_S = 0.25
MORE = ("https://www.kernel.org/doc/html/latest/power/powercap/powercap.html ; "
        "https://nvd.nist.gov/vuln/detail/CVE-2020-8694 ; run `greenkit doctor`")


def wrap_period_s(max_energy_range_uj: int, power_w: float) -> float:
    """Seconds until a counter of range ``max_energy_range_uj`` wraps at ``power_w`` watts.

    .. math:: T_{wrap} = R \\cdot 10^{-6} / P \\quad (R \\text{ in uJ}, P \\text{ in W})
    """
    if power_w <= 0:
        return math.inf
    return max_energy_range_uj / 1e6 / power_w


def wrap_safe_poll_interval_s(zones: list[tuple[int, float | None]], max_power_w: float | None = None) -> float:
    """Half the shortest wrap period among ``zones`` = ``[(max_energy_range_uj, max_power_w), ...]``.

    Each zone is taken at ``max_power_w`` if given, else its own stated maximum, else
    :data:`FALLBACK_MAX_POWER_W`; polling at half the wrap period means a counter can never
    wrap twice between two reads (:func:`~greenkit.energy.base.wrap_delta` sees at most one
    wrap). Zones of unknown range (0) are skipped; the result is capped at
    :data:`MAX_POLL_INTERVAL_S`. Used by both RAPL readers (direct and pyRAPL).
    """
    periods = [wrap_period_s(rng, max_power_w or zone_max or FALLBACK_MAX_POWER_W) / 2.0
               for rng, zone_max in zones if rng > 0]
    return min([MAX_POLL_INTERVAL_S, *periods])


@dataclass(frozen=True)
class RaplZone:
    """One powercap zone. ``domain`` is our label (``cpu-package-0``, ``dram-0``, ``core-0``, ``psys``)."""

    zone: str                     # directory name, e.g. "intel-rapl:0:2"
    path: Path
    name: str                     # the kernel's name file, e.g. "dram"
    domain: str
    in_total: bool                # counted in the total (packages and DRAM)
    max_energy_range_uj: int      # 0 if unknown
    max_power_w: float | None     # from constraint_*_max_power_uw, if stated

    @property
    def energy_file(self) -> Path:
        return self.path / "energy_uj"


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _zone_dirs(root: Path) -> dict[tuple[str, tuple[int, ...]], Path]:
    """All zone directories, flat (real /sys/class/powercap) or nested (the devices tree)."""
    found: dict[tuple[str, tuple[int, ...]], Path] = {}
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = list(d.iterdir())
        except OSError:
            continue
        for e in entries:
            m = _ZONE_RE.match(e.name)
            if not m or not e.is_dir():
                continue
            key = (m["ctype"], tuple(int(i) for i in m["ids"].split(":")))
            if key not in found:
                found[key] = e
                stack.append(e)
    return found


def discover_zones(root: Path = DEFAULT_ROOT) -> tuple[list[RaplZone], list[str]]:
    """Zones under ``root`` with domain labels, and notes on what was skipped and why.

    MMIO zones that repeat an MSR zone's name (same package seen twice) are skipped.
    """
    dirs = _zone_dirs(Path(root))
    notes: list[str] = []
    msr_names = {(_read_text(p / "name") or "") for (ct, _), p in dirs.items() if ct == "intel-rapl"}
    zones: list[RaplZone] = []
    top_names: dict[tuple[str, int], str] = {}
    for (ct, ids), p in sorted(dirs.items()):
        if len(ids) == 1:
            top_names[(ct, ids[0])] = _read_text(p / "name") or f"zone-{ids[0]}"
    psys_count = 0
    for (ct, ids), p in sorted(dirs.items()):
        name = _read_text(p / "name") or ""
        if ct == "intel-rapl-mmio" and len(ids) == 1 and name in msr_names:
            notes.append(f"{p.name} ({name}) repeats the MSR zone of the same name; skipped to avoid double counting")
            continue
        parent = top_names.get((ct, ids[0]), "")
        pkg = parent.split("-", 1)[1] if parent.startswith("package-") else str(ids[0])
        if len(ids) == 1 and name.startswith("package"):
            domain, in_total = f"cpu-{name}", True
        elif name == "psys":
            domain, in_total = "psys" if psys_count == 0 else f"psys-{psys_count}", False
            psys_count += 1
        elif name == "dram":
            domain, in_total = f"dram-{pkg}", True
        elif len(ids) > 1:
            domain, in_total = f"{name or 'subzone'}-{pkg}", False
        else:
            domain, in_total = name or p.name, False
            notes.append(f"{p.name} has unknown name {name!r}; reported but not added to the total")
        rng = _read_text(p / "max_energy_range_uj")
        max_power = None
        for c in sorted(p.glob("constraint_*_max_power_uw")):
            v = _read_text(c)
            if v and v.isdigit() and int(v) > 0:
                max_power = max(max_power or 0.0, int(v) / 1e6)
        zones.append(RaplZone(p.name, p, name, domain, in_total,
                              int(rng) if rng and rng.isdigit() else 0, max_power))
    return zones, notes


def permission_fix(zones: list[RaplZone] | None = None) -> tuple[str, ...]:
    """Commands that make ``energy_uj`` readable without root, in the order to try them."""
    files = " ".join(str(z.energy_file) for z in zones) if zones else \
        "/sys/class/powercap/intel-rapl:*/energy_uj /sys/class/powercap/intel-rapl:*:*/energy_uj"
    sysfs_lines = "\\n".join(
        f"mode class/powercap/{z.zone}/energy_uj = 0444" for z in (zones or [])
    ) or "mode class/powercap/intel-rapl:0/energy_uj = 0444"
    udev = ("sudo groupadd -f rapl && sudo usermod -aG rapl $USER && "
            "echo 'ACTION==\"add\", SUBSYSTEM==\"powercap\", KERNEL==\"intel-rapl:*\", "
            "RUN+=\"/bin/chgrp rapl /sys%p/energy_uj\", RUN+=\"/bin/chmod g+r /sys%p/energy_uj\"' "
            "| sudo tee /etc/udev/rules.d/99-greenkit-rapl.rules && sudo udevadm control --reload && "
            "sudo udevadm trigger --subsystem-match=powercap")
    return (
        _("one-off, until reboot: {command}").format(command=f"sudo chmod o+r {files}"),
        _("persistent, for a group only (safer): {command}  (log out and in for the group)").format(command=udev),
        _("persistent with sysfsutils (Debian/Ubuntu): {command}").format(
            command=f"printf '{sysfs_lines}\\n' | sudo tee -a /etc/sysfs.conf && sudo systemctl restart sysfsutils"),
        _("security trade-off: CVE-2020-8694 (PLATYPUS) lets an unprivileged process that reads these counters "
          "infer secrets (e.g. crypto keys, kernel addresses) from power use; open them only on a single-user "
          "teaching or personal machine, never on a shared server. Undo: {undo}.").format(
              undo="sudo chmod o-r <files> / delete the rule"),
        _("or turn CPU measurement off and use labelled estimates: {how}").format(
            how="gk.measure(backend='estimate') or export GREENKIT_BACKEND=estimate"),
    )


@register("rapl")
class RaplBackend(Backend):
    """CPU energy from every RAPL zone in powercap sysfs.

    Parameters
    ----------
    root: the powercap directory (default ``/sys/class/powercap``); tests pass a fake tree.
    max_power_w: the most power a zone can draw, in watts, used to set the wrap-safe
        poll interval; default: the zone's own ``constraint_*_max_power_uw`` or 1000 W.
    check_advancing: whether the probe checks that package counters move (a VM may
        expose frozen counters). Costs at most ``STALL_AFTER_S`` once per process.
    """

    kind = "measured"
    device = "cpu"

    def __init__(self, root: str | os.PathLike = DEFAULT_ROOT, *, max_power_w: float | None = None,
                 check_advancing: bool = True) -> None:
        super().__init__()
        if max_power_w is not None and not max_power_w > 0:
            raise ValueError(f"max_power_w must be > 0 W, got {max_power_w!r}")
        self.root = Path(root)
        self.max_power_w = max_power_w
        self.check_advancing = check_advancing

    # -- probe ----------------------------------------------------------------------
    def _probe(self) -> Availability:
        details: dict = {"root": str(self.root), "update_period_s": RAPL_UPDATE_PERIOD_S}
        if not self.root.is_dir():
            # RAPL is a Linux interface: elsewhere its absence is no news (``auto`` does not mention it)
            details["not_applicable"] = platform.system() != "Linux"
            return Availability(
                self.name, False, self.kind,
                _("{root} does not exist: not Linux, a virtual machine or container without RAPL "
                  "passthrough (cloud VMs and CI runners rarely have it), or the RAPL driver is not loaded"
                  ).format(root=self.root),
                (_("on bare-metal Linux: {command}  (AMD Zen uses the same driver, kernel >= 5.8)").format(
                    command="sudo modprobe intel_rapl_msr"),
                 _("in a VM or container: nothing to enable here; GreenKit will use labelled estimates")),
                MORE, details)
        zones, notes = discover_zones(self.root)
        details["notes"] = notes
        details["zones"] = [
            {"zone": z.zone, "name": z.name, "domain": z.domain, "in_total": z.in_total,
             "max_energy_range_uj": z.max_energy_range_uj} for z in zones]
        if not any(z.in_total for z in zones):
            return Availability(self.name, False, self.kind,
                                f"{self.root} has no RAPL package or DRAM zone (found: "
                                f"{[z.zone for z in zones] or 'nothing'})",
                                ("sudo modprobe intel_rapl_msr",), MORE, details)
        denied = [z for z in zones if not _readable(z.energy_file)]
        if denied:
            details["permission_denied"] = True
            return Availability(
                self.name, False, self.kind,
                _("RAPL counters exist but {zones}/energy_uj are readable by root only (the kernel default "
                  "since CVE-2020-8694, Linux 5.10)").format(zones=", ".join(z.zone for z in denied)),
                permission_fix(zones), MORE, details)
        no_range = [z.zone for z in zones if z.in_total and z.max_energy_range_uj <= 0]
        if no_range:
            return Availability(self.name, False, self.kind,
                                f"{no_range} state no max_energy_range_uj, so a wrap could not be told from "
                                "a reset; refusing to read them", ("update the kernel",), MORE, details)
        if self.check_advancing:
            moved = _advancing(zones, STALL_AFTER_S)
            details["advancing"] = moved
            pkg = [z for z in zones if z.in_total and z.name.startswith("package")]
            if pkg and not any(moved[z.zone] for z in pkg):
                return Availability(self.name, False, self.kind,
                                    f"RAPL package counters did not advance over {STALL_AFTER_S} s of work "
                                    "(a virtual machine exposing frozen counters?); reading them would "
                                    "report false zeros", ("use bare metal, or accept labelled estimates",),
                                    MORE, details)
            frozen = [z.zone for z in zones if z.in_total and not moved[z.zone]]
            if frozen:
                notes.append(f"{frozen} did not advance during the probe (DRAM domain not wired on this "
                             "platform?); left out of totals")
                details["frozen"] = frozen
        domains = [z.domain for z in zones if z.in_total and z.zone not in details.get("frozen", [])]
        return Availability(self.name, True, self.kind,
                            f"RAPL via powercap: {', '.join(domains)} (+ breakdown: "
                            f"{', '.join(z.domain for z in zones if not z.in_total) or 'none'})",
                            (), MORE, details)

    # -- measuring -------------------------------------------------------------------
    def open(self) -> RaplSession:
        av = self.require()
        zones, _notes = discover_zones(self.root)
        frozen = set(av.details.get("frozen", ()))
        zones = [z for z in zones if z.zone not in frozen]
        return RaplSession(zones, self.max_power_w)

    def describe(self) -> str:
        av = self.availability()
        domains = [z["domain"] for z in av.details.get("zones", []) if z["in_total"]
                   and z["zone"] not in av.details.get("frozen", ())]
        return f"RAPL powercap counters ({' + '.join(domains) or 'none'}) at {self.root}"


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.read(32)
        return True
    except PermissionError:
        return False
    except OSError:
        return False


def _advancing(zones: list[RaplZone], budget_s: float) -> dict[str, bool]:
    """Busy-wait up to ``budget_s`` and tell which zones' counters moved."""
    first = {z.zone: _read_text(z.energy_file) for z in zones}
    moved = dict.fromkeys(first, False)
    t_end = time.perf_counter() + budget_s
    x = 0
    while time.perf_counter() < t_end and not all(moved[z.zone] for z in zones if z.in_total):
        for _i in range(20000):  # a little work so an idle core cannot hide progress
            x += 1
        for z in zones:
            if not moved[z.zone] and _read_text(z.energy_file) != first[z.zone]:
                moved[z.zone] = True
    return moved


class RaplSession(CounterSession):
    """Accumulates wrap-corrected microjoules per zone; ``poll`` must run every ``poll_interval_s``."""

    def __init__(self, zones: list[RaplZone], max_power_w: float | None = None) -> None:
        super().__init__()
        self.zones = zones
        self._fds: dict[str, int] = {}
        try:
            for z in zones:
                self._fds[z.zone] = os.open(z.energy_file, os.O_RDONLY)
        except PermissionError as err:
            self.close()
            raise PermissionDenied(f"cannot read {err.filename}: root only since CVE-2020-8694",
                                   permission_fix(zones)[0], MORE) from err
        except OSError as err:
            self.close()
            raise CounterUnavailable(f"cannot open {err.filename}: {err.strerror}", "run `greenkit doctor`",
                                     MORE) from err
        self.poll_interval_s = wrap_safe_poll_interval_s(
            [(z.max_energy_range_uj, z.max_power_w) for z in zones], max_power_w)
        self._last = {z.zone: self._raw(z) for z in zones}
        self._acc = dict.fromkeys(self._last, 0)
        now = time.perf_counter()
        self._last_change = dict.fromkeys(self._last, now)
        self.t0_s = now

    def _raw(self, z: RaplZone) -> int:
        try:
            txt = os.pread(self._fds[z.zone], 32, 0)
        except OSError as err:
            raise CounterUnavailable(f"reading {z.energy_file} failed: {err.strerror}",
                                     "run `greenkit doctor`", MORE) from err
        try:
            return int(txt)
        except ValueError as err:
            raise CounterUnavailable(f"{z.energy_file} holds {txt!r}, not a counter", "run `greenkit doctor`",
                                     MORE) from err

    def poll(self) -> None:
        with self._lock:
            now = time.perf_counter()
            for z in self.zones:
                raw = self._raw(z)
                if raw != self._last[z.zone]:
                    self._acc[z.zone] += wrap_delta(self._last[z.zone], raw, z.max_energy_range_uj)
                    self._last[z.zone] = raw
                    self._last_change[z.zone] = now

    def read(self) -> Reading:
        self.poll()
        with self._lock:
            now = time.perf_counter()
            for z in self.zones:
                if z.in_total and now - self._last_change[z.zone] > STALL_AFTER_S:
                    raise CounterStalled(
                        f"RAPL counter {z.energy_file} ({z.domain}) has not advanced for "
                        f"{now - self._last_change[z.zone]:.2f} s; its energy would read as a false zero",
                        "check `greenkit doctor`; on a VM use gk.measure(backend='estimate')", MORE)
            energy = {z.domain: self._acc[z.zone] / 1e6 for z in self.zones}
            total = tuple(z.domain for z in self.zones if z.in_total)
        return Reading(now, energy, total)

    def close(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()
