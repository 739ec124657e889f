"""Submitted models as files that load without running anything the student wrote.

Two formats, chosen by :func:`save_model`:

- ``zoo-state-dict``: an exact zoo architecture (``type(model) is FashionCNN``...) with plain
  tensors: ``meta.json`` (the architecture's registered name) and ``state.pt`` (``torch.save``
  of the state dict, read back with ``weights_only=True``); the architecture rebuilds itself
  from the tensors (``from_state_dict``: widths from shapes, settings from saved buffers).
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
import copy
import itertools
import json
import math
import pickle
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from greenkit import zoo
from greenkit.tensors import eval_mode, sha256_file

__all__ = ["save_model", "load_model", "ArtefactError", "FORMATS", "no_unpickling"]

FORMATS = ("zoo-state-dict", "torch-export")
_MAX_JSON_BYTES = 64 * 1024
_META_KEYS = {"zoo-state-dict": {"format", "arch", "sha256"},
              "torch-export": {"format", "input_shape", "sha256"}}


class ArtefactError(ValueError):
    """A submitted artefact is missing, malformed or unsafe to load."""


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


def _computed_keys(model: nn.Module) -> list[str]:
    """The state-dict keys of the tensors ``model`` computes with.

    ``torch.nn.utils.prune`` stores ``weight_orig`` + ``weight_mask`` and computes ``weight``;
    ``torch.nn.utils.parametrize`` stores ``parametrizations.weight.original``: both become ``weight``.
    """
    keys = []
    for key in model.state_dict():
        if key.endswith("_mask"):
            continue
        if key.endswith("_orig"):
            key = key[: -len("_orig")]
        if ".parametrizations." in f".{key}":
            owner, _, rest = f".{key}".partition(".parametrizations.")
            key = f"{owner}.{rest.split('.')[0]}".lstrip(".")
            if key in keys:
                continue
        keys.append(key)
    return keys


@torch.no_grad()
def _try_zoo(model: nn.Module, folder: Path, example: torch.Tensor) -> bool:
    arch = zoo.architecture_of(model)
    if arch is None:
        return False
    try:
        state = _materialized_state(model, _computed_keys(model))
        rebuilt = zoo.ARCHITECTURES[arch].from_state_dict(state)
        if hasattr(rebuilt, "example_input"):  # an architecture with other inputs (GPT: token ids)
            example = rebuilt.example_input()
        with eval_mode(model):
            same = torch.allclose(rebuilt(example), model(example), atol=1e-5, rtol=1e-4)
    except Exception:  # noqa: BLE001 - anything the rebuild cannot do falls back to torch.export
        return False
    if not same:  # e.g. a patched forward: the architecture name would not describe it
        return False
    torch.save(state, folder / "state.pt")
    meta = {"format": "zoo-state-dict", "arch": arch, "sha256": sha256_file(folder / "state.pt")}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return True


def save_model(model: nn.Module, folder: str | Path, example: torch.Tensor) -> dict:
    """Write ``model`` into the empty-or-new ``folder``; return its ``meta.json`` record.

    ``example`` is one input batch (used to check a zoo rebuild and to export).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"a submitted model must be a torch.nn.Module, got {type(model).__name__}")
    if any(t.device.type != "cpu" for t in itertools.chain(model.parameters(), model.buffers())):
        # A model trained on a GPU: the checker loads and runs every artefact on the CPU, and both the zoo
        # rebuild check and torch.export below run it on the CPU example. Save a CPU copy; the student's
        # model stays where it is.
        model = copy.deepcopy(model).cpu()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in ("meta.json", "state.pt", "model.pt2"):
        (folder / old).unlink(missing_ok=True)
    if not _try_zoo(model, folder, example):
        try:
            with eval_mode(model):
                ep = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
        except Exception as err:  # torch.export raises many types; say which model and why
            raise ArtefactError(f"could not export the model with torch.export ({type(err).__name__}: "
                                f"{str(err)[:500]}). Keep forward() free of Python side effects and "
                                f"data-dependent control flow.") from err
        torch.export.save(ep, folder / "model.pt2")
        meta = {"format": "torch-export", "input_shape": list(example.shape[1:]),
                "sha256": sha256_file(folder / "model.pt2")}
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return json.loads((folder / "meta.json").read_text())


