"""Lab catalogues: what of a lab is translated, how a translation is applied and checked.

One catalogue per lab and language, ``greenkit/i18n/labs/<lang>/<lab>.po`` (gettext, edited with
any PO tool). Each entry is one *unit* of the English source ``solutions/<lab>/<lab>.ipynb``:

==========  =================================================================================
kind        msgid (the English)
==========  =================================================================================
markdown    a whole markdown cell (text, written-answer prompts, rubrics with their
            ``### BEGIN SOLUTION`` markers)
comment     a code comment (consecutive full-line comments are one unit, lines joined by ``\\n``)
string      the text between the quotes of a string the student reads: an ``assert`` message,
            a ``print()`` or ``raise`` argument, a plot's ``title``/axis title/trace ``name``/
            annotation (implicitly joined pieces are one unit, written back as one literal)
docstring   a function's docstring (text between the quotes)
==========  =================================================================================

``msgctxt`` is the cell's nbformat ``id``, ``msgid`` the English. Code inside
``### BEGIN SOLUTION`` / ``### END SOLUTION`` is the instructor's answer key and is not extracted.

A translation is *stale* when the cell's English changed after it was written: extraction then
keeps the old Chinese, flags the entry ``fuzzy`` and records the old English (``#| msgid``), so a
translator sees what changed. The build never shows a stale or missing translation: it shows the
English with a visible banner (see :func:`translate_notebook`), and ``check`` fails naming the cell.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from greenkit.i18n import HERE
from greenkit.i18n.glossary import glossary_problems

__all__ = ["Unit", "Problem", "LabStatus", "catalogue_path", "extract_units", "update_catalogue",
           "lab_status", "check_pair", "translate_notebook", "load_catalogue", "BANNER", "CATALOGUES"]

CATALOGUES = HERE / "labs"

# The notice shown instead of a stale or missing translation (markdown cells) ...
BANNER = {"zh_CN": "> ⚠️ **本单元的中文译文尚未完成或已过时，以下暂时显示英文原文。**"
                   "（Translation missing or out of date: the English source is shown.）\n\n"}
# ... and on top of a code cell with an untranslated comment or message.
CODE_BANNER = {"zh_CN": "# ⚠️ 本单元有 {n} 处注释或提示尚未翻译（暂时显示英文原文）"}
# The line added after `import greenkit as gk` so that report cards and figures follow the lab.
SET_LANGUAGE = {"zh_CN": 'gk.i18n.set_language("zh_CN")  # 成绩单、图表与提示信息使用中文'}

_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END)\s+(SOLUTION|HIDDEN TESTS)\b|YOUR CODE HERE|YOUR ANSWER HERE")
_SKIP_COMMENT = re.compile(r"^\s*(noqa|type:|pragma|fmt:|isort:)")
_PLOT_KEYWORDS = {"title", "title_text", "xaxis_title", "yaxis_title", "annotation_text", "colorbar_title",
                  "legend_title", "legend_title_text", "subplot_titles"}
_PLOT_CALLS = {"Scatter", "Bar", "Heatmap", "Histogram", "Box", "Violin", "Pie", "add_scatter", "add_bar",
               "add_trace", "add_heatmap", "add_histogram", "add_box"}
_STRING_PREFIX = re.compile(r"^([A-Za-z]*)('''|\"\"\"|'|\")")


@dataclass(frozen=True)
class Unit:
    """One translatable piece of a lab: ``cell_id`` (msgctxt) and ``msgid`` (the English)."""
    cell_id: str
    msgid: str
    kind: str                 # markdown | comment | string | docstring
    cell_index: int
    grade_id: str | None = None

    @property
    def where(self) -> str:
        gid = f", grade_id {self.grade_id}" if self.grade_id else ""
        return f"cell {self.cell_index} (id {self.cell_id}{gid})"


@dataclass(frozen=True)
class Problem:
    """What is wrong with one unit's translation: missing, stale or invalid (with why)."""
    unit: Unit
    status: str               # missing | stale | invalid
    detail: str = ""

    def __str__(self) -> str:
        first = self.unit.msgid.strip().splitlines()[0] if self.unit.msgid.strip() else ""
        text = f"{self.status}: {self.unit.kind} in {self.unit.where}: {first[:70]!r}"
        return text + (f"\n    {self.detail}" if self.detail else "")


