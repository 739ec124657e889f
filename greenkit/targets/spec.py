"""Lab target specs: one TOML file per lab in ``greenkit/targets/specs/<lab>.toml``, read into dataclasses.

The format (``specs/README.md`` has the full reference)::

    lab = "lab02_pruning"
    title = "Lab 2: Pruning"
    baseline = "cnn"                 # zoo checkpoint, measured in the same run

    [data]                           # DataConfig: held-out data the checker evaluates on
    split = "test"
    n_per_class = 500                # 5,000 images

    [profile]                        # ProfileConfig
    batch = 1                        # inputs for MACs/size counts

    [energy]                         # EnergyConfig: for energy_ratio / latency_ratio targets
    batch = 64
    pairs = 8
    require_measured = false         # true: fail closed when only an estimate is available

    [[target]]                       # TargetSpec
    id = "accuracy"                  # unique; defaults to the kind
    kind = "accuracy_drop_max"       # QUANTITY_min | QUANTITY_max | QUANTITY_eq
    artefact = "model"               # which submitted model (default "model")
    threshold = 1.0                  # percentage points
    weight = 2                       # share of the points (default 1)
    description = "Pruned model within 1 point of the baseline's accuracy"
    # + the quantity's own options (its Options dataclass), e.g. encoding = "int8"

Every table is a frozen dataclass; a key it does not declare is refused with the file,
the line and the nearest valid key, and a value of the wrong type is refused too. The
comparison (``_min``/``_max``/``_eq``) is :class:`Op`: parsed, evaluated and rendered there only.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from greenkit.targets.registry import Options, load_quantities

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Spec", "TargetSpec", "DataConfig", "ProfileConfig", "EnergyConfig", "ArtefactConfig", "Op", "SpecError",
           "load_spec", "spec_names", "SPECS_DIR"]

SPECS_DIR = Path(__file__).resolve().parent / "specs"
_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


class SpecError(ValueError):
    """A spec file (or table) is malformed; the message names the file, line and fix."""


class Op(enum.Enum):
    """How a measured value is compared with a target's threshold (the suffix of its kind)."""
    MIN = "min"
    MAX = "max"
    EQ = "eq"

    @property
    def symbol(self) -> str:
        return {"min": ">=", "max": "<=", "eq": "=="}[self.value]

    def holds(self, value: float, threshold: float, tolerance: float = 1e-9) -> bool:
        """``value >= threshold`` (MIN), ``<=`` (MAX), or within ``tolerance`` of it (EQ)."""
        if self is Op.MIN:
            return value >= threshold
        if self is Op.MAX:
            return value <= threshold
        return abs(value - threshold) <= tolerance

    def render(self, threshold_text: str) -> str:
        return f"{self.symbol} {threshold_text}"

    @classmethod
    def split_kind(cls, kind: str) -> tuple[str, Op]:
        """``"sparsity_min"`` -> ``("sparsity", Op.MIN)``; ValueError naming the fix otherwise."""
        quantity, _, suffix = kind.rpartition("_") if isinstance(kind, str) else ("", "", "")
        if not quantity or suffix not in {o.value for o in cls}:
            raise ValueError(f"target kind {kind!r} must end in _min, _max or _eq "
                             f"(e.g. 'sparsity_min'); see greenkit/targets/specs/README.md")
        return quantity, cls(suffix)


# ---- typed tables ------------------------------------------------------------------------

def _type_ok(value, tp) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        return isinstance(value, (list, tuple)) and all(_type_ok(v, typing.get_args(tp)[0]) for v in value)
    return isinstance(value, tp) if isinstance(tp, type) else True


def _type_name(tp) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


