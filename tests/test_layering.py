"""The package's structure: dependencies point one way, and no module uses another's private names.

Layers (DESIGN.md): energy <- metrics <- targets <- course; the zoo sits below targets and uses
neither metrics nor targets; greenkit.tensors is the bottom (no greenkit import at all). Every
import counts, including those inside functions (imported on first use is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "greenkit"

# module prefix -> greenkit subpackages it must never import
FORBIDDEN = {
    "greenkit.tensors": {"energy", "metrics", "targets", "course", "zoo", "data", "carbon", "plots", "cli", "i18n"},
    "greenkit.energy": {"metrics", "targets", "course", "zoo"},
    "greenkit.metrics": {"targets", "course"},
    "greenkit.targets": {"course"},
    "greenkit.zoo": {"metrics", "targets", "course", "energy"},
    "greenkit.data": {"metrics", "targets", "course", "zoo", "energy"},
}


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return out


MODULES = _modules()


def _package_of(module: str) -> str:
    return module if module in MODULES and (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists() \
        else module.rpartition(".")[0]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = _package_of(module).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, tree: ast.Module):
    """(imported greenkit module, names taken from it or None, line) for every import in ``module``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("greenkit"):
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if target.startswith("greenkit"):
                yield target, [a.name for a in node.names], node.lineno


def _is_private(name: str) -> bool:
    """``_x`` is private; dunders and gettext's ``_`` (greenkit.i18n's message function) are not."""
    return name.startswith("_") and name != "_" and not (name.startswith("__") and name.endswith("__"))


def test_the_scan_sees_the_package():
    """Does the scan find the subpackages it checks (so an empty scan cannot pass)?"""
    for prefix in FORBIDDEN:
        assert any(m == prefix or m.startswith(prefix + ".") for m in MODULES), prefix


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_dependencies_point_one_way(layer):
    """Does no module of this layer import a layer above it (or one it must stay apart from)?"""
    bad = []
    for module, tree in MODULES.items():
        if not (module == layer or module.startswith(layer + ".")):
            continue
        for target, names, line in _imports(module, tree):
            candidates = [target] + [f"{target}.{n}" for n in names or ()]
            for c in candidates:
                parts = c.split(".")
                if len(parts) > 1 and parts[1] in FORBIDDEN[layer]:
                    bad.append(f"{module}:{line} imports {c}")
                    break
    assert not bad, "\n".join(bad)


def test_no_private_name_is_imported_across_modules():
    """Does no module import another module's private name (``from greenkit.x import _y``), a private
    module (``greenkit.x._y``), or reach one through an imported module (``x._y``)?"""
    bad = []
    for module, tree in MODULES.items():
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("greenkit"):
                        aliases[a.asname or a.name.split(".")[0]] = a.name
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, node)
                if target.startswith("greenkit"):
                    for a in node.names:
                        if f"{target}.{a.name}" in MODULES:
                            aliases[a.asname or a.name] = f"{target}.{a.name}"
        for target, names, line in _imports(module, tree):
            if target == module:
                continue
            if any(_is_private(p) for p in target.split(".")):
                bad.append(f"{module}:{line} imports private module {target}")
            bad += [f"{module}:{line} imports {target}.{n}" for n in names or () if _is_private(n)]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and aliases[node.value.id] != module:
                bad.append(f"{module}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "\n".join(bad)
