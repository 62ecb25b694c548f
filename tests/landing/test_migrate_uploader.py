"""The old uploader's re-enactment: its query, its object layout and its state file, as
the reference describes them (moto's S3 stands in for the bucket)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sensorlake.landing.migrate.uploader import (
    INITIAL_TIMESTAMP,
    VERSION,
    OldUploader,
    state_file_path,
)
from sensorlake.landing.simulate import simulate_bulk

from .conftest import FIXED_START, moto_client

pytestmark = pytest.mark.usefixtures("fake_credentials")


@pytest.fixture
def old_bucket(moto_endpoint: str) -> tuple[Any, str]:
    """A fresh bucket of the old uploader's in moto, and a client for it."""
    client = moto_client(moto_endpoint)
    name = f"old-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    return client, name


KEY = re.compile(r"^\d{8}_\d{6}_[0-9a-f]{8}\.json$")


def bodies(client: Any, bucket: str, keys: list[str]) -> list[Any]:
    return [json.loads(client.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys]


def test_each_batch_is_one_object_at_the_root_and_the_state_follows(
    tmp_path: Path, old_bucket: tuple[Any, str]
) -> None:
    client, bucket = old_bucket
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 25, seed=1, start=datetime.fromisoformat(FIXED_START))
    up = OldUploader(db, tmp_path / "state", client, bucket, node_id="gw-7", batch_size=10)
    assert up.state()["last_timestamp"] == INITIAL_TIMESTAMP  # no state file yet
    assert up.run_until_caught_up() == 25 and up.cycle() == 0
    assert len(up.keys) == 3 and all(KEY.match(k) for k in up.keys)
    batches = bodies(client, bucket, up.keys)
    assert [len(b) for b in batches] == [10, 10, 5]
    stamps = [r["timestamp"] for b in batches for r in b]
    assert stamps == sorted(stamps) and len({r["id"] for b in batches for r in b}) == 25
    meta = client.head_object(Bucket=bucket, Key=up.keys[0])["Metadata"]
    assert meta["node-id"] == "gw-7" and meta["record-count"] == "10"
    assert meta["uploader-version"] == VERSION
    assert meta["data-end-time"] == batches[0][-1]["timestamp"]
    state = json.loads(state_file_path(tmp_path / "state").read_text())
    assert state["last_timestamp"] == stamps[-1] and state["records_uploaded"] == 25
    assert up.batch_ends == [b[-1]["timestamp"] for b in batches]


def test_a_retry_after_a_crash_uploads_the_same_batch_under_a_new_key(
    tmp_path: Path, old_bucket: tuple[Any, str]
) -> None:
    client, bucket = old_bucket
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 5, seed=2, start=datetime.fromisoformat(FIXED_START))
    up = OldUploader(db, tmp_path / "state", client, bucket, node_id="gw-1")
    up.cycle()
    again = up.retry_duplicate()
    assert again != up.keys[0] and KEY.match(again)
    first, second = bodies(client, bucket, [up.keys[0], again])
    assert first == second and len(first) == 5


def test_the_older_wrapped_layout(tmp_path: Path, old_bucket: tuple[Any, str]) -> None:
    client, bucket = old_bucket
    when = datetime(2026, 3, 1, 23, 57, 8, tzinfo=UTC)
    up = OldUploader(
        tmp_path / "s.db", tmp_path / "state", client, bucket, node_id="n", clock=lambda: when
    )
    rows = [{"id": 1, "timestamp": "2026-03-01T23:57:07.000+00:00", "sensor_id": "s"}]
    key = up.put_wrapped(rows)
    assert key == "ingestion/2026/03/01/235708/data.json"
    (body,) = bodies(client, bucket, [key])
    assert body["records"] == rows and body["metadata"]["record_count"] == 1
    assert client.head_object(Bucket=bucket, Key=key)["Metadata"] == {}
