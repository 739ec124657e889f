"""What a target can measure: a registry of quantities, each computed by the checker itself.

A target kind is ``QUANTITY_min``, ``QUANTITY_max`` or ``QUANTITY_eq``. Add a quantity with::

    @dataclass(frozen=True)
    class MyOptions(Options):          # the extra keys its [[target]] tables may carry
        scope: str = "all"

    @quantity("my_thing", options=MyOptions)
    def _my_thing(ctx: Context, target) -> Measured:
        return Measured(value, "counted", "what was counted, on what")   # target.options.scope

Every quantity gets the models the checker loaded (never the student's objects) and
returns a :class:`Measured` saying how it was obtained. Quantities of other modules are
registered the same way; ``greenkit/targets/specs/README.md`` says where to list the module.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from greenkit.targets.registry import QUANTITIES, Options, quantity
from greenkit.tensors import accuracy

__all__ = ["Measured", "Context", "QUANTITIES", "quantity", "Options", "finite_float"]


@dataclass(frozen=True)
class Measured:
    value: float
    method: str                 # "measured" | "counted" | "estimated"
    how: str
    interval: tuple[float, float] | None = None


class Context:
    """Models, data and cached measurements of one check run."""

    def __init__(self, spec, models: dict[str, nn.Module], *, compare: Callable | None = None,
                 baseline: nn.Module | None = None):
        self.spec, self.models = spec, models
        self._compare, self._baseline = compare, baseline
        self._cache: dict = {}

    def cached(self, key, fn):
        """``fn()``, computed once per check run for ``key`` (quantities share measurements)."""
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def model(self, name: str) -> nn.Module:
        if name == "baseline":
            return self.baseline
        if name not in self.models:
            raise LookupError(f"artefact {name!r} was not submitted (submitted: {sorted(self.models)})")
        return self.models[name]

    @property
    def baseline(self) -> nn.Module:
        if self._baseline is None:
            if not self.spec.baseline:
                raise LookupError(f"{self.spec.lab}: this target needs a baseline; the spec names none")
            from greenkit import zoo
            self._baseline = zoo.load(self.spec.baseline)
        return self._baseline

    def test_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        from greenkit import data
        return self.cached("data", lambda: data.load("test", n_per_class=self.spec.data.n_per_class))

    def inputs(self, batch: int) -> torch.Tensor:
        return self.test_data()[0][:batch]

    def accuracy(self, name: str) -> float:
        """Top-1 accuracy of artefact ``name`` on the spec's test images (exact logits shape required)."""
        def run():
            try:
                # at the batch size energy is measured at: a graph cannot be honest at one and not the other
                return accuracy(self.model(name), *self.test_data(), batch=self.spec.energy.batch,
                                num_classes=10)
            except TypeError as err:
                raise TypeError(f"{name}: {err}") from err
        return self.cached(("acc", name), run)

    def profile(self, name: str):
        from greenkit.metrics import profile
        return self.cached(("prof", name), lambda: profile(self.model(name), self.inputs(self.spec.profile.batch)))

    def comparison(self, name: str):
        def run():
            compare = self._compare
            if compare is None:
                from greenkit.energy import compare
            e = self.spec.energy
            return compare(self.baseline, self.model(name), self.inputs(e.batch), pairs=e.pairs)
        return self.cached(("cmp", name), run)

    def n_test(self) -> int:
        return len(self.test_data()[1])


def _ratio(num: float, den: float, what: str) -> float:
    if den == 0:
        raise ZeroDivisionError(f"baseline {what} is 0; the ratio is undefined")
    return num / den


@quantity("accuracy", quality=True)
def _accuracy(ctx: Context, t) -> Measured:
    return Measured(ctx.accuracy(t.artefact), "measured",
                    f"top-1 on {ctx.n_test():,} held-out test images, recomputed by the checker")


@quantity("accuracy_drop", quality=True)
def _accuracy_drop(ctx: Context, t) -> Measured:
    drop = (ctx.accuracy("baseline") - ctx.accuracy(t.artefact)) * 100
    return Measured(drop, "measured", f"baseline {ctx.accuracy('baseline'):.2%} minus submission "
                    f"{ctx.accuracy(t.artefact):.2%} (percentage points) on {ctx.n_test():,} test images, same run")


