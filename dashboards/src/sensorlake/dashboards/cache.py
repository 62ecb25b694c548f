"""What the monitor learned about the landing zone, kept across restarts in a small SQLite file.

A restart then costs what arrived while the monitor was down, not a new listing of every
bucket and one HEAD per object (hours at fleet scale). The file holds, per landed object,
its size, time, ETag and record count (NULL: not counted yet), and for the local lake the
directories' modification times. It is only a cache: the landing zone is the truth.

* ``PRAGMA user_version`` is :data:`SCHEMA_VERSION`; a file of another version is rebuilt.
* ``namespace`` says what it describes (the buckets and endpoint, or the lake directory);
  a cache of another landing zone is rebuilt.
* A file SQLite cannot read (corrupt, truncated, not a database), or any SQLite error
  while it is in use, makes the monitor log one line and start again from an empty file:
  never a crash. When even that fails (a read-only directory), it runs without a cache.

Default place: ``<state dir>/monitor/cache.sqlite`` (``SENSORLAKE_MONITOR_CACHE``).
Readers write on their refresh thread only; the connection is guarded by a lock anyway.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

__all__ = ["SCHEMA_VERSION", "CachedObject", "MonitorCache"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE objects (
    location TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, modified REAL NOT NULL,
    etag TEXT NOT NULL, records INTEGER, bad TEXT, PRIMARY KEY (location, key)
) WITHOUT ROWID;
CREATE TABLE dirs (path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL) WITHOUT ROWID;
"""


class CachedObject(NamedTuple):
    location: str  # the bucket, or the bucket role's directory in the local lake
    key: str
    size: int
    modified: float
    etag: str  # S3's ETag; the local lake's "<mtime_ns>:<size>"
    records: int | None  # None: not counted yet
    bad: str | None  # why its metadata was refused (it was counted another way)


class MonitorCache:
    """The cache file, or nothing (``path`` None, or a file that cannot be made)."""

    def __init__(self, path: Path | None, namespace: str) -> None:
        self.path = Path(path) if path is not None else None
        self.namespace = namespace
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        # Set when the file was (re)built empty, so the reader knows it starts from nothing.
        self.rebuilt = False
        self.busy = False
        if self.path is not None:
            self._open()

    @property
    def enabled(self) -> bool:
        return self._db is not None

    # -- opening and recovering ------------------------------------------------------------

    def _open(self) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=2
            )
            try:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version == 0 and not _tables(db):
                    self._db = self._create(db)
                    return
                if version != SCHEMA_VERSION:
                    reason = f"version {version}, this monitor writes {SCHEMA_VERSION}"
                else:
                    row = db.execute("SELECT value FROM meta WHERE name = 'namespace'").fetchone()
                    if row is None or row[0] != self.namespace:
                        reason = "it describes another landing zone"
                    else:
                        db.execute("SELECT count(*) FROM objects").fetchone()
                        self._db = db
                        return
            except sqlite3.DatabaseError:
                db.close()
                raise
            db.close()
            self._rebuild(reason)
        except sqlite3.DatabaseError as exc:
            self._rebuild(f"unreadable: {exc}")
        except OSError as exc:
            log.warning("monitor cache %s cannot be used (%s): running without it", self.path, exc)

    def _rebuild(self, reason: str) -> None:
        """Start again from an empty file (one log line); without a cache if even that fails."""
        assert self.path is not None
        log.warning("monitor cache %s %s: rebuilding it from the landing zone", self.path, reason)
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        try:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._db = self._create(
                sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=2)
            )
        except (OSError, sqlite3.Error) as exc:
            log.warning("monitor cache %s cannot be made (%s): running without it", self.path, exc)
            self._db = None

    def _create(self, db: sqlite3.Connection) -> sqlite3.Connection:
        db.executescript(_SCHEMA)
        db.execute("INSERT INTO meta VALUES ('namespace', ?)", (self.namespace,))
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.rebuilt = True
        return db

    def _run(self, what: str, fn) -> object:  # type: ignore[no-untyped-def]
        """Run ``fn(db)`` in one transaction; an SQLite error rebuilds the file (and returns
        None): the caller then has an empty cache and writes what it knows again."""
        with self._lock:
            if self._db is None:
                return None
            try:
                self._db.execute("BEGIN")
                try:
                    out = fn(self._db)
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                return out
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    # Another monitor or `status` is writing: skip, this is only a cache.
                    log.info("monitor cache %s busy while %s: skipped", self.path, what)
                    self.busy = True
                    return None
                self._rebuild(f"failed while {what} ({exc})")
                return None
            except sqlite3.Error as exc:
                self._rebuild(f"failed while {what} ({exc})")
                return None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- reading and writing ---------------------------------------------------------------

    def objects(self) -> list[CachedObject]:
        rows = self._run(
            "reading objects",
            lambda db: db.execute(
                "SELECT location, key, size, modified, etag, records, bad FROM objects"
                " ORDER BY location, key"
            ).fetchall(),
        )
        return [CachedObject(*row) for row in rows or ()]  # type: ignore[attr-defined]

    def dirs(self) -> dict[str, int]:
        rows = self._run(
            "reading directories",
            lambda db: db.execute("SELECT path, mtime_ns FROM dirs").fetchall(),
        )
        return dict(rows or ())  # type: ignore[arg-type]

    def get(self, name: str) -> str | None:
        row = self._run(
            "reading",
            lambda db: db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone(),
        )
        return row[0] if row else None  # type: ignore[index]

    def write(
        self,
        *,
        put: Iterable[CachedObject] = (),
        delete: Iterable[tuple[str, str]] = (),
        dirs: Iterable[tuple[str, int]] = (),
        drop_dirs: Iterable[str] = (),
        meta: Iterable[tuple[str, str]] = (),
    ) -> bool:
        """One transaction of changes; False when the cache was rebuilt (write it all again).
        Without a cache there is nothing to write (True)."""
        if self._db is None:
            return True
        put, delete, dirs, drop_dirs, meta = (
            list(put),
            list(delete),
            list(dirs),
            list(drop_dirs),
            list(meta),
        )
        if not (put or delete or dirs or drop_dirs or meta):
            return True

        def go(db: sqlite3.Connection) -> bool:
            db.executemany("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)", put)
            db.executemany("DELETE FROM objects WHERE location = ? AND key = ?", delete)
            db.executemany("INSERT OR REPLACE INTO dirs VALUES (?, ?)", dirs)
            db.executemany("DELETE FROM dirs WHERE path = ?", [(d,) for d in drop_dirs])
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            return True

        self.busy = False
        return bool(self._run("writing", go)) or self.busy

    def clear(self) -> None:
        """Forget everything (a stale cache), keeping the file."""

        def go(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM objects")
            db.execute("DELETE FROM dirs")
            db.execute("DELETE FROM meta WHERE name != 'namespace'")

        self._run("clearing", go)


def _tables(db: sqlite3.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
