"""The ``greenkit`` command tree: every command registered once, loaded only when it runs, aliases kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

from greenkit import cli


def test_every_registered_command_has_arguments_and_a_run():
    """Does each COMMANDS entry resolve to an add_arguments/run pair that builds its parser?"""
    parser = cli.build_parser("*")
    for name in cli.COMMANDS:
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([name, "--help"])
        assert exit_.value.code == 0


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_verify_loads_neither_instructor_tooling_nor_energy_backends():
    """Does parsing `greenkit verify` import only the checker (not greenkit.course, greenkit.energy)?"""
    code = ("import sys; from greenkit import cli; cli.build_parser('verify').parse_args(['verify', 'x']); "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('greenkit.')}))")
    out = _run("-c", code)
    assert out.returncode == 0, out.stderr
    loaded = out.stdout.strip()
    assert "course" not in loaded and "energy" not in loaded and "targets" in loaded, loaded


@pytest.mark.parametrize("argv, expect", [
    (["-m", "greenkit", "zoo", "list"], "FashionCNN"),
    (["-m", "greenkit.zoo", "list"], "FashionCNN"),
    (["-m", "greenkit.course", "--help"], "roundtrip"),
    (["-m", "greenkit", "course", "--help"], "roundtrip"),
    (["-m", "greenkit", "--help"], "leaderboard"),
])
def test_the_command_tree_and_its_aliases_answer(argv, expect):
    """Do `greenkit ...` and the kept aliases `python -m greenkit.zoo|course ...` run?"""
    out = _run(*argv)
    assert out.returncode == 0, out.stderr[-2000:]
    assert expect in out.stdout