@dataclass(frozen=True)
class GainOptions(Options):
    over: str                         # the other submitted artefact (e.g. "scratch")

    def __post_init__(self):
        if not self.over:
            raise ValueError('accuracy_gain needs over = "<other artefact>"')

    def artefacts(self) -> tuple[str, ...]:
        return (self.over,)


@quantity("accuracy_gain", options=GainOptions, quality=True)
def _accuracy_gain(ctx: Context, t) -> Measured:
    """Submission minus another submitted model (option ``over``), in percentage points.

    E.g. a distilled student over the same student trained from scratch on the same
    budget: both are saved artefacts, both re-evaluated here on the same test images.
    """
    over = t.options.over
    if over not in ctx.models:
        raise KeyError(f"target {t.id!r} compares with artefact {over!r}, which was not submitted")
    gain = (ctx.accuracy(t.artefact) - ctx.accuracy(over)) * 100
    return Measured(gain, "measured", f"{t.artefact} {ctx.accuracy(t.artefact):.2%} minus {over} "
                    f"{ctx.accuracy(over):.2%} (percentage points) on {ctx.n_test():,} test images, same run")


def _weights(model: nn.Module, scope: str) -> list[torch.Tensor]:
    """Every tensor the model computes with, buffers included (weights hidden in a buffer behind a
    zero decoy parameter count); ``"weights"``: those of 2+ dims (Linear/Conv weights and the like)."""
    from greenkit.metrics.profile import state_tensors
    if scope not in ("weights", "all"):
        raise ValueError(f"sparsity scope must be 'weights' or 'all', got {scope!r}")
    tensors = [t for t in state_tensors(model) if t.is_floating_point() or hasattr(t, "dequantize")]
    return [t for t in tensors if t.dim() >= 2] if scope == "weights" else tensors


@dataclass(frozen=True)
class SparsityOptions(Options):
    scope: str = "weights"            # "weights" (Linear/Conv weights) or "all" (every parameter)

    def __post_init__(self):
        if self.scope not in ("weights", "all"):
            raise ValueError(f"sparsity scope must be 'weights' or 'all', got {self.scope!r}")


@quantity("sparsity", options=SparsityOptions)
def _sparsity(ctx: Context, t) -> Measured:
    from greenkit.metrics.profile import count_nonzero
    scope = t.options.scope
    ws = _weights(ctx.model(t.artefact), scope)
    total = sum(w.numel() for w in ws)
    if not total:
        raise ValueError("the model has no weights")
    nnz = sum(count_nonzero(w) for w in ws)
    return Measured(1 - nnz / total, "counted", f"zero fraction of {total:,} "
                    f"{'weights (every tensor of 2+ dims, buffers included)' if scope == 'weights' else 'parameters and buffers'}")


@quantity("params")
def _params(ctx, t) -> Measured:
    return Measured(ctx.profile(t.artefact).params, "counted", "parameters (greenkit.metrics.profile)")


@quantity("params_ratio")
def _params_ratio(ctx, t) -> Measured:
    a, b = ctx.profile(t.artefact).params, ctx.profile("baseline").params
    return Measured(_ratio(a, b, "params"), "counted", f"{a:,} / baseline {b:,} parameters")


@quantity("nonzero_params_ratio")
def _nnz_ratio(ctx, t) -> Measured:
    a, b = ctx.profile(t.artefact).nonzero_params, ctx.profile("baseline").nonzero_params
    return Measured(_ratio(a, b, "nonzero params"), "counted", f"{a:,} / baseline {b:,} nonzero parameters")


def _size(ctx, name: str, encoding: str) -> int:
    p = ctx.profile(name)
    return p.size_bytes if encoding == "serialized" else p.size_under(encoding)


@dataclass(frozen=True)
class SizeOptions(Options):
    encoding: str = "serialized"      # or a key of greenkit.metrics.ENCODINGS
    baseline_encoding: str | None = None   # size_ratio: the baseline's (default: encoding)

    def __post_init__(self):
        from greenkit.metrics.profile import ENCODINGS
        valid = ["serialized", *ENCODINGS]
        for key in ("encoding", "baseline_encoding"):
            value = getattr(self, key)
            if value is not None and value not in valid:
                raise ValueError(f"{key} {value!r} is not one of {valid}")


@quantity("size_bytes", options=SizeOptions)
def _size_bytes(ctx, t) -> Measured:
    enc = t.options.encoding
    return Measured(_size(ctx, t.artefact, enc), "counted", f"bytes, {enc}")


