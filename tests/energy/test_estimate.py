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
    e = s.read().total_j
    # only CPU time is charged (other threads of this process may use some); no wall-time (idle) term,
    # which at 10 W would be 2 J for the 0.2 s
    assert e <= 10 * (time.process_time() - s.cpu0_s) * 1.0001
    assert e < 0.5


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


# ------------------------------------------------------------------ the TDP table
def test_tdp_table_is_codecarbons_file_unchanged():
    """Is data/cpu_tdp.csv the CodeCarbon file recorded in data/README.md (checksum), with its MIT licence beside it?"""
    import hashlib

    from greenkit.energy.estimate import TDP_TABLE, tdp_table

    digest = hashlib.sha256(TDP_TABLE.read_bytes()).hexdigest()
    readme = (TDP_TABLE.parent / "README.md").read_text()
    assert digest in readme
    assert "MIT License" in (TDP_TABLE.parent / "cpu_tdp.LICENSE").read_text()
    table = tdp_table()
    assert len(table) > 4800 and all(t > 0 for _, t in table.values())


@pytest.mark.parametrize(("reported", "name", "tdp"), [
    ("Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", "Intel Core i7-1165G7", 28),          # Linux /proc/cpuinfo
    ("11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz", "Intel Core i5-1135G7", 28),  # Windows registry
    ("AMD Ryzen 7 5800U with Radeon Graphics", "AMD Ryzen 7 5800U", 15),
    ("AMD Ryzen 5 5600X 6-Core Processor", "AMD Ryzen 5 5600X", 65),
    ("Apple M2", "Apple M2", 22),                                                    # macOS sysctl
])
def test_cpu_names_as_the_os_reports_them_are_found(reported, name, tdp):
    """Are CPU names as Linux, Windows and macOS report them matched to the right table row and TDP?"""
    from greenkit.energy.estimate import match_tdp

    m = match_tdp(reported)
    assert (m.name, m.tdp_w) == (name, tdp), m


@pytest.mark.parametrize("reported", ["AMD EPYC", "Apple M1 Pro", "Intel64 Family 6 Model 140 Stepping 1", None])
def test_ambiguous_or_unknown_cpus_get_no_tdp(reported):
    """Is a vague name (could be many chips), a stronger tier of a listed chip, or no name given no TDP, with the reason?"""
    from greenkit.energy.estimate import match_tdp

    m = match_tdp(reported)
    assert m.tdp_w is None and m.how


def test_table_tdp_is_shared_by_hardware_threads(monkeypatch):
    """With a known CPU on bare metal, is W/thread = table TDP / threads, so all threads busy for 1 s = TDP joules?"""
    from greenkit.energy import estimate

    monkeypatch.setattr(estimate, "_hypervisor", lambda: False)
    monkeypatch.delenv("GREENKIT_WATTS_PER_CORE", raising=False)
    monkeypatch.delenv("GREENKIT_CPU_TDP_W", raising=False)
    b = EstimateBackend(cpu="Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", cores=8)
    assert b.watts_per_core == pytest.approx(28 / 8)
    assert b.watts_per_core * 8 * 1.0 == pytest.approx(28.0)
    d = b.describe()
    assert "Intel Core i7-1165G7: TDP 28 W" in d and "cpu_power.csv" in d and "rule: equal share of TDP" in d
    av = b.availability()
    assert av.details["tdp_match"]["tdp_w"] == 28 and "wattmeter" in av.details["accuracy"]


def test_vm_does_not_use_the_chips_tdp(monkeypatch):
    """In a VM, where we see a slice of the chip, is the table TDP left unused (assumed default, said why)?"""
    from greenkit.energy import estimate

    monkeypatch.setattr(estimate, "_hypervisor", lambda: True)
    b = EstimateBackend(cpu="Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz", cores=2)
    assert b.watts_per_core == DEFAULT_WATTS_PER_CORE and "virtual machine" in b.describe()


def test_explicit_overrides_beat_the_table(monkeypatch):
    """Do GREENKIT_WATTS_PER_CORE and GREENKIT_CPU_TDP_W still win over a CPU found in the table?"""
    from greenkit.energy import estimate

    monkeypatch.setattr(estimate, "_hypervisor", lambda: False)
    monkeypatch.setenv("GREENKIT_WATTS_PER_CORE", "2.5")
    assert EstimateBackend(cpu="Apple M2", cores=8).watts_per_core == 2.5
    monkeypatch.delenv("GREENKIT_WATTS_PER_CORE")
    monkeypatch.setenv("GREENKIT_CPU_TDP_W", "40")
    assert EstimateBackend(cpu="Apple M2", cores=8).watts_per_core == 5.0
