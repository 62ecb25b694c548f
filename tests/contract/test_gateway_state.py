"""The gateway state layout and its ``runs`` table, on the contract alone (no landing)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sensorlake.contract.gateway_state import (
    RUNS_DDL,
    GatewayStateLayout,
    SpoolLayout,
    insert_run,
    read_runs,
)
from sensorlake.contract.summary import RunSummary

from ..support.samples import SAMPLES, summaries

pytestmark = pytest.mark.contract


def test_every_path_of_a_state_directory_comes_from_the_state_dir() -> None:
    layout = GatewayStateLayout(Path("var/state"))
    assert layout.db == Path("var/state/landing-state.db")
    assert layout.lock == Path("var/state/landing.lock")
    assert layout.spool == SpoolLayout(Path("var/state/spool"))
    assert layout.spool.tmp == Path("var/state/spool/tmp")
    assert layout.spool.ready == Path("var/state/spool/ready")


@pytest.mark.parametrize(
    ("bucket", "key"),
    [("sensor-data-raw", "raw/date=2026-03-01/gateway=gw/e1-1-9.ndjson.gz"), ("b", "k")],
)
def test_a_ready_path_reads_back_as_its_bucket_and_key(bucket: str, key: str) -> None:
    spool = GatewayStateLayout(Path("/s")).spool
    path = spool.ready_path(bucket, key)
    assert path.is_relative_to(spool.ready)
    assert spool.bucket_key(path) == (bucket, key)


@pytest.mark.parametrize("path", ["/s/spool/tmp/x", "/s/spool/ready/only-a-bucket", "/elsewhere"])
def test_a_path_outside_ready_has_no_bucket_and_key(path: str) -> None:
    assert GatewayStateLayout(Path("/s")).spool.bucket_key(Path(path)) is None


def test_runs_inserted_through_the_contract_read_back_newest_first(tmp_path: Path) -> None:
    layout = GatewayStateLayout(tmp_path / "state")
    assert read_runs(layout.state_dir) == []  # never ran: no database yet
    layout.state_dir.mkdir()
    first, second = RunSummary("local", "gw", "db", rows_read=5), RunSummary("s3", "gw", "db")
    second.target("raw").records = 7
    with sqlite3.connect(layout.db) as conn:
        conn.executescript(RUNS_DDL)
        for started, summary in (("2026-03-01T00:00", first), ("2026-03-01T00:05", second)):
            insert_run(conn, started, started + ":01", json.dumps(summary.as_dict()))
    runs = read_runs(layout.state_dir)
    assert [r.summary for r in runs] == [second, first]
    assert runs[0].run_id > runs[1].run_id
    assert (runs[1].started_at, runs[1].finished_at) == ("2026-03-01T00:00", "2026-03-01T00:00:01")
    assert [r.summary for r in read_runs(layout.state_dir, limit=1)] == [second]


def test_reading_runs_opens_the_state_read_only(tmp_path: Path) -> None:
    layout = GatewayStateLayout(tmp_path)
    with sqlite3.connect(layout.db) as conn:
        conn.executescript(RUNS_DDL)
    before = layout.db.stat().st_mtime_ns
    assert read_runs(tmp_path) == []
    assert layout.db.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [layout.db.name]  # no journal left


def test_stored_runs_read_back_as_the_summaries_landing_returned(tmp_path: Path) -> None:
    """The committed gateway state of two real landing runs (``tests/support/samples.py``)
    reads back as the two summaries those runs returned, newest first."""
    assert read_runs(tmp_path / "state") == []
    returned = [RunSummary.from_dict(s) for s in summaries()]
    runs = read_runs(SAMPLES / "state")
    assert [r.summary for r in runs] == returned
    assert [r.summary.as_dict() for r in runs] == summaries()
    assert runs[0].run_id > runs[1].run_id
    assert runs[0].started_at <= runs[0].finished_at
    assert runs[1].summary.rows_read == 300 and runs[0].summary.rows_read == 120
    assert read_runs(SAMPLES / "state", limit=1)[0].summary == returned[0]