@dataclass
class LabStatus:
    """Translation state of one lab in one language."""
    lab: str
    lang: str
    units: int = 0
    translated: int = 0
    problems: list[Problem] = field(default_factory=list)
    catalogue_exists: bool = True

    def count(self, status: str) -> int:
        return sum(p.status == status for p in self.problems)

    @property
    def complete(self) -> bool:
        return self.catalogue_exists and not self.problems

    def summary(self) -> str:
        if not self.catalogue_exists:
            return (f"{self.lab:24s} NO CATALOGUE ({self.units} units): "
                    f"run `python -m greenkit.i18n extract {self.lab}`")
        return (f"{self.lab:24s} {self.translated:4d}/{self.units:<4d} translated, "
                f"{self.count('missing')} missing, {self.count('stale')} stale, {self.count('invalid')} invalid")


def catalogue_path(lab: str, lang: str = "zh_CN") -> Path:
    return CATALOGUES / lang / f"{lab}.po"


def load_catalogue(lab: str, lang: str = "zh_CN"):
    """The lab's catalogue (``polib.POFile``), or None if there is none yet."""
    import polib

    path = catalogue_path(lab, lang)
    return polib.pofile(str(path), wrapwidth=100) if path.is_file() else None


# --------------------------------------------------------------------------------------------
# extraction

def _words(text: str, lowercase: bool) -> bool:
    """Has ``text`` a word to translate (with ``lowercase``: an all-lowercase word, not a name)?"""
    pattern = r"(?<![A-Za-z])[a-z]{2,}(?![A-Za-z])" if lowercase else r"[A-Za-z]{2,}"
    return re.search(pattern, text) is not None


def _solution_rows(source: str) -> set[int]:
    """1-based line numbers inside ### BEGIN SOLUTION ... ### END SOLUTION (markers included)."""
    rows, inside = set(), False
    for i, line in enumerate(source.splitlines(), 1):
        if re.match(r"\s*#+\s*BEGIN SOLUTION", line):
            inside = True
        if inside:
            rows.add(i)
        if re.match(r"\s*#+\s*END SOLUTION", line):
            inside = False
    return rows


@dataclass
class _Span:
    """A unit's place in a code cell: rows/cols in characters (tokenize's coordinates)."""
    kind: str
    msgid: str
    start: tuple[int, int]
    end: tuple[int, int]
    prefix: str = ""          # string: prefix letters (f, r, ...) of the written-back literal
    quote: str = ""           # string: quote of the written-back literal
    indent: int = 0           # comment block: column of the '#'
    full_line: bool = False   # comment: the comment is alone on its line(s)


