"""Submitted models as files that load without running anything the student wrote.

Two formats, chosen by :func:`save_model`:

- ``zoo-state-dict``: an exact zoo architecture (``type(model) is FashionCNN``...) with plain
  tensors: ``meta.json`` (architecture name, widths inferred from tensor shapes) and
  ``state.pt`` (``torch.save`` of the state dict, read back with ``weights_only=True``).
  Pruning masks and parametrizations are folded in: the saved tensors are the ones the
  model computes with (``module.weight``), not ``weight_orig``.
- ``torch-export``: anything else (quantized, custom architectures): ``model.pt2`` from
  :func:`torch.export.save` with a dynamic batch dimension. It is loaded with every
  ``torch.load`` inside forced to ``weights_only=True`` (``torch.export.load`` would
  otherwise fall back to full unpickling).

Either way the checker rebuilds the model itself; nothing else in the folder is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import pickle
from pathlib import Path

import torch
from torch import nn

from greenkit import zoo

__all__ = ["save_model", "load_model", "ArtefactError", "FORMATS"]

FORMATS = ("zoo-state-dict", "torch-export")
_MAX_JSON_BYTES = 64 * 1024


class ArtefactError(ValueError):
    """A submitted artefact is missing, malformed or unsafe to load."""


def _shape_kwargs(arch: str, model: nn.Module) -> dict:
    """Widths of a zoo model read from its tensors (robust to in-place channel pruning)."""
    if arch == "FashionCNN":
        f, c = model.features, model.classifier
        return {"channels": [int(f[i].weight.shape[0]) for i in (0, 3, 7)],
                "hidden": int(c[1].weight.shape[0]), "num_classes": int(c[4].weight.shape[0])}
    if arch == "FashionMLP":
        linears = [m for m in model.net if isinstance(m, nn.Linear)]
        return {"hidden": [int(m.weight.shape[0]) for m in linears[:-1]],
                "num_classes": int(linears[-1].weight.shape[0])}
    raise ArtefactError(f"no width reader for architecture {arch!r}")


def _materialized_state(model: nn.Module, keys) -> dict[str, torch.Tensor]:
    """``{key: tensor the model computes with}`` for the fresh architecture's state-dict keys."""
    out = {}
    for key in keys:
        owner, _, attr = key.rpartition(".")
        t = getattr(model.get_submodule(owner) if owner else model, attr)
        if type(t) not in (torch.Tensor, nn.Parameter):
            raise ArtefactError(f"{key} is a {type(t).__name__}, not a plain tensor")
        out[key] = t.detach().clone().contiguous()
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@torch.no_grad()
def _try_zoo(model: nn.Module, folder: Path, example: torch.Tensor) -> bool:
    arch = next((n for n, cls in zoo.ARCHITECTURES.items() if type(model) is cls), None)
    if arch is None:
        return False
    try:
        kwargs = _shape_kwargs(arch, model)
        rebuilt = zoo.ARCHITECTURES[arch](**kwargs).eval()
        state = _materialized_state(model, rebuilt.state_dict().keys())
        rebuilt.load_state_dict(state, strict=True)
        was = model.training
        model.eval()
        try:
            same = torch.allclose(rebuilt(example), model(example), atol=1e-5, rtol=1e-4)
        finally:
            model.train(was)
    except (ArtefactError, RuntimeError, AttributeError, TypeError, IndexError):
        return False
    if not same:  # e.g. a patched forward: the architecture name would not describe it
        return False
    torch.save(state, folder / "state.pt")
    meta = {"format": "zoo-state-dict", "arch": arch, "kwargs": kwargs,
            "sha256": _sha256(folder / "state.pt")}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return True


