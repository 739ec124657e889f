"""RAPL through powercap sysfs, on fake trees built in tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from greenkit.energy import CounterStalled, PermissionDenied, measure
from greenkit.energy.base import wrap_delta
from greenkit.energy.meter import resolve_backends
from greenkit.energy.rapl import STALL_AFTER_S, RaplBackend, discover_zones


def test_wrap_delta_formula():
    """Is a wrapped counter read as a positive delta: (R - before) + after?"""
    assert wrap_delta(900, 100, 1000) == 200
    assert wrap_delta(100, 900, 1000) == 800
    assert wrap_delta(5, 5, 1000) == 0


def test_single_socket_reads_microjoules_as_joules(powercap):
    """Does one package counter advancing by 2.5e6 uJ read as 2.5 J, labelled cpu-package-0?"""
    powercap.zone("intel-rapl:0", "package-0", energy_uj=1_000_000)
    b = RaplBackend(powercap.root, check_advancing=False)
    assert b.availability().available, b.availability().reason
    s = b.open()
    powercap.set("intel-rapl:0", 3_500_000)
    r = s.read()
    s.close()
    assert r.energy_j == {"cpu-package-0": pytest.approx(2.5)}
    assert r.total_j == pytest.approx(2.5)


def test_dual_socket_dram_psys_counted_once(powercap):
    """Are both sockets and both DRAMs summed, while core/uncore (nested) and psys (enclosing) are not?"""
    (powercap.zone("intel-rapl:0", "package-0").zone("intel-rapl:0:0", "core").zone("intel-rapl:0:1", "uncore")
     .zone("intel-rapl:0:2", "dram").zone("intel-rapl:1", "package-1").zone("intel-rapl:1:0", "core")
     .zone("intel-rapl:1:1", "dram").zone("intel-rapl:2", "psys"))
    b = RaplBackend(powercap.root, check_advancing=False)
    s = b.open()
    adds = {"intel-rapl:0": 10, "intel-rapl:0:0": 6, "intel-rapl:0:1": 1, "intel-rapl:0:2": 3,
            "intel-rapl:1": 20, "intel-rapl:1:0": 15, "intel-rapl:1:1": 4, "intel-rapl:2": 50}
    for z, joules in adds.items():
        powercap.set(z, joules * 1_000_000)
    r = s.read()
    s.close()
    assert set(r.total_domains) == {"cpu-package-0", "cpu-package-1", "dram-0", "dram-1"}
    assert r.total_j == pytest.approx(10 + 3 + 20 + 4)
    assert r.energy_j["core-0"] == pytest.approx(6) and r.energy_j["uncore-0"] == pytest.approx(1)
    assert r.energy_j["psys"] == pytest.approx(50)


def test_mmio_duplicate_package_is_skipped(powercap):
    """Is intel-rapl-mmio:0 (package-0 again, via MMIO) left out so the package is not counted twice?"""
    powercap.zone("intel-rapl:0", "package-0").zone("intel-rapl-mmio:0", "package-0")
    zones, notes = discover_zones(powercap.root)
    assert [z.zone for z in zones] == ["intel-rapl:0"]
    assert any("mmio" in n for n in notes)


def test_nested_layout_is_found(tmp_path, make_powercap):
    """Are sub-zones found when they sit inside their package directory (the /sys/devices layout)?"""
    pc = make_powercap(tmp_path / "pc")
    pc.zone("intel-rapl:0", "package-0")
    make_powercap(tmp_path / "pc" / "intel-rapl:0").zone("intel-rapl:0:2", "dram")
    zones, _ = discover_zones(pc.root)
    assert {z.domain for z in zones} == {"cpu-package-0", "dram-0"}


def test_wrap_during_window_is_positive(powercap):
    """Does a counter that wraps once inside a window give (R - start) + end, not a negative number?"""
    powercap.zone("intel-rapl:0", "package-0", energy_uj=9_000_000, max_range_uj=10_000_000)
    s = RaplBackend(powercap.root, check_advancing=False).open()
    powercap.set("intel-rapl:0", 2_000_000)  # 9 J -> wrap at 10 J -> 2 J: 3 J used
    assert s.read().total_j == pytest.approx(3.0)


def test_double_wrap_is_caught_by_polling(powercap):
    """Over a window longer than the counter's range, do polls between wraps give the true sum (> R)?"""
    powercap.zone("intel-rapl:0", "package-0", energy_uj=900, max_range_uj=1000)
    s = RaplBackend(powercap.root, check_advancing=False).open()
    for v in (100, 950, 50):  # wrap, advance, wrap: 200 + 850 + 100 uJ
        powercap.set("intel-rapl:0", v)
        s.poll()
    assert s.read().energy_j["cpu-package-0"] == pytest.approx(1150e-6)
    # without the polls, the two ends alone would give only (1000 - 900) + 50 = 150 uJ


def test_poll_interval_is_half_the_wrap_period(powercap):
    """Is the wrap-safe poll interval R / P_max / 2, using the zone's stated maximum power?"""
    powercap.zone("intel-rapl:0", "package-0", max_range_uj=100_000_000, max_power_uw=50_000_000)
    s = RaplBackend(powercap.root, check_advancing=False).open()
    assert s.poll_interval_s == pytest.approx(100 / 50 / 2)


