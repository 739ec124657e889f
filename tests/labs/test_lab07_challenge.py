"""Lab 7 (the green model challenge): the shared round trip, the gated targets, the ledger, the submissions."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import greenkit as gk
from greenkit.course import LABS, SOLUTIONS, cell_sources, roundtrip, submission_with
from greenkit.targets import evaluate, load_spec
from greenkit.targets.artefacts import ArtefactError, load_model, save_model
from greenkit.targets.kinds_challenge import LedgerError, read_ledger

LAB = "lab07_challenge"
SPEC_FILE = Path(gk.targets.__file__).parent / "specs" / f"{LAB}.toml"


class FakeCompare:
    """Stands in for greenkit.energy.compare: a fixed energy ratio, and a count of calls."""

    def __init__(self, ratio: float):
        self.ratio, self.calls = ratio, 0

    def __call__(self, a, b, x, pairs):
        self.calls += 1
        r = self.ratio
        return SimpleNamespace(energy_ratio=r, energy_ratio_ci95=(0.9 * r, 1.1 * r), latency_ratio=r,
                               latency_ratio_ci95=(0.9 * r, 1.1 * r), kind="estimated", pairs=pairs, threads=1,
                               backend="fake", source="test")


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory):
    """The lab's spec on 1,000 test images instead of 5,000 (same targets), to keep the tests quick."""
    d = tmp_path_factory.mktemp("spec")
    text = re.sub(r"n_per_class = \d+", "n_per_class = 100", SPEC_FILE.read_text())
    (d / f"{LAB}.toml").write_text(text)
    return load_spec(d / f"{LAB}.toml")


@pytest.fixture(scope="module")
def baseline():
    return gk.zoo.load("cnn")


def _op(t) -> str:
    return str(getattr(t.op, "value", t.op))


def _rescaled_baseline() -> nn.Module:
    """The baseline computing exactly the same function with other weights (not a shipped copy):
    each conv's weights x1.5 and its BatchNorm's running mean x1.5 and variance x2.25."""
    model = gk.zoo.load("cnn")
    with torch.no_grad():
        for i in (0, 3, 7):   # conv, then its BatchNorm at i + 1
            conv, bn = model.features[i], model.features[i + 1]
            conv.weight.mul_(1.5)
            bn.running_mean.mul_(1.5)
            bn.running_var.mul_(2.25)
    return model


def test_spec_targets():
    """Are the energy targets gated on the floor of the same model, and do the graded weights add up to 6?"""
    spec = load_spec(LAB)
    ids = {t.id: t for t in spec.targets}
    assert ids["accuracy"].kind == "gated_accuracy_drop_max" and ids["accuracy"].threshold == 6.0
    assert ids["accuracy"].options.gate == "own-weights" and ids["own-weights"].kind == "shipped_distance_min"
    for tid in ("energy-half", "energy-fifth", "macs"):
        t = ids[tid]
        assert t.kind.startswith("gated_"), f"{tid} must be gated on the floor"
        assert t.options.gate == "accuracy"
        assert t.artefact == ids["accuracy"].artefact
    assert ids["energy-half"].threshold == 0.5 and ids["energy-fifth"].threshold == 0.2
    assert sum(t.weight for t in spec.targets) == 6
    assert all(t.weight == 0 for t in spec.targets if t.id in ("test-accuracy", "baseline-accuracy", "macs",
                                                               "own-weights"))
    assert spec.baseline == "cnn"


def test_garbage_of_the_right_type_earns_nothing(small_spec, baseline):
    """Does an untrained zoo CNN (the right type, ~10% accuracy) earn 0 points, even if it looks cheap,
    with the energy targets refused before any energy is measured?"""
    torch.manual_seed(0)
    garbage = gk.zoo.build("cnn", channels=(4, 8, 16), hidden=32)
    fake = FakeCompare(0.01)
    report = evaluate(small_spec, {"model": garbage}, compare=fake, baseline=baseline)
    assert report.points(6) == 0
    assert report["accuracy"].status == "fail"
    for tid in ("energy-half", "energy-fifth", "macs"):
        assert report[tid].status == "error" and "gate 'accuracy' not met" in report[tid].reason
    assert fake.calls == 0, "energy must not even be measured below the floor"


def test_rescaled_baseline_is_the_same_function():
    """Does the test's rescaled baseline compute what the baseline computes (so it is accurate), with
    parameters far from the shipped ones (so it is not a copy)?"""
    x = gk.data.load("train", n_per_class=3)[0]
    with torch.no_grad():
        got, want = _rescaled_baseline()(x), gk.zoo.load("cnn")(x)
    assert torch.allclose(got, want, atol=1e-2), f"max logit difference {(got - want).abs().max():.2e}"  # BN's eps
    assert torch.equal(got.argmax(1), want.argmax(1))


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_a_shipped_checkpoint_earns_nothing(small_spec, baseline, name):
    """Does submitting a shipped checkpoint unchanged (the kit's MLP clears the floor cheaply) earn 0 points,
    with the floor and the energy targets refused because the model is not the student's?"""
    fake = FakeCompare(0.01)
    report = evaluate(small_spec, {"model": gk.zoo.load(name)}, compare=fake, baseline=baseline)
    assert report["own-weights"].value == pytest.approx(0.0) and f"'{name}'" in report["own-weights"].how
    assert report.points(6) == 0 and fake.calls == 0
    assert report["accuracy"].status == "error" and "gate 'own-weights' not met" in report["accuracy"].reason


