"""The old uploader's rows in a staging database: one copy of each, split into generations.

Identity of an old row: (gateway, ``id``, ``timestamp``, ``sensor_id``). The old uploader's
known duplicates (the same batch uploaded twice under two keys after a crash) are the same
rows, so they are stored once and counted as dropped.

Generations. The sensor deletes and recreates its database on restart, so ids start again
at 1; the old objects do not say which database a row came from. Within one database ids
and timestamps grow together (one insert per reading, stamped with the time of the write),
so in (timestamp, id) order a new generation starts wherever the id does not grow. Each
generation becomes one epoch when it is landed (see :mod:`.backfill`).

The staging database lives on disk (a fleet's history does not fit in memory) and is
thrown away after the run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ..row_checks import utc_timestamp

__all__ = ["Generation", "History", "day_of", "row_identity"]

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()
_FLUSH_ROWS = 20_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    gateway TEXT NOT NULL, id INTEGER NOT NULL, ts TEXT NOT NULL, sensor_id TEXT NOT NULL,
    day TEXT NOT NULL, object TEXT NOT NULL, body BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS rows_identity ON rows (gateway, id, ts, sensor_id);
CREATE INDEX IF NOT EXISTS rows_order ON rows (gateway, ts, id);
CREATE TABLE IF NOT EXISTS landed (
    gateway TEXT NOT NULL, id INTEGER NOT NULL, ts TEXT NOT NULL, sensor_id TEXT NOT NULL,
    epoch INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS landed_identity ON landed (gateway, id, ts, sensor_id);
CREATE TABLE IF NOT EXISTS columns (gateway TEXT NOT NULL, position INTEGER NOT NULL,
    name TEXT NOT NULL, PRIMARY KEY (gateway, name));
CREATE TABLE IF NOT EXISTS copies (gateway TEXT NOT NULL, day TEXT NOT NULL,
    duplicates INTEGER NOT NULL, PRIMARY KEY (gateway, day));
"""


@dataclass(frozen=True)
class Generation:
    """One sensor database's rows in the old history: (timestamp, id) from ``start`` up to,
    not including, ``end`` (None: to the end)."""

    gateway: str
    index: int
    start: tuple[str, int]
    end: tuple[str, int] | None
    rows: int
    min_id: int
    max_id: int
    days: tuple[str, ...]


def row_identity(row: dict[str, Any]) -> tuple[int, str, str] | str:
    """(id, timestamp, sensor_id) of an old row, or the reason it has none."""
    row_id = row.get("id")
    if row_id is None:
        return "id.missing"
    if row_id.__class__ is not int:
        return "id.not-integer"
    if not 0 < row_id < 2**63:
        return "id.out-of-range"
    ts = row.get("timestamp")
    if ts is None:
        return "timestamp.missing"
    if ts.__class__ is not str:
        return "timestamp.not-text"
    sensor = row.get("sensor_id")
    return row_id, ts, "" if sensor is None else str(sensor)


def day_of(ts: str) -> str:
    """The UTC date landing files the row under (``unknown`` if unparseable)."""
    full = utc_timestamp(ts)
    return full[:10] if full else "unknown"


_DAYS: dict[str, str] = {}


