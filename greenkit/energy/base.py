"""Common ground for every energy source: the backend interface, readings, errors, registry.

A *backend* knows how to find one kind of counter (RAPL, NVML, ...) and answers two
questions:

- ``availability()``: can this machine read it, and if not, why not and how to fix it
  (cheap, cached; ``greenkit doctor`` prints it);
- ``open()``: start a :class:`CounterSession` whose ``read()`` gives the energy, in
  joules, used per domain since the session started.

Sessions hide the counters' quirks: wraparound, units (uJ, mJ, mW), power sampling.
``poll()`` is called by the meter's background thread at least every
``poll_interval_s`` seconds so that a counter can never wrap twice between two
reads, and so that power-sampled sources get their samples.

Errors are few: :class:`EnergyError` and its children. Vendor errors are translated
once, where they arise, and chained (``raise ... from err``).
"""

from __future__ import annotations

import abc
import dataclasses
import math
import threading
import time
from collections.abc import Callable
from typing import ClassVar, Literal

__all__ = [
    "Availability",
    "Backend",
    "BACKENDS",
    "CounterSession",
    "CounterStalled",
    "CounterUnavailable",
    "EnergyError",
    "Kind",
    "PermissionDenied",
    "Reading",
    "get_backend",
    "probe_devices",
    "register",
]

Kind = Literal["measured", "estimated"]


# ---------------------------------------------------------------------------- errors
class EnergyError(RuntimeError):
    """Base of greenkit.energy errors. The message says cause, fix, and where to read more.

    Attributes ``cause``, ``fix`` and ``more`` hold the three parts separately so that
    ``greenkit doctor`` and notebooks can lay them out.
    """

    def __init__(self, cause: str, fix: str = "", more: str = "") -> None:
        self.cause, self.fix, self.more = cause, fix, more
        parts = [cause]
        if fix:
            parts.append(f"Fix: {fix}")
        if more:
            parts.append(f"More: {more}")
        super().__init__("\n".join(parts))


class CounterUnavailable(EnergyError):
    """The counter does not exist here (no driver, no device, not this OS)."""


class PermissionDenied(CounterUnavailable):
    """The counter exists but this user may not read it (e.g. RAPL since CVE-2020-8694)."""


class CounterStalled(EnergyError):
    """The counter stopped advancing: reading it would report a false zero."""


# --------------------------------------------------------------------------- records
@dataclasses.dataclass(frozen=True)
class Availability:
    """Why a backend can or cannot be used here.

    ``fix`` is a list of shell commands or steps, in order; ``details`` carries facts
    for ``greenkit doctor`` (domains found, counter range, update period, ...).
    """

    name: str
    available: bool
    kind: Kind
    reason: str
    fix: tuple[str, ...] = ()
    more: str = ""
    details: dict = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["fix"] = list(self.fix)
        return d


@dataclasses.dataclass(frozen=True)
class Reading:
    """Energy used since a session started.

    ``energy_j``: joules per domain, cumulative since the session's start, counter
    wraps already folded in. ``t_s``: ``time.perf_counter()`` at the read.
    ``total_domains`` names the domains that add up to the backend's total without
    overlap (e.g. packages and DRAM); the other domains are a breakdown nested in, or
    overlapping with, those (RAPL core/uncore inside a package; psys around it all).
    """

    t_s: float
    energy_j: dict[str, float]
    total_domains: tuple[str, ...]

    @property
    def total_j(self) -> float:
        """Sum of the non-overlapping domains, in joules."""
        return math.fsum(self.energy_j[d] for d in self.total_domains)


