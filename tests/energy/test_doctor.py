"""greenkit doctor and its Python twin diagnose()."""

from __future__ import annotations

import argparse
import json

from greenkit.energy import doctor


def run_cli(argv, capsys) -> tuple[int, str]:
    p = argparse.ArgumentParser()
    doctor.add_arguments(p)
    rc = doctor.run(p.parse_args(argv))
    return rc, capsys.readouterr().out


def test_no_counter_means_estimates_explained(tmp_path, capsys):
    """Without powercap or NVIDIA driver, does doctor say no counter is readable and estimates will be used?"""
    rc, out = run_cli(["--powercap-root", str(tmp_path / "none")], capsys)
    assert rc == 0
    assert "No energy counter is readable here" in out and "ESTIMATES" in out
    assert "[no ] rapl" in out and "[yes] estimate" in out and "to enable" in out
    assert "modprobe intel_rapl_msr" in out
    assert "[no ] apple" in out and "pip install zeus-apple-silicon" in out
    assert "[no ] amdsmi" in out and "ROCm" in out


def test_doctor_says_how_far_off_estimates_are(tmp_path, capsys):
    """Does doctor give the estimate's CPU, TDP lookup, rule, and the cited accuracy of TDP estimates?"""
    _, out = run_cli(["--powercap-root", str(tmp_path / "none")], capsys)
    block = out.split("[yes] estimate")[1]
    assert "CPU:" in block and "TDP table:" in block and "rule:" in block
    assert "how far off:" in block and "-60% to +190%" in block and "codecarbon" in block


def test_json_lists_every_source(tmp_path, capsys):
    """Does --json give machine-readable sources (all registered) and what the labs will use?"""
    rc, out = run_cli(["--json", "--powercap-root", str(tmp_path / "none")], capsys)
    d = json.loads(out)
    assert {s["name"] for s in d["sources"]} >= {"rapl", "pyrapl", "nvml", "estimate"}
    assert all({"available", "reason", "fix", "kind"} <= set(s) for s in d["sources"])
    assert d["labs_will_use"]["kind"] == "estimated" and d["labs_will_use"]["backend"] == "estimate"


def test_readable_rapl_is_what_labs_use(powercap, ticker, capsys):
    """With a readable, advancing fake RAPL tree, does doctor pick it (measured) and show its update period?"""
    powercap.zone("intel-rapl:0", "package-0").zone("intel-rapl:0:2", "dram")
    ticker(powercap, {"intel-rapl:0": 10**12, "intel-rapl:0:2": 10**12}, step_uj=500)
    d = doctor.diagnose(powercap.root)
    assert d["labs_will_use"]["backend"].startswith("rapl") and d["labs_will_use"]["kind"] == "measured"
    rc, out = run_cli(["--powercap-root", str(powercap.root), "--probe"], capsys)
    assert "[yes] rapl" in out and "update period" in out and "probed update_period_s" in out


def test_diagnose_here_matches_this_machine():
    """Does diagnose() on the real machine return an environment and a labs_will_use entry consistent with the sources?"""
    d = doctor.diagnose()
    available = {s["name"] for s in d["sources"] if s["available"]}
    assert set(d["labs_will_use"]["backend"].split("+")) <= available
    assert d["environment"]["logical_cpus"] >= 1


def test_doctor_reports_the_openmp_wait_policy(tmp_path, capsys, monkeypatch):
    """Does doctor warn when idle OpenMP threads spin, and not when they sleep?"""
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    _, out = run_cli(["--powercap-root", str(tmp_path / "none")], capsys)
    assert "OpenMP waiting: ACTIVE: idle PyTorch threads spin" in out
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    _, out = run_cli(["--powercap-root", str(tmp_path / "none")], capsys)
    assert "OpenMP waiting: PASSIVE" in out and "spin" not in out.split("OpenMP waiting:")[1].splitlines()[0]


def test_doctor_says_whether_torch_compile_has_a_compiler(tmp_path, capsys, monkeypatch):
    """Does doctor name the C++ compiler torch.compile would use, and say the fix when there is none?"""
    from greenkit import toolchain

    monkeypatch.setenv("CXX", "g++-does-not-exist")
    toolchain.cpp_compiler.cache_clear()
    try:
        _, out = run_cli(["--powercap-root", str(tmp_path / "none")], capsys)
        line = next(ln for ln in out.splitlines() if "torch.compile" in ln)
        assert "no C++ compiler" in line and "g++-does-not-exist" in line and "eagerly" in line
        assert doctor.diagnose(tmp_path / "none")["environment"]["cpp_compiler"]["available"] is False
    finally:
        toolchain.cpp_compiler.cache_clear()
    monkeypatch.delenv("CXX")
    toolchain.cpp_compiler.cache_clear()
    if toolchain.cpp_compiler().available:
        _, out = run_cli(["--powercap-root", str(tmp_path / "none")], capsys)
        assert f"torch.compile: C++ compiler {toolchain.cpp_compiler().compiler}" in out
