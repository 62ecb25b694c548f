"""Commands: help with examples, prerequisite failures that list what is missing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sensorlake.infra import cli


@pytest.mark.parametrize("command", [cli.synth, cli.plan_review, cli.scan, cli.setup])
def test_help_has_examples(command) -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output


def test_setup_lists_what_is_missing_and_deploys_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "SERVICE_PRINCIPAL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent-home")
    calls: list = []
    monkeypatch.setattr(cli.subprocess, "run", lambda *a, **k: calls.append(a))
    from sensorlake.infra.config import EXAMPLE_CONFIG

    result = CliRunner().invoke(cli.setup, ["--config", str(EXAMPLE_CONFIG)])
    assert result.exit_code == 2
    assert "missing prerequisites" in result.output
    for needle in ("AWS credentials", "DATABRICKS_HOST", "SERVICE_PRINCIPAL"):
        assert needle in result.output
    assert calls == []


def test_setup_reports_config_errors(tmp_path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("unity_catalog: {service_principal: nope}\n", encoding="utf-8")
    result = CliRunner().invoke(cli.setup, ["--config", str(bad)])
    assert result.exit_code == 2
    assert "service_principal 'nope'" in result.output
