"""How much CPU does the meter itself use? (Not a test: prints figures.)

For each trace interval (10 ms, 100 ms) and backend, runs a CPU-bound workload for
``--seconds`` (default 10 s) inside ``gk.measure(trace_interval_s=...)`` and reports
the sampler thread's own CPU time (``time.thread_time()`` in the poller thread of
``greenkit.energy.sampler.SessionGroup``, the one sampler every measurement uses) as a share of

- the window's wall time (one core's worth of time), and
- the process CPU time spent in the window.

Backends: ``estimate`` (reads the process CPU clock) and ``rapl-fake`` (a powercap tree
in a temp dir read with the same code as real RAPL, a proxy for sysfs read cost; on a
machine with readable RAPL, ``rapl`` is measured too). Target: < 1% at 100 ms.

    python benchmarks/meter_overhead.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

from greenkit.energy import measure
from greenkit.energy.estimate import EstimateBackend
from greenkit.energy.rapl import RaplBackend


def workload(seconds: float) -> int:
    x, t_end = 0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        for i in range(1000):
            x += i * i
    return x


def fake_rapl(root: Path) -> tuple[RaplBackend, threading.Event]:
    """A package + dram + core tree whose counters a thread advances every 1 ms, like RAPL."""
    zones = {"intel-rapl:0": "package-0", "intel-rapl:0:0": "core", "intel-rapl:0:2": "dram"}
    for z, name in zones.items():
        d = root / z
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "max_energy_range_uj").write_text("262143328850\n")
        (d / "energy_uj").write_text(f"{0:020d}\n")
    stop = threading.Event()

    def tick() -> None:
        v = 0
        fds = [os.open(root / z / "energy_uj", os.O_WRONLY) for z in zones]
        while not stop.wait(0.001):
            v += 10_000
            for fd in fds:
                os.pwrite(fd, f"{v:020d}\n".encode(), 0)
        for fd in fds:
            os.close(fd)

    threading.Thread(target=tick, daemon=True).start()
    return RaplBackend(root, check_advancing=False), stop


def run(backend, label: str, interval_s: float, seconds: float) -> None:
    c0 = time.process_time()
    with measure(backend, trace_interval_s=interval_s) as m:
        workload(seconds)
    cpu = time.process_time() - c0
    share_wall = m.sampler_cpu_s / m.duration_s
    share_cpu = m.sampler_cpu_s / cpu if cpu > 0 else float("nan")
    print(f"{label:<10} {interval_s * 1e3:6.0f} ms  {len(m.trace):6d} samples  sampler CPU {m.sampler_cpu_s * 1e3:8.2f} ms"
          f"  = {share_wall * 100:6.3f}% of wall, {share_cpu * 100:6.3f}% of process CPU"
          f"  ({m.sampler_cpu_s / max(len(m.trace), 1) * 1e6:6.1f} us/sample)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    loads = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"load average {loads} (1, 5, 15 min); workload {args.seconds:g} s per row")
    backends = [("estimate", EstimateBackend())]
    real = RaplBackend()
    if real.is_available():
        backends.append(("rapl", real))
    with tempfile.TemporaryDirectory() as d:
        fake, stop = fake_rapl(Path(d) / "powercap")
        backends.append(("rapl-fake", fake))
        try:
            for label, b in backends:
                for interval in (0.01, 0.1):
                    run(b, label, interval, args.seconds)
        finally:
            stop.set()


if __name__ == "__main__":
    main()
