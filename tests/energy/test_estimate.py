"""The estimate backend, for real, on this machine."""

from __future__ import annotations

import time

import pytest

from greenkit.energy import measure
from greenkit.energy.estimate import DEFAULT_WATTS_PER_CORE, EstimateBackend


def burn(seconds: float) -> None:
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        pass


def test_energy_is_cpu_time_times_watts_per_core():
    """Is estimated energy = process CPU time x W/core (checked against time.process_time)?"""
    b = EstimateBackend(watts_per_core=7.0)
    s = b.open()
    c0 = time.process_time()
    burn(0.2)
    c1 = time.process_time()
    e = s.read().total_j
    assert 7.0 * (c1 - c0) * 0.95 <= e <= 7.0 * (time.process_time() - s.cpu0_s) * 1.0001
    assert c1 > c0 and e > 0  # wall time is no bound: a loaded CI machine gives us a fraction of a core


def test_sleeping_costs_nothing_in_the_model():
    """Does sleeping add (almost) no estimated energy, since the model has no idle term?"""
    s = EstimateBackend(watts_per_core=10).open()
    time.sleep(0.2)
    assert s.read().total_j < 10 * 0.02


def test_parameters_are_visible_in_source():
    """Does the source string name the model, the CPU, the rule and where its watts came from?"""
    assert "4.5 W per busy thread (given)" in EstimateBackend(4.5).describe()
    d = EstimateBackend(tdp_w=64, cores=8, cpu="Some CPU").describe()
    assert "8 W per busy thread (TDP 64 W / 8 threads)" in d and "CPU: Some CPU" in d
    assert "rule: equal share of TDP" in d
    d = EstimateBackend(cpu="Unknown Chip 9000").describe()
    assert f"{DEFAULT_WATTS_PER_CORE:g} W per busy thread" in d and "assumed" in d
    assert "'Unknown Chip 9000' is not in the table" in d


def test_env_override(monkeypatch):
    """Does GREENKIT_CPU_TDP_W set the W/core figure, and a bad value raise ValueError?"""
    monkeypatch.setenv("GREENKIT_CPU_TDP_W", "30")
    assert EstimateBackend(cores=2).watts_per_core == 15
    monkeypatch.setenv("GREENKIT_CPU_TDP_W", "lots")
    with pytest.raises(ValueError, match="GREENKIT_CPU_TDP_W"):
        EstimateBackend()


@pytest.mark.parametrize("kwargs", [{"watts_per_core": 0}, {"watts_per_core": -1}, {"tdp_w": float("nan")},
                                    {"cores": 0}])
def test_invalid_parameters_raise(kwargs):
    """Are non-positive or NaN model parameters refused with ValueError?"""
    with pytest.raises(ValueError):
        EstimateBackend(**kwargs)


def test_measure_estimate_is_labelled():
    """Does measure(backend='estimate') say kind='estimated', domain 'cpu (estimated)', and the model?"""
    with measure("estimate") as m:
        burn(0.05)
    assert m.kind == "estimated" and list(m.energy_j_by_domain) == ["cpu (estimated)"]
    assert m.source.startswith("estimate:") and "ESTIMATED" in repr(m)
    assert m.extended_by_s == 0  # no counter to wait for


def test_spinning_openmp_threads_are_flagged_in_the_estimate(monkeypatch):
    """Does an estimate taken while OpenMP may spin say so, and one under PASSIVE waiting not?"""
    from greenkit.energy.estimate import openmp_spin_note

    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert "OMP_WAIT_POLICY=ACTIVE" in openmp_spin_note()
    assert openmp_spin_note() in EstimateBackend().availability().details["notes"]
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert "not set" in openmp_spin_note()
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    assert openmp_spin_note() is None
    assert EstimateBackend().availability().details["notes"] == []


@pytest.mark.parametrize(("code", "preset", "expected"), [
    ("import greenkit", None, "PASSIVE True"),               # before torch: greenkit sets it
    ("import torch, greenkit", None, "None False"),          # after torch: too late, left alone
    ("import greenkit", "ACTIVE", "ACTIVE False"),           # the user's choice is kept
])
def test_import_greenkit_before_torch_sets_passive_waiting(code, preset, expected):
    """Does `import greenkit` set OMP_WAIT_POLICY=PASSIVE only when OpenMP has not read it yet?"""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    probe = (f"{code}; import os; print(os.environ.get('OMP_WAIT_POLICY'), "
             "greenkit.OMP_WAIT_POLICY_SET_BY_GREENKIT)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == expected