def save_model(model: nn.Module, folder: str | Path, example: torch.Tensor) -> dict:
    """Write ``model`` into the empty-or-new ``folder``; return its ``meta.json`` record.

    ``example`` is one input batch (used to check a zoo rebuild and to export).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"a submitted model must be a torch.nn.Module, got {type(model).__name__}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in ("meta.json", "state.pt", "model.pt2"):
        (folder / old).unlink(missing_ok=True)
    if not _try_zoo(model, folder, example):
        was = model.training
        model.eval()
        try:
            ep = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
        except Exception as err:  # torch.export raises many types; say which model and why
            raise ArtefactError(f"could not export the model with torch.export ({type(err).__name__}: "
                                f"{str(err)[:500]}). Keep forward() free of Python side effects and "
                                f"data-dependent control flow.") from err
        finally:
            model.train(was)
        torch.export.save(ep, folder / "model.pt2")
        meta = {"format": "torch-export", "input_shape": list(example.shape[1:]),
                "sha256": _sha256(folder / "model.pt2")}
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return json.loads((folder / "meta.json").read_text())


@contextlib.contextmanager
def _weights_only_loads():
    """Inside: every ``torch.load`` runs with ``weights_only=True`` (no arbitrary unpickling)."""
    original = torch.load

    def safe_load(*args, **kwargs):
        kwargs["weights_only"] = True
        return original(*args, **kwargs)

    torch.load = safe_load
    try:
        yield
    finally:
        torch.load = original


def _read_meta(folder: Path) -> dict:
    path = folder / "meta.json"
    if not path.is_file():
        raise ArtefactError(f"{path} is missing: the model was not submitted (run the grade cell).")
    if path.stat().st_size > _MAX_JSON_BYTES:
        raise ArtefactError(f"{path} is implausibly large")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ArtefactError(f"{path} is not valid JSON: {err}") from err
    if type(meta) is not dict or meta.get("format") not in FORMATS:
        raise ArtefactError(f"{path}: unknown format {meta.get('format') if type(meta) is dict else meta!r}")
    return meta


def _int_list(v, name: str) -> list[int]:
    if type(v) is not list or not v or not all(type(i) is int and 0 < i <= 1 << 16 for i in v):
        raise ArtefactError(f"meta.json: {name} must be a list of positive ints, got {v!r}")
    return v


def load_model(folder: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a submitted model from ``folder``; returns ``(model in eval mode, meta)``."""
    folder = Path(folder)
    meta = _read_meta(folder)
    if meta["format"] == "zoo-state-dict":
        arch, kwargs = meta.get("arch"), meta.get("kwargs")
        if type(arch) is not str or arch not in zoo.ARCHITECTURES or type(kwargs) is not dict:
            raise ArtefactError(f"meta.json: unknown architecture {arch!r}")
        allowed = {"FashionCNN": {"channels", "hidden", "num_classes"},
                   "FashionMLP": {"hidden", "num_classes"}}.get(arch)
        if allowed is None:
            raise ArtefactError(f"meta.json: architecture {arch!r} is not submitted as a state dict")
        if set(kwargs) - allowed:
            raise ArtefactError(f"meta.json: unexpected arguments {sorted(set(kwargs) - allowed)}")
        clean = {k: (_int_list(v, k) if k in ("channels",) or (k == "hidden" and arch == "FashionMLP")
                     else _int_list([v], k)[0]) for k, v in kwargs.items()}
        if arch == "FashionCNN" and "channels" in clean and len(clean["channels"]) != 3:
            raise ArtefactError("meta.json: FashionCNN needs 3 channel widths")
        model = zoo.ARCHITECTURES[arch](**clean)
        try:
            state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
        except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as err:
            raise ArtefactError(f"state.pt does not load into {arch}({clean}): {str(err)[:400]}") from err
        if any(not torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
            raise ArtefactError("state.pt holds NaN or infinite values")
        return model.eval(), meta
    path = folder / "model.pt2"
    if not path.is_file():
        raise ArtefactError(f"{path} is missing")
    try:
        import torchao  # noqa: F401  (registers its tensor subclasses for quantized exports)
    except ImportError:
        pass  # only quantized exports need it, and they then fail to load with a clear error
    try:
        with _weights_only_loads():
            ep = torch.export.load(path)
    except Exception as err:  # deserialization raises many types; fail closed with the reason
        raise ArtefactError(f"model.pt2 did not load safely ({type(err).__name__}: {str(err)[:400]})") from err
    module = ep.module()
    shape = meta.get("input_shape")
    if type(shape) is not list or not all(type(i) is int for i in shape) or math.prod(shape) > 1 << 24:
        raise ArtefactError(f"meta.json: bad input_shape {shape!r}")
    return module, meta
