"""Energy and latency per inference, and paired A/B comparisons, with 95% intervals.

Protocol (both functions):

1. warm-up calls (caches, allocator, lazy init), then a timed calibration gives the
   seconds per call :math:`t_c`;
2. each *window* runs :math:`n = \\lceil w / t_c \\rceil` calls, where the window length
   :math:`w` is at least 10 updates of the slowest counter in use (RAPL ~1 ms, NVML
   ~100 ms; the CPU-time estimate needs none) and never below 50 ms;
3. the counters are read at window boundaries only; per inference (= per sample of the
   batch, ``batch_size = inputs.shape[0]``) energy and latency are
   :math:`e = E_{window} / (n \\cdot B)`, :math:`\\ell = t_{window} / (n \\cdot B)`;
4. the summary is the median over windows with a distribution-free 95% interval from
   order statistics (:func:`median_ci95`).

:func:`compare` interleaves the two models as A B | B A | A B | ... (ABBA), so drift in
temperature, clock speed or background load hits both alike, and summarises the per-pair
ratios :math:`r_i = e_{B,i} / e_{A,i}` (< 1: B is cheaper; A is the baseline).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence

from greenkit.energy.base import CounterStalled
from greenkit.energy.meter import measure_idle
from greenkit.energy.provenance import Provenance
from greenkit.energy.sampler import SessionGroup
from greenkit.energy.selection import Selection, resolve_backends

__all__ = ["Comparison", "InferenceEnergy", "compare", "measure_inference", "median_ci95"]

#: Shortest window the protocol uses, in seconds, whatever the counter (scheduler noise).
MIN_WINDOW_FLOOR_S = 0.05


def median_ci95(xs: Sequence[float]) -> tuple[float, tuple[float, float], float]:
    """Median of ``xs`` and a distribution-free ~95% interval for the population median.

    With :math:`x_{(1)} \\le \\dots \\le x_{(n)}` and :math:`K \\sim \\mathrm{Binomial}(n, 1/2)`,
    take the largest :math:`k` with :math:`P(K < k) \\le 0.025`; then
    :math:`[x_{(k)}, x_{(n-k+1)}]` covers the median with probability
    :math:`1 - 2P(K < k) \\ge 0.95`. Returns (median, (low, high), coverage).
    Needs n >= 6 (below that no interval reaches 95%).

    >>> median_ci95([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])[1]
    (2, 9)
    """
    n = len(xs)
    if n < 6:
        raise ValueError(f"a 95% interval for a median needs at least 6 values, got {n}")
    s = sorted(xs)
    cdf, k = 0.0, 0  # cdf = P(K < k+1) as k grows
    while True:
        nxt = cdf + math.comb(n, k) / 2**n
        if nxt > 0.025:
            break
        cdf, k = nxt, k + 1
    # k = largest count with P(K <= k-1) <= 0.025, i.e. P(K < k) <= 0.025; k >= 1 when n >= 6
    return statistics.median(s), (s[k - 1], s[n - k]), 1 - 2 * cdf


def _device(model, inputs) -> str:
    dev = getattr(inputs, "device", None)
    params = getattr(model, "parameters", None)
    if callable(params):
        p = next(iter(params()), None)
        if p is not None:
            dev = p.device
    return str(dev) if dev is not None else "cpu"


def _runner(model: Callable, inputs, device: str) -> Callable[[], None]:
    import torch

    if not callable(model):
        raise ValueError(f"model must be an nn.Module or a callable taking inputs, got {type(model).__name__}")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def run() -> None:
        with torch.inference_mode():
            model(inputs)
        sync()

    return run


def _batch(inputs) -> int:
    shape = getattr(inputs, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) > 0 else 1


def _calibrate(run: Callable[[], None], warmup: int) -> float:
    """Seconds per call: warm-up calls after the first are timed, topped up to >= 20 ms of calls."""
    if warmup > 0:
        run()  # the first call pays for lazy init; never timed
    n, t0 = 0, time.perf_counter()
    for _ in range(max(0, warmup - 1)):
        run()
        n += 1
    while n == 0 or (time.perf_counter() - t0 < 0.02 and n < 1000):
        run()
        n += 1
    return (time.perf_counter() - t0) / n


def _window(group: SessionGroup, run: Callable[[], None], n: int, min_s: float = 0.0) -> tuple[float, float, int]:
    """(joules, seconds, calls) for ``n`` calls of ``run``, topped up to at least ``min_s``.

    ``n`` comes from a calibration run; if the machine got faster since (a busy
    neighbour went idle), extra calls keep the window as long as the counter needs.
    """
    t0, e0 = group.total()
    calls = 0
    start = time.perf_counter()
    while calls < n or time.perf_counter() - start < min_s:
        run()
        calls += 1
    t1, e1 = group.total()
    sel = group.selection
    if e1 - e0 <= 0 and any(b.kind == "measured" for b in sel.backends):
        raise CounterStalled(f"{sel.name} reported {e1 - e0:.3g} J for a {t1 - t0:.3f} s window",
                             "run `greenkit doctor`; use a longer min_window_s or backend='estimate'")
    return e1 - e0, t1 - t0, calls


def _window_length_s(sel: Selection, min_window_s: float | None) -> float:
    """Window length: the user's, or 10 counter updates and >= 50 ms; never shorter than the counter allows."""
    if min_window_s is None:
        return max(MIN_WINDOW_FLOOR_S, sel.min_window_s())
    if not (min_window_s > 0 and math.isfinite(min_window_s)):
        raise ValueError(f"min_window_s must be a positive number of seconds, got {min_window_s!r}")
    # a window the counter cannot resolve is lengthened, never reported as ~0
    return max(min_window_s, sel.min_window_s())


