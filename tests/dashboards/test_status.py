"""``sensorlake status``: three sections, --json, exit 0 healthy / 1 degraded / 75 unchecked
(a backend could not be read) / 2 a bad environment or a backend not configured."""

from __future__ import annotations

import gzip
import json

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main
from sensorlake.contract.errors import ExitCode

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


def _pipelines_healthy(report: dict) -> bool:
    from sensorlake.contract.pipelines import TARGETS

    states = {r["item"]: r["state"] for r in report["monitoring"]}
    return all(states[t] == "healthy" for t in TARGETS)


def test_a_degraded_gateway_alone_is_not_healthy(flow: Flow) -> None:
    """Every pipeline healthy; the gateway's last run found other bytes at its keys (a
    conflict, kept in the spool): status must not exit 0."""
    from datetime import UTC, datetime

    from sensorlake.landing.errors import ObjectConflict
    from sensorlake.landing.simulate import simulate_bulk
    from sensorlake.landing.sink import FakeSink

    from ..support.flow import land_once
    from .conftest import GATEWAY

    flow.ingest()
    simulate_bulk(flow.db, 200, seed=5, start=datetime.now(UTC))
    theirs = FakeSink(fail=lambda bucket, key: ObjectConflict(f"{bucket}/{key} is not ours"))
    summary = land_once(flow.db, flow.lake, flow.state, gateway=GATEWAY, sink=theirs, workers=1)
    assert summary.conflicts and summary.error is None

    code, out = run(flow, "--json")
    report = json.loads(out)
    assert _pipelines_healthy(report), report["monitoring"]
    assert code != 0, out
    assert report["status"] == "degraded"
    assert report["reasons"] == [
        f"gateway: {len(summary.conflicts)} object(s) exist with different content"
    ]


def test_an_unreadable_gateway_state_alone_is_not_healthy(flow: Flow) -> None:
    from sensorlake.contract.lake import STATE_DB_NAME

    flow.ingest()
    for leftover in flow.state.glob(f"{STATE_DB_NAME}-*"):
        leftover.unlink()
    (flow.state / STATE_DB_NAME).write_bytes(b"not a database" * 512)
    code, out = run(flow, "--json")
    report = json.loads(out)
    assert _pipelines_healthy(report), report["monitoring"]
    assert code != 0, out
    assert report["status"] != "healthy"
    assert len(report["reasons"]) == 1, report["reasons"]
    assert report["reasons"][0].startswith("gateway: ")
    assert "cannot read the gateway state in " in report["reasons"][0]


def test_nothing_to_read_exits_75(tmp_path) -> None:  # type: ignore[no-untyped-def]
    flow = Flow(tmp_path, tmp_path / "none.db")
    code, out = run(flow)
    assert code == ExitCode.UNAVAILABLE and "could not check" in out
    assert "local lake" in out and "does not exist" in out


def test_a_line_that_is_not_json_is_counted_and_never_blinds_the_view(flow: Flow) -> None:
    """The stream keeps the line (null _lineage, rescued); status and every endpoint still
    answer, and the reconciliation counts the row as having no lineage."""
    from fastapi.testclient import TestClient

    from sensorlake.dashboards.app import create_app
    from sensorlake.dashboards.models import NO_LINEAGE

    key = landed_keys(flow.lake, "raw")[0]
    path = flow.lake / "raw" / key.format()
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    with gzip.open(path, "wb") as handle:
        handle.write(data + b"this line is not JSON\n")
    flow.ingest()
    code, out = run(flow, "--json")
    report = json.loads(out)
    assert code == 1, out
    assert any("1 row(s) without _lineage" in r for r in report["reasons"]), report["reasons"]

    monitor = flow.monitor()
    monitor.refresh()
    client = TestClient(create_app(monitor, start_monitor=False))
    for endpoint in ("/api/health", "/api/overview", "/api/reconciliation", "/metrics"):
        assert client.get(endpoint).status_code == 200, endpoint
    rows = client.get("/api/reconciliation").json()["rows"]
    orphan = next(r for r in rows if r["gateway"] == NO_LINEAGE)
    assert orphan["pipeline"] == "raw" and orphan["table_rows"] == 1
    assert orphan["verdict"] == "no lineage"
    raw = next(r for r in rows if r["pipeline"] == "raw" and r["gateway"] != NO_LINEAGE)
    assert raw["verdict"] == "ok" and raw["distinct_records"] == raw["landed_records"] == 1_500


