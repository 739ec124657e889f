"""SessionGroup: the one place sessions are opened, polled and closed."""

from __future__ import annotations

import math
import time

import pytest

from greenkit.energy.base import Availability, Backend, CounterSession, CounterStalled, EnergyError, Reading
from greenkit.energy.estimate import EstimateBackend
from greenkit.energy.rapl import RaplBackend
from greenkit.energy.sampler import SessionGroup
from greenkit.energy.selection import Selection


class Recording(CounterSession):
    def __init__(self, log: list, name: str, interval: float = math.inf, fail_poll: bool = False) -> None:
        super().__init__()
        self.log, self.name, self.poll_interval_s, self.fail_poll = log, name, interval, fail_poll
        self.polls = 0

    def poll(self) -> None:
        self.polls += 1
        if self.fail_poll:
            raise CounterStalled("stuck")

    def read(self) -> Reading:
        return Reading(time.perf_counter(), {self.name: 1.0}, (self.name,))

    def close(self) -> None:
        self.log.append(f"close {self.name}")


class Fake(Backend):
    kind = "measured"
    device = "cpu"

    def __init__(self, log: list, name: str, fail_open: bool = False, **session_kw) -> None:
        super().__init__()
        self.log, self.name, self.fail_open, self.session_kw = log, name, fail_open, session_kw

    def _probe(self) -> Availability:
        return Availability(self.name, True, self.kind, "ok", details={"update_period_s": 0.001})

    def open(self) -> CounterSession:
        if self.fail_open:
            raise EnergyError(f"{self.name} failed to open")
        self.log.append(f"open {self.name}")
        return Recording(self.log, self.name, **self.session_kw)

    def describe(self) -> str:
        return self.name


def test_a_failed_open_closes_the_sessions_already_open():
    """If the second backend fails to open, is the first one's session closed before the error propagates?"""
    log: list = []
    with pytest.raises(EnergyError, match="b failed"):
        SessionGroup(Selection([Fake(log, "a"), Fake(log, "b", fail_open=True)], [], False)).open()
    assert log == ["open a", "close a"]


def test_polls_at_the_shortest_interval_any_session_needs():
    """Is the poller run at the smallest session interval (and none started when no session needs one)?"""
    log: list = []
    sel = Selection([Fake(log, "a", interval=0.01), Fake(log, "b", interval=5.0)], [], False)
    with SessionGroup(sel) as g:
        assert g.poll_interval_s == 0.01
        time.sleep(0.2)
        assert g.sessions[0].polls >= 3
        t, e = g.total()
        assert e == pytest.approx(2.0)
    assert log[-2:] == ["close a", "close b"] and g.sessions == []
    with SessionGroup(Selection([Fake([], "c")], [], False)) as g:
        assert g.poller is None and math.isinf(g.poll_interval_s)


def test_a_poll_error_is_raised_by_the_next_read():
    """Does a counter that stalls between reads surface as CounterStalled at the next total(), never as 0 J?"""
    sel = Selection([Fake([], "a", interval=0.005, fail_poll=True)], [], False)
    with SessionGroup(sel) as g:
        time.sleep(0.1)
        assert isinstance(g.poll_error, CounterStalled)
        with pytest.raises(CounterStalled):
            g.total()


def test_trace_interval_starts_a_poller_and_records_power():
    """With a trace interval, is a trace of (t_s, W) recorded even for backends that need no polling?"""
    sel = Selection([EstimateBackend(watts_per_core=5.0)], [], False)
    with SessionGroup(sel, trace_interval_s=0.01) as g:
        t_end = time.perf_counter() + 0.2
        while time.perf_counter() < t_end:
            pass
        g.stop_polling()
        assert len(g.trace) >= 3 and g.sampler_cpu_s is not None


def test_rapl_sessions_are_polled_wrap_safe(powercap):
    """Does a group over a RAPL zone poll at half the zone's wrap period (the one rapl formula)?"""
    powercap.zone("intel-rapl:0", "package-0", max_range_uj=2_000_000, max_power_uw=10_000_000)
    b = RaplBackend(powercap.root, check_advancing=False)
    with SessionGroup(Selection([b], [], False)) as g:
        assert g.poll_interval_s == pytest.approx(2.0 / 10.0 / 2)
