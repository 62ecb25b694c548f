"""The gateway state directory's layout, and its ``runs`` table: written once, for everyone.

Landing writes the state (its SQLite database, its lock, the spool); dashboards read the
stored run summaries and count the spool's ready files. Both take every path from
:class:`GatewayStateLayout`, and the ``runs`` table's DDL, insert and select live here
together, so the table and its readers cannot drift apart::

    <state_dir>/landing-state.db          the state database (position, files, runs)
    <state_dir>/landing.lock              one lander per state directory
    <state_dir>/spool/tmp/                files being written or open
    <state_dir>/spool/ready/<bucket>/<key>  complete files waiting to ship
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .summary import RunRecord, RunSummary

__all__ = [
    "LOCK_NAME",
    "RUNS_DDL",
    "SPOOL_DIR_NAME",
    "STATE_DB_NAME",
    "GatewayStateLayout",
    "SpoolLayout",
    "insert_run",
    "read_runs",
]

# The gateway's state database and lock file inside the state directory.
STATE_DB_NAME: Final = "landing-state.db"
LOCK_NAME: Final = "landing.lock"
SPOOL_DIR_NAME: Final = "spool"
_TMP, _READY = "tmp", "ready"

# One row per landing run: its summary as JSON (contract.summary.RunSummary).
RUNS_DDL: Final = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    summary TEXT NOT NULL
);
"""
_INSERT_RUN: Final = "INSERT INTO runs (started_at, finished_at, summary) VALUES (?, ?, ?)"
_SELECT_RUNS: Final = (
    "SELECT run_id, started_at, finished_at, summary FROM runs ORDER BY run_id DESC LIMIT ?"
)


@dataclass(frozen=True)
class SpoolLayout:
    """The spool's folders: a file's state is the folder it sits in (see landing.spool)."""

    root: Path

    @property
    def tmp(self) -> Path:
        return Path(self.root) / _TMP

    @property
    def ready(self) -> Path:
        return Path(self.root) / _READY

    def ready_path(self, bucket: str, key: str) -> Path:
        """Where a complete file for ``bucket``/``key`` waits to ship."""
        return self.ready / bucket / key

    def bucket_key(self, path: Path) -> tuple[str, str] | None:
        """The ``(bucket, key)`` of a ready file (None: not below ``ready/<bucket>/``)."""
        try:
            relative = Path(path).relative_to(self.ready).as_posix()
        except ValueError:
            return None
        bucket, _, key = relative.partition("/")
        return (bucket, key) if bucket and key else None


@dataclass(frozen=True)
class GatewayStateLayout:
    """Where a gateway keeps its state, from the state directory alone."""

    state_dir: Path

    @property
    def db(self) -> Path:
        return Path(self.state_dir) / STATE_DB_NAME

    @property
    def lock(self) -> Path:
        return Path(self.state_dir) / LOCK_NAME

    @property
    def spool(self) -> SpoolLayout:
        return SpoolLayout(Path(self.state_dir) / SPOOL_DIR_NAME)


def insert_run(conn: sqlite3.Connection, started_at: str, finished_at: str, summary: str) -> None:
    """Store one run (``summary``: :meth:`RunSummary.as_dict` as JSON) on ``conn``, inside
    the caller's transaction."""
    conn.execute(_INSERT_RUN, (started_at, finished_at, summary))


def read_runs(state_dir: Path, limit: int = 100) -> list[RunRecord]:
    """The newest ``limit`` runs of a gateway, newest first ([] when it never ran).

    Opened read-only, so a running lander is never blocked or changed.
    """
    path = GatewayStateLayout(Path(state_dir)).db
    if not path.exists():
        return []
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(_SELECT_RUNS, (limit,)).fetchall()
    finally:
        conn.close()
    return [
        RunRecord(run_id, started, finished, RunSummary.from_dict(json.loads(text)))
        for run_id, started, finished, text in rows
    ]
