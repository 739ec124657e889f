"""The quantity registry: what a target can measure, and the options each quantity takes.

A quantity is a function ``fn(ctx, target) -> Measured`` registered under a name with
:func:`quantity`; target kinds ``NAME_min``, ``NAME_max`` and ``NAME_eq`` then exist. Its
options (the extra keys a ``[[target]]`` table may carry) are a frozen dataclass derived
from :class:`Options`, validated in ``__post_init__``; ``target.options`` is an instance.

Quantities live in the modules of :data:`QUANTITY_MODULES`, imported by
:func:`load_quantities` before a spec is parsed. A new family of quantities is a new
module plus one line in that tuple (``greenkit/targets/specs/README.md`` shows how).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, fields

__all__ = ["Options", "Quantity", "QUANTITIES", "QUANTITY_MODULES", "quantity", "load_quantities"]

# Modules whose import registers quantities, in order. Add yours here (one line).
QUANTITY_MODULES: tuple[str, ...] = (
    "greenkit.targets.kinds",
    "greenkit.targets.kinds_challenge",   # lab07_challenge: efficiency gated on accuracy, the ledger
)


@dataclass(frozen=True)
class Options:
    """A quantity's options (this base: none). Subclass as ``@dataclass(frozen=True)``."""

    def artefacts(self) -> tuple[str, ...]:
        """Other submitted artefacts these options name (the checker loads them too)."""
        return ()

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class Quantity:
    """A registered quantity: its name, function and options class."""
    name: str
    fn: Callable
    options: type[Options] = Options
    doc: str = ""
    quality: bool = False   # how good the model is (accuracy...): its targets gate the artefact's others

    def __call__(self, ctx, target):
        return self.fn(ctx, target)


QUANTITIES: dict[str, Quantity] = {}


def quantity(name: str, *, options: type[Options] = Options, quality: bool = False):
    """Register ``fn(ctx, target) -> Measured`` as quantity ``name`` taking ``options``.

    ``quality=True`` marks a measure of how good the model is (accuracy, perplexity): a target on
    it gates every other target of the same artefact (see ``gated_by`` in specs/README.md).
    """
    if not (isinstance(options, type) and issubclass(options, Options)):
        raise TypeError(f"quantity {name!r}: options must be an Options dataclass, got {options!r}")

    def register(fn):
        if name in QUANTITIES:
            raise ValueError(f"quantity {name!r} is registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        QUANTITIES[name] = Quantity(name, fn, options, doc, quality)
        return fn
    return register


def load_quantities() -> dict[str, Quantity]:
    """Import every module of :data:`QUANTITY_MODULES`; return the registry."""
    for module in QUANTITY_MODULES:
        importlib.import_module(module)
    return QUANTITIES
