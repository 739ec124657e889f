"""Time greenkit.data loads: cold (decode + verify + write cache) and warm (cache).

    python benchmarks/data_load.py

Runs each load in a fresh process so the warm figure is what a new notebook sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

SNIPPET = """
import time, torch, greenkit.data as d
t0 = time.perf_counter(); x, y = d.load("train"); t1 = time.perf_counter()
xt, yt = d.load("test"); t2 = time.perf_counter()
x, y = d.load("train"); t3 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f}")
"""


def run(cache: str) -> tuple[float, ...]:
    env = dict(os.environ, GREENKIT_CACHE=cache)
    out = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True, check=True)
    return tuple(map(float, out.stdout.split()))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as cache:
        cold = run(cache)
        warm = [run(cache) for _ in range(3)]
    print(f"cold load (verify + decode + cache): train {cold[0]:.2f} s, test {cold[1]:.2f} s")
    print(f"warm load (new process, cached):     train {min(w[0] for w in warm):.3f} s, "
          f"test {min(w[1] for w in warm):.3f} s  (best of 3)")
    print(f"second load in the same process:     train {min(w[2] for w in warm):.3f} s")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