class _UnknownKey(SpecError):
    def __init__(self, key: str, valid: list[str], where: str):
        self.key, self.valid = key, valid
        near = difflib.get_close_matches(key, valid, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        super().__init__(f"unknown key {key!r} in {where}; {hint}valid keys: {', '.join(valid)}")


def build_typed(cls, raw: dict, where: str):
    """``cls(**raw)`` for a dataclass ``cls``, refusing unknown keys and values of the wrong type."""
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls) if f.init]
    kwargs = {}
    for key, value in raw.items():
        if key not in valid:
            raise _UnknownKey(key, valid, where)
        if not _type_ok(value, hints[key]):
            raise SpecError(f"{where}: {key} must be {_type_name(hints[key])}, got {value!r}")
        kwargs[key] = float(value) if hints[key] is float else value
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required key is missing
        raise SpecError(f"{where}: {err}".replace("__init__() ", "")) from err
    except ValueError as err:
        raise SpecError(f"{where}: {err}") from err


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: the held-out images the checker evaluates on."""
    split: str = "test"
    n_per_class: int | None = 500     # None: the whole test split

    def __post_init__(self):
        if self.split != "test":
            raise ValueError("targets are checked on held-out data: data.split must be 'test'")
        if self.n_per_class is not None and self.n_per_class < 1:
            raise ValueError(f"data.n_per_class must be >= 1, got {self.n_per_class}")


@dataclass(frozen=True)
class ProfileConfig:
    """``[profile]``: the input batch for MACs and size counts."""
    batch: int = 1

    def __post_init__(self):
        if self.batch < 1:
            raise ValueError(f"profile.batch must be >= 1, got {self.batch}")


@dataclass(frozen=True)
class EnergyConfig:
    """``[energy]``: interleaved A/B pairs for energy_ratio / latency_ratio targets."""
    batch: int = 64
    pairs: int = 8
    require_measured: bool = False

    def __post_init__(self):
        if self.batch < 1:
            raise ValueError(f"energy.batch must be >= 1, got {self.batch}")
        if self.pairs < 1:
            raise ValueError(f"energy.pairs must be >= 1, got {self.pairs}")


_COMMON_KEYS = ("kind", "threshold", "id", "artefact", "weight", "description", "tolerance", "gated_by")


def make_options(quantity: str, raw: dict | Options | None, where: str = "") -> Options:
    """The typed options of ``quantity`` from a dict of the target's extra keys."""
    registry = load_quantities()
    if quantity not in registry:
        near = difflib.get_close_matches(quantity, sorted(registry), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise SpecError(f"{where or 'target'}: unknown quantity {quantity!r}; {hint}"
                        f"quantities: {', '.join(sorted(registry))}")
    cls = registry[quantity].options
    if isinstance(raw, cls):
        return raw
    if isinstance(raw, Options):  # e.g. the default Options(): its fields, if any, as keys
        raw = {f.name: getattr(raw, f.name) for f in fields(raw)}
    return build_typed(cls, dict(raw or {}), where or f"options of {quantity!r}")


@dataclass(frozen=True)
class TargetSpec:
    """One target: ``QUANTITY(artefact) OP threshold``; OP from the kind's suffix.

    ``options`` is the quantity's :class:`~greenkit.targets.registry.Options` (a dict is
    converted, and refused if it holds a key the quantity does not take).
    """
    kind: str
    threshold: float
    id: str = ""
    artefact: str = "model"
    weight: float = 1.0
    description: str = ""
    tolerance: float = 1e-9          # for *_eq
    gated_by: str = "auto"           # "auto": the artefact's quality targets; a target id; "none"
    options: Options = field(default_factory=Options)

    def __post_init__(self):
        quantity, _ = Op.split_kind(self.kind)
        if not isinstance(self.threshold, (int, float)) or isinstance(self.threshold, bool) \
                or not math.isfinite(self.threshold):
            raise ValueError(f"target {self.kind!r}: threshold must be a number, got {self.threshold!r}")
        if not isinstance(self.weight, (int, float)) or self.weight < 0:
            raise ValueError(f"target {self.kind!r}: weight must be >= 0, got {self.weight}")
        if not self.id:
            object.__setattr__(self, "id", self.kind)
        if not _ID.match(self.id):
            raise ValueError(f"target id {self.id!r}: use letters, digits, '_', '.', '-'")
        object.__setattr__(self, "options", make_options(quantity, self.options, f"target {self.id!r}"))

    @property
    def quantity(self) -> str:
        return Op.split_kind(self.kind)[0]

    @property
    def op(self) -> Op:
        return Op.split_kind(self.kind)[1]

    def holds(self, value: float) -> bool:
        """Does ``value`` meet this target?"""
        return self.op.holds(value, self.threshold, self.tolerance)

    @property
    def artefacts(self) -> tuple[str, ...]:
        """Every artefact this target reads: its own and any its options name."""
        return (self.artefact, *self.options.artefacts())


@dataclass(frozen=True)
class ArtefactConfig:
    """``[artefacts.NAME]``: what a submitted artefact must be."""
    arch: str | None = None          # a zoo architecture: only its state dict is accepted (no torch.export)


@dataclass(frozen=True)
class Spec:
    lab: str
    targets: tuple[TargetSpec, ...]
    title: str = ""
    baseline: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    artefacts: dict[str, ArtefactConfig] = field(default_factory=dict)
    path: str = ""
    context: tuple[TargetSpec, ...] = ()   # targets left out by select(), still evaluated as gates

    def __post_init__(self):
        ids = [t.id for t in self.targets]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.lab}: target ids must be unique, got {ids}")
        if not self.targets:
            raise ValueError(f"{self.lab}: a spec needs at least one [[target]]")
        by_id = {t.id: t for t in (*self.targets, *self.context)}
        for t in self.targets:
            if t.gated_by in ("auto", "none"):
                continue
            gate = by_id.get(t.gated_by)
            if gate is None or gate is t or gate.artefact != t.artefact:
                raise ValueError(f"target {t.id!r}: gated_by = {t.gated_by!r} must name another target of the "
                                 f"same artefact {t.artefact!r}, or be 'auto' or 'none'")

    def gates(self, t: TargetSpec, quality: Callable[[str], bool]) -> list[TargetSpec]:
        """The targets ``t`` is gated on: its ``gated_by`` target, or with "auto" every target of the same
        artefact whose quantity is a quality (``quality(name)``), unless ``t`` is one itself."""
        every = (*self.targets, *self.context)
        if t.gated_by == "none":
            return []
        if t.gated_by != "auto":
            return [g for g in every if g.id == t.gated_by]
        if quality(t.quantity):
            return []
        return [g for g in every if g.artefact == t.artefact and g.id != t.id and quality(g.quantity)]

    def select(self, ids: list[str] | None) -> Spec:
        """The spec restricted to target ``ids`` (all if None)."""
        if not ids:
            return self
        unknown = set(ids) - {t.id for t in self.targets}
        if unknown:
            raise KeyError(f"{self.lab}: no target(s) {sorted(unknown)}; targets: {[t.id for t in self.targets]}")
        return replace(self, targets=tuple(t for t in self.targets if t.id in ids),
                       context=tuple(t for t in (*self.targets, *self.context) if t.id not in ids))