def _concatenated(node: ast.AST) -> list[ast.AST]:
    """The operands of ``a + b + ...`` (a message built by concatenation), or ``[node]``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _concatenated(node.left) + _concatenated(node.right)
    return [node]


def _string_nodes(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    """The string nodes a student reads, with their kind (see module docstring)."""
    found: list[tuple[ast.AST, str]] = []

    def is_str(n) -> bool:
        return isinstance(n, ast.JoinedStr) or (isinstance(n, ast.Constant) and isinstance(n.value, str))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and is_str(first.value):
                found.append((first.value, "docstring"))
        if isinstance(node, ast.Assert) and node.msg is not None:
            found += [(n, "string") for n in _concatenated(node.msg) if is_str(n)]
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and node.value.values
                and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)
                and all(isinstance(v, ast.Constant) and isinstance(v.value, str) and " " in v.value
                        for v in node.value.values)):
            # a table of messages (e.g. WHAT_TO_CHANGE: target id -> advice): its values, not its keys
            found += [(v, "string") for v in node.value.values]
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            found += [(a, "string") for a in node.exc.args if is_str(a)]
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name == "print":
                found += [(n, "string") for a in node.args for n in _concatenated(a) if is_str(n)]
            for kw in node.keywords:
                if kw.arg in _PLOT_KEYWORDS or (kw.arg == "name" and name in _PLOT_CALLS):
                    values = kw.value.elts if isinstance(kw.value, (ast.Tuple, ast.List)) else [kw.value]
                    found += [(v, "string") for v in values if is_str(v)]
    return found


def _char_col(lines: list[str], row: int, byte_col: int) -> int:
    return len(lines[row - 1].encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _code_spans(source: str) -> list[_Span]:
    """Comments and student-facing strings of a code cell, in source order."""
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError, IndentationError):
        return []  # IPython magics etc.: nothing extracted (and nothing changed at build time)
    lines = source.splitlines()
    skip_rows = _solution_rows(source)
    spans: list[_Span] = []

    # comments
    for tok in tokens:
        if tok.type != tokenize.COMMENT or tok.start[0] in skip_rows:
            continue
        text = re.sub(r"^#+ ?", "", tok.string).rstrip()
        if _MARKER.search(tok.string) or _SKIP_COMMENT.match(text) or not _words(text, lowercase=True):
            continue
        full = lines[tok.start[0] - 1][: tok.start[1]].strip() == ""
        prev = spans[-1] if spans else None
        if (full and prev is not None and prev.kind == "comment" and prev.full_line
                and prev.end[0] == tok.start[0] - 1 and prev.indent == tok.start[1]):
            prev.msgid += "\n" + text
            prev.end = tok.end
            continue
        spans.append(_Span("comment", text, tok.start, tok.end, indent=tok.start[1], full_line=full))

    # strings
    string_tokens = [t for t in tokens if t.type == tokenize.STRING]
    for node, kind in _string_nodes(tree):
        start = (node.lineno, _char_col(lines, node.lineno, node.col_offset))
        end = (node.end_lineno, _char_col(lines, node.end_lineno, node.end_col_offset))
        if start[0] in skip_rows:
            continue
        parts = [t for t in string_tokens if start <= t.start and t.end <= end]
        if not parts:
            continue
        pieces = []
        for t in parts:
            m = _STRING_PREFIX.match(t.string)
            pieces.append((m.group(1).lower(), m.group(2), t.string[m.end():len(t.string) - len(m.group(2))]))
        prefixes = {p for p, _, _ in pieces}
        if any(set(p) & set("rb") for p in prefixes):
            continue  # raw or bytes literals are left alone
        is_f = any("f" in p for p in prefixes)
        text = "".join(c if ("f" in p or not is_f) else c.replace("{", "{{").replace("}", "}}")
                       for p, _, c in pieces)
        visible = re.sub(r"\{[^{}]*\}", "", text) if is_f else text
        if not _words(visible, lowercase=True):
            continue
        spans.append(_Span(kind, text, start, end, prefix="f" if is_f else "", quote=pieces[0][1]))
    spans.sort(key=lambda s: s.start)
    return spans


def _cell_units(cell, index: int) -> list[Unit]:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    cid = cell.get("id")
    if not cid:
        raise ValueError(f"cell {index} has no nbformat id; translations are keyed by cell id "
                         "(nbformat >= 4.5): read and write the notebook with nbformat to add them")
    if cell.cell_type == "markdown":
        return [Unit(cid, cell.source, "markdown", index, gid)] if _words(cell.source, False) else []
    if cell.cell_type == "code":  # the same sentence twice in a cell is one unit
        return list(dict.fromkeys(Unit(cid, s.msgid, s.kind, index, gid) for s in _code_spans(cell.source)))
    return []


def extract_units(nb) -> list[Unit]:
    """Every unit of a notebook, in order, without duplicates (same cell, same English)."""
    seen, units = set(), []
    for i, cell in enumerate(nb.cells):
        for u in _cell_units(cell, i):
            if (u.cell_id, u.msgid) not in seen:
                seen.add((u.cell_id, u.msgid))
                units.append(u)
    return units


def _source_notebook(lab: str):
    from greenkit.course import layout

    return nbformat.read(layout.SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)


def save_catalogue(po, path: Path) -> None:
    """Write ``po`` to ``path`` atomically (a reader never sees half a file)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    po.save(str(tmp))
    os.replace(tmp, path)


