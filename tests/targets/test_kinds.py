"""Each target kind passes a model that meets it and fails one that does not (checker in-process)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch

from greenkit.targets import evaluate, load_spec

from .conftest import pruned


@dataclass
class FakeComparison:
    """Stands in for greenkit.energy.Comparison (same fields)."""
    energy_ratio: float
    energy_ratio_ci95: tuple
    latency_ratio: float = 1.0
    latency_ratio_ci95: tuple = (0.9, 1.1)
    kind: str = "measured"
    backend: str = "fake"
    source: str = "test"
    threads: int = 1
    pairs: int = 8


def _one(write_spec, baseline, model, target: str, compare=None, extra: str = ""):
    spec = load_spec(write_spec("t", f"[[target]]\n{target}\n", extra=extra))
    return evaluate(spec, {"model": model}, baseline=baseline, compare=compare).results[0]


CASES = [
    # kind line(s), model maker (from baseline), expected status
    ('kind = "accuracy_min"\nthreshold = 0.5', lambda b: b, "pass"),
    ('kind = "accuracy_min"\nthreshold = 0.99', lambda b: b, "fail"),
    ('kind = "accuracy_drop_max"\nthreshold = 1.0', lambda b: b, "pass"),
    ('kind = "accuracy_drop_max"\nthreshold = 1.0', lambda b: pruned(b, 0.995), "fail"),
    ('kind = "sparsity_min"\nthreshold = 0.9', lambda b: pruned(b, 0.92), "pass"),
    ('kind = "sparsity_min"\nthreshold = 0.9', lambda b: pruned(b, 0.5), "fail"),
    ('kind = "params_ratio_eq"\nthreshold = 1.0', lambda b: b, "pass"),
    ('kind = "params_ratio_max"\nthreshold = 0.5', lambda b: b, "fail"),
    ('kind = "nonzero_params_ratio_max"\nthreshold = 0.5', lambda b: pruned(b, 0.7), "pass"),
    ('kind = "size_ratio_max"\nthreshold = 0.3\nencoding = "sparse_int8"\nbaseline_encoding = "fp32"',
     lambda b: pruned(b, 0.9), "pass"),
    ('kind = "size_ratio_max"\nthreshold = 0.3', lambda b: pruned(b, 0.9), "fail"),  # serialized: dense
    ('kind = "macs_ratio_max"\nthreshold = 0.5', lambda b: pruned(b, 0.9), "fail"),
    ('kind = "effective_macs_ratio_max"\nthreshold = 0.5', lambda b: pruned(b, 0.9), "pass"),
    ('kind = "bitops_ratio_max"\nthreshold = 0.5', lambda b: b, "fail"),
    ('kind = "estimated_energy_ratio_max"\nthreshold = 0.6', lambda b: pruned(b, 0.95), "pass"),
    ('kind = "estimated_energy_ratio_max"\nthreshold = 0.6', lambda b: b, "fail"),
]


@pytest.mark.parametrize("target, make, status", CASES, ids=[f"{c[0].split(chr(10))[0][8:-1]}-{c[2]}-{i}"
                                                             for i, c in enumerate(CASES)])
def test_target_kind_verdicts(write_spec, baseline, target, make, status):
    """Does each target kind pass a model that meets it and fail one that does not?"""
    r = _one(write_spec, baseline, make(copy.deepcopy(baseline)), target)
    assert r.status == status, (r.value, r.reason)
    assert r.method in ("measured", "counted", "estimated")


def test_int8_model_meets_size_and_bitops_targets(write_spec, baseline):
    """Does an int8 (torchao) model pass size <= 0.3 and BitOps <= 0.1 of its fp32 baseline?"""
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    q = copy.deepcopy(baseline)
    quantize_(q, Int8DynamicActivationInt8WeightConfig())
    assert _one(write_spec, baseline, q, 'kind = "size_ratio_max"\nthreshold = 0.3').status == "pass"
    assert _one(write_spec, baseline, q, 'kind = "bitops_ratio_max"\nthreshold = 0.1').status == "pass"


@pytest.mark.parametrize("ratio, ci, status", [(0.5, (0.45, 0.55), "pass"), (0.7, (0.65, 0.75), "fail")])
def test_energy_ratio_uses_the_median_and_shows_the_interval(write_spec, baseline, ratio, ci, status):
    """Does energy_ratio_max judge compare()'s median ratio and report its 95% interval, beside the model?"""
    calls = []

    def compare(a, b, inputs, *, pairs):
        calls.append((a, b, tuple(inputs.shape), pairs))
        return FakeComparison(ratio, ci)

    r = _one(write_spec, baseline, baseline, 'kind = "energy_ratio_max"\nthreshold = 0.6', compare=compare)
    assert r.status == status and r.value == ratio and r.interval == ci
    assert calls[0][0] is baseline and calls[0][3] == 8  # baseline is A, the default 8 pairs
    assert "analytical model (estimated)" in r.how


