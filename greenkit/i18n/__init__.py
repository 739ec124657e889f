"""Translations: greenkit's messages and the labs, English source + gettext catalogues.

- ``greenkit.i18n``           ``_()`` (translate a message), ``language()``, ``set_language()``
- ``greenkit.i18n.catalogue`` lab catalogues: extract ``solutions/LAB`` into ``labs/zh_CN/LAB.po``,
                              apply them to a notebook, check translations keep maths/code/links
- ``greenkit.i18n.build``     ``labs/zh_CN/LAB/`` through nbgrader from the translated source
- ``greenkit.i18n.messages``  extract ``_()`` calls of the package into ``messages/zh_CN.po``

    python -m greenkit.i18n extract [LAB ...]     # (re)extract catalogues, keep translations, mark stale
    python -m greenkit.i18n status [--list] [LAB ...]   # what is missing / stale, per lab
    python -m greenkit.i18n check [LAB ...]       # exit 1 naming every missing, stale or broken entry
    python -m greenkit.i18n build [LAB ...]       # labs/zh_CN/LAB/ from solutions/ + catalogue
    python -m greenkit.i18n roundtrip LAB         # the Chinese lab through nbgrader (full marks / zero)

Language of messages: ``set_language()`` if called (the Chinese labs call it), else ``$GREENKIT_LANG``,
else the locale (``$LC_ALL``, ``$LC_MESSAGES``, ``$LANG``), else English. A message with no
translation is shown in English, never dropped. Catalogues are read with polib straight from the
``.po`` files (no compiled ``.mo`` to go stale), once per process.

Messages are written ``_("{n} joules measured by {backend}").format(n=..., backend=...)``: the
placeholders are named so a translation may reorder them.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

__all__ = ["_", "N_", "language", "set_language", "normalize", "LANGUAGES", "HERE"]

HERE = Path(__file__).resolve().parent
LANGUAGES = ("en", "zh_CN")  # English is the source; the others have catalogues
_override: str | None = None


def normalize(value: str | None) -> str:
    """``zh_CN.UTF-8``, ``zh-CN``, ``zh_Hans``, ``zh`` -> ``zh_CN``; ``C``, ``en_US.UTF-8``, ``""`` -> ``en``.

    >>> normalize("zh_CN.UTF-8"), normalize("en_GB.UTF-8"), normalize(None)
    ('zh_CN', 'en', 'en')
    """
    if not value:
        return "en"
    tag = value.split(".")[0].split("@")[0].replace("-", "_").lower()
    if tag.startswith("zh") and not tag.startswith(("zh_tw", "zh_hk", "zh_mo", "zh_hant")):
        return "zh_CN"
    return "en"


def set_language(lang: str | None) -> str:
    """Use ``lang`` for greenkit's messages in this process (``None``: back to env/locale); returns it."""
    global _override
    if lang is not None and normalize(lang) == "en" and not lang.lower().startswith(("en", "c", "posix")):
        raise ValueError(f"greenkit has no translation for language {lang!r}; "
                         f"available: {', '.join(LANGUAGES)}")
    _override = None if lang is None else normalize(lang)
    return language()


def language() -> str:
    """The language messages are shown in now (see module docstring for the order)."""
    if _override is not None:
        return _override
    for var in ("GREENKIT_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:  # the first one set wins, as in gettext
            return normalize(value)
    return "en"


@cache
def _table(lang: str) -> dict[str, str]:
    """msgid -> msgstr of ``messages/LANG.po``: translated, non-fuzzy entries only."""
    path = HERE / "messages" / f"{lang}.po"
    if lang == "en" or not path.is_file():
        return {}
    import polib

    return {e.msgid: e.msgstr for e in polib.pofile(str(path))
            if e.msgstr and not e.obsolete and "fuzzy" not in e.flags}


def _(message: str) -> str:
    """``message`` in the current language (English when there is no translation)."""
    return _table(language()).get(message, message)


def N_(message: str) -> str:
    """Mark a constant for the catalogue without translating it now (translate it with ``_()`` where it
    is shown: a module constant is evaluated once, before the user's language is known)."""
    return message
