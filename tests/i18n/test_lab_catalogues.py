"""Every lab has a complete, current zh_CN catalogue, and the committed Chinese labs keep the
English labs' maths, code, links, citations and code exactly.

These tests read the committed files only (seconds); the nbgrader round trip of a Chinese lab is
in test_roundtrip_zh.py (slow).
"""

from __future__ import annotations

import ast

import nbformat
import pytest

from greenkit.course import LABS, SOLUTIONS, lab_names
from greenkit.i18n import build, catalogue

LANG = "zh_CN"
ALL_LABS = lab_names()
BUILT = [lab for lab in ALL_LABS if (LABS / LANG / lab / f"{lab}.ipynb").is_file()]


@pytest.mark.parametrize("lab", ALL_LABS)
def test_catalogue_is_complete_and_current(lab):
    """Does every unit of the lab's CURRENT English have a non-stale, valid Chinese translation?

    Fails naming each missing / stale / invalid unit by cell (fix: `python -m greenkit.i18n extract LAB`,
    translate greenkit/i18n/labs/zh_CN/LAB.po, `python -m greenkit.i18n check LAB`).
    """
    st = catalogue.lab_status(lab, LANG)
    assert st.catalogue_exists, st.summary()
    assert st.complete, st.summary() + "\n" + "\n".join(str(p) for p in st.problems)


@pytest.mark.parametrize("lab", ALL_LABS)
def test_chinese_lab_is_built(lab):
    """Is there a committed labs/zh_CN/LAB for every lab (`python -m greenkit.i18n build LAB`)?"""
    assert (LABS / LANG / lab / f"{lab}.ipynb").is_file(), f"labs/{LANG}/{lab} missing: run make labs"


def _cells(path):
    return {c.id: c for c in nbformat.read(path, as_version=4).cells}


@pytest.mark.parametrize("lab", BUILT)
def test_chinese_lab_matches_catalogue(lab):
    """Is the committed labs/zh_CN/LAB what the current source and catalogue give (no hand edit, no
    forgotten rebuild)? Compared on the cells nbgrader copies as they are (locked, no hidden tests)."""
    src = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    translated, _ = catalogue.translate_notebook(src, lab, LANG)
    committed = _cells(LABS / LANG / lab / f"{lab}.ipynb")
    assert list(committed) == [c.id for c in translated.cells], "cells differ: run make labs"
    for cell in translated.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") or "HIDDEN TESTS" in cell.source:
            continue
        assert committed[cell.id].source == cell.source, (
            f"labs/{LANG}/{lab} cell {cell.id} ({meta.get('grade_id')}) is out of date: "
            f"run `python -m greenkit.i18n build {lab}`")


def _shape(source: str) -> str:
    """The code with string texts blanked and greenkit's set_language line removed."""
    tree = ast.parse(source)
    tree.body = [s for s in tree.body if not (isinstance(s, ast.Expr) and "set_language" in ast.unparse(s))]
    return catalogue._ast_shape(tree)


@pytest.mark.parametrize("lab", BUILT)
def test_maths_code_links_and_citations_survive(lab):
    """Between labs/LAB (English) and labs/zh_CN/LAB, per cell: are formulas, code spans and blocks,
    URLs, link targets and the numbers of the prose (years of citations, figures) the same, and is every
    code cell the same code (only string texts and comments differ)?"""
    en, zh = _cells(LABS / lab / f"{lab}.ipynb"), _cells(LABS / LANG / lab / f"{lab}.ipynb")
    assert en.keys() == zh.keys()
    for cid, cell in en.items():
        other = zh[cid]
        if cell.cell_type == "code":
            assert _shape(cell.source) == _shape(other.source), f"{lab} cell {cid}: the code differs"
            continue
        want, got = catalogue.protected(cell.source), catalogue.protected(other.source)
        for what in ("maths", "code span", "fenced code block", "URL", "link target", "nbgrader marker"):
            assert want[what] == got[what], f"{lab} cell {cid}: {what} differ: {want[what]} vs {got[what]}"
        lost = want["number"] - got["number"]
        lost = [n for n in lost.elements() if not (n in catalogue._CHINESE_NUMERALS and any(
            ch in other.source for ch in catalogue._CHINESE_NUMERALS[n]))]
        assert not lost, f"{lab} cell {cid}: numbers lost in translation: {lost}"


def test_a_stale_catalogue_fails_the_strict_build(tmp_path, monkeypatch):
    """Does the strict build (the translators' check) refuse a catalogue whose English changed, naming the
    cell, before running nbgrader?"""
    import shutil

    import polib

    shutil.copy(catalogue.catalogue_path("lab00_setup", LANG), tmp_path / "lab00_setup.po")
    monkeypatch.setattr(catalogue, "CATALOGUES", tmp_path)
    (tmp_path / LANG).mkdir()
    shutil.move(tmp_path / "lab00_setup.po", tmp_path / LANG / "lab00_setup.po")
    po = polib.pofile(str(tmp_path / LANG / "lab00_setup.po"))
    po[0].flags.append("fuzzy")
    po.save()
    with pytest.raises(build.StaleTranslationError, match=f"stale: markdown in cell 0 \\(id {po[0].msgctxt}"):
        build.build(["lab00_setup"], LANG, strict=True)


@pytest.mark.parametrize("lab", ALL_LABS)
def test_every_unit_of_every_lab_can_be_translated(lab, monkeypatch):
    """With a (fake) translation for every unit of the lab's current English, is every unit applied, every
    check passed, and every code cell still the same code? (Catches English the machinery cannot handle
    before a translator meets it.)"""
    import polib

    monkeypatch.setattr(catalogue, "glossary_problems", lambda *a, **k: [])
    nb = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    units = catalogue.extract_units(nb)
    po = polib.POFile()
    for u in units:  # markdown: a paragraph added at the end (headings stay first); code: a prefix
        mark = u.msgid + "\n\n中文" if u.kind == "markdown" else "中文：" + u.msgid
        po.append(polib.POEntry(msgctxt=u.cell_id, msgid=u.msgid, msgstr=mark))
    out, problems = catalogue.translate_notebook(nb, lab, po=po)
    assert not problems, "\n".join(map(str, problems))
    for a, b in zip(nb.cells, out.cells, strict=True):
        n = len({u.msgid for u in units if u.cell_id == a.id})
        if a.cell_type == "code":
            assert _shape(a.source) == _shape(b.source), f"{lab} cell {a.id}: the code changed"
        assert b.source.count("中文") >= n, f"{lab} cell {a.id}: {n} units, not all applied"
