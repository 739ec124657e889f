"""How fast and how fair is `greenkit grade`? Prints three figures (with the machine's load beside them):

1. throughput: submissions per hour grading the same N honest submissions of the quick test lab
   (lab00_setup + a report card, tests/course/classroom.py) on a LocalCluster of 1 and of 2 workers,
   and the parallel efficiency (rate with 2 / (2 x rate with 1));
2. sandbox overhead: seconds to execute one honest notebook through the grader with the sandbox
   and without it (same client, same limits; median of R runs each);
3. energy-verdict flip rate: the same channel-pruned lab02 artefact verified for its
   ``channel-energy`` target (energy ratio <= 0.7, paired A/B windows) K times alone, K times while
   two notebooks execute beside it (the grader's node lock makes it wait for a quiet node), and K
   times beside them with the lock off (what an unmanaged parallel run would measure). A flip is a
   verdict different from the majority verdict of the alone runs; the ratios are printed side by side.

    .venv/bin/python benchmarks/grade_class.py [--n 4] [--repeats 3] [--k 5]

Numbers taken on a shared machine are noisy: the load average is printed with each block.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def _load() -> str:
    from greenkit.course import machine_load
    return machine_load()


def throughput(n: int, tmp: Path) -> dict:
    from course import classroom

    from greenkit.course.grade import GradeSettings, Limits, grade

    students = [f"honest{i:02d}" for i in range(n)]
    classroom.ANSWERS.update({s: classroom.ANSWERS["honest"] for s in students})
    classroom.EXPECTED.update({s: 3 for s in students})
    course = classroom.build_course(tmp / "tp", students)
    settings = GradeSettings(limits=Limits(wall_s=900, memory_bytes=2 * 2**30))
    out = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        res = grade(classroom.LAB, course=course, workers=workers, settings=settings, force=True, progress=False)
        secs = time.perf_counter() - t0
        scores = sorted({r["score"] for r in res.rows})
        out[workers] = {"seconds": secs, "per_hour": 3600 * n / secs, "scores": scores, "load": _load()}
        print(f"  {workers} worker(s): {n} submissions in {secs:.0f} s = {3600 * n / secs:.0f} submissions/hour "
              f"(scores {scores}); {_load()}", flush=True)
    eff = out[2]["per_hour"] / (2 * out[1]["per_hour"])
    print(f"  parallel efficiency with 2 workers: {eff:.2f}")
    out["efficiency"] = eff
    return out


def _honest_job(tmp: Path, student: str) -> dict:
    """A grading job (what the runner sends a worker) for the test class's honest lab00 notebook."""
    import base64
    import io
    import tarfile

    import nbformat
    from course import classroom

    from greenkit.course.grade.limits import GradeSettings, Limits
    from greenkit.course.grade.restore import instructor_template, restore

    course = tmp / "ov" / "course"
    if not course.exists():
        classroom.build_course(tmp / "ov", ["honest"])
    settings = GradeSettings(limits=Limits(wall_s=900, memory_bytes=2 * 2**30))
    t = instructor_template(course / "solutions" / classroom.LAB / f"{classroom.LAB}.ipynb",
                            settings.code_stub, settings.text_stub)
    r = restore((course / "submitted" / "honest" / classroom.LAB / f"{classroom.LAB}.ipynb").read_text(), t)
    buf = io.BytesIO()
    tarfile.open(fileobj=buf, mode="w:gz").close()
    return {"student": student, "lab": classroom.LAB, "notebook_name": classroom.LAB,
            "notebook": nbformat.writes(r.nb), "student_cells": r.student_cells,
            "files": base64.b64encode(buf.getvalue()).decode(), "settings": settings.to_dict()}