def test_estimated_energy_fails_closed_when_the_lab_requires_measured(write_spec, baseline):
    """Does a lab that requires measured energy refuse an estimate, with the fix in the reason?"""
    r = _one(write_spec, baseline, baseline, 'kind = "energy_ratio_max"\nthreshold = 2.0',
             compare=lambda *a, **k: FakeComparison(0.5, (0.4, 0.6), kind="estimated"),
             extra="[energy]\nrequire_measured = true\n")
    assert r.status == "error" and "greenkit doctor" in r.reason


def test_latency_ratio_uses_compare(write_spec, baseline):
    """Does latency_ratio_max read compare()'s latency ratio?"""
    r = _one(write_spec, baseline, baseline, 'kind = "latency_ratio_max"\nthreshold = 1.2',
             compare=lambda *a, **k: FakeComparison(1.0, (0.9, 1.1), latency_ratio=1.3))
    assert r.status == "fail" and r.value == 1.3


def test_scalar_escape_hatch_and_its_type_check(write_spec, baseline):
    """Does a 'scalar' target call the named function, and reject a value that is not a number?"""
    ok = _one(write_spec, baseline, baseline,
              'kind = "scalar_max"\nthreshold = 1e6\nfunction = "targets.helpers:n_weights"')
    assert ok.status == "pass" and ok.value == 784 * 512 + 512 * 256 + 256 * 10
    bad = _one(write_spec, baseline, baseline,
               'kind = "scalar_max"\nthreshold = 1\nfunction = "targets.helpers:always_equal"')
    assert bad.status == "error" and "must be a number" in bad.reason


def test_a_crashing_model_fails_closed(write_spec, baseline):
    """Does a model whose forward raises get an error verdict with the reason, not a crash or a pass?"""
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    r = _one(write_spec, baseline, Broken(), 'kind = "accuracy_min"\nthreshold = 0.0')
    assert r.status == "error" and "boom" in r.reason


def test_accuracy_gain_compares_two_submitted_models(write_spec, baseline):
    """Is accuracy_gain (model minus `over`) computed from both artefacts, and a missing `over` refused?"""
    from greenkit.metrics import accuracy

    worse = pruned(copy.deepcopy(baseline), 0.995)
    spec = load_spec(write_spec("t", '[[target]]\nkind = "accuracy_gain_min"\nthreshold = 1.0\nover = "scratch"\n'))
    rep = evaluate(spec, {"model": baseline, "scratch": worse}, baseline=baseline)
    r = rep.results[0]
    n = 50  # the n_per_class write_spec puts in the spec
    want = (accuracy(baseline, n_per_class=n) - accuracy(worse, n_per_class=n)) * 100
    assert r.status == "pass" and abs(r.value - want) < 1e-9
    rep = evaluate(spec, {"model": baseline}, baseline=baseline)
    assert rep.results[0].status != "pass" and "scratch" in rep.results[0].reason
