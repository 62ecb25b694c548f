"""``sensorlake status``: three sections, --json, exit 0 healthy / 1 degraded / 2 unchecked."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main

from .conftest import Flow, landed_keys

pytestmark = pytest.mark.dashboards


def run(flow: Flow, *args: str, **env: str) -> tuple[int, str]:
    base = {
        "SENSORLAKE_LAKE_DIR": str(flow.lake),
        "SENSORLAKE_STATE_DIR": str(flow.state),
        "SENSORLAKE_WAREHOUSE_DIR": str(flow.warehouse),
        "SENSORLAKE_CHECKPOINT_DIR": str(flow.checkpoints),
        "COLUMNS": "160",
    }
    result = CliRunner().invoke(main, ["status", *args], env={**base, **env})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_healthy_flow_exits_0_with_three_sections(flow: Flow) -> None:
    flow.ingest()
    code, out = run(flow)
    assert code == 0, out
    for title in ("Infrastructure and tables", "Landing", "Monitoring"):
        assert title in out
    assert "sensor_readings_emergency" in out and "exactly once" in out
    assert "healthy as of" in out


def test_json_for_scripts(flow: Flow) -> None:
    flow.ingest()
    code, out = run(flow, "--json")
    report = json.loads(out)
    assert code == 0 and report["status"] == "healthy" and report["exit_code"] == 0
    assert set(report) >= {"infrastructure_and_tables", "landing", "monitoring", "reasons", "as_of"}
    raw = next(r for r in report["landing"] if r["item"] == "raw")
    assert "1,500 records" in raw["detail"]
    recon = next(r for r in report["monitoring"] if r["item"] == "reconciliation")
    assert recon["state"] == "exactly once"


def test_a_lagging_pipeline_exits_1(flow: Flow) -> None:
    flow.ingest(targets=["raw", "schematized", "filtered", "rejected"])
    code, out = run(flow, "--json", SENSORLAKE_LAG_SECONDS="0.001")
    report = json.loads(out)
    assert code == 1 and report["status"] == "degraded"
    assert any(r.startswith("emergency: lagging: table does not exist") for r in report["reasons"])


def test_a_duplicated_file_exits_1(flow: Flow) -> None:
    flow.ingest(duplicate=[landed_keys(flow.lake, "raw")[0].format()])
    code, out = run(flow, "--json")
    assert code == 1
    assert any("duplicate row(s)" in r for r in json.loads(out)["reasons"])


def test_nothing_to_read_exits_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    flow = Flow(tmp_path, tmp_path / "none.db")
    code, out = run(flow)
    assert code == 2 and "could not check" in out
    assert "local lake" in out and "does not exist" in out


def test_bad_environment_is_one_line_exit_2(flow: Flow) -> None:
    code, out = run(flow, SENSORLAKE_LAG_SECONDS="soon")
    assert code == 2
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


def test_catalog_and_schema_follow_the_contracts_name_rule() -> None:
    """Old: any SENSORLAKE_CATALOG / SENSORLAKE_SCHEMA accepted, queried as a bad table name."""
    from sensorlake.dashboards.errors import ConfigError
    from sensorlake.dashboards.settings import load_settings

    for var, bad in (("SENSORLAKE_CATALOG", "sensor-data"), ("SENSORLAKE_SCHEMA", "1pipeline")):
        with pytest.raises(ConfigError) as err:
            load_settings(env={var: bad})
        assert str(err.value).startswith(f"{var} {bad!r} is not a valid Unity Catalog name")
    assert load_settings(env={"SENSORLAKE_CATALOG": "acme"}).catalog == "acme"
