"""Sensor database resets: the sensor deletes and recreates its database on restart.

Row ids start again at 1, so (epoch, row id) is what identifies a row. A reset must start a
new epoch, whether the new database has fewer rows than the watermark (ids went backwards)
or already more (the row at the watermark changed); nothing landed before may be
overwritten and no row of either database may be skipped or landed twice. A database file
merely replaced by an identical copy is not a reset.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.landing.config import LandingConfig
from sensorlake.landing.rules import Rules
from sensorlake.landing.runner import NullReporter, RunSummary
from sensorlake.landing.simulate import reset_database, simulate_bulk

from ..support.flow import land
from .conftest import lake_files, read_lake

LIMITS = {
    "SENSORLAKE_BATCH_ROWS": "500",
    "SENSORLAKE_FILE_MAX_ROWS": "200",
    "SENSORLAKE_EMERGENCY_FILE_MAX_ROWS": "20",
}
LATER = datetime.fromisoformat("2026-03-04T10:00:00+00:00")


@pytest.fixture
def config(sensor_db: Path, make_config: Callable[..., LandingConfig]) -> LandingConfig:
    return make_config(sensor_db, env=dict(LIMITS))


def run(
    config: LandingConfig, rules: Rules, *, reporter: Any = None, stop: Any = None
) -> RunSummary:
    summary = land(config, rules, reporter=reporter, stop=stop)
    assert summary.exit_code == 0, summary.error
    assert summary.conflicts == []
    return summary


def source_rows(db: Path) -> dict[int, tuple[str, str]]:
    """id -> (timestamp, sensor_id) of every row in a sensor database."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            r[0]: (r[1], r[2])
            for r in conn.execute("SELECT id, timestamp, sensor_id FROM sensor_readings")
        }
    finally:
        conn.close()


def raw_by_epoch(lake: Path) -> dict[tuple[int, int], dict[str, Any]]:
    """(epoch, row_id) -> raw record; fails if any (epoch, row_id) landed twice."""
    raw = read_lake(lake)["raw"]
    counts = Counter((r["_lineage"]["epoch"], r["_lineage"]["row_id"]) for r in raw)
    assert {k: n for k, n in counts.items() if n > 1} == {}
    return {(r["_lineage"]["epoch"], r["_lineage"]["row_id"]): r for r in raw}


def assert_epoch_holds(
    raw: dict[tuple[int, int], dict[str, Any]], epoch: int, rows: dict[int, tuple[str, str]]
) -> None:
    """Exactly the database's rows under ``epoch``, each with its own content."""
    landed = {row_id: r for (e, row_id), r in raw.items() if e == epoch}
    assert sorted(landed) == sorted(rows)
    mismatched = [
        i
        for i, (ts, sensor) in rows.items()
        if (landed[i]["timestamp"], landed[i]["sensor_id"]) != (ts, sensor)
    ]
    assert mismatched == []


def key_epochs(lake: Path) -> Counter[int]:
    return Counter(LandingKey.parse(rel.split("/", 1)[1]).epoch for rel in lake_files(lake))


def assert_unchanged(before: dict[str, bytes], lake: Path) -> None:
    after = lake_files(lake)
    assert {k: after.get(k) for k in before} == before


def state_epochs(config: LandingConfig) -> list[tuple[int, str]]:
    conn = sqlite3.connect(config.state_dir / "landing-state.db")
    try:
        return conn.execute("SELECT epoch, reason FROM epochs ORDER BY epoch").fetchall()
    finally:
        conn.close()


def test_reset_with_fewer_rows_starts_epoch_2(
    config: LandingConfig, rules: Rules, sensor_db: Path
) -> None:
    first = run(config, rules)
    assert (first.epoch, first.watermark, first.rows_read) == (1, 3000, 3000)
    old_rows = source_rows(sensor_db)
    epoch1 = lake_files(config.lake_dir)

    reset_database(sensor_db)
    simulate_bulk(sensor_db, 1_200, seed=5, start=LATER)
    new_rows = source_rows(sensor_db)
    assert max(new_rows) == 1_200

    second = run(config, rules)
    assert len(second.new_epochs) == 1 and "went backwards" in second.new_epochs[0]
    assert (second.epoch, second.watermark, second.rows_read) == (2, 1_200, 1_200)
    assert_unchanged(epoch1, config.lake_dir)
    new_keys = set(lake_files(config.lake_dir)) - set(epoch1)
    assert new_keys and {LandingKey.parse(k.split("/", 1)[1]).epoch for k in new_keys} == {2}

    raw = raw_by_epoch(config.lake_dir)
    assert_epoch_holds(raw, 1, old_rows)
    assert_epoch_holds(raw, 2, new_rows)
    assert len(raw) == 4_200
    assert [e for e, _ in state_epochs(config)] == [1, 2]

    # settled: another run lands nothing and starts no further epoch
    third = run(config, rules)
    assert (third.epoch, third.rows_read, third.new_epochs) == (2, 0, [])
    assert len(raw_by_epoch(config.lake_dir)) == 4_200


