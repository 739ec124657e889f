"""Which energy backends a measurement uses, and why: the one place backends are chosen.

``"auto"`` takes, in order:

1. ``GREENKIT_BACKEND`` when set (e.g. ``estimate`` where RAPL must stay closed);
2. the first *measured* CPU source that works: :data:`CPU_MEASURED_PREFERENCE`
   (RAPL read directly, then pyRAPL, then an Apple Silicon SoC via IOReport);
   if none works, the CPU-time estimate, labelled as such;
3. every GPU source that works (:data:`GPU_PREFERENCE`: NVIDIA through NVML, AMD
   through amdsmi) whose hardware the chosen sources do not already cover.

Whatever is skipped leaves a note saying why (except sources that cannot exist on this
OS, whose ``Availability.details["not_applicable"]`` is true); ``greenkit doctor`` prints the same
choice with :func:`auto_select`, so the labs and the doctor can never disagree.

An explicit choice (``"rapl"``, ``"rapl+nvml"``, Backend instances, a list) is checked:
each backend must be available (else its error with the fix is raised) and no two may
cover the same hardware (their sum would double count).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

from greenkit.energy.base import BACKENDS, Backend, get_backend
from greenkit.energy.provenance import combined_kind
from greenkit.i18n import _

__all__ = ["CPU_MEASURED_PREFERENCE", "GPU_PREFERENCE", "MIN_UPDATES_PER_WINDOW", "Selection",
           "auto_select", "resolve_backends"]

#: A window must span at least this many updates of the slowest counter in it.
MIN_UPDATES_PER_WINDOW = 10
#: Measured CPU sources, best first; ``auto`` takes the first that works.
CPU_MEASURED_PREFERENCE = ("rapl", "pyrapl", "apple")
#: GPU sources; ``auto`` adds every one that works.
GPU_PREFERENCE = ("nvml", "amdsmi")


@dataclasses.dataclass
class Selection:
    """Backends chosen for a measurement, and why (``notes`` end up in the report)."""

    backends: list[Backend]
    notes: list[str]
    auto: bool

    @property
    def name(self) -> str:
        return "+".join(b.name for b in self.backends)

    @property
    def kind(self) -> str:
        return combined_kind(b.kind for b in self.backends)

    @property
    def source(self) -> str:
        """Every backend's description, joined: which counters, or which model."""
        return " + ".join(b.describe() for b in self.backends)

    @property
    def device(self) -> str:
        """The hardware the total covers, e.g. ``"cpu"`` or ``"cpu+gpu:nvidia"``."""
        return "+".join(c for b in self.backends for c in b.covers)

    @property
    def update_period_s(self) -> float:
        return max(b.update_period_s for b in self.backends)

    def min_window_s(self) -> float:
        """Shortest honest window: 10 updates of the slowest *counter* (estimates need none)."""
        measured = [b.update_period_s for b in self.backends if b.kind == "measured"]
        return MIN_UPDATES_PER_WINDOW * max(measured) if measured else 0.0


def _instance(name: str, overrides: Mapping[str, Backend]) -> Backend:
    return overrides.get(name) or get_backend(name)


def resolve_backends(backend: str | Backend | Sequence[str | Backend] = "auto",
                     overrides: Mapping[str, Backend] | None = None) -> Selection:
    """Turn ``"auto"``, ``"rapl"``, ``"rapl+nvml"``, a Backend or a list of them into a :class:`Selection`.

    ``overrides`` replaces the registry's shared instances by name (``greenkit doctor
    --powercap-root`` points RAPL elsewhere with it).
    """
    overrides = overrides or {}
    if isinstance(backend, Backend):
        backend.require()
        return Selection([backend], [], False)
    if isinstance(backend, str):
        if backend == "auto":
            env = os.environ.get("GREENKIT_BACKEND", "").strip()
            if env and env != "auto":
                sel = resolve_backends(env, overrides)
                sel.notes.append(f"backend {env!r} chosen by GREENKIT_BACKEND")
                return sel
            return auto_select(overrides)
        names = [n.strip() for n in backend.split("+") if n.strip()]
        if not names:
            raise ValueError("backend must name at least one energy backend")
        backend = names
    out: list[Backend] = []
    for b in backend:
        if isinstance(b, str):
            if b == "auto":
                raise ValueError("'auto' cannot be combined with other backends")
            if b not in BACKENDS:
                raise ValueError(f"unknown energy backend {b!r}; known: {sorted(BACKENDS)} or 'auto'")
            b = _instance(b, overrides)
        if not isinstance(b, Backend):
            raise ValueError(f"not an energy backend: {b!r}")
        b.require()
        out.append(b)
    covered: dict[str, str] = {}
    for b in out:
        for c in b.covers:
            if c in covered:
                raise ValueError(f"backends {[x.name for x in out]} cover {c!r} twice ({covered[c]} and "
                                 f"{b.name}); their sum would double count (use one CPU and at most one "
                                 "backend per GPU vendor)")
            covered[c] = b.name
    return Selection(out, [], False)


def auto_select(overrides: Mapping[str, Backend] | None = None) -> Selection:
    """What ``"auto"`` picks here (ignoring ``GREENKIT_BACKEND``), with a note for each source skipped."""
    overrides = overrides or {}
    notes: list[str] = []
    chosen: list[Backend] = []
    for name in CPU_MEASURED_PREFERENCE:
        b = _instance(name, overrides)
        av = b.availability()
        if av.available:
            chosen.append(b)
            break
        if not av.details.get("not_applicable"):  # e.g. RAPL on a Mac, Apple Silicon on Linux
            notes.append(f"{name}: {av.reason}")
    if not chosen:
        est = _instance("estimate", overrides)
        chosen.append(est)
        notes.append(_("no CPU energy counter is readable here, so CPU energy is ESTIMATED; "
                       "`greenkit doctor` says how to enable a counter"))
        notes.extend(est.availability().details.get("notes", []))
    for name in GPU_PREFERENCE:
        b = _instance(name, overrides)
        if set(b.covers) & {c for x in chosen for c in x.covers}:
            continue
        av = b.availability()
        if av.available:
            chosen.append(b)
            notes.extend(av.details.get("notes", []))
        elif av.details.get("permission_denied"):
            notes.append(f"{name}: {av.reason} (GPU energy NOT included)")
    return Selection(chosen, notes, True)