def test_meter_thread_polls_through_many_wraps(powercap, ticker):
    """Does measure() on a counter that wraps several times in a window report the energy actually added?"""
    rng = 1_000_000  # 1 J range
    powercap.zone("intel-rapl:0", "package-0", energy_uj=0, max_range_uj=rng)
    b = RaplBackend(powercap.root, max_power_w=20.0, check_advancing=False)  # poll every 25 ms
    t = ticker(powercap, {"intel-rapl:0": rng}, step_uj=20_000, period_s=0.002)  # <= 10 W
    time.sleep(0.02)
    before = t.added_uj["intel-rapl:0"]
    with measure(b) as m:
        # wait until the fake hardware has wrapped at least twice (a loaded CI box is slow)
        deadline = time.perf_counter() + 10
        while t.added_uj["intel-rapl:0"] - before < 2.5 * rng and time.perf_counter() < deadline:
            time.sleep(0.01)
    after = t.added_uj["intel-rapl:0"]
    assert (after - before) > 2 * rng, "the fake counter did not wrap twice; the machine is too slow"
    assert m.energy_j > 2.0  # more than two full ranges, read as a positive total
    # the window lies between the two snapshots of what the "hardware" added
    assert (after - before) / 1e6 - 0.1 <= m.energy_j <= (after - before) / 1e6 + 0.1
    assert m.kind == "measured" and m.backend == "rapl"


def test_missing_root_is_unavailable_with_reason(tmp_path):
    """Without /sys/class/powercap, does the probe say why (VM/container/not Linux) and not raise?"""
    av = RaplBackend(tmp_path / "nope").availability()
    assert not av.available
    assert "does not exist" in av.reason and "virtual machine" in av.reason
    with pytest.raises(Exception, match="does not exist"):
        resolve_backends(RaplBackend(tmp_path / "nope"))


def test_frozen_counter_fails_the_probe(powercap):
    """Is a package counter that never moves (a VM's dummy) refused instead of read as 0 J?"""
    powercap.zone("intel-rapl:0", "package-0", energy_uj=123)
    av = RaplBackend(powercap.root).availability()
    assert not av.available and "did not advance" in av.reason


def test_advancing_counter_passes_the_probe(powercap, ticker):
    """Does the advancing-counter probe accept a package counter that moves?"""
    powercap.zone("intel-rapl:0", "package-0", energy_uj=0)
    ticker(powercap, {"intel-rapl:0": 10**12}, step_uj=1000)
    av = RaplBackend(powercap.root).availability()
    assert av.available, av.reason


def test_counter_that_stops_advancing_raises(powercap):
    """If the counter stops for longer than STALL_AFTER_S, does read() raise CounterStalled, not return 0?"""
    powercap.zone("intel-rapl:0", "package-0", energy_uj=5)
    s = RaplBackend(powercap.root, check_advancing=False).open()
    time.sleep(STALL_AFTER_S + 0.05)
    with pytest.raises(CounterStalled, match="has not advanced"):
        s.read()


def test_auto_falls_back_to_labelled_estimate_when_rapl_stalls(powercap, registry):
    """In auto mode, does a stalled RAPL counter give a result marked estimated, with a note, not 0 J?"""
    powercap.zone("intel-rapl:0", "package-0", energy_uj=5)
    registry("rapl", RaplBackend(powercap.root, check_advancing=False))
    with measure() as m:
        t_end = time.perf_counter() + STALL_AFTER_S + 0.1
        while time.perf_counter() < t_end:
            pass
    assert m.kind == "estimated" and m.backend.startswith("estimate")
    assert m.energy_j > 0
    assert any("stalled" in n and "FELL BACK" in n for n in m.notes)


def _probe_as_nobody(root: Path) -> dict:
    """Probe ``root`` in a forked child that dropped root privileges (root reads any file)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            os.setgid(65534)
            os.setuid(65534)
            from greenkit.energy import doctor

            b = RaplBackend(root)
            out = {"av": b.availability().as_dict(), "doctor": doctor._text(doctor.diagnose(root))}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


def test_root_only_counter_is_explained(make_powercap):
    """When energy_uj is root-only (CVE-2020-8694 default), do probe and doctor say so with the chmod, udev and sysfs.conf fixes and the trade-off?"""
    d = Path(tempfile.mkdtemp(prefix="gk-powercap-"))
    try:
        os.chmod(d, 0o755)
        pc = make_powercap(d / "powercap")
        pc.zone("intel-rapl:0", "package-0")
        for p in [pc.root, *pc.root.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o444)
        os.chmod(pc.root / "intel-rapl:0" / "energy_uj", 0o400)
        if os.geteuid() == 0:
            got = _probe_as_nobody(pc.root)
            av, text = got["av"], got["doctor"]
        else:
            from greenkit.energy import doctor

            av = RaplBackend(pc.root).availability().as_dict()
            text = doctor._text(doctor.diagnose(pc.root))
        assert not av["available"] and av["details"]["permission_denied"]
        assert "root only" in av["reason"] and "CVE-2020-8694" in av["reason"]
        fixes = "\n".join(av["fix"])
        assert "chmod o+r" in fixes and "udev" in fixes and "sysfs.conf" in fixes and "PLATYPUS" in fixes
        assert "to enable" in text and "chmod" in text
    finally:
        shutil.rmtree(d)


def test_permission_denied_is_raised_by_explicit_backend(powercap, monkeypatch):
    """Does asking for backend='rapl' on a root-only counter raise PermissionDenied carrying the fix?"""
    powercap.zone("intel-rapl:0", "package-0")
    b = RaplBackend(powercap.root, check_advancing=False)
    monkeypatch.setattr("greenkit.energy.rapl._readable", lambda path: False)
    with pytest.raises(PermissionDenied) as ei:
        resolve_backends(b)
    assert "chmod" in ei.value.fix and "CVE-2020-8694" in str(ei.value)
