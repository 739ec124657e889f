"""Open, poll and close counter sessions: the one place this is done.

A :class:`SessionGroup` opens one :class:`~greenkit.energy.base.CounterSession` per
backend of a :class:`~greenkit.energy.selection.Selection` and, when any session needs
it (wrap safety, power sampling) or a power trace is wanted, runs a :class:`Poller`
thread. The poll interval is the smallest any session asks for
(``CounterSession.poll_interval_s``; RAPL's is half its counters' wrap period) or the
trace interval, whichever is shorter. ``measure()``, ``measure_idle()``,
``measure_inference()`` and ``compare()`` all measure through it::

    with SessionGroup(resolve_backends("auto")) as g:
        t0, e0 = g.total()
        work()
        t1, e1 = g.total()          # joules of the non-overlapping domains, summed

A poll that fails (a counter stalled, a device lost) stops the poller and is kept in
``poll_error``; :meth:`SessionGroup.total` raises it, and the meter decides whether a
labelled fallback is possible.
"""

from __future__ import annotations

import math
import threading
import time

from greenkit.energy.base import CounterSession, EnergyError, Reading
from greenkit.energy.selection import Selection

__all__ = ["Poller", "SessionGroup"]


class Poller(threading.Thread):
    """Background thread: polls sessions (wrap safety, power samples) and records a power trace.

    With ``trace=True`` every tick reads all sessions (a read polls) and appends
    ``(t_s since t0_s, mean watts since the previous tick)`` to ``trace``.
    ``cpu_s`` is the thread's own CPU time once it has stopped (its overhead).
    """

    def __init__(self, sessions: list[CounterSession], interval_s: float, trace: bool, t0_s: float) -> None:
        super().__init__(name="greenkit-energy-poller", daemon=True)
        self.sessions, self.interval_s, self.want_trace, self.t0_s = sessions, interval_s, trace, t0_s
        self.trace: list[tuple[float, float]] = []
        self.error: BaseException | None = None
        self.cpu_s = 0.0
        self._stop_event = threading.Event()
        self._last: tuple[float, float] | None = None

    def run(self) -> None:
        try:
            if self.want_trace:
                self._last = self._total()
            while not self._stop_event.wait(self.interval_s):
                if self.want_trace:
                    t, e = self._total()
                    lt, le = self._last
                    if t > lt:
                        self.trace.append((t - self.t0_s, (e - le) / (t - lt)))
                    self._last = (t, e)
                else:
                    for s in self.sessions:
                        s.poll()
        except EnergyError as err:
            self.error = err
        finally:
            self.cpu_s = time.thread_time()

    def _total(self) -> tuple[float, float]:
        readings = [s.read() for s in self.sessions]
        return time.perf_counter(), math.fsum(r.total_j for r in readings)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


class SessionGroup:
    """Sessions of every backend in ``selection``, opened together, polled as needed, closed together.

    ``trace_interval_s``: also record a power trace at that interval (see :class:`Poller`).
    Re-entrant use is not supported: one group, one measurement.
    """

    def __init__(self, selection: Selection, *, trace_interval_s: float | None = None) -> None:
        self.selection = selection
        self.trace_interval_s = trace_interval_s
        self.sessions: list[CounterSession] = []
        self.poller: Poller | None = None
        self.t0_s: float | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def open(self) -> SessionGroup:
        """Open every session (closing those already opened if one fails) and start polling."""
        try:
            for b in self.selection.backends:
                self.sessions.append(b.open())
        except BaseException:
            self.close()
            raise
        self.t0_s = time.perf_counter()
        interval = self.poll_interval_s
        if math.isfinite(interval):
            self.poller = Poller(self.sessions, interval, self.trace_interval_s is not None, self.t0_s)
            self.poller.start()
        return self

    @property
    def poll_interval_s(self) -> float:
        """Shortest interval any session needs, or the trace interval; ``inf`` if none polls."""
        return min([s.poll_interval_s for s in self.sessions] + [self.trace_interval_s or math.inf])

    def stop_polling(self) -> None:
        """Stop the background thread (idempotent); its error, if any, stays in ``poll_error``."""
        if self.poller is not None and self.poller.is_alive():
            self.poller.stop()

    def close(self) -> None:
        """Stop polling and release every session's handles (idempotent)."""
        self.stop_polling()
        for s in self.sessions:
            s.close()
        self.sessions = []

    def __enter__(self) -> SessionGroup:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------
    @property
    def poll_error(self) -> BaseException | None:
        return self.poller.error if self.poller is not None else None

    @property
    def trace(self) -> list[tuple[float, float]]:
        return list(self.poller.trace) if self.poller is not None else []

    @property
    def sampler_cpu_s(self) -> float | None:
        """CPU seconds the poller thread used (after :meth:`stop_polling`); None without one."""
        return self.poller.cpu_s if self.poller is not None else None

    def readings(self) -> list[Reading]:
        """One reading per session, in the selection's order; raises a poll error first."""
        if self.poll_error is not None:
            raise self.poll_error
        return [s.read() for s in self.sessions]

    def total(self) -> tuple[float, float]:
        """``(time.perf_counter(), joules so far)`` summed over the non-overlapping domains."""
        rs = self.readings()
        return time.perf_counter(), math.fsum(r.total_j for r in rs)
