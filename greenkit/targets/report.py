"""The report card: each target's measured value, threshold, verdict and how it was measured."""

from __future__ import annotations

import html
import json
import math
import unicodedata
from dataclasses import asdict, dataclass, field

from greenkit.i18n import _
from greenkit.targets.spec import Op

__all__ = ["Report", "TargetResult"]


@dataclass
class TargetResult:
    """One target's outcome. ``status``: "pass", "fail" or "error" (could not evaluate: 0 points)."""
    id: str
    kind: str
    artefact: str
    threshold: float
    op: str                 # an Op value: "min" | "max" | "eq"
    weight: float
    status: str
    value: float | None = None
    interval: tuple[float, float] | None = None
    method: str = ""        # "measured" | "counted" | "estimated"
    how: str = ""           # one line: what was run, on what, with what
    description: str = ""
    reason: str = ""        # why it failed or could not be evaluated

    @classmethod
    def base(cls, t) -> dict:
        """The fields a result copies from its :class:`~greenkit.targets.spec.TargetSpec`."""
        return dict(id=t.id, kind=t.kind, artefact=t.artefact, threshold=float(t.threshold), op=t.op.value,
                    weight=float(t.weight), description=t.description)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def value_text(self) -> str:
        if self.value is None:
            return "-"
        text = _fmt(self.value)
        if self.interval:
            text += f" [{_fmt(self.interval[0])}, {_fmt(self.interval[1])}]"
        return text

    def threshold_text(self) -> str:
        return Op(self.op).render(_fmt(self.threshold))


def _method(method: str) -> str:
    """measured / counted / estimated in the user's language."""
    return {"measured": _("measured"), "counted": _("counted"), "estimated": _("estimated")}.get(method, method)


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _fmt(v: float) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 1000:
        return f"{int(v):,}"
    return f"{v:.4g}"


@dataclass
class Report:
    """Result of checking one lab's targets.

    ``error`` is set when the whole check could not run (missing artefact, crash):
    then every target is "error" and :meth:`points` is 0 (fails closed).
    """
    lab: str
    title: str
    results: list[TargetResult] = field(default_factory=list)
    error: str = ""
    verified_by: str = ""   # "fresh process pid N (python -m greenkit verify)" or "in-process"
    machine: dict = field(default_factory=dict)
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when the check ran and every target passed."""
        return not self.error and bool(self.results) and all(r.passed for r in self.results)

    def points(self, max_points: float) -> float:
        """Partial credit: ``max_points * (weight of passed targets) / (total weight)``, 2 decimals."""
        if self.error or not self.results:
            return 0.0
        total = sum(r.weight for r in self.results)
        if total <= 0:
            return float(max_points) if self.passed else 0.0
        got = sum(r.weight for r in self.results if r.passed)
        return round(float(max_points) * got / total, 2)

    def __getitem__(self, target_id: str) -> TargetResult:
        for r in self.results:
            if r.id == target_id:
                return r
        raise KeyError(f"no target {target_id!r}; targets: {[r.id for r in self.results]}")

    # -- renderings (in greenkit's language: greenkit.i18n) -------------------------------
    _HEAD = ("target", "model", "measured", "threshold", "result", "how")

    @staticmethod
    def _head() -> tuple[str, ...]:
        return (_("target"), _("model"), _("measured"), _("threshold"), _("result"), _("how"))

    def _rows(self):
        for r in self.results:
            verdict = {"pass": _("PASS"), "fail": _("FAIL"), "error": _("ERROR")}[r.status]
            how = f"{_method(r.method)}: {r.how}" if r.method else r.how
            if r.reason:
                how = f"{how} -- {r.reason}" if how else r.reason
            yield (r.id, r.artefact, r.value_text(), r.threshold_text(), verdict, how)

    def _footer(self) -> str:
        n_pass = sum(r.passed for r in self.results)
        parts = [_("{passed}/{total} targets passed").format(passed=n_pass, total=len(self.results))]
        if self.verified_by:
            parts.append(_("verified by {who}").format(who=self.verified_by))
        if self.duration_s:
            parts.append(f"{self.duration_s:.1f} s")
        return "; ".join(parts)

    def __str__(self) -> str:
        lines = [_("{title} ({lab}) report card").format(title=_(self.title), lab=self.lab)]
        if self.error:
            lines.append(_("COULD NOT CHECK: {error}").format(error=self.error))
        rows = [self._head(), *self._rows()]
        widths = [max(_width(r[i]) for r in rows) for i in range(len(self._HEAD) - 1)]
        for r in rows:
            lines.append("  ".join(_pad(c, w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
        lines.append(self._footer())
        lines += self.notes
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Report {self.lab}: {'PASSED' if self.passed else 'NOT PASSED'}, {self._footer()}>"

    def _repr_html_(self) -> str:
        colour = {"pass": "#1a7f37", "fail": "#cf222e", "error": "#9a6700"}
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in self._head())
        body = ""
        for result, row in zip(self.results, self._rows(), strict=True):
            cells = []
            for i, c in enumerate(row):
                style = f" style='color:{colour[result.status]};font-weight:bold'" if i == 4 else ""
                cells.append(f"<td{style}>{html.escape(c)}</td>")
            body += "<tr>" + "".join(cells) + "</tr>"
        err = (f"<p style='color:#cf222e'><b>{html.escape(_('Could not check:'))}</b> {html.escape(self.error)}</p>"
               if self.error else "")
        notes = "".join(f"<br><small>{html.escape(n)}</small>" for n in self.notes)
        title = html.escape(_("{title} — report card").format(title=_(self.title)))
        return (f"<div><h4>{title}</h4>{err}"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p><small>{html.escape(self._footer())}</small>{notes}</p></div>")

    # -- transport between processes ----------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Report:
        raw = json.loads(text)
        results = []
        for r in raw.pop("results"):
            if r.get("interval") is not None:
                r["interval"] = tuple(r["interval"])
            results.append(TargetResult(**r))
        return cls(results=results, **raw)

    @classmethod
    def failed(cls, lab: str, title: str, reason: str, spec=None, verified_by: str = "") -> Report:
        """A report that could not be evaluated: every target "error", 0 points."""
        results = []
        for t in (spec.targets if spec is not None else ()):
            results.append(TargetResult(**TargetResult.base(t), status="error", reason="not evaluated"))
        return cls(lab=lab, title=title, results=results, error=reason, verified_by=verified_by)