def sandbox_overhead(repeats: int, tmp: Path) -> dict:
    from greenkit.course.grade import execute
    from greenkit.course.grade.sandbox import SandboxStatus, probe

    job = _honest_job(tmp, "honest")
    sandboxed = probe()
    off = SandboxStatus(False, "benchmark: unsandboxed baseline", None, sandboxed.privileged)
    times = {"sandboxed": [], "unsandboxed": []}
    for _ in range(repeats):
        for mode in ("sandboxed", "unsandboxed"):
            execute.probe = (lambda: sandboxed) if mode == "sandboxed" else (lambda: off)
            res = execute.run_job(job)
            assert res["sandboxed"] == (mode == "sandboxed")
            times[mode].append(res["seconds"]["execute"])
    execute.probe = probe
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"  execute one honest notebook, median of {repeats}: sandboxed {med['sandboxed']:.1f} s, "
          f"unsandboxed {med['unsandboxed']:.1f} s, overhead {med['sandboxed'] - med['unsandboxed']:+.1f} s "
          f"({100 * (med['sandboxed'] / med['unsandboxed'] - 1):+.0f}%); runs {json.dumps(times)}; {_load()}",
          flush=True)
    return {"median_s": med, "runs": times}


def flip_rate(k: int, tmp: Path) -> dict:
    from greenkit import zoo
    from greenkit.course.grade import execute, runner
    from greenkit.course.grade.limits import Limits
    from greenkit.targets.check import CheckCall, submit

    folder = tmp / "flip"
    folder.mkdir()
    torch_model = zoo.ARCHITECTURES["FashionCNN"](channels=[16, 32, 64], hidden=128).eval()
    submit("lab02_pruning", root=folder, channel=torch_model)
    call = CheckCall(0, "lab02_pruning", ("channel-energy",), 1.0)
    limits = Limits(wall_s=900, memory_bytes=4 * 2**30, verify_wall_s=900)

    def once(quiet: bool, i: int) -> tuple[float | None, bool, str]:
        text, _ = execute.verify_sandboxed(folder, call, limits, tmp / f"v-{quiet}-{i}-{time.time_ns()}",
                                           quiet=quiet)
        rep = json.loads(text)
        res = [t for t in rep.get("results", []) if t.get("id") == "channel-energy"]
        if not res:
            return None, False, rep.get("error", "")
        value = res[0].get("value")
        # the energy verdict itself (the target's status also carries the spec's accuracy gate, which an
        # untrained narrow model fails whatever the energy)
        return value, value is not None and value <= res[0].get("threshold", 0.7), res[0].get("method") or ""

    # the background: notebooks of the quick lab executing, two at a time, for as long as needed
    stop = threading.Event()

    def background():
        job = _honest_job(tmp, "bg")
        while not stop.is_set():
            runner.grade_task(job)

    out = {}
    for mode in ("alone", "parallel (node lock)", "parallel (no lock)"):
        threads = []
        if mode != "alone":
            threads = [threading.Thread(target=background, daemon=True) for _ in range(2)]
            for th in threads:
                th.start()
            time.sleep(20)   # let the notebooks get going
        runs = [once(mode != "parallel (no lock)", i) for i in range(k)]
        stop.set()
        for th in threads:
            th.join()
        stop.clear()
        out[mode] = runs
        print(f"  {mode:<22} ratios {[None if v is None else round(v, 3) for v, _, _ in runs]} "
              f"verdicts {['pass' if p else 'fail' for _, p, _ in runs]} ({runs[0][2] or 'no value'}); {_load()}",
              flush=True)
    majority = sum(p for _, p, _ in out["alone"]) * 2 >= k
    for mode, runs in out.items():
        flips = sum(p != majority for _, p, _ in runs)
        print(f"  flip rate {mode:<22} {flips}/{k}")
    return {m: [[v, p, how] for v, p, how in runs] for m, runs in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4, help="honest submissions for the throughput figure")
    ap.add_argument("--repeats", type=int, default=3, help="runs per mode for the sandbox overhead")
    ap.add_argument("--k", type=int, default=5, help="verifications per mode for the flip rate")
    ap.add_argument("--only", choices=["throughput", "overhead", "flip"], action="append")
    args = ap.parse_args(argv)
    parts = args.only or ["throughput", "overhead", "flip"]
    tmp = Path(tempfile.mkdtemp(prefix="grade-bench-"))
    try:
        print(f"greenkit grade benchmark; {_load()}")
        if "throughput" in parts:
            print("1. throughput (LocalCluster):")
            throughput(args.n, tmp)
        if "overhead" in parts:
            print("2. sandbox overhead per notebook:")
            sandbox_overhead(args.repeats, tmp)
        if "flip" in parts:
            print(f"3. energy verdict (lab02_pruning channel-energy, ratio <= 0.7), K={args.k} per mode:")
            flip_rate(args.k, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
