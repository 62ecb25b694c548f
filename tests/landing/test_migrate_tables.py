"""migrate compare against the raw table on Databricks, read through a SQL warehouse.

The warehouse is faked at the connector's edge, the way tests/dashboards/test_databricks.py
fakes it: a DB-API cursor answering with the connector's own ``Row`` values and
``description`` 7-tuples. What it answers is what the real writer wrote: the rows of the
raw files landing put in the zone (the table the raw stream fills from them), by
(gateway, date). A local server that accepts and never answers bounds the real connector.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from databricks.sql.exc import ServerOperationError
from databricks.sql.types import Row

from sensorlake.landing.config import LandingConfig
from sensorlake.landing.migrate.tables import (
    CONNECTOR_PACKAGE,
    WarehouseSettings,
    databricks_raw_table,
    raw_query,
)
from sensorlake.landing.migrate.zone import LandingZone
from sensorlake.landing.rules import Rules

from .conftest import SENSORLAKE, child_env
from .test_migrate_backfill import backfill, old, uploader  # noqa: F401 (the fixture)
from .test_migrate_compare import run_compare

pytestmark = pytest.mark.usefixtures("fake_credentials")

TOKEN = "dapi0123456789abcdef-secret"
SETTINGS = WarehouseSettings(
    host="example.cloud.databricks.com",
    http_path="/sql/1.0/warehouses/abc123",
    token=TOKEN,
    timeout_seconds=10.0,
)
# the connector's type names for the raw table's columns (date: the key's partition folder)
DESCRIPTION = [
    ("gateway", "string"),
    ("date", "date"),
    ("id", "bigint"),
    ("timestamp", "string"),
    ("sensor_id", "string"),
]


def table_rows(config: LandingConfig) -> list[tuple[str, date, int, str, str]]:
    """The raw table as the raw stream fills it: every row of the zone's raw files."""
    zone = LandingZone(config)
    out = []
    for key in zone.keys("gw-test"):
        for row_id, ts, sensor in zone.identities(key):
            out.append((key.gateway, date.fromisoformat(key.date), row_id, ts, sensor))
    return out


class FakeCursor:
    """Answers our one query (gateway IN (...), date bounds) from ``rows``, in pages."""

    def __init__(self, rows: list[tuple[Any, ...]], fail: Exception | None = None) -> None:
        self.rows, self.fail = rows, fail
        self.executed: list[str] = []
        self.description: list[tuple[Any, ...]] | None = None
        self._pending: list[Row] = []

    def execute(self, sql: str) -> None:
        self.executed.append(sql)
        if self.fail is not None:
            raise self.fail
        gateways = set(re.findall(r"'([^']+)'", sql.split("IN (")[1].split(")")[0]))
        since = re.search(r"date >= '([\d-]+)'", sql)
        until = re.search(r"date <= '([\d-]+)'", sql)
        self.description = [(n, t, None, None, None, None, None) for n, t in DESCRIPTION]
        names = [n for n, _ in DESCRIPTION]
        self._pending = [
            Row(**dict(zip(names, r, strict=True)))
            for r in self.rows
            if r[0] in gateways
            and (since is None or r[1].isoformat() >= since[1])
            and (until is None or r[1].isoformat() <= until[1])
        ]

    def fetchmany(self, size: int) -> list[Row]:
        page, self._pending = self._pending[:size], self._pending[size:]
        return page


class FakeConnection:
    def __init__(self, cursor: FakeCursor) -> None:
        self._cursor, self.closed = cursor, False

    def cursor(self) -> FakeCursor:
        return self._cursor

    def close(self) -> None:
        self.closed = True


def fake_warehouse(
    rows: list[tuple[Any, ...]], fail: Exception | None = None
) -> tuple[Callable[[WarehouseSettings], FakeConnection], FakeConnection]:
    conn = FakeConnection(FakeCursor(rows, fail))
    return (lambda settings: conn), conn


def test_the_query_asks_for_the_old_sides_gateways_and_days_only() -> None:
    sql = raw_query(SETTINGS, ["gw-b", "gw-a", "gw-a"], "2026-03-01", "2026-03-02")
    assert sql == (
        "SELECT gateway, date, id, timestamp, sensor_id FROM "
        "`sensor_data_catalog`.`sensor_pipeline`.`sensor_readings_raw` "
        "WHERE gateway IN ('gw-a', 'gw-b') AND date >= '2026-03-01' AND date <= '2026-03-02'"
    )
    with pytest.raises(ValueError, match="gateway id"):
        raw_query(SETTINGS, ["gw'; DROP TABLE x; --"], None, None)
    table, why = databricks_raw_table(SETTINGS, ["gw 1"], connect=fake_warehouse([])[0])
    assert table is None and why.startswith("tables not checked: gateway id")


