"""Plotly figures for the labs. Every energy figure says in its title whether it is measured or estimated.

Energy figures:

- :func:`power_trace`: power over time from ``measure(trace_interval_s=...)``;
- :func:`energy_per_inference`: bars of J per inference with their 95% intervals, from
  ``measure_inference`` results (one per model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["energy_per_inference", "power_trace"]


def _kind_label(kinds: Sequence[str], backends: Sequence[str]) -> str:
    if any(k == "estimated" for k in kinds):
        return "ESTIMATED (" + ", ".join(sorted(set(backends))) + ")"
    return "measured (" + ", ".join(sorted(set(backends))) + ")"


def power_trace(report, title: str | None = None):
    """Line plot of power (W) against time (s) from an ``EnergyReport`` with a trace.

    The idle power, if known, is drawn as a dashed line; the mean power as a dotted one.
    Raises ``ValueError`` if the report has no trace (measure with ``trace_interval_s=``).
    """
    import plotly.graph_objects as go

    if not getattr(report, "trace", None):
        raise ValueError("this report has no power trace; measure with gk.measure(trace_interval_s=0.1)")
    t = [p[0] for p in report.trace]
    w = [p[1] for p in report.trace]
    fig = go.Figure(go.Scatter(x=t, y=w, mode="lines+markers", name="power"))
    fig.add_hline(y=report.power_w, line_dash="dot", annotation_text=f"mean {report.power_w:.3g} W")
    if report.idle_power_w is not None:
        fig.add_hline(y=report.idle_power_w, line_dash="dash", annotation_text=f"idle {report.idle_power_w:.3g} W")
    label = _kind_label([report.kind], [report.backend])
    fig.update_layout(
        title=title or f"Power over time, {label}: {report.energy_j:.3g} J in {report.duration_s:.2f} s",
        xaxis_title="time since start (s)", yaxis_title="power (W)", template="plotly_white")
    return fig


def energy_per_inference(results: Mapping[str, object] | Sequence[tuple[str, object]], title: str | None = None):
    """Bars of energy per inference (J) with asymmetric 95% error bars, one bar per named result.

    ``results``: ``{"baseline": r1, "pruned": r2}`` of ``InferenceEnergy`` objects.
    """
    import plotly.graph_objects as go

    items = list(results.items()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ValueError("energy_per_inference needs at least one result")
    names = [n for n, _ in items]
    e = [r.energy_j_per_inference for _, r in items]
    lo = [r.energy_j_per_inference - r.energy_j_ci95[0] for _, r in items]
    hi = [r.energy_j_ci95[1] - r.energy_j_per_inference for _, r in items]
    fig = go.Figure(go.Bar(x=names, y=e, error_y={"type": "data", "symmetric": False, "array": hi,
                                                  "arrayminus": lo}, name="energy per inference"))
    label = _kind_label([r.kind for _, r in items], [r.backend for _, r in items])
    fig.update_layout(title=title or f"Energy per inference (median, 95% CI), {label}",
                      xaxis_title="model", yaxis_title="energy per inference (J)", template="plotly_white")
    return fig