def test_reset_with_more_rows_than_before_is_detected(
    config: LandingConfig, rules: Rules, sensor_db: Path
) -> None:
    """Ids do not go backwards: only the changed row at the watermark gives it away."""
    run(config, rules)
    old_rows = source_rows(sensor_db)
    epoch1 = lake_files(config.lake_dir)

    reset_database(sensor_db)
    simulate_bulk(sensor_db, 4_100, seed=6, start=LATER)
    new_rows = source_rows(sensor_db)
    assert max(new_rows) > 3_000

    second = run(config, rules)
    assert len(second.new_epochs) == 1 and "changed" in second.new_epochs[0]
    assert (second.epoch, second.watermark, second.rows_read) == (2, 4_100, 4_100)
    assert_unchanged(epoch1, config.lake_dir)
    raw = raw_by_epoch(config.lake_dir)
    # rows 1..3000 of the new database were not mistaken for already landed
    assert_epoch_holds(raw, 1, old_rows)
    assert_epoch_holds(raw, 2, new_rows)
    assert key_epochs(config.lake_dir)[2] > 0


def test_reset_to_an_empty_database_then_rows_arrive(
    config: LandingConfig, rules: Rules, sensor_db: Path
) -> None:
    run(config, rules)
    reset_database(sensor_db)
    empty = run(config, rules)
    assert empty.epoch == 2 and len(empty.new_epochs) == 1 and empty.rows_read == 0

    simulate_bulk(sensor_db, 700, seed=3, start=LATER)
    later = run(config, rules)
    # the same epoch: an empty database followed by its first rows is one reset, not two
    assert (later.epoch, later.new_epochs, later.rows_read) == (2, [], 700)
    raw = raw_by_epoch(config.lake_dir)
    assert_epoch_holds(raw, 2, source_rows(sensor_db))
    assert [e for e, _ in state_epochs(config)] == [1, 2]


def test_two_resets_give_three_epochs(config: LandingConfig, rules: Rules, sensor_db: Path) -> None:
    run(config, rules)
    reset_database(sensor_db)
    simulate_bulk(sensor_db, 600, seed=11, start=LATER)
    second_rows = source_rows(sensor_db)
    run(config, rules)
    reset_database(sensor_db)
    simulate_bulk(
        sensor_db, 800, seed=12, start=datetime.fromisoformat("2026-03-06T00:00:00+00:00")
    )
    third = run(config, rules)
    assert third.epoch == 3
    raw = raw_by_epoch(config.lake_dir)
    assert_epoch_holds(raw, 2, second_rows)
    assert_epoch_holds(raw, 3, source_rows(sensor_db))
    assert sorted(key_epochs(config.lake_dir)) == [1, 2, 3]


class ResetDuringRun(NullReporter):
    """Resets the sensor database from inside a run (``advance`` runs inside the batch's
    read transaction, after a segment is encoded)."""

    def __init__(self, db: Path, rows: int, at_call: int) -> None:
        self.db = db
        self.rows = rows
        self.at_call = at_call
        self.calls = 0

    def advance(self, rows: int) -> None:
        self.calls += 1
        if self.calls == self.at_call:
            reset_database(self.db)
            simulate_bulk(self.db, self.rows, seed=21, start=LATER)


