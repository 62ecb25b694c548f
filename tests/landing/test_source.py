"""Reading the sensor database: read-only, busy retries with backoff, reset detection inputs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sensorlake.landing.errors import SourceError
from sensorlake.landing.simulate import reset_database, simulate_bulk
from sensorlake.landing.source import Source


def test_busy_is_retried_with_backoff_then_succeeds(tmp_path: Path) -> None:
    sleeps: list[float] = []
    source = Source(tmp_path / "x.db", busy_timeout=60, sleep=sleeps.append, clock=lambda: 0.0)
    attempts = iter([sqlite3.OperationalError("database is locked")] * 3 + [None])

    def flaky() -> str:
        error = next(attempts)
        if error is not None:
            raise error
        return "ok"

    assert source._retry(flaky) == "ok"
    assert sleeps == [0.05, 0.1, 0.2]


def test_busy_gives_up_at_the_deadline(tmp_path: Path) -> None:
    now = iter([0.0, 0.0, 30.0, 61.0])
    source = Source(
        tmp_path / "x.db", busy_timeout=60, sleep=lambda s: None, clock=lambda: next(now)
    )

    def locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError):
        source._retry(locked)


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    sleeps: list[float] = []
    source = Source(tmp_path / "x.db", busy_timeout=60, sleep=sleeps.append)

    def broken() -> None:
        raise sqlite3.OperationalError("no such column: nope")

    with pytest.raises(sqlite3.OperationalError):
        source._retry(broken)
    assert sleeps == []


def test_snapshot_reports_max_id_and_reopens_a_recreated_file(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    simulate_bulk(db, 50, seed=1)
    with Source(db, busy_timeout=60) as source:
        with source.snapshot() as snap:
            assert snap.max_id == 50
            anchor = source.anchor(50)
        reset_database(db)
        simulate_bulk(db, 10, seed=2)
        with source.snapshot() as snap:
            assert snap.max_id == 10  # the new file, not the deleted one still open
        assert source.anchor(50) is None and anchor is not None
        assert len(source.rows_between(0, 10)) == 10


def test_read_only(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    simulate_bulk(db, 5, seed=1)
    with (
        Source(db, busy_timeout=60) as source,
        pytest.raises(sqlite3.OperationalError, match="readonly"),
    ):
        source._connection().execute("DELETE FROM sensor_readings")


def test_directory_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is a directory"):
        Source(tmp_path, busy_timeout=60).open()
