"""The package works installed from a wheel, outside the repository (no ROOT/solutions to lean on)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(site folder with the wheel installed by pip --target, the wheel file)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, site = tmp / "src", tmp / "dist", tmp / "site"
    # build from a copy: an in-tree build leaves build/ behind, whose stale files a later wheel would ship
    shutil.copytree(REPO / "greenkit", src / "greenkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(src)], check=True, capture_output=True, cwd=tmp)
    wheel = next(dist.glob("greenkit-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, cwd=tmp)
    return site, wheel


def _run(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GREENKIT_COURSE", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=site.parent,
                          timeout=300)


def test_the_wheel_ships_the_package_data_it_declares(installed):
    """Does the wheel hold py.typed and every lab's target spec (declared in pyproject.toml)?"""
    _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "greenkit/py.typed" in names
    specs = {p.name for p in (REPO / "greenkit" / "targets" / "specs").glob("*.toml")}
    assert specs and {f"greenkit/targets/specs/{s}" for s in specs} <= names


def test_the_installed_package_imports_and_runs_outside_the_repo(installed):
    """Do greenkit, greenkit.course, greenkit.targets (a spec) and the zoo import from the installed copy,
    with instructor tooling saying how to find a course instead of failing at import?"""
    site, _ = installed
    code = (
        "import greenkit, greenkit.course, greenkit.targets, greenkit.zoo, greenkit.metrics\n"
        f"assert greenkit.__file__.startswith({str(site)!r}), greenkit.__file__\n"
        "print(greenkit.targets.load_spec('lab00_setup').lab)\n"
        "from greenkit.course.layout import CourseNotFoundError\n"
        "try:\n    greenkit.course.SOLUTIONS\nexcept CourseNotFoundError as err:\n    print('no course:', err)\n"
    )
    proc = _run(site, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert "lab00_setup" in proc.stdout and "GREENKIT_COURSE" in proc.stdout


def test_greenkit_doctor_runs_from_the_installed_copy(installed):
    """Does `greenkit doctor` (python -m greenkit doctor) run from the wheel outside the repo?"""
    site, _ = installed
    proc = _run(site, "-m", "greenkit", "doctor")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip(), "doctor printed nothing"
