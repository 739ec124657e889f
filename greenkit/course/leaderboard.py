"""The class leaderboard of a lab: accuracy vs energy per inference, one self-contained HTML page.

    greenkit leaderboard lab07_challenge --reports DIR [--out PAGE] [--real-names] [--reference REPORT]
    greenkit leaderboard --mine [--lab lab07_challenge]        # a self-learner's own attempts

Python twin: :func:`leaderboard` returns ``(page path, Leaderboard)``; :func:`build` only reads.

**Input: a folder of verified reports.** Each ``*.json`` is the :class:`~greenkit.targets.Report`
that ``greenkit verify`` (the fresh-process checker) wrote for one student, named after the student
(``DIR/<student>.json``, or ``DIR/<student>/<anything>.json``); an instructor can make them by hand
(``greenkit verify FOLDER --json DIR/alice.json``). By default the page reads what the class grader
kept (``greenkit grade LAB``: ``.greenkit/grade/LAB/state/<student>.json``, a row holding the
student's verified reports and the grader's tamper flags; a flagged row is listed as unverified).
A ledger of the student's training and search energy may sit beside a report
(``<student>.ledger.json``, or ``ledger.json`` in the student's folder; for the class grader, the
one the student submitted in ``submitted/<student>/LAB/greenkit-submissions/LAB/``); it is
self-reported and shown as such. ``--mine`` reads the attempts the lab's
report-card cell keeps in ``.greenkit/attempts/<lab>/`` (one report and its ledger per attempt).

**What is ranked.** A report is *verified* when it parses, is for this lab, ran to the end (no
``error``), says it came from a fresh process, and holds the lab's accuracy and energy targets.
Anything else is listed as *unverified*, with the reason, and never ranked. A verified model below
the accuracy floor is listed but not ranked either (its efficiency earns nothing).

**Machines are never ranked together.** Energy is each model's ratio to the baseline measured side
by side on the machine that graded it; the page has one section per machine (fingerprint of the
processor, platform, torch and thread count in the report), each with its own plot, Pareto front and
ranking. Within a machine, models are ranked by energy ratio (lower is better), then accuracy.

**Names.** Pseudonymous by default: a stable name derived from a keyed hash of the student id
(the key is random, created once and kept in ``.leaderboard-key`` in the reports folder, so that a
class list cannot be hashed to undo the pseudonyms). ``real_names=True`` shows the ids.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import hmac
import html
import json
import math
import secrets
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from greenkit.targets.kinds_challenge import LedgerError, read_ledger
from greenkit.targets.report import Report

__all__ = ["Entry", "Leaderboard", "build", "render", "write_page", "leaderboard", "pareto_front", "pseudonym",
           "add_arguments", "run", "ATTEMPTS_DIR", "REFERENCES_DIR"]

ATTEMPTS_DIR = Path(".greenkit") / "attempts"
REFERENCES_DIR = Path(__file__).resolve().parent / "references"
KEY_FILE = ".leaderboard-key"
LEDGER_SUFFIX = ".ledger.json"
_MAX_REPORT_BYTES = 1 << 20

# Which report targets the page reads, per lab: the floor, the energy ratio, the numbers plotted.
LAB_TARGETS = {
    "lab07_challenge": {"floor": "accuracy", "energy": ("energy-fifth", "energy-half"),
                        "accuracy": "test-accuracy", "baseline_accuracy": "baseline-accuracy", "macs": "macs",
                        "budget_s": 20 * 60},   # the lab's rule: 20 minutes of training and search, all attempts
}

_ADJECTIVES = ("amber", "brisk", "calm", "dawn", "eager", "fern", "gentle", "hazel", "ivory", "jade", "keen",
               "lunar", "mossy", "noble", "opal", "pine", "quiet", "rapid", "sage", "tidal", "umber", "vivid",
               "willow", "zesty", "bold", "coral", "dusky", "frosty", "golden", "humble", "misty", "solar")
_ANIMALS = ("otter", "heron", "lynx", "finch", "marten", "ibex", "koala", "panda", "puffin", "gecko", "hare",
            "wren", "bison", "crane", "dingo", "egret", "ferret", "gibbon", "hyrax", "jackal", "lemur", "manta",
            "newt", "okapi", "quokka", "raven", "stoat", "tapir", "urchin", "vole", "walrus", "yak")


# ---- model -------------------------------------------------------------------------------------

@dataclass
class Entry:
    """One submission on the page. ``status``: "ranked", "below-floor" or "unverified"."""
    student: str                    # the id (file or folder name)
    name: str                       # what the page shows: a pseudonym, or the id
    status: str
    reason: str = ""
    accuracy: float | None = None               # top-1 on the checker's held-out images, [0, 1]
    energy_ratio: float | None = None           # energy per inference / the baseline's, same machine, same run
    energy_interval: tuple[float, float] | None = None
    energy_kind: str = ""                       # "measured" | "estimated"
    macs_ratio: float | None = None             # counted, machine-independent
    baseline_accuracy: float | None = None
    floor_drop: float | None = None             # the floor: at most this many points below the baseline
    machine: str = ""                           # group key
    machine_text: str = ""
    verified_by: str = ""
    training_energy_j: float | None = None      # self-reported (the ledger), bounded, never verified
    training_note: str = ""
    over_budget: bool = False                   # the ledger's own seconds exceed the lab's compute budget
    pareto: bool = False
    rank: int | None = None
    is_reference: bool = False


@dataclass
class Leaderboard:
    """What the page shows; ``to_dict()`` is also embedded in the page as JSON."""
    lab: str
    title: str
    entries: list[Entry]
    references: list[Entry] = field(default_factory=list)
    generated_at: str = ""
    source: str = ""

    def machines(self) -> dict[str, str]:
        """``{group key: description}`` of the machines with verified entries, in page order."""
        out: dict[str, str] = {}
        for e in self.entries:
            if e.status != "unverified" and e.machine not in out:
                out[e.machine] = e.machine_text
        return out

    def group(self, machine: str, status: str | None = None) -> list[Entry]:
        return [e for e in self.entries if e.machine == machine and (status is None or e.status == status)]

    def to_dict(self) -> dict:
        return {"lab": self.lab, "title": self.title, "generated_at": self.generated_at, "source": self.source,
                "machines": self.machines(), "entries": [asdict(e) for e in self.entries],
                "references": [asdict(e) for e in self.references]}


# ---- reading reports -------------------------------------------------------------------------------

def pseudonym(student: str, key: bytes) -> str:
    """A stable, readable name for ``student`` under ``key`` (e.g. "misty-okapi-3f")."""
    digest = hmac.new(key, student.encode("utf-8"), hashlib.sha256).digest()
    return f"{_ADJECTIVES[digest[0] % len(_ADJECTIVES)]}-{_ANIMALS[digest[1] % len(_ANIMALS)]}-{digest[2]:02x}"


def _key(folder: Path) -> bytes:
    path = folder / KEY_FILE
    if path.is_file():
        return path.read_bytes()
    key = secrets.token_hex(16).encode()
    try:
        path.write_bytes(key)
    except OSError:  # a read-only folder: names are stable for this run only
        pass
    return key


def _machine(report: Report) -> tuple[str, str]:
    m = report.machine or {}
    parts = [str(m.get(k, "?")) for k in ("processor", "platform", "torch", "threads")]
    text = f"{parts[0]}, {parts[1]}, torch {parts[2]}, {parts[3]} threads"
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:10], text


def _result(report: Report, tid: str):
    return next((r for r in report.results if r.id == tid), None)


def _ledger_for(path: Path, student_dir: bool) -> tuple[float | None, str, float | None]:
    """The self-reported training energy beside a report: ``<stem>.ledger.json`` or ``ledger.json``."""
    candidates = [path.with_name(path.name[:-len(".json")] + LEDGER_SUFFIX)]
    if student_dir:
        candidates.append(path.parent / "ledger.json")
    parts = path.resolve().parts
    if len(parts) > 5 and parts[-5:-3] == (".greenkit", "grade") and parts[-2] == "state":
        # a `greenkit grade` state file: the ledger the student submitted (their own search, not the re-run)
        course, lab = Path(*parts[:-5]), parts[-3]
        candidates.append(course / "submitted" / path.stem / lab / "greenkit-submissions" / lab / "ledger.json")
    for ledger in candidates:
        if ledger.is_file():
            try:
                led = read_ledger(ledger)
            except LedgerError as err:
                return None, f"ledger rejected: {err}", None
            return led.energy_j, f"self-reported, {led.kind}, {led.entries} blocks, {led.duration_s:.0f} s", \
                led.duration_s
    return None, "no ledger", None


def _entry(path: Path, lab: str, student: str, name: str, student_dir: bool) -> Entry:
    def unverified(reason: str) -> Entry:
        return Entry(student=student, name=name, status="unverified", reason=reason)

    if path.stat().st_size > _MAX_REPORT_BYTES:
        return unverified(f"{path.name} is over {_MAX_REPORT_BYTES:,} bytes")
    try:
        raw = json.loads(path.read_text())
        if type(raw) is dict and type(raw.get("row")) is dict:   # a `greenkit grade` state file
            row = raw["row"]
            if row.get("flags"):
                kinds = sorted({str(f.get("kind", "?")) for f in row["flags"] if type(f) is dict})
                return unverified(f"the class grader flagged this submission ({', '.join(kinds)}): see its report")
            reports = [r for r in row.get("reports") or [] if type(r) is dict and r.get("lab") == lab]
            if not reports:
                return unverified(f"the class grader has no {lab} report-card verdict for it "
                                  f"(status {row.get('status', '?')!r})")
            raw = reports[0]
        report = Report.from_json(json.dumps(raw))
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as err:
        return unverified(f"not a greenkit report ({type(err).__name__}: {str(err)[:200]})")
    if report.lab != lab:
        return unverified(f"a report for {report.lab!r}, not {lab!r}")
    if report.error:
        return unverified(f"could not check: {report.error[:300]}")
    if not str(report.verified_by).startswith("fresh process"):
        return unverified(f"not verified in a fresh process (verified by {report.verified_by or 'nobody'!r})")
    names = LAB_TARGETS.get(lab)
    if names is None:
        return unverified(f"no leaderboard definition for {lab!r} (known: {sorted(LAB_TARGETS)})")
    floor, acc, base = (_result(report, names[k]) for k in ("floor", "accuracy", "baseline_accuracy"))
    if floor is None or acc is None or acc.value is None:
        return unverified("the report lacks the lab's accuracy targets (an old or edited spec?)")
    key, text = _machine(report)
    macs = _result(report, names["macs"])
    e = Entry(student=student, name=name, status="ranked", accuracy=acc.value,
              baseline_accuracy=base.value if base is not None else None,
              macs_ratio=macs.value if macs is not None else None, machine=key, machine_text=text,
              floor_drop=floor.threshold if floor.kind.endswith("accuracy_drop_max") else None,
              verified_by=report.verified_by)
    e.training_energy_j, e.training_note, seconds = _ledger_for(path, student_dir)
    budget = names.get("budget_s")
    if seconds is not None and budget and seconds > budget:
        e.over_budget = True
        e.training_note += f"; OVER the {budget / 60:g}-minute budget"
    if floor.status != "pass":
        e.status = "below-floor"
        e.reason = (f"below the accuracy floor ({floor.value_text()} vs {floor.threshold_text()})"
                    if floor.value is not None else f"floor not evaluated: {floor.reason[:200]}")
        return e
    energy = next((r for tid in names["energy"] if (r := _result(report, tid)) is not None and r.value is not None),
                  None)
    if energy is None:
        reasons = "; ".join(r.reason for tid in names["energy"] if (r := _result(report, tid)) is not None)
        e.status, e.reason = "unverified", f"energy per inference was not measured ({reasons[:300] or 'no target'})"
        return e
    e.energy_ratio, e.energy_kind = energy.value, energy.method
    e.energy_interval = tuple(energy.interval) if energy.interval else None
    return e


def _report_files(folder: Path) -> list[tuple[Path, str, bool]]:
    """``(path, student id, in a student folder?)`` of each report in ``folder``."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix == ".json" and not p.name.endswith(LEDGER_SUFFIX):
            out.append((p, p.stem, False))
        elif p.is_dir() and not p.name.startswith("."):
            for q in sorted(p.glob("*.json")):
                if q.name != "ledger.json" and not q.name.endswith(LEDGER_SUFFIX):
                    out.append((q, p.name, True))
                    break
    return out


