"""Where the course lives: the folder holding ``solutions/``, ``labs/`` and ``nbgrader_config.py``.

Search order:

1. ``$GREENKIT_COURSE`` if set (an instructor's course folder, e.g. on a hub);
2. the repository around the package (a clone or editable install);
3. the current folder or any parent holding ``nbgrader_config.py`` (an installed
   wheel used inside a course folder).

The student package never needs this; only instructor tooling does, and it
says what to set when no course folder is found.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["course_root", "ROOT", "SOLUTIONS", "LABS", "CourseNotFoundError"]  # noqa: F822 (module __getattr__)


class CourseNotFoundError(FileNotFoundError):
    """No course folder (with ``solutions/`` and ``nbgrader_config.py``) was found."""


def _is_course(folder: Path) -> bool:
    return (folder / "nbgrader_config.py").is_file()


def course_root() -> Path:
    """The course folder (see module docstring); raises :class:`CourseNotFoundError` naming the fix."""
    env = os.environ.get("GREENKIT_COURSE")
    if env:
        root = Path(env).expanduser().resolve()
        if not _is_course(root):
            raise CourseNotFoundError(f"GREENKIT_COURSE={env} holds no nbgrader_config.py; "
                                      "point it at the course folder (the one with solutions/).")
        return root
    repo = Path(__file__).resolve().parents[2]
    if _is_course(repo):
        return repo
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if _is_course(folder):
            return folder
    raise CourseNotFoundError("No GreenKit course folder found (one holding nbgrader_config.py and "
                              "solutions/). Run from inside it or set GREENKIT_COURSE=/path/to/course.")


def __getattr__(name: str) -> Path:
    # Resolved on use, so that importing instructor tooling from a wheel never fails.
    if name == "ROOT":
        return course_root()
    if name == "SOLUTIONS":
        return course_root() / "solutions"
    if name == "LABS":
        return course_root() / "labs"
    raise AttributeError(name)
