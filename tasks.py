#!/usr/bin/env python3
"""Set-up and everyday commands that work the same on Linux, macOS and Windows.

    python tasks.py lab      # create .venv if missing, install, start JupyterLab on labs/
    python tasks.py lab --lang zh_CN   # the same on the Chinese labs (labs/zh_CN/), JupyterLab UI in Chinese
    python tasks.py test     # create .venv if missing, install with dev extras, run all tests
    python tasks.py labs     # regenerate labs/ (and labs/zh_CN/) from solutions/ (instructors)

`make lab` and `make test` call this file. Needs only Python >= 3.10 and a
package registry (PyPI or a mirror set with PIP_INDEX_URL). Re-running is
fast: installation is skipped while pyproject.toml is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _env() -> dict:
    """This environment with the venv's scripts first on PATH (nbgrader calls `alembic`)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(VENV)
    # PyTorch's OpenMP threads spin while they wait; on a busy 2-core laptop (or a
    # shared hub) that made per-step kernels ~6x slower. Passive waiting costs
    # little on an idle machine. Kernels started by Jupyter/nbgrader inherit it.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _run(*cmd: str | Path, **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def ensure_env(extras: str = "") -> None:
    """Create .venv if missing and install greenkit (editable) with ``extras``."""
    if sys.version_info < (3, 10):  # noqa: UP036  (tasks.py may run on an old Python)
        sys.exit(f"GreenKit needs Python >= 3.10; this is {sys.version.split()[0]}.")
    if not PY.exists():
        print(f"Creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    spec = (ROOT / "pyproject.toml").read_bytes() + extras.encode()
    stamp = VENV / f".greenkit-installed-{hashlib.sha256(spec).hexdigest()[:16]}"
    if stamp.exists():
        return
    _run(PY, "-m", "pip", "install", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    _run(PY, "-m", "pip", "install", "-e", target, cwd=ROOT)
    for old in VENV.glob(".greenkit-installed-*"):
        old.unlink()
    stamp.touch()


def _lab_language(args: list[str]) -> tuple[str, list[str]]:
    """``--lang X`` out of ``args`` (default: $GREENKIT_LANG or the locale) as ``"zh_CN"`` or ``"en"``.

    `make lab LANG=zh_CN` passes the make variable LANG, which is also the locale variable: any Chinese
    locale (zh_CN.UTF-8, zh-CN, zh) means the Chinese labs; anything else (en_US.UTF-8, C, unset) English.
    Mirrors greenkit.i18n.normalize (tasks.py runs before greenkit is installed).
    """
    value = next((os.environ.get(v) for v in ("GREENKIT_LANG", "LC_ALL", "LC_MESSAGES", "LANG")
                  if os.environ.get(v)), "")
    rest = []
    it = iter(args)
    for a in it:
        if a == "--lang":  # `make lab` passes --lang "" when LANG is unset: keep the default then
            value = next(it, "") or value
        elif a.startswith("--lang="):
            value = a.split("=", 1)[1] or value
        else:
            rest.append(a)
    tag = value.split(".")[0].replace("-", "_").lower()
    zh = tag.startswith("zh") and not tag.startswith(("zh_tw", "zh_hk", "zh_mo", "zh_hant"))
    return ("zh_CN" if zh else "en"), rest


STUDENT_JUPYTER = ROOT / "student-jupyter"   # the student's view: no instructor tools, no news pop-up


def lab(args: list[str]) -> int:
    lang, args = _lab_language(args)
    ensure_env()
    env = _env()
    # Students see the labs and nbgrader's Validate button, not the instructor's Create Assignment,
    # Formgrader or Nbgrader menu, nor JupyterLab's news pop-up (student-jupyter/README.md). On the config
    # path ahead of the venv's own, so it overrides nbgrader's; the user's ~/.jupyter still comes first.
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [str(STUDENT_JUPYTER), env.get("JUPYTER_CONFIG_PATH")]))
    os.chdir(ROOT / "labs")
    if lang != "en":
        folder = ROOT / "labs" / lang
        if not folder.is_dir():
            sys.exit(f"{folder} does not exist: generate the translated labs with `make labs`.")
        # the file browser opens in labs/<lang>/; the English labs stay one folder up
        args = [f"--LabApp.default_url=/lab/tree/{lang}", *args]
        # greenkit's messages, report cards and figures in this language (kernels and terminals inherit it)
        env["GREENKIT_LANG"] = lang
        # JupyterLab's UI language (the language pack is a dependency), as a default the user can still change
        # in Settings > Language: a labconfig/default_setting_overrides.json on the Jupyter config path.
        conf = ROOT / "greenkit" / "i18n" / "jupyter" / lang
        paths = env["JUPYTER_CONFIG_PATH"].split(os.pathsep)
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([paths[0], str(conf), *paths[1:]])  # after the student view
        print(f"Opening the {lang} labs in {folder} (JupyterLab UI: {lang})", flush=True)
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in args:
        # containers (Docker, some hubs and CI boxes) run as root; JupyterLab refuses without this
        print("Running as root: starting JupyterLab with --allow-root", flush=True)
        args = [*args, "--allow-root"]
    return subprocess.call([str(PY), "-m", "jupyter", "lab", *args], env=env)


def test(args: list[str]) -> int:
    ensure_env("dev")
    return subprocess.call([str(PY), "-m", "pytest", *args], cwd=ROOT, env=_env())


def labs(args: list[str]) -> int:
    """Regenerate labs/ from solutions/ with nbgrader (outputs stripped)."""
    ensure_env("dev")
    return subprocess.call([str(PY), "-m", "greenkit.course", "generate", *args], cwd=ROOT, env=_env())


COMMANDS = {"lab": lab, "test": test, "labs": labs}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