def _provenance(sel: Selection, device: str) -> dict:
    """The Provenance fields of a protocol result run on ``device`` with backends ``sel``."""
    import torch

    return {"kind": sel.kind, "backend": sel.name, "source": sel.source, "threads": torch.get_num_threads(),
            "device": device, "notes": list(sel.notes)}


@dataclasses.dataclass
class InferenceEnergy(Provenance):
    """Energy (J) and latency (s) per inference (one sample of the batch), medians over windows.

    ``window_s`` is the length every window was made to reach; ``window_durations_s`` what
    each one actually lasted. Where the figures came from (``kind``, ``backend``,
    ``source``, ``threads``, ``device``, ``notes``) is the shared
    :class:`~greenkit.energy.provenance.Provenance` record.
    """

    energy_j_per_inference: float
    energy_j_ci95: tuple[float, float]
    latency_s_per_inference: float
    latency_s_ci95: tuple[float, float]
    inferences_per_window: int
    windows: int
    batch_size: int
    calls_per_window: int
    window_s: float
    ci_coverage: float
    net_energy_j_per_inference: float | None = None
    idle_power_w: float | None = None
    energy_j_windows: list[float] = dataclasses.field(default_factory=list, repr=False)
    latency_s_windows: list[float] = dataclasses.field(default_factory=list, repr=False)
    #: each window's length in seconds (calls were added when a window ran short of window_s)
    window_durations_s: list[float] = dataclasses.field(default_factory=list, repr=False)

    @property
    def window_seconds(self) -> list[float]:
        """Deprecated name of :attr:`window_durations_s` (it read like ``window_s``, a different figure)."""
        warnings.warn("InferenceEnergy.window_seconds is deprecated; use window_durations_s",
                      DeprecationWarning, stacklevel=2)
        return self.window_durations_s

    def __repr__(self) -> str:
        lo, hi = self.energy_j_ci95
        llo, lhi = self.latency_s_ci95
        lines = [f"InferenceEnergy [{self.label} by {self.backend}]: {self.energy_j_per_inference:.4g} J/inference "
                 f"(95% CI {lo:.4g}-{hi:.4g}), {self.latency_s_per_inference * 1e3:.4g} ms/inference "
                 f"(95% CI {llo * 1e3:.4g}-{lhi * 1e3:.4g})",
                 f"  {self.windows} windows x {self.calls_per_window} calls x batch {self.batch_size}; "
                 f"{self.threads} threads on {self.device}"]
        if self.net_energy_j_per_inference is not None:
            lines.insert(1, f"  net of idle ({self.idle_power_w:.3g} W): {self.net_energy_j_per_inference:.4g} J/inference")
        return "\n".join(lines + self.provenance_lines())


def measure_inference(model: Callable, inputs, *, warmup: int = 3, windows: int = 10,
                      min_window_s: float | None = None, backend="auto",
                      idle_baseline: bool = False) -> InferenceEnergy:
    """Energy and latency per inference of ``model(inputs)``, with 95% intervals.

    ``model``: an ``nn.Module`` or any callable; ``inputs``: a batch tensor of shape
    ``(B, ...)``; each call runs under ``torch.inference_mode()``; per inference means
    per sample, i.e. per call divided by ``B``. ``windows`` >= 6.

    >>> import torch
    >>> r = measure_inference(torch.nn.Linear(8, 2), torch.zeros(4, 8), backend="estimate")
    >>> r.batch_size, r.kind
    (4, 'estimated')
    """
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if windows < 6:
        raise ValueError(f"windows must be >= 6 for a 95% interval of the median, got {windows}")
    device = _device(model, inputs)
    run, batch = _runner(model, inputs, device), _batch(inputs)
    sel = resolve_backends(backend)
    w = _window_length_s(sel, min_window_s)
    with SessionGroup(sel) as group:
        t_call = _calibrate(run, warmup)
        n = max(1, math.ceil(w / t_call))
        es, ls, spans = [], [], []
        for _ in range(windows):
            e, t, k = _window(group, run, n, w)
            es.append(e / (k * batch))
            ls.append(t / (k * batch))
            spans.append(t)
    e_med, e_ci, cov = median_ci95(es)
    l_med, l_ci, _ = median_ci95(ls)
    res = InferenceEnergy(e_med, e_ci, l_med, l_ci, n * batch, windows, batch, n, w, cov, energy_j_windows=es,
                          latency_s_windows=ls, window_durations_s=spans, **_provenance(sel, device))
    if idle_baseline:
        idle = measure_idle(backend=sel.backends)
        res.idle_power_w = idle.power_w
        res.net_energy_j_per_inference = statistics.median(
            e - idle.power_w * t for e, t in zip(es, ls, strict=True))
    return res


