"""The old uploader's state file, and the new lander's position: cut over and roll back.

The old uploader keeps ``<state_dir>/s3-uploader/upload_state.json`` with a timestamp
watermark, ``last_timestamp``: the newest reading of its last uploaded batch. It reads
``WHERE timestamp > last_timestamp`` (a text comparison), so it can never tell apart rows
that share a timestamp. The new lander keeps a row id watermark. The mapping, exactly:

**Cut-over** (``sensorlake land --start-after-uploader-state PATH``, first run only). With
T = ``last_timestamp`` written as the sensor writes timestamps (UTC, milliseconds,
``+00:00``; finer digits are cut, which can only move T earlier), the lander starts after

    W = (smallest id whose timestamp >= T) - 1        (every id, if there is none)

so every row stamped T or later lands: rows that share T with the old uploader's last row
land even though some of them may be in its last object (it cut its batch with ``LIMIT``
inside a run of equal timestamps, and never reads the rest). Those are the only rows in
both places; ``migrate backfill`` and ``migrate compare`` recognise them as the same rows
(same id, timestamp and sensor id), so the new zone holds each once.

**Rollback** (``sensorlake migrate rollback-state --to PATH``). With W the lander's
watermark, the state file gets T' = the newest timestamp among rows up to W, so a
restarted old uploader reads exactly the rows after W, provided no row after W is stamped
T' or earlier. When one is (W splits a run of equal timestamps), no timestamp can say
"after W", and the rollback refuses (exit 75) rather than skip or repeat rows: one more
``sensorlake land`` moves W to the newest row, then it succeeds. The file is written
atomically (temporary file, fsync, rename). Rows still waiting in the lander's spool are
landed (the state has them) but not yet shipped; the rollback says how many files.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import LandingConfig
from ..errors import ConfigError, SourceError, TransientError, storage_error
from ..row_checks import utc_timestamp
from ..source import Source
from ..spool import fsync_dir
from ..state import State
from .uploader import INITIAL_TIMESTAMP, state_file_path

__all__ = [
    "TABLE",
    "CutOver",
    "Rollback",
    "read_uploader_state",
    "rollback_state",
    "sensor_form",
    "start_after_uploader_state",
    "watermark_for",
]

TABLE = "sensor_readings"


def _file(path: Path) -> Path:
    """The state file itself, or the one inside an old uploader's state directory."""
    path = Path(path)
    return state_file_path(path) if path.is_dir() else path


def read_uploader_state(path: Path) -> dict[str, Any]:
    target = _file(path)
    hint = (
        "point it at the old uploader's upload_state.json (or its state directory); it writes "
        "the file non-atomically, so if it is damaged restore it from a backup"
    )
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no old uploader state file at {target}", hint=hint) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {target} ({exc.strerror})", hint=hint) from None
    try:
        state = json.loads(text)
    except ValueError:
        raise ConfigError(f"{target} is not valid JSON (truncated?)", hint=hint) from None
    if not isinstance(state, dict):
        raise ConfigError(f"{target} is not a JSON object", hint=hint)
    ts = state.get("last_timestamp") or state.get("last_upload")
    if not isinstance(ts, str) or utc_timestamp(ts) is None:
        raise ConfigError(
            f"{target} has no usable last_timestamp ({ts!r})",
            hint="it must hold the timestamp of the last uploaded reading, e.g. "
            "2026-03-01T23:57:08.123+00:00",
        )
    return state


def sensor_form(ts: str) -> str:
    """A timestamp as the sensor writes it (UTC, milliseconds, ``+00:00``)."""
    full = utc_timestamp(ts)
    if full is None:
        raise ValueError(f"not a timestamp: {ts!r}")
    return full[:-1] + "+00:00"


def _ro(db_path: Path) -> sqlite3.Connection:
    if not Path(db_path).exists():
        raise SourceError(
            f"sensor database {db_path} does not exist", hint="check --db-path / SENSOR_DB_PATH"
        )
    try:
        return sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True, timeout=30)
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"cannot open {db_path} read-only ({exc})", hint="check it") from exc


