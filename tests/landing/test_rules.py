"""The rules file: packaged defaults load; bad files fail with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.landing.errors import ConfigError
from sensorlake.landing.rules import load_rules

DEFAULT = Path(__file__).parents[2] / "landing/src/sensorlake/landing/rules/default.toml"


def test_defaults_fix_the_original_mistakes() -> None:
    rules = load_rules()
    assert rules.version
    assert rules.ranges["pressure"] == (0.0, 20.0)
    assert rules.pressure.pascal_above == 1000.0
    assert "3.2-rc1" not in rules.firmware.pattern  # a pattern, not a list
    assert rules.emergency.thresholds["pressure_bar"].above == 14.5


def test_explicit_file_is_used(tmp_path: Path) -> None:
    text = DEFAULT.read_text().replace('version = "', 'version = "custom-', 1)
    path = tmp_path / "rules.toml"
    path.write_text(text)
    assert load_rules(path).version.startswith("custom-")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t + "\n[surprise]\nkey = 1\n", "unknown field"),
        (
            lambda t: t.replace("temperature = [-50.0, 150.0]", "temperature = [150.0, -50.0]"),
            "lower bound",
        ),
        (lambda t: t.replace("[ranges]", "[ranges"), "not valid TOML"),
        (
            lambda t: t.replace("pattern = '^[A-Z]{3,4}_[A-Z0-9]{6}$'", "pattern = '^[A-Z'"),
            "not a valid regex",
        ),
        (lambda t: t.replace('version = "', '# version = "', 1), "missing required field"),
    ],
)
def test_bad_rules_files_are_config_errors(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rules.toml"
    path.write_text(edit(DEFAULT.read_text()))
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    assert message in str(info.value).lower() or message in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_rules(tmp_path / "nope.toml")
