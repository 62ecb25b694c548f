"""The gateway's own state: one small SQLite file, never the sensor's database.

It records, transactionally, the source position (epoch, watermark, anchor) together with
the files that hold the rows up to that position. The watermark only moves in the same
transaction that records a batch's spooled files (Kafka Connect's "offsets move only after
files commit"), so after any crash the state and the spool agree on what was accepted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sensorlake.contract.lake import STATE_DB_NAME

from .errors import LocalStorageError
from .spool import SpoolFile, storage_error

__all__ = ["FileRecord", "SourcePosition", "State"]

SCHEMA_VERSION = 1
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
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    summary TEXT NOT NULL
);
"""
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
class FileRecord:
    bucket: str
    key: str
    target: str
    path: Path
    sha256: str
    size: int
    records: int
    epoch: int
    first_row: int
    last_row: int
    rules_version: str
    status: str
    attempts: int


class State:
    """Open with :meth:`open`; every write is one transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, state_dir: Path) -> State:
        path = state_dir / STATE_DB_NAME
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except sqlite3.DatabaseError as exc:
            raise LocalStorageError(
                f"landing state {path} is unusable ({exc})",
                hint="check the disk; if the file is corrupt, move it away only after every "
                "spooled file has shipped",
            ) from exc
        except OSError as exc:
            raise storage_error(exc, state_dir) from exc
        return cls(conn, path)

    @classmethod
    def peek(cls, state_dir: Path) -> State | None:
        """Open read-only for --dry-run and reports; None when there is no state yet."""
        path = state_dir / STATE_DB_NAME
        if not path.exists():
            return None
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

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
        row = self._conn.execute(
            "SELECT epoch, watermark, anchor, db_identity FROM position WHERE id = 1"
        ).fetchone()
        return SourcePosition(*row) if row else None

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
        files: Iterable[SpoolFile],
        *,
        epoch: int,
        watermark: int,
        anchor: str,
        rules_version: str,
    ) -> None:
        """Record a batch's spooled files and move the watermark, atomically."""
        now = _now()
        with self._tx() as tx:
            tx.executemany(
                "INSERT INTO files (bucket, key, target, spool_path, sha256, size, records, epoch,"
                " first_row, last_row, rules_version, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                [
                    (
                        f.bucket,
                        f.key,
                        f.target,
                        str(f.path),
                        f.sha256,
                        f.size,
                        f.records,
                        f.epoch,
                        f.first_row,
                        f.last_row,
                        rules_version,
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

    def _files(self, where: str, args: tuple[object, ...] = ()) -> list[FileRecord]:
        rows = self._conn.execute(
            "SELECT bucket, key, target, spool_path, sha256, size, records, epoch, first_row,"
            f" last_row, rules_version, status, attempts FROM files WHERE {where}",
            args,
        ).fetchall()
        return [FileRecord(r[0], r[1], r[2], Path(r[3]), *r[4:]) for r in rows]

    def pending(self) -> list[FileRecord]:
        return self._files(f"status = 'pending' ORDER BY {_SHIP_ORDER}")

    def conflicts(self) -> list[FileRecord]:
        return self._files("status = 'conflict' ORDER BY key")

    def spooled_paths(self) -> list[Path]:
        """Files that must stay in the spool: not yet shipped, or kept for review."""
        return [f.path for f in self._files("status IN ('pending', 'conflict')")]

    def spooled_bytes(self) -> int:
        row = self._conn.execute(
            "SELECT COALESCE(SUM(size), 0) FROM files WHERE status IN ('pending', 'conflict')"
        ).fetchone()
        return int(row[0])

    def mark_shipped(self, bucket: str, key: str) -> None:
        with self._tx() as tx:
            tx.execute(
                "UPDATE files SET status = 'shipped', shipped_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE bucket = ? AND key = ?",
                (_now(), bucket, key),
            )

    def mark_failed(self, bucket: str, key: str, error: str, *, conflict: bool = False) -> None:
        with self._tx() as tx:
            tx.execute(
                "UPDATE files SET attempts = attempts + 1, last_error = ?,"
                " status = CASE WHEN ? THEN 'conflict' ELSE status END WHERE bucket = ? AND key = ?",
                (error[:500], conflict, bucket, key),
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
            tx.execute(
                "INSERT INTO runs (started_at, finished_at, summary) VALUES (?, ?, ?)",
                (started_at, _now(), summary_json),
            )