def previous_watermarks(config: LandingConfig) -> list[int | None]:
    conn = sqlite3.connect(config.state_dir / "landing-state.db")
    try:
        rows = conn.execute("SELECT previous_watermark FROM epochs ORDER BY epoch").fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    ("workers", "kept"),
    [
        # one process: the batch being read finishes from the open (deleted) file
        ("1", 1_000),
        # worker processes read by path: the batch read across the reset is dropped
        ("2", 500),
    ],
    ids=["inline", "workers"],
)
@pytest.mark.parametrize("new_rows", [300, 1_000, 3_500])
def test_reset_in_the_middle_of_a_run(
    sensor_db: Path,
    make_config: Callable[..., LandingConfig],
    rules: Rules,
    new_rows: int,
    workers: str,
    kept: int,
) -> None:
    """The sensor resets while a run is between segments of its 2nd batch: the run goes
    on into epoch 2 with the new database; no batch mixes the two databases, nothing
    committed is overwritten, and no row of the new database is skipped."""
    env = {**LIMITS, "SENSORLAKE_WORKERS": workers, "SENSORLAKE_SEGMENT_ROWS": "100"}
    config = make_config(sensor_db, env=env)
    old_rows = source_rows(sensor_db)
    reporter = ResetDuringRun(sensor_db, new_rows, at_call=7)  # 2nd segment of 2nd batch

    first = run(config, rules, reporter=reporter)
    assert first.epoch == 2 and len(first.new_epochs) == 1
    assert first.watermark == new_rows
    assert previous_watermarks(config) == [None, kept]
    raw = raw_by_epoch(config.lake_dir)
    assert_epoch_holds(raw, 1, {i: old_rows[i] for i in range(1, kept + 1)})
    assert_epoch_holds(raw, 2, source_rows(sensor_db))
    # files from one database only: every epoch-1 object's rows are old rows
    assert {e for e, _ in raw} == {1, 2}
    landed = lake_files(config.lake_dir)

    second = run(config, rules)
    assert (second.epoch, second.rows_read, second.new_epochs) == (2, 0, [])
    assert lake_files(config.lake_dir) == landed
    assert not [p for p in (config.state_dir / "spool").rglob("*") if p.is_file()]


class StopAfterFirstBatch(NullReporter):
    def __init__(self, stop: Any) -> None:
        self.stop = stop

    def advance(self, rows: int) -> None:
        self.stop.set()


@pytest.mark.parametrize("new_rows", [300, 2_000])
def test_reset_between_batches_of_an_interrupted_run(
    config: LandingConfig, rules: Rules, sensor_db: Path, new_rows: int
) -> None:
    """A run stops after its first batch; the sensor resets before the next run.

    The rows the sensor deleted before they were read are gone; everything else lands
    once, and the new database's rows 1..watermark are not taken as already landed.
    """
    import threading

    stop = threading.Event()
    first = run(config, rules, reporter=StopAfterFirstBatch(stop), stop=stop)
    assert (first.epoch, first.watermark, first.rows_read) == (1, 500, 500)
    # stopping also stopped shipping: the batch waits in the spool across the reset
    assert sum(t.pending_files for t in first.targets.values()) > 0
    old_rows = source_rows(sensor_db)

    reset_database(sensor_db)
    simulate_bulk(sensor_db, new_rows, seed=31, start=LATER)
    second = run(config, rules)
    assert second.epoch == 2 and len(second.new_epochs) == 1
    assert second.rows_read == new_rows
    assert sum(t.pending_files for t in second.targets.values()) == 0
    raw = raw_by_epoch(config.lake_dir)
    assert_epoch_holds(raw, 1, {i: old_rows[i] for i in range(1, 501)})
    assert_epoch_holds(raw, 2, source_rows(sensor_db))


def test_identical_copy_continues_the_same_epoch(
    config: LandingConfig, rules: Rules, sensor_db: Path, tmp_path: Path
) -> None:
    """A new inode with the same rows (restored backup, copied file) is not a reset."""
    run(config, rules)
    epoch1 = lake_files(config.lake_dir)
    inode = os.stat(sensor_db).st_ino
    copy = tmp_path / "copy.db"
    shutil.copyfile(sensor_db, copy)
    os.replace(copy, sensor_db)
    assert os.stat(sensor_db).st_ino != inode

    again = run(config, rules)
    assert (again.epoch, again.new_epochs, again.rows_read) == (1, [], 0)
    assert lake_files(config.lake_dir) == epoch1

    simulate_bulk(sensor_db, 400, seed=41, start=LATER)  # appends ids 3001..3400
    more = run(config, rules)
    assert (more.epoch, more.new_epochs, more.rows_read) == (1, [], 400)
    raw = raw_by_epoch(config.lake_dir)
    assert_epoch_holds(raw, 1, source_rows(sensor_db))
    assert set(key_epochs(config.lake_dir)) == {1}
    assert [e for e, _ in state_epochs(config)] == [1]


def test_dry_run_predicts_a_reset_with_more_rows(
    config: LandingConfig, rules: Rules, sensor_db: Path
) -> None:
    run(config, rules)
    reset_database(sensor_db)
    simulate_bulk(sensor_db, 3_500, seed=6, start=LATER)
    dry = land(config, rules, dry_run=True)
    real = run(config, rules)
    assert real.epoch == 2
    assert (dry.epoch, dry.rows_read) == (real.epoch, real.rows_read)