class CounterSession(abc.ABC):
    """One open measurement on one backend. Thread-safe: ``poll`` may run on another thread."""

    #: Seconds between polls needed for correctness (wrap safety, power sampling);
    #: ``math.inf`` if the session never needs polling.
    poll_interval_s: float = math.inf

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.t0_s = time.perf_counter()

    def poll(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Fold in counter progress (wraps, power samples). Default: nothing to do."""

    @abc.abstractmethod
    def read(self) -> Reading:
        """Cumulative energy per domain since the session started."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles. Default: nothing to release."""


class Backend(abc.ABC):
    """An energy source. Subclasses register themselves with :func:`register`.

    Class attributes: ``name`` (registry key), ``kind`` ("measured" or "estimated"),
    ``device`` ("cpu", "gpu" or "soc": what it reads, for display), and ``covers``: the
    hardware its total includes (``("cpu",)``, ``("gpu:nvidia",)``, an Apple SoC's
    ``("cpu", "gpu:apple")``). Two backends whose ``covers`` overlap would count the
    same joules twice, so they are never combined. Default: ``(device,)``.
    """

    name: ClassVar[str]
    kind: ClassVar[Kind]
    device: ClassVar[str]
    covers: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._availability: Availability | None = None
        self._probe_lock = threading.Lock()

    # -- availability --------------------------------------------------------------
    @abc.abstractmethod
    def _probe(self) -> Availability:
        """Find out, once, whether this backend works here; never raises."""

    def availability(self, refresh: bool = False) -> Availability:
        """Cached :meth:`_probe`. ``refresh=True`` probes again (after a chmod, say)."""
        with self._probe_lock:
            if self._availability is None or refresh:
                self._availability = self._probe()
            return self._availability

    def is_available(self) -> bool:
        return self.availability().available

    def require(self) -> Availability:
        """Availability, or raise the matching error with its fix."""
        av = self.availability()
        if not av.available:
            cls = PermissionDenied if av.details.get("permission_denied") else CounterUnavailable
            raise cls(f"{self.name}: {av.reason}", "; ".join(av.fix), av.more)
        return av

    # -- measuring -----------------------------------------------------------------
    @property
    def update_period_s(self) -> float:
        """How often the underlying counter changes, in seconds (a conservative figure)."""
        return float(self.availability().details.get("update_period_s", 0.001))

    @abc.abstractmethod
    def open(self) -> CounterSession:
        """Start a session; raises :class:`EnergyError` if the backend is unavailable."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Human-readable source: which counter, or which model with its parameters."""

    def __repr__(self) -> str:
        av = self._availability
        state = "not probed" if av is None else ("available" if av.available else "unavailable")
        return f"<{type(self).__name__} {self.name!r} ({self.kind}, {state})>"


def probe_devices(backend: Backend, details: dict, more: str, *, init: Callable[[], object], init_name: str,
                  shutdown: Callable[[], object], list_devices: Callable[[], tuple[list, list[str]]],
                  vendor_error: type[BaseException] | tuple[type[BaseException], ...],
                  translate: Callable[[BaseException, str], EnergyError]) -> tuple[list, list[str]] | Availability:
    """The probe shared by GPU libraries (NVML, AMD SMI): init, list devices, always shut down.

    Returns ``list_devices()``'s ``(devices, notes)``, or the :class:`Availability` that
    says why not: the vendor error translated once by ``translate(err, what)``, with
    ``details["permission_denied"]`` set when it was a permission refusal.
    """
    try:
        init()
    except vendor_error as err:
        e = translate(err, init_name)
        details["permission_denied"] = isinstance(e, PermissionDenied)
        return Availability(backend.name, False, backend.kind, e.cause, (e.fix,), more, details)
    try:
        return list_devices()
    except PermissionDenied as err:
        details["permission_denied"] = True
        return Availability(backend.name, False, backend.kind, err.cause, (err.fix,), more, details)
    except vendor_error as err:
        e = translate(err, "listing GPUs")
        return Availability(backend.name, False, backend.kind, e.cause, (e.fix,), more, details)
    finally:
        shutdown()


# -------------------------------------------------------------------------- registry
#: name -> Backend subclass, filled by :func:`register`; order of registration = preference.
BACKENDS: dict[str, type[Backend]] = {}
_DEFAULT_INSTANCES: dict[str, Backend] = {}
_INSTANCES_LOCK = threading.Lock()


def register(name: str) -> Callable[[type[Backend]], type[Backend]]:
    """Class decorator: add a backend to :data:`BACKENDS` under ``name``."""

    def deco(cls: type[Backend]) -> type[Backend]:
        if name in BACKENDS and BACKENDS[name] is not cls:
            raise ValueError(f"energy backend {name!r} is already registered by {BACKENDS[name]!r}")
        cls.name = name
        if not cls.covers:
            cls.covers = (cls.device,)
        BACKENDS[name] = cls
        return cls

    return deco


def get_backend(name: str) -> Backend:
    """The shared default instance of backend ``name`` (so its probe is cached per process)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown energy backend {name!r}; known: {sorted(BACKENDS)} (or 'auto')")
    with _INSTANCES_LOCK:
        if name not in _DEFAULT_INSTANCES:
            _DEFAULT_INSTANCES[name] = BACKENDS[name]()
        return _DEFAULT_INSTANCES[name]


def wrap_delta(before: int, after: int, max_range: int) -> int:
    """Counter progress from ``before`` to ``after`` for a counter that wraps to 0 past ``max_range``.

    .. math:: \\Delta = a - b \\text{ if } a \\ge b \\text{ else } (R - b) + a

    with :math:`R` = ``max_range`` (e.g. RAPL's ``max_energy_range_uj``). Exact for at most
    one wrap between the two reads; the meter polls often enough that a second wrap cannot
    happen (see ``RaplSession.poll_interval_s``).
    """
    if after >= before:
        return after - before
    if max_range <= 0:
        raise CounterStalled(
            f"counter went backwards ({before} -> {after}) and its range is unknown",
            "re-run the measurement; if it repeats, report the machine to the course staff",
        )
    return (max_range - before) + after
