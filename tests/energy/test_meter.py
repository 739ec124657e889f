"""measure(): context manager, decorator, start/stop across cells, idle baseline, trace."""

from __future__ import annotations

import time
import warnings

import pytest

import greenkit.energy as ge
from greenkit.energy import EnergyError, measure
from greenkit.energy.estimate import EstimateBackend
from greenkit.energy.meter import _OPEN, measure_idle, resolve_backends


def burn(seconds: float) -> None:
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        pass


def test_report_fields_filled_and_consistent():
    """Are energy, duration and mean power filled on exit, with P = E / t and E = sum of domains?"""
    with measure("estimate") as m:
        assert not m.filled
        burn(0.1)
    assert m.filled and m.energy_j > 0 and m.duration_s >= 0.1
    assert m.power_w == pytest.approx(m.energy_j / m.duration_s)
    assert m.energy_j == pytest.approx(sum(m.energy_j_by_domain.values()))
    assert m.backend == "estimate" and m.idle_power_w is None and m.net_energy_j is None


def test_auto_here_is_estimated_and_says_why():
    """On a machine without counters, does auto pick the estimate and explain it in the notes?"""
    sel = resolve_backends("auto")
    if sel.kind == "measured":
        pytest.skip("this machine has a readable counter; the test is for counter-less machines")
    with measure() as m:
        burn(0.02)
    assert m.kind == "estimated" and any("ESTIMATED" in n for n in m.notes)


def test_exception_inside_block_still_fills_report():
    """If the measured code raises, does the error propagate and the report still get filled?"""
    with pytest.raises(ZeroDivisionError):
        with measure("estimate") as m:
            burn(0.02)
            1 / 0  # noqa: B018
    assert m.filled and m.energy_j > 0


def test_decorator_keeps_result_and_report():
    """Does @measure() return the function's result and store each call's report on the wrapper?"""

    @measure("estimate")
    def work(n):
        burn(0.02)
        return n * 2

    assert work(21) == 42
    first = work.last_report
    assert first.filled and first.energy_j > 0
    work(1)
    assert work.last_report is not first

    @measure
    def bare():
        return 7

    assert bare() == 7 and bare.last_report.filled


def test_restart_after_crashed_cell():
    """Does starting a named measurement that a crashed cell left open restart it (warning), not fail?"""
    ge.start(backend="estimate")  # the "crashed cell" never calls stop()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ge.start(backend="estimate")
    assert any("left open" in str(x.message) for x in w)
    burn(0.02)
    r = ge.stop()
    assert r.filled and r.energy_j > 0 and "default" not in _OPEN
    with pytest.raises(EnergyError, match="no running energy measurement"):
        ge.stop()


def test_same_object_restart():
    """Does calling start() twice on one Measurement restart it rather than raise?"""
    m = measure("estimate", name="twice")
    m.start()
    with pytest.warns(RuntimeWarning, match="restarted"):
        m.start()
    assert m.stop().filled


def test_nested_with_blocks_are_independent():
    """Do nested `with measure()` blocks both complete, the outer one covering more CPU time?"""
    with measure("estimate") as outer:
        burn(0.05)
        with measure("estimate") as inner:
            burn(0.05)
    assert inner.filled and outer.energy_j > inner.energy_j


def test_idle_baseline_net_energy():
    """With a given idle power, is net = gross - P_idle x t?"""
    with measure("estimate", idle_baseline=2.0) as m:
        burn(0.05)
    assert m.idle_power_w == 2.0
    assert m.net_energy_j == pytest.approx(m.energy_j - 2.0 * m.duration_s)


def test_measured_idle_baseline_is_cached():
    """Is the idle baseline measured once per process and then reused (same object)?"""
    b = EstimateBackend(watts_per_core=3.0)
    a = measure_idle(0.05, backend=b)
    assert measure_idle(0.05, backend=b) is a
    assert measure_idle(0.05, backend=b, refresh=True) is not a
    assert a.power_w < 3.0 * 0.2  # sleeping: the model's idle power is ~0


def test_trace_is_sampled():
    """With trace_interval_s, are (t_s, power_w) points recorded at about that interval?"""
    with measure("estimate", trace_interval_s=0.02) as m:
        burn(0.6)  # ~30 intervals; >= 5 samples even on a loaded 2-core machine
    assert m.trace and len(m.trace) >= 5
    ts = [t for t, _ in m.trace]
    assert ts == sorted(ts) and all(p >= 0 for _, p in m.trace)
    assert m.sampler_cpu_s is not None


@pytest.mark.parametrize("bad", [0, -1, float("inf")])
def test_bad_trace_interval(bad):
    """Is a non-positive or infinite trace interval refused with ValueError?"""
    with pytest.raises(ValueError):
        measure("estimate", trace_interval_s=bad)


def test_unknown_backend_and_double_cpu():
    """Are an unknown backend name, and two CPU backends (double counting), refused?"""
    with pytest.raises(ValueError, match="unknown energy backend"):
        resolve_backends("rapl2")
    with pytest.raises(ValueError, match="double count"):
        resolve_backends([EstimateBackend(), EstimateBackend()])


def test_env_forces_backend(monkeypatch):
    """Does GREENKIT_BACKEND=estimate make auto use the estimate and say so?"""
    monkeypatch.setenv("GREENKIT_BACKEND", "estimate")
    sel = resolve_backends("auto")
    assert sel.name == "estimate" and any("GREENKIT_BACKEND" in n for n in sel.notes)


def test_html_repr():
    """Does the notebook view show the energy and the kind?"""
    with measure("estimate") as m:
        burn(0.01)
    h = m._repr_html_()
    assert "ESTIMATED" in h and "J" in h


def test_cell_magic_measures_and_survives_errors():
    """Does %%measure store a filled report in _energy, also when the cell raises?"""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ge.load_ipython_extension(ip)
    ip.run_cell_magic("measure", "--backend estimate", "x = sum(i * i for i in range(100000))")
    assert ip.user_ns["_energy"].filled and ip.user_ns["_energy"].kind == "estimated"
    ip.run_cell_magic("measure", "--backend estimate", "1 / 0")
    assert ip.user_ns["_energy"].filled


def test_cell_magic_options_come_from_magic_arguments():
    """Does %%measure document its options (IPython magic_arguments) and refuse an unknown one?"""
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ge.load_ipython_extension(ip)
    doc = ip.find_cell_magic("measure").__doc__
    assert "--backend" in doc and "--trace" in doc and "--idle" in doc
    with pytest.raises(UsageError):
        ip.run_cell_magic("measure", "--bogus", "pass")
    ip.run_cell_magic("measure", "--backend estimate --trace 0.01", "sum(range(100000))")
    assert ip.user_ns["_energy"].trace_interval_s == 0.01
