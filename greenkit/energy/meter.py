"""The measuring layer: read the chosen backends around a block of code, report honestly.

``measure()`` is a context manager, a decorator, and a start/stop pair::

    with gk.measure() as m:          # m is an EnergyReport, filled in on exit
        model(x)
    m.energy_j, m.kind, m.source

    @gk.measure(trace_interval_s=0.1)
    def train(): ...
    train(); train.last_report

    gk.energy.start(); ...; report = gk.energy.stop()   # across notebook cells

Backends ("auto", chosen in :mod:`greenkit.energy.selection`): the best *measured* CPU
source (RAPL direct, pyRAPL, or an Apple Silicon SoC) plus NVIDIA/AMD GPUs; if no CPU
counter can be read, the CPU part is the estimate and the whole result says
``kind="estimated"``. Totals add only non-overlapping domains. Sessions are opened,
polled and closed by :class:`greenkit.energy.sampler.SessionGroup`.

Windows shorter than 10 updates of the slowest counter in use are *extended* (the meter
keeps the window open until it spans them), never reported as ~0 J; the report states
the extension (``extended_by_s``) and the work's own duration (``work_duration_s``).

Idle baseline: :func:`measure_idle` measures the machine doing nothing for a while and
caches the result per process; with it, net (dynamic) energy is

.. math:: E_{net} = E_{gross} - \\bar P_{idle} \\cdot t
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import html
import math
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence

from greenkit.energy.base import Backend, CounterSession, CounterStalled, EnergyError, Reading, get_backend
from greenkit.energy.provenance import Provenance, combined_kind
from greenkit.energy.sampler import SessionGroup
from greenkit.energy.selection import MIN_UPDATES_PER_WINDOW, Selection, resolve_backends

__all__ = [
    "EnergyReport",
    "IdleBaseline",
    "MIN_UPDATES_PER_WINDOW",
    "Measurement",
    "Selection",
    "measure",
    "measure_idle",
    "resolve_backends",
    "start",
    "stop",
]


def torch_threads() -> int | None:
    """``torch.get_num_threads()`` if PyTorch is already loaded (never imports it), else None."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


# ------------------------------------------------------------------------- records
@dataclasses.dataclass
class IdleBaseline:
    """Mean power of this machine doing nothing, per domain, in watts."""

    power_w: float
    power_w_by_domain: dict[str, float]
    duration_s: float
    backend: str
    kind: str
    source: str
    measured_at: str

    def __repr__(self) -> str:
        return (f"IdleBaseline({self.power_w:.3g} W over {self.duration_s:.2f} s, {self.kind} by "
                f"{self.backend}, at {self.measured_at})")


