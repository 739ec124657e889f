"""`make lab LANG=zh_CN` (tasks.py lab --lang zh_CN) opens the Chinese labs with JupyterLab in Chinese."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ZH_CONFIG = ROOT / "greenkit" / "i18n" / "jupyter" / "zh_CN"


def _tasks():
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("args, env, lang", [
    (["--lang", "zh_CN"], {}, "zh_CN"),
    (["--lang", "zh_CN.UTF-8"], {"LANG": "en_US.UTF-8"}, "zh_CN"),   # make lab LANG=zh_CN.UTF-8
    (["--lang", ""], {"LANG": "zh_CN.UTF-8"}, "zh_CN"),               # make lab on a Chinese desktop
    (["--lang", ""], {"LANG": "C.UTF-8"}, "en"),
    (["--lang", "en"], {"LANG": "zh_CN.UTF-8"}, "en"),                # make lab LANG=en forces English
    (["--lang=zh_TW.UTF-8"], {}, "en"),                               # no Traditional Chinese catalogue
])
def test_language_of_make_lab(monkeypatch, args, env, lang):
    """Is the make variable LANG (also the locale variable) read as the labs' language, and removed from
    JupyterLab's arguments?"""
    for var in ("GREENKIT_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert _tasks()._lab_language([*args, "--port=9999"]) == (lang, ["--port=9999"])


def test_chinese_lab_environment(monkeypatch):
    """Does `tasks.py lab --lang zh_CN` open labs/zh_CN, set GREENKIT_LANG and put the zh-CN UI default on
    the Jupyter config path (keeping the student view first)?"""
    tasks = _tasks()
    seen = {}
    monkeypatch.setattr(tasks, "ensure_env", lambda extras="": None)
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    monkeypatch.setattr(tasks.os, "chdir", lambda path: seen.setdefault("cwd", Path(path)))
    monkeypatch.setattr(tasks.subprocess, "call", lambda cmd, env: seen.update(cmd=cmd, env=env) or 0)
    assert tasks.lab(["--lang", "zh_CN"]) == 0
    assert seen["cwd"] == ROOT / "labs" and "--LabApp.default_url=/lab/tree/zh_CN" in seen["cmd"]
    assert seen["env"]["GREENKIT_LANG"] == "zh_CN"
    paths = [Path(p) for p in seen["env"]["JUPYTER_CONFIG_PATH"].split(os.pathsep)]
    assert paths[0] == ROOT / "student-jupyter" and ZH_CONFIG in paths
    overrides = json.loads((ZH_CONFIG / "labconfig" / "default_setting_overrides.json").read_text())
    assert overrides["@jupyterlab/translation-extension:plugin"]["locale"] == "zh_CN"


@pytest.mark.slow
def test_running_jupyterlab_defaults_to_chinese(tmp_path):
    """Does a JupyterLab started with the zh_CN config serve zh_CN as its UI language, with the language
    pack installed (the UI's strings then come from jupyterlab-language-pack-zh-cn)?"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(ZH_CONFIG), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--IdentityProvider.token=t", f"--ServerApp.root_dir={tmp_path}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/lab/api/settings/@jupyterlab/translation-extension:plugin"
                                            "?token=t", timeout=10) as r:
                    settings = json.load(r)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("JupyterLab did not start within 120 s")
                time.sleep(1)
        assert settings["schema"]["properties"]["locale"]["default"] == "zh_CN"
        with urllib.request.urlopen(f"{base}/lab/api/translations/zh_CN?token=t", timeout=10) as r:
            pack = json.load(r)
        assert pack["data"]["jupyterlab"].get("Settings") == ["设置"], "the zh-CN language pack is not installed"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_make_labs_builds_the_chinese_labs(monkeypatch):
    """Does `make labs` (greenkit course generate) build labs/zh_CN after the English labs, and only the
    English with --lang en?"""
    import argparse

    from greenkit.course import generation
    from greenkit.i18n import build

    calls = []
    monkeypatch.setattr(generation, "generate", lambda labs=None: calls.append(("en", labs)) or [])
    monkeypatch.setattr(build, "build_command", lambda labs, lang: calls.append((lang, labs)))
    parser = argparse.ArgumentParser()
    generation.add_arguments(parser)
    assert generation.run(parser.parse_args(["generate", "lab00_setup"])) == 0
    assert calls == [("en", ["lab00_setup"]), ("zh_CN", ["lab00_setup"])]
    calls.clear()
    generation.run(parser.parse_args(["generate", "--lang", "en"]))
    assert calls == [("en", None)]
