"""The gateway's own state: one small SQLite file, never the sensor's database.

It records, transactionally, the source position (epoch, watermark, anchor) together with
the files that hold the rows up to that position: closed ones (pending until shipped) and
open ones still accumulating, each with the size it had at that commit. The watermark only
moves in the same transaction that records a batch's spooled files (Kafka Connect's
"offsets move only after files commit"), so after any crash the state and the spool agree
on what was accepted.
Opening it takes the state directory's lock: one lander per state, or two would race on
the watermark.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from msgspec.structs import astuple

from sensorlake.contract.gateway_state import LOCK_NAME, RUNS_DDL, GatewayStateLayout, insert_run
from sensorlake.contract.keys import LandingKey

from .encode import AssemblerProgress
from .errors import LocalStorageError, storage_error
from .files import LandedFile, OpenFile

__all__ = ["LOCK_NAME", "SCHEMA_VERSION", "SourcePosition", "State", "StrandedFile"]

SCHEMA_VERSION = 3  # 2: files.content_sha256; 3: open_files
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS position (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL,
    watermark INTEGER NOT NULL,
    anchor TEXT,
    db_path TEXT,
    db_identity TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS epochs (
    epoch INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    previous_watermark INTEGER,
    db_path TEXT,
    db_identity TEXT
);
CREATE TABLE IF NOT EXISTS files (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    target TEXT NOT NULL,
    spool_path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content_sha256 TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL,
    records INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    first_row INTEGER NOT NULL,
    last_row INTEGER NOT NULL,
    rules_version TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'shipped', 'conflict')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    shipped_at TEXT,
    PRIMARY KEY (bucket, key)
);
CREATE INDEX IF NOT EXISTS files_status ON files (status);
CREATE TABLE IF NOT EXISTS open_files (
    spool_path TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    rules_version TEXT NOT NULL,
    opened_at REAL NOT NULL,
    size INTEGER NOT NULL,
    crc INTEGER NOT NULL,
    raw_size INTEGER NOT NULL,
    records INTEGER NOT NULL,
    digests BLOB NOT NULL
);
"""
_SCHEMA += RUNS_DDL  # the runs table is the contract's: dashboards read it (gateway_state)
# Emergency first, then arrival order: alarms never wait behind a backlog.
_SHIP_ORDER = "CASE target WHEN 'emergency' THEN 0 ELSE 1 END, epoch, first_row, target"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class SourcePosition:
    epoch: int
    watermark: int
    anchor: str | None
    db_identity: str | None


@dataclass(frozen=True)
class StrandedFile:
    """A spooled file the state records under a key that is not a landing key (an older
    lander accepted a gateway id such as ``"gw1\\n"``): it cannot ship, and it is kept."""

    key: str
    path: Path
    records: int
    open: bool  # still accumulating (a continuous run's open file)

    @property
    def problem(self) -> str:
        try:
            LandingKey.parse(self.key)
        except ValueError as exc:
            return str(exc)
        return ""


def _parses(key: str) -> bool:
    try:
        LandingKey.parse(key)
    except ValueError:
        return False
    return True