def _translation_memory(lang: str, exclude: str) -> dict[str, str]:
    """English -> Chinese of every current, valid entry of the other labs' catalogues."""
    import polib

    memory: dict[str, str] = {}
    for path in sorted((CATALOGUES / lang).glob("*.po")):
        if path.stem == exclude:
            continue
        try:
            entries = list(polib.pofile(str(path)))
        except (OSError, ValueError, UnicodeDecodeError) as err:  # another translator is saving it right now
            print(f"translation memory: skipped {path.name} ({err})")
            continue
        for e in entries:
            kind = (e.comment or "").split(",")[0]
            if e.msgstr and "fuzzy" not in e.flags and not check_pair(e.msgid, e.msgstr, kind or "markdown"):
                memory.setdefault(e.msgid, e.msgstr)
    return memory


def update_catalogue(lab: str, lang: str = "zh_CN", nb=None) -> LabStatus:
    """(Re)extract ``lab``'s catalogue from its English source, keeping every translation.

    - an entry whose cell id and English are unchanged keeps its translation (and flags);
    - a cell whose English changed: the old translation is kept, flagged ``fuzzy`` (stale), with the
      old English as ``#| msgid`` so the change can be seen;
    - English that moved to a new cell id (same text): the translation follows it;
    - English translated in another lab's catalogue (the set-up lines every lab shares): reused;
    - entries no longer in the source become obsolete (``#~``), kept for reuse.
    """
    import polib

    nb = _source_notebook(lab) if nb is None else nb
    units = extract_units(nb)
    old = load_catalogue(lab, lang)
    old_entries = list(old) + list(old.obsolete_entries()) if old is not None else []
    by_key = {(e.msgctxt, e.msgid): e for e in old_entries if not e.obsolete}
    by_ctx: dict[str, list] = defaultdict(list)
    by_msgid: dict[str, list] = defaultdict(list)
    for e in old_entries:
        if e.msgstr:
            by_ctx[e.msgctxt].append(e)
            by_msgid[e.msgid].append(e)

    memory = _translation_memory(lang, exclude=lab)
    po = polib.POFile(wrapwidth=100)
    po.metadata = dict(old.metadata) if old is not None else {
        "Project-Id-Version": f"greenkit {lab}",
        "Language": lang,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
        "X-Source": f"solutions/{lab}/{lab}.ipynb",
    }
    po.header = (f"Translation of GreenKit {lab} ({lang}). Source: solutions/{lab}/{lab}.ipynb.\n"
                 "msgctxt = the cell's nbformat id; msgid = the English. Regenerate with\n"
                 f"`python -m greenkit.i18n extract {lab}`; check with `python -m greenkit.i18n check {lab}`.")
    used: set[int] = set()
    for u in units:
        entry = polib.POEntry(msgctxt=u.cell_id, msgid=u.msgid, msgstr="",
                              comment=f"{u.kind}, {u.where}",  # the kind is matched on below
                              occurrences=[(f"solutions/{lab}/{lab}.ipynb", str(u.cell_index))])
        hit = by_key.get((u.cell_id, u.msgid))
        if hit is not None:
            used.add(id(hit))
            entry.msgstr, entry.flags, entry.tcomment = hit.msgstr, list(hit.flags), hit.tcomment
            entry.previous_msgid = hit.previous_msgid
        else:
            kind_tag = f"{u.kind},"
            same_cell = [e for e in by_ctx.get(u.cell_id, []) if id(e) not in used
                         and (e.comment or "").startswith(kind_tag)]
            best = max(same_cell, key=lambda e: difflib.SequenceMatcher(None, e.msgid, u.msgid).ratio(),
                       default=None)
            moved = [e for e in by_msgid.get(u.msgid, []) if "fuzzy" not in e.flags]
            if moved:  # same English elsewhere (a new cell id, or the same sentence twice)
                entry.msgstr, entry.tcomment = moved[0].msgstr, moved[0].tcomment
                used.add(id(moved[0]))
            elif u.msgid in memory:  # the same English is translated in another lab (a shared set-up line)
                entry.msgstr = memory[u.msgid]
            elif best is not None and (u.kind == "markdown" or len(same_cell) == 1 or difflib.SequenceMatcher(
                    None, best.msgid, u.msgid).ratio() >= 0.5):
                used.add(id(best))
                entry.msgstr, entry.tcomment = best.msgstr, best.tcomment
                entry.flags = sorted(set(best.flags) | {"fuzzy"})
                entry.previous_msgid = best.previous_msgid or best.msgid
        po.append(entry)
    active = {(e.msgctxt, e.msgid) for e in po}
    for e in old_entries:
        if id(e) not in used and e.msgstr and (e.msgctxt, e.msgid) not in active:
            e.obsolete = True
            po.append(e)
            active.add((e.msgctxt, e.msgid))
    save_catalogue(po, catalogue_path(lab, lang))
    return lab_status(lab, lang, nb=nb)