def pareto_front(entries: list[Entry]) -> list[Entry]:
    """Entries no other entry beats on both axes (accuracy at least as high, energy at most as low,
    one strictly better), sorted by energy ratio."""
    front = []
    for a in entries:
        dominated = any(b is not a and b.accuracy >= a.accuracy and b.energy_ratio <= a.energy_ratio
                        and (b.accuracy > a.accuracy or b.energy_ratio < a.energy_ratio) for b in entries)
        if not dominated:
            front.append(a)
    return sorted(front, key=lambda e: (e.energy_ratio, -e.accuracy))


def _rank(entries: list[Entry]) -> None:
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        if e.status == "ranked":
            groups.setdefault(e.machine, []).append(e)
    for group in groups.values():
        for e in pareto_front(group):
            e.pareto = True
        for i, e in enumerate(sorted(group, key=lambda e: (e.energy_ratio, -e.accuracy, e.name)), start=1):
            e.rank = i


def default_references(lab: str) -> list[Path]:
    """The lab's shipped reference reports (``greenkit/course/references/<lab>*.json``)."""
    return sorted(REFERENCES_DIR.glob(f"{lab}*.json"))


def build(lab: str, reports: str | Path, *, real_names: bool = False, references: list[str | Path] | None = None,
          key: bytes | None = None) -> Leaderboard:
    """Read a folder of verified reports for ``lab``; never raises for one bad report."""
    from greenkit.targets.spec import load_spec

    folder = Path(reports)
    if not folder.is_dir():
        raise FileNotFoundError(f"no reports folder {folder}: pass the folder the grader wrote the verified "
                                f"reports into (one <student>.json each), or use --mine")
    title = load_spec(lab).title
    key = key if key is not None else (b"" if real_names else _key(folder))
    entries = []
    for path, student, in_dir in _report_files(folder):
        name = student if real_names else pseudonym(student, key)
        entries.append(_entry(path, lab, student, name, in_dir))
    _rank(entries)
    refs = []
    for ref in (default_references(lab) if references is None else [Path(r) for r in references]):
        e = _entry(Path(ref), lab, Path(ref).stem, f"reference ({Path(ref).stem})", False)
        e.is_reference = True
        refs.append(e)
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Leaderboard(lab=lab, title=title, entries=entries, references=refs, generated_at=now,
                       source=str(folder))


