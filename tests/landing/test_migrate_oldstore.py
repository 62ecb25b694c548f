"""The old uploader's bucket: URLs, listing with ETags, reads in key order, unreadable
objects reported by key, and a rerun that reads only what is new."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.errors import ExitCode
from sensorlake.landing.errors import ConfigError, LandingError
from sensorlake.landing.migrate.history import History
from sensorlake.landing.migrate.oldstore import OldBucket, load_history, parse_s3_url

from .conftest import moto_client

pytestmark = pytest.mark.usefixtures("fake_credentials")


@pytest.fixture
def old_bucket(moto_endpoint: str) -> tuple[Any, str]:
    """A fresh bucket of the old uploader's in moto, and a client for it."""
    client = moto_client(moto_endpoint)
    name = f"old-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    return client, name


ROWS = [{"id": 1, "timestamp": "2026-03-01T00:00:00.000+00:00", "sensor_id": "CHI_000001"}]
META = {"node-id": "gw-1", "record-count": "1", "pipeline-type": "raw"}


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("s3://old-bucket", ("old-bucket", "")),
        ("s3://old-bucket/", ("old-bucket", "")),
        ("s3://old.bucket-1/some/prefix", ("old.bucket-1", "some/prefix/")),
    ],
)
def test_an_s3_url_is_a_bucket_and_a_prefix(url: str, parsed: tuple[str, str]) -> None:
    assert parse_s3_url(url) == parsed


@pytest.mark.parametrize("url", ["", "old-bucket", "https://old-bucket/x", "s3://UPPER"])
def test_anything_else_is_one_usage_line_naming_the_option(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_s3_url(url, option="--from")
    assert err.value.exit_code == ExitCode.USAGE
    assert str(err.value).startswith(f"--from {url!r}") and "\n" not in str(err.value)


def put(client: Any, bucket: str, key: str, rows: list[dict[str, Any]] = ROWS) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(rows).encode(), Metadata=META)


def test_reads_come_back_in_the_order_asked_and_a_missing_key_is_reported(
    old_bucket: tuple[Any, str],
) -> None:
    client, bucket = old_bucket
    keys = [f"20260301_0000{i:02d}_0000000{i % 10}.json" for i in range(12)]
    for key in keys:
        put(client, bucket, key)
    reader = OldBucket(bucket, threads=3, connect=lambda: client)
    listing = reader.listing()
    assert [k for k, _ in listing] == keys and all(etag for _, etag in listing)
    fetched = list(reader.fetch([*reversed(keys), "gone.json"]))
    assert [f.key for f in fetched] == [*reversed(keys), "gone.json"]
    assert all(json.loads(f.body or b"") == ROWS for f in fetched[:-1])
    assert fetched[0].metadata["node-id"] == "gw-1"
    assert fetched[-1].body is None and "skipped" in (fetched[-1].error or "")


def test_a_missing_bucket_is_one_error_line_not_a_skip(old_bucket: tuple[Any, str]) -> None:
    client, bucket = old_bucket
    reader = OldBucket(f"{bucket}-nope", connect=lambda: client)
    with pytest.raises(LandingError) as err:
        reader.keys()
    assert err.value.exit_code == ExitCode.DESTINATION
    assert "does not exist" in str(err.value) and "\n" not in str(err.value)


def test_a_rerun_that_remembers_reads_only_new_or_changed_objects(
    tmp_path: Path, old_bucket: tuple[Any, str]
) -> None:
    client, bucket = old_bucket
    put(client, bucket, "a.json")
    client.put_object(Bucket=bucket, Key="b.json", Body=b"not json", Metadata=META)
    reader = OldBucket(bucket, connect=lambda: client)
    history = History(tmp_path / "h.sqlite")
    try:
        first = load_history(reader, history, remember=True)
        assert (first.listed, first.read, first.skipped) == (2, 1, 0)
        assert [b["key"] for b in first.bad_objects] == ["b.json"]
        put(client, bucket, "c.json", [{**ROWS[0], "id": 2}])
        second = load_history(reader, history, remember=True)
        assert (second.listed, second.read, second.skipped) == (3, 1, 1)  # b.json read again
        assert history.per_day("gw-1") == {"2026-03-01": 2}
    finally:
        history.close()