# --------------------------------------------------------------------------------------------
# checks of one translation against its English

_FENCE = re.compile(r"```.*?```", re.S)
_MATH = re.compile(r"\$\$.+?\$\$|(?<![\\$])\$(?!\s)[^$\n]+?(?<![\s\\])\$|\\\(.+?\\\)|\\\[.+?\\\]", re.S)
_CODE = re.compile(r"(?<!`)(`+)(?!`)(?:(?!\n\s*\n).)+?(?<!`)\1(?!`)", re.S)  # may wrap a line, not a paragraph
_URL = re.compile(r"https?://[^\s)>\]\"'`\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+(?<![.,;:!?])")  # a sentence's final full stop is not the URL's
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_TAG = re.compile(r"</?[A-Za-z][^>\n]*>")
_NUMBER = re.compile(r"(?<![A-Za-z_])\d+(?:[.,]\d+)*")
# {name} fields, and printf conversions such as %s, %5.2f, %% (not "90% s...": a percentage in prose)
_PLACEHOLDER = re.compile(r"(?<!\{)\{[^{}]*\}(?!\})|(?<![\d%])%[-+#0]*\d*(?:\.\d+)?[sdfgre%]")
_MARKER_LINE = re.compile(r"^\s*#+\s*(?:BEGIN|END) (?:SOLUTION|HIDDEN TESTS)\s*$", re.M)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_CHINESE_NUMERALS = {"0": "零", "1": "一单", "2": "二两双", "3": "三", "4": "四", "5": "五", "6": "六",
                     "7": "七", "8": "八", "9": "九", "10": "十"}


def protected(text: str, placeholders: bool = False, escapes: bool = False) -> dict[str, Counter]:
    """What a translation must keep exactly: maths, code, URLs, link targets, HTML tags, markers, numbers;
    with ``escapes`` the escape sequences of a string literal, with ``placeholders`` also its format fields.

    Numbers are counted only in the prose (outside maths, code, URLs and placeholders).
    """
    found: dict[str, Counter] = {}
    rest = text
    for name, rx in (("fenced code block", _FENCE), ("maths", _MATH), ("code span", _CODE), ("URL", _URL)):
        # inline maths and code compare with their white space collapsed: a translation may re-wrap lines
        norm = (lambda t: t) if name == "fenced code block" else (lambda t: re.sub(r"\s+", " ", t))
        found[name] = Counter(norm(m.group(0).strip()) for m in rx.finditer(rest))
        rest = rx.sub(" ", rest)
    found["link target"] = Counter(_LINK.findall(text))
    found["HTML tag"] = Counter(_TAG.findall(rest))
    found["nbgrader marker"] = Counter(m.group(0).strip() for m in _MARKER_LINE.finditer(text))
    if escapes or placeholders:
        found["escape sequence"] = Counter(re.findall(r"\\[nt\\'\"]", rest))
    if placeholders:
        found["placeholder"] = Counter(_PLACEHOLDER.findall(rest))
        rest = _PLACEHOLDER.sub(" ", rest)
    found["number"] = Counter(_NUMBER.findall(_TAG.sub(" ", rest)))
    return found


