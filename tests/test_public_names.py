"""Every package's and module's ``__all__`` says what it exports: each public name a module
defines is listed, and each listed name exists (bound in the module, or for a package that
loads its names lazily through ``__getattr__``, really importable: a renamed module cannot
leave a name that fails on first use). Read from the source, so no backend is imported."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contract", "landing", "streams", "infra", "dashboards")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in PACKAGES:
        base = ROOT / package / "src" / "sensorlake" / package
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(base.parent.parent).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


MODULES = _modules()


def _names(target: ast.expr) -> list[str]:
    """The names an assignment target binds (``A, B = ...`` binds both)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for element in target.elts for n in _names(element)]
    return []


def _is_call_to(value: ast.expr | None, *names: str) -> bool:
    """``value`` is ``f(...)`` or ``x.f(...)`` for one of ``names``."""
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return called in names


def _defined(tree: ast.Module) -> tuple[set[str], ast.expr | None]:
    """Public names a module binds at top level (not its logger or type variables), and
    the expression assigned to ``__all__``."""
    names: set[str] = set()
    declared = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id == "__all__":
                declared = value
            elif not _is_call_to(value, "getLogger", "TypeVar"):
                names.update(_names(target))
    return {n for n in names if not n.startswith("_")}, declared


def test_every_module_of_every_package_is_checked() -> None:
    assert {name.split(".")[1] for name, _ in MODULES} == set(PACKAGES)
    assert len(MODULES) > 60


def _bound(tree: ast.Module) -> set[str]:
    """Every name a module binds at top level: definitions, assignments and imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n for t in targets for n in _names(t))
    return names


@pytest.mark.parametrize(("name", "path"), MODULES, ids=[name for name, _ in MODULES])
def test_all_lists_every_public_name_and_only_names_that_exist(name: str, path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined, declared = _defined(tree)
    assert declared is not None, f"{name} has no __all__"
    bound = _bound(tree)
    if "__getattr__" in bound:  # names loaded on first use: import them for real
        module = importlib.import_module(name)
        exported = list(module.__all__)
        absent = [n for n in exported if not hasattr(module, n)]
    else:
        exported = list(ast.literal_eval(declared))
        absent = [n for n in exported if n not in bound]
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    unlisted = sorted(defined - set(exported))
    assert not unlisted, f"{name} defines {unlisted} but its __all__ does not list them"
    assert not absent, f"{name}.__all__ lists {absent}, which it does not have"
