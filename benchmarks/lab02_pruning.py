"""Lab 2 (pruning): solution run time vs its budget, and target margins over seeds.

    python benchmarks/lab02_pruning.py                # whole notebook once, then seeds 0 1 2
    python benchmarks/lab02_pruning.py --no-notebook  # only the seed runs
    python benchmarks/lab02_pruning.py --seeds 0 3 4

1. Executes ``solutions/lab02_pruning/lab02_pruning.ipynb`` (a copy, in a temporary folder) with
   nbclient and prints its wall time against the 150 s budget.
2. For each seed, runs the report card's steps directly with the solution's own functions and
   settings (``SPARSITY``, ``CHANNELS``, ``FT_*`` read from the notebook): global magnitude pruning +
   masked fine-tuning, channel pruning + fine-tuning, with the fine-tuning seed changed, then
   ``gk.check`` (fresh process, like the grade cell). Prints each target's value and margin
   (> 0 passes): sparsity - 0.90, 1.0 - sparse accuracy drop (points), 2.0 - channel accuracy drop,
   0.7 - channel energy ratio (with its 95% interval and whether it is measured or estimated).

The machine is shared: the load average is printed with every timing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from _common import header, load, parse_args, run_solution_notebook

ROOT = Path(__file__).resolve().parent.parent
LAB = "lab02_pruning"
NOTEBOOK = ROOT / "solutions" / LAB / f"{LAB}.ipynb"
BUDGET_S = 150.0


def run_notebook(timeout_s: int = 900) -> float:
    return run_solution_notebook(LAB, timeout_s)[0]


def notebook_namespace() -> dict:
    """The solution's set-up cell, hand-written functions and settings, executed from its own cells."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells if c.cell_type == "code"}
    ns: dict = {}
    for gid in ("setup", "magnitude_mask", "sensitivity_scan", "global_masks", "finetune_masked",
                "filter_norms", "prune_channels"):
        exec(cells[gid], ns)
    # settings from the cells that use them (only the assignment lines, not the runs)
    for gid in ("choose_sparsity", "choose_channels"):
        for line in cells[gid].splitlines():
            if line.split("=")[0].strip() in ("SPARSITY", "FT_LR", "CHANNELS"):
                exec(line, ns)
    return ns


def one_seed(seed: int, ns: dict) -> dict:
    import copy

    import torch

    import greenkit as gk

    t0 = time.perf_counter()
    baseline, prunable = ns["baseline"], ns["PRUNABLE"]
    masks = ns["global_masks"](baseline, prunable, ns["SPARSITY"])
    sparse = copy.deepcopy(baseline)
    with torch.no_grad():
        for n, m in masks.items():
            sparse.get_submodule(n).weight.mul_(m)
    ns["finetune_masked"](sparse, masks, ns["x_ft"], ns["y_ft"], steps=ns["FT_STEPS"], batch_size=ns["FT_BATCH"],
                          lr=ns["FT_LR"], seed=seed)
    channel = ns["prune_channels"](baseline, ns["CHANNELS"], p=1)
    ns["finetune_masked"](channel, {}, ns["x_ft"], ns["y_ft"], steps=ns["FT_STEPS"], batch_size=ns["FT_BATCH"],
                          lr=ns["FT_LR"], seed=seed)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = gk.check({"sparse": sparse, "channel": channel}, lab=LAB)
    t_check = time.perf_counter() - t0
    if report.error:
        raise RuntimeError(f"seed {seed}: the checker failed: {report.error}")
    r = {x.id: x for x in report.results}
    out = {"seed": seed, "train_s": t_train, "check_s": t_check, "passed": report.passed,
           "sparsity": r["sparse-sparsity"].value, "sparse_drop": r["sparse-accuracy"].value,
           "channel_drop": r["channel-accuracy"].value, "energy_ratio": r["channel-energy"].value,
           "energy_ci": r["channel-energy"].interval, "energy_method": r["channel-energy"].method}
    out["margins"] = {"sparse-sparsity": out["sparsity"] - 0.90, "sparse-accuracy": 1.0 - out["sparse_drop"],
                      "channel-accuracy": 2.0 - out["channel_drop"], "channel-energy": 0.7 - out["energy_ratio"]}
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    print(header())

    if not args.no_notebook:
        run_notebook()

    ns = notebook_namespace()
    print(f"settings: SPARSITY {ns['SPARSITY']}, CHANNELS {ns['CHANNELS']}, {ns['FT_STEPS']} steps x "
          f"batch {ns['FT_BATCH']} at lr {ns['FT_LR']} on {len(ns['x_ft'])} training images; "
          f"baseline test accuracy {ns['base_acc']:.4f}", flush=True)
    rows = []
    for seed in args.seeds:
        r = one_seed(seed, ns)
        rows.append(r)
        lo, hi = r["energy_ci"] or (float("nan"), float("nan"))
        print(f"seed {seed}: sparsity {r['sparsity']:.4f}, sparse drop {r['sparse_drop']:+.2f} pt, channel drop "
              f"{r['channel_drop']:+.2f} pt, channel energy ratio {r['energy_ratio']:.3f} [{lo:.3f}, {hi:.3f}] "
              f"({r['energy_method']}); {'PASS' if r['passed'] else 'FAIL'}; fine-tuning {r['train_s']:.0f} s, "
              f"check {r['check_s']:.0f} s; {load()}", flush=True)
    print("smallest margin over seeds (> 0 passes):")
    for target in rows[0]["margins"]:
        worst = min(r["margins"][target] for r in rows)
        print(f"  {target:17s} {worst:+.4f}  (per seed: "
              + ", ".join(f"{r['margins'][target]:+.4f}" for r in rows) + ")")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