def test_accurate_but_costly_earns_only_the_floor(small_spec, baseline):
    """Does a model as accurate and as costly as the baseline (energy ratio 1.0) earn the floor's 2 points
    and no more?"""
    report = evaluate(small_spec, {"model": _rescaled_baseline()}, compare=FakeCompare(1.0), baseline=baseline)
    assert report["own-weights"].passed
    assert report["accuracy"].passed and report["accuracy"].value == pytest.approx(0.0)
    assert report["energy-half"].status == "fail" and report["energy-fifth"].status == "fail"
    assert report.points(6) == 2.0


def test_gated_energy_equals_the_ungated_quantity(small_spec, baseline):
    """Above the floor, is the gated value exactly what the plain energy_ratio quantity gives (value,
    interval, estimated label), with the gate's verdict added to how it was measured?"""
    from greenkit.targets.kinds import QUANTITIES, Context

    model = _rescaled_baseline()
    fake = FakeCompare(0.15)
    report = evaluate(small_spec, {"model": model}, compare=fake, baseline=baseline)
    r = report["energy-fifth"]
    ctx = Context(small_spec, {"model": model}, compare=FakeCompare(0.15), baseline=baseline)
    plain = QUANTITIES["energy_ratio"](ctx, next(t for t in small_spec.targets if t.id == "energy-fifth"))
    assert r.passed and r.value == plain.value and tuple(r.interval) == tuple(plain.interval)
    assert r.method == "estimated" and "gate passed" in r.how
    assert fake.calls == 1, "both energy targets share one side-by-side measurement"
    assert report.points(6) == 6.0


def test_gate_must_judge_the_same_model(tmp_path, baseline):
    """Is an energy target gated on another artefact's accuracy refused (the floor of one model cannot
    unlock the efficiency of another)?"""
    text = re.sub(r"n_per_class = \d+", "n_per_class = 20", SPEC_FILE.read_text())
    text = text.replace('id = "energy-half"\nkind = "gated_energy_ratio_max"',
                        'id = "energy-half"\nkind = "gated_energy_ratio_max"\nartefact = "other"')
    (tmp_path / f"{LAB}.toml").write_text(text)
    spec = load_spec(tmp_path / f"{LAB}.toml")
    model = _rescaled_baseline()
    report = evaluate(spec, {"model": model, "other": model}, compare=FakeCompare(0.1), baseline=baseline)
    assert report["energy-half"].status == "error" and "must judge the same model" in report["energy-half"].reason


# ---- the ledger ---------------------------------------------------------------------------------

def _write(folder: Path, entries) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ledger.json").write_text(json.dumps({"lab": LAB, "entries": entries}))
    return folder


GOOD = {"label": "train", "energy_j": 900.0, "duration_s": 60.0, "kind": "estimated"}


def test_ledger_sums_entries(tmp_path):
    """Does read_ledger add up the blocks, and call the total measured only if every block was?"""
    led = read_ledger(_write(tmp_path, [GOOD, {**GOOD, "kind": "measured", "energy_j": 100.0}]))
    assert led.energy_j == 1000.0 and led.duration_s == 120.0 and led.entries == 2 and led.kind == "estimated"
    assert read_ledger(_write(tmp_path / "m", [{**GOOD, "kind": "measured"}])).kind == "measured"


@pytest.mark.parametrize("entries, needle", [
    ([], "entries"),
    ([{**GOOD, "energy_j": -5.0}], "energy_j must be"),
    ([{**GOOD, "energy_j": float("nan")}], "energy_j must be"),
    ([{**GOOD, "energy_j": True}], "energy_j must be"),
    ([{**GOOD, "duration_s": 0.0}], "duration_s must be > 0"),
    ([{**GOOD, "kind": "trust me"}], "kind must be"),
    ([{**GOOD, "energy_j": 6e6, "duration_s": 10.0}], "outside"),
    (["900 J"], "not an object"),
])
def test_ledger_rejects_implausible_entries(tmp_path, entries, needle):
    """Is a malformed or physically implausible ledger rejected with a message naming the problem?"""
    with pytest.raises(LedgerError, match=needle):
        read_ledger(_write(tmp_path, entries))


def test_missing_ledger_says_how_to_make_one(tmp_path):
    """Does a missing ledger name the notebook's spend() blocks?"""
    with pytest.raises(LedgerError, match="spend"):
        read_ledger(tmp_path)


