"""Grade one submission on a worker: the trusted client outside, the kernel inside the sandbox.

Run as its own process (``python -m greenkit.course.grade.execute JOB.json RESULT.json``) by
:func:`greenkit.course.grade.runner.grade_task`, so that nothing a notebook does can take the Dask
worker down. Steps, for one student's notebook (already restored to the instructor's shape):

1. unpack the submitted folder into a fresh scratch folder (``work/``; no old
   ``greenkit-submissions/``), owned by the sandbox's uid;
2. static tamper check of the student's cells (:mod:`~greenkit.course.grade.integrity`);
3. start the kernel in the sandbox (``ipc`` transport: its sockets live in ``kernel/``), run a
   snapshot probe, the notebook's cells one by one under the notebook's wall-time limit (a
   watchdog kills the sandbox at the deadline or when the folder outgrows the disk limit), then the
   after-probe; shut the kernel down: the sandbox's PID namespace takes every leftover process with it;
4. give every grade cell that did not run an error output naming the limit (no output = full
   marks in nbgrader, so a cell never reached must fail);
5. scan the artefacts the notebook left for pickles that carry code;
6. verify each greenkit report-card cell in a *new* sandbox (the work folder read-only) with
   ``python -m greenkit verify``; while it runs with energy or latency targets the node is quiet
   (an exclusive node lock: no notebook executes beside it);
7. write the result: outputs per cell, flags, limit hits, energy kind, timings.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_output

from greenkit.course.grade import integrity, locks
from greenkit.course.grade.limits import GradeSettings, Limits
from greenkit.course.grade.sandbox import probe, sandbox_argv, sandbox_uid

__all__ = ["run_job", "verify_sandboxed", "KERNEL_NAME"]

KERNEL_NAME = "greenkit-sandbox"
_SKIP = {".ipynb_checkpoints", "__pycache__", "greenkit-submissions"}


def _unpack(files_b64: str, dest: Path) -> None:
    """Extract the submitted folder (a tar made by the trusted side); no links, no absolute paths."""
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(files_b64)), mode="r:gz") as tar:
        for m in tar.getmembers():
            parts = Path(m.name).parts
            if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in parts or \
                    (parts and parts[0] in _SKIP):
                continue
            tar.extract(m, dest, filter="data")


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def _error(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _limit_hits_in(outputs: list) -> set[str]:
    hits = set()
    for o in outputs:
        if o.get("output_type") != "error":
            continue
        text = f"{o.get('ename')} {o.get('evalue')}"
        if "MemoryError" in text or "can't allocate memory" in text or "Cannot allocate memory" in text \
                or "DefaultCPUAllocator" in text:
            hits.add("memory")
        if "can't start new thread" in text or "Resource temporarily unavailable" in text:
            hits.add("processes")
        if "File too large" in text or "No space left" in text or "Disk quota" in text:
            hits.add("disk")
    return hits


def _cut_outputs(outputs: list, limit: int) -> tuple[list, bool]:
    """Keep outputs up to ``limit`` bytes of JSON (error outputs are always kept: they carry the grade)."""
    kept, size, cut = [], 0, False
    for o in outputs:
        n = len(json.dumps(o))
        if o.get("output_type") == "error" or size + n <= limit:
            if o.get("output_type") == "error" and n > limit:
                o = _error(str(o.get("ename"))[:200], str(o.get("evalue"))[:2000])
            kept.append(o)
            size += n
        else:
            cut = True
    if cut:
        kept.append(new_output("stream", name="stderr", text=f"[greenkit: output cut at {limit} bytes]\n"))
    return kept, cut


class _Watchdog(threading.Thread):
    """Kills the sandbox at the notebook's deadline or when its folder outgrows the disk limit."""

    def __init__(self, pid_getter, folder: Path, deadline: float, disk_bytes: int):
        super().__init__(daemon=True)
        self.pid_getter, self.folder, self.deadline, self.disk_bytes = pid_getter, folder, deadline, disk_bytes
        self.hit: str | None = None
        self.stop = threading.Event()

    def kill(self, why: str):
        if self.hit is None:
            self.hit = why
        pid = self.pid_getter()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)  # bwrap; --die-with-parent and the PID namespace do the rest
            except ProcessLookupError:
                pass

    def run(self):
        while not self.stop.wait(0.5):
            if time.monotonic() > self.deadline:
                self.kill("wall")
            elif _folder_bytes(self.folder) > self.disk_bytes:
                self.kill("disk")


