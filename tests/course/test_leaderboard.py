"""The class leaderboard: which submissions are ranked, the Pareto front, machines kept apart, the page."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from greenkit import cli
from greenkit.course import leaderboard as lb
from greenkit.targets import Report, TargetResult, load_spec

LAB = "lab07_challenge"
FRESH = "fresh process pid 4242 (python -m greenkit verify)"
MACHINE_A = {"python": "3.11.9", "torch": "2.15.0", "threads": 2, "platform": "Linux-6.8-x86_64", "processor": "x86_64"}
MACHINE_B = {**MACHINE_A, "processor": "arm64", "platform": "macOS-15-arm64"}
BASELINE_ACC = 0.93


def _op(t) -> str:
    return str(getattr(t.op, "value", t.op))


def report(acc: float, energy: float, *, machine: dict = MACHINE_A, kind: str = "estimated",
           verified_by: str = FRESH, error: str = "") -> Report:
    """A report shaped like the one ``greenkit verify`` writes for this lab's spec (every target of it)."""
    spec = load_spec(LAB)
    drop = 100 * (BASELINE_ACC - acc)
    results = []
    for t in spec.targets:
        base = dict(id=t.id, kind=t.kind, artefact=t.artefact, threshold=float(t.threshold), op=_op(t),
                    weight=float(t.weight), description=t.description)
        value = {"accuracy": drop, "test-accuracy": acc, "baseline-accuracy": BASELINE_ACC, "own-weights": 1.0}.get(t.id)
        method = "counted" if t.id == "own-weights" else "measured"
        if value is None and t.kind.startswith("gated_"):   # the efficiency targets, gated on the floor
            if drop > spec.select(["accuracy"]).targets[0].threshold:
                results.append(TargetResult(**base, status="error", reason="GateNotMet: gate 'accuracy' not met"))
                continue
            value = energy if "energy" in t.kind else energy * 0.5
            method = kind if "energy" in t.kind else "counted"
        ok = value <= t.threshold if _op(t) == "max" else value >= t.threshold
        interval = (0.9 * value, 1.1 * value) if "energy" in t.kind else None
        results.append(TargetResult(**base, status="pass" if ok else "fail", value=value, method=method,
                                    interval=interval, how="synthetic"))
    return Report(lab=LAB, title=spec.title, results=results, verified_by=verified_by, machine=machine,
                  error=error)


@pytest.fixture
def klass(tmp_path) -> Path:
    """A small class: five verified students (one below the floor), one garbage file, one unverifiable."""
    d = tmp_path / "reports"
    d.mkdir()
    students = {"ada": (0.900, 0.10), "bob": (0.895, 0.30), "cyd": (0.880, 0.08), "dee": (0.910, 0.40),
                "eve": (0.500, 0.01)}   # eve: cheap because useless
    for name, (acc, energy) in students.items():
        (d / f"{name}.json").write_text(report(acc, energy).to_json())
    (d / "fay.json").write_text('{"lab": "lab07_challenge", "results": "all passed, trust me"}')   # invalid
    (d / "gus.json").write_text(report(0.99, 0.001, verified_by="in-process").to_json())     # not fresh
    (d / "ada.ledger.json").write_text(json.dumps({"entries": [
        {"label": "train", "energy_j": 1200.0, "duration_s": 80.0, "kind": "estimated"}]}))
    (d / "dee.ledger.json").write_text(json.dumps({"entries": [
        {"label": "grid search", "energy_j": 90000.0, "duration_s": 3600.0, "kind": "estimated"}]}))  # an hour
    (d / "bob.ledger.json").write_text(json.dumps({"entries": [
        {"label": "train", "energy_j": 1e9, "duration_s": 10.0, "kind": "measured"}]}))      # 100 MW: rejected
    return d


def _by_student(board) -> dict[str, lb.Entry]:
    return {e.student: e for e in board.entries}


def test_statuses_of_a_synthetic_class(klass):
    """Are verified students ranked, the useless-but-cheap one not, and the invalid ones unverified with a reason?"""
    board = lb.build(LAB, klass, real_names=True, references=[])
    e = _by_student(board)
    assert {s for s, x in e.items() if x.status == "ranked"} == {"ada", "bob", "cyd", "dee"}
    assert e["eve"].status == "below-floor" and e["eve"].rank is None and not e["eve"].pareto
    assert e["fay"].status == "unverified" and "not a greenkit report" in e["fay"].reason
    assert e["gus"].status == "unverified" and "fresh process" in e["gus"].reason
    assert [x.student for x in sorted(board.entries, key=lambda x: x.rank or 99) if x.rank] == ["cyd", "ada", "bob",
                                                                                                 "dee"]


