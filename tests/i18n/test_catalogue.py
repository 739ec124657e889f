"""greenkit.i18n.catalogue: what is extracted, how stale entries are found, and that a translation
can change only text (never code, maths, links or numbers)."""

from __future__ import annotations

import nbformat
import polib
import pytest

from greenkit.i18n import catalogue as cat

SOLUTION_CELL = '''def f(x):
    """Double the input. Returns a tensor."""
    ### BEGIN SOLUTION
    # the answer key: not extracted
    return 2 * x
    ### END SOLUTION'''

TEST_CELL = '''y = f(3)
# Check the result with a friendly message.
# This second line belongs to the same comment.
assert y == 6, f"expected 6, got {y}"
LABELS = {"keep me": 1}       # dict keys stay code
print("the result is", y, LABELS["keep me"])
fig.update_layout(title=f"Energy per call ({kind})", xaxis_title="batch size")
fig.add_scatter(x=[1], y=[2], name="measured power")
### BEGIN HIDDEN TESTS
assert f(1) == 2, "hidden check failed for one input"
### END HIDDEN TESTS'''


def _nb() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nSee $E = P t$ and `gk.measure()` at "
                                              "[d2l](https://d2l.ai), which tells the whole story "
                                              "(Han et al., 2015)."),
                nbformat.v4.new_code_cell(SOLUTION_CELL), nbformat.v4.new_code_cell(TEST_CELL)]
    for i, c in enumerate(nb.cells):
        c.id = f"cell{i}"
    return nb


def _po(entries: dict[tuple[str, str], str]) -> polib.POFile:
    po = polib.POFile()
    for (ctx, msgid), msgstr in entries.items():
        po.append(polib.POEntry(msgctxt=ctx, msgid=msgid, msgstr=msgstr))
    return po


def test_extracts_what_students_read_and_nothing_else():
    """Are markdown, comments, docstrings, assert/print/plot strings extracted, and answer-key code,
    dict keys, nbgrader markers left out?"""
    units = {(u.cell_id, u.kind, u.msgid) for u in cat.extract_units(_nb())}
    msgids = {m for _, _, m in units}
    assert ("cell1", "docstring", "Double the input. Returns a tensor.") in units
    assert ("cell2", "comment", "Check the result with a friendly message.\n"
                                "This second line belongs to the same comment.") in units
    assert {"expected 6, got {y}", "the result is", "Energy per call ({kind})", "batch size",
            "measured power", "hidden check failed for one input", "dict keys stay code"} <= msgids
    assert not any("answer key" in m or "keep me" == m or "BEGIN" in m for m in msgids), msgids


def test_every_cell_needs_an_id():
    """Is a cell without an nbformat id refused with the fix, rather than keyed by position?"""
    nb = _nb()
    del nb.cells[0]["id"]
    with pytest.raises(ValueError, match="nbformat id"):
        cat.extract_units(nb)


def test_translation_replaces_text_and_keeps_code():
    """Does a complete catalogue give a notebook whose code is the English code, text in Chinese?"""
    nb = _nb()
    zh = {("cell0", nb.cells[0].source): "# 标题\n\n见 $E = P t$ 与 `gk.measure()`，"
                                         "[d2l](https://d2l.ai)（Han 等，2015）。",
          ("cell1", "Double the input. Returns a tensor."): "把输入乘以 2，返回张量。",
          ("cell2", "Check the result with a friendly message.\nThis second line belongs to the same comment."):
              "用友好的提示检查结果。\n这一行属于同一段注释。",
          ("cell2", "expected 6, got {y}"): "应为 6，实际为 {y}",
          ("cell2", "dict keys stay code"): "字典的键仍是代码",
          ("cell2", "the result is"): "结果是",
          ("cell2", "Energy per call ({kind})"): "每次调用的能耗（{kind}）",
          ("cell2", "batch size"): "批量大小",
          ("cell2", "measured power"): "实测功率",
          ("cell2", "hidden check failed for one input"): "隐藏测试：一个输入的结果有误"}
    out, problems = cat.translate_notebook(nb, "fake", po=_po(zh))
    assert problems == []
    assert out.cells[0].source.startswith("# 标题")
    code = out.cells[2].source
    assert 'assert y == 6, f"应为 6，实际为 {y}"' in code
    assert '    # 用友好的提示检查结果。' not in code and "# 用友好的提示检查结果。\n# 这一行属于同一段注释。" in code
    assert 'LABELS["keep me"]' in code and 'name="实测功率"' in code
    assert "### BEGIN HIDDEN TESTS" in code and "# the answer key: not extracted" in out.cells[1].source
    assert [c.id for c in out.cells] == [c.id for c in nb.cells]


