"""The translators' glossary (``glossary.<lang>.tsv``) and the check that translations follow it."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache

from greenkit.i18n import HERE

__all__ = ["Term", "terms", "glossary_problems"]


@dataclass(frozen=True)
class Term:
    english: re.Pattern
    chinese: tuple[str, ...]   # accepted forms, the preferred one first
    checked: bool
    note: str


@cache
def terms(lang: str = "zh_CN") -> tuple[Term, ...]:
    """The glossary's rows (comment lines starting with # are skipped)."""
    path = HERE / f"glossary.{lang}.tsv"
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    return tuple(Term(re.compile(r["english"], re.I), tuple(r["chinese"].split("|")), r["check"] == "yes",
                      r.get("note") or "") for r in rows)


def glossary_problems(english_prose: str, translation: str, lang: str = "zh_CN") -> list[str]:
    """Checked terms of ``english_prose`` (code, maths, URLs already removed) missing in ``translation``."""
    why = []
    for t in terms(lang):
        hit = t.english.search(english_prose) if t.checked else None
        # kept in English on purpose (a paper's title, a function called `calibrate`, a constant): fine
        if hit and not any(c in translation for c in t.chinese) and not t.english.search(translation):
            why.append(f"glossary: '{hit.group(0)}' should be {' / '.join(t.chinese)}")
    return why
