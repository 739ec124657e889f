"""Lab target specs: one TOML file per lab in ``greenkit/targets/specs/<lab>.toml``.

The format (``specs/README.md`` has the full reference)::

    lab = "lab02_pruning"
    title = "Lab 2: Pruning"
    baseline = "cnn"                 # zoo checkpoint, measured in the same run

    [data]                           # held-out data the checker evaluates on
    split = "test"
    n_per_class = 500                # 5,000 images

    [profile]
    batch = 1                        # inputs for MACs/size counts

    [energy]                         # for energy_ratio / latency_ratio targets
    batch = 64
    pairs = 8
    require_measured = false         # true: fail closed when only an estimate is available

    [[target]]
    id = "accuracy"                  # unique; defaults to the kind
    kind = "accuracy_drop_max"       # QUANTITY_min | QUANTITY_max | QUANTITY_eq
    artefact = "model"               # which submitted model (default "model")
    threshold = 1.0                  # percentage points
    weight = 2                       # share of the points (default 1)
    description = "Pruned model within 1 point of the baseline's accuracy"
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Spec", "TargetSpec", "load_spec", "spec_names", "SPECS_DIR"]

SPECS_DIR = Path(__file__).resolve().parent / "specs"
_OPS = ("min", "max", "eq")
_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class TargetSpec:
    """One target: ``QUANTITY(artefact) OP threshold``; OP from the kind's suffix."""
    kind: str
    threshold: float
    id: str = ""
    artefact: str = "model"
    weight: float = 1.0
    description: str = ""
    tolerance: float = 1e-9          # for *_eq
    options: dict = field(default_factory=dict)   # kind-specific (e.g. encoding, scope, function)

    def __post_init__(self):
        if "_" not in self.kind or self.kind.rsplit("_", 1)[1] not in _OPS:
            raise ValueError(f"target kind {self.kind!r} must end in _min, _max or _eq "
                             f"(e.g. 'sparsity_min'); see greenkit/targets/specs/README.md")
        if not isinstance(self.threshold, (int, float)) or isinstance(self.threshold, bool):
            raise ValueError(f"target {self.kind!r}: threshold must be a number, got {self.threshold!r}")
        if self.weight < 0:
            raise ValueError(f"target {self.kind!r}: weight must be >= 0, got {self.weight}")
        if not self.id:
            object.__setattr__(self, "id", self.kind)
        if not _ID.match(self.id):
            raise ValueError(f"target id {self.id!r}: use letters, digits, '_', '.', '-'")

    @property
    def quantity(self) -> str:
        return self.kind.rsplit("_", 1)[0]

    @property
    def op(self) -> str:
        return self.kind.rsplit("_", 1)[1]


@dataclass(frozen=True)
class Spec:
    lab: str
    targets: tuple[TargetSpec, ...]
    title: str = ""
    baseline: str | None = None
    data: dict = field(default_factory=lambda: {"split": "test", "n_per_class": 500})
    profile: dict = field(default_factory=lambda: {"batch": 1})
    energy: dict = field(default_factory=lambda: {"batch": 64, "pairs": 8, "require_measured": False})
    path: str = ""

    def __post_init__(self):
        ids = [t.id for t in self.targets]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.lab}: target ids must be unique, got {ids}")
        if not self.targets:
            raise ValueError(f"{self.lab}: a spec needs at least one [[target]]")
        if self.data.get("split", "test") != "test":
            raise ValueError(f"{self.lab}: targets are checked on held-out data: data.split must be 'test'")

    def select(self, ids: list[str] | None) -> Spec:
        """The spec restricted to target ``ids`` (all if None)."""
        if not ids:
            return self
        unknown = set(ids) - {t.id for t in self.targets}
        if unknown:
            raise KeyError(f"{self.lab}: no target(s) {sorted(unknown)}; targets: {[t.id for t in self.targets]}")
        return Spec(**{**self.__dict__, "targets": tuple(t for t in self.targets if t.id in ids)})


_TARGET_KEYS = {"kind", "threshold", "id", "artefact", "weight", "description", "tolerance"}


def _parse(raw: dict, path: str) -> Spec:
    known = {"lab", "title", "baseline", "data", "profile", "energy", "target"}
    extra = set(raw) - known
    if extra:
        raise ValueError(f"{path}: unknown top-level keys {sorted(extra)} (known: {sorted(known)})")
    defaults = Spec.__dataclass_fields__
    targets = []
    for t in raw.get("target", []):
        opts = {k: v for k, v in t.items() if k not in _TARGET_KEYS}
        targets.append(TargetSpec(**{k: v for k, v in t.items() if k in _TARGET_KEYS}, options=opts))
    return Spec(
        lab=raw["lab"], title=raw.get("title", raw["lab"]), baseline=raw.get("baseline"),
        targets=tuple(targets),
        data={**defaults["data"].default_factory(), **raw.get("data", {})},
        profile={**defaults["profile"].default_factory(), **raw.get("profile", {})},
        energy={**defaults["energy"].default_factory(), **raw.get("energy", {})},
        path=path,
    )


def spec_names() -> list[str]:
    """Labs that have a spec file."""
    return sorted(p.stem for p in SPECS_DIR.glob("*.toml"))


def load_spec(lab: str | Path) -> Spec:
    """The spec of ``lab`` (a name in ``specs/`` or a path to a ``.toml`` file)."""
    path = Path(lab)
    if path.suffix != ".toml":
        if not re.match(r"^[A-Za-z0-9_-]+$", str(lab)):
            raise ValueError(f"lab name {lab!r}: letters, digits, '_' and '-' only")
        path = SPECS_DIR / f"{lab}.toml"
    if not path.is_file():
        raise FileNotFoundError(f"No target spec for lab {str(lab)!r} ({path}). Labs with specs: {spec_names()}.")
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    if raw.get("lab") != path.stem:
        raise ValueError(f"{path}: lab = {raw.get('lab')!r} must equal the file name {path.stem!r}")
    try:
        return _parse(raw, str(path))
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: malformed spec ({err}); see greenkit/targets/specs/README.md") from err
