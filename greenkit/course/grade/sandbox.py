"""The sandbox one student's kernel (and the checker of its artefacts) runs in: bubblewrap on Linux.

What the sandboxed process sees (``bwrap`` mount namespace, built from nothing):

- read-only: ``/usr`` (+ the ``/lib``, ``/bin`` links), a few files of ``/etc`` (loader cache, time
  zone, fonts), the Python installation and environment (``sys.base_prefix``, ``sys.prefix``), the
  ``greenkit`` package and the data roots (``datasets/``: Fashion-MNIST and the shipped checkpoints);
- read-write: its own scratch folder (a copy of the student's submitted folder, nothing else) and a
  size-limited ``/tmp``;
- nothing of the course folder: no ``solutions/``, gradebook, ``submitted/`` or ``autograded/``,
  no other student, no instructor home; fresh ``/proc`` and ``/dev``;
- no network: its own network namespace (loopback only); the Jupyter kernel talks to the trusted
  client over ZeroMQ ``ipc`` sockets (Unix sockets in the scratch folder), which cross network
  namespaces;
- its own PID namespace, session and IPC namespace: when the kernel ends, every process it left
  behind (daemons, double forks, ``setsid``) dies with the namespace; ``--die-with-parent`` ties
  the sandbox to the grading process;
- run as root (a grading server, a container), the kernel drops to a dedicated unprivileged uid
  with no capabilities and ``no_new_privs`` (``setpriv``), so ``RLIMIT_NPROC`` counts only its own
  processes; run unprivileged, bwrap makes a user namespace instead.

Limits (:class:`greenkit.course.grade.limits.Limits`) are rlimits set on the sandboxed process
(``prlimit``): ``RLIMIT_DATA`` (memory: an allocation past it raises ``MemoryError`` in the kernel,
the grading server is untouched), ``RLIMIT_NPROC`` (processes and threads), ``RLIMIT_FSIZE``
(largest file); the wall time and the total bytes written are watched by the trusted client.

:func:`probe` says whether such a sandbox can be had here and, if not, why (macOS, Windows, no
``bwrap``, user namespaces disabled in a container).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from greenkit.course.grade.limits import Limits

__all__ = ["SandboxStatus", "SandboxUnavailable", "probe", "sandbox_argv", "readonly_paths", "sandbox_uid",
           "BWRAP_PACKAGE"]

BWRAP_PACKAGE = "bubblewrap"
_ETC_FILES = ("ld.so.cache", "localtime", "fonts", "nsswitch.conf", "hosts", "mime.types", "ssl/certs")


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine (the message says why and what to do)."""


@dataclass(frozen=True)
class SandboxStatus:
    available: bool
    reason: str            # why not (empty when available)
    bwrap: str | None      # path of bwrap
    privileged: bool       # running as root: the kernel drops to a dedicated uid

    def require(self) -> None:
        if not self.available:
            raise SandboxUnavailable(self.reason)


@functools.lru_cache(maxsize=1)
def probe() -> SandboxStatus:
    """Can notebooks be sandboxed here? Cached; runs ``bwrap`` once with every namespace we use."""
    privileged = hasattr(os, "geteuid") and os.geteuid() == 0
    if not sys.platform.startswith("linux"):
        return SandboxStatus(False, f"no sandbox on {sys.platform}: bubblewrap needs Linux namespaces. "
                             "Grade on a Linux machine (or a Linux VM / the course JupyterHub).", None, privileged)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxStatus(False, "bwrap not found: install the Debian/Ubuntu package "
                             f"'{BWRAP_PACKAGE}' (apt-get install {BWRAP_PACKAGE}), or your distribution's "
                             "bubblewrap.", None, privileged)
    if privileged and shutil.which("setpriv") is None:
        return SandboxStatus(False, "running as root but setpriv (package util-linux) is missing: the kernel "
                             "could not drop root inside the sandbox.", bwrap, privileged)
    cmd = [bwrap, *_namespace_args(privileged), "--ro-bind", "/usr", "/usr", *_usr_links(),
           "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return SandboxStatus(False, f"bwrap could not run ({err})", bwrap, privileged)
    if proc.returncode != 0:
        hint = ("user namespaces look disabled (a container without them, or "
                "kernel.unprivileged_userns_clone=0 / user.max_user_namespaces=0): enable them, run the "
                "grader as root, or grade on a machine that has them")
        return SandboxStatus(False, f"bwrap failed: {proc.stderr.strip()[:300]} -- {hint}", bwrap, privileged)
    return SandboxStatus(True, "", bwrap, privileged)


def _namespace_args(privileged: bool) -> list[str]:
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "greenkit-sandbox"]
    if not privileged:
        args.insert(0, "--unshare-user")
    return args