@dataclasses.dataclass
class EnergyReport(Provenance):
    """What one measurement found. Filled in when the measurement stops (``filled``).

    Energies in joules, times in seconds, powers in watts. ``energy_j`` is the sum of
    ``energy_j_by_domain`` (non-overlapping domains); ``energy_j_breakdown`` holds nested
    or overlapping domains (RAPL core/uncore/psys) that are NOT added in. Where the
    figure came from (``kind``, ``backend``, ``source``, ``device``, ``threads``,
    ``notes``) is the shared :class:`~greenkit.energy.provenance.Provenance` record.
    """

    energy_j: float | None = None
    energy_j_by_domain: dict[str, float] = dataclasses.field(default_factory=dict)
    energy_j_breakdown: dict[str, float] = dataclasses.field(default_factory=dict)
    kinds_by_domain: dict[str, str] = dataclasses.field(default_factory=dict)
    duration_s: float | None = None
    work_duration_s: float | None = None
    extended_by_s: float = 0.0
    power_w: float | None = None
    idle_power_w: float | None = None
    idle_source: str | None = None
    net_energy_j: float | None = None
    trace: list[tuple[float, float]] | None = None
    trace_interval_s: float | None = None
    sampler_cpu_s: float | None = None
    started_at: str | None = None
    filled: bool = False

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def _lines(self) -> list[str]:
        if not self.filled:
            return ["EnergyReport (measurement still running or never stopped)"]
        lines = [f"EnergyReport: {self.energy_j:.4g} J over {self.duration_s:.3f} s = {self.power_w:.3g} W mean "
                 f"[{self.label} by {self.backend}]"]
        for d, e in self.energy_j_by_domain.items():
            lines.append(f"  {d:<22} {e:10.4g} J  ({self.kinds_by_domain.get(d, self.kind)})")
        for d, e in self.energy_j_breakdown.items():
            lines.append(f"  {d:<22} {e:10.4g} J  (breakdown, inside/overlapping the total; not added)")
        if self.idle_power_w is not None:
            lines.append(f"  idle {self.idle_power_w:.3g} W x {self.duration_s:.3f} s -> net {self.net_energy_j:.4g} J "
                         f"({self.idle_source})")
        if self.extended_by_s > 0:
            lines.append(f"  window extended by {self.extended_by_s:.3f} s (work took {self.work_duration_s:.3f} s) "
                         "to span enough counter updates; the extension's idle energy is included")
        return lines + self.provenance_lines()

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        if not self.filled:
            return "<p>EnergyReport (measurement still running or never stopped)</p>"
        label = self.kind if self.kind == "measured" else f"<b style='color:#b45309'>{self.label}</b>"
        rows = "".join(f"<tr><td>{html.escape(d)}</td><td>{e:.4g} J</td><td>{self.kinds_by_domain.get(d, '')}</td></tr>"
                       for d, e in self.energy_j_by_domain.items())
        rows += "".join(f"<tr><td>{html.escape(d)}</td><td>{e:.4g} J</td><td>breakdown (not added)</td></tr>"
                        for d, e in self.energy_j_breakdown.items())
        extra = ""
        if self.idle_power_w is not None:
            extra += f"<p>idle {self.idle_power_w:.3g} W &rarr; net {self.net_energy_j:.4g} J</p>"
        if self.extended_by_s > 0:
            extra += f"<p>window extended by {self.extended_by_s:.3f} s to span enough counter updates</p>"
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<div><p><b>{self.energy_j:.4g} J</b> over {self.duration_s:.3f} s = {self.power_w:.3g} W "
                f"({label} by {html.escape(self.backend)})</p><table><tr><th>domain</th><th>energy</th>"
                f"<th>kind</th></tr>{rows}</table>{extra}<p><small>source: {html.escape(self.source)}</small></p>"
                f"{'<ul>' + notes + '</ul>' if notes else ''}</div>")


# ------------------------------------------------------------------------ idle baseline
_IDLE_CACHE: dict[str, IdleBaseline] = {}


def measure_idle(duration_s: float | None = None, backend: str | Backend | Sequence = "auto",
                 refresh: bool = False) -> IdleBaseline:
    """Mean power while this process sleeps, per domain; cached per process and backend set.

    ``duration_s`` defaults to max(1 s, 10 updates of the slowest counter). With the
    estimate backend the idle power is ~0 W: that model has no idle term.
    """
    sel = resolve_backends(backend)
    if duration_s is None:
        duration_s = max(1.0, sel.min_window_s())
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise ValueError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
    key = f"{sel.name}:{[b.describe() for b in sel.backends]}"
    if not refresh and key in _IDLE_CACHE:
        return _IDLE_CACHE[key]
    with SessionGroup(sel) as group:
        time.sleep(duration_s)
        group.stop_polling()
        readings = group.readings()
        t = time.perf_counter() - group.t0_s
    by_domain = {d: r.energy_j[d] / t for r in readings for d in r.total_domains}
    base = IdleBaseline(math.fsum(by_domain.values()), by_domain, t, sel.name, sel.kind, sel.source,
                        _dt.datetime.now().isoformat(timespec="seconds"))
    _IDLE_CACHE[key] = base
    return base


# ------------------------------------------------------------------------- measuring
_OPEN: dict[str, Measurement] = {}
_OPEN_LOCK = threading.Lock()


