"""``sensorlake monitor`` and ``sensorlake status`` as entry points: options, the one error
line, and what the monitor says before it serves (uvicorn itself is not started here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main
from sensorlake.contract.errors import ExitCode

from .conftest import Flow
from .test_status import run

pytestmark = pytest.mark.dashboards


@pytest.fixture(autouse=True)
def _logger_levels() -> Iterator[None]:
    """The root command quiets botocore, urllib3 and py4j for the process; put them back,
    so a later test's captured logs (test_redact's) are not short of their records."""
    import logging

    names = ("botocore", "urllib3", "py4j")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the monitor hands uvicorn, instead of serving."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    return calls


def monitor(flow: Flow, *args: str, **env: str) -> Any:
    base = {"SENSORLAKE_LAKE_DIR": str(flow.lake), "SENSORLAKE_STATE_DIR": str(flow.state)}
    base |= {"SENSORLAKE_WAREHOUSE_DIR": str(flow.warehouse)}
    return CliRunner().invoke(main, ["monitor", *args], env={**base, **env})


def test_on_loopback_the_monitor_serves_without_a_token(
    flow: Flow, served: list[dict[str, Any]]
) -> None:
    result = monitor(flow, "--port", "8123")
    assert result.exit_code == 0, result.output
    assert "sensorlake monitor on http://127.0.0.1:8123" in result.output
    assert "token" not in result.output
    (call,) = served
    assert (call["host"], call["port"]) == ("127.0.0.1", 8123)


def test_beyond_loopback_a_token_is_made_and_shown_once(
    flow: Flow, served: list[dict[str, Any]]
) -> None:
    result = monitor(flow, "--host", "0.0.0.0", "--port", "8124")
    assert result.exit_code == 0, result.output
    assert result.output.count("token=") == 1 and "access token" in result.output
    assert served[0]["host"] == "0.0.0.0"


def test_a_bad_setting_stops_the_monitor_before_it_serves(
    flow: Flow, served: list[dict[str, Any]]
) -> None:
    result = monitor(flow, SENSORLAKE_MONITOR_TTL="soon")
    assert result.exit_code == ExitCode.USAGE and served == []
    assert result.output.strip().splitlines() == [
        "error: SENSORLAKE_MONITOR_TTL must be a number of seconds, not 'soon'"
    ]


def test_a_port_outside_the_range_is_a_usage_error(
    flow: Flow, served: list[dict[str, Any]]
) -> None:
    result = monitor(flow, "--port", "70000")
    assert result.exit_code == ExitCode.USAGE and served == []
    assert "Traceback" not in result.output


def test_bad_environment_is_one_line_exit_2(flow: Flow) -> None:
    code, out = run(flow, SENSORLAKE_LAG_SECONDS="soon")
    assert code == ExitCode.USAGE
    assert out.strip() == "error: SENSORLAKE_LAG_SECONDS must be a number of seconds, not 'soon'"


def test_lake_dir_on_the_command_line_forces_the_local_lake(flow: Flow) -> None:
    flow.ingest()
    code, out = run(
        flow,
        "--json",
        "--lake-dir",
        str(flow.lake),
        S3_BUCKET_RAW="sensor-data-raw-us-east-1",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
    )
    assert code == 0, out
    assert json.loads(out)["infrastructure_and_tables"][0]["item"] == "landing (local lake)"


def test_monitor_help_lists_host_and_port() -> None:
    result = CliRunner().invoke(main, ["monitor", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "127.0.0.1" in result.output and "--port" in result.output
    assert "--warehouse-dir" in result.output and "--checkpoint-dir" in result.output