def test_missing_and_stale_are_shown_in_english_with_a_banner():
    """Is a cell with no (or a fuzzy) translation shown in English under a visible banner, never dropped?"""
    nb = _nb()
    po = _po({("cell0", nb.cells[0].source): "# 标题\n\n旧的译文 $E = P t$ `gk.measure()` "
                                             "[d2l](https://d2l.ai) 2015"})
    po[0].flags.append("fuzzy")
    out, problems = cat.translate_notebook(nb, "fake", po=po)
    assert out.cells[0].source.startswith(cat.BANNER["zh_CN"]) and out.cells[0].source.endswith(nb.cells[0].source)
    assert "尚未翻译" in out.cells[2].source.splitlines()[0]
    statuses = {(p.unit.cell_id, p.status) for p in problems}
    assert ("cell0", "stale") in statuses and ("cell2", "missing") in statuses


def test_update_keeps_translations_and_flags_changed_english(tmp_path, monkeypatch):
    """After the English of a cell changes, does extraction keep the old Chinese as fuzzy with the old
    English beside it, and does status call it stale (naming the cell)?"""
    monkeypatch.setattr(cat, "CATALOGUES", tmp_path)
    nb = _nb()
    cat.update_catalogue("fake", nb=nb)
    po = polib.pofile(str(tmp_path / "zh_CN" / "fake.po"))
    for e in po:
        e.msgstr = "中文：" + e.msgid
    po.save()
    old_md = nb.cells[0].source
    nb.cells[0].source = old_md.replace("Title", "A new title")
    st = cat.update_catalogue("fake", nb=nb)
    entry = next(e for e in polib.pofile(str(tmp_path / "zh_CN" / "fake.po")) if e.msgctxt == "cell0")
    assert "fuzzy" in entry.flags and entry.previous_msgid == old_md and entry.msgstr == "中文：" + old_md
    stale = [p for p in st.problems if p.status == "stale"]
    assert [p.unit.cell_id for p in stale] == ["cell0"] and "cell 0 (id cell0)" in str(stale[0])


def test_status_sees_changed_english_without_re_extraction(tmp_path, monkeypatch):
    """If nobody re-ran extract after an English edit, is the cell still reported stale?"""
    monkeypatch.setattr(cat, "CATALOGUES", tmp_path)
    nb = _nb()
    cat.update_catalogue("fake", nb=nb)
    po = polib.pofile(str(tmp_path / "zh_CN" / "fake.po"))
    for e in po:
        e.msgstr = "中文"
    po.save()
    nb.cells[2].source = nb.cells[2].source.replace("expected 6", "expected six")
    st = cat.lab_status("fake", nb=nb)
    assert any(p.status == "stale" and p.unit.msgid == "expected six, got {y}" for p in st.problems)


@pytest.mark.parametrize("msgstr, complaint", [
    ("# 标题\n\n见 $E = Pt$ 与 `gk.measure()`，[d2l](https://d2l.ai)（Han 等，2015）。", "maths"),
    ("# 标题\n\n见 $E = P t$ 与 gk.measure()，[d2l](https://d2l.ai)（Han 等，2015）。", "code span"),
    ("# 标题\n\n见 $E = P t$ 与 `gk.measure()`，[d2l](https://zh.d2l.ai)（Han 等，2015）。", "URL"),
    ("# 标题\n\n见 $E = P t$ 与 `gk.measure()`，d2l https://d2l.ai（Han 等，2015）。", "link target"),
    ("# 标题\n\n见 $E = P t$ 与 `gk.measure()`，[d2l](https://d2l.ai)（Han 等，2016）。", "number"),
    ("## 标题\n\n见 $E = P t$ 与 `gk.measure()`，[d2l](https://d2l.ai)（Han 等，2015）。", "heading"),
    ("# Title\n\nSee $E = P t$ and `gk.measure()` at [d2l](https://d2l.ai), which tells the whole story "
     "(Han et al., 2015).", "no Chinese"),
])
def test_markdown_checks_catch_what_a_translation_must_keep(msgstr, complaint):
    """Does each broken translation (maths, code span, URL, link, citation year, heading, untranslated)
    fail its check with a message naming what was lost?"""
    english = _nb().cells[0].source
    why = cat.check_pair(english, msgstr, "markdown")
    assert any(complaint in w for w in why), why