class State:
    """Open with :meth:`open` (which locks the state directory); every write is one transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: TextIO | None = None) -> None:
        self._conn = conn
        self._lock = lock
        self.path = path

    @classmethod
    def open(cls, state_dir: Path) -> State:
        lock = _lock(state_dir)
        path = GatewayStateLayout(state_dir).db
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            _migrate(conn)
        except sqlite3.DatabaseError as exc:
            lock.close()
            raise LocalStorageError(
                f"landing state {path} is unusable ({exc})",
                hint="check the disk; if the file is corrupt, move it away only after every "
                "spooled file has shipped",
            ) from exc
        except OSError as exc:
            lock.close()
            raise storage_error(exc, state_dir) from exc
        return cls(conn, path, lock)

    @staticmethod
    def read_position(state_dir: Path) -> SourcePosition | None:
        """The position a state directory holds, read-only (None when it never ran)."""
        path = GatewayStateLayout(state_dir).db
        if not path.exists():
            return None
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        try:
            return _read_position(conn)
        finally:
            conn.close()

    @staticmethod
    def read_open_files(state_dir: Path) -> list[OpenFile]:
        """The open files a state directory records, read-only ([] when it never ran)."""
        path = GatewayStateLayout(state_dir).db
        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        try:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE name = 'open_files'")
            return _read_open_files(conn) if tables.fetchone() else []
        finally:
            conn.close()

    def adopt(self, position: SourcePosition | None) -> None:
        """Start from another state's position (a dry run's throw-away state)."""
        if position is None:
            return
        with self._tx() as tx:
            tx.execute(
                "INSERT INTO epochs VALUES (?, ?, 'adopted', NULL, NULL, ?)",
                (position.epoch, _now(), position.db_identity),
            )
            tx.execute(
                "INSERT OR REPLACE INTO position VALUES (1, ?, ?, ?, NULL, ?, ?)",
                (position.epoch, position.watermark, position.anchor, position.db_identity, _now()),
            )

    def close(self) -> None:
        self._conn.close()
        if self._lock is not None:
            self._lock.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "full" in str(exc).lower():
                raise LocalStorageError(
                    f"disk full while updating {self.path}",
                    hint="free space; nothing accepted is lost and the next run resumes",
                ) from exc
            raise

    # -- source position ---------------------------------------------------------------

    def position(self) -> SourcePosition | None:
        return _read_position(self._conn)

    def start_epoch(
        self, *, reason: str, db_path: str, db_identity: str, previous: SourcePosition | None
    ) -> SourcePosition:
        epoch = (previous.epoch + 1) if previous else 1
        with self._tx() as tx:
            tx.execute(
                "INSERT INTO epochs VALUES (?, ?, ?, ?, ?, ?)",
                (
                    epoch,
                    _now(),
                    reason,
                    previous.watermark if previous else None,
                    db_path,
                    db_identity,
                ),
            )
            tx.execute(
                "INSERT OR REPLACE INTO position VALUES (1, ?, 0, NULL, ?, ?, ?)",
                (epoch, db_path, db_identity, _now()),
            )
        return SourcePosition(epoch, 0, None, db_identity)

    def note_identity(self, db_path: str, db_identity: str) -> None:
        with self._tx() as tx:
            tx.execute(
                "UPDATE position SET db_path = ?, db_identity = ?, updated_at = ? WHERE id = 1",
                (db_path, db_identity, _now()),
            )

    def commit_batch(
        self,
        files: Iterable[LandedFile],
        *,
        epoch: int,
        watermark: int,
        anchor: str | None,
        open_files: Iterable[OpenFile] = (),
    ) -> None:
        """Record a batch's closed files and the files still open (replacing the previous
        open set), and move the watermark, atomically."""
        now = _now()
        with self._tx() as tx:
            # an open file under a key that cannot be read back stays recorded (stranded)
            keep = [
                path
                for path, key in tx.execute("SELECT spool_path, key FROM open_files")
                if not _parses(key)
            ]
            tx.execute(
                f"DELETE FROM open_files WHERE spool_path NOT IN ({', '.join('?' * len(keep))})",
                keep,
            )
            tx.executemany(
                "INSERT INTO open_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        str(f.path),
                        f.key.format(),
                        f.rules_version,
                        f.opened_at,
                        *astuple(f.progress),
                    )
                    for f in open_files
                ],
            )
            tx.executemany(
                "INSERT INTO files (bucket, key, target, spool_path, sha256, content_sha256, size,"
                " records, epoch, first_row, last_row, rules_version, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                [
                    (
                        f.bucket,
                        f.name,
                        f.target,
                        str(f.path),
                        f.sha256,
                        f.content_sha256,
                        f.size,
                        f.records,
                        f.key.epoch,
                        f.key.first_row,
                        f.key.last_row,
                        f.rules_version,
                        now,
                    )
                    for f in files
                ],
            )
            updated = tx.execute(
                "UPDATE position SET watermark = ?, anchor = ?, updated_at = ? WHERE id = 1 AND epoch = ?",
                (watermark, anchor, now, epoch),
            ).rowcount
            if updated != 1:
                raise RuntimeError(f"state position is not at epoch {epoch}")

    # -- files ---------------------------------------------------------------------------

    def _files(self, where: str, args: tuple[object, ...] = ()) -> list[LandedFile]:
        rows = self._conn.execute(
            "SELECT bucket, key, spool_path, size, sha256, content_sha256, records, rules_version"
            f" FROM files WHERE {where}",
            args,
        ).fetchall()
        return [
            LandedFile(LandingKey.parse(key), bucket, Path(path), *rest)
            for bucket, key, path, *rest in rows
            if _parses(key)
        ]

    def stranded(self) -> list[StrandedFile]:
        """Pending and open files whose key is not a landing key: they cannot ship, and
        :meth:`pending` and :meth:`open_files` leave them out."""
        closed = self._conn.execute(
            "SELECT key, spool_path, records FROM files WHERE status = 'pending' ORDER BY key"
        ).fetchall()
        opened = self._conn.execute(
            "SELECT key, spool_path, records FROM open_files ORDER BY key"
        ).fetchall()
        return [
            StrandedFile(key, Path(path), records, is_open)
            for is_open, rows in ((False, closed), (True, opened))
            for key, path, records in rows
            if not _parses(key)
        ]

    def forget_stranded(self, file: StrandedFile, note: str) -> None:
        """A stranded file that was taken out of the spool by hand: kept in the state as a
        conflict (with ``note``), no longer reported on every run."""
        with self._tx() as tx:
            if file.open:
                tx.execute("DELETE FROM open_files WHERE spool_path = ?", (str(file.path),))
            else:
                tx.execute(
                    "UPDATE files SET status = 'conflict', last_error = ? WHERE key = ?"
                    " AND spool_path = ?",
                    (note[:500], file.key, str(file.path)),
                )

    def pending(self) -> list[LandedFile]:
        return self._files(f"status = 'pending' ORDER BY {_SHIP_ORDER}")

    def conflicts(self) -> list[LandedFile]:
        return self._files("status = 'conflict' ORDER BY key")

    def spooled_paths(self) -> list[Path]:
        """Files that must stay in the spool: not yet shipped, kept for review, or open."""
        rows = self._conn.execute(
            "SELECT spool_path FROM files WHERE status IN ('pending', 'conflict')"
            " UNION ALL SELECT spool_path FROM open_files"
        ).fetchall()
        return [Path(path) for (path,) in rows]

    def open_files(self) -> list[OpenFile]:
        """The files accumulating as of the last commit, oldest first."""
        return _read_open_files(self._conn)

    def spooled_bytes(self) -> int:
        row = self._conn.execute(
            "SELECT COALESCE(SUM(size), 0) FROM files WHERE status IN ('pending', 'conflict')"
        ).fetchone()
        return int(row[0])

    def mark_shipped(self, file: LandedFile) -> None:
        with self._tx() as tx:
            tx.execute(
                "UPDATE files SET status = 'shipped', shipped_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE bucket = ? AND key = ?",
                (_now(), file.bucket, file.name),
            )

    def mark_failed(self, file: LandedFile, error: str, *, conflict: bool = False) -> None:
        with self._tx() as tx:
            tx.execute(
                "UPDATE files SET attempts = attempts + 1, last_error = ?,"
                " status = CASE WHEN ? THEN 'conflict' ELSE status END WHERE bucket = ? AND key = ?",
                (error[:500], conflict, file.bucket, file.name),
            )

    def totals(self) -> dict[str, dict[str, int]]:
        """Per target: files and records by status, for reports."""
        out: dict[str, dict[str, int]] = {}
        for target, status, files, records, size in self._conn.execute(
            "SELECT target, status, COUNT(*), SUM(records), SUM(size) FROM files GROUP BY target, status"
        ):
            entry = out.setdefault(target, {})
            entry[f"{status}_files"] = files
            entry[f"{status}_records"] = records
            entry[f"{status}_bytes"] = size
        return out

    def record_run(self, started_at: str, summary_json: str) -> None:
        with self._tx() as tx:
            insert_run(tx, started_at, _now(), summary_json)


def _read_position(conn: sqlite3.Connection) -> SourcePosition | None:
    row = conn.execute(
        "SELECT epoch, watermark, anchor, db_identity FROM position WHERE id = 1"
    ).fetchone()
    return SourcePosition(*row) if row else None


def _read_open_files(conn: sqlite3.Connection) -> list[OpenFile]:
    rows = conn.execute(
        "SELECT key, rules_version, spool_path, opened_at, size, crc, raw_size, records, digests"
        " FROM open_files ORDER BY opened_at, key"
    ).fetchall()
    return [
        OpenFile(LandingKey.parse(key), rules, Path(path), opened, AssemblerProgress(*progress))
        for key, rules, path, opened, *progress in rows
        if _parses(key)
    ]


def _lock(state_dir: Path) -> TextIO:
    """One lander per state directory: a second one would race on the watermark."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(GatewayStateLayout(state_dir).lock, "a+")  # noqa: SIM115
    except OSError as exc:
        raise storage_error(exc, state_dir) from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise LocalStorageError(
            f"another sensorlake land is already running on {state_dir}",
            hint="let it finish (or stop it) before starting another; use --continuous for a loop",
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a state written by an older lander up to :data:`SCHEMA_VERSION`."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(files)")}
    if "content_sha256" not in columns:
        conn.execute("ALTER TABLE files ADD COLUMN content_sha256 TEXT NOT NULL DEFAULT ''")
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
