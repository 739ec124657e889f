"""Where an energy figure came from: one record and one label, shared by every result type.

:class:`Provenance` holds what every energy result must say about itself: ``kind``
("measured" by a counter, or "estimated" by a model), the ``backend`` names, the
human-readable ``source`` (which counter, or which model with its parameters), the
``threads`` and ``device`` the work ran on, and ``notes`` (why a source was chosen,
fallbacks, warnings). :class:`~greenkit.energy.meter.EnergyReport`,
:class:`~greenkit.energy.protocol.InferenceEnergy` and
:class:`~greenkit.energy.protocol.Comparison` all inherit these fields, so a notebook
reads ``r.kind``, ``r.source``, ``r.backend``, ``r.device`` the same way on each, and
:meth:`Provenance.provenance` gives the bare record to store beside a number.

:func:`kind_label` is the one place the words MEASURED / ESTIMATED are spelled, and
:func:`combined_kind` the one rule for a mix (any estimated part makes the whole
"estimated").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from greenkit.energy.base import Kind

__all__ = ["Provenance", "combined_kind", "kind_label"]


def kind_label(kind: str) -> str:
    """``"MEASURED"`` or ``"ESTIMATED"`` (anything not measured is labelled as an estimate)."""
    return "MEASURED" if kind == "measured" else "ESTIMATED"


def combined_kind(kinds: Iterable[str]) -> Kind:
    """The kind of a total: ``"estimated"`` if any part is estimated, else ``"measured"``."""
    return "estimated" if any(k != "measured" for k in kinds) else "measured"


@dataclasses.dataclass(kw_only=True)
class Provenance:
    """How an energy figure was obtained. Keyword-only, so result types can inherit it.

    ``threads``: ``torch.get_num_threads()`` when the work ran under PyTorch, else None;
    ``device``: what the work ran on (``"cpu"``, ``"cuda:0"``, ...) or what the
    counters covered, None when unknown.
    """

    kind: str = ""
    backend: str = ""
    source: str = ""
    threads: int | None = None
    device: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def label(self) -> str:
        """MEASURED or ESTIMATED (see :func:`kind_label`)."""
        return kind_label(self.kind)

    @property
    def energy_basis(self) -> str:
        """One phrase: measured by which backend, or estimated by which model."""
        if self.kind == "measured":
            return f"measured by {self.backend}"
        return f"ESTIMATED by {self.backend}: {self.source}"

    def provenance(self) -> Provenance:
        """The bare record (e.g. to store beside a number in a results table)."""
        return Provenance(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Provenance)})

    def provenance_lines(self, indent: str = "  ") -> list[str]:
        """``source:`` and ``note:`` lines for a text report."""
        return [f"{indent}source: {self.source}", *(f"{indent}note: {n}" for n in self.notes)]