@contextlib.contextmanager
def no_unpickling():
    """Inside: every ``torch.load`` runs with ``weights_only=True``, and ``pickle.load(s)`` and
    torch's torchbind object unpickler raise instead of running (``torch.export.load`` reaches them
    for custom and opaque constants; an artefact that needs them is refused)."""
    def refuse(*_args, **_kwargs):
        raise ArtefactError("the artefact holds a pickled object (only plain tensors are accepted)")

    original_load = torch.load

    def safe_load(*args, **kwargs):
        kwargs["weights_only"] = True
        return original_load(*args, **kwargs)

    patched = [(torch, "load", safe_load), (pickle, "loads", refuse), (pickle, "load", refuse),
               (torch._C, "_pickle_load_obj", refuse)]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patched]
    for owner, name, value in patched:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def _check_export_archive(path: Path) -> None:
    """Refuse a ``.pt2`` whose constants are objects (torchbind or opaque: unpickled on load) or in
    the legacy single-file format; what remains are plain tensors, JSON and weights_only loads."""
    import zipfile

    try:
        names = zipfile.ZipFile(path).namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise ArtefactError(f"model.pt2 is not a torch.export archive: {err}") from err
    for name in names:
        folder, _, base = name.rpartition("/")
        if folder.endswith("data/constants") and (base.startswith(("custom_obj_", "opaque_obj_"))
                                                  or base.endswith(".pt")):
            raise ArtefactError(f"model.pt2 carries a pickled constant ({name}); only tensors are accepted")


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
    extra = set(meta) - _META_KEYS[meta["format"]]
    if extra:
        raise ArtefactError(f"{path}: unexpected keys {sorted(extra)} for format {meta['format']!r}")
    return meta


def _check_digest(meta: dict, path: Path) -> None:
    """The file's SHA-256 must be the one recorded when it was saved (a swapped or damaged file fails)."""
    if meta.get("sha256") != sha256_file(path):
        raise ArtefactError(f"{path.name} does not match the SHA-256 in meta.json: it changed after it "
                            f"was saved; submit the model again")


def load_model(folder: str | Path, arch: str | None = None) -> tuple[nn.Module, dict]:
    """Rebuild a submitted model from ``folder``; returns ``(model in eval mode, meta)``.

    ``arch``: the zoo architecture the spec requires; then only its state dict is accepted.
    """
    folder = Path(folder)
    meta = _read_meta(folder)
    if arch is not None and (meta["format"] != "zoo-state-dict" or meta.get("arch") != arch):
        raise ArtefactError(f"this lab accepts only a gk.zoo.{arch} saved as its weights, got "
                            f"{meta.get('arch') or meta['format']}")
    if meta["format"] == "zoo-state-dict":
        arch = meta.get("arch")
        if type(arch) is not str or arch not in zoo.ARCHITECTURES:
            raise ArtefactError(f"meta.json: unknown architecture {arch!r} (known: {sorted(zoo.ARCHITECTURES)})")
        if not (folder / "state.pt").is_file():
            raise ArtefactError(f"{folder / 'state.pt'} is missing")
        _check_digest(meta, folder / "state.pt")
        try:
            state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as err:
            raise ArtefactError(f"state.pt does not load as plain tensors: {str(err)[:400]}") from err
        if type(state) not in (dict, OrderedDict) or not all(
                type(k) is str and type(v) is torch.Tensor for k, v in state.items()):
            raise ArtefactError("state.pt must hold a dict of plain tensors")
        if any(not torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
            raise ArtefactError("state.pt holds NaN or infinite values")
        try:
            model = zoo.ARCHITECTURES[arch].from_state_dict(state)
        except (ValueError, RuntimeError, KeyError, TypeError, IndexError) as err:
            raise ArtefactError(f"state.pt does not rebuild a {arch}: {str(err)[:400]}") from err
        return model.eval(), meta
    path = folder / "model.pt2"
    if not path.is_file():
        raise ArtefactError(f"{path} is missing")
    _check_digest(meta, path)
    try:
        import torchao  # noqa: F401  (registers its tensor subclasses for quantized exports)
    except ImportError:
        pass  # only quantized exports need it, and they then fail to load with a clear error
    _check_export_archive(path)
    try:
        with no_unpickling():
            ep = torch.export.load(path)
    except Exception as err:  # deserialization raises many types; fail closed with the reason
        raise ArtefactError(f"model.pt2 did not load safely ({type(err).__name__}: {str(err)[:400]})") from err
    module = ep.module()
    shape = meta.get("input_shape")
    if type(shape) is not list or not all(type(i) is int for i in shape) or math.prod(shape) > 1 << 24:
        raise ArtefactError(f"meta.json: bad input_shape {shape!r}")
    return module, meta