def test_glossary_is_enforced():
    """Where the English says "pruning", must the Chinese say 剪枝 (not, e.g., 修剪), unless the English word
    is kept on purpose (a paper's title, a function called `prune`)?"""
    assert any("剪枝" in w for w in cat.check_pair("Magnitude pruning of the weights.",
                                                  "按幅值修剪权重。", "markdown"))
    assert cat.check_pair("Magnitude pruning of the weights.", "按幅值对权重做剪枝。", "markdown") == []
    assert cat.check_pair("See *Learning both Weights and Connections* by pruning.",
                          "见 *Learning both Weights and Connections*（剪枝）。", "markdown") == []


@pytest.mark.parametrize("msgstr, complaint", [
    ('应为 6，实际为 {y!r}', "placeholder"),        # a changed {field}
    ('应为 6，实际为 "{y}"', "no longer parses"),    # an unescaped quote ends the literal
    ("应为 6，\n实际为 {y}", "one line"),
])
def test_code_translations_cannot_change_the_code(msgstr, complaint):
    """Is a translated assert message that changes a placeholder or breaks the literal refused, and
    left unapplied at build time?"""
    nb = _nb()
    unit = next(u for u in cat.extract_units(nb) if u.msgid == "expected 6, got {y}")
    problem = cat.unit_problem(unit, polib.POEntry(msgctxt=unit.cell_id, msgid=unit.msgid, msgstr=msgstr),
                               nb.cells[2].source)
    assert problem is not None and problem.status == "invalid" and complaint in problem.detail, problem
    out, _ = cat.translate_notebook(nb, "fake", po=_po({(unit.cell_id, unit.msgid): msgstr}))
    assert 'f"expected 6, got {y}"' in out.cells[2].source


def test_export_import_round_trip(tmp_path, monkeypatch):
    """Does a translator's JSON (export -> fill 'chinese' -> import) land in the catalogue, clear the stale
    flag, and refuse an entry whose English changed after the export?"""
    monkeypatch.setattr(cat, "CATALOGUES", tmp_path)
    nb = _nb()
    items = cat.export_entries("fake", nb=nb)
    assert {i["problem"].split(":")[0] for i in items} == {"missing"}
    for i in items:
        i["chinese"] = {"expected 6, got {y}": "应为 6，实际为 {y}"}.get(i["english"], "")
    items.append({"id": "cell2", "english": "an English that is gone", "chinese": "旧文"})
    skipped = cat.import_entries("fake", items)
    assert len(skipped) == 1 and "English changed" in skipped[0]
    st = cat.lab_status("fake", nb=nb)
    assert st.translated == 1 and all(p.unit.msgid != "expected 6, got {y}" for p in st.problems)


def test_the_same_message_twice_in_a_cell():
    """Is a message that a cell uses twice (a visible and a hidden test) one entry, translated in both
    places, with the code still valid?"""
    nb = _nb()
    nb.cells[2].source += '\nassert y > 0, "the model must be unchanged"\nassert y > 1, "the model must be unchanged"'
    units = [u for u in cat.extract_units(nb) if u.msgid == "the model must be unchanged"]
    assert len(units) == 1
    po = _po({(units[0].cell_id, units[0].msgid): "模型必须保持不变"})
    out, _ = cat.translate_notebook(nb, "fake", po=po)
    assert out.cells[2].source.count('"模型必须保持不变"') == 2
    compile(out.cells[2].source, "cell", "exec")


def test_glossary_can_be_waived_per_entry():
    """Can a translator mark one entry `glossary: ok` where a checked word has another sense
    ("a measure of spread"), without turning the check off elsewhere?"""
    nb = _nb()
    nb.cells[0].source = "# Spread\n\nThe interval is a measure of spread."
    unit = cat.extract_units(nb)[0]
    entry = polib.POEntry(msgctxt=unit.cell_id, msgid=unit.msgid, msgstr="# 离散程度\n\n区间反映了数据的离散程度。")
    assert "glossary" in cat.unit_problem(unit, entry, "").detail
    entry.tcomment = "glossary: ok"
    assert cat.unit_problem(unit, entry, "") is None


