"""Quantities of the capstone (lab07_challenge): efficiency that counts only above an accuracy floor.

- ``gated_energy_ratio`` / ``gated_macs_ratio`` / ``gated_accuracy_drop``: the ``energy_ratio`` /
  ``macs_ratio`` / ``accuracy_drop`` quantity of the same artefact, evaluated only when another
  target of the spec (option ``gate``, default ``"accuracy"``) passes on that artefact. Below the
  floor the target is an error with the reason ("accuracy drop 82.4 > 6"), so a model that is
  cheap because it is useless earns nothing. Gates chain: the floor itself can be gated.
- ``shipped_distance``: how far the submission's parameters are from the nearest shipped zoo
  checkpoint of the same shapes (relative L2; 0 for a copy, capped at 1). The capstone gates its
  floor on it, so submitting the kit's own MLP unchanged earns nothing.

The energy the student's kernel recorded while training and searching (the *ledger*,
``ledger.json`` beside the artefacts) is self-reported: it can be bounded (schema, positive
durations, plausible mean power), never verified, so the lab gives it no points on the report
card; the ledger grade cell, the design report and the leaderboard read it with
:func:`read_ledger`, the one reader of a ledger (:data:`LEDGER_FILE` is its name inside
``greenkit-submissions/<lab>/``). It is not a checker quantity: a quantity sees the loaded
models, not the submission folder.

Ledger format (written by the lab notebook, one entry per measured block)::

    {"lab": "lab07_challenge", "entries": [
        {"label": "train 8-16-16", "energy_j": 812.4, "duration_s": 61.2, "kind": "estimated",
         "backend": "estimate", "source": "CPU time x 15 W/core"}, ...]}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from greenkit.targets import kinds
from greenkit.targets.kinds import QUANTITIES, Measured, Options, quantity

__all__ = ["LEDGER_FILE", "Ledger", "LedgerError", "read_ledger", "GATED", "GateOptions", "GateNotMet"]

LEDGER_FILE = "ledger.json"
# Plausible mean power of a block measured on one machine: 0 W (an estimate of a block that slept)
# up to 8 GPUs under load, a few kW. A figure above this was not produced by greenkit.measure.
_POWER_W = (0.0, 5000.0)
_MAX_ENTRIES = 10_000
_MAX_BYTES = 1 << 20
_KINDS = ("measured", "estimated")


# ---- efficiency gated on accuracy -----------------------------------------------------------

class GateNotMet(ValueError):
    """The artefact does not pass the gate target, so its efficiency target earns nothing."""


def _gate(ctx, target) -> str:
    """Evaluate the gate target on ``target.artefact``; return a one-line verdict or raise GateNotMet."""
    gate_id = target.options.gate
    gate = next((t for t in ctx.spec.targets if t.id == gate_id), None)
    if gate is None:
        raise LookupError(f"target {target.id!r} is gated on target {gate_id!r}, which the spec does not have")
    if gate.artefact != target.artefact:
        raise ValueError(f"target {target.id!r} (artefact {target.artefact!r}) is gated on {gate_id!r}, which "
                         f"measures artefact {gate.artefact!r}: a gate must judge the same model")
    m = QUANTITIES[gate.quantity](ctx, gate)
    value = kinds.finite_float(m.value)
    op = gate.op.symbol                                  # the spec's Op compares and renders, as everywhere
    verdict = f"{gate.quantity} {value:.4g} {op} {gate.threshold:g}"
    if not gate.holds(value):
        raise GateNotMet(f"gate {gate_id!r} not met ({gate.quantity} {value:.4g}, needs {op} {gate.threshold:g}): "
                         f"this target counts only for a model that passes {gate_id!r}")
    return verdict


def _gated(inner: str):
    def fn(ctx, target) -> Measured:
        verdict = _gate(ctx, target)
        m = QUANTITIES[inner](ctx, target)
        return Measured(m.value, m.method, f"{m.how}; gate passed ({verdict})", interval=m.interval)
    fn.__doc__ = f"``{inner}`` of the artefact, only when its gate target (option ``gate``) passes."
    return fn


@dataclass(frozen=True)
class GateOptions(Options):
    gate: str = "accuracy"           # id of the spec's target that must pass first (on the same artefact)

    def __post_init__(self):
        if not self.gate:
            raise ValueError('a gated quantity needs gate = "<id of the accuracy target>"')


GATED = {"gated_energy_ratio": "energy_ratio", "gated_macs_ratio": "macs_ratio", "gated_accuracy_drop": "accuracy_drop"}
for _name, _inner in GATED.items():
    quantity(_name, options=GateOptions)(_gated(_inner))


# ---- not a shipped checkpoint -------------------------------------------------------------------

_DISTANCE_CAP = 1.0


def _shipped_distance(ctx, target) -> Measured:
    """Relative L2 distance of the artefact's parameters from the nearest shipped zoo checkpoint of the same shapes.

    ``||w - w_shipped|| / ||w_shipped||`` over all parameters, in order; 1.0 (the cap) when no shipped
    checkpoint has the submission's parameter shapes. A copy of a shipped model scores 0, a model
    fine-tuned from one scores the size of its update.
    """
    import torch

    from greenkit import zoo

    mine = [p.detach().float() for p in ctx.model(target.artefact).parameters()]
    shapes = [tuple(p.shape) for p in mine]
    n = sum(p.numel() for p in mine)
    best, near = _DISTANCE_CAP, "no shipped checkpoint has these parameter shapes"
    for name in zoo.names():
        try:
            if zoo.info(name).get("params") != n:
                continue
            shipped = [p.detach().float() for p in ctx.cached(("shipped", name), lambda n=name: zoo.load(n)).parameters()]
        except (FileNotFoundError, OSError, ValueError, KeyError):
            continue   # a checkpoint that is not installed cannot have been copied from here either
        if [tuple(p.shape) for p in shipped] != shapes:
            continue
        diff = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(mine, shipped, strict=True)))
        norm = torch.sqrt(sum((b ** 2).sum() for b in shipped))
        d = float(diff / norm) if float(norm) > 0 else _DISTANCE_CAP
        if d < best:
            best, near = d, f"relative L2 distance from the shipped {name!r} checkpoint"
    return Measured(min(best, _DISTANCE_CAP), "counted", f"{near} (capped at {_DISTANCE_CAP:g})")


quantity("shipped_distance")(_shipped_distance)


# ---- the self-reported ledger of training and search energy ---------------------------------

class LedgerError(ValueError):
    """A ledger is missing, malformed or implausible."""


@dataclass(frozen=True)
class Ledger:
    """Training and search energy recorded in the student's kernel (self-reported, bounded, unverified)."""
    energy_j: float
    duration_s: float
    kind: str                    # "measured" only if every entry was measured
    entries: int
    labels: tuple[str, ...]

    @property
    def mean_power_w(self) -> float:
        return self.energy_j / self.duration_s if self.duration_s else math.nan


