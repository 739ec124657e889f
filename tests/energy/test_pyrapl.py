"""pyRAPL as a second RAPL path: its raw values, our wraparound; its import must not touch logging."""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

import pytest

from greenkit.energy import CounterUnavailable
from greenkit.energy.pyrapl_backend import PyRaplBackend, import_pyrapl


def sensor_returning(*values):
    pyRAPL = import_pyrapl()
    sensor = mock.create_autospec(pyRAPL.Sensor, instance=True)
    sensor.energy.side_effect = [list(v) for v in values]
    return lambda: sensor


def test_pyrapl_wrap_is_corrected(powercap):
    """Does a pyRAPL package counter that wraps give a positive delta using sysfs max_energy_range_uj?"""
    powercap.zone("intel-rapl:0", "package-0", max_range_uj=10_000_000).zone("intel-rapl:0:0", "dram",
                                                                             max_range_uj=5_000_000)
    # probe read, session start, final read: pkg 9 J -> 1 J (wrapped at 10 J), dram 1 J -> 2 J
    factory = sensor_returning([0, 0], [9e6, 1e6], [1e6, 2e6])
    b = PyRaplBackend(sensor_factory=factory, root=powercap.root)
    assert b.availability().available, b.availability().reason
    r = b.open().read()
    assert r.energy_j == {"cpu-package-0": pytest.approx(2.0), "dram-0": pytest.approx(1.0)}


def test_pyrapl_minus_one_is_not_added(powercap):
    """Is pyRAPL's -1 ('could not read') left out of the domains at start and an error if it appears later?"""
    powercap.zone("intel-rapl:0", "package-0", max_range_uj=10_000_000)
    factory = sensor_returning([5, -1], [5, -1], [6e6, -1], [-1, -1])
    s = PyRaplBackend(sensor_factory=factory, root=powercap.root).open()
    assert s.read().energy_j == {"cpu-package-0": pytest.approx(6.0 - 5e-6)}
    with pytest.raises(CounterUnavailable, match="-1"):
        s.read()


def test_pyrapl_without_range_is_refused(powercap):
    """If max_energy_range_uj is unknown, is pyRAPL refused rather than trusted across wraps?"""
    powercap.zone("intel-rapl:0", "package-0", max_range_uj=None)
    av = PyRaplBackend(sensor_factory=sensor_returning([1, 1]), root=powercap.root).availability()
    assert not av.available and "max_energy_range_uj" in av.reason


def test_import_pyrapl_leaves_root_logging_alone():
    """Does importing pyRAPL through us leave the root logger unconfigured and stderr quiet?"""
    code = ("import logging; from greenkit.energy.pyrapl_backend import import_pyrapl; import_pyrapl(); "
            "print(len(logging.getLogger().handlers))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "0"
    assert "imports error" not in out.stderr


def test_pyrapl_polls_at_the_zones_wrap_safe_interval(powercap):
    """Does pyRAPL poll at half the wrap period from the zone's stated max power (not a hard-coded 1000 W)?"""
    powercap.zone("intel-rapl:0", "package-0", max_range_uj=100_000_000, max_power_uw=50_000_000)
    s = PyRaplBackend(sensor_factory=sensor_returning([1, -1], [1, -1]), root=powercap.root).open()
    assert s.poll_interval_s == pytest.approx(100 / 50 / 2)