def _ledger_namespace(tmp_path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)
    ns = {"gk": gk, "torch": torch, "json": json, "contextlib": contextlib, "Path": Path}
    exec(cell_sources(LAB)["ledger"], ns)
    return ns


def _hidden(src: str) -> str:
    return src.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]


def test_spend_writes_a_ledger_the_checker_accepts(tmp_path, monkeypatch):
    """Does the notebook's spend() record a real gk.measure block, on disk, that read_ledger and the
    ledger grade cell (hidden tests included) accept?"""
    ns = _ledger_namespace(tmp_path, monkeypatch)
    exec("with spend('matmuls'):\n    a = torch.randn(256, 256)\n    for _ in range(300):\n        a = (a @ a).tanh()\n",
         ns)
    led = read_ledger(tmp_path / "greenkit-submissions" / LAB)
    assert led.entries == 1 and led.labels == ("matmuls",) and led.duration_s > 0
    src = cell_sources(LAB)["test_ledger"]
    ns["LEDGER"][0]["duration_s"] = max(ns["LEDGER"][0]["duration_s"], 1.5)   # the hidden test wants > 1 s
    ns["LEDGER_PATH"].write_text(json.dumps({"lab": LAB, "entries": ns["LEDGER"]}))
    exec(src, ns)


def test_ledger_cell_fails_on_an_empty_or_edited_ledger(tmp_path, monkeypatch):
    """Does the ledger grade cell fail with nothing recorded, and when the file on disk was edited down?"""
    ns = _ledger_namespace(tmp_path, monkeypatch)
    src = cell_sources(LAB)["test_ledger"]
    with pytest.raises(AssertionError, match="LEDGER is empty"):
        exec(src, ns)
    ns["LEDGER"].append({**GOOD})
    _write(ns["LEDGER_PATH"].parent, [{**GOOD, "energy_j": 1.0}])
    with pytest.raises(AssertionError, match="differs"):
        exec(src, ns)


# ---- the notebook and the submissions ----------------------------------------------------------------

def test_untouched_model_cell_raises():
    """Is the released model cell a stub (the untouched notebook has no model to submit)?"""
    src = cell_sources(LAB, LABS)["model"]
    assert "raise NotImplementedError" in src and "train(" not in src
    assert "### BEGIN HIDDEN TESTS" not in cell_sources(LAB, LABS)["test_ledger"], "hidden tests leaked into labs/"


def test_notebook_never_loads_the_test_split():
    """Does no cell of the notebook load the test split (the checker's held-out data)?"""
    for root in (SOLUTIONS, LABS):
        for gid, src in cell_sources(LAB, root).items():
            assert not re.search(r"""load\(\s*["']test""", src), f"{root.name}/{gid} loads the test split"


def test_report_card_submits_the_model():
    """Does the report card hand `model` to the fresh-process checker and keep the verified report?"""
    src = cell_sources(LAB)["report_card"]
    assert 'gk.check(model.cpu(), lab="lab07_challenge")' in src and "report.to_json()" in src
    assert "accuracy(" not in src, "accuracy is recomputed by the checker, not in the student's kernel"


class TwoLayer(nn.Module):
    """Not a zoo architecture: submitted as a torch.export program."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))


class Branchy(TwoLayer):
    """Data-dependent control flow: torch.export cannot capture it."""

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x.flatten(1))
        return -self.fc(x.flatten(1))


def test_export_submission_is_checked_and_unexportable_says_why(tmp_path, baseline):
    """Is a non-zoo model checked through torch.export (loaded without unpickling), and a model
    torch.export cannot capture refused with a reason instead of a traceback?"""
    torch.manual_seed(0)
    example = gk.data.load("train", n_per_class=1)[0][:4]
    meta = save_model(TwoLayer(), tmp_path / "model", example)
    assert meta["format"] == "torch-export"
    loaded, _ = load_model(tmp_path / "model")
    spec = load_spec(LAB)
    report = evaluate(spec.select(["test-accuracy"]), {"model": loaded}, baseline=baseline)
    assert report["test-accuracy"].passed and 0 <= report["test-accuracy"].value <= 1
    with pytest.raises(ArtefactError, match="torch.export"):
        save_model(Branchy(), tmp_path / "branchy", example)


@pytest.mark.slow
def test_lab07_roundtrip(tmp_path):
    """Does the solution earn full marks, the untouched notebook, an untrained cheap model and the shipped
    baseline handed in unchanged zero, and labs/ match generation?"""
    wrong = {
        "untrained": submission_with(LAB, {"model": "model = gk.zoo.build('cnn', channels=(4, 8, 16), hidden=32).eval()\n"},
                                     tmp_path / "untrained"),
        "shipped": submission_with(LAB, {"model": "model = gk.zoo.load('cnn').eval()\n"}, tmp_path / "shipped"),
    }
    result = roundtrip(LAB, wrong=wrong)
    assert result.ok, str(result)
    assert sum(top for _, top in result.solution_scores.values()) == 7
    assert result.manual_cells == ["design"]
