"""Dask: where the notebooks run. A LocalCluster sized to the machine, or an existing cluster.

The scheduler is Dask's; we only submit one task per student (:func:`grade_task`) and collect the
results as they finish. A task carries everything a worker needs (the restored notebook, the
student's folder as a tar, the settings), so workers need the Python environment with
greenkit, the data roots, and ``bwrap`` - not the course folder, which never leaves the machine that
holds the gradebook.

Each task starts its own process (``python -m greenkit.course.grade.execute``), so a notebook that
crashes, hangs or kills its parent takes down that process at most, never the worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["grade_task", "dask_client", "default_workers"]


def default_workers(memory_bytes: int) -> int:
    """Workers a LocalCluster gets here: one per 2 cores (PyTorch uses 2 threads), within memory."""
    cores = os.cpu_count() or 1
    try:
        import psutil
        mem = psutil.virtual_memory().total
    except ImportError:  # psutil is a dependency; fall back to cores only
        mem = 1 << 60
    return max(1, min(cores // 2, int(mem * 0.8 // max(memory_bytes, 1))))


def grade_task(job: dict) -> dict:
    """Run on a Dask worker: grade one job in its own process; a failure becomes that student's error."""
    limits = job["settings"]["limits"]
    timeout = limits["wall_s"] + 2 * limits["verify_wall_s"] + 300
    with tempfile.TemporaryDirectory(prefix="greenkit-task-") as tmp:
        jpath, rpath = Path(tmp) / "job.json", Path(tmp) / "result.json"
        jpath.write_text(json.dumps(job))
        env = dict(os.environ)
        if job.get("threads"):
            env["OMP_NUM_THREADS"] = str(job["threads"])
        try:
            proc = subprocess.run([sys.executable, "-m", "greenkit.course.grade.execute", str(jpath), str(rpath)],
                                  capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return {"student": job["student"], "lab": job["lab"], "error": f"the grading process ran past "
                    f"{timeout:.0f} s and was stopped"}
        if proc.returncode != 0 or not rpath.is_file():
            tail = " | ".join((proc.stderr or "").strip().splitlines()[-4:])
            return {"student": job["student"], "lab": job["lab"],
                    "error": f"the grading process failed (status {proc.returncode}): {tail[:600]}"}
        result = json.loads(rpath.read_text())
        result["worker"] = os.uname().nodename if hasattr(os, "uname") else ""
        return result


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None, memory_bytes: int = 4 << 30):
    """A ``distributed.Client``: on ``scheduler`` (``tcp://HOST:8786``) or a new LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler, timeout=30)
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or default_workers(memory_bytes)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit=0,
                           dashboard_address=None, silence_logs=40)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
