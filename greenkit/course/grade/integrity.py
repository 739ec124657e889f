"""Tamper detection: a static check of the student's cells, a post-run probe, and an artefact scan.

The sandbox *prevents* what it can (reading solutions, writing the gradebook, outliving the
notebook); the checks here *detect* what happens inside the student's own kernel, where the
student's code and the visible tests share one Python process:

1. :func:`static_flags` reads the source of the student's cells (answers and added cells; never
   the instructor's) as data, outside the kernel. It flags assignments to attributes of imported
   modules (``torch.allclose = ...``, ``setattr(np.testing, ...)``), ``builtins``/``__builtins__``,
   ``sys.modules``, IPython's input/AST transformers, events, custom exception handlers and magics
   outside a short list, tracing and frame hooks (``sys.settrace``, ``f_back``, ``__globals__``...),
   ``exec``/``eval``/``compile``/``__import__`` of anything but a literal string, literal paths outside
   the student's folder, comparison and dispatch dunders (``__eq__`` that is always true,
   ``__torch_function__``), and process escapes (``os.fork``, ``setsid``, ``ctypes``).
2. :data:`PROBE_BEFORE` / :data:`PROBE_AFTER` run in the kernel around the notebook (trusted code
   executed by the grader, not cells of the notebook). After the last cell the probe reports objects
   defined in the notebook that now sit in other modules (a monkeypatch, whatever spelling built it),
   changed builtins, non-module ``sys.modules`` entries, added input/AST transformers and event
   callbacks, a custom exception handler, and trace/profile hooks. It runs where the student's code
   ran, so a determined student can silence it; silence is itself reported. It adds evidence; the
   static check and the sandbox do not depend on it.
3. :func:`scan_artefacts` reads every pickle the notebook left (``torch.save`` zips, ``.pt2``
   archives, bare pickles) with :mod:`pickletools` - opcodes only, nothing is executed - and flags
   any global outside the tensor-rebuilding allow-list: a code-carrying artefact.

None of these flags the reference solution of any lab (a test runs them on ``solutions/*/*.ipynb``).
"""

from __future__ import annotations

import ast
import io
import json
import pickletools
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Flag", "static_flags", "scan_artefacts", "probe_code", "parse_probe", "PROBE_MARK"]


@dataclass(frozen=True)
class Flag:
    """One piece of evidence: what kind, in which cell (notebook index, -1: the run), and the text."""
    kind: str          # monkeypatch | builtins | sys.modules | ipython-hook | tracing | exec | path |
                       # dunder | process | probe | artefact
    cell: int
    evidence: str
    source: str = "static"   # static | probe | artefact

    def to_dict(self) -> dict:
        return asdict(self)


# ---- 1. static ---------------------------------------------------------------------------------

_SAFE_MAGICS = {"timeit", "time", "matplotlib", "load_ext", "autoreload", "precision", "pprint"}
_FRAME_ATTRS = {"settrace", "setprofile", "addaudithook", "_getframe", "f_back", "f_globals", "f_locals",
                "f_builtins", "tb_frame", "gi_frame", "cr_frame", "__globals__", "__closure__", "__code__",
                "__subclasses__", "co_consts", "__builtins__", "excepthook", "displayhook", "breakpointhook"}
_INTROSPECTION = {"inspect": {"currentframe", "stack", "getouterframes", "getinnerframes", "trace"},
                  "gc": {"get_referrers", "get_referents", "get_objects"}}
_IPY_ATTRS = {"input_transformers_cleanup", "input_transformers_post", "input_transformer_manager",
              "ast_transformers", "events", "set_custom_exc", "custom_exceptions", "register_magic_function",
              "showtraceback", "run_cell", "run_ast_nodes", "transform_cell", "prefilter_manager",
              "displayhook", "display_pub", "InteractiveShell", "ExecutionResult", "set_hook"}
_DUNDERS = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__instancecheck__",
            "__subclasscheck__", "__torch_function__", "__torch_dispatch__", "__array_ufunc__",
            "__array_function__", "__getattribute__"}