def _usr_links() -> list[str]:
    """``/lib``, ``/bin``... as on the host: links into ``/usr`` (merged /usr) or read-only binds."""
    out = []
    for name in ("lib", "lib64", "lib32", "bin", "sbin"):
        host = Path("/") / name
        if host.is_symlink():
            out += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            out += ["--ro-bind", str(host), f"/{name}"]
    return out


def readonly_paths(extra: tuple[str, ...] = ()) -> list[Path]:
    """What the sandbox may read: Python, the environment, greenkit, the data roots, ``extra``."""
    import greenkit
    from greenkit.paths import data_roots

    paths = [Path(sys.base_prefix), Path(sys.prefix), Path(greenkit.__file__).resolve().parent]
    paths += [r for r in data_roots() if r.is_dir() and r != Path("/usr/share/datasets")]
    paths += [Path(p) for p in extra]
    out: list[Path] = []
    for p in paths:
        p = p.resolve()
        if str(p).startswith("/usr/") or not p.exists():
            continue
        if any(p == q or q in p.parents for q in out):
            continue
        out = [q for q in out if p not in q.parents] + [p]
    return out


def _dirs_for(path: Path, made: set[str]) -> list[str]:
    """``--dir`` every missing parent with mode 0755 (bwrap's default for them is 0700)."""
    args = []
    for parent in reversed(path.parents):
        s = str(parent)
        if s == "/" or s in made or s.startswith("/usr"):
            continue
        made.add(s)
        args += ["--perms", "0755", "--dir", s]
    return args


def sandbox_uid(key: str) -> int:
    """The unprivileged uid a root-run sandbox drops to, derived from ``key`` (one per scratch folder)."""
    import zlib

    return 200_000 + zlib.crc32(key.encode()) % 100_000


def sandbox_argv(command: list[str], *, writable: list[Path], limits: Limits, uid: int | None,
                 readonly: list[Path] | None = None, env: dict[str, str] | None = None,
                 chdir: Path | None = None, status: SandboxStatus | None = None) -> list[str]:
    """The command line that runs ``command`` in the sandbox described in the module docstring.

    ``writable`` folders are bound read-write at their own path (the scratch folder);
    ``readonly`` (default :func:`readonly_paths`) read-only. ``uid``: the uid a root-run
    sandbox drops to (None: stay root but with no capability at all: the checker, which must
    read root-only RAPL counters; unprivileged runs ignore it). The environment is
    cleared: only ``env`` reaches the command.
    """
    status = status or probe()
    status.require()
    made: set[str] = set()
    argv = [status.bwrap, *_namespace_args(status.privileged), "--clearenv",
            "--ro-bind", "/usr", "/usr", *_usr_links()]
    for name in _ETC_FILES:
        host = Path("/etc") / name
        if host.exists():
            argv += [*_dirs_for(host, made), "--ro-bind", str(host), str(host)]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    made.add("/tmp")
    for p in readonly if readonly is not None else readonly_paths(limits.extra_readonly):
        argv += [*_dirs_for(p, made), "--ro-bind", str(p), str(p)]
    for p in writable:
        argv += [*_dirs_for(p, made), "--bind", str(p), str(p)]
    for k, v in (env or {}).items():
        argv += ["--setenv", k, v]
    if chdir is not None:
        argv += ["--chdir", str(chdir)]
    inner = []
    if status.privileged and uid is None:   # root without any capability (reads root's 0400 RAPL counters)
        argv += ["--cap-drop", "ALL"]
    elif status.privileged:
        inner = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                 "--inh-caps=-all", "--bounding-set=-all"]
    inner += ["prlimit", f"--data={limits.memory_bytes}", f"--nproc={limits.processes}",
              f"--fsize={limits.file_bytes}", "--core=0", "--"]
    return argv + inner + list(command)