# ---- the page --------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;margin:1.5em auto;
max-width:1150px;color:#1f2328;padding:0 1em}
h1{margin-bottom:.2em} .meta{color:#57606a;font-size:.92em}
.note{background:#f6f8fa;border-left:4px solid #1a7f37;padding:.6em 1em;margin:1em 0}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.6em 0 1.6em}
th,td{padding:.35em .6em;border-bottom:1px solid #d0d7de;text-align:left}
th{cursor:pointer;background:#f6f8fa;user-select:none} th:after{content:" \\2195";color:#8c959f}
tr.pareto td:first-child{font-weight:bold;color:#1a7f37}
tr.unverified td,tr.below-floor td{color:#6e7781}
.badge{font-size:.8em;padding:.1em .45em;border-radius:.6em;background:#dafbe1;color:#1a7f37}
.badge.below-floor{background:#fff8c5;color:#9a6700} .badge.unverified{background:#ffebe9;color:#cf222e}
"""

_SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute("data-order") !== "asc";
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-sort") || a.cells[col].textContent;
        var y = b.cells[col].getAttribute("data-sort") || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-order"); });
      th.setAttribute("data-order", asc ? "asc" : "desc");
    });
  });
});
"""


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _num(v: float | None, fmt: str = ".3f") -> str:
    return "-" if v is None or not math.isfinite(v) else format(v, fmt)


def _figure(board: Leaderboard, machine: str):
    import plotly.graph_objects as go

    ranked = board.group(machine, "ranked")   # below-floor models have no verified energy: table only
    kinds = sorted({e.energy_kind for e in ranked} | {r.energy_kind for r in board.references if r.energy_kind})
    kind = "measured" if kinds == ["measured"] else "estimated" if kinds else "no"
    fig = go.Figure()

    def hover(e: Entry) -> str:
        return (f"{html.escape(e.name)}<br>accuracy {_pct(e.accuracy)}<br>energy {_num(e.energy_ratio)}× baseline "
                f"({e.energy_kind})<br>MACs {_num(e.macs_ratio)}× baseline")

    others = [e for e in ranked if not e.pareto]
    front = [e for e in pareto_front(ranked)]
    if others:
        fig.add_scatter(x=[e.energy_ratio for e in others], y=[100 * e.accuracy for e in others], mode="markers",
                        name="students", marker=dict(size=11, color="#0969da", opacity=0.75),
                        hovertext=[hover(e) for e in others], hoverinfo="text")
    if front:
        fig.add_scatter(x=[e.energy_ratio for e in front], y=[100 * e.accuracy for e in front],
                        mode="lines+markers+text", name="Pareto front", text=[e.name for e in front],
                        textposition="top center", line=dict(color="#1a7f37", width=2, shape="hv"),
                        marker=dict(size=13, color="#1a7f37"), hovertext=[hover(e) for e in front], hoverinfo="text")
    baselines = [e.baseline_accuracy for e in board.group(machine) if e.baseline_accuracy is not None]
    if baselines:
        base_acc = 100 * sorted(baselines)[len(baselines) // 2]
        fig.add_scatter(x=[1.0], y=[base_acc], mode="markers+text",
                        name="baseline CNN", text=["baseline"], textposition="bottom center",
                        marker=dict(size=14, symbol="diamond", color="#57606a"))
        floor = next((e.floor_drop for e in board.group(machine) if e.floor_drop is not None), None)
        if floor is not None:
            fig.add_hline(y=base_acc - floor, line_dash="dash", line_color="#9a6700",
                          annotation_text=f"accuracy floor ({floor:g} points below the baseline)",
                          annotation_position="bottom left")
    for r in board.references:
        if r.energy_ratio is None:
            continue
        where = "this machine" if r.machine == machine else f"measured on {r.machine_text}"
        fig.add_scatter(x=[r.energy_ratio], y=[100 * r.accuracy], mode="markers+text",
                        name=f"reference solution ({where})",
                        text=["reference"], textposition="bottom right",
                        marker=dict(size=16, symbol="star", color="#bf8700"))
    ys = [y for trace in fig.data for y in (trace.y or ())] + [s.y0 for s in fig.layout.shapes]
    if ys:   # a horizontal line does not widen plotly's autorange: keep the floor in view
        fig.update_yaxes(range=[min(ys) - 0.6, max(ys) + 0.6])
    fig.update_layout(
        title=f"Accuracy vs energy per inference ({kind} energy, ratio to the baseline on this machine)",
        xaxis_title=f"energy per inference / baseline's, same machine, same run ({kind}; log scale, lower is better)",
        yaxis_title="test accuracy (%), checker's held-out images", xaxis_type="log", height=520,
        legend=dict(orientation="h", y=-0.22), margin=dict(t=60, b=40))
    return fig


def _table(entries: list[Entry], show_machine: bool) -> str:
    head = ["rank", "student", "accuracy", "energy / baseline", "energy kind", "MACs / baseline",
            "training energy (self-reported)", "status"] + (["machine"] if show_machine else [])
    rows = []
    for e in entries:
        interval = (f" [{_num(e.energy_interval[0])}, {_num(e.energy_interval[1])}]" if e.energy_interval else "")
        status = {"ranked": "Pareto front" if e.pareto else "ranked", "below-floor": "below the floor",
                  "unverified": "unverified"}[e.status]
        reason = f" &mdash; {html.escape(e.reason)}" if e.reason else ""
        if e.over_budget:
            reason += " <span class='badge below-floor'>over the compute budget (self-reported)</span>"
        train = (f"{e.training_energy_j / 1000:.2f} kJ ({html.escape(e.training_note)})"
                 if e.training_energy_j is not None else html.escape(e.training_note or "-"))
        cells = [
            (str(e.rank) if e.rank else "-", str(e.rank or 10**6)),
            (html.escape(e.name), None),
            (_pct(e.accuracy), str(e.accuracy if e.accuracy is not None else -1)),
            (_num(e.energy_ratio) + interval, str(e.energy_ratio if e.energy_ratio is not None else 1e9)),
            (html.escape(e.energy_kind or "-"), None),
            (_num(e.macs_ratio, ".4f"), str(e.macs_ratio if e.macs_ratio is not None else 1e9)),
            (train, str(e.training_energy_j if e.training_energy_j is not None else 1e12)),
            (f"<span class='badge {e.status}'>{status}</span>{reason}", None),
        ] + ([(html.escape(e.machine_text or "-"), None)] if show_machine else [])
        tds = "".join(f"<td{f' data-sort={html.escape(s, quote=True)!r}' if s is not None else ''}>{c}</td>"
                      for c, s in cells)
        cls = f"{e.status}{' pareto' if e.pareto else ''}"
        rows.append(f"<tr class='{cls}' data-student='{html.escape(e.name, quote=True)}' data-status='{e.status}' "
                    f"data-pareto='{'yes' if e.pareto else 'no'}'>{tds}</tr>")
    ths = "".join(f"<th>{h}</th>" for h in head)
    return f"<table class='sortable'><thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render(board: Leaderboard) -> str:
    """The page as one HTML string: plotly.js inlined, no network needed to view it."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    machines = board.machines()
    kinds = sorted({e.energy_kind for e in board.entries if e.energy_kind})
    kind_text = " and ".join(kinds) if kinds else "none (no verified energy figures)"
    parts = [f"<h1>{html.escape(board.title)} &mdash; leaderboard</h1>",
             f"<p class='meta'>Generated {html.escape(board.generated_at)} from {html.escape(board.source)}. "
             f"{len(board.entries)} submissions: {sum(e.status == 'ranked' for e in board.entries)} ranked, "
             f"{sum(e.status == 'below-floor' for e in board.entries)} below the floor, "
             f"{sum(e.status == 'unverified' for e in board.entries)} unverified. Energy: {html.escape(kind_text)}."
             f"</p>",
             "<div class='note'><b>How to read this.</b> Each point is one model, verified in a fresh process on "
             "held-out test images. Energy per inference is the model's <b>ratio to the baseline CNN measured "
             "side by side on the same machine in the same run</b> (interleaved pairs), so lower is better and "
             "1.0 is the baseline. Measurements from different machines are <b>never ranked together</b>: each "
             "machine has its own section, plot, Pareto front and ranking. The Pareto front (green) holds the "
             "models no other model beats on both accuracy and energy. <i>Estimated</i> energy is CPU time "
             "&times; a power model, not a counter reading. Training energy comes from each student's own "
             "ledger: self-reported, bounded, not verified.</div>"]
    parts.append(f"<script type='text/javascript'>{get_plotlyjs()}</script>")
    for i, (machine, text) in enumerate(machines.items(), start=1):
        group = sorted(board.group(machine), key=lambda e: (e.status != "ranked", e.rank or 0, e.name))
        fig = _figure(board, machine)
        parts.append(f"<h2>Machine {i}: {html.escape(text)}</h2>")
        parts.append(pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=f"plot-{machine}",
                                 config={"displaylogo": False}))
        parts.append(_table(group, show_machine=False))
    unverified = [e for e in board.entries if e.status == "unverified"]
    parts.append("<h2>Unverified submissions (not ranked)</h2>")
    parts.append(_table(unverified, show_machine=False) if unverified else "<p>None.</p>")
    if board.references:
        parts.append("<h2>Reference points</h2><p class='meta'>The lab's reference solution, verified by the same "
                     "checker; drawn as stars, never ranked.</p>")
        parts.append(_table(board.references, show_machine=True))
    data = json.dumps(board.to_dict()).replace("</", "<\\/")
    parts.append(f"<script type='application/json' id='leaderboard-data'>{data}</script>")
    parts.append(f"<script>{_SORT_JS}</script>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(board.title)} leaderboard</title><style>{_CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>")


def write_page(board: Leaderboard, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(board), encoding="utf-8")
    return path


def _graded_state(lab: str) -> Path:
    """Where ``greenkit grade LAB`` keeps one verified row per student (``.greenkit/grade/LAB/state``)."""
    from greenkit.course.layout import CourseNotFoundError, course_root

    try:
        state = course_root() / ".greenkit" / "grade" / lab / "state"
    except CourseNotFoundError as err:
        raise FileNotFoundError(f"{err} Or pass --reports DIR (a folder of verified reports).") from err
    if not state.is_dir():
        raise FileNotFoundError(f"{state} does not exist: grade the class first (`greenkit grade {lab}`), or "
                                f"pass --reports DIR (one verified report per student, from `greenkit verify --json`)")
    return state


def leaderboard(lab: str, reports: str | Path | None = None, out: str | Path | None = None, *,
                mine: bool = False, real_names: bool = False,
                references: list[str | Path] | None = None) -> tuple[Path, Leaderboard]:
    """Build the page and write it; returns ``(page path, Leaderboard)``.

    ``reports``: a folder of verified reports; default: what ``greenkit grade LAB`` kept for the
    course (``.greenkit/grade/LAB/state/<student>.json``, each holding the student's verified reports).
    ``mine=True``: the attempts in ``.greenkit/attempts/<lab>/`` (real names: they are timestamps).
    """
    if mine:
        reports = ATTEMPTS_DIR / lab if reports is None else Path(reports)
        if not Path(reports).is_dir():
            raise FileNotFoundError(f"no attempts in {reports}: run the report-card cell of {lab} in this folder "
                                    f"first (it keeps each verified report there)")
        real_names = True
        out = out or Path(".greenkit") / f"leaderboard-{lab}.html"
    elif reports is None:
        reports = _graded_state(lab)
    board = build(lab, reports, real_names=real_names, references=references)
    return write_page(board, out or f"leaderboard-{lab}.html"), board


# ---- command line -------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    """``greenkit leaderboard`` (registered in greenkit/cli.py's command tree)."""
    lab = args.lab or args.lab_opt or "lab07_challenge"
    try:
        path, board = leaderboard(lab, args.reports, args.out, mine=args.mine, real_names=args.real_names,
                                  references=args.reference)
    except (FileNotFoundError, ValueError) as err:
        print(f"greenkit leaderboard: {err}", file=sys.stderr)
        return 2
    counts = {s: sum(e.status == s for e in board.entries) for s in ("ranked", "below-floor", "unverified")}
    print(f"{path}: {counts['ranked']} ranked, {counts['below-floor']} below the floor, "
          f"{counts['unverified']} unverified, {len(board.machines())} machine(s)")
    for e in board.entries:
        if e.status == "unverified":
            print(f"  unverified {e.name}: {e.reason}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``greenkit leaderboard``."""
    p.add_argument("lab", nargs="?", help="lab name (default lab07_challenge)")
    p.add_argument("--lab", dest="lab_opt", help=argparse.SUPPRESS)
    p.add_argument("--reports", help="folder of verified reports, one <student>.json each (greenkit verify --json); "
                   "default: what `greenkit grade LAB` kept for this course")
    p.add_argument("--mine", action="store_true", help="your own attempts (.greenkit/attempts/<lab>/)")
    p.add_argument("--out", help="page to write (default leaderboard-<lab>.html, --mine: .greenkit/...)")
    p.add_argument("--real-names", action="store_true", help="show student ids instead of pseudonyms")
    p.add_argument("--reference", action="append", help="a reference report to draw (default: the lab's shipped one)")