def _day(ts: str) -> str:
    """:func:`day_of`, once per day for the sensor's own format (UTC already)."""
    if len(ts) == 29 and ts.endswith("+00:00") and ts[10] == "T" and ts[19] == ".":
        day = _DAYS.get(ts[:10])
        if day is None and (day := day_of(ts)) != "unknown":
            _DAYS[ts[:10]] = day
        return day
    return day_of(ts)


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=OFF")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.executescript(_SCHEMA)
        self._columns: dict[str, dict[str, int]] = {}
        self._pending: list[tuple[Any, ...]] = []
        self._new_columns: list[tuple[str, int, str]] = []
        self.rows_read = 0
        self.duplicates = 0
        self.unidentified: dict[str, int] = {}

    def close(self) -> None:
        self._conn.close()

    def add(self, gateway: str, key: str, rows: list[dict[str, Any]]) -> None:
        """Stage an object's rows (written in batches of many objects: see :meth:`flush`)."""
        known = self._columns.setdefault(gateway, {})
        pending = self._pending
        encode = _ENCODER.encode
        last: tuple[str, ...] = ()
        for row in rows:
            self.rows_read += 1
            ident = row_identity(row)
            if ident.__class__ is str:
                self.unidentified[ident] = self.unidentified.get(ident, 0) + 1  # type: ignore[index]
                continue
            names = tuple(row)
            if names != last:  # the same columns as the row before, almost always
                last = names
                for name in names:
                    if name not in known:
                        known[name] = len(known)
                        self._new_columns.append((gateway, known[name], name))
            row_id, ts, sensor = ident  # type: ignore[misc]
            pending.append((gateway, row_id, ts, sensor, _day(ts), key, encode(row)))
        if len(pending) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write the staged rows in one transaction; rows already there are duplicates."""
        fresh, self._pending = self._pending, []
        conn = self._conn
        conn.execute("BEGIN")
        conn.executemany("INSERT OR IGNORE INTO columns VALUES (?, ?, ?)", self._new_columns)
        self._new_columns = []
        before = conn.total_changes
        conn.executemany("INSERT OR IGNORE INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)", fresh)
        added = conn.total_changes - before
        if added < len(fresh):
            self.duplicates += len(fresh) - added
            self._count_copies(fresh)
        conn.execute("COMMIT")

    def _count_copies(self, fresh: list[tuple[Any, ...]]) -> None:
        """Duplicates per gateway and day, for compare: rows whose stored copy came from
        another object."""
        by_day: dict[tuple[str, str], int] = {}
        for item in fresh:
            row = self._conn.execute(
                "SELECT object FROM rows WHERE gateway=? AND id=? AND ts=? AND sensor_id=?",
                item[:4],
            ).fetchone()
            if row is not None and row[0] != item[5]:
                by_day[(item[0], item[4])] = by_day.get((item[0], item[4]), 0) + 1
        self._conn.executemany(
            "INSERT INTO copies VALUES (?, ?, ?) ON CONFLICT (gateway, day) "
            "DO UPDATE SET duplicates = duplicates + excluded.duplicates",
            [(gateway, day, n) for (gateway, day), n in by_day.items()],
        )

    # -- reading back ----------------------------------------------------------------------

    def gateways(self) -> list[str]:
        self.flush()
        return [r[0] for r in self._conn.execute("SELECT DISTINCT gateway FROM rows ORDER BY 1")]

    def columns(self, gateway: str) -> list[str]:
        """The old rows' columns in the order the sensor's table had them (first seen)."""
        self.flush()
        return [
            r[0]
            for r in self._conn.execute(
                "SELECT name FROM columns WHERE gateway = ? ORDER BY position", (gateway,)
            )
        ]

    def generations(self, gateway: str) -> list[Generation]:
        self.flush()
        starts: list[tuple[str, int]] = []
        stats: list[list[Any]] = []  # rows, min id, max id, days
        previous = None
        for ts, row_id, day in self._conn.execute(
            "SELECT ts, id, day FROM rows WHERE gateway = ? ORDER BY ts, id", (gateway,)
        ):
            if previous is None or row_id <= previous:
                starts.append((ts, row_id))
                stats.append([0, row_id, row_id, set()])
            current = stats[-1]
            current[0] += 1
            current[1] = min(current[1], row_id)
            current[2] = max(current[2], row_id)
            current[3].add(day)
            previous = row_id
        out = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else None
            rows, low, high, days = stats[i]
            out.append(Generation(gateway, i, start, end, rows, low, high, tuple(sorted(days))))
        return out

    def _where(self, gen: Generation, alias: str = "") -> tuple[str, tuple[Any, ...]]:
        a = alias
        if gen.end is None:
            return f"{a}gateway = ? AND ({a}ts, {a}id) >= (?, ?)", (gen.gateway, *gen.start)
        return (
            f"{a}gateway = ? AND ({a}ts, {a}id) >= (?, ?) AND ({a}ts, {a}id) < (?, ?)",
            (gen.gateway, *gen.start, *gen.end),
        )

    # -- what the new zone holds (rows of its raw files, loaded by backfill) ---------------

    def add_landed(self, gateway: str, epoch: int, rows: list[tuple[int, str, str]]) -> None:
        """Rows of one landed raw file (a row landed twice keeps its first epoch)."""
        conn = self._conn
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT OR IGNORE INTO landed VALUES (?, ?, ?, ?, ?)",
            [(gateway, i, ts, sensor, epoch) for i, ts, sensor in rows],
        )
        conn.execute("COMMIT")

    _JOIN = (
        "FROM rows r LEFT JOIN landed l ON l.gateway = r.gateway AND l.id = r.id "
        "AND l.ts = r.ts AND l.sensor_id = r.sensor_id"
    )

    def landed_epochs(self, gen: Generation) -> dict[int, tuple[int, int]]:
        """Per epoch: how many of the generation's rows the zone holds, and the lowest id."""
        where, args = self._where(gen, "r.")
        rows = self._conn.execute(
            f"SELECT l.epoch, COUNT(*), MIN(r.id) {self._JOIN} WHERE {where} "
            "AND l.epoch IS NOT NULL GROUP BY l.epoch",
            args,
        ).fetchall()
        return {epoch: (n, low) for epoch, n, low in rows}

    def unlanded(self, gen: Generation, *, above: int | None = None) -> int:
        """How many of the generation's rows the zone lacks (only ids above ``above``)."""
        where, args = self._where(gen, "r.")
        extra, more = ("AND r.id > ?", (above,)) if above is not None else ("", ())
        return self._conn.execute(
            f"SELECT COUNT(*) {self._JOIN} WHERE {where} AND l.epoch IS NULL {extra}",
            (*args, *more),
        ).fetchone()[0]

    def to_land(self, gen: Generation, *, upto: int | None = None) -> Iterator[dict[str, Any]]:
        """The generation's rows the zone lacks (ids up to ``upto``), in id order."""
        where, args = self._where(gen, "r.")
        extra, more = ("AND r.id <= ?", (upto,)) if upto is not None else ("", ())
        for (body,) in self._conn.execute(
            f"SELECT r.body {self._JOIN} WHERE {where} AND l.epoch IS NULL {extra} ORDER BY r.id",
            (*args, *more),
        ):
            yield _DECODER.decode(body)

    def per_day(self, gateway: str) -> dict[str, int]:
        self.flush()
        return dict(
            self._conn.execute(
                "SELECT day, COUNT(*) FROM rows WHERE gateway = ? GROUP BY day", (gateway,)
            ).fetchall()
        )

    def day_identities(self, gateway: str, day: str) -> set[tuple[int, str, str]]:
        return set(
            self._conn.execute(
                "SELECT id, ts, sensor_id FROM rows WHERE gateway = ? AND day = ?", (gateway, day)
            ).fetchall()
        )

    def duplicates_per_day(self, gateway: str) -> dict[str, int]:
        return dict(
            self._conn.execute(
                "SELECT day, duplicates FROM copies WHERE gateway = ?", (gateway,)
            ).fetchall()
        )