def test_a_missing_warehouse_exits_75_with_one_line(flow: Flow) -> None:
    code, out = run(flow, "--json")
    report = json.loads(out)
    assert (
        code == ExitCode.UNAVAILABLE
        and report["exit_code"] == ExitCode.UNAVAILABLE
        and report["status"] == "could not check"
    )
    assert any(
        f"local warehouse {flow.warehouse} does not exist" in r for r in report["reasons"]
    ), report["reasons"]


def test_a_deleted_or_garbled_delta_log_entry_exits_75_with_one_line(flow: Flow) -> None:
    flow.ingest()
    raw_log = flow.table_path("raw") / "_delta_log"
    (raw_log / f"{0:020d}.json").unlink()  # the first commit gone, a later one left
    filtered_log = flow.table_path("filtered") / "_delta_log"
    latest = max(filtered_log.glob("*.json"))
    latest.write_text("{this is not a commit")
    result = CliRunner().invoke(
        main,
        ["status", "--json"],
        env={
            "SENSORLAKE_LAKE_DIR": str(flow.lake),
            "SENSORLAKE_STATE_DIR": str(flow.state),
            "SENSORLAKE_WAREHOUSE_DIR": str(flow.warehouse),
            "SENSORLAKE_CHECKPOINT_DIR": str(flow.checkpoints),
        },
    )
    assert result.exit_code == ExitCode.UNAVAILABLE, result.output
    assert "Traceback" not in result.output
    reasons = json.loads(result.stdout)["reasons"]
    assert len(reasons) == 1 and reasons[0].startswith("tables: "), reasons
    assert "table sensor_readings_raw at" in reasons[0]
    assert "cannot read table sensor_readings_filtered" in reasons[0]
    assert "\n" not in reasons[0]


def test_a_run_summary_that_is_not_json_exits_75_without_a_traceback(flow: Flow) -> None:
    import sqlite3

    from sensorlake.contract.lake import STATE_DB_NAME

    flow.ingest()
    with sqlite3.connect(flow.state / STATE_DB_NAME) as conn:
        conn.execute("UPDATE runs SET summary = '{not json'")
    code, out = run(flow)
    assert code == ExitCode.UNAVAILABLE, out
    assert "Traceback" not in out
    assert "a run summary in the gateway state" in out and "is not valid" in out


def test_files_outside_the_key_layout_are_counted_by_path(flow: Flow) -> None:
    """No gateway folder date, or no partition folders at all: the contract's key parser
    refuses them, so status counts them "outside the layout" and names the first."""
    import shutil

    real = flow.lake / "raw" / landed_keys(flow.lake, "raw")[0].format()
    stray = flow.lake / "raw" / "raw" / "stray.ndjson.gz"
    undated = flow.lake / "raw" / "raw" / "gateway=x" / "f.ndjson.gz"
    undated.parent.mkdir()
    shutil.copyfile(real, stray)
    shutil.copyfile(real, undated)
    _code, out = run(flow, "--json")
    report = json.loads(out)
    row = next(r for r in report["landing"] if r["item"] == "outside the layout")
    assert row["detail"].startswith("2 file(s) the streams skip, first ")
    assert str(undated) in row["detail"]
    assert any("2 file(s) outside the key layout" in r for r in report["reasons"])
    raw = next(r for r in report["landing"] if r["item"] == "raw")
    assert "1,500 records" in raw["detail"]  # their records are in no figure


def test_rows_landing_could_not_land_are_shown_with_the_gateway(flow: Flow) -> None:
    """Landing counts a row whose id is 0 or below (it can never land exactly once); the
    operator's report says so instead of only the lander's log."""
    import sqlite3

    with sqlite3.connect(flow.db) as conn:
        conn.execute("CREATE TEMP TABLE one AS SELECT * FROM sensor_readings WHERE id = 1")
        conn.execute("UPDATE one SET id = -5")
        conn.execute("INSERT INTO sensor_readings SELECT * FROM one")
    flow.land()
    _code, out = run(flow, "--json")
    gateway = next(r for r in json.loads(out)["landing"] if r["item"].startswith("gateway "))
    assert "1 row(s) without a usable id (not landed)" in gateway["detail"], gateway