def watermark_for(db_path: Path, last_timestamp: str) -> int:
    """W for a cut-over: the lander starts at the first row stamped ``last_timestamp`` or
    later (see the module docstring)."""
    at = sensor_form(last_timestamp)
    conn = _ro(db_path)
    try:
        first = conn.execute(f"SELECT MIN(id) FROM {TABLE} WHERE timestamp >= ?", (at,))
        row = first.fetchone()
        if row[0] is not None:
            return int(row[0]) - 1
        return int(conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {TABLE}").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"cannot read {db_path} ({exc})", hint="check --db-path") from exc
    finally:
        conn.close()


@dataclass(frozen=True)
class CutOver:
    applied: bool
    epoch: int
    watermark: int
    last_timestamp: str
    message: str


def start_after_uploader_state(config: LandingConfig, path: Path, *, dry_run: bool) -> CutOver:
    """Seed a gateway's first run from the old uploader's state file (nothing if the
    lander already has a position: the option only ever decides where the first run
    starts)."""
    state = read_uploader_state(path)
    last = state.get("last_timestamp") or state.get("last_upload")
    current = State.read_position(config.state_dir)
    if current is not None:
        return CutOver(
            False,
            current.epoch,
            current.watermark,
            last,
            f"already landing on this gateway (epoch {current.epoch}, row {current.watermark}): "
            "--start-after-uploader-state only sets where the first run starts; ignored",
        )
    watermark = watermark_for(config.db_path, last)
    if dry_run:
        return CutOver(
            False,
            1,
            watermark,
            last,
            f"would start after row {watermark} (old uploader's last_timestamp {last})",
        )
    source = Source(config.db_path, busy_timeout=config.limits.busy_timeout_seconds)
    with source:
        anchor = source.anchor(watermark)
        identity = source.identity()
    opened = State.open(config.state_dir)
    try:
        if opened.position() is not None:  # another run got there first
            position = opened.position()
            assert position is not None
            return CutOver(False, position.epoch, position.watermark, last, "already landing")
        first = opened.start_epoch(
            reason=f"cut over from the old uploader (last_timestamp {last})",
            db_path=str(config.db_path),
            db_identity=identity,
            previous=None,
        )
        opened.commit_batch([], epoch=first.epoch, watermark=watermark, anchor=anchor)
    finally:
        opened.close()
    return CutOver(
        True,
        first.epoch,
        watermark,
        last,
        f"cut over from the old uploader: its last_timestamp {last} -> starting after row "
        f"{watermark} (rows stamped {sensor_form(last)} or later land)",
    )


@dataclass(frozen=True)
class Rollback:
    path: str
    epoch: int
    watermark: int
    last_timestamp: str
    spooled_files: int
    state: dict[str, Any]


def rollback_state(state_dir: Path, db_path: Path, to: Path, *, dry_run: bool = False) -> Rollback:
    """Write the old uploader's state file from the lander's position (see the module)."""
    target = _file(to)
    if State.read_position(state_dir) is None:
        raise ConfigError(
            f"the lander in {state_dir} has never run: there is nothing to roll back",
            hint="check --state-dir; otherwise restart the old uploader with its own state file",
        )
    opened = State.open(state_dir)  # the lock: no lander may move the position meanwhile
    try:
        position = opened.position()
        totals = opened.totals()
    finally:
        opened.close()
    if position is None:
        raise ConfigError(
            f"the lander in {state_dir} has never run: there is nothing to roll back",
            hint="restart the old uploader with its own state file as it is",
        )
    spooled = sum(t.get("pending_files", 0) + t.get("conflict_files", 0) for t in totals.values())
    source = Source(db_path, busy_timeout=60)
    with source:
        same = source.anchor(position.watermark) == position.anchor
    conn = _ro(db_path)
    try:
        max_id = int(conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {TABLE}").fetchone()[0])
        if not same or max_id < position.watermark:
            last = INITIAL_TIMESTAMP  # a new database: the lander has none of its rows
        else:
            newest = conn.execute(
                f"SELECT MAX(timestamp) FROM {TABLE} WHERE id <= ?", (position.watermark,)
            ).fetchone()[0]
            last = newest or INITIAL_TIMESTAMP
            split = conn.execute(
                f"SELECT COUNT(*) FROM {TABLE} WHERE id > ? AND timestamp <= ?",
                (position.watermark, last),
            ).fetchone()[0]
            if split:
                raise TransientError(
                    f"the lander stopped at row {position.watermark} inside a run of equal "
                    f"timestamps ({split} later row(s) are stamped {last} or earlier): the old "
                    "uploader cannot resume between them",
                    hint="run `sensorlake land` once more (it lands up to the newest row), "
                    "then rollback-state again",
                )
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"cannot read {db_path} ({exc})", hint="check --db-path") from exc
    finally:
        conn.close()
    previous: dict[str, Any] = {}
    try:
        previous = json.loads(target.read_text(encoding="utf-8"))
        if not isinstance(previous, dict):
            previous = {}
    except (OSError, ValueError):
        previous = {}
    state = {
        **previous,
        "last_timestamp": last,
        "last_upload": last,
        "records_uploaded": int(previous.get("records_uploaded") or 0),
        "last_pipeline_type": previous.get("last_pipeline_type") or "raw",
        "last_job_id": f"sensorlake-rollback-{position.epoch}-{position.watermark}",
    }
    if not dry_run:
        _write_atomically(target, json.dumps(state, indent=2) + "\n")
    return Rollback(str(target), position.epoch, position.watermark, last, spooled, state)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise storage_error(exc, path) from exc
