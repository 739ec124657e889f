"""Lab 4 (knowledge distillation): solution run time vs its budget, and target margins over seeds.

    python benchmarks/lab04_distillation.py                  # notebook once, then seeds 0 1 2
    python benchmarks/lab04_distillation.py --skip-notebook  # only the seed runs

1. Executes ``solutions/lab04_distillation/lab04_distillation.ipynb`` (a copy, in a temporary
   folder) with nbclient and prints its wall time against the 150 s budget.
2. For each seed, runs the graded steps directly with the solution's own functions (exec'd from
   the notebook's cells) and the notebook's regime: teacher logits once on the transfer set, the
   scratch student (labelled images only) and the distilled student. Prints test accuracies, the
   gain of distillation over scratch (mean, standard deviation and minimum over seeds), and each
   report-card target's margin as the checker computes it (accuracy drop vs the teacher and gain
   over scratch on the spec's test subset, parameter ratio, energy ratio from ``gk.compare`` at the
   spec's batch and pairs).
3. Prints the lifecycle numbers behind the break-even figure (energy of distillation, energy per
   inference of teacher and student, break-even N) for seed 0.

The machine is shared: the load average is printed with every timing.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

from _common import header, load, parse_args, run_solution_notebook

from greenkit.course import cell_sources

ROOT = Path(__file__).resolve().parent.parent
LAB = "lab04_distillation"
NOTEBOOK = ROOT / "solutions" / LAB / f"{LAB}.ipynb"
BUDGET_S = 150.0



def run_notebook(timeout_s: int = 900) -> float:
    wall, nb = run_solution_notebook(LAB, timeout_s)
    for cell in nb.cells:  # the notebook's own printed results, for the record
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and cell.metadata.get("nbgrader", {}).get("grade_id") in (
                    "regime", "cache-run", "versus", "sweep-run", "life-run", "measure"):
                print("   | " + out["text"].rstrip().replace("\n", "\n   | "))
    return wall


def _cells() -> dict[str, str]:
    return cell_sources(LAB)


def reference() -> dict:
    """The solution's functions and regime constants, executed from the notebook's own cells."""
    import torch
    import torch.nn.functional as F

    import greenkit as gk

    cells = _cells()
    ns = {"math": math, "time": time, "torch": torch, "F": F, "gk": gk}
    for gid in ("log_softmax_t", "distillation_loss", "teacher_logits", "train_student", "break_even"):
        exec(cells[gid], ns)
    regime = cells["regime"]
    for name in ("N_PER_CLASS, N_TRANSFER, N_VAL", "STUDENT_WIDTHS"):
        line = next(ln for ln in regime.splitlines() if ln.startswith(name + " ="))
        exec(line, ns)
    for gid, name in (("choose_t_alpha", "T_BEST, ALPHA_BEST"), ("versus", "EPOCHS"), ("versus", "SCRATCH_EPOCHS")):
        exec(next(ln for ln in cells[gid].splitlines() if ln.startswith(name + " =")), ns)
    return ns


def seeds_run(seeds: list[int], ns: dict) -> None:
    import torch

    import greenkit as gk

    spec = gk.targets.load_spec(LAB)
    thr = {t.id: t.threshold for t in spec.targets}
    teacher = gk.zoo.load("cnn")
    make = lambda: gk.zoo.build("cnn", **ns["STUDENT_WIDTHS"])  # noqa: E731
    npc, nu = ns["N_PER_CLASS"], ns["N_TRANSFER"]
    x_train, _ = gk.data.load("train")
    x_lab, y_lab = gk.data.load("train", n_per_class=npc)
    x = torch.cat([x_lab, x_train[-nu:]])
    y = torch.cat([y_lab, torch.full((nu,), -1)])
    x_test, y_test = gk.data.load("test")
    x_chk, y_chk = gk.data.load("test", n_per_class=spec.data.n_per_class)

    def acc(model, xs, ys):
        model.eval()
        with torch.no_grad():
            return sum((model(xs[i:i + 2000]).argmax(1) == ys[i:i + 2000]).sum().item()
                       for i in range(0, len(xs), 2000)) / len(xs)

    with gk.measure() as e_logits:
        soft = ns["teacher_logits"](teacher, x)
    acc_t, acc_t_chk = acc(teacher, x_test, y_test), acc(teacher, x_chk, y_chk)
    print(f"\nteacher: test accuracy {acc_t:.2%} (checker subset {acc_t_chk:.2%}); logits for {len(x):,} images "
          f"{e_logits.duration_s:.1f} s, {e_logits.energy_j:.0f} J {e_logits.kind} ({load()})")
    print(f"regime: {npc}/class labelled, {nu:,} unlabelled, T={ns['T_BEST']}, alpha={ns['ALPHA_BEST']}, "
          f"{ns['EPOCHS']} epochs distilled, {ns['SCRATCH_EPOCHS']} epochs scratch")
    rows = []
    for seed in seeds:
        torch.manual_seed(seed)
        scratch = make()
        t0 = time.perf_counter()
        ns["train_student"](scratch, x[:len(x_lab)], soft[:len(x_lab)], y[:len(x_lab)], T=1.0, alpha=1.0,
                            epochs=ns["SCRATCH_EPOCHS"], seed=seed)
        t_scratch = time.perf_counter() - t0
        torch.manual_seed(seed)
        student = make()
        with gk.measure() as e_train:
            ns["train_student"](student, x, soft, y, T=ns["T_BEST"], alpha=ns["ALPHA_BEST"], epochs=ns["EPOCHS"],
                                seed=seed)
        a_s, a_d = acc(scratch, x_test, y_test), acc(student, x_test, y_test)
        a_d_chk = acc(student, x_chk, y_chk)
        drop_chk = 100 * (acc_t_chk - a_d_chk)
        gain_chk = 100 * (a_d_chk - acc(scratch, x_chk, y_chk))
        cmp = gk.compare(teacher, student, x_chk[:spec.energy.batch], pairs=spec.energy.pairs)
        n_s = sum(p.numel() for p in student.parameters())
        n_t = sum(p.numel() for p in teacher.parameters())
        row = dict(seed=seed, scratch=a_s, distilled=a_d, gain=100 * (a_d - a_s), drop=100 * (acc_t - a_d),
                   drop_chk=drop_chk, gain_chk=gain_chk, params=n_s / n_t, energy=cmp.energy_ratio, energy_hi=cmp.energy_ratio_ci95[1],
                   kind=cmp.kind, train_s=e_train.duration_s, train_j=e_train.energy_j, scratch_s=t_scratch)
        rows.append(row)
        print(f"seed {seed}: scratch {a_s:.2%}, distilled {a_d:.2%}, gain {row['gain']:+.2f} points "
              f"(checker subset {gain_chk:+.2f}), drop vs teacher {row['drop']:.2f} (checker subset {drop_chk:.2f}); "
              f"energy ratio "
              f"{cmp.energy_ratio:.3f} (CI up to {cmp.energy_ratio_ci95[1]:.3f}, {cmp.kind}); distil "
              f"{e_train.duration_s:.1f} s / {e_train.energy_j:.0f} J, scratch {t_scratch:.1f} s ({load()})")
        if seed == seeds[0]:
            inf_t = gk.measure_inference(teacher, x_chk[:256], windows=6)
            inf_s = gk.measure_inference(student, x_chk[:256], windows=6)
            e_distil = e_logits.energy_j + e_train.energy_j
            n_star = ns["break_even"](e_distil, inf_t.energy_j_per_inference, inf_s.energy_j_per_inference)
            print(f"  lifecycle (figure of Part 6): distil {e_distil:.0f} J, teacher "
                  f"{inf_t.energy_j_per_inference * 1e3:.3f} mJ/inf, student {inf_s.energy_j_per_inference * 1e3:.3f} "
                  f"mJ/inf ({inf_t.kind}); break-even after {n_star:,.0f} inferences")

    def stats(key):
        vals = [r[key] for r in rows]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return statistics.mean(vals), sd, min(vals), max(vals)

    print(f"\nover seeds {seeds}:")
    for key, label in (("scratch", "scratch accuracy"), ("distilled", "distilled accuracy")):
        m, sd, lo, hi = stats(key)
        print(f"  {label:22s} mean {m:.2%}  sd {100 * sd:.2f} points  range {lo:.2%}-{hi:.2%}")
    m, sd, lo, hi = stats("gain")
    print(f"  {'gain over scratch':22s} mean {m:+.2f}  sd {sd:.2f}  min {lo:+.2f} points (all 10,000 test images)")
    m, sd, lo, hi = stats("gain_chk")
    print(f"  target {'gain':9s} threshold {thr['gain']:<6g} worst {lo:.4g}  mean {m:.4g}  margin {lo - thr['gain']:+.4g}")
    for key, tid in (("drop_chk", "accuracy"), ("params", "params"), ("energy", "energy")):
        m, sd, lo, hi = stats(key)
        print(f"  target {tid:9s} threshold {thr[tid]:<6g} worst {hi:.4g}  mean {m:.4g}  margin {thr[tid] - hi:+.4g}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    print(header())
    if not args.no_notebook:
        run_notebook()
    seeds_run(args.seeds, reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
