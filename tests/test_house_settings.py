"""House rules for settings: one reader of the environment per package, one name per setting,
and a configuration page that says what the declarations say."""

from __future__ import annotations

import io
import re
import tokenize
from collections import Counter
from pathlib import Path

import pytest

from sensorlake.contract.settings import (
    DOCS_PAGE,
    SETTINGS_MODULES,
    registered,
    render_markdown,
)

ROOT = Path(__file__).resolve().parents[1]
# Who may read the environment: the contract's settings module (it also builds the child
# environments of subprocesses, `child_env`) and each package's one settings module.
ALLOWED = {
    Path(module.split(".")[1], "src", *module.split(".")).with_suffix(".py")
    for module in SETTINGS_MODULES
}
_READS = re.compile(
    r"\bos\.environ\b|\bos\.getenv\b|\benviron\.get\b|\bgetenv\(|\bfrom os import\b[^\n]*\b(environ|getenv)\b"
)


def _code(path: Path) -> str:
    """The file without its comments and strings (docstrings may name os.environ)."""
    kept, previous = [], None
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    for tok in tokens:
        if tok.type in (tokenize.COMMENT, tokenize.STRING):
            continue
        if tok.type == previous == tokenize.NAME:
            kept.append(" ")
        kept.append(tok.string)
        previous = tok.type
    return "".join(kept)


def test_the_allowlist_names_real_files() -> None:
    for path in ALLOWED:
        assert (ROOT / path).is_file(), path


def test_only_the_settings_modules_read_the_environment() -> None:
    sources = sorted(ROOT.glob("*/src/sensorlake/**/*.py"))
    assert len(sources) > 50  # the glob found the packages
    readers = [
        str(path.relative_to(ROOT))
        for path in sources
        if path.relative_to(ROOT) not in ALLOWED and _READS.search(_code(path))
    ]
    assert readers == [], "read settings through a settings module (contract.settings)"


def test_the_rule_sees_a_reader(tmp_path: Path) -> None:
    sneaky = tmp_path / "x.py"
    sneaky.write_text('"""os.environ in a docstring is fine."""\nimport os\nos.environ.get("X")\n')
    assert _READS.search(_code(sneaky))
    sneaky.write_text('"""os.environ in a docstring is fine."""\n# os.getenv too\n')
    assert not _READS.search(_code(sneaky))


def test_every_setting_has_one_name_of_its_own() -> None:
    groups = registered()
    modules = {group.__module__ for group in groups}
    assert modules == set(SETTINGS_MODULES)  # every package declares with the mechanism
    names = Counter(
        name
        for group in groups
        for spec in group.declared().values()
        for name in (spec.env, *spec.aliases)
    )
    assert [name for name, n in names.items() if n > 1] == []
    primaries = {spec.env for group in groups for spec in group.declared().values()}
    for group in groups:
        for spec in group.declared().values():
            # A fallback (AWS's own order) is never another setting's variable.
            assert not set(spec.fallbacks) & (primaries | set(names)), spec.env


@pytest.mark.parametrize("group", registered(), ids=lambda g: g.__name__)
def test_every_group_says_what_it_is(group: type) -> None:
    assert group.title and group.__doc__ and not group.__doc__.startswith(group.__name__ + "(")
    for spec in group.declared().values():
        assert spec.help


def test_the_configuration_page_is_generated_from_the_declarations() -> None:
    committed = (ROOT / DOCS_PAGE).read_text(encoding="utf-8")
    assert committed == render_markdown(registered()), (
        "docs/configuration.md is out of date: uv run python -m sensorlake.contract.settings"
    )
