"""House rule: the layouts are the contract's, so no other package builds their paths.

Where a gateway keeps its state and spool (``contract.gateway_state``), where a stream keeps
its checkpoint and schema location, and the Databricks job's arguments
(``contract.layouts``) are each decided once. A second copy is how they drifted before:
streams wrote checkpoints at ``<ck>/<catalog>/<schema>/<table>`` while dashboards read
``<ck>/<table>``. This test reads every package's source (``*/src``) except the contract's
and fails on code that builds one of those paths itself:

1. a string literal that names a layout's folder or file as a path part: an operand of
   ``/`` or of ``os.path.join``, or text with a ``/`` next to the name (``"spool/ready"``,
   ``f"{root}/_schemas"``); messages that merely say "the spool" are not paths and pass;
2. a path joined onto a root of the streams' state: ``/``, ``os.path.join`` or an f-string
   ``"{root}/..."`` whose left side is named as such a root (``checkpoint_dir``,
   ``checkpoint_root``, ``checkpoints``, ``schemas``, ``*_volume``...). A table's own
   checkpoint or schema location (``checkpoint``, ``schema_dir``), got from the contract,
   may be joined into: what lies inside is Spark's format (``sources/0``, ``commits``) or
   the writer's own file, not a layout between packages. An IAM resource pattern
   (``f"{checkpoints}/*"``, a bucket ARN) is no path either. A root under a generic name
   (``volume``) is not recognised: the contract's round-trip tests and the readers' tests
   on the real writers' output cover what a name rule cannot;
3. the Databricks job's argv spelled out (``"--checkpoints"``, ``"--schemas"``): only
   ``JobArgs`` builds and parses it;
4. a name only a layout has, anywhere (``"landing-state.db"``, ``"landing.lock"``,
   ``"_schemas"``, the default volume names): a copy of it is a second definition.

Docstrings are skipped (they may show the layout to the reader).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The folders and files of the layouts the contract owns.
LAYOUT_PARTS = frozenset(
    {
        "spool",
        "ready",
        "_schemas",
        "landing-state.db",
        "landing.lock",
        "autoloader_checkpoints",
        "autoloader_schemas",
        "checkpoints",
        "Volumes",
    }
)
# Names nothing but a layout has: any copy of one is a second definition of it.
LAYOUT_NAMES = frozenset(
    {"landing-state.db", "landing.lock", "_schemas", "autoloader_checkpoints", "autoloader_schemas"}
)
JOB_FLAGS = frozenset({"--checkpoints", "--schemas", "--target", "--source", "--file-events"})
_ROOT_NAME = re.compile(
    r"checkpoint_(dir|root)|checkpoints(_(dir|root|volume))?|schemas(_(dir|root|volume))?"
)
_SLASHED = re.compile(r"(?:^|/)(" + "|".join(map(re.escape, LAYOUT_PARTS)) + r")(?:/|$)")


def sources() -> list[Path]:
    files = sorted(ROOT.glob("*/src/sensorlake/**/*.py"))
    return [p for p in files if "/contract/src/" not in p.as_posix()]


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _names(node: ast.AST) -> Iterator[str]:
    """The identifiers an expression is made of (``self.checkpoint_dir`` → self, checkpoint_dir)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            yield sub.id
        elif isinstance(sub, ast.Attribute):
            yield sub.attr


def _is_root(node: ast.AST) -> bool:
    return any(_ROOT_NAME.fullmatch(name) for name in _names(node))


def _const(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _path_operands(node: ast.AST) -> list[ast.AST] | None:
    """The parts of a path join (``a / b``, ``os.path.join(a, b)``), else None."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return [node.left, node.right]
    if isinstance(node, ast.Call) and ast.unparse(node.func) in {"os.path.join", "posixpath.join"}:
        return list(node.args)
    return None


def violations(code: str, where: str) -> list[str]:
    """Every place in ``code`` (a module's source, named ``where``) that builds a layout path."""
    tree = ast.parse(code, where)
    docs = _docstrings(tree)
    out: list[str] = []
    for node in ast.walk(tree):
        text = _const(node)
        if text is not None and id(node) not in docs:
            if _SLASHED.search(text) and "/" in text:
                out.append(f"{where}:{node.lineno}: layout path in text {text!r}")
            if text in LAYOUT_NAMES:
                out.append(f"{where}:{node.lineno}: a layout's name {text!r} (import it)")
            if text in JOB_FLAGS:
                out.append(f"{where}:{node.lineno}: job argument {text!r} (use JobArgs)")
        operands = _path_operands(node)
        if operands is not None:
            for part in operands:
                value = _const(part)
                if value is not None and set(value.split("/")) & LAYOUT_PARTS:
                    out.append(f"{where}:{node.lineno}: layout path part {value!r}")
            if _is_root(operands[0]):
                out.append(
                    f"{where}:{node.lineno}: path built on a state root: {ast.unparse(node)}"
                )
        if isinstance(node, ast.JoinedStr):
            for i, value in enumerate(node.values[:-1]):
                following = _const(node.values[i + 1])
                if (
                    isinstance(value, ast.FormattedValue)
                    and _is_root(value.value)
                    and following is not None
                    and following.startswith("/")
                    and not following.startswith("/*")
                ):
                    out.append(f"{where}:{node.lineno}: path built on a state root: f-string")
    return out


def test_the_sources_are_found() -> None:
    found = {p.relative_to(ROOT).parts[0] for p in sources()}
    assert found == {"landing", "streams", "infra", "dashboards"}


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_layout_path_is_built_outside_the_contract(path: Path) -> None:
    assert violations(path.read_text(), path.relative_to(ROOT).as_posix()) == []


@pytest.mark.parametrize(
    "code",
    [
        'spool = Spool(state_dir / "spool")',
        'ready = self.state_dir / "spool" / "ready"',
        'db = os.path.join(state, "landing-state.db")',
        'p = f"{root}/spool/ready/{bucket}"',
        "ck = self.checkpoint_dir / catalog / schema / table",
        "ck = f\"{self.settings.checkpoint_root.rstrip('/')}/{table}\"",
        'argv = ["--checkpoints", volume]',
        'where = Path(ck) / "_schemas" / table',
        'LOCK_NAME = "landing.lock"',
        'checkpoints_volume: str = "autoloader_checkpoints"',
        "return f\"{schemas_volume.rstrip('/')}/{self.table}\"",
    ],
)
def test_the_rule_catches_each_way_a_path_was_built(code: str) -> None:
    """Each line is how one of these paths was written outside the contract before."""
    assert violations(code, "sample.py"), code


@pytest.mark.parametrize(
    "code",
    [
        'print("kept in the spool; the next run ships it")',
        'sources = checkpoint / "sources" / "0"',
        'role = settings.bucket("checkpoints")',
        "ck = config.checkpoint_path(spec)",
        "extra = Path(schema_dir) / EXTRA_COLUMNS_FILE",
        'arn = f"{checkpoints}/*"',
    ],
)
def test_what_is_not_a_layout_path_passes(code: str) -> None:
    assert violations(code, "sample.py") == [], code