def test_compare_reads_the_raw_table_through_the_warehouse(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],  # noqa: F811
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    uploader(sensor_db, tmp_path, old).run_until_caught_up()
    config = make_config(sensor_db)
    assert backfill(config, rules, old).rows_landed == 3_000
    rows = table_rows(config)
    assert len(rows) == 3_000
    # the stream has not yet ingested one file's worth of rows: they are not in the table
    behind = rows[-7:]
    connect, conn = fake_warehouse(rows[:-7])

    report = run_compare(
        config,
        old,
        tables=lambda gateways: databricks_raw_table(SETTINGS, gateways, connect=connect),
    )
    assert conn.closed and len(conn._cursor.executed) == 1
    assert "IN ('gw-test')" in conn._cursor.executed[0]
    assert report.complete  # the zone decides; the table is shown beside it
    assert report.tables == "Databricks sensor_data_catalog.sensor_pipeline.sensor_readings_raw"
    assert (report.totals["in_table"], report.totals["missing_in_table"]) == (2_993, 7)
    (day,) = [d for d in report.days if d.missing_in_table]
    assert day.day == behind[0][1].isoformat()

    one_day = run_compare(
        config,
        old,
        since="2026-03-02",
        tables=lambda gw: databricks_raw_table(SETTINGS, gw, "2026-03-02", None, connect=connect),
    )
    assert "date >= '2026-03-02'" in conn._cursor.executed[-1]
    assert {d.day for d in one_day.days} == {"2026-03-02"}


def test_a_failing_warehouse_is_one_line_without_the_token_and_the_zone_decides(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],  # noqa: F811
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    uploader(sensor_db, tmp_path, old).run_until_caught_up()
    config = make_config(sensor_db)
    backfill(config, rules, old)
    error = ServerOperationError(
        f"[TABLE_OR_VIEW_NOT_FOUND] token {TOKEN} cannot see sensor_readings_raw\nstack..."
    )
    connect, conn = fake_warehouse([], fail=error)
    report = run_compare(
        config,
        old,
        tables=lambda gateways: databricks_raw_table(SETTINGS, gateways, connect=connect),
    )
    assert report.complete and "in_table" not in report.totals
    assert report.tables.startswith("tables not checked: cannot read Databricks ")
    assert "ServerOperationError: [TABLE_OR_VIEW_NOT_FOUND]" in report.tables
    assert TOKEN not in report.tables and "***" in report.tables and "\n" not in report.tables
    assert conn.closed


def test_settings_or_the_connector_missing_is_one_line_naming_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unset = WarehouseSettings.from_env({"DATABRICKS_HOST": "example.cloud.databricks.com"})
    table, why = databricks_raw_table(unset, ["gw-1"])
    assert table is None
    assert why == (
        "tables not checked: set DATABRICKS_HTTP_PATH, DATABRICKS_TOKEN to read Databricks "
        "sensor_data_catalog.sensor_pipeline.sensor_readings_raw"
    )
    monkeypatch.setitem(sys.modules, "databricks.sql", None)  # as on a gateway install
    table, why = databricks_raw_table(SETTINGS, ["gw-1"])
    assert table is None and f"needs {CONNECTOR_PACKAGE} (pip install {CONNECTOR_PACKAGE})" in why


@contextlib.contextmanager
def hanging_server() -> Iterator[str]:
    """Accepts connections and never answers (a warehouse stuck starting, a black hole)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        for conn in held:
            with contextlib.suppress(OSError):
                conn.close()
        thread.join(timeout=5)


def test_a_warehouse_that_never_answers_is_bounded_by_the_real_connector() -> None:
    with hanging_server() as endpoint:
        settings = WarehouseSettings.from_env(
            {
                "DATABRICKS_HOST": endpoint,
                "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/abc",
                "DATABRICKS_TOKEN": TOKEN,
            },
            timeout_seconds=2.0,
        )
        began = time.monotonic()
        table, why = databricks_raw_table(settings, ["gw-test"])
        took = time.monotonic() - began
    assert table is None and took < 10, took
    # timed out, or the connector gave up first on its own bounded socket: one line either way
    assert "did not answer within 2 s" in why or why.startswith("tables not checked: cannot read")
    assert TOKEN not in why and "\n" not in why


def test_cli_compare_with_a_hanging_warehouse_keeps_the_zones_verdict(
    moto_endpoint: str,
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],  # noqa: F811
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    _, bucket = old
    uploader(sensor_db, tmp_path, old).run_until_caught_up()
    lake = tmp_path / "lake"
    backfill(make_config(sensor_db, lake_dir=lake), rules, old)
    with hanging_server() as endpoint:
        env = child_env(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            AWS_ENDPOINT_URL=moto_endpoint,
            DATABRICKS_HOST=endpoint,
            DATABRICKS_HTTP_PATH="/sql/1.0/warehouses/abc",
            DATABRICKS_TOKEN=TOKEN,
        )
        cmd = [SENSORLAKE, "migrate", "compare", "--old", f"s3://{bucket}", "--lake-dir", str(lake)]
        began = time.monotonic()
        done = subprocess.run(
            [*cmd, "--tables-timeout", "2", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        took = time.monotonic() - began
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["complete"] and report["tables"].startswith("tables not checked: ")
    assert TOKEN not in done.stdout + done.stderr
    assert took < 60, took