def _kernel_env(scratch: Path) -> dict[str, str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(scratch / "home"),
           "TMPDIR": "/tmp", "LANG": os.environ.get("LANG", "C.UTF-8"), "PYTHONNOUSERSITE": "1",
           "OMP_WAIT_POLICY": "PASSIVE", "MPLCONFIGDIR": str(scratch / "home" / ".mpl"),
           "JUPYTER_PLATFORM_DIRS": "1", "NBGRADER_EXECUTION": "autograde", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    for k in ("GREENKIT_DATA", "OMP_NUM_THREADS"):
        if os.environ.get(k):
            env[k] = os.environ[k]
    return env


def _wrap(command: list[str], **kw) -> list[str]:
    """``command`` in the sandbox, or (no sandbox here, and not required) only under the rlimits."""
    if probe().available:
        return sandbox_argv(command, **kw)
    limits = kw["limits"]
    if shutil.which("prlimit"):
        return ["prlimit", f"--data={limits.memory_bytes}", f"--fsize={limits.file_bytes}", "--", *command]
    return command


def _write_kernelspec(specdir: Path, scratch: Path, work: Path, limits: Limits, uid: int | None) -> None:
    argv = _wrap([sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                 writable=[scratch], limits=limits, uid=uid, env=_kernel_env(scratch), chdir=work)
    (specdir / KERNEL_NAME).mkdir(parents=True)
    (specdir / KERNEL_NAME / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "GreenKit sandbox", "language": "python"}))


async def _run_probe(client, nb, source: str) -> list:
    """Execute trusted probe code in the kernel as a temporary last cell; return its outputs.

    (nbclient routes outputs by cell index, so the probe must have a real index of its own.)
    """
    cell = new_code_cell(source)
    nb.cells.append(cell)
    try:
        await client.async_execute_cell(cell, len(nb.cells) - 1, store_history=False)
    finally:
        nb.cells.pop()
    return cell.outputs


async def _execute(nb, scratch: Path, work: Path, limits: Limits, uid: int | None, nonce: str) -> dict:
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    specdir = scratch.parent / "kernelspec"
    _write_kernelspec(specdir, scratch, work, limits, uid)
    kdir = scratch / "kernel"
    ksm = KernelSpecManager(kernel_dirs=[str(specdir)])
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm, transport="ipc",
                            ip=str(kdir / "k"), connection_file=str(kdir / "connection.json"))
    client = NotebookClient(nb, km=km, kernel_name=KERNEL_NAME, timeout=int(limits.wall_s) + 1,
                            allow_errors=True, startup_timeout=120, resources={"metadata": {"path": str(work)}})
    start = time.monotonic()
    deadline = start + limits.wall_s

    def pid():
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        return getattr(proc, "pid", None)

    dog = _Watchdog(pid, scratch, deadline, limits.disk_bytes)
    before, after = integrity.probe_code(nonce)
    executed: set[int] = set()
    problem = None
    probe_outputs = None
    died = False
    try:
        km.write_connection_file()          # before the launch, so the sandbox's uid can be given it
        if uid is not None:
            os.chown(km.connection_file, uid, uid)
        await client.async_start_new_kernel(cwd=str(work))
        dog.start()
        await client.async_start_new_kernel_client()
        await _run_probe(client, nb, before)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                dog.kill("wall")
                break
            client.timeout = max(1, int(remaining) + 1)
            await client.async_execute_cell(cell, index)
            executed.add(index)
            if dog.hit:
                break
        if not dog.hit:
            client.timeout = 120
            probe_outputs = await _run_probe(client, nb, after)
    except CellTimeoutError:
        dog.kill("wall")
    except DeadKernelError:
        if not dog.hit:   # else the watchdog killed it: the limit is the reason
            died = True
            problem = "the kernel died (the notebook crashed, exited or was killed)"
    except Exception as err:  # the kernel could not start, ZMQ failed...: this student's problem, reported
        problem = f"the notebook could not be run: {type(err).__name__}: {str(err)[:300]}"
    finally:
        dog.stop.set()
        try:
            if client.kc is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                await km.shutdown_kernel(now=True)
            await km.cleanup_resources() if hasattr(km, "cleanup_resources") else None
        except Exception:  # already dead
            pass
    return {"executed": executed, "wall_hit": dog.hit, "died": died and not dog.hit, "problem": problem,
            "probe_outputs": probe_outputs,
            "seconds": time.monotonic() - start}