def test_translation_memory_across_labs(tmp_path, monkeypatch):
    """Is an English sentence already translated in another lab's catalogue reused when a new lab is
    extracted (the set-up lines every lab shares), but not a stale one?"""
    monkeypatch.setattr(cat, "CATALOGUES", tmp_path)
    (tmp_path / "zh_CN").mkdir()
    other = polib.POFile()
    other.append(polib.POEntry(msgctxt="x", msgid="the result is", msgstr="结果是", comment="string, cell 1"))
    other.append(polib.POEntry(msgctxt="x", msgid="measured power", msgstr="旧译", comment="string, cell 1",
                               flags=["fuzzy"]))
    other.save(str(tmp_path / "zh_CN" / "other.po"))
    cat.update_catalogue("fake", nb=_nb())
    got = {e.msgid: e.msgstr for e in polib.pofile(str(tmp_path / "zh_CN" / "fake.po"))}
    assert got["the result is"] == "结果是" and got["measured power"] == ""


def test_checks_tolerate_rewrapping_and_final_full_stops():
    """Is a code span that wraps a line compared with its white space collapsed, a URL's sentence-final
    full stop not taken as part of it, and a shape comment like "(out, in)" not required to be Chinese?"""
    english = "Call `quantize_(model,\nconfig)` as in https://docs.pytorch.org/ao/. It swaps the weights."
    chinese = "调用 `quantize_(model, config)`，见 https://docs.pytorch.org/ao/。它会替换权重。"
    assert cat.check_pair(english, chinese, "markdown") == []
    assert cat.check_pair("int8 (out, in), (out, 1)", "int8 (out, in), (out, 1)", "comment") == []


REPORT_CELL = '''WHAT_TO_CHANGE = {"sparse-sparsity": "raise SPARSITY (Part 3)", "energy": "keep fewer channels"}
MODES = {"minmax": "minmax"}
assert report.passed, "not every target passed: " + "; ".join(WHAT_TO_CHANGE[r] for r in failed)
print("\\nA sample:\\n" + text)'''


def test_messages_built_by_concatenation_and_message_tables_are_extracted():
    """Are the pieces of an assert/print message built with `+`, and the values (not keys) of an ALL-CAPS
    table of prose messages, extracted and translated in place, with the code otherwise unchanged?"""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(REPORT_CELL)]
    nb.cells[0].id = "rc"
    msgids = {u.msgid for u in cat.extract_units(nb)}
    assert {"raise SPARSITY (Part 3)", "keep fewer channels", "not every target passed: ",
            "\\nA sample:\\n"} <= msgids
    assert not {"sparse-sparsity", "energy", "minmax"} & msgids, msgids
    zh = {("rc", "raise SPARSITY (Part 3)"): "提高 SPARSITY（第 3 部分）",
          ("rc", "keep fewer channels"): "保留更少的通道",
          ("rc", "not every target passed: "): "并非所有目标都已达成：",
          ("rc", "\\nA sample:\\n"): "\\n一个样本：\\n"}
    out, problems = cat.translate_notebook(nb, "fake", po=_po(zh))
    assert problems == []
    code = out.cells[0].source
    assert '"sparse-sparsity": "提高 SPARSITY（第 3 部分）"' in code and '{"minmax": "minmax"}' in code
    assert 'assert report.passed, "并非所有目标都已达成：" + ' in code and 'print("\\n一个样本：\\n" + text)' in code


def test_format_fields_are_held_only_in_messages():
    """Are {fields} and %s kept in a message (a format string), while a docstring's '{layer name: mask}' and a
    percentage in prose ('90% sparsity') may be translated like other words?"""
    english, chinese = "{layer name: mask} of every pruned layer", "每个被剪枝层的 {层名: 掩码}"
    assert cat.check_pair(english, chinese, "docstring") == []
    assert any("placeholder" in w for w in cat.check_pair(english, chinese, "string"))
    assert cat.check_pair("keep 90% sparsity in classifier.1", "classifier.1 保持 90% 的稀疏度", "comment") == []
    assert cat.check_pair("90% sparsity reached after %d steps", "%d 步后达到 90% 的稀疏度", "string") == []
    assert any("placeholder" in w and "%d" in w
               for w in cat.check_pair("reached after %d steps", "若干步后达到", "string"))
    assert any("escape sequence" in w for w in cat.check_pair("first\\nsecond", "第一 第二", "docstring"))
