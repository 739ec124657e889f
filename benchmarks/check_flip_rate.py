"""How often does an energy-ratio verdict flip between repeated checks on one machine?

Checks a clearly passing model (an MLP ~8x cheaper than the baseline) and a clearly
failing one (the baseline itself) against ``energy_ratio_max 0.6`` N times each with the
real :func:`greenkit.energy.compare`, and reports the verdicts, medians, intervals and
the time of one full check (all of lab00_setup's targets, in a fresh process).

    python benchmarks/check_flip_rate.py [--repeats 10]
Needs the shipped 'mlp' checkpoint (or GREENKIT_DATA pointing at one).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from greenkit import zoo
from greenkit.targets import evaluate, load_spec

SPEC = """lab = "flip"
title = "Flip-rate probe"
baseline = "mlp"
[data]
n_per_class = 50
[energy]
batch = 64
pairs = 8
[[target]]
kind = "energy_ratio_max"
threshold = 0.6
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flip.toml"
        path.write_text(SPEC)
        spec = load_spec(path)
        baseline = zoo.load("mlp")
        torch.manual_seed(0)
        cheap = zoo.build("mlp", hidden=(64,)).eval()
        for label, model in (("passing (MLP 784-64-10)", cheap), ("failing (baseline itself)", baseline)):
            verdicts, values, t0 = [], [], time.perf_counter()
            for _ in range(args.repeats):
                r = evaluate(spec, {"model": model}, baseline=baseline).results[0]
                verdicts.append(r.status)
                values.append((r.value, r.interval, r.method))
            dt = (time.perf_counter() - t0) / args.repeats
            majority = statistics.mode(verdicts)
            flips = sum(v != majority for v in verdicts)
            print(f"{label}: verdicts {verdicts}; {flips}/{args.repeats} differ from the majority "
                  f"'{majority}'; {dt:.1f} s per check")
            for v, ci, m in values:
                print(f"   ratio {v:.3f} CI95 [{ci[0]:.3f}, {ci[1]:.3f}] ({m})" if v is not None else "   error")
        print(f"torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
