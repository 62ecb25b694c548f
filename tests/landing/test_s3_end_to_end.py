"""End to end over HTTP: the real ``sensorlake`` console script against a moto server.

The CLI runs as a subprocess with ``AWS_ENDPOINT_URL`` pointing at a ``ThreadedMotoServer``,
so the configuration, the boto3 client, signing, the wire format and the exit codes are the
ones a gateway uses. Each test makes its own buckets, so tests do not share S3 state.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.landing.simulate import simulate_bulk

from .conftest import SENSORLAKE, child_env, make_buckets, moto_client, s3_env, source_ids

pytestmark = pytest.mark.s3_access

ROWS = 2_000
START = datetime.fromisoformat("2026-03-01T23:55:00+00:00")  # 2,000 rows run past midnight
GATEWAY = "gw-e2e"


@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    return moto_endpoint


@pytest.fixture
def closed_endpoint() -> str:
    """An address where nothing listens: connection refused, at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def s3(endpoint: str) -> Any:
    return moto_client(endpoint)


@pytest.fixture
def buckets(s3: Any) -> dict[str, str]:
    return make_buckets(s3, "sl-e2e")


@pytest.fixture
def sample_db(tmp_path: Path) -> Path:
    path = tmp_path / "sensor_data.db"
    simulate_bulk(path, ROWS, seed=11, start=START)
    return path


def _env(tmp_path: Path, endpoint: str, buckets: dict[str, str]) -> dict[str, str]:
    # COLUMNS: so rich does not fold the validate table's details
    return child_env(HOME=str(tmp_path), COLUMNS="250", **s3_env(endpoint, buckets))


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SENSORLAKE, *args], env=env, capture_output=True, text=True, timeout=120)


def _land(env: dict[str, str], db: Path, state: Path) -> subprocess.CompletedProcess[str]:
    return _run(
        env,
        "land",
        "--db-path",
        str(db),
        "--state-dir",
        str(state),
        "--gateway-id",
        GATEWAY,
        "--json",
    )


def _objects(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """key -> {"body", "sha256" (metadata), "etag"} for every object in a bucket."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=item["Key"])
            out[item["Key"]] = {
                "body": got["Body"].read(),
                "sha256": got["Metadata"].get("sha256"),
                "etag": got["ETag"],
            }
    return out


def _assert_raw_exactly_once(s3: Any, buckets: dict[str, str], db: Path) -> None:
    raw = _objects(s3, buckets["raw"])
    assert raw, "nothing landed in raw"
    row_ids: list[int] = []
    for key, obj in raw.items():
        parsed = LandingKey.parse(key)
        assert (parsed.target, parsed.gateway) == ("raw", GATEWAY)
        records = [json.loads(line) for line in gzip.decompress(obj["body"]).splitlines()]
        ids = [r["_lineage"]["row_id"] for r in records]
        assert (min(ids), max(ids)) == (parsed.first_row, parsed.last_row), key
        row_ids.extend(ids)
    assert sorted(row_ids) == source_ids(db), "every source row in raw exactly once"


def _assert_objects_explain_themselves(s3: Any, buckets: dict[str, str]) -> int:
    count = 0
    for bucket in buckets.values():
        for key, obj in _objects(s3, bucket).items():
            LandingKey.parse(key)
            assert obj["sha256"] == hashlib.sha256(obj["body"]).hexdigest(), key
            count += 1
    return count


def _spooled(state: Path) -> list[Path]:
    ready = state / "spool" / "ready"
    return sorted(p for p in ready.rglob("*") if p.is_file()) if ready.exists() else []


def test_land_then_validate_over_http(
    tmp_path: Path, endpoint: str, buckets: dict[str, str], s3: Any, sample_db: Path
) -> None:
    env = _env(tmp_path, endpoint, buckets)
    state = tmp_path / "state"

    first = _land(env, sample_db, state)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["destination"] == "s3"
    assert summary["rows_read"] == ROWS
    _assert_raw_exactly_once(s3, buckets, sample_db)
    landed = _assert_objects_explain_themselves(s3, buckets)
    assert landed == sum(t["shipped_files"] for t in summary["targets"].values())
    dates = {LandingKey.parse(k).date for k in _objects(s3, buckets["raw"])}
    assert dates == {"2026-03-01", "2026-03-02"}, "readings across midnight UTC split by date"
    assert _spooled(state) == []
    before = {b: {k: o["etag"] for k, o in _objects(s3, b).items()} for b in buckets.values()}

    second = _land(env, sample_db, state)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["rows_read"] == 0
    assert all(t["shipped_files"] == 0 for t in again["targets"].values())
    after = {b: {k: o["etag"] for k, o in _objects(s3, b).items()} for b in buckets.values()}
    assert after == before, "a second run lands nothing new"

    validate = _run(env, "validate", "--json")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    report = json.loads(validate.stdout)
    assert report["ok"] is True
    assert {e["bucket"] for e in report["buckets"]} == set(buckets.values())
    assert report["identity"]["account"] == "123456789012"


def test_validate_over_http_fails_with_exit_4_for_a_missing_bucket(
    tmp_path: Path, endpoint: str, buckets: dict[str, str], s3: Any
) -> None:
    s3.delete_bucket(Bucket=buckets["emergency"])
    result = _run(_env(tmp_path, endpoint, buckets), "validate")
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"bucket {buckets['emergency']} does not exist" in " ".join(result.stdout.split())


def test_dead_network_spools_then_ships_when_back(
    tmp_path: Path,
    endpoint: str,
    closed_endpoint: str,
    buckets: dict[str, str],
    s3: Any,
    sample_db: Path,
) -> None:
    state = tmp_path / "state"

    offline = _land(_env(tmp_path, closed_endpoint, buckets), sample_db, state)
    assert offline.returncode == 75, offline.stderr
    assert "cannot reach S3" in offline.stdout + offline.stderr
    assert _spooled(state), "landed files wait in the spool"
    assert all(not _objects(s3, b) for b in buckets.values())

    online = _land(_env(tmp_path, endpoint, buckets), sample_db, state)
    assert online.returncode == 0, online.stderr
    assert json.loads(online.stdout)["rows_read"] == 0, "the rows were read in the offline run"
    assert _spooled(state) == []
    _assert_raw_exactly_once(s3, buckets, sample_db)
    _assert_objects_explain_themselves(s3, buckets)
