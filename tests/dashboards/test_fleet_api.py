"""The fleet view, the emergencies and the status summary over what the real writers wrote:
three gateways landed by the real lander into one lake, ingested by the real local streams;
then one gateway goes quiet and another falls behind (its new files not streamed). The
Databricks emergency read is tested on recorded connector results, and a hanging emergency
read is bounded like every backend."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from sensorlake.contract.cli import main
from sensorlake.contract.pipelines import TARGETS, bucket_role
from sensorlake.dashboards.app import create_app
from sensorlake.dashboards.metrics import LABEL_SETS
from sensorlake.dashboards.monitor import Monitor, Readers
from sensorlake.dashboards.readers.base import EMERGENCIES_READ, LandingListing
from sensorlake.dashboards.readers.databricks import DatabricksReader, emergency_query
from sensorlake.dashboards.settings import DatabricksSettings, Settings
from sensorlake.landing.config import load_config
from sensorlake.landing.rules import load_rules
from sensorlake.landing.runner import Lander
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.landing.sink import LocalLakeSink

from .conftest import GATEWAY, Flow, landed_keys

pytestmark = pytest.mark.dashboards

RECORDED = Path(__file__).parent / "recorded"


def land_gateway(flow: Flow, gateway: str, rows: int, seed: int) -> None:
    """Another gateway, with its own database and state, landing into the flow's lake."""
    db = flow.root / f"{gateway}.db"
    if rows:
        simulate_bulk(db, rows, seed=seed, start=datetime.now(UTC))
    config = load_config(
        env={},
        db_path=db,
        state_dir=flow.root / f"state-{gateway}",
        gateway_id=gateway,
        lake_dir=flow.lake,
    )
    limits = dataclasses.replace(config.limits, workers=1, batch_rows=800, file_rows=400)
    config = dataclasses.replace(config, limits=limits)
    summary = Lander(config, load_rules(), LocalLakeSink(config.lake_dir)).run_once()
    assert summary.exit_code == 0, summary.error


def gateway_files(flow: Flow, gateway: str) -> list[Path]:
    return sorted(flow.lake.rglob(f"gateway={gateway}/*.ndjson.gz"))


def landed_emergencies(flow: Flow) -> list[dict[str, Any]]:
    """Every emergency record as the lander wrote it (not through any table)."""
    out = []
    for key in landed_keys(flow.lake, "emergency"):
        path = flow.lake / bucket_role("emergency") / key.format()
        with gzip.open(path, "rt") as handle:
            out.extend(json.loads(line) for line in handle if line.strip())
    return out