_EXEC = {"exec", "eval", "compile", "__import__", "execfile", "import_module", "run_path", "run_module",
         "FunctionType", "CodeType"}
_EXEC_QUALIFIED = {"importlib.import_module", "runpy.run_path", "runpy.run_module", "types.FunctionType",
                   "types.CodeType", "builtins.exec", "builtins.eval", "builtins.compile"}
_PROCESS_ATTRS = {"fork", "forkpty", "setsid", "setpgid", "daemon", "kill", "killpg", "signal", "nohup"}
_PROCESS_MODULES = {"ctypes", "cffi", "multiprocessing", "pty", "resource"}
_OUTSIDE = re.compile(r"(^/|^~|(^|/)\.\.(/|$)|solutions|gradebook|autograded|submitted/|nbgrader_config)")
# attribute writes that are settings, not patches (checked on the reference solutions)
_SETTINGS = re.compile(r"^torch\.backends\.|^torch\._dynamo\.config\.|^torch\._inductor\.config\.|"
                       r"^np\.random\.seed$|^plotly\.io\.|^pio\.|^plt\.rcParams")


def _ipython_to_python(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:  # IPython missing or the cell is not valid IPython: parse as plain Python
        return source


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call):
        inner = _dotted(node.func)
        if inner:
            parts.append(inner + "()")
            return ".".join(reversed(parts))
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, modules: set[str]):
        self.modules = modules            # names bound by imports so far (module aliases and imported names)
        self.found: list[tuple[str, int, str]] = []

    def flag(self, kind: str, node, text: str):
        self.found.append((kind, getattr(node, "lineno", 0), text))

    def _root(self, dotted: str | None) -> str | None:
        return dotted.split(".", 1)[0] if dotted else None

    def _check_target(self, target, node):
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._check_target(t, node)
            return
        if isinstance(target, ast.Attribute):
            name = _dotted(target)
            root = self._root(name)
            if name and root in self.modules and name.count(".") >= 1 and not _SETTINGS.search(name):
                self.flag("monkeypatch", node, f"assigns {name}")
        elif isinstance(target, ast.Subscript):
            base = _dotted(target.value) or ""
            if base.endswith("__dict__") or base.startswith("vars()") or base in ("sys.modules",) or \
                    base.startswith("vars("):
                self.flag("monkeypatch", node, f"writes into {base}[...]")

    def visit_Import(self, node):
        for a in node.names:
            self.modules.add((a.asname or a.name).split(".")[0])
            top = a.name.split(".")[0]
            if top == "builtins":
                self.flag("builtins", node, "imports builtins")
            if top in _PROCESS_MODULES:
                self.flag("process", node, f"imports {a.name}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        mod = node.module or ""
        for a in node.names:
            self.modules.add(a.asname or a.name)
            if mod.split(".")[0] == "builtins":
                self.flag("builtins", node, f"imports {a.name} from builtins")
            if mod.split(".")[0] in _PROCESS_MODULES:
                self.flag("process", node, f"imports {a.name} from {mod}")
            if a.name in _FRAME_ATTRS | {"modules"} and mod in ("sys", "inspect", "gc", "threading"):
                self.flag("tracing" if a.name != "modules" else "sys.modules", node, f"from {mod} import {a.name}")
        self.generic_visit(node)

    def visit_Assign(self, node):
        for t in node.targets:
            self._check_target(t, node)
        if self._is_module_value(node.value):   # `m = torch.testing`, `m = importlib.import_module("x")`
            for t in node.targets:
                if isinstance(t, ast.Name):
                    self.modules.add(t.id)
        self.generic_visit(node)

    def _is_module_value(self, value) -> bool:
        if isinstance(value, (ast.Name, ast.Attribute)):
            return self._root(_dotted(value)) in self.modules
        if isinstance(value, ast.Call):
            fname = value.func.attr if isinstance(value.func, ast.Attribute) else getattr(value.func, "id", None)
            return fname in ("import_module", "__import__", "reload")
        if isinstance(value, ast.Subscript):
            return (_dotted(value.value) or "").endswith("sys.modules")
        return False

    def visit_AugAssign(self, node):
        self._check_target(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._check_target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for t in node.targets:
            self._check_target(t, node)
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id == "__builtins__":
            self.flag("builtins", node, "uses __builtins__")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        name = _dotted(node) or node.attr
        if name.endswith("sys.modules"):
            self.flag("sys.modules", node, f"uses {name}")
        if node.attr in _FRAME_ATTRS or node.attr in _INTROSPECTION.get(self._root(name) or "", ()):
            self.flag("tracing", node, f"uses {name}")
        if node.attr in _IPY_ATTRS:
            self.flag("ipython-hook", node, f"uses {name}")
        if node.attr in _PROCESS_ATTRS and self._root(name) in ("os", "signal", "subprocess"):
            self.flag("process", node, f"uses {name}")
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in _DUNDERS:
                self.flag("dunder", item, f"class {node.name} defines {item.name}")
            if isinstance(item, ast.Assign):
                for t in item.targets:
                    if isinstance(t, ast.Name) and t.id in _DUNDERS:
                        self.flag("dunder", item, f"class {node.name} sets {t.id}")
        self.generic_visit(node)

    def visit_Call(self, node):
        fname = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        full = _dotted(node.func) or fname or ""
        if fname in ("setattr", "delattr") and node.args:
            target = _dotted(node.args[0])
            if self._root(target) in self.modules or target in ("__builtins__",):
                self.flag("monkeypatch", node, f"{fname}({target}, ...)")
        if fname == "vars" and node.args and self._root(_dotted(node.args[0])) in self.modules:
            self.flag("monkeypatch", node, f"vars({_dotted(node.args[0])})")
        if fname == "get_ipython" or full.endswith("get_ipython"):
            pass  # judged by what is done with it (magics below, hooks in visit_Attribute)
        if fname in ("run_line_magic", "run_cell_magic") and node.args:
            magic = node.args[0].value if isinstance(node.args[0], ast.Constant) else None
            if magic not in _SAFE_MAGICS:
                self.flag("ipython-hook", node, f"IPython magic %{magic}")
        if fname == "system" and full.endswith("get_ipython().system"):
            self.flag("process", node, "runs a shell command (!...)")
        is_exec = (isinstance(node.func, ast.Name) and fname in _EXEC) or full in _EXEC_QUALIFIED
        if is_exec:
            first = node.args[0] if node.args else None
            literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if fname in ("__import__", "import_module") and literal:
                self.modules.add(first.value.split(".")[0])
            elif not literal or fname in ("FunctionType", "CodeType"):
                self.flag("exec", node, f"{full}(...) of a built value")
        for arg in node.args[:1]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _OUTSIDE.search(arg.value) \
                    and fname not in ("print", "format", "join", "startswith", "endswith", "split", "replace"):
                self.flag("path", node, f"{full}({arg.value!r}): a path outside the student's folder")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and re.search(r"(^|/)solutions/|gradebook\.db|/autograded/", node.value):
            self.flag("path", node, f"string {node.value[:80]!r} names instructor files")
        self.generic_visit(node)


def static_flags(nb, cells: list[int]) -> list[Flag]:
    """Flags for the code cells ``cells`` of ``nb`` (the student's); imports seen in any cell count."""
    modules = {"sys", "os", "builtins", "importlib"}
    for c in nb.cells:  # names the whole notebook imports (the instructor's cells import torch, gk...)
        if c.cell_type != "code":
            continue
        try:
            tree = ast.parse(_ipython_to_python(c.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                modules |= {a.asname or a.name for a in node.names}
    flags: list[Flag] = []
    for i in cells:
        src = _ipython_to_python(nb.cells[i].source)
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue  # it fails to run; nothing to detect
        scanner = _Scanner(set(modules))
        scanner.visit(tree)
        seen = set()
        for kind, line, text in scanner.found:
            if (kind, text) not in seen:
                seen.add((kind, text))
                flags.append(Flag(kind, i, f"line {line}: {text}"))
    return flags


# ---- 2. probe in the kernel --------------------------------------------------------------------

PROBE_MARK = "GREENKIT-PROBE"

_PROBE_BEFORE = r'''
def __greenkit_probe_state():
    import builtins, sys, threading
    ip = get_ipython()
    ev = {k: len(v) for k, v in ip.events.callbacks.items()}
    return {"builtins": {k: id(v) for k, v in vars(builtins).items()},
            "cleanup": len(ip.input_transformers_cleanup), "post": len(ip.input_transformers_post),
            "ast": len(ip.ast_transformers), "events": ev, "exc": len(ip.custom_exceptions),
            "odd_modules": {k: id(v) for k, v in sys.modules.items() if not isinstance(v, type(sys))}}
__greenkit_probe_start = __greenkit_probe_state()
'''

_PROBE_AFTER = r'''
def __greenkit_probe_after(start, mark):
    import builtins, sys, threading, json, types, functools, warnings
    warnings.simplefilter("ignore")
    out = []
    ip = get_ipython()
    ignore = {"_", "__", "___", "In", "Out", "exit", "quit", "get_ipython", "display", "__IPYTHON__", "_ih", "_oh",
              "_dh", "help", "__builtins__", "input", "raw_input", "getpass"}  # ipykernel swaps input per request
    for k, v in vars(builtins).items():
        if k in ignore or k.startswith("_i"):
            continue
        if start["builtins"].get(k) != id(v):
            out.append(["builtins", "builtins.%s %s" % (k, "added" if k not in start["builtins"] else "replaced")])
    for name, n in (("cleanup", len(ip.input_transformers_cleanup)), ("post", len(ip.input_transformers_post)),
                    ("ast", len(ip.ast_transformers)), ("exc", len(ip.custom_exceptions))):
        if n > start[name]:
            out.append(["ipython-hook", "%d IPython %s transformer(s)/handler(s) added" % (n - start[name], name)])
    for k, v in ip.events.callbacks.items():
        if len(v) > start["events"].get(k, 0):
            out.append(["ipython-hook", "callback added to IPython event %r" % k])
    if sys.gettrace() is not None or sys.getprofile() is not None:
        out.append(["tracing", "sys.settrace/setprofile hook is set"])
    if getattr(threading, "_trace_hook", None) or getattr(threading, "_profile_hook", None):
        out.append(["tracing", "threading.settrace/setprofile hook is set"])
    def from_cell(code):
        f = code.co_filename
        return f.startswith("<ipython-input") or "/ipykernel_" in f or f.startswith("<string>")
    def mine(v):
        if isinstance(v, functools.partial):
            v = v.func
        if isinstance(v, types.MethodType):
            v = v.__func__
        if isinstance(v, types.FunctionType):
            return from_cell(v.__code__)
        cls = v if isinstance(v, type) else type(v)
        return type.__getattribute__(cls, "__module__") == "__main__"
    for mname, mod in list(sys.modules.items()):
        if not isinstance(mod, types.ModuleType):
            if start["odd_modules"].get(mname) == id(mod):
                continue
            out.append(["sys.modules", "sys.modules[%r] is a %s" % (mname, type(mod).__name__)])
            continue
        if mname in ("__main__", "__mp_main__") or mname.startswith("__greenkit"):
            continue
        try:
            items = list(vars(mod).items())
        except TypeError:
            continue
        for k, v in items:
            try:
                if mine(v):
                    out.append(["monkeypatch", "%s.%s is defined in the notebook" % (mname, k)])
            except Exception:
                pass
    print(mark + json.dumps(out[:50]))
__greenkit_probe_after(__greenkit_probe_start, __MARK__)
'''


def probe_code(nonce: str) -> tuple[str, str]:
    """(before, after) source of the kernel probe; ``after`` prints ``MARK<nonce>`` + JSON."""
    return _PROBE_BEFORE, _PROBE_AFTER.replace("__MARK__", repr(PROBE_MARK + nonce))


def parse_probe(outputs: list, nonce: str) -> list[Flag] | None:
    """Flags from the after-probe's outputs; None if it gave no (readable) answer."""
    mark = PROBE_MARK + nonce
    for out in outputs:
        text = out.get("text", "") if out.get("output_type") == "stream" else ""
        for line in text.splitlines():
            if line.startswith(mark):
                try:
                    items = json.loads(line[len(mark):])
                    return [Flag(str(k), -1, str(e), "probe") for k, e in items]
                except (ValueError, TypeError):
                    return None
    return None


# ---- 3. artefacts ------------------------------------------------------------------------------

_SAFE_GLOBAL = re.compile(
    r"^(torch\._utils\.\w+|torch\._tensor\._rebuild\w*|torch\.\w*Storage|torch\.storage\.\w+|"
    r"torch\.serialization\._get_layout|torch\.(device|Size|dtype|layout|memory_format|"
    r"float\w*|int\w*|uint\w*|bool|bfloat16|half|double|long|short|complex\w*|q\w*int\w*|per_\w+|strided|"
    r"sparse_\w+|contiguous_format|channels_last\w*|preserve_format)|collections\.OrderedDict|"
    r"torch\.nn\.parameter\.Parameter|torch\._tensor\.Tensor|torchao\.[\w.]+|builtins\.(set|frozenset|slice|"
    r"complex|bytearray))$")
_MAX_SCAN_BYTES = 256 * 2**20


def _pickle_globals(data: bytes) -> list[str]:
    """Every global a pickle would import ('module.name'); '?' for a computed STACK_GLOBAL."""
    names, strings = [], []
    memo: dict = {}
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING",
                           "BINSTRING", "STRING"):
                strings.append(str(arg))
            elif op.name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
                memo[arg] = strings[-1]
            elif op.name == "MEMOIZE" and strings:
                memo[len(memo)] = strings[-1]
            elif op.name in ("BINGET", "LONG_BINGET", "GET"):
                if arg in memo:
                    strings.append(memo[arg])
            elif op.name in ("GLOBAL", "INST"):
                names.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL":
                names.append(f"{strings[-2]}.{strings[-1]}" if len(strings) >= 2 else "?")
    except Exception as err:  # a truncated or hostile pickle: say so, never execute it
        names.append(f"? (unreadable pickle: {type(err).__name__})")
    return names


def _pickles(path: Path, data: bytes, depth: int = 0):
    if data[:2] == b"PK" and depth < 2:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist()[:10_000]:
                    if info.file_size > _MAX_SCAN_BYTES:
                        continue
                    inner = z.read(info)
                    yield from _pickles(path / info.filename, inner, depth + 1)
        except (zipfile.BadZipFile, OSError, ValueError):
            return
    elif data[:1] == b"\x80" or path.suffix in (".pkl", ".pickle"):
        yield path, data


def scan_artefacts(folder: str | Path) -> list[Flag]:
    """Flags for pickles under ``folder`` that would import anything but tensor-rebuilding globals."""
    folder = Path(folder)
    flags: list[Flag] = []
    if not folder.is_dir():
        return flags
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            flags.append(Flag("artefact", -1, f"{path.relative_to(folder)} is a symbolic link", "artefact"))
            continue
        if not path.is_file() or path.stat().st_size > _MAX_SCAN_BYTES:
            continue
        for where, data in _pickles(path, path.read_bytes()):
            bad = sorted({g for g in _pickle_globals(data) if not _SAFE_GLOBAL.match(g)})
            if bad:
                flags.append(Flag("artefact", -1, f"{where.relative_to(folder)} is a pickle that imports "
                                  f"{', '.join(bad[:5])}: code-carrying artefact", "artefact"))
    return flags