@quantity("size_ratio", options=SizeOptions)
def _size_ratio(ctx, t) -> Measured:
    enc = t.options.encoding
    base_enc = t.options.baseline_encoding or enc
    a, b = _size(ctx, t.artefact, enc), _size(ctx, "baseline", base_enc)
    return Measured(_ratio(a, b, "size"), "counted", f"{a:,} B ({enc}) / baseline {b:,} B ({base_enc})")


def _count_ratio(field: str, label: str):
    def fn(ctx, t) -> Measured:
        a, b = getattr(ctx.profile(t.artefact), field), getattr(ctx.profile("baseline"), field)
        return Measured(_ratio(a, b, label), "counted",
                        f"{a:,} / baseline {b:,} {label} per inference (torch FlopCounterMode)")
    return fn


for _f, _label in (("macs", "MACs"), ("effective_macs", "effective MACs"), ("bitops", "BitOps")):
    quantity(f"{_f}_ratio")(_count_ratio(_f, _label))


@quantity("macs")
def _macs(ctx, t) -> Measured:
    return Measured(ctx.profile(t.artefact).macs, "counted", "MACs per inference (torch FlopCounterMode)")


@quantity("estimated_energy_ratio")
def _est_energy_ratio(ctx, t) -> Measured:
    from greenkit.metrics import estimate_energy
    a = estimate_energy(ctx.profile(t.artefact)).energy_j_per_inference
    b = estimate_energy(ctx.profile("baseline")).energy_j_per_inference
    return Measured(_ratio(a, b, "estimated energy"), "estimated",
                    "analytical model (Horowitz ISSCC 2014 energy per op + weight reads), not a measurement")


def _compare_ratio(attr: str, label: str):
    def fn(ctx, t) -> Measured:
        c = ctx.comparison(t.artefact)
        require = ctx.spec.energy.require_measured
        kind = getattr(c, "kind", "estimated")
        if attr == "energy_ratio" and require and kind != "measured":
            raise RuntimeError(f"this lab needs measured energy, but only an estimate is available "
                               f"({getattr(c, 'source', '?')}); run `greenkit doctor` for how to enable counters")
        value = float(getattr(c, attr))
        lo, hi = (float(v) for v in getattr(c, f"{attr}_ci95"))
        how = (f"median of {getattr(c, 'pairs', '?')} interleaved A/B pairs vs baseline on this machine, "
               f"{getattr(c, 'threads', '?')} threads, {getattr(c, 'backend', '?')}")
        method = kind if attr == "energy_ratio" else "measured"
        if attr == "energy_ratio":
            try:
                from greenkit.metrics import estimate_energy
                est = estimate_energy(ctx.profile(t.artefact)).energy_j_per_inference / estimate_energy(
                    ctx.profile("baseline")).energy_j_per_inference
                how += f"; analytical model (estimated) gives {est:.3g}"
            except (ZeroDivisionError, ValueError):
                pass
        return Measured(value, method, how, interval=(lo, hi))
    return fn


quantity("energy_ratio")(_compare_ratio("energy_ratio", "energy"))
quantity("latency_ratio")(_compare_ratio("latency_ratio", "latency"))


@dataclass(frozen=True)
class ScalarOptions(Options):
    function: str                     # "package.module:name", called as name(model, ctx) -> float
    method: str = "counted"           # "measured" | "counted" | "estimated"
    how: str = ""                     # one line for the report (default: the function's path)

    def __post_init__(self):
        module_name, _, attr = self.function.partition(":")
        if not module_name or not attr:
            raise ValueError(f"scalar target needs function = 'package.module:name', got {self.function!r}")
        if self.method not in ("measured", "counted", "estimated"):
            raise ValueError(f"method must be 'measured', 'counted' or 'estimated', got {self.method!r}")


@quantity("scalar", options=ScalarOptions)
def _scalar(ctx, t) -> Measured:
    """Escape hatch: ``function = "package.module:name"``, called as ``name(model, ctx) -> float``."""
    module_name, _, attr = t.options.function.partition(":")
    fn = getattr(importlib.import_module(module_name), attr)
    return Measured(fn(ctx.model(t.artefact), ctx), t.options.method,
                    t.options.how or f"computed by {t.options.function}")


def finite_float(value) -> float:
    """The checker's own float of a computed value (bool and NaN rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"computed value must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"computed value is {value}")
    return value