def test_fleet_emergencies_and_status_over_three_real_gateways(flow: Flow) -> None:
    for path in gateway_files(flow, GATEWAY):  # landed at the session's start: now
        os.utime(path)
    land_gateway(flow, "gw-north", 800, seed=3)
    land_gateway(flow, "gw-south", 800, seed=4)
    flow.ingest()
    monitor = flow.monitor()
    monitor.refresh()
    client = TestClient(create_app(monitor, start_monitor=False))

    fleet = client.get("/api/fleet").json()
    assert fleet["totals"] == {"gateways": 3, "healthy": 3, "silent": 0, "behind": 0}
    rows = {g["gateway"]: g for g in fleet["gateways"]}
    assert set(rows) == {GATEWAY, "gw-north", "gw-south"}
    for gw, row in rows.items():
        assert row["state"] == "landing" and row["backlog_files"] == 0, row
        for target in TARGETS:
            keys = [k for k in landed_keys(flow.lake, target) if k.gateway == gw]
            mine = [p for p in row["pipelines"] if p["pipeline"] == target]
            if not keys:
                assert mine == []
                continue
            newest = max(keys, key=lambda k: (os.stat(_path(flow, k)).st_mtime, k))
            assert mine[0]["last_key"] == newest.format()
            assert mine[0]["files_last_hour"] == len(keys)
        assert row["records_last_hour"] == {GATEWAY: 1_500, "gw-north": 800, "gw-south": 800}[gw]

    # Emergencies: the newest readings of the emergency table, as the lander wrote them.
    landed = landed_emergencies(flow)
    assert len({r["_lineage"]["gateway_id"] for r in landed}) == 3
    alarms = client.get("/api/emergencies", params={"limit": 10}).json()
    readings = alarms["readings"]
    assert alarms["error"] is None and len(readings) == min(10, len(landed))
    times = [datetime.fromisoformat(r["timestamp"]) for r in readings]
    assert times == sorted(times, reverse=True)  # newest first
    newest_landed = max(datetime.fromisoformat(r["timestamp"]) for r in landed)
    assert times[0] == newest_landed
    by_id = {(r["_lineage"]["gateway_id"], r["reading_id"]): r for r in landed}
    for shown in readings:
        record = by_id[(shown["gateway"], shown["reading_id"])]
        assert shown["sensor_id"] == record["sensor_id"]
        assert shown["reasons"] == record["emergency"]["reasons"] and shown["reasons"]
        assert shown["valid"] == record["emergency"]["valid"]
        assert shown["values"] == {k: v for k, v in record["readings"].items()}
    # Every emergency newer than the tenth shown is shown (none skipped).
    newer = [r for r in landed if datetime.fromisoformat(r["timestamp"]) > times[-1]]
    assert {(r["_lineage"]["gateway_id"], r["reading_id"]) for r in newer} <= {
        (s["gateway"], s["reading_id"]) for s in readings
    }
    assert len(client.get("/api/emergencies").json()["readings"]) == min(20, len(landed))

    # gw-south goes quiet (its files are two hours old); gw-north lands files the streams
    # have not read, ten minutes ago.
    old = time.time() - 7200
    for path in gateway_files(flow, "gw-south"):
        os.utime(path, (old, old))
    before = set(gateway_files(flow, "gw-north"))
    land_gateway(flow, "gw-north", 400, seed=5)
    waiting = set(gateway_files(flow, "gw-north")) - before
    assert waiting
    ten_min = time.time() - 600
    for path in waiting:
        os.utime(path, (ten_min, ten_min))
    for path in before:
        os.utime(path, (ten_min - 60, ten_min - 60))
    # Files made older by hand keep their directory's time, which is what the incremental
    # reader watches (time passing needs no re-read): a monitor with a cache of its own
    # reads the aged files, as one started on that lake would.
    monitor = flow.monitor(monitor_cache=flow.state / "monitor" / "aged.sqlite")
    monitor.refresh()
    client = TestClient(create_app(monitor, start_monitor=False))

    fleet = client.get("/api/fleet").json()
    assert fleet["totals"] == {"gateways": 3, "healthy": 1, "silent": 1, "behind": 1}
    assert [(g["gateway"], g["state"]) for g in fleet["gateways"]] == [
        ("gw-south", "silent"),
        ("gw-north", "behind"),
        (GATEWAY, "landing"),
    ]
    south, north = fleet["gateways"][0], fleet["gateways"][1]
    assert south["reason"] == "no file landed for 2.0 h" and south["records_last_hour"] == 0
    assert south["records_last_day"] == 800
    assert north["backlog_files"] == len(waiting)
    assert north["reason"].startswith(f"{len(waiting)} file(s) not ingested, oldest landed 10 min")

    # Search, state and paging, and bad parameters answered in one line.
    assert [g["gateway"] for g in client.get("/api/fleet?q=NORTH").json()["gateways"]] == [
        "gw-north"
    ]
    only = client.get("/api/fleet", params={"state": "silent"}).json()
    assert only["matching"] == 1 and only["totals"]["gateways"] == 3
    paged = client.get("/api/fleet", params={"per_page": 2, "page": 2}).json()
    assert paged["pages"] == 2 and [g["gateway"] for g in paged["gateways"]] == [GATEWAY]
    for query, where in (
        ("page=0", "page"),
        ("per_page=201", "per_page"),
        ("state=asleep", "state"),
        ("q=" + "x" * 65, "q"),
        ("page=two", "page"),
    ):
        response = client.get(f"/api/fleet?{query}")
        assert response.status_code == 422, query
        detail = response.json()["detail"]
        assert detail.startswith(f"invalid {where}: ") and "\n" not in detail, detail
    assert client.get("/api/emergencies?limit=0").status_code == 422
    assert client.get(f"/api/emergencies?limit={EMERGENCIES_READ + 1}").status_code == 422

    # /metrics: the fleet's three states, not a series per gateway for them.
    prom = client.get("/metrics").text
    assert 'sensorlake_fleet_gateways{state="silent"} 1.0' in prom
    assert 'sensorlake_fleet_gateways{state="behind"} 1.0' in prom
    assert prom.count("sensorlake_gateway_last_landed_timestamp_seconds{") == 3
    # Per-gateway reconciliation series only where a count is not 0: gw-north's pending.
    pending = re.findall(r"^sensorlake_reconciliation_pending_records\{(.*)\} ", prom, re.M)
    assert pending and all('gateway="gw-north"' in p for p in pending)
    assert "sensorlake_reconciliation_missing_records{" not in prom
    # Every metric and its label names as metrics.py documents them.
    exported = set(re.findall(r"^# TYPE (sensorlake_\w+) ", prom, re.M))
    assert exported == set(LABEL_SETS)
    for name, body in re.findall(r"^(sensorlake_\w+?)(?:\{(.*)\})? \S+$", prom, re.M):
        assert sorted(re.findall(r'(\w+)="', body)) == sorted(LABEL_SETS[name]), name

    # status: the fleet in a few lines, and in --json.
    env = {
        "SENSORLAKE_LAKE_DIR": str(flow.lake),
        "SENSORLAKE_STATE_DIR": str(flow.state),
        "SENSORLAKE_WAREHOUSE_DIR": str(flow.warehouse),
        "SENSORLAKE_CHECKPOINT_DIR": str(flow.checkpoints),
        "SENSORLAKE_MONITOR_CACHE": str(flow.state / "monitor" / "aged.sqlite"),
        "COLUMNS": "160",
    }
    result = CliRunner().invoke(main, ["status", "--json"], env=env)
    report = json.loads(result.output)
    summary = report["fleet"]
    assert {k: summary[k] for k in ("gateways", "healthy", "silent", "behind")} == {
        "gateways": 3,
        "healthy": 1,
        "silent": 1,
        "behind": 1,
    }
    assert [w["gateway"] for w in summary["worst"]] == ["gw-south", "gw-north", GATEWAY]
    assert summary["worst"][0]["state"] == "silent" and summary["silent_seconds"] == 900.0
    text = CliRunner().invoke(main, ["status"], env=env).output
    assert "Fleet: 3 gateway(s), 1 healthy, 1 silent, 1 behind" in text
    assert "gw-south" in text and "no file landed for 2.0 h" in text