def test_pareto_front_holds_the_right_students(klass):
    """Is the front {cyd (cheapest), ada, dee (most accurate)} and bob (dominated by ada) off it?"""
    board = lb.build(LAB, klass, real_names=True, references=[])
    assert {s for s, x in _by_student(board).items() if x.pareto} == {"cyd", "ada", "dee"}


def test_pareto_front_matches_a_sweep(tmp_path):
    """Does pareto_front agree with an independent sort-and-sweep front on random points?"""
    rng = random.Random(7)
    for _ in range(30):
        pts = [lb.Entry(student=str(i), name=str(i), status="ranked", accuracy=round(rng.uniform(0.8, 0.95), 3),
                        energy_ratio=round(rng.uniform(0.01, 1.0), 2)) for i in range(rng.randint(1, 12))]
        sweep, best = set(), -1.0
        for p in sorted(pts, key=lambda p: (p.energy_ratio, -p.accuracy)):   # cheapest first
            if p.accuracy > best:
                sweep.add(p.student)
                best = p.accuracy
        # ties (same energy and accuracy) are all non-dominated
        tied = {p.student for p in pts for q in pts if p is not q and (p.accuracy, p.energy_ratio) ==
                (q.accuracy, q.energy_ratio) and q.student in sweep}
        assert {p.student for p in lb.pareto_front(pts)} == sweep | tied


def test_machines_are_never_ranked_together(tmp_path):
    """Do two machines get separate ranks, fronts and sections, each starting at rank 1?"""
    d = tmp_path / "r"
    d.mkdir()
    (d / "a1.json").write_text(report(0.90, 0.20).to_json())
    (d / "a2.json").write_text(report(0.90, 0.30).to_json())
    (d / "b1.json").write_text(report(0.89, 0.50, machine=MACHINE_B, kind="measured").to_json())
    board = lb.build(LAB, d, real_names=True, references=[])
    e = _by_student(board)
    assert (e["a1"].rank, e["a2"].rank, e["b1"].rank) == (1, 2, 1)
    assert e["b1"].pareto and e["a1"].pareto and not e["a2"].pareto
    assert len(board.machines()) == 2 and e["a1"].machine != e["b1"].machine
    page = lb.render(board)
    assert page.count("<h2>Machine ") == 2 and "never ranked together" in page


def test_pseudonyms_are_stable_and_hide_ids(klass):
    """Are default names stable between runs (same key file), free of the ids, and ids shown only on request?"""
    one = lb.build(LAB, klass, references=[])
    two = lb.build(LAB, klass, references=[])
    assert [e.name for e in one.entries] == [e.name for e in two.entries]
    assert all(e.student not in e.name for e in one.entries)
    assert len({e.name for e in one.entries}) == len(one.entries)
    assert (klass / lb.KEY_FILE).is_file()
    assert lb.pseudonym("ada", b"k1") != lb.pseudonym("ada", b"k2")
    page = lb.render(one)
    assert "data-student='ada'" not in page
    assert "data-student='ada'" in lb.render(lb.build(LAB, klass, real_names=True, references=[]))


def test_self_reported_ledger_is_shown_and_bounded(klass):
    """Is a plausible ledger shown as self-reported, a 100 MW one rejected with the reason, and an hour of
    search flagged as over the lab's 20-minute budget?"""
    e = _by_student(lb.build(LAB, klass, real_names=True, references=[]))
    assert e["ada"].training_energy_j == pytest.approx(1200.0) and "self-reported" in e["ada"].training_note
    assert e["bob"].training_energy_j is None and "ledger rejected" in e["bob"].training_note
    assert e["cyd"].training_note == "no ledger"
    assert e["dee"].over_budget and "OVER the 20-minute budget" in e["dee"].training_note and not e["ada"].over_budget
    assert e["dee"].status == "ranked", "the ledger is self-reported: flagged for the instructor, not unranked"


def test_wrong_lab_and_error_reports_are_unverified(tmp_path):
    """Is a report of another lab, or one whose check could not run, listed as unverified and never ranked?"""
    d = tmp_path / "r"
    d.mkdir()
    other = report(0.9, 0.1)
    other.lab = "lab02_pruning"
    (d / "x.json").write_text(other.to_json())
    (d / "y.json").write_text(report(0.9, 0.1, error="artefact 'model': meta.json is missing").to_json())
    e = _by_student(lb.build(LAB, d, real_names=True, references=[]))
    assert e["x"].status == "unverified" and "lab02_pruning" in e["x"].reason
    assert e["y"].status == "unverified" and "meta.json is missing" in e["y"].reason


