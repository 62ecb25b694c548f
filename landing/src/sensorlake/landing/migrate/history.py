"""The old uploader's rows in a staging database: one copy of each, split into generations.

Identity of an old row: (gateway, ``id``, ``timestamp``, ``sensor_id``). The old uploader's
known duplicates (the same batch uploaded twice under two keys after a crash) are the same
rows, so they are stored once and counted as dropped.

Generations. The sensor deletes and recreates its database on restart, so ids start again
at 1; the old objects do not say which database a row came from. Within one database ids
and timestamps grow together (one insert per reading, stamped with the time of the write),
so in (timestamp, id) order a new generation starts wherever the id does not grow. Each
generation becomes one epoch when it is landed (see :mod:`.backfill`).

The staging database lives on disk (a fleet's history does not fit in memory). For compare
it is thrown away after the run; backfill keeps it as its catalogue (``persistent``): which
objects (key and ETag) it has read, which landed files it has matched, and per gateway the
outcome of the last complete run, so a rerun lists the old bucket and reads only what is
new (see :mod:`.backfill`).
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
    day TEXT NOT NULL, object TEXT NOT NULL, shape INTEGER NOT NULL, body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS shapes (id INTEGER PRIMARY KEY, names TEXT NOT NULL UNIQUE);
CREATE UNIQUE INDEX IF NOT EXISTS rows_identity ON rows (gateway, id, ts, sensor_id);
CREATE TABLE IF NOT EXISTS landed (
    gateway TEXT NOT NULL, id INTEGER NOT NULL, ts TEXT NOT NULL, sensor_id TEXT NOT NULL,
    epoch INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS landed_identity ON landed (gateway, id, ts, sensor_id);
CREATE TABLE IF NOT EXISTS columns (gateway TEXT NOT NULL, position INTEGER NOT NULL,
    name TEXT NOT NULL, PRIMARY KEY (gateway, name));
CREATE TABLE IF NOT EXISTS copies (gateway TEXT NOT NULL, day TEXT NOT NULL,
    duplicates INTEGER NOT NULL, PRIMARY KEY (gateway, day));
CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, etag TEXT NOT NULL,
    gateway TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS zone_files (name TEXT PRIMARY KEY, gateway TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS done (gateway TEXT PRIMARY KEY, outcome TEXT NOT NULL);
"""
# Built once the rows are in (faster than keeping it up to date row by row).
_ORDER_INDEX = "CREATE INDEX IF NOT EXISTS rows_order ON rows (gateway, ts, id)"


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
        # no fsync (a crash is caught by the caller's clean mark: see Backfill), but a
        # journal in memory, so a failed transaction still rolls back
        self._conn.execute("PRAGMA journal_mode=MEMORY")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.executescript(_SCHEMA)
        self._columns: dict[str, dict[str, int]] = {}
        for gateway, position, name in self._conn.execute("SELECT * FROM columns"):
            self._columns.setdefault(gateway, {})[name] = position
        # a row's body is its values (JSON array); its shape, the column names in order
        self._shapes: dict[tuple[str, ...], int] = {}
        for shape_id, names in self._conn.execute("SELECT id, names FROM shapes"):
            self._shapes[tuple(_DECODER.decode(names))] = shape_id
        self._pending: list[tuple[str, str, str | None, list[tuple[Any, ...]]]] = []
        self._pending_rows = 0
        self._new_columns: list[tuple[str, int, str]] = []
        self._indexed = False
        self.rows_read = 0
        self.duplicates = 0
        self.unidentified: dict[str, int] = {}
        self.touched: set[str] = set()  # gateways that got new rows in this run

    def close(self) -> None:
        self._conn.close()

    # -- the catalogue (a backfill's memory between runs) -----------------------------------

    def objects(self) -> dict[str, str]:
        """Key → ETag of every object already read into this history."""
        return dict(self._conn.execute("SELECT key, etag FROM objects"))

    def zone_files(self, gateway: str) -> set[str]:
        """Names of the gateway's landed files whose rows are already in ``landed``."""
        rows = self._conn.execute("SELECT name FROM zone_files WHERE gateway = ?", (gateway,))
        return {r[0] for r in rows}

    def forget_zone(self, gateway: str) -> None:
        """A landed file is gone (deleted by hand?): forget what the zone held for the
        gateway, so it is read again, and what its last run found."""
        conn = self._conn
        conn.execute("BEGIN")
        for table in ("landed", "zone_files", "done"):
            conn.execute(f"DELETE FROM {table} WHERE gateway = ?", (gateway,))
        conn.execute("COMMIT")

    def outcome(self, gateway: str) -> Any:
        """What the last complete backfill of ``gateway`` found (None: none since new rows)."""
        row = self._conn.execute("SELECT outcome FROM done WHERE gateway = ?", (gateway,))
        found = row.fetchone()
        return None if found is None else _DECODER.decode(found[0])

    def set_outcome(self, gateway: str, outcome: Any) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO done VALUES (?, ?)", (gateway, _ENCODER.encode(outcome))
        )

    # -- staging the old rows ---------------------------------------------------------------

    def add(
        self, gateway: str, key: str, rows: list[dict[str, Any]], etag: str | None = None
    ) -> None:
        """Stage an object's rows (written in batches of many objects: see :meth:`flush`);
        ``etag``: remember the object as read, in the same transaction as its rows."""
        known = self._columns.setdefault(gateway, {})
        staged: list[tuple[Any, ...]] = []
        encode = _ENCODER.encode
        last: tuple[str, ...] = ()
        shape = -1
        for row in rows:
            self.rows_read += 1
            ident = row_identity(row)
            if ident.__class__ is str:
                self.unidentified[ident] = self.unidentified.get(ident, 0) + 1  # type: ignore[index]
                continue
            names = tuple(row)
            if names != last:  # the same columns as the row before, almost always
                last = names
                shape = self._shape(names)
                for name in names:
                    if name not in known:
                        known[name] = len(known)
                        self._new_columns.append((gateway, known[name], name))
            row_id, ts, sensor = ident  # type: ignore[misc]
            staged.append(
                (gateway, row_id, ts, sensor, _day(ts), key, shape, encode(list(row.values())))
            )
        self._pending.append((gateway, key, etag, staged))
        self._pending_rows += len(staged) + 1
        if self._pending_rows >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write the staged objects in one transaction; rows already there are duplicates
        (counted per object, so only an object that has some is looked at again)."""
        objects, self._pending, self._pending_rows = self._pending, [], 0
        conn = self._conn
        conn.execute("BEGIN")
        try:
            conn.executemany("INSERT OR IGNORE INTO columns VALUES (?, ?, ?)", self._new_columns)
            insert = "INSERT OR IGNORE INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            copies: list[tuple[Any, ...]] = []
            touched: set[str] = set()
            for gateway, _key, _etag, staged in objects:
                before = conn.total_changes
                conn.executemany(insert, staged)
                added = conn.total_changes - before
                if added:
                    touched.add(gateway)
                if added < len(staged):
                    self.duplicates += len(staged) - added
                    copies.extend(staged)
            if copies:
                self._count_copies(copies)
            conn.executemany(
                "INSERT OR REPLACE INTO objects VALUES (?, ?, ?)",
                [(key, etag, gw) for gw, key, etag, _ in objects if etag is not None],
            )
            # new rows: what the last run found for these gateways no longer holds
            conn.executemany("DELETE FROM done WHERE gateway = ?", [(g,) for g in touched])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._new_columns = []
        self.touched |= touched

    def _shape(self, names: tuple[str, ...]) -> int:
        found = self._shapes.get(names)
        if found is None:
            text = _ENCODER.encode(list(names)).decode()
            self._conn.execute("INSERT OR IGNORE INTO shapes (names) VALUES (?)", (text,))
            (found,) = self._conn.execute(
                "SELECT id FROM shapes WHERE names = ?", (text,)
            ).fetchone()
            self._shapes[names] = found
        return found

    def _count_copies(self, staged: list[tuple[Any, ...]]) -> None:
        """Duplicates per gateway and day, for compare: rows whose stored copy came from
        another object."""
        by_day: dict[tuple[str, str], int] = {}
        for item in staged:
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

    def _ready(self) -> None:
        """Everything staged written, and the (timestamp, id) order indexed."""
        self.flush()
        if not self._indexed:
            self._conn.execute(_ORDER_INDEX)
            self._indexed = True

    # -- reading back ----------------------------------------------------------------------

    def gateways(self) -> list[str]:
        self._ready()
        return [r[0] for r in self._conn.execute("SELECT DISTINCT gateway FROM rows ORDER BY 1")]

    def columns(self, gateway: str) -> list[str]:
        """The old rows' columns in the order the sensor's table had them (first seen)."""
        self._ready()
        return [
            r[0]
            for r in self._conn.execute(
                "SELECT name FROM columns WHERE gateway = ? ORDER BY position", (gateway,)
            )
        ]

    def generations(self, gateway: str) -> list[Generation]:
        self._ready()
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

    def add_landed(
        self, gateway: str, epoch: int, rows: list[tuple[int, str, str]], name: str = ""
    ) -> None:
        """Rows of one landed raw file ``name`` (a row landed twice keeps its first epoch).
        Landed files are never rewritten (create-only), so a file is read once."""
        conn = self._conn
        conn.execute("BEGIN")
        try:
            conn.executemany(
                "INSERT OR IGNORE INTO landed VALUES (?, ?, ?, ?, ?)",
                [(gateway, i, ts, sensor, epoch) for i, ts, sensor in rows],
            )
            if name:
                conn.execute("INSERT OR IGNORE INTO zone_files VALUES (?, ?)", (name, gateway))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
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

    def to_land(
        self, gen: Generation, columns: list[str], *, upto: int | None = None
    ) -> Iterator[list[Any]]:
        """The generation's rows the zone lacks (ids up to ``upto``), in id order, each as
        its values in ``columns``' order (None where a row has no such column)."""
        where, args = self._where(gen, "r.")
        extra, more = ("AND r.id <= ?", (upto,)) if upto is not None else ("", ())
        wanted = tuple(columns)
        names = {shape_id: names for names, shape_id in self._shapes.items()}
        decode = _DECODER.decode
        for shape, body in self._conn.execute(
            f"SELECT r.shape, r.body {self._JOIN} WHERE {where} AND l.epoch IS NULL {extra} "
            "ORDER BY r.id",
            (*args, *more),
        ):
            values = decode(body)
            if names[shape] != wanted:  # a row with other columns than the rest
                row = dict(zip(names[shape], values, strict=True))
                values = [row.get(n) for n in wanted]
            yield values

    def per_day(self, gateway: str) -> dict[str, int]:
        self._ready()
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