def _path(flow: Flow, key: Any) -> Path:
    return flow.lake / bucket_role(key.target) / key.format()


def test_the_worst_ten_only() -> None:
    """status lists ten gateways however big the fleet; the counts cover all of them."""
    from sensorlake.contract.keys import LandingKey
    from sensorlake.dashboards.readers.base import Inputs, LandedObject
    from sensorlake.dashboards.settings import Thresholds
    from sensorlake.dashboards.snapshot import build
    from sensorlake.dashboards.status import fleet_summary

    now = time.time()
    objs = tuple(
        LandedObject(LandingKey("raw", "2026-12-04", f"gw-{i:03d}", 1, 1, 9), 10, now - i * 60, 9)
        for i in range(40)
    )
    listing = LandingListing({"raw": objs}, {"raw": "/lake/raw"})
    inputs = Inputs(
        "local lake", listing, None, "local warehouse", {}, {}, "no tables here", None, None, now
    )
    summary = fleet_summary(build(inputs, Thresholds()))
    assert (summary["gateways"], summary["silent"], summary["healthy"]) == (40, 24, 16)
    assert [w["gateway"] for w in summary["worst"]] == [f"gw-{i:03d}" for i in range(39, 29, -1)]


# -- the Databricks emergency read, on recorded connector results ---------------------------


def _numpy(value: Any) -> Any:
    import numpy as np

    if isinstance(value, dict) and set(value) == {"numpy"}:
        return np.array(value["numpy"], dtype=object)
    if isinstance(value, dict):
        return {k: _numpy(v) for k, v in value.items()}
    return value


class _Cursor:
    def __init__(self, recorded: dict[str, Any], fail: Exception | None) -> None:
        self.recorded, self.fail = recorded, fail
        self.executed: list[str] = []
        self.description: list[tuple[Any, ...]] | None = None
        self._rows: list[Any] = []

    def execute(self, sql: str) -> None:
        from databricks.sql.types import Row

        self.executed.append(sql)
        if self.fail is not None:
            raise self.fail
        result = self.recorded["emergencies"]
        names = [n for n, _t in result["description"]]
        self.description = [(n, t, None, None, None, None, None) for n, t in result["description"]]
        self._rows = []
        for values in result["rows"]:
            cells = {}
            for (name, kind), value in zip(result["description"], values, strict=True):
                if kind == "timestamp" and value is not None:
                    value = datetime.fromisoformat(value)
                cells[name] = _numpy(value)
            self._rows.append(Row(**{n: cells[n] for n in names}))

    def fetchall(self) -> list[Any]:
        return self._rows