class Measurement:
    """One measurement: ``with`` block, decorator, or ``start()``/``stop()``. See :func:`measure`."""

    def __init__(self, backend="auto", *, trace_interval_s: float | None = None,
                 idle_baseline: bool | float | IdleBaseline = False, extend_short_windows: bool = True,
                 name: str = "default") -> None:
        if trace_interval_s is not None and not (trace_interval_s >= 0.001 and math.isfinite(trace_interval_s)):
            raise ValueError(f"trace_interval_s must be >= 0.001 s (or None), got {trace_interval_s!r}")
        if isinstance(idle_baseline, (int, float)) and not isinstance(idle_baseline, bool) and not (
                idle_baseline >= 0 and math.isfinite(idle_baseline)):
            raise ValueError(f"idle_baseline in watts must be >= 0, got {idle_baseline!r}")
        self.backend_spec = backend
        self.trace_interval_s = trace_interval_s
        self.idle_baseline = idle_baseline
        self.extend_short_windows = extend_short_windows
        self.name = name
        self.report = EnergyReport()
        self._running = False
        self._group: SessionGroup | None = None
        self._shadow: CounterSession | None = None

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> EnergyReport:
        """Start (or, if already running, restart) and register under ``name``.

        A measurement with the same name that a crashed cell left open is closed first
        (with a warning) instead of failing: re-running the cell just works.
        """
        with _OPEN_LOCK:
            stale = _OPEN.get(self.name)
        if stale is not None and stale is not self and stale._running:
            warnings.warn(f"restarting energy measurement {self.name!r}: a previous one was left open "
                          "(a crashed cell?) and has been discarded", RuntimeWarning, stacklevel=2)
            stale._abort()
        self._begin()
        with _OPEN_LOCK:
            _OPEN[self.name] = self
        return self.report

    def _begin(self) -> None:
        if self._running:
            warnings.warn("measurement was already running; restarted it", RuntimeWarning, stacklevel=3)
            self._abort()
        self.sel = resolve_backends(self.backend_spec)
        self.idle = self._idle()
        self.report = EnergyReport(started_at=_dt.datetime.now().isoformat(timespec="seconds"))
        group = SessionGroup(self.sel, trace_interval_s=self.trace_interval_s).open()
        try:
            # In auto mode, a cheap CPU-time estimate runs alongside a measured CPU counter so
            # that a counter found stalled at the end degrades to a labelled estimate, not an error.
            if self.sel.auto and any(b.device == "cpu" and b.kind == "measured" for b in self.sel.backends):
                self._shadow = get_backend("estimate").open()
        except BaseException:
            group.close()
            raise
        self._group = group
        self.t0_s = group.t0_s
        self._running = True

    def _idle(self) -> IdleBaseline | float | None:
        ib = self.idle_baseline
        if ib is True:
            return measure_idle(backend=self.sel.backends)
        if ib is False or ib is None:
            return None
        return ib

    def _abort(self) -> None:
        if self._group is not None:
            self._group.close()
        if self._shadow is not None:
            self._shadow.close()
        self._group, self._shadow, self._running = None, None, False
        with _OPEN_LOCK:
            if _OPEN.get(self.name) is self:
                del _OPEN[self.name]

    def stop(self) -> EnergyReport:
        """Stop, fill in and return the report. Raises if the measurement was not started."""
        if not self._running:
            raise EnergyError("stop() without a running measurement",
                              "call start() first, or use `with gk.measure() as m:`")
        r = self.report
        try:
            t_work = time.perf_counter() - self.t0_s
            min_w = self.sel.min_window_s()
            if self.extend_short_windows and t_work < min_w:
                time.sleep(min_w - t_work)
                r.extended_by_s = time.perf_counter() - self.t0_s - t_work
            self._group.stop_polling()
            readings, backends, notes = self._read_all()
            t_end = max(rd.t_s for rd in readings)
            self._fill(r, readings, backends, notes, t_end - self.t0_s, t_work)
        finally:
            self._abort()
        return r

    def _read_all(self) -> tuple[list[Reading], list[Backend], list[str]]:
        """Each session's reading; a stalled CPU counter falls back, labelled, to the shadow estimate."""
        notes = list(self.sel.notes)
        poll_err = self._group.poll_error
        readings, backends = [], []
        for b, s in zip(self.sel.backends, self._group.sessions, strict=True):
            try:
                if poll_err is not None and b.device == "cpu" and isinstance(poll_err, CounterStalled):
                    raise poll_err
                readings.append(s.read())
                backends.append(b)
            except CounterStalled as err:
                if self._shadow is None or b.device != "cpu":
                    raise
                notes.append(f"{b.name} counter stalled ({err.cause}); CPU energy FELL BACK to the estimate")
                readings.append(self._shadow.read())
                backends.append(get_backend("estimate"))
        if poll_err is not None and not isinstance(poll_err, CounterStalled):
            raise poll_err
        return readings, backends, notes

    def _fill(self, r: EnergyReport, readings: list[Reading], backends: list[Backend], notes: list[str],
              duration_s: float, t_work: float) -> None:
        for rd, b in zip(readings, backends, strict=True):
            for d, e in rd.energy_j.items():
                if d in rd.total_domains:
                    r.energy_j_by_domain[d] = e
                    r.kinds_by_domain[d] = b.kind
                else:
                    r.energy_j_breakdown[d] = e
        r.energy_j = math.fsum(r.energy_j_by_domain.values())
        r.duration_s = duration_s
        r.work_duration_s = t_work
        r.power_w = r.energy_j / duration_s if duration_s > 0 else math.nan
        kinds = {b.kind for b in backends}
        if kinds == {"measured", "estimated"}:
            notes.append("total mixes measured and estimated domains; see kinds_by_domain")
        used = Selection(backends, notes, self.sel.auto)
        r.kind, r.backend, r.source, r.device = combined_kind(kinds), used.name, used.source, used.device
        r.threads = torch_threads()
        if self.idle is not None:
            if isinstance(self.idle, IdleBaseline):
                r.idle_power_w, r.idle_source = self.idle.power_w, repr(self.idle)
            else:
                r.idle_power_w, r.idle_source = float(self.idle), "given by the user"
            r.net_energy_j = r.energy_j - r.idle_power_w * duration_s
        r.sampler_cpu_s = self._group.sampler_cpu_s
        if self.trace_interval_s is not None:
            r.trace = self._group.trace
            r.trace_interval_s = self.trace_interval_s
        r.notes = notes
        r.filled = True

    # -- protocols ----------------------------------------------------------------------
    def __enter__(self) -> EnergyReport:
        self._begin()  # not registered by name: nested `with` blocks are independent
        return self.report

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            with contextlib.suppress(EnergyError):
                self.stop()  # keep what was measured; the user's exception wins
            return
        self.stop()

    def __call__(self, func: Callable) -> Callable:
        """Decorator: measure every call; the latest report is ``wrapper.last_report``."""

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            m = Measurement(self.backend_spec, trace_interval_s=self.trace_interval_s,
                            idle_baseline=self.idle_baseline, extend_short_windows=self.extend_short_windows)
            with m as report:
                wrapper.last_report = report
                return func(*args, **kwargs)

        wrapper.last_report = None
        return wrapper


