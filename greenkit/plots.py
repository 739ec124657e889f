"""Plotly figures for the labs. Every energy figure says in its title whether it is measured or estimated.

Energy figures:

- :func:`power_trace`: power over time from ``measure(trace_interval_s=...)``;
- :func:`energy_per_inference`: bars of J per inference with their 95% intervals, from
  ``measure_inference`` results (one per model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from greenkit.energy.provenance import combined_kind
from greenkit.i18n import _, language

__all__ = ["energy_per_inference", "power_trace"]


# Titles and axes follow greenkit's language (greenkit.i18n: set_language(), $GREENKIT_LANG, the locale).
# Browsers fall back to a CJK font by themselves; naming common ones also serves static exports.
_CJK_FONTS = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif'


def _kind_label(kinds: Sequence[str], backends: Sequence[str]) -> str:
    """The title's label; energy's one rule for a mix decides (any part not measured: estimated)."""
    names = ", ".join(sorted(set(backends)))
    if combined_kind(kinds) == "estimated":
        return _("ESTIMATED ({backends})").format(backends=names)
    return _("measured ({backends})").format(backends=names)


def _layout(fig, **layout) -> None:
    if language() == "zh_CN":
        layout["font"] = {"family": '"Open Sans", ' + _CJK_FONTS}
    fig.update_layout(template="plotly_white", **layout)


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
    fig = go.Figure(go.Scatter(x=t, y=w, mode="lines+markers", name=_("power")))
    fig.add_hline(y=report.power_w, line_dash="dot",
                  annotation_text=_("mean {power_w:.3g} W").format(power_w=report.power_w))
    if report.idle_power_w is not None:
        fig.add_hline(y=report.idle_power_w, line_dash="dash",
                      annotation_text=_("idle {power_w:.3g} W").format(power_w=report.idle_power_w))
    label = _kind_label([report.kind], [report.backend])
    default = _("Power over time, {label}: {energy_j:.3g} J in {duration_s:.2f} s").format(
        label=label, energy_j=report.energy_j, duration_s=report.duration_s)
    _layout(fig, title=title or default, xaxis_title=_("time since start (s)"), yaxis_title=_("power (W)"))
    return fig


def energy_per_inference(results: Mapping[str, object] | Sequence[tuple[str, object]], title: str | None = None):
    """Bars of energy per inference (J) with asymmetric 95% error bars, one bar per named result.

    ``results``: ``{"baseline": r1, "pruned": r2}`` of ``InferenceEnergy`` objects.
    """
    import plotly.graph_objects as go

    items = list(results.items()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ValueError("energy_per_inference needs at least one result")
    names = [n for n, _r in items]
    e = [r.energy_j_per_inference for _n, r in items]
    lo = [r.energy_j_per_inference - r.energy_j_ci95[0] for _n, r in items]
    hi = [r.energy_j_ci95[1] - r.energy_j_per_inference for _n, r in items]
    fig = go.Figure(go.Bar(x=names, y=e, error_y={"type": "data", "symmetric": False, "array": hi,
                                                  "arrayminus": lo}, name=_("energy per inference")))
    label = _kind_label([r.kind for _n, r in items], [r.backend for _n, r in items])
    _layout(fig, title=title or _("Energy per inference (median, 95% CI), {label}").format(label=label),
            xaxis_title=_("model"), yaxis_title=_("energy per inference (J)"))
    return fig
