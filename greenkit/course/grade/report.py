"""The class report: a CSV, a self-contained HTML page with plotly figures, and a terminal progress bar.

CSV columns: ``student, lab, status, score, max_score, <one column per graded cell>, limit_hits,
flags, energy_kind, messages, execute_s, sandboxed``. The HTML page embeds plotly.js (no network
needed to open it) and shows the score distribution, the energy ratios the checker measured (each
marked measured or estimated), and who was flagged, with the evidence.
"""

from __future__ import annotations

import csv
import html
import io
import sys
import time
from pathlib import Path

__all__ = ["write_csv", "write_html", "Progress"]


def _cells(rows: list[dict]) -> list[str]:
    names: list[str] = []
    for r in rows:
        for k in r.get("points", {}):
            if k not in names:
                names.append(k)
    return names


def _flag_text(r: dict) -> str:
    return "; ".join(f"[{f['kind']}] cell {f['cell']}: {f['evidence']}" if f["cell"] >= 0 else
                     f"[{f['kind']}] {f['evidence']}" for f in r.get("flags", []))


def write_csv(rows: list[dict], path: Path) -> Path:
    cells = _cells(rows)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "lab", "status", "score", "max_score", *cells, "limit_hits", "flags",
                     "energy_kind", "messages", "execute_s", "sandboxed"])
        for r in rows:
            pts = r.get("points", {})
            w.writerow([r["student"], r["lab"], r["status"], f"{r.get('score', 0):g}", f"{r.get('max_score', 0):g}",
                        *[("" if pts.get(c) is None else f"{pts[c]:g}") for c in cells],
                        ";".join(r.get("limit_hits", [])), _flag_text(r), r.get("energy_kind", ""),
                        " | ".join(r.get("messages", [])), f"{r.get('execute_s', 0):.1f}", r.get("sandboxed", "")])
    return path


def _energy_points(rows: list[dict]) -> list[tuple[str, str, float, str]]:
    """(student, target id, value, measured|estimated) for every energy-ratio target in the reports."""
    out = []
    for r in rows:
        for rep in r.get("reports", []):
            for t in rep.get("results", []):
                if "energy" in str(t.get("kind", "")) and t.get("value") is not None:
                    out.append((r["student"], t.get("id", ""), float(t["value"]), t.get("method") or "?"))
    return out


def write_html(rows: list[dict], path: Path, title: str) -> Path:
    import plotly.graph_objects as go
    from plotly.io import to_html

    figs = []
    scores = [r.get("score", 0) for r in rows]
    top = max([r.get("max_score", 0) for r in rows] or [0])
    fig = go.Figure(go.Histogram(x=scores, xbins={"start": -0.25, "end": top + 0.25, "size": 0.5} if top else None,
                                 marker_color="#2a9d8f"))
    fig.update_layout(title=f"Score distribution ({len(rows)} submissions, max {top:g} points)",
                      xaxis_title="auto-graded score (points)", yaxis_title="students")
    figs.append(fig)
    energy = _energy_points(rows)
    fig = go.Figure()
    for kind in sorted({e[3] for e in energy}):
        pts = [e for e in energy if e[3] == kind]
        fig.add_trace(go.Scatter(x=[e[0] for e in pts], y=[e[2] for e in pts], mode="markers", name=kind,
                                 text=[e[1] for e in pts]))
    fig.update_layout(title="Energy ratios from the checker (submission / baseline; marker = measured or "
                      "estimated)" if energy else "Energy ratios: no energy target in this lab's report cards",
                      xaxis_title="student", yaxis_title="energy ratio (dimensionless)")
    figs.append(fig)
    flagged = [r for r in rows if r.get("flags")]
    kinds = sorted({f["kind"] for r in flagged for f in r["flags"]})
    fig = go.Figure(go.Bar(x=kinds, y=[sum(any(f["kind"] == k for f in r["flags"]) for r in flagged) for k in kinds],
                           marker_color="#e76f51"))
    fig.update_layout(title=f"Flagged submissions by kind of evidence ({len(flagged)} flagged)",
                      xaxis_title="kind of evidence", yaxis_title="students")
    figs.append(fig)
    parts = [to_html(figs[0], include_plotlyjs=True, full_html=False, div_id="scores")]
    parts += [to_html(f, include_plotlyjs=False, full_html=False, div_id=d) for f, d in zip(figs[1:], ("energy", "flags"), strict=True)]
    table = io.StringIO()
    table.write("<table id='students'><tr><th>student</th><th>status</th><th>score</th><th>limit hits</th>"
                "<th>flags (evidence)</th><th>messages</th></tr>")
    for r in rows:
        cls = " class='flagged'" if r.get("flags") else ""
        table.write(f"<tr{cls}><td>{html.escape(r['student'])}</td><td>{html.escape(r['status'])}</td>"
                    f"<td>{r.get('score', 0):g} / {r.get('max_score', 0):g}</td>"
                    f"<td>{html.escape(', '.join(r.get('limit_hits', [])))}</td>"
                    f"<td>{html.escape(_flag_text(r))}</td>"
                    f"<td>{html.escape(' | '.join(r.get('messages', [])))}</td></tr>")
    table.write("</table>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}} tr.flagged{{background:#fde2d8}}</style>
</head><body><h1>{html.escape(title)}</h1>
<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')} by <code>greenkit grade</code>.
Flagged rows need an instructor's look; the evidence names the cell and line.</p>
{''.join(parts)}
<h2>Students</h2>{table.getvalue()}
</body></html>"""
    path.write_text(page, encoding="utf-8")
    return path


class Progress:
    """``[#####.....] 5/12 graded, 1 flagged, 0 errors, ~3 min left`` on the terminal (a line per student
    when stderr is not a terminal)."""

    def __init__(self, total: int, stream=None, width: int = 30):
        self.total, self.done, self.flagged, self.errors = total, 0, 0, 0
        self.stream = stream or sys.stderr
        self.width = width
        self.t0 = time.monotonic()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, student: str, flagged: bool, error: bool, skipped: bool = False) -> None:
        self.done += 1
        self.flagged += bool(flagged)
        self.errors += bool(error)
        rate = (time.monotonic() - self.t0) / self.done
        left = rate * (self.total - self.done)
        n = int(self.width * self.done / max(self.total, 1))
        line = (f"[{'#' * n}{'.' * (self.width - n)}] {self.done}/{self.total} graded, {self.flagged} flagged, "
                f"{self.errors} errors, ~{left / 60:.1f} min left")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(f"{line}  ({student}{', unchanged' if skipped else ''})\n")
        self.stream.flush()
