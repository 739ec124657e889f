"""Fake hardware for the energy tests: a real powercap directory tree, written like the kernel's."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from greenkit.energy import base, rapl

REAL_RANGE_UJ = 262143328850  # a typical Intel package's max_energy_range_uj


class FakePowercap:
    """A flat /sys/class/powercap look-alike in a directory; ``set`` plays the hardware."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def zone(self, zone: str, name: str, energy_uj: int = 0, max_range_uj: int | None = REAL_RANGE_UJ,
             max_power_uw: int | None = None) -> FakePowercap:
        d = self.root / zone
        d.mkdir()
        (d / "name").write_text(name + "\n")
        if max_range_uj is not None:
            (d / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        if max_power_uw is not None:
            (d / "constraint_0_max_power_uw").write_text(f"{max_power_uw}\n")
        (d / "energy_uj").write_text(f"{energy_uj:020d}\n")
        return self

    def set(self, zone: str, energy_uj: int) -> None:
        """Overwrite the counter in place, fixed width, one write (readers keep their open fd)."""
        fd = os.open(self.root / zone / "energy_uj", os.O_WRONLY)
        try:
            os.pwrite(fd, f"{energy_uj:020d}\n".encode(), 0)
        finally:
            os.close(fd)

    def get(self, zone: str) -> int:
        return int((self.root / zone / "energy_uj").read_text())


@pytest.fixture
def powercap(tmp_path) -> FakePowercap:
    return FakePowercap(tmp_path / "powercap")


class Ticker(threading.Thread):
    """Advances fake counters every ``period_s`` by ``step_uj`` (wrapping at the zone's range)."""

    def __init__(self, pc: FakePowercap, zones: dict[str, int], step_uj: int, period_s: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.pc, self.zones, self.step, self.period = pc, zones, step_uj, period_s
        self.added_uj = dict.fromkeys(zones, 0)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for z, rng in self.zones.items():
                self.pc.set(z, (self.pc.get(z) + self.step) % rng)
                self.added_uj[z] += self.step
            time.sleep(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join()


@pytest.fixture
def ticker(monkeypatch):
    # Hardware advances RAPL every ~1 ms, but this thread can be starved for longer than the
    # 0.25 s stall limit on a loaded 2-core CI machine (seen once). Tests with a ticker are
    # about counting and wrapping; stall handling is tested without one, at the real limit.
    monkeypatch.setattr(rapl, "STALL_AFTER_S", 5.0)
    started = []

    def make(*args, **kwargs) -> Ticker:
        t = Ticker(*args, **kwargs)
        t.start()
        started.append(t)
        return t

    yield make
    for t in started:
        t.stop()


@pytest.fixture
def registry(monkeypatch):
    """Replace default backend instances by name (what "auto" sees) for one test."""

    def put(name: str, backend: base.Backend) -> None:
        monkeypatch.setitem(base._DEFAULT_INSTANCES, name, backend)

    return put


@pytest.fixture
def make_powercap():
    """Factory: a FakePowercap at any path (for nested layouts and custom permissions)."""
    return FakePowercap
