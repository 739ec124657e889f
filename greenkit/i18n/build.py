"""Translated student labs, ``labs/<lang>/<lab>/``, through the same nbgrader generation as English.

The English source ``solutions/<lab>/`` is translated with the lab's catalogue
(:func:`greenkit.i18n.catalogue.translate_notebook`: text only; code, cell ids and nbgrader
metadata unchanged) into a *shadow course*: a temporary folder with ``nbgrader_config.py``,
``solutions/<lab>/`` (translated) and ``labs/<lab>/`` (the committed translated lab). The shadow
course is then handed to :mod:`greenkit.course.generation` (through ``$GREENKIT_COURSE``), so the
translated lab is generated, compared and round-tripped by exactly the code that does the English
one: same hidden tests, same grade ids and points.

The translated solution notebook is never committed: it exists only inside the shadow course.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from greenkit.i18n import catalogue

__all__ = ["build", "build_command", "roundtrip", "translated_labs", "BuildResult", "StaleTranslationError"]


class StaleTranslationError(RuntimeError):
    """A strict build found missing, stale or invalid translations (each named by cell)."""


@dataclass
class BuildResult:
    lab: str
    lang: str
    path: Path | None = None
    problems: list[catalogue.Problem] = field(default_factory=list)

    def __str__(self) -> str:
        where = _shown(self.path) if self.path else "(not written)"
        head = f"wrote {where}"
        if self.problems:
            head += (f"  ({len(self.problems)} units shown in English with a banner: "
                     f"`python -m greenkit.i18n status --list {self.lab}`)")
        return head


def _root() -> Path:
    from greenkit.course import layout

    return layout.ROOT


def _shown(path: Path) -> str:
    """``path`` relative to the course folder when it is inside it."""
    try:
        return path.relative_to(_root()).as_posix()
    except ValueError:
        return str(path)


def translated_labs(lang: str = "zh_CN") -> list[str]:
    """Labs with at least one translated entry in ``lang`` (and a source notebook), in order.

    A catalogue just extracted (nothing translated yet) is not built: a Chinese lab that is all English
    under banners helps nobody.
    """
    from greenkit.course.generation import lab_names

    labs = []
    for lab in lab_names():
        po = catalogue.load_catalogue(lab, lang)
        if po is not None and any(e.msgstr for e in po):
            labs.append(lab)
    return labs


def output_dir(lab: str, lang: str = "zh_CN") -> Path:
    """Where the translated student lab lives: ``labs/<lang>/<lab>/``."""
    return _root() / "labs" / lang / lab


@contextlib.contextmanager
def _shadow_course(lab: str, lang: str, strict: bool) -> Iterator[tuple[Path, list]]:
    """A temporary course whose solutions/<lab> is the translated source; GREENKIT_COURSE points at it."""
    from greenkit.course import layout

    src_dir, committed = layout.SOLUTIONS / lab, output_dir(lab, lang)
    nb = nbformat.read(src_dir / f"{lab}.ipynb", as_version=4)
    translated, problems = catalogue.translate_notebook(nb, lab, lang)
    if strict and problems:
        raise StaleTranslationError(
            f"{lab} ({lang}): {len(problems)} units not usable:\n" + "\n".join(f"  {p}" for p in problems)
            + f"\nEdit {_shown(catalogue.catalogue_path(lab, lang))} "
              f"(after `python -m greenkit.i18n extract {lab}`).")
    with tempfile.TemporaryDirectory(prefix=f"i18n-{lang}-{lab}-") as tmp:
        shadow = Path(tmp)
        shutil.copy(layout.ROOT / "nbgrader_config.py", shadow / "nbgrader_config.py")
        shutil.copytree(src_dir, shadow / "solutions" / lab, ignore=shutil.ignore_patterns(
            ".ipynb_checkpoints", "__pycache__", "greenkit-submissions"))
        nbformat.write(translated, shadow / "solutions" / lab / f"{lab}.ipynb")
        (shadow / "labs").mkdir()
        if committed.is_dir():
            shutil.copytree(committed, shadow / "labs" / lab)
        old = os.environ.get("GREENKIT_COURSE")
        os.environ["GREENKIT_COURSE"] = str(shadow)
        try:
            yield shadow, problems
        finally:
            if old is None:
                os.environ.pop("GREENKIT_COURSE", None)
            else:
                os.environ["GREENKIT_COURSE"] = old


def build(labs: list[str] | None = None, lang: str = "zh_CN", strict: bool = False) -> list[BuildResult]:
    """Write ``labs/<lang>/<lab>/`` for each lab (default: every lab with a catalogue).

    Missing or stale translations are shown in English under a visible banner (``strict``: raise
    :class:`StaleTranslationError` naming every such cell instead, and write nothing).
    """
    from greenkit.course.generation import generate

    results = []
    for lab in labs or translated_labs(lang):
        dest = output_dir(lab, lang)  # before the shadow course takes over $GREENKIT_COURSE
        with _shadow_course(lab, lang, strict) as (shadow, problems):
            (written,) = generate([lab])
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(written, dest)
        results.append(BuildResult(lab, lang, dest, problems))
    return results


def build_command(labs: list[str] | None, lang: str = "zh_CN") -> None:
    """What `make labs` runs after the English labs: build each translated lab, say which have none."""
    have = translated_labs(lang)
    for lab in sorted(set(labs or []) - set(have)):
        print(f"{lab}: no {lang} translation yet (`python -m greenkit.i18n extract {lab}` starts one)")
    todo = [lab for lab in (labs or have) if lab in have]
    for result in build(todo, lang) if todo else []:
        print(result, flush=True)


def roundtrip(lab: str, lang: str = "zh_CN", strict: bool = True, timeout_s: float = 1800):
    """The English round trip on the translated lab: generation matches ``labs/<lang>/<lab>``, the
    translated solution earns full marks, the untouched translated student notebook zero.

    ``strict`` (default): missing/stale translations are a failure before anything runs.
    Returns :class:`greenkit.course.generation.RoundTrip` with paths in its problems rewritten to
    ``labs/<lang>/<lab>``.
    """
    from greenkit.course.generation import roundtrip as english_roundtrip

    with _shadow_course(lab, lang, strict) as (shadow, problems):
        result = english_roundtrip(lab, timeout_s=timeout_s)
    result.problems = [p.replace(f"labs/{lab}/", f"labs/{lang}/{lab}/")
                        .replace("run `make labs`", "run `python -m greenkit.i18n build " + lab + "`")
                       for p in result.problems]
    result.problems += [f"translation: {p}" for p in problems]
    return result
