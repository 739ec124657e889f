"""Where GreenKit finds its offline data and where it caches decoded arrays.

Search order for the data root (the folder that holds ``fashion-mnist/`` and
``checkpoints/``):

1. ``$GREENKIT_DATA`` if set (an installed copy, a shared JupyterHub folder);
2. ``datasets/`` beside the ``greenkit`` package (a clone or editable install);
3. ``datasets/`` in the current folder or any parent (a lab folder handed out
   inside a course tree);
4. ``/usr/share/datasets`` (Debian's ``dataset-fashion-mnist`` package;
   Fashion-MNIST only, no checkpoints).

The cache of decoded arrays lives in ``$GREENKIT_CACHE`` or
``~/.cache/greenkit`` (a temporary folder if neither is writable).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["data_roots", "find_data_file", "cache_dir", "DataFileError"]

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DATASETS = PACKAGE_DIR.parent / "datasets"
DEBIAN_DATASETS = Path("/usr/share/datasets")


class DataFileError(FileNotFoundError):
    """A shipped data file is missing or does not match its checksum."""


def data_roots() -> list[Path]:
    """Candidate data roots, most specific first (see module docstring)."""
    roots: list[Path] = []
    env = os.environ.get("GREENKIT_DATA")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(REPO_DATASETS)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        roots.append(folder / "datasets")
    roots.append(DEBIAN_DATASETS)
    seen: set[Path] = set()
    unique = []
    for r in roots:
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return unique


def find_data_file(relative: str, restore_hint: str) -> Path:
    """Return the first existing ``root/relative`` over :func:`data_roots`.

    Raises :class:`DataFileError` naming the file, every place searched, and
    ``restore_hint`` (how to get the file back).
    """
    for root in data_roots():
        candidate = root / relative
        if candidate.is_file():
            return candidate
    searched = "\n  ".join(str(r / relative) for r in data_roots())
    raise DataFileError(
        f"GreenKit data file '{relative}' was not found. Searched:\n  {searched}\n"
        f"Fix: {restore_hint}\n"
        "Or point GREENKIT_DATA at a folder that contains it "
        "(e.g. export GREENKIT_DATA=/path/to/greenkit/datasets)."
    )


def cache_dir() -> Path:
    """A writable cache folder for decoded arrays."""
    candidates = []
    if os.environ.get("GREENKIT_CACHE"):
        candidates.append(Path(os.environ["GREENKIT_CACHE"]).expanduser())
    candidates.append(Path.home() / ".cache" / "greenkit")
    candidates.append(Path(tempfile.gettempdir()) / f"greenkit-cache-{os.getuid() if hasattr(os, 'getuid') else 'user'}")
    for c in candidates:
        try:
            c.mkdir(parents=True, exist_ok=True)
            probe = c / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
            return c
        except OSError:
            continue
    raise OSError("No writable cache folder; set GREENKIT_CACHE to a writable folder.")