@dataclasses.dataclass
class Comparison(Provenance):
    """B relative to A (the baseline): ratios < 1 mean B uses less energy / time.

    Provenance fields (``kind``, ``backend``, ``source``, ``threads``, ``device``,
    ``notes``) as in :class:`~greenkit.energy.provenance.Provenance`.
    """

    energy_ratio: float
    energy_ratio_ci95: tuple[float, float]
    latency_ratio: float
    latency_ratio_ci95: tuple[float, float]
    energy_j_per_inference_a: float
    energy_j_per_inference_b: float
    latency_s_per_inference_a: float
    latency_s_per_inference_b: float
    pairs: int
    calls_per_window_a: int
    calls_per_window_b: int
    window_s: float
    ci_coverage: float
    energy_ratios: list[float] = dataclasses.field(default_factory=list, repr=False)
    latency_ratios: list[float] = dataclasses.field(default_factory=list, repr=False)

    @property
    def energy_basis(self) -> str:
        if self.kind == "measured":
            return super().energy_basis
        return (f"{self.label}: CPU time x a fixed W/core, so the energy ratio is the CPU-time ratio"
                if self.backend == "estimate" else super().energy_basis)

    def __repr__(self) -> str:
        lo, hi = self.energy_ratio_ci95
        llo, lhi = self.latency_ratio_ci95
        return "\n".join([
            f"Comparison B/A over {self.pairs} interleaved pairs (ABBA), {self.threads} threads on {self.device}",
            f"  energy  B/A = {self.energy_ratio:.3f} (95% CI {lo:.3f}-{hi:.3f})  [{self.energy_basis}]",
            f"  latency B/A = {self.latency_ratio:.3f} (95% CI {llo:.3f}-{lhi:.3f})",
            f"  A: {self.energy_j_per_inference_a:.4g} J, {self.latency_s_per_inference_a * 1e3:.4g} ms per inference;"
            f" B: {self.energy_j_per_inference_b:.4g} J, {self.latency_s_per_inference_b * 1e3:.4g} ms per inference",
            *self.provenance_lines()])


def compare(model_a: Callable, model_b: Callable, inputs, *, pairs: int = 10, min_window_s: float | None = None,
            backend="auto", inputs_b=None, warmup: int = 3) -> Comparison:
    """Paired, interleaved A/B measurement of energy and latency per inference.

    Windows alternate A B | B A | A B | ... so slow drifts cancel; each pair gives
    :math:`r_i = e_{B,i}/e_{A,i}` (and the same for latency); the result is the median
    ratio with a distribution-free 95% interval (:func:`median_ci95`). ``inputs_b``
    feeds model B when it needs different inputs (e.g. quantized); the per-inference
    figures divide by each side's own batch size. ``pairs`` >= 6.
    """
    if pairs < 6:
        raise ValueError(f"pairs must be >= 6 for a 95% interval of the median ratio, got {pairs}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    inputs_b = inputs if inputs_b is None else inputs_b
    dev_a, dev_b = _device(model_a, inputs), _device(model_b, inputs_b)
    run_a, run_b = _runner(model_a, inputs, dev_a), _runner(model_b, inputs_b, dev_b)
    bat_a, bat_b = _batch(inputs), _batch(inputs_b)
    sel = resolve_backends(backend)
    w = _window_length_s(sel, min_window_s)
    with SessionGroup(sel) as group:
        n_a = max(1, math.ceil(w / _calibrate(run_a, warmup)))
        n_b = max(1, math.ceil(w / _calibrate(run_b, warmup)))
        ea, eb, la, lb = [], [], [], []
        for i in range(pairs):
            order = ("a", "b") if i % 2 == 0 else ("b", "a")  # A B | B A | A B ... (ABBA)
            for side in order:
                if side == "a":
                    e, t, k = _window(group, run_a, n_a, w)
                    ea.append(e / (k * bat_a))
                    la.append(t / (k * bat_a))
                else:
                    e, t, k = _window(group, run_b, n_b, w)
                    eb.append(e / (k * bat_b))
                    lb.append(t / (k * bat_b))
    er = [b / a for a, b in zip(ea, eb, strict=True)]
    lr = [b / a for a, b in zip(la, lb, strict=True)]
    e_med, e_ci, cov = median_ci95(er)
    l_med, l_ci, _ = median_ci95(lr)
    dev = dev_a if dev_a == dev_b else f"A {dev_a}, B {dev_b}"
    return Comparison(e_med, e_ci, l_med, l_ci, statistics.median(ea), statistics.median(eb),
                      statistics.median(la), statistics.median(lb), pairs, n_a, n_b, w, cov, er, lr,
                      **_provenance(sel, dev))