class _Connection:
    def __init__(self, cursor: _Cursor) -> None:
        self._cursor = cursor
        self.closed = False

    def cursor(self) -> _Cursor:
        return self._cursor

    def close(self) -> None:
        self.closed = True


def databricks(fail: Exception | None = None) -> tuple[DatabricksReader, _Connection]:
    recorded = json.loads((RECORDED / "databricks_emergencies.json").read_text())
    conn = _Connection(_Cursor(recorded, fail))
    settings = DatabricksSettings("example.cloud.databricks.com", "/sql/1.0/warehouses/a", "t")
    reader = DatabricksReader(
        settings, "sensor_data_catalog", "sensor_pipeline", connect=lambda **_: conn
    )
    return reader, conn


def test_databricks_emergencies_from_recorded_results() -> None:
    reader, conn = databricks()
    readings = reader.latest_emergencies(20)
    fqn = "`sensor_data_catalog`.`sensor_pipeline`.`sensor_readings_emergency`"
    assert conn._cursor.executed == [emergency_query(fqn, 20)] and conn.closed
    assert "ORDER BY timestamp DESC" in emergency_query(fqn, 20)
    first, second = readings
    assert (first.sensor_id, first.gateway, first.reading_id) == (
        "BER_A1B2C3",
        "gw-berlin-01",
        48211,
    )
    assert first.reasons == ("temperature.above",) and first.valid
    assert first.values["temperature"] == 81.4
    assert first.timestamp == datetime.fromisoformat("2026-11-26T10:57:41.200+00:00").timestamp()
    assert second.reasons == ("anomaly.spike", "pressure_bar.below", "voltage.below")
    assert not second.valid and second.validation_errors == ("humidity.missing",)
    assert second.values["humidity"] is None


def test_databricks_emergencies_missing_table_and_failure() -> None:
    from databricks.sql.exc import ServerOperationError

    from sensorlake.dashboards.errors import BackendUnavailable

    recorded = json.loads((RECORDED / "databricks_emergencies.json").read_text())
    reader, _ = databricks(ServerOperationError(recorded["not_found"]))
    assert reader.latest_emergencies() == ()
    reader, conn = databricks(ServerOperationError("[PERMISSION_DENIED] no SELECT on t"))
    with pytest.raises(BackendUnavailable) as failure:
        reader.latest_emergencies()
    assert failure.value.message.startswith("Databricks could not query sensor_readings_emergency")
    assert "\n" not in failure.value.message and conn.closed


# -- bounded like every backend -------------------------------------------------------------


class _Landing:
    kind = "local lake"

    def list_landed(self) -> LandingListing:
        return LandingListing({}, {})


class _HangingAlarms:
    kind = "local warehouse"

    def __init__(self) -> None:
        self.release = threading.Event()

    def table_stats(self, target: str) -> None:
        return None

    def latest_emergencies(self, limit: int = EMERGENCIES_READ) -> tuple[()]:
        self.release.wait(30)
        return ()


class _NoGateway:
    def gateway_state(self) -> None:
        return None


def test_a_hanging_emergency_read_blinds_only_itself() -> None:
    tables = _HangingAlarms()
    readers = Readers(_Landing(), tables, _NoGateway(), tables_kind="local warehouse")
    monitor = Monitor(Settings(backend_timeout_seconds=0.5), readers)
    try:
        started = time.monotonic()
        snap = monitor.refresh()
        assert time.monotonic() - started < 5
        assert snap.emergencies is not None
        assert snap.emergencies.error is not None
        assert "no answer from the emergency table after" in snap.emergencies.error
        assert snap.emergencies.error.startswith("unreachable since ")
        assert snap.health.components[1].status == "healthy"  # the tables answered
        client = TestClient(create_app(monitor, start_monitor=False))
        answer = client.get("/api/emergencies")
        assert answer.status_code == 200 and answer.json()["readings"] == []
    finally:
        tables.release.set()
