"""House rule: exit codes come from one table (``sensorlake.contract.errors.ExitCode``).

No package source passes an integer literal to ``sys.exit``/``SystemExit``/``ctx.exit``/
``os._exit`` (or the project's exit helpers), or sets an ``exit_code`` to one, outside the
table itself; and every package's error classes sit under the contract's base with a code
from the table.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from sensorlake.contract.errors import ExitCode, SensorlakeError

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "contract" / "src" / "sensorlake" / "contract" / "errors.py"
# Calls whose first argument is an exit status.
EXIT_CALLS = {"exit", "_exit", "SystemExit", "Exit", "exit_with", "_exit_now", "_fail", "fail"}


def _sources() -> list[Path]:
    return sorted(p for p in ROOT.glob("*/src/**/*.py") if p != TABLE and ".venv" not in p.parts)


def _int_literals(node: ast.expr | None) -> Iterator[ast.Constant]:
    """Integer literals a value can evaluate to: itself, either arm of ``a if c else b``,
    either side of ``x or y``."""
    if node is None:
        return
    if isinstance(node, ast.Constant) and type(node.value) is int:
        yield node
    elif isinstance(node, ast.IfExp):
        yield from _int_literals(node.body)
        yield from _int_literals(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _int_literals(value)
    elif isinstance(node, ast.UnaryOp):
        yield from _int_literals(node.operand)


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_exit_code(target: ast.expr) -> bool:
    """``exit_code`` (a field, attribute or variable) or an ``EXIT_*`` constant."""
    name = _name(target)
    return name is not None and (name == "exit_code" or name.upper().startswith("EXIT_"))


def violations(source: str, where: str = "<string>") -> list[str]:
    """Every place in ``source`` that writes an exit code as a bare integer."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        values: list[ast.expr | None] = []
        if isinstance(node, ast.Call):
            if _name(node.func) in EXIT_CALLS:
                values += node.args
            values += [k.value for k in node.keywords if k.arg in ("exit_code", "code")]
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_exit_code(t) for t in targets):
                values.append(node.value)
        for value in values:
            for literal in _int_literals(value):
                found.append(f"{where}:{literal.lineno}: exit code {literal.value} as a literal")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "import sys\nsys.exit(2)",
        "raise SystemExit(75)",
        "ctx.exit(1)",
        "click.exceptions.Exit(3)",
        "os._exit(0)",
        "sys.exit(0 if ok else 1)",
        "summary.exit_code = 6",
        "class E:\n    exit_code = 4",
        "class S:\n    exit_code: int = 0",
        "code.exit_code += 1",
        "Report(exit_code=2)",
        "_fail(str(exc), 3)",
        "EXIT_CORRUPT_FILES = 6",
    ],
)
def test_the_rule_catches_each_way_of_writing_a_literal_code(snippet: str) -> None:
    assert violations(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "sys.exit(ExitCode.USAGE)",
        "sys.exit(proc.returncode)",
        "sys.exit(ExitCode.OK if ok else ExitCode.MISMATCH)",
        "summary.exit_code = exc.exit_code",
        "class E:\n    exit_code = ExitCode.LOCAL",
        "sys.exit(code)",
        "print(exit_code)",
    ],
)
def test_the_rule_lets_table_members_and_passed_through_codes_by(snippet: str) -> None:
    assert violations(snippet) == [], snippet


def test_no_exit_code_literal_outside_the_table() -> None:
    sources = _sources()
    assert len(sources) > 50, "the sources were not found"
    found = [v for p in sources for v in violations(p.read_text(), str(p.relative_to(ROOT)))]
    assert found == [], "use sensorlake.contract.errors.ExitCode:\n" + "\n".join(found)


PACKAGE_ERRORS = [
    "sensorlake.landing.errors",
    "sensorlake.streams.errors",
    "sensorlake.dashboards.errors",
    "sensorlake.infra.errors",
]


@pytest.mark.parametrize("module_name", PACKAGE_ERRORS)
def test_every_package_error_is_a_contract_error_with_a_code_from_the_table(
    module_name: str,
) -> None:
    module = importlib.import_module(module_name)
    classes = [
        c
        for c in vars(module).values()
        if inspect.isclass(c) and issubclass(c, Exception) and c.__module__ == module_name
    ]
    assert classes, module_name
    for cls in classes:
        assert issubclass(cls, SensorlakeError), cls
        assert isinstance(cls.exit_code, ExitCode), cls


def test_config_error_is_defined_once() -> None:
    """Each package's ``ConfigError`` is the contract's (a subclass), with its exit code."""
    from sensorlake.contract.errors import ConfigError

    for module_name in PACKAGE_ERRORS:
        module = importlib.import_module(module_name)
        if hasattr(module, "ConfigError"):
            assert issubclass(module.ConfigError, ConfigError), module_name
            assert module.ConfigError.exit_code is ExitCode.USAGE


@pytest.mark.parametrize(
    ("dotted", "code"),
    [
        ("sensorlake.landing.errors.ConfigError", ExitCode.USAGE),
        ("sensorlake.landing.errors.SourceError", ExitCode.SOURCE),
        ("sensorlake.landing.errors.DestinationError", ExitCode.DESTINATION),
        ("sensorlake.landing.errors.LocalStorageError", ExitCode.LOCAL),
        ("sensorlake.landing.errors.ObjectConflict", ExitCode.CONFLICT),
        ("sensorlake.landing.errors.TransientError", ExitCode.UNAVAILABLE),
        ("sensorlake.landing.errors.DestinationUnavailable", ExitCode.UNAVAILABLE),
        ("sensorlake.streams.errors.JavaMissing", ExitCode.LOCAL),
        ("sensorlake.streams.errors.StreamFailed", ExitCode.DESTINATION),
        ("sensorlake.streams.errors.StateProblem", ExitCode.LOCAL),
        ("sensorlake.dashboards.errors.ConfigError", ExitCode.USAGE),
        ("sensorlake.dashboards.errors.NotConfigured", ExitCode.USAGE),
        ("sensorlake.dashboards.errors.BackendUnavailable", ExitCode.UNAVAILABLE),
        ("sensorlake.infra.errors.ConfigError", ExitCode.USAGE),
        ("sensorlake.infra.errors.PrerequisiteError", ExitCode.LOCAL),
        ("sensorlake.infra.errors.DeployFailed", ExitCode.DESTINATION),
    ],
)
def test_package_errors_exit_by_meaning(dotted: str, code: ExitCode) -> None:
    module_name, _, name = dotted.rpartition(".")
    assert getattr(importlib.import_module(module_name), name).exit_code is code


def test_the_docs_name_only_codes_of_the_table() -> None:
    """ "exit 7" or "exits DEGRADED" in a page would be a code no command ends with."""
    import re

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    pages += sorted(ROOT.glob("*/README.md"))
    numbers = {str(code.value) for code in ExitCode}
    names = {code.name for code in ExitCode}
    wrong = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"\b[Ee]xits?(?: with)? `?([0-9]+|[A-Z]{2,})\b", text):
            word = match.group(1)
            if word not in (numbers if word.isdigit() else names):
                line = text.count("\n", 0, match.start()) + 1
                wrong.append(f"{page.relative_to(ROOT)}:{line}: {match.group(0)}")
    assert wrong == [], "\n".join(wrong)
