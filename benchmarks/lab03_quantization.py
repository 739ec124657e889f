"""Lab 3 (quantization): solution run time vs the 150 s budget, and target margins over 3 seeds.

    python benchmarks/lab03_quantization.py [--skip-notebook]

1. Executes solutions/lab03_quantization/lab03_quantization.ipynb with nbclient and prints its
   wall time against the 150 s budget (with the machine's load average, since CPUs here are shared).
2. For seeds 0, 1, 2 runs the key steps directly, with the notebook's own cells and the student's
   choice read from it (``CALIBRATION``, ``PCT``; seed = the QAT fine-tune's seed and the choice of
   calibration images):
   INT8 (own weights + percentile-calibrated activations) and INT4 (packed, after QAT) accuracy drop
   and size ratio vs the targets of greenkit/targets/specs/lab03_quantization.toml, and the torchao
   INT8 latency / energy ratios to FP32 (batch 256) measured with gk.compare; then, as in the
   notebook's INT8 energy grade cell, the solution's pipeline against a second, identical reference
   pipeline (must be <= 1.3), and a wrong pipeline (compiled FP32, not quantized) against the same
   reference (must be > 1.3, or the grade cell could not tell them apart).
"""

from __future__ import annotations

import copy
import statistics
import sys
import time
from pathlib import Path

import nbformat
from _common import header, load, parse_args, run_solution_notebook

ROOT = Path(__file__).resolve().parent.parent
LAB = "lab03_quantization"
NB = ROOT / "solutions" / LAB / f"{LAB}.ipynb"
BUDGET_S = 150
VS_REF_MAX = 1.3      # must match the int8_energy grade cell


def run_notebook() -> float:
    return run_solution_notebook(LAB, 900)[0]


def cells() -> dict[str, str]:
    nb = nbformat.read(NB, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and "grade_id" in c.metadata.get("nbgrader", {})}


def margins(seeds=(0, 1, 2)) -> None:
    import warnings
    warnings.filterwarnings("ignore")
    src = cells()
    ns: dict = {}
    for gid in ("setup", "quant_basics", "quantize_weight", "sqnr", "int4_pack", "fake_quant", "calibrate",
                "int8_torchao", "choose_calibration"):
        exec(src[gid], ns)
    print(f"the solution's choice: CALIBRATION = {ns['CALIBRATION']!r}, PCT = {ns['PCT']}", flush=True)
    # the model-building cell without its printing loop
    exec(src["quant-models"].split("int8_w = ")[0], ns)
    exec(src["qat-run"].split("t0 = time.perf_counter()")[0], ns)
    import torch

    import greenkit as gk
    baseline, accuracy, base_acc = ns["baseline"], ns["accuracy"], ns["base_acc"]
    base_bytes = ns["size_bytes"](baseline)
    x_all, _ = gk.data.load("train", n_per_class=300)
    batch = ns["x_test"][:256]
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(seed)
        calib = x_all[torch.randperm(len(x_all), generator=g)[:1000]]
        ranges = ns["calibrate"](baseline, [calib[i:i + 250] for i in range(0, 1000, 250)], ns["CALIBRATION"], ns["PCT"])
        int8 = ns["quantize_mlp"](baseline, 8, ranges)
        int4 = ns["quantize_mlp"](ns["qat_finetune"](baseline, n_bits=4, seed=seed), 4)
        torch.manual_seed(seed)
        fast, ref = ns["int8_torchao"](baseline), ns["int8_torchao"](baseline)
        fp32 = torch.compile(copy.deepcopy(baseline))   # a wrong answer: compiled but not quantized
        with torch.inference_mode():
            fast(batch)
            ref(batch)
            fp32(batch)
            c_you = gk.compare(baseline, fast, batch, pairs=8)
            c_vs = gk.compare(ref, fast, batch, pairs=8)     # the grade cell: yours vs the reference
            c_wrong = gk.compare(ref, fp32, batch, pairs=8)
        r = dict(seed=seed,
                 int8_drop=(base_acc - accuracy(int8)) * 100, int8_size=ns["size_bytes"](int8) / base_bytes,
                 int4_drop=(base_acc - accuracy(int4)) * 100, int4_size=ns["size_bytes"](int4) / base_bytes,
                 lat=c_you.latency_ratio, energy=c_you.energy_ratio, vs_ref=c_vs.energy_ratio,
                 vs_ref_ci=c_vs.energy_ratio_ci95, wrong=c_wrong.energy_ratio,
                 kind=c_you.kind, s=time.perf_counter() - t0)
        rows.append(r)
        print(f"seed {seed}: INT8 drop {r['int8_drop']:+.2f} pt (target <= 0.5, margin {0.5 - r['int8_drop']:.2f}), "
              f"size {r['int8_size']:.3f} (<= 0.3); INT4 drop {r['int4_drop']:+.2f} pt (<= 1.5, margin "
              f"{1.5 - r['int4_drop']:.2f}), size {r['int4_size']:.3f} (<= 0.2); torchao INT8 latency ratio "
              f"{r['lat']:.3f} (speed-up {1 / r['lat']:.2f}x), energy ratio {r['energy']:.3f} ({r['kind']}); "
              f"grade cell: yours / reference INT8 {r['vs_ref']:.3f} [{r['vs_ref_ci'][0]:.3f}, {r['vs_ref_ci'][1]:.3f}] "
              f"(<= {VS_REF_MAX}, margin {VS_REF_MAX - r['vs_ref']:+.3f}); unquantized FP32 / reference "
              f"{r['wrong']:.2f} (must fail); {r['s']:.0f} s; "
              f"load {load()}", flush=True)
    print(f"\nbaseline test accuracy {base_acc:.4f}, {torch.get_num_threads()} thread(s), {torch.__version__}")
    for key, thr in (("int8_drop", 0.5), ("int8_size", 0.3), ("int4_drop", 1.5), ("int4_size", 0.2)):
        worst = max(r[key] for r in rows)
        print(f"{key:10s} worst {worst:.3f} vs threshold {thr} -> margin {thr - worst:.3f}")
    print(f"grade cell yours / reference: worst {max(r['vs_ref'] for r in rows):.3f} (<= {VS_REF_MAX}); a wrong "
          f"(unquantized) pipeline: lowest {min(r['wrong'] for r in rows):.2f} (must be > {VS_REF_MAX})")
    print(f"INT8 speed-up on this CPU (median of seeds): {1 / statistics.median(r['lat'] for r in rows):.2f}x; "
          f"energy ratio {statistics.median(r['energy'] for r in rows):.3f} ({rows[0]['kind']})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv, seeds=None)
    print(header())
    if not args.no_notebook:
        run_notebook()
    margins()
    return 0


if __name__ == "__main__":
    sys.exit(main())
