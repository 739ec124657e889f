"""The report card: both renderings, partial credit, fail-closed, JSON transport."""

from __future__ import annotations

from greenkit.targets import Report, TargetResult


def _report(statuses=("pass", "fail", "pass"), weights=(2, 1, 1), error=""):
    results = [TargetResult(id=f"t{i}", kind="sparsity_min", artefact="model", threshold=0.9, op="min",
                            weight=w, status=s, value=0.95 if s == "pass" else 0.5, method="counted",
                            how="zero fraction", interval=(0.4, 0.6) if i == 1 else None)
               for i, (s, w) in enumerate(zip(statuses, weights, strict=True))]
    return Report(lab="labX", title="Lab X", results=results, error=error, verified_by="fresh process pid 1")


def test_points_give_partial_credit_by_weight():
    """Do points add each passed target's share of the weights (2+1 of 4 -> 3 of 4 points)?"""
    assert _report().points(4) == 3.0
    assert _report(("pass",) * 3).points(4) == 4.0
    assert not _report().passed and _report(("pass",) * 3).passed


def test_a_report_that_could_not_check_gives_zero():
    """Does a report with an error give 0 points and say why, in both renderings?"""
    r = _report(("pass",) * 3, error="artefact 'model': meta.json is missing")
    assert r.points(4) == 0.0 and not r.passed
    assert "COULD NOT CHECK" in str(r) and "meta.json is missing" in r._repr_html_()


def test_text_and_html_show_value_threshold_verdict_and_method():
    """Does each row show the measured value, the threshold, the verdict and how it was measured?"""
    r = _report()
    text, page = str(r), r._repr_html_()
    for needle in ("t1", "0.5 [0.4, 0.6]", ">= 0.9", "FAIL", "PASS", "counted: zero fraction"):
        assert needle in text, needle
    assert "<table>" in page and "FAIL" in page and "&gt;= 0.9" in page


def test_json_round_trip():
    """Does a report survive the trip from the checker process as JSON unchanged?"""
    r = _report()
    back = Report.from_json(r.to_json())
    assert back == r and back.results[1].interval == (0.4, 0.6)
