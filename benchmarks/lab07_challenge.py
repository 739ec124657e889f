"""Lab 7 (the green model challenge): solution run time vs its budget, and target margins over seeds.

    python benchmarks/lab07_challenge.py                      # notebook once, then seeds 0 1 2
    python benchmarks/lab07_challenge.py --skip-notebook      # only the seed runs
    python benchmarks/lab07_challenge.py --write-reference    # also ship seed 0's verified report

1. Executes ``solutions/lab07_challenge/lab07_challenge.ipynb`` (a copy, in a temporary folder) and
   prints its wall time against the 150 s budget, with the machine's load.
2. For each seed, trains the reference model with the notebook's own ``train`` function (exec'd from
   its ``model`` cell) and checks it exactly as the report card does: ``gk.check`` saves it and the
   fresh-process checker (``python -m greenkit verify``) evaluates the spec. Prints each graded
   target's value, threshold and margin, the worst seed's margin, and the training time and energy
   (the ledger figure a student would record).
3. ``--write-reference``: seed 0's verified report becomes the leaderboard's reference point
   (``greenkit/course/references/lab07_challenge.json``).

The machine is shared: the load average is printed with every timing.

Recorded (2026-12-02, this 2-core x86_64 VM, torch 2.14.1, no energy counters: estimated energy):

- notebook: 367 s wall at load 15.5 and 375 s at load 25.5 (7-13 engineers' jobs on 2 cores); CPU time of
  the kernel and its checker 74.8 s, so 37-75 s on an idle 2-core machine (budget 150 s). The training
  block: 145-193 s wall under that load, 414-429 J (estimated).
- seeds 0 1 2 (checker on 5,000 test images, baseline 92.82% there): accuracy drop 3.48, 3.04, 3.20
  points (threshold 6, worst-seed margin 2.52); energy ratio 0.056, 0.060, 0.052 (95% CI up to 0.072;
  thresholds 0.5 and 0.2, worst-seed margin 0.14); training 160-239 s wall, 436-459 J; checker 118-189 s
  wall at load 15-18.
- not the optimum: a 256-unit MLP trained for 8 epochs (16-18 s CPU) reaches 88.4-88.8% at about 0.006x
  the baseline's energy; the shipped MLP checkpoint 89.1% at 0.012x (the own-weights target refuses it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import header, parse_args, run_solution_notebook

from greenkit.course import cell_sources, machine_load

ROOT = Path(__file__).resolve().parent.parent
LAB = "lab07_challenge"
NOTEBOOK = ROOT / "solutions" / LAB / f"{LAB}.ipynb"
REFERENCE = ROOT / "greenkit" / "course" / "references" / f"{LAB}.json"
BUDGET_S = 150.0


def run_notebook(timeout_s: int = 1200) -> float:
    """Execute the notebook; print the CPU time of its kernel and of the checker the kernel started.

    On a shared machine the wall time says more about the neighbours than about the lab; CPU time
    does not, and bounds the wall time on an idle 2-core machine between CPU/2 and CPU.
    """
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, nb = run_solution_notebook(LAB, timeout_s)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(f"[notebook] CPU time of the kernel and the checker: {cpu:.1f} s (on an idle 2-core machine the wall "
          f"time lies between {cpu / 2:.0f} and {cpu:.0f} s)", flush=True)
    for cell in nb.cells:  # the notebook's own printed results, for the record
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and gid in ("data", "model", "measure", "test_ledger"):
                print("   | " + out["text"].rstrip().replace("\n", "\n   | "))
            if out.get("output_type") == "error":
                print(f"   | cell {gid}: {out.get('ename')}: {out.get('evalue')}")
    return wall


def reference() -> dict:
    """The notebook's data split and its reference ``train`` function, from the notebook's own cells."""
    import contextlib

    import torch
    import torch.nn.functional as F

    import greenkit as gk

    cells = cell_sources(LAB)
    ns = {"torch": torch, "F": F, "gk": gk, "device": "cpu", "spend": lambda label: contextlib.nullcontext()}
    x_all, y_all = gk.data.load("train")
    ns.update(x_train=x_all[:55000], y_train=y_all[:55000])
    src = cells["model"]
    src = src[:src.index("with spend(")]   # define WIDTHS, EPOCHS, train(); the seeds are run below
    exec(src, ns)
    return ns


def seeds_run(seeds: list[int], ns: dict, write_reference: bool) -> None:
    import greenkit as gk

    spec = gk.targets.load_spec(LAB)
    graded = [t for t in spec.targets if t.weight > 0]
    print(f"\nreference: cnn {ns['WIDTHS']}, {ns['EPOCHS']} epochs, batch {ns['BATCH']}, max lr {ns['MAX_LR']}")
    rows = []
    for seed in seeds:
        with gk.measure() as spent:
            model = ns["train"](ns["WIDTHS"], ns["EPOCHS"], seed)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            report = gk.check(model, lab=LAB, root=tmp)
            check_s = time.perf_counter() - t0
        if report.error:
            print(f"seed {seed}: COULD NOT CHECK: {report.error}")
            continue
        values = {r.id: r for r in report.results}
        rows.append(values)
        parts = []
        for t in graded:
            r = values[t.id]
            parts.append(f"{t.id} {r.value_text()} ({r.status}{', ' + r.method if r.method else ''})")
        print(f"seed {seed}: test accuracy {values['test-accuracy'].value:.2%} (baseline "
              f"{values['baseline-accuracy'].value:.2%}); " + "; ".join(parts))
        print(f"   training {spent.duration_s:.1f} s, {spent.energy_j:.0f} J ({spent.kind}); checker {check_s:.1f} s "
              f"({machine_load()})", flush=True)
        if write_reference and seed == seeds[0]:
            REFERENCE.parent.mkdir(parents=True, exist_ok=True)
            REFERENCE.write_text(report.to_json())
            print(f"   wrote {REFERENCE.relative_to(ROOT)}")
    if not rows:
        return
    print(f"\nover seeds {seeds} ({len(rows)} checked):")
    for t in graded:
        vals = [r[t.id].value for r in rows if r[t.id].value is not None]
        if not vals:
            print(f"  target {t.id:13s} no value (errors: {[r[t.id].reason for r in rows]})")
            continue
        op = str(getattr(t.op, "value", t.op))
        worst = max(vals) if op == "max" else min(vals)
        margin = t.threshold - worst if op == "max" else worst - t.threshold
        passed = sum(r[t.id].status == "pass" for r in rows)
        print(f"  target {t.id:13s} threshold {t.threshold:<5g} values {', '.join(f'{v:.4g}' for v in vals)}  "
              f"worst {worst:.4g}  margin {margin:+.4g}  passed {passed}/{len(rows)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv,
                      extra=lambda p: p.add_argument("--write-reference", action="store_true"))
    print(header())
    if not args.no_notebook:
        run_notebook()
    seeds_run(args.seeds, reference(), args.write_reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