def _headings(text: str) -> list[int]:
    """Levels of the markdown headings (not nbgrader's ``### BEGIN SOLUTION`` markers, not code)."""
    body = _MARKER_LINE.sub("", _FENCE.sub("", text))
    return [len(m.group(1)) for m in re.finditer(r"^(#{1,6})\s+\S", body, re.M)]


def _ast_shape(tree: ast.AST) -> str:
    """The AST with every string's text blanked (f-strings: their {fields} as a multiset)."""
    class Blank(ast.NodeTransformer):
        def visit_Constant(self, node):
            return ast.Constant(value="") if isinstance(node.value, str) else node

        def visit_JoinedStr(self, node):
            fields = sorted(ast.dump(self.visit(v)) for v in node.values if isinstance(v, ast.FormattedValue))
            return ast.Constant(value="f:" + "|".join(fields))

    return ast.dump(Blank().visit(tree))


def check_pair(msgid: str, msgstr: str, kind: str, glossary: bool = True) -> list[str]:
    """Why ``msgstr`` is not an acceptable translation of ``msgid`` (empty list: fine).

    Checks that maths, code spans and blocks, URLs, link targets, HTML tags, nbgrader markers,
    numbers (and, in messages, ``{placeholders}`` and ``%s``) are kept; headings keep their levels; the text is
    actually Chinese; a one-line comment or string stays on one line.
    """
    why = []
    # only a message may be a format string ({name}, %s); a comment or a docstring is prose, where
    # "{layer name: mask}" or "90% sparsity" may be translated like any other words
    fields, escapes = kind == "string", kind in ("string", "docstring")
    want = protected(msgid, placeholders=fields, escapes=escapes)
    got = protected(msgstr, placeholders=fields, escapes=escapes)
    # a small number may be written in Chinese (一维, 两个): "1" lost is fine where 一 appears
    for n in list((want["number"] - got["number"]).elements()):
        if n in _CHINESE_NUMERALS and re.search(f"[{_CHINESE_NUMERALS[n]}]", msgstr):
            got["number"][n] += 1
    got["number"] &= want["number"]  # only lost numbers count: "double" may well become "乘以 2"
    for name in want:
        if want[name] != got[name]:
            lost = list((want[name] - got[name]).elements())
            added = list((got[name] - want[name]).elements())
            bits = ([f"lost {lost}"] if lost else []) + ([f"added {added}"] if added else [])
            why.append(f"{name} not kept as in the English: {'; '.join(bits)}")
    if kind == "markdown" and _headings(msgid) != _headings(msgstr):
        why.append(f"heading levels differ: English {_headings(msgid)}, translation {_headings(msgstr)}")
    prose = _URL.sub(" ", _CODE.sub(" ", _MATH.sub(" ", _FENCE.sub(" ", msgid))))
    words = re.findall(r"\b[a-z]{3,}\b", re.sub(r"\([^()]*\)|\{[^{}]*\}", " ", prose))  # not "(out, in)"
    if len(words) >= 3 and not _CJK.search(msgstr):
        why.append("no Chinese in the translation (the English was copied?)")
    if kind in ("comment", "string") and "\n" not in msgid and "\n" in msgstr:
        why.append("the English is one line; keep the translation on one line")
    if glossary and _CJK.search(msgstr):  # an entry deliberately left in English is not held to the glossary
        words = re.sub(r"\w+(?:[._]\w+)+|\w+\(\)", " ", _PLACEHOLDER.sub(" ", prose))  # torch.Tensor, batch_size
        why += glossary_problems(words, msgstr)
    return why


# --------------------------------------------------------------------------------------------
# applying a catalogue to a notebook

def _literal(span: _Span, text: str) -> str:
    return f"{span.prefix}{span.quote}{text}{span.quote}"