def _number(entry: dict, key: str, i: int) -> float:
    v = entry.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise LedgerError(f"{LEDGER_FILE} entry {i}: {key} must be a finite number >= 0, got {v!r}")
    return float(v)


def read_ledger(path: str | Path) -> Ledger:
    """Read and bound-check a ledger: ``path/ledger.json`` for a folder (``greenkit-submissions/<lab>``),
    else the file ``path`` itself.

    Raises :class:`LedgerError` naming the problem: missing file, bad JSON, an entry without a
    non-negative ``energy_j`` / positive ``duration_s``, a ``kind`` other than measured/estimated,
    or a mean power above 5 kW (no figure greenkit.measure could have produced on one machine).
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / LEDGER_FILE
    if not path.is_file():
        raise LedgerError(f"{path} is missing: wrap training and search in the notebook's `spend(...)` "
                          f"blocks and run the ledger cell")
    if path.stat().st_size > _MAX_BYTES:
        raise LedgerError(f"{path} is over {_MAX_BYTES:,} bytes")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LedgerError(f"{path} is not valid JSON: {err}") from err
    entries = raw.get("entries") if type(raw) is dict else None
    if type(entries) is not list or not entries or len(entries) > _MAX_ENTRIES:
        raise LedgerError(f"{path}: expected {{'entries': [...]}} with 1-{_MAX_ENTRIES:,} entries")
    energy = duration = 0.0
    kinds_seen, labels = set(), []
    for i, e in enumerate(entries):
        if type(e) is not dict:
            raise LedgerError(f"{LEDGER_FILE} entry {i} is a {type(e).__name__}, not an object")
        ej, ds = _number(e, "energy_j", i), _number(e, "duration_s", i)
        if ds <= 0:
            raise LedgerError(f"{LEDGER_FILE} entry {i}: duration_s must be > 0")
        if e.get("kind") not in _KINDS:
            raise LedgerError(f"{LEDGER_FILE} entry {i}: kind must be one of {_KINDS}, got {e.get('kind')!r}")
        lo, hi = _POWER_W
        if not lo <= ej / ds <= hi:
            raise LedgerError(f"{LEDGER_FILE} entry {i} ({e.get('label', '?')!r}): {ej:.4g} J over {ds:.4g} s is a "
                              f"mean of {ej / ds:.3g} W, outside {lo:g}-{hi:g} W: not a greenkit.measure figure")
        energy, duration = energy + ej, duration + ds
        kinds_seen.add(e["kind"])
        labels.append(str(e.get("label", ""))[:80])
    return Ledger(energy_j=energy, duration_s=duration, kind="measured" if kinds_seen == {"measured"} else "estimated",
                  entries=len(entries), labels=tuple(labels))
