"""Read-only, WAL-friendly access to the sensor's SQLite database.

The sensor keeps writing while we read, and may delete and recreate its database on
restart. We open the file read-only (``mode=ro``), never write to it, read incrementally by
row id inside one read transaction (a consistent WAL snapshot), and retry "busy"/"locked"
with backoff. :meth:`Source.snapshot` also reports what is needed to notice a reset: the
file's identity, the highest id, and an anchor fingerprint of the row at the watermark.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import SourceError

__all__ = [
    "LANDING_COLUMNS",
    "TABLE",
    "ReadRows",
    "Snapshot",
    "Source",
    "SourceChanged",
    "base64_text",
    "verify_unchanged",
]

TABLE = "sensor_readings"


class SourceChanged(SourceError):
    """The database was replaced mid-batch; the batch is dropped and read again."""


# Without these a row cannot be identified, partitioned or attributed at all.
LANDING_COLUMNS = ("id", "timestamp", "sensor_id")
T = TypeVar("T")
# Worth waiting for: another connection holds a lock (SQLITE_BUSY, SQLITE_LOCKED), or the
# sensor is recreating its file (SQLITE_IOERR). A damaged file (SQLITE_CORRUPT,
# SQLITE_NOTADB) stays damaged: it fails at once, not after the whole busy timeout.
_RETRYABLE_CODES = frozenset({5, 6, 10})
_RETRYABLE_WORDS = ("locked", "busy", "disk i/o error")
# What Python's sqlite3 says when a TEXT value is not UTF-8 (it has no error code).
_NOT_UTF8 = "could not decode to utf-8"


class _NotUtf8(bytes):
    """A TEXT value that is not UTF-8, as its bytes (see :meth:`Source._fetch`)."""


def _lenient_text(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _NotUtf8(data)


class ReadRows(list[tuple[Any, ...]]):
    """Rows as read. ``not_utf8`` maps a row's position to ``{column: original bytes}`` for
    TEXT values that are not UTF-8: in the row such a value is its text decoded with
    U+FFFD for the bad bytes (JSON cannot carry the bytes); the bytes travel beside it."""

    not_utf8: dict[int, dict[str, bytes]]
    duplicates: int  # rows left out because their id repeats the row before (see rows_between)

    def __init__(self, rows: list[tuple[Any, ...]] = ()) -> None:  # type: ignore[assignment]
        super().__init__(rows)
        self.not_utf8 = {}
        self.duplicates = 0


def base64_text(data: bytes) -> str:
    """How original bytes are kept in a landed record (standard base64, with padding)."""
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Snapshot:
    columns: tuple[str, ...]
    max_id: int
    identity: str
    # Rows whose id is NULL or not an integer (only a table without an INTEGER PRIMARY KEY
    # id has them), or not above 0: they cannot be read incrementally, so they never land.
    rows_without_id: int = 0


class Source:
    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._sleep = sleep
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self.columns: tuple[str, ...] = ()
        self.opened_identity = ""
        # Whether ``id`` is the table's INTEGER PRIMARY KEY (the rowid): then it is never
        # NULL, always an integer and unique, and nothing needs checking.
        self.ids_trusted = True
        self._has_rowid = True

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        if not self.path.exists():
            raise SourceError(
                f"sensor database {self.path} does not exist",
                hint="check --db-path / SENSOR_DB_PATH, or create a sample one with "
                "`sensorlake simulate`",
            )
        if self.path.is_dir():
            raise SourceError(f"{self.path} is a directory", hint="point --db-path at the .db file")
        uri = f"file:{self.path.resolve()}?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5.0)
            self._conn.execute("PRAGMA query_only = ON")
            self.columns = self._retry(self._table_columns)
            self._retry(self._inspect_ids)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise self._translate(exc) from exc
        self.opened_identity = self.identity()
        missing = [c for c in LANDING_COLUMNS if c not in self.columns]
        if missing:
            self.close()
            raise SourceError(
                f"table {TABLE} in {self.path} lacks required column(s) {', '.join(missing)}",
                hint="point --db-path at the sensor's database (it writes id, timestamp, sensor_id)",
            )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identity(self) -> str:
        """Device and inode: a recreated database file gets a new one."""
        st = os.stat(self.path)
        return f"{st.st_dev}:{st.st_ino}"

    # -- reading -------------------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """One read transaction: everything read inside sees the same database state.

        If the file at our path is no longer the one we opened (the sensor deleted and
        recreated it), reopen first, so the snapshot is of the database that is there now.
        """
        try:
            replaced = self.identity() != self.opened_identity
        except FileNotFoundError:
            replaced = False  # mid-recreation: keep the old snapshot; next cycle sees the new one
        if replaced:
            self.close()
            self.open()
        conn = self._connection()

        def begin() -> Snapshot:
            conn.execute("BEGIN")
            try:
                # Ids read are above 0 (the first watermark): a row at 0 or below (only an
                # explicit insert makes one) is as unusable as a NULL one, and counted.
                if self.ids_trusted:
                    max_id, unusable = conn.execute(
                        f"SELECT COALESCE(MAX(id), 0), (SELECT COUNT(*) FROM {TABLE} WHERE id <= 0)"
                        f" FROM {TABLE}"
                    ).fetchone()
                else:
                    max_id, unusable = conn.execute(
                        "SELECT COALESCE(MAX(CASE WHEN typeof(id) = 'integer' THEN id END), 0),"
                        f" COUNT(*) - COUNT(CASE WHEN typeof(id) = 'integer' AND id > 0 THEN 1 END)"
                        f" FROM {TABLE}"
                    ).fetchone()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return Snapshot(self.columns, int(max_id), self.identity(), int(unusable))

        try:
            snap = self._retry(begin)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc
        except FileNotFoundError as exc:
            raise SourceError(
                f"sensor database {self.path} disappeared", hint="rerun once the sensor is back"
            ) from exc
        try:
            yield snap
        finally:
            if conn.in_transaction:
                try:
                    conn.execute("COMMIT")  # a read transaction: ending it cannot lose anything
                except sqlite3.DatabaseError:
                    with suppress(sqlite3.DatabaseError):
                        conn.execute("ROLLBACK")

    def anchor(self, row_id: int) -> str | None:
        """A fingerprint of the row at ``row_id``: if it changes, the database was replaced.

        Only the timestamp and sensor id count, so a tool that touches other columns (the
        sensor's ``synced`` flag, say) is not mistaken for a reset.
        """
        if row_id <= 0:
            return None
        order = "" if self.ids_trusted or not self._has_rowid else " ORDER BY rowid LIMIT 1"
        rows = self._fetch(
            f"SELECT timestamp, sensor_id FROM {TABLE} WHERE id = ?{order}", (row_id,)
        )
        if not rows:
            return None
        return hashlib.sha256(repr(tuple(rows[0])).encode()).hexdigest()[:32]

    def first_id_after(self, after: int) -> int | None:
        """The smallest usable id above ``after`` (None: none), where the next batch starts:
        a gap in the ids (a sensor that renumbered, rows deleted) is jumped, not walked one
        empty batch at a time (an index lookup on the primary key)."""
        where = "" if self.ids_trusted else " AND typeof(id) = 'integer'"
        rows = self._fetch(f"SELECT MIN(id) FROM {TABLE} WHERE id > ?{where}", (after,))
        value = rows[0][0] if rows else None
        return None if value is None else int(value)

    def rows_between(self, after: int, upto: int) -> list[tuple[Any, ...]]:
        """Rows with ``after < id <= upto`` in id order (one segment of a batch)."""
        columns = ", ".join(f'"{c}"' for c in self.columns)
        if self.ids_trusted:
            sql = f"SELECT {columns} FROM {TABLE} WHERE id > ? AND id <= ? ORDER BY id"
            return self._fetch(sql, (after, upto))
        # A table without its primary key: only integer ids, and of rows sharing an id the
        # first (in rowid order) lands; the others are counted, never landed twice.
        order = "id, rowid" if self._has_rowid else "id"
        sql = (
            f"SELECT {columns} FROM {TABLE} WHERE typeof(id) = 'integer' AND id > ? AND id <= ?"
            f" ORDER BY {order}"
        )
        rows = self._fetch(sql, (after, upto))
        index = self.columns.index("id")
        unique = ReadRows()
        previous = None
        for position, row in enumerate(rows):
            if row[index] == previous:
                unique.duplicates += 1
                continue
            previous = row[index]
            if position in rows.not_utf8:
                unique.not_utf8[len(unique)] = rows.not_utf8[position]
            unique.append(row)
        return unique

    # -- internals -----------------------------------------------------------------------

    def _fetch(self, sql: str, args: tuple[Any, ...]) -> ReadRows:
        """Every row of a query. A TEXT value that is not UTF-8 must not stop the gateway:
        then the query runs again with a lenient decoder, and such values come back as text
        with U+FFFD replacements, their bytes in :attr:`ReadRows.not_utf8` (rare: the fast
        path decodes in C)."""
        conn = self._connection()
        try:
            return ReadRows(self._retry(lambda: conn.execute(sql, args).fetchall()))
        except sqlite3.OperationalError as exc:
            if _NOT_UTF8 not in str(exc).lower():
                raise self._translate(exc) from exc
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc
        conn.text_factory = _lenient_text
        try:
            cursor = self._retry(lambda: conn.execute(sql, args))
            fetched = self._retry(cursor.fetchall)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc
        finally:
            conn.text_factory = str
        names = [d[0] for d in cursor.description or ()]
        rows = ReadRows()
        for row in fetched:
            if any(v.__class__ is _NotUtf8 for v in row):
                fixed = list(row)
                bad: dict[str, bytes] = {}
                for i, value in enumerate(row):
                    if value.__class__ is _NotUtf8:
                        bad[names[i]] = bytes(value)
                        fixed[i] = bytes(value).decode("utf-8", errors="replace")
                rows.not_utf8[len(rows)] = bad
                row = tuple(fixed)
            rows.append(row)
        return rows

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("Source is not open")
        return self._conn

    def _inspect_ids(self) -> None:
        conn = self._connection()
        info = conn.execute(f"PRAGMA table_info({TABLE})").fetchall()
        keys = [(r[1], str(r[2]).upper()) for r in info if r[5]]
        try:
            conn.execute(f"SELECT rowid FROM {TABLE} LIMIT 0").fetchall()
            self._has_rowid = True
        except sqlite3.OperationalError:
            self._has_rowid = False  # WITHOUT ROWID
        self.ids_trusted = keys == [("id", "INTEGER")] and self._has_rowid

    def _table_columns(self) -> tuple[str, ...]:
        conn = self._connection()
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        info = conn.execute(f"PRAGMA table_info({TABLE})").fetchall()
        if not info:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            raise SourceError(
                f"{self.path} has no table {TABLE} (tables: {', '.join(tables) or 'none'})",
                hint="point --db-path at the sensor's database",
            )
        return tuple(r[1] for r in info)

    def _retry(self, fn: Callable[[], T]) -> T:
        delay = 0.05
        deadline = self._clock() + self.busy_timeout
        while True:
            try:
                return fn()
            except sqlite3.DatabaseError as exc:
                if not _retryable(exc) or self._clock() >= deadline:
                    raise
                self._sleep(delay)
                delay = min(delay * 2, 2.0)

    def _translate(self, exc: sqlite3.DatabaseError) -> SourceError:
        message = str(exc).lower()
        if "locked" in message or "busy" in message:
            return SourceError(
                f"sensor database {self.path} stayed locked for {self.busy_timeout:.0f} s",
                hint="check which process holds it (the sensor should use WAL mode); rerun later",
            )
        if "not a database" in message or "malformed" in message or "encrypted" in message:
            return SourceError(
                f"sensor database {self.path} is corrupt or not SQLite ({exc})",
                hint="restore it or let the sensor recreate it; already landed rows are safe",
            )
        if "unable to open" in message:
            return SourceError(
                f"cannot open sensor database {self.path} read-only ({exc})",
                hint="check file and directory permissions (WAL readers need the -shm file)",
            )
        return SourceError(
            f"error reading sensor database {self.path}: {exc}",
            hint="rerun; if it persists check the file",
        )


def _retryable(exc: sqlite3.DatabaseError) -> bool:
    """Busy or locked (or the file being recreated): worth waiting for. Corrupt or not a
    database: not."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _RETRYABLE_CODES  # the primary code of an extended one
    message = str(exc).lower()
    return any(word in message for word in _RETRYABLE_WORDS)


def verify_unchanged(source: Source, after: int, last_row: int) -> None:
    """Worker processes read the file by path: make sure it is still the database that
    ``source``'s snapshot sees (a reset between their reads would mix two databases)."""
    if last_row <= after:
        return
    fresh = Source(source.path, busy_timeout=source.busy_timeout)
    try:
        fresh.open()
        same = fresh.identity() == source.opened_identity
        same = same and fresh.anchor(last_row) == source.anchor(last_row)
    except SourceError:
        same = False
    finally:
        fresh.close()
    if not same:
        raise SourceChanged(
            f"sensor database {source.path} was replaced while landing",
            hint="rerun: the next run starts a new epoch for the new database",
        )