def _apply_spans(source: str, edits: list[tuple[_Span, str]]) -> str:
    """Replace each span's text by its translation (edits must not overlap)."""
    lines = source.split("\n")
    for span, text in sorted(edits, key=lambda e: e[0].start, reverse=True):
        (r0, c0), (r1, c1) = span.start, span.end
        if span.kind == "comment" and span.full_line:
            pad = " " * span.indent
            new_lines = [f"{pad}# {t}".rstrip() for t in text.split("\n")]
            lines[r0 - 1:r1] = new_lines
            continue
        new = "# " + text if span.kind == "comment" else _literal(span, text)
        head, tail = lines[r0 - 1][:c0], lines[r1 - 1][c1:]
        lines[r0 - 1:r1] = (head + new + tail).split("\n")
    return "\n".join(lines)


def check_code_translation(source: str, msgid: str, msgstr: str, kind: str) -> list[str]:
    """Does putting ``msgstr`` in place of ``msgid`` in ``source`` keep the code the same code?"""
    spans = [s for s in _code_spans(source) if s.msgid == msgid and s.kind == kind]
    if not spans:
        return []
    try:
        new = _apply_spans(source, [(s, msgstr) for s in spans])
        same = _ast_shape(ast.parse(source)) == _ast_shape(ast.parse(new))
    except SyntaxError as err:
        return [f"the code no longer parses with this translation: {err.msg} "
                "(a quote or backslash inside the text? escape it as in the English)"]
    return [] if same else ["the code changes with this translation (only the text between the quotes "
                            "may change; keep every {placeholder} exactly)"]


def _lookup(po, unit: Unit):
    if po is None:
        return None
    for e in po:
        if e.msgctxt == unit.cell_id and e.msgid == unit.msgid:
            return e
    return None


def unit_problem(unit: Unit, entry, cell_source: str) -> Problem | None:
    """None if ``entry`` is a usable translation of ``unit``; else why not."""
    if entry is None:
        return Problem(unit, "missing")
    if not entry.msgstr:
        return Problem(unit, "missing", "empty msgstr")
    if "fuzzy" in entry.flags:
        return Problem(unit, "stale", "the English changed since this was translated (fuzzy): "
                                      "update the Chinese, then remove the fuzzy flag")
    why = check_pair(unit.msgid, entry.msgstr, unit.kind, glossary="glossary: ok" not in (entry.tcomment or ""))
    if unit.kind != "markdown" and not why:
        why = check_code_translation(cell_source, unit.msgid, entry.msgstr, unit.kind)
    return Problem(unit, "invalid", "; ".join(why)) if why else None


def lab_status(lab: str, lang: str = "zh_CN", nb=None) -> LabStatus:
    """Compare the lab's CURRENT English with its catalogue: what is missing, stale or invalid."""
    nb = _source_notebook(lab) if nb is None else nb
    po = load_catalogue(lab, lang)
    units = extract_units(nb)
    status = LabStatus(lab, lang, units=len(units), catalogue_exists=po is not None)
    has_any = defaultdict(bool)
    if po is not None:
        for e in po:
            has_any[e.msgctxt] |= bool(e.msgstr)
    for u in units:
        p = unit_problem(u, _lookup(po, u), nb.cells[u.cell_index].source)
        if p is not None and p.status == "missing" and has_any[u.cell_id] and _lookup(po, u) is None:
            p = Problem(u, "stale", "the English changed and the catalogue was not re-extracted: "
                                    f"run `python -m greenkit.i18n extract {lab}`")
        if p is None:
            status.translated += 1
        else:
            status.problems.append(p)
    return status