def _survivors(uid: int | None, wait_s: float = 5.0) -> list[str]:
    """Processes still running as the sandbox's uid after teardown (must be none; SIGKILL is async)."""
    if uid is None:
        return []
    t_end = time.monotonic() + wait_s
    while True:
        found = _uid_processes(uid)
        if not found or time.monotonic() > t_end:
            return found
        time.sleep(0.2)


def _uid_processes(uid: int) -> list[str]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if (p / "status").read_text().split("Uid:")[1].split()[0] == str(uid):
                cmd = (p / "cmdline").read_bytes().replace(bytes(1), b" ")[:80].decode(errors="replace")
                out.append(f"pid {p.name}: {cmd}")
        except (OSError, IndexError):
            pass
    return out


def verify_sandboxed(folder: Path, call, limits: Limits, out_dir: Path, uid: int | None = None,
                     quiet: bool = True) -> tuple[str, float]:
    """Run ``python -m greenkit verify`` on ``folder``'s artefacts in a new sandbox; (Report JSON, seconds).

    ``folder`` (read-only inside) holds ``greenkit-submissions/<lab>``; ``call`` is a
    :class:`~greenkit.targets.check.CheckCall`. With ``quiet`` and energy or latency targets the
    node lock is held exclusively: no notebook executes on this machine meanwhile.
    """
    import subprocess

    from greenkit.targets.report import Report
    from greenkit.targets.spec import load_spec

    sub = folder / "greenkit-submissions" / call.lab
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / "report.json"
    if uid is not None:
        os.chown(out_dir, uid, uid)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(out_dir), "TMPDIR": "/tmp",
           "PYTHONNOUSERSITE": "1", "OMP_WAIT_POLICY": "PASSIVE", "LANG": "C.UTF-8"}
    if os.environ.get("GREENKIT_DATA"):
        env["GREENKIT_DATA"] = os.environ["GREENKIT_DATA"]
    cmd = [sys.executable, "-m", "greenkit", "verify", str(sub), "--lab", call.lab, "--json", str(report_path)]
    for t in call.targets or ():
        cmd += ["--target", t]
    extra = [p for p in (Path("/sys/class/powercap"), Path("/sys/devices/virtual/powercap")) if p.exists()]
    from greenkit.course.grade.sandbox import readonly_paths
    ro = readonly_paths(limits.extra_readonly) + [folder] + extra
    argv = _wrap(cmd, writable=[out_dir], readonly=ro, limits=limits, uid=uid, env=env, chdir=out_dir)
    try:
        spec = load_spec(call.lab)
        needs_quiet = quiet and any(("energy" in t.kind or "latency" in t.kind) for t in spec.targets)
    except Exception:  # the spec itself is checked (and reported) by the verifier
        needs_quiet = False
    t0 = time.perf_counter()
    with locks.node_lock(exclusive=needs_quiet):
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=limits.verify_wall_s)
        except subprocess.TimeoutExpired:
            return Report.failed(call.lab, call.lab, f"the checker ran past {limits.verify_wall_s:.0f} s and "
                                 "was stopped").to_json(), time.perf_counter() - t0
    secs = time.perf_counter() - t0
    if not report_path.is_file():
        tail = " | ".join((proc.stderr or proc.stdout or "").strip().splitlines()[-3:])
        return Report.failed(call.lab, call.lab, f"the checker exited with status {proc.returncode} "
                             f"without a report: {tail[:400]}").to_json(), secs
    try:
        return Report.from_json(report_path.read_text()).to_json(), secs
    except (ValueError, TypeError, KeyError) as err:
        return Report.failed(call.lab, call.lab, f"unreadable checker output: {err}").to_json(), secs


