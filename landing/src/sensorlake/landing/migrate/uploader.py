"""The old uploader, re-enacted from the reference (``original-system.md`` §2 and §4).

Used to rehearse a migration and by the tests and benchmarks: the old uploader itself is
not part of this project, so this is its way of reading and writing, step for step:

- its own connection to the sensor database (read-only), and every cycle
  ``SELECT * FROM sensor_readings WHERE timestamp > ? ORDER BY timestamp LIMIT N``
  (a text comparison; ``N`` = ``max_batch_size``, 500);
- one object per batch at the bucket root, ``YYYYMMDD_HHMMSS_<8hex>.json``, body one line
  of JSON (the row dicts, unchanged), lineage in user metadata;
- the state file ``<state_dir>/s3-uploader/upload_state.json`` (``last_timestamp``, ...),
  written after a successful put, non-atomically, as the original did;
- :meth:`OldUploader.retry_duplicate`: the crash-after-put retry that uploads the same batch
  again under a new key; :meth:`OldUploader.put_wrapped`: the older ``{metadata, records}``
  body under ``ingestion/YYYY/MM/DD/HHMMSS/data.json``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["INITIAL_TIMESTAMP", "VERSION", "OldUploader", "state_file_path"]

INITIAL_TIMESTAMP = "1970-01-01T00:00:00"
VERSION = "0.8.1"


def state_file_path(state_dir: Path) -> Path:
    return Path(state_dir) / "s3-uploader" / "upload_state.json"


class OldUploader:
    def __init__(
        self,
        db_path: Path,
        state_dir: Path,
        client: Any,
        bucket: str,
        *,
        node_id: str,
        batch_size: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retries: int = 10,
    ) -> None:
        self.db_path = Path(db_path)
        self.state_path = state_file_path(state_dir)
        self.client = client
        self.bucket = bucket
        self.node_id = node_id
        self.batch_size = batch_size
        self.clock = clock
        self.retries = retries
        self.last_batch: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.batch_ends: list[str] = []  # each batch's watermark, in order

    # -- state ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {"last_timestamp": INITIAL_TIMESTAMP, "records_uploaded": 0}

    def _save(self, rows: list[dict[str, Any]], job_id: str) -> None:
        state = self.state()
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(  # not atomic, like the original
            json.dumps(
                {
                    "last_timestamp": rows[-1]["timestamp"],
                    "last_upload": rows[-1]["timestamp"],
                    "records_uploaded": int(state.get("records_uploaded", 0)) + len(rows),
                    "last_pipeline_type": "raw",
                    "last_job_id": job_id,
                }
            )
        )

    # -- one cycle ------------------------------------------------------------------------

    def read_batch(self, after: str) -> list[dict[str, Any]]:
        """The old query, on its own read-only connection, retried on "locked"."""
        for attempt in range(self.retries):
            try:
                conn = sqlite3.connect(f"file:{self.db_path.resolve()}?mode=ro", uri=True)
                try:
                    conn.row_factory = sqlite3.Row
                    rows = conn.execute(
                        "SELECT * FROM sensor_readings WHERE timestamp > ? "
                        "ORDER BY timestamp LIMIT ?",
                        (after, self.batch_size),
                    ).fetchall()
                    return [dict(r) for r in rows]
                finally:
                    conn.close()
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if attempt + 1 == self.retries or not any(
                    w in text for w in ("locked", "malformed", "disk i/o")
                ):
                    raise
                time.sleep(0.1 * (attempt + 1))
        return []

    def cycle(self) -> int:
        """Read one batch after the watermark and upload it; returns its rows."""
        rows = self.read_batch(str(self.state().get("last_timestamp") or INITIAL_TIMESTAMP))
        if not rows:
            return 0
        job_id = self._put(rows)
        self._save(rows, job_id)
        self.last_batch = rows
        self.batch_ends.append(str(rows[-1]["timestamp"]))
        return len(rows)

    def run_until_caught_up(self) -> int:
        total = 0
        while n := self.cycle():
            total += n
        return total

    def run(self, stop: threading.Event, interval: float = 15.0) -> int:
        """Its loop: one batch every ``interval`` seconds (``upload_interval``) until ``stop``."""
        total = 0
        while not stop.is_set():
            total += self.cycle()
            stop.wait(interval)
        return total

    def retry_duplicate(self) -> str:
        """The same batch again under a new key (a retry after a crash past the put)."""
        self._put(self.last_batch)
        return self.keys[-1]

    def _put(self, rows: list[dict[str, Any]]) -> str:
        now = self.clock()
        key = f"{now:%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:8]}.json"
        job_id = f"uploader-{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(rows).encode(),
            ContentType="application/json",
            Metadata={
                "job-id": job_id,
                "node-id": self.node_id,
                "pipeline-type": "raw",
                "record-count": str(len(rows)),
                "upload-timestamp": now.isoformat(),
                "data-start-time": str(rows[0]["timestamp"]),
                "data-end-time": str(rows[-1]["timestamp"]),
                "uploader-version": VERSION,
            },
        )
        self.keys.append(key)
        return job_id

    def put_wrapped(self, rows: list[dict[str, Any]]) -> str:
        """The older layout (46c2f087's ``_upload_to_s3``): ``{metadata, records}`` under a
        dated path, its metadata the database path, table, time and count (no node id)."""
        now = self.clock()
        key = f"ingestion/{now:%Y/%m/%d/%H%M%S}/data.json"
        body = {
            "metadata": {
                "source": str(self.db_path),
                "table": "sensor_readings",
                "timestamp": now.isoformat(),
                "record_count": len(rows),
            },
            "records": rows,
        }
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(body).encode(),
            ContentType="application/json",
        )
        self.keys.append(key)
        return key
