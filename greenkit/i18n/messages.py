"""greenkit's own messages: every ``_("...")`` in the package, in ``messages/<lang>.po``.

``update()`` scans the package's source for ``_()`` calls whose argument is a string literal,
keeps existing translations, flags a changed message ``fuzzy`` (with the old English) when a
close one was translated, and drops the rest as obsolete. ``status()`` says what is missing,
stale or broken (a lost ``{placeholder}``), for the test that keeps the catalogue complete.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from greenkit.i18n import HERE
from greenkit.i18n.catalogue import check_pair, save_catalogue

__all__ = ["catalogue_path", "messages_in_source", "update", "status", "MessagesStatus"]

PACKAGE = HERE.parent


def catalogue_path(lang: str = "zh_CN") -> Path:
    return HERE / "messages" / f"{lang}.po"


def messages_in_source(package: Path = PACKAGE) -> dict[str, list[tuple[str, int]]]:
    """msgid -> [(file relative to the repo, line)] for every ``_("literal")`` / ``N_("literal")``."""
    found: dict[str, list[tuple[str, int]]] = {}
    for path in sorted(package.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "N_")
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                rel = path.relative_to(package.parent).as_posix()
                found.setdefault(node.args[0].value, []).append((rel, node.lineno))
    # the labs' titles, shown on their report cards (greenkit.targets renders _(spec.title))
    for path in sorted((package / "targets" / "specs").glob("*.toml")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = re.match(r'^title\s*=\s*"(.*)"\s*$', line)
            if m:
                found.setdefault(m.group(1), []).append((path.relative_to(package.parent).as_posix(), n))
    return found


@dataclass
class MessagesStatus:
    lang: str
    messages: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"messages ({self.lang}): {self.messages - len(self.problems)}/{self.messages} translated"
                + ("" if not self.problems else f", {len(self.problems)} missing, stale or invalid"))


def update(lang: str = "zh_CN") -> MessagesStatus:
    """Re-extract the messages catalogue from the source, keeping translations (see module doc)."""
    import polib

    path = catalogue_path(lang)
    old = polib.pofile(str(path), wrapwidth=100) if path.is_file() else None
    old_entries = [e for e in (old or []) if e.msgstr]
    by_id = {e.msgid: e for e in old_entries}
    po = polib.POFile(wrapwidth=100)
    po.metadata = dict(old.metadata) if old is not None else {
        "Project-Id-Version": "greenkit messages", "Language": lang, "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8", "Content-Transfer-Encoding": "8bit"}
    po.header = ("greenkit's messages (doctor, report card, errors). Regenerate with\n"
                 "`python -m greenkit.i18n messages`; placeholders {name} must be kept.")
    used = set()
    for msgid, where in messages_in_source().items():
        entry = polib.POEntry(msgid=msgid, msgstr="", occurrences=[(f, str(n)) for f, n in where])
        if msgid in by_id:
            hit = by_id[msgid]
            entry.msgstr, entry.flags, entry.previous_msgid = hit.msgstr, list(hit.flags), hit.previous_msgid
            entry.tcomment = hit.tcomment
            used.add(msgid)
        else:
            close = difflib.get_close_matches(msgid, [e.msgid for e in old_entries if e.msgid not in used],
                                              n=1, cutoff=0.6)
            if close:
                hit = by_id[close[0]]
                used.add(close[0])
                entry.msgstr, entry.flags = hit.msgstr, ["fuzzy"]
                entry.previous_msgid = hit.previous_msgid or hit.msgid
        po.append(entry)
    for e in old_entries:
        if e.msgid not in used and e.msgid not in {x.msgid for x in po}:
            e.obsolete = True
            po.append(e)
    save_catalogue(po, path)
    return status(lang)


def status(lang: str = "zh_CN") -> MessagesStatus:
    """Every message in the source checked against the catalogue."""
    import polib

    path = catalogue_path(lang)
    entries = {e.msgid: e for e in polib.pofile(str(path))} if path.is_file() else {}
    source = messages_in_source()
    st = MessagesStatus(lang, messages=len(source))
    for msgid, where in source.items():
        e = entries.get(msgid)
        at = f"{where[0][0]}:{where[0][1]}"
        if e is None or not e.msgstr:
            st.problems.append(f"missing: {at}: {msgid[:70]!r} (run `python -m greenkit.i18n messages`)")
        elif "fuzzy" in e.flags:
            st.problems.append(f"stale: {at}: {msgid[:70]!r}")
        elif why := check_pair(msgid, e.msgstr, "string"):
            st.problems.append(f"invalid: {at}: {msgid[:70]!r}: {'; '.join(why)}")
    return st