def test_cli_writes_the_page_and_mine_needs_attempts(klass, tmp_path, monkeypatch, capsys):
    """Does `greenkit leaderboard LAB --reports DIR` write a page (exit 0), and --mine without attempts say why (2)?"""
    out = tmp_path / "page.html"
    assert cli.main(["leaderboard", LAB, "--reports", str(klass), "--out", str(out)]) == 0
    assert out.is_file() and "4 ranked, 1 below the floor, 2 unverified" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    assert cli.main(["leaderboard", "--mine"]) == 2
    assert "run the report-card cell" in capsys.readouterr().err
    attempts = tmp_path / lb.ATTEMPTS_DIR / LAB
    attempts.mkdir(parents=True)
    (attempts / "20261202T030000Z.json").write_text(report(0.9, 0.15).to_json())
    path, board = lb.leaderboard(LAB, mine=True)
    assert path.is_file() and [e.name for e in board.entries] == ["20261202T030000Z"]


def test_page_is_self_contained(klass):
    """Does the page inline plotly.js and load nothing from the network?"""
    from plotly.offline import get_plotlyjs

    page = lb.render(lb.build(LAB, klass, references=[]))
    assert get_plotlyjs() in page, "plotly.js must be inlined"
    ours = page.replace(get_plotlyjs(), "")   # the rest of the page: our HTML, data and scripts
    assert "src=" not in ours and "<link" not in ours and "url(" not in ours
    assert "cdn.plot.ly" not in ours and "mathjax" not in ours.lower()


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("needs headless Chromium: install the Debian package `chromium` (apt-get install chromium)")
    return exe


def _chromium_run(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args],
                          capture_output=True, text=True, timeout=180)


def test_page_renders_in_headless_chromium(klass, tmp_path):
    """Opened in headless Chromium, does the plot render (SVG in the DOM), with the right Pareto students in the
    table and the invalid submission listed as unverified?"""
    exe = _chromium()
    path, board = lb.leaderboard(LAB, klass, tmp_path / "page.html", real_names=True, references=[])
    proc = _chromium_run(exe, tmp_path / "profile", "--dump-dom", path.resolve().as_uri())
    dom = proc.stdout
    assert "class=\"main-svg\"" in dom, f"no plot SVG in the rendered DOM; chromium said: {proc.stderr[-800:]}"
    assert "scatterlayer" in dom and "accuracy floor (6 points below the baseline)" in dom
    for student in ("ada", "cyd", "dee"):
        assert f'data-student="{student}" data-status="ranked" data-pareto="yes"' in dom
    assert 'data-student="bob" data-status="ranked" data-pareto="no"' in dom
    assert 'data-student="fay" data-status="unverified"' in dom
    shot = tmp_path / "leaderboard.png"
    _chromium_run(exe, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1200,900",
                  path.resolve().as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000, "the screenshot is missing or blank"


def test_reads_what_the_class_grader_kept(tmp_path, monkeypatch):
    """With no --reports, are `greenkit grade`'s state rows read (a flagged row unverified, the ledger the
    student submitted shown as self-reported)?"""
    course = tmp_path / "course"
    state = course / ".greenkit" / "grade" / LAB / "state"
    state.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("")
    row = {"student": "ann", "lab": LAB, "status": "graded", "flags": [], "reports": [json.loads(report(0.9, 0.1).to_json())]}
    (state / "ann.json").write_text(json.dumps({"key": "k", "row": row}))
    flagged = {**row, "student": "ben", "flags": [{"kind": "monkeypatch", "cell": 3, "evidence": "torch.allclose = ..."}]}
    (state / "ben.json").write_text(json.dumps({"key": "k", "row": flagged}))
    (state / "cat.json").write_text(json.dumps({"key": "k", "row": {**row, "student": "cat", "reports": []}}))
    ledger = course / "submitted" / "ann" / LAB / "greenkit-submissions" / LAB
    ledger.mkdir(parents=True)
    (ledger / "ledger.json").write_text(json.dumps({"entries": [{"energy_j": 500.0, "duration_s": 40.0,
                                                                 "kind": "estimated"}]}))
    monkeypatch.setenv("GREENKIT_COURSE", str(course))
    path, board = lb.leaderboard(LAB, out=tmp_path / "p.html", real_names=True, references=[])
    e = _by_student(board)
    assert e["ann"].status == "ranked" and e["ann"].training_energy_j == pytest.approx(500.0)
    assert e["ben"].status == "unverified" and "flagged" in e["ben"].reason and "monkeypatch" in e["ben"].reason
    assert e["cat"].status == "unverified" and "no lab07_challenge report-card verdict" in e["cat"].reason