def measure(backend: str | Backend | Sequence = "auto", *, trace_interval_s: float | None = None,
            idle_baseline: bool | float | IdleBaseline = False, extend_short_windows: bool = True,
            name: str = "default") -> Measurement:
    """Measure the energy of a block, a function, or a span of notebook cells.

    Parameters
    ----------
    backend: ``"auto"`` (best measured sources, else the labelled estimate), a name
        (``"rapl"``, ``"pyrapl"``, ``"nvml"``, ``"estimate"``), ``"rapl+nvml"``, or Backend
        instances.
    trace_interval_s: if set, a background thread records ``(t_s, power_w)`` every that
        many seconds into ``report.trace``.
    idle_baseline: ``True`` measures (once per process) and subtracts idle power, a number
        is an idle power in watts, an :class:`IdleBaseline` is used as is.
    extend_short_windows: keep a too-short window open until it spans 10 counter updates.
    name: key for ``start()``/``stop()`` across cells (re-starting a name restarts it).

    Example
    -------
    >>> with measure(backend="estimate") as m:
    ...     _ = sum(i * i for i in range(10**5))
    >>> m.kind
    'estimated'
    """
    if callable(backend) and not isinstance(backend, Backend):  # bare @measure on a function
        return Measurement(trace_interval_s=trace_interval_s, idle_baseline=idle_baseline,
                           extend_short_windows=extend_short_windows, name=name)(backend)
    return Measurement(backend, trace_interval_s=trace_interval_s, idle_baseline=idle_baseline,
                       extend_short_windows=extend_short_windows, name=name)


def start(name: str = "default", **kwargs) -> Measurement:
    """Start a named measurement that spans cells; a stale one of the same name is restarted."""
    m = Measurement(name=name, **kwargs)
    m.start()
    return m


def stop(name: str = "default") -> EnergyReport:
    """Stop the named measurement started by :func:`start` and return its report."""
    with _OPEN_LOCK:
        m = _OPEN.get(name)
    if m is None:
        raise EnergyError(f"no running energy measurement named {name!r}",
                          "call gk.energy.start() first (re-running that cell restarts it)")
    return m.stop()
