"""One provenance record and one MEASURED/ESTIMATED label for every energy result."""

from __future__ import annotations

import dataclasses
import warnings

import torch

from greenkit.energy import Comparison, EnergyReport, InferenceEnergy, Provenance, measure, measure_inference
from greenkit.energy.provenance import combined_kind, kind_label

FIELDS = {"kind", "backend", "source", "threads", "device", "notes"}


def test_every_result_type_carries_the_same_record():
    """Do EnergyReport, InferenceEnergy and Comparison all inherit Provenance's fields (no private copies)?"""
    for cls in (EnergyReport, InferenceEnergy, Comparison):
        assert issubclass(cls, Provenance)
        assert FIELDS <= {f.name for f in dataclasses.fields(cls)}
        own = cls.__dict__.get("__annotations__", {})
        assert not FIELDS & set(own), f"{cls.__name__} redeclares {FIELDS & set(own)}"


def test_labels_and_mixed_kinds():
    """Is anything not measured labelled ESTIMATED, and a total with any estimated part 'estimated'?"""
    assert kind_label("measured") == "MEASURED" and kind_label("estimated") == "ESTIMATED"
    assert kind_label("") == "ESTIMATED"
    assert combined_kind(["measured", "measured"]) == "measured"
    assert combined_kind(["measured", "estimated"]) == "estimated"


def test_measure_fills_the_record_and_repr_uses_it():
    """Does measure() fill kind/backend/source/device (and threads once torch is loaded), shown in repr?"""
    with measure("estimate") as m:
        sum(range(10_000))
    assert m.kind == "estimated" and m.backend == "estimate" and m.device == "cpu"
    assert m.threads == torch.get_num_threads()
    p = m.provenance()
    assert type(p) is Provenance and p.source == m.source
    assert "[ESTIMATED by estimate]" in repr(m) and f"source: {m.source}" in repr(m)


def test_inference_energy_record_and_deprecated_window_name():
    """Does InferenceEnergy carry device/threads, and does the old window_seconds name still work, with a warning?"""
    r = measure_inference(torch.nn.Linear(4, 2), torch.zeros(8, 4), backend="estimate", windows=6)
    assert r.device == "cpu" and r.threads == torch.get_num_threads() and r.label == "ESTIMATED"
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert r.window_seconds == r.window_durations_s
    assert any(issubclass(x.category, DeprecationWarning) for x in w)


def test_the_attributes_the_labs_read_are_all_still_there():
    """Does every attribute the lab notebooks read from energy results (grep of solutions/) still exist?"""
    import torch

    from greenkit.energy import compare

    with measure("estimate") as m:
        sum(range(1000))
    r = measure_inference(torch.nn.Linear(4, 2), torch.zeros(8, 4), backend="estimate", windows=6)
    c = compare(torch.nn.Linear(4, 2), torch.nn.Linear(4, 2), torch.zeros(8, 4), backend="estimate", pairs=6)
    for obj, names in [(m, "energy_j duration_s power_w kind source backend"),
                       (r, "energy_j_per_inference energy_j_ci95 latency_s_per_inference kind source backend device"),
                       (c, "energy_ratio energy_ratio_ci95 latency_ratio kind backend device source")]:
        for name in names.split():
            assert getattr(obj, name) is not None, (type(obj).__name__, name)
