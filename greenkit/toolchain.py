"""Is there a C++ compiler for ``torch.compile``? (Lab 3 and ``greenkit doctor`` ask.)

On a CPU, ``torch.compile``'s default backend (Inductor) writes C++ and builds it with the
machine's compiler: ``g++``/``clang++`` on Linux (or ``$CXX``), the Xcode command-line tools'
``clang++`` on macOS, MSVC's ``cl.exe`` on Windows. Without one the first call of a compiled
model fails with a long build error. :func:`cpp_compiler` says beforehand, why, and the fix::

    >>> from greenkit.toolchain import cpp_compiler
    >>> check = cpp_compiler()
    >>> check.available, check.compiler        # e.g. (True, '/usr/bin/g++')

It only looks (``PATH``, ``$CXX``, ``xcode-select -p``); it never compiles anything.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["CompilerCheck", "cpp_compiler"]

_FIX = {
    "Darwin": "install Apple's command-line tools: run `xcode-select --install` in a terminal, then restart JupyterLab",
    "Windows": ("install Microsoft's 'Build Tools for Visual Studio' with the 'Desktop development with C++' "
                "workload, then start JupyterLab from the 'x64 Native Tools Command Prompt' so that cl.exe is on PATH"),
    "Linux": "install a C++ compiler, e.g. `sudo apt install g++` (Debian/Ubuntu) or `sudo dnf install gcc-c++` (Fedora)",
}


@dataclass(frozen=True)
class CompilerCheck:
    """Whether ``torch.compile`` can build CPU kernels here: the compiler found, or why not and the fix."""

    available: bool
    compiler: str | None     # absolute path of the compiler found, None when there is none
    reason: str              # one sentence: what was found, or what is missing
    fix: str                 # what to do about it ("" when nothing needs doing)

    def __str__(self) -> str:
        if self.available:
            return f"C++ compiler for torch.compile: {self.compiler}"
        return f"no C++ compiler for torch.compile: {self.reason}. Fix: {self.fix}"


def _xcode_tools_installed() -> bool:
    """macOS ships a ``/usr/bin/clang++`` stub that only offers to install the tools: ask xcode-select."""
    try:
        return subprocess.run(["xcode-select", "-p"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def cpp_compiler() -> CompilerCheck:
    """Look for the C++ compiler Inductor would use on this OS (cached for the process)."""
    system = platform.system()
    fix = _FIX.get(system, _FIX["Linux"])
    env_cxx = os.environ.get("CXX", "").strip()
    if env_cxx:
        found = shutil.which(env_cxx.split()[0])
        if found:
            return CompilerCheck(True, found, f"$CXX={env_cxx}", "")
        return CompilerCheck(False, None, f"$CXX is set to {env_cxx!r}, which is not on PATH",
                             f"unset CXX or point it at an installed compiler; or {fix}")
    if system == "Windows":
        found = shutil.which("cl")
        if found:
            return CompilerCheck(True, found, "MSVC cl.exe on PATH", "")
        return CompilerCheck(False, None, "MSVC's cl.exe is not on PATH", fix)
    if system == "Darwin":
        found = shutil.which("clang++")
        if found and _xcode_tools_installed():
            return CompilerCheck(True, found, "Xcode command-line tools' clang++", "")
        return CompilerCheck(False, None, "the Xcode command-line tools are not installed", fix)
    for name in ("g++", "clang++", "c++"):
        found = shutil.which(name)
        if found:
            return CompilerCheck(True, found, f"{name} on PATH", "")
    return CompilerCheck(False, None, "none of g++, clang++, c++ is on PATH", fix)