def translate_notebook(nb, lab: str, lang: str = "zh_CN", po=None):
    """A translated copy of ``nb`` and the problems found; never raises on a bad translation.

    Units with a usable translation are replaced. A markdown cell without one shows the English
    under a visible banner; a code cell with an untranslated comment or message gets a banner
    comment on top. A translation that fails its checks is never applied (it could break the
    code or the maths). Cell ids, metadata and code are unchanged, so nbgrader's grade ids,
    hidden tests and checksums of test code are the English ones.
    """
    po = load_catalogue(lab, lang) if po is None else po
    out = nbformat.reads(nbformat.writes(nb), as_version=4)
    problems: list[Problem] = []
    language_set = False
    for i, cell in enumerate(out.cells):
        units = _cell_units(cell, i)
        if cell.cell_type == "markdown" and units:
            p = unit_problem(units[0], _lookup(po, units[0]), cell.source)
            if p is None:
                cell.source = _lookup(po, units[0]).msgstr
            else:
                problems.append(p)
                cell.source = BANNER[lang] + cell.source
        elif cell.cell_type == "code":
            spans = _code_spans(cell.source)
            edits, untranslated = [], 0
            for unit in units:
                p = unit_problem(unit, _lookup(po, unit), cell.source)
                if p is None:
                    edits += [(s, _lookup(po, unit).msgstr) for s in spans
                              if s.msgid == unit.msgid and s.kind == unit.kind]
                else:
                    problems.append(p)
                    untranslated += sum(s.msgid == unit.msgid and s.kind == unit.kind for s in spans)
            source = _apply_spans(cell.source, edits) if edits else cell.source
            if not language_set and re.search(r"^import greenkit as gk\b.*$", source, re.M):
                source = re.sub(r"^(import greenkit as gk\b.*)$", lambda m: m.group(1) + "\n" + SET_LANGUAGE[lang],
                                source, count=1, flags=re.M)
                language_set = True
            if untranslated:
                source = CODE_BANNER[lang].format(n=untranslated) + "\n" + source
            cell.source = source
    out.metadata["greenkit"] = {"language": lang, "source": f"solutions/{lab}/{lab}.ipynb",
                                "generated_from": f"greenkit/i18n/labs/{lang}/{lab}.po"}
    return out, problems


# --------------------------------------------------------------------------------------------
# a JSON view of a catalogue, for translators who prefer it to PO (and for scripts)

def export_entries(lab: str, lang: str = "zh_CN", everything: bool = False, nb=None) -> list[dict]:
    """The entries to work on (missing, stale, invalid; ``everything``: all) as plain dicts.

    Each: ``id`` (cell id = msgctxt), ``kind``, ``where``, ``english`` (msgid), ``previous_english`` (the
    English the current Chinese was written for, when stale), ``problem``, ``chinese`` (msgstr, to edit).
    """
    nb = _source_notebook(lab) if nb is None else nb
    update_catalogue(lab, lang, nb=nb)  # so that every current unit has an entry
    po = load_catalogue(lab, lang)
    problems = {(p.unit.cell_id, p.unit.msgid): p for p in lab_status(lab, lang, nb=nb).problems}
    items = []
    for u in extract_units(nb):
        p = problems.get((u.cell_id, u.msgid))
        if p is None and not everything:
            continue
        e = _lookup(po, u)
        items.append({"id": u.cell_id, "kind": u.kind, "where": u.where, "english": u.msgid,
                      "previous_english": (e.previous_msgid or "") if e is not None else "",
                      "problem": f"{p.status}: {p.detail}".rstrip(": ") if p else "",
                      "chinese": e.msgstr if e is not None else "",
                      "note": (e.tcomment or "") if e is not None else ""})
    return items


def import_entries(lab: str, items: list[dict], lang: str = "zh_CN") -> list[str]:
    """Write the ``chinese`` of each item into the catalogue (clearing fuzzy); returns what was skipped."""
    po = load_catalogue(lab, lang)
    if po is None:
        raise FileNotFoundError(f"no catalogue for {lab}: run `python -m greenkit.i18n extract {lab}` first")
    index = {(e.msgctxt, e.msgid): e for e in po}
    skipped = []
    for item in items:
        text = item.get("chinese") or ""
        e = index.get((item["id"], item["english"]))
        if not text:
            continue
        if e is None:
            skipped.append(f"{item['id']}: {item['english'][:60]!r}: the English changed since the export "
                           "(export again and translate the new text)")
            continue
        e.msgstr = text
        if item.get("note") is not None:
            e.tcomment = item["note"]
        if "fuzzy" in e.flags:
            e.flags.remove("fuzzy")
        e.previous_msgid = None
    save_catalogue(po, catalogue_path(lab, lang))
    return skipped
