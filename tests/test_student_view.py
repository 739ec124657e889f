"""`make lab` shows students the labs and Validate, none of nbgrader's instructor tools, no news pop-up."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "student-jupyter"
INSTRUCTOR_ONLY = ["@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader",
                   "@jupyter/nbgrader:menu", "@jupyter/nbgrader:course-list"]


def _tasks():
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_make_lab_points_jupyter_at_the_student_config(monkeypatch):
    """Does `tasks.py lab` start JupyterLab in labs/ with the student view first on JUPYTER_CONFIG_PATH?"""
    tasks = _tasks()
    seen = {}
    monkeypatch.setattr(tasks, "ensure_env", lambda extras="": None)
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    monkeypatch.setenv("GREENKIT_LANG", "en")
    monkeypatch.setattr(tasks.os, "chdir", lambda path: seen.setdefault("cwd", Path(path)))
    monkeypatch.setattr(tasks.subprocess, "call", lambda cmd, env: seen.update(cmd=cmd, env=env) or 0)
    assert tasks.lab([]) == 0
    assert seen["cwd"] == ROOT / "labs"
    assert seen["cmd"][1:4] == ["-m", "jupyter", "lab"]
    assert Path(seen["env"]["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0]) == CONFIG


def test_student_config_disables_the_instructor_tools():
    """Are nbgrader's instructor plugins and JupyterLab's news disabled, Validate and the assignment list kept?"""
    page = json.loads((CONFIG / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    for plugin in [*INSTRUCTOR_ONLY, "@jupyterlab/apputils-extension:announcements"]:
        assert page.get(plugin) is True, plugin
    assert "@jupyter/nbgrader:validate-assignment" not in page
    server = json.loads((CONFIG / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert server["nbgrader.server_extensions.formgrader"] is False
    assert server["nbgrader.server_extensions.course_list"] is False
    assert server["nbgrader.server_extensions.validate_assignment"] is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


@pytest.mark.slow
def test_running_student_jupyterlab_hides_formgrader(tmp_path):
    """Does a JupyterLab started as `make lab` does answer 404 for Formgrader and list the plugins as disabled?"""
    port, token = _free_port(), "greenkit-test"
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(CONFIG), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'labs'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                status, page = _get(f"{base}/lab?token={token}")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("JupyterLab did not start within 120 s")
            time.sleep(1)
        for plugin in INSTRUCTOR_ONLY:
            assert plugin in page, f"{plugin} is not in the page's disabledExtensions"
        assert _get(f"{base}/formgrader?token={token}")[0] == 404, "Formgrader must not be served to students"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
