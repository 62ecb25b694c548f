"""A damaged sensor database (issue 13) fails at once with one line and exit 3; only a busy
or locked one is waited for (up to the busy timeout)."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from sensorlake.contract.cli import main
from sensorlake.landing.errors import SourceError
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.landing.source import Source

from .conftest import land_args


def _malformed(path: Path) -> Path:
    """A real sensor database with its table's pages overwritten (the header intact)."""
    simulate_bulk(path, 3_000, seed=1)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, page):
        data[offset : offset + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))
    return path


def _not_a_database(path: Path) -> Path:
    path.write_bytes(b"these are not the pages you are looking for\n" * 200)
    return path


@pytest.mark.parametrize("damage", [_malformed, _not_a_database])
def test_a_damaged_database_is_not_waited_for(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    db = damage(tmp_path / "sensor.db")
    sleeps: list[float] = []
    ticks = itertools.count()  # one second per look at the clock
    source = Source(db, busy_timeout=60, sleep=sleeps.append, clock=lambda: float(next(ticks)))
    with pytest.raises(SourceError, match="corrupt or not SQLite") as raised:
        source.open()
        with source.snapshot():
            source.rows_between(0, 3_000)
    source.close()
    assert sleeps == []  # failed at once, not retried as if busy
    assert raised.value.exit_code == 3

    result = CliRunner().invoke(
        main,
        land_args(tmp_path, db, gateway="gw-x"),
        env={"SENSORLAKE_WORKERS": "1"},
    )
    assert result.exit_code == 3
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "corrupt or not SQLite" in errors[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("code", "message", "retried"),
    [
        (5, "database is locked", True),  # SQLITE_BUSY
        (517, "database is locked", True),  # SQLITE_BUSY_SNAPSHOT (extended)
        (6, "database table is locked", True),  # SQLITE_LOCKED
        (11, "database disk image is malformed", False),  # SQLITE_CORRUPT
        (26, "file is not a database", False),  # SQLITE_NOTADB
    ],
)
def test_only_busy_and_locked_are_retried(
    tmp_path: Path, code: int, message: str, retried: bool
) -> None:
    sleeps: list[float] = []
    now = iter([0.0, 0.0, 99.0])
    source = Source(
        tmp_path / "x.db", busy_timeout=60, sleep=sleeps.append, clock=lambda: next(now)
    )

    def fails() -> None:
        error = sqlite3.DatabaseError(message)
        error.sqlite_errorcode = code  # as Python's sqlite3 sets it
        raise error

    with pytest.raises(sqlite3.DatabaseError):
        source._retry(fails)
    assert bool(sleeps) is retried