def run_job(job: dict) -> dict:
    """Grade one restored notebook (see the module docstring); returns the result dict."""
    from greenkit.course.preprocessors import verified_outputs
    from greenkit.targets.check import find_check_calls
    from greenkit.targets.report import Report

    settings = GradeSettings.from_dict(job["settings"])
    limits = settings.limits
    nb = nbformat.reads(job["notebook"], as_version=4)
    result = {"student": job["student"], "lab": job["lab"], "notebook": job["notebook_name"],
              "limit_hits": [], "flags": [], "messages": [], "energy_kind": "", "seconds": {},
              "survivors": [], "sandboxed": False}
    status = probe()
    if not status.available and settings.require_sandbox:
        raise RuntimeError(f"--require-sandbox: {status.reason}")
    result["sandboxed"] = status.available
    flags = integrity.static_flags(nb, job["student_cells"])
    with tempfile.TemporaryDirectory(prefix="greenkit-grade-") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        scratch = tmp / "scratch"
        work = scratch / "work"
        for d in (work, scratch / "home", scratch / "kernel"):
            d.mkdir(parents=True)
        _unpack(job["files"], work)
        nbformat.write(nb, work / f"{job['notebook_name']}.ipynb")
        uid = sandbox_uid(str(tmp)) if status.privileged else None
        if uid is not None:
            for root, _dirs, files in os.walk(scratch):
                for name in [root, *(os.path.join(root, f) for f in files)]:
                    os.chown(name, uid, uid)
        nonce = base64.b32encode(os.urandom(10)).decode()
        with locks.node_lock(exclusive=False):
            run = asyncio.run(_execute(nb, scratch, work, limits, uid, nonce))
        result["seconds"]["execute"] = run["seconds"]
        result["survivors"] = _survivors(uid)
        hits = set()
        if run["wall_hit"]:
            hits.add(run["wall_hit"])
        if run["problem"]:
            result["messages"].append(run["problem"])
        # probe: None means it did not answer (silenced, or the run was stopped early)
        if run["probe_outputs"] is not None:
            found = integrity.parse_probe(run["probe_outputs"], nonce)
            flags += found if found is not None else [integrity.Flag("probe", -1, "the after-run probe's "
                                                                      "answer was missing or garbled", "probe")]
        flags += integrity.scan_artefacts(work / "greenkit-submissions")
        for o_cell in nb.cells:
            if o_cell.cell_type == "code":
                hits |= _limit_hits_in(o_cell.outputs)
                o_cell.outputs, cut = _cut_outputs(o_cell.outputs, limits.output_bytes)
                if cut:
                    hits.add("output")
        why = {"wall": f"the notebook reached its wall-time limit ({limits.wall_s:g} s)",
               "disk": f"the notebook wrote more than its disk limit ({limits.disk_bytes / 2**20:.0f} MiB)"}
        stop_reason = why.get(run["wall_hit"] or "", run["problem"] or "the run stopped")
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and index not in run["executed"] and \
                    cell.metadata.get("nbgrader", {}).get("grade"):
                cell.outputs = [_error("GreenkitLimit", f"not run: {stop_reason}; this cell earns 0")]
        # report-card cells: the verdict from a fresh sandboxed process
        kinds = set()
        t0 = time.perf_counter()
        for call in find_check_calls(nb):
            cell = nb.cells[call.cell_index]
            if not cell.metadata.get("nbgrader", {}).get("grade") or call.cell_index not in run["executed"]:
                continue
            rdict, _ = verify_sandboxed(work, call, limits, tmp / f"verify-{call.cell_index}", None,
                                        settings.quiet_verify)
            report = Report.from_json(rdict)
            cell.outputs = verified_outputs(report, call.max_points)
            kinds |= {r.method for r in report.results
                      if r.method and ("energy" in r.kind or "latency" in r.kind)}   # measured | estimated
            result.setdefault("reports", []).append(json.loads(rdict))
        result["seconds"]["verify"] = time.perf_counter() - t0
        result["energy_kind"] = "+".join(sorted(kinds))
        result["limit_hits"] = sorted(hits)
    result["executed"] = sorted(run["executed"])
    result["flags"] = [f.to_dict() for f in flags]
    result["cells"] = [{"index": i, "outputs": c.outputs, "execution_count": c.execution_count}
                       for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text())
    result = run_job(job)
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
