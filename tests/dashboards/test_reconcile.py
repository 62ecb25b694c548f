"""The end-to-end exactly-once check: it must catch a file ingested twice and a file lost."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sensorlake.contract.pipelines import bucket_role
from sensorlake.dashboards.app import create_app
from sensorlake.dashboards.readers.lake import count_lines

from .conftest import GATEWAY, Flow, landed_keys

pytestmark = pytest.mark.dashboards


def reconcile(flow: Flow) -> dict:
    monitor = flow.monitor()
    monitor.refresh()
    return TestClient(create_app(monitor, start_monitor=False)).get("/api/reconciliation").json()


def records(flow: Flow, key) -> int:  # type: ignore[no-untyped-def]
    return count_lines(flow.lake / bucket_role(key.target) / key.format())


def row(report: dict, pipeline: str) -> dict:
    return next(r for r in report["rows"] if r["pipeline"] == pipeline and r["gateway"] == GATEWAY)


def test_a_file_ingested_twice_is_caught(flow: Flow) -> None:
    doubled = landed_keys(flow.lake, "schematized")[1]
    flow.ingest(duplicate=[doubled.format()])
    report = reconcile(flow)
    assert report["verdict"] == "mismatch"
    bad = row(report, "schematized")
    assert bad["verdict"] == "duplicates"
    assert bad["duplicate_rows"] == records(flow, doubled)
    assert bad["distinct_records"] == bad["landed_records"]
    assert bad["table_rows"] == bad["landed_records"] + records(flow, doubled)
    assert f"{records(flow, doubled):,} duplicate row(s)" in report["summary"]
    assert all(r["verdict"] == "ok" for r in report["rows"] if r["pipeline"] != "schematized")


def test_a_lost_file_is_caught(flow: Flow) -> None:
    lost = landed_keys(flow.lake, "filtered")[-1]
    flow.ingest(skip=[lost.format()])  # the checkpoint says processed; its rows never arrived
    report = reconcile(flow)
    assert report["verdict"] == "mismatch"
    bad = row(report, "filtered")
    assert bad["verdict"] == "missing"
    assert bad["missing_records"] == records(flow, lost) and bad["pending_records"] == 0
    assert f"{records(flow, lost):,} landed record(s) missing" in report["summary"]


def test_without_a_checkpoint_a_file_older_than_the_last_commit_is_missing(flow: Flow) -> None:
    import shutil

    keys = landed_keys(flow.lake, "raw")
    lost, fresh = keys[0], keys[-1]
    flow.ingest(skip=[lost.format(), fresh.format()])
    shutil.rmtree(flow.checkpoints)
    old = time.time() - 3600
    os.utime(flow.lake / "raw" / lost.format(), (old, old))
    future = time.time() + 60
    os.utime(flow.lake / "raw" / fresh.format(), (future, future))
    report = reconcile(flow)
    raw = row(report, "raw")
    assert raw["missing_records"] == records(flow, lost)
    assert raw["pending_records"] == records(flow, fresh)
    assert raw["verdict"] == "missing"


def test_without_a_checkpoint_the_grace_minute_decides_pending_or_missing(flow: Flow) -> None:
    """A file landed less than ``MISSING_GRACE_SECONDS`` before the table's last commit may
    still be on its way (pending); one landed longer before is missing."""
    import shutil

    from deltalake import DeltaTable

    from sensorlake.dashboards.reconcile import MISSING_GRACE_SECONDS

    keys = landed_keys(flow.lake, "raw")
    inside, past = keys[0], keys[-1]
    flow.ingest(skip=[inside.format(), past.format()])
    shutil.rmtree(flow.checkpoints)
    last_commit = max(h["timestamp"] for h in DeltaTable(str(flow.table_path("raw"))).history())
    last_commit /= 1000.0
    for key, age in ((inside, MISSING_GRACE_SECONDS / 2), (past, MISSING_GRACE_SECONDS * 1.5)):
        os.utime(flow.lake / "raw" / key.format(), (last_commit - age, last_commit - age))
    raw = row(reconcile(flow), "raw")
    assert raw["pending_records"] == records(flow, inside)
    assert raw["missing_records"] == records(flow, past)


def test_a_file_not_yet_processed_is_in_flight_not_missing(flow: Flow) -> None:
    flow.ingest()
    flow.land(rows=400, seed=11)
    report = reconcile(flow)
    assert report["verdict"] == "in flight"
    assert row(report, "raw")["pending_records"] == 400
    assert row(report, "raw")["missing_records"] == 0


def test_rows_whose_file_is_gone_are_extra(flow: Flow) -> None:
    flow.ingest()
    gone = landed_keys(flow.lake, "emergency")[0]
    (flow.lake / "emergency" / gone.format()).unlink()
    report = reconcile(flow)
    bad = row(report, "emergency")
    assert bad["verdict"] == "extra" and bad["extra_records"] > 0
    assert report["verdict"] == "mismatch"


def test_a_corrupt_file_the_stream_skipped_is_missing_by_its_real_checkpoint(flow: Flow) -> None:
    """The real streams' checkpoint (at ``contract.lake.checkpoint_path``) says the file was
    processed; its rows never reached the table: missing at once, not "arriving"."""
    broken = landed_keys(flow.lake, "raw")[1]
    expected = records(flow, broken)
    (flow.lake / "raw" / broken.format()).write_bytes(b"not gzip at all")
    result = flow.stream()
    assert [c["path"] for c in result.tables["raw"].corrupt_files] == [
        str(flow.lake / "raw" / broken.format())
    ]
    monitor = flow.monitor()
    snap = monitor.refresh()
    raw = row(
        TestClient(create_app(monitor, start_monitor=False)).get("/api/reconciliation").json(),
        "raw",
    )
    assert raw["verdict"] == "missing" and raw["missing_records"] == expected
    assert raw["pending_records"] == 0
    status = next(p for p in snap.status.pipelines if p.pipeline == "raw")
    assert status.state == "stalled" and "arriving" not in status.reason
    assert "the stream has passed are not in the table" in status.reason


def _stats(rows: dict[str, int], distinct: dict[str, int]) -> Any:
    from sensorlake.dashboards.readers.base import TableStats

    return TableStats(
        table="t",
        version=1,
        rows=sum(rows.values()),
        created_at=None,
        last_ingested_at=None,
        columns=(),
        initial_columns=(),
        rescued_rows=0,
        files=frozenset(),
        gateway_rows=rows,
        gateway_distinct=distinct,
        ingested_per_minute={},
    )


def test_duplicates_are_rows_beyond_the_distinct_ids_per_gateway() -> None:
    """The readers hand over rows and distinct ids; reconcile alone decides duplicates."""
    from sensorlake.dashboards.reconcile import duplicate_rows

    stats = _stats({"a": 10, "b": 4, "c": 3}, {"a": 7, "b": 4, "c": 3})
    assert duplicate_rows(stats) == {"a": 3}
    assert duplicate_rows(_stats({}, {})) == {}


def test_a_gateways_repeated_ids_make_its_row_a_duplicates_verdict() -> None:
    from sensorlake.contract.keys import LandingKey
    from sensorlake.contract.pipelines import TARGETS
    from sensorlake.dashboards.readers.base import Inputs, LandedObject, LandingListing
    from sensorlake.dashboards.reconcile import Backlog
    from sensorlake.dashboards.reconcile import reconcile as check

    def landed(gateway: str, records: int) -> LandedObject:
        return LandedObject(
            LandingKey("raw", "2026-03-01", gateway, 1, 1, records), 1, 0.0, records
        )

    listing = LandingListing(
        objects={"raw": (landed("a", 7), landed("b", 4))}, location={"raw": "lake"}
    )
    inputs = Inputs(
        landing_kind="local lake",
        landing=listing,
        landing_error=None,
        tables_kind="local warehouse",
        tables={"raw": _stats({"a": 10, "b": 4}, {"a": 7, "b": 4})},
        table_errors={},
        tables_not_configured=None,
        gateway=None,
        gateway_error=None,
        read_at=0.0,
    )
    result = check(inputs, {t: Backlog(known=True) for t in TARGETS})
    rows = {(r.pipeline, r.gateway): r for r in result.rows}
    a, b = rows["raw", "a"], rows["raw", "b"]
    assert (a.verdict, a.duplicate_rows, a.distinct_records, a.table_rows) == (
        "duplicates",
        3,
        7,
        10,
    )
    assert (b.verdict, b.duplicate_rows) == ("ok", 0)
    assert result.verdict == "mismatch" and result.summary == "3 duplicate row(s)"