# ---- reading a file --------------------------------------------------------------------------

_SECTIONS = {"data": DataConfig, "profile": ProfileConfig, "energy": EnergyConfig}
_TOP_KEYS = ["lab", "title", "baseline", *_SECTIONS, "artefacts", "target"]


def _key_line(text: str, section: str, index: int, key: str) -> int | None:
    """1-based line of ``key = ...`` in table ``section`` ("" = top level; ``[[target]]`` number ``index``)."""
    current, n_target = "", -1
    pattern = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*=""")
    for lineno, line in enumerate(text.splitlines(), 1):
        header = re.match(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?", line)
        if header:
            current = header.group(2)
            if header.group(1) == "[[" and current == "target":
                n_target += 1
            continue
        if current == section and (section != "target" or n_target == index) and pattern.match(line):
            return lineno
    return None


def _parse(raw: dict, path: str, text: str = "") -> Spec:
    def located(err: SpecError, section: str, index: int = -1) -> SpecError:
        key = getattr(err, "key", None)
        line = _key_line(text, section, index, key) if key and text else None
        return SpecError(f"{path}:{line}: {err}" if line else f"{path}: {err}")

    for key in raw:
        if key not in _TOP_KEYS:
            raise located(_UnknownKey(key, _TOP_KEYS, "the top level"), "")
    if not isinstance(raw.get("lab"), str):
        raise SpecError(f"{path}: lab = \"<name>\" is missing")
    sections = {}
    for name, cls in _SECTIONS.items():
        try:
            sections[name] = build_typed(cls, raw.get(name, {}), f"[{name}]")
        except SpecError as err:
            raise located(err, name) from None
    artefacts = {}
    raw_artefacts = raw.get("artefacts", {})
    if not isinstance(raw_artefacts, dict):
        raise SpecError(f"{path}: artefacts are [artefacts.NAME] tables")
    for name, table in raw_artefacts.items():
        try:
            artefacts[name] = build_typed(ArtefactConfig, table, f"[artefacts.{name}]")
        except SpecError as err:
            raise located(err, f"artefacts.{name}") from None
    raw_targets = raw.get("target", [])
    if not isinstance(raw_targets, list):
        raise SpecError(f"{path}: targets are [[target]] tables")
    targets = []
    for i, t in enumerate(raw_targets):
        where = f"[[target]] #{i + 1}" + (f" ({t.get('id') or t.get('kind')})" if isinstance(t, dict) else "")
        try:
            if not isinstance(t, dict):
                raise SpecError(f"{where} must be a table")
            common = {k: v for k, v in t.items() if k in _COMMON_KEYS}
            quantity, _ = Op.split_kind(common.get("kind", ""))
            opts = {k: v for k, v in t.items() if k not in _COMMON_KEYS}
            try:
                options = make_options(quantity, opts, where)
            except _UnknownKey as err:
                raise _UnknownKey(err.key, [*_COMMON_KEYS, *err.valid], where) from None
            targets.append(TargetSpec(**common, options=options))
        except SpecError as err:
            raise located(err, "target", i) from None
        except (TypeError, ValueError) as err:
            raise SpecError(f"{path}: {where}: {err}") from None
    try:
        return Spec(lab=raw["lab"], title=raw.get("title", raw["lab"]), baseline=raw.get("baseline"),
                    targets=tuple(targets), path=path, artefacts=artefacts, **sections)
    except ValueError as err:
        raise SpecError(f"{path}: {err}") from None


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
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML ({err})") from err
    if raw.get("lab") != path.stem:
        raise SpecError(f"{path}: lab = {raw.get('lab')!r} must equal the file name {path.stem!r}")
    return _parse(raw, str(path), text)
