"""Shared helpers for the landing tests, each written once: simulated sensor databases,
configs, source ids, landed files, buckets, the no-credentials environment of a child
process, a moto server, and reading what landed (local lake or buckets)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.pipelines import BUCKET_ENV, LANDING_ROLES
from sensorlake.landing.config import LandingConfig, load_config
from sensorlake.landing.failpoints import Failpoints
from sensorlake.landing.files import LandedFile
from sensorlake.landing.rules import Rules, load_rules
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.landing.state import State

FIXED_START = "2026-03-01T23:55:00+00:00"
SENSORLAKE = str(Path(sys.executable).parent / "sensorlake")
KEY = LandingKey("raw", "2026-03-01", "gw-test", 1, 1, 10)
# The variables a child process must not inherit from the developer's shell.
_PRIVATE = ("SENSORLAKE_", "S3_BUCKET_", "AWS_", "SENSOR_DB_PATH")


@pytest.fixture(scope="session")
def rules() -> Rules:
    return load_rules()


@pytest.fixture
def sensor_db(tmp_path: Path) -> Path:
    """A 3,000-row simulated database spanning midnight UTC (two date partitions)."""
    path = tmp_path / "sensor_data.db"
    simulate_bulk(path, 3_000, seed=42, start=datetime.fromisoformat(FIXED_START))
    return path


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials moto accepts; the real chain is switched off in tests/conftest.py."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not even a container or web-identity credential source (tests/conftest.py removes
    the rest of the chain)."""
    for name in (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    """A gateway state in its first epoch, closed after the test."""
    opened = State.open(tmp_path / "state")
    opened.start_epoch(reason="first run", db_path="db", db_identity="1:2", previous=None)
    yield opened
    opened.close()


class Killed(Exception):
    """Stands in for SIGKILL at a failpoint, so a test can look at what was left."""


class Dying(Failpoints):
    """Failpoints that raise :class:`Killed` instead of killing the test process."""

    def hit(self, name: str) -> None:
        if self.armed(name):
            raise Killed(name)


def sensor_table(db: Path, columns: str, rows: list[tuple[Any, ...]]) -> None:
    """A ``sensor_readings`` table of the given columns (``id`` is added), with rows."""
    names = [c.split()[0] for c in columns.split(",")]
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE sensor_readings (id INTEGER PRIMARY KEY, {columns})")
        conn.executemany(
            f"INSERT INTO sensor_readings ({', '.join(names)}) VALUES "
            f"({', '.join('?' for _ in names)})",
            rows,
        )


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., LandingConfig]:
    """A local-lake config under tmp_path; keyword overrides go to load_config."""

    def make(db_path: Path, **overrides: Any) -> LandingConfig:
        options: dict[str, Any] = {
            "env": {},
            "db_path": db_path,
            "state_dir": tmp_path / "state",
            "gateway_id": "gw-test",
            "lake_dir": tmp_path / "lake",
        }
        options.update(overrides)
        return load_config(**options)

    return make


def source_ids(db: Path) -> list[int]:
    """Every row id in a sensor database, in order (read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM sensor_readings ORDER BY id")]
    finally:
        conn.close()


def landed_file(
    folder: Path,
    data: bytes,
    *,
    key: LandingKey = KEY,
    bucket: str = "sl-test-raw",
    content: str | None = None,
    name: str | None = None,
) -> LandedFile:
    """A spooled file holding ``data`` (content checksum: ``content`` or the bytes' own)."""
    path = folder / (name or hashlib.sha1(data).hexdigest())
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return LandedFile(key, bucket, path, len(data), sha, content or sha, 10, "2026.11.2")


def land_args(tmp_path: Path, db: Path, *extra: str, gateway: str = "gw-cli") -> list[str]:
    """``sensorlake land`` over ``db`` into a lake and state under ``tmp_path``."""
    return [
        "land",
        *extra,
        "--db-path",
        str(db),
        "--state-dir",
        str(tmp_path / "state"),
        "--lake-dir",
        str(tmp_path / "lake"),
        "--gateway-id",
        gateway,
    ]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child ``sensorlake``: no credentials, buckets or landing
    settings from the developer's shell, no AWS config files, no instance metadata."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE)}
    env.update(
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def s3_env(endpoint: str, buckets: Mapping[str, str]) -> dict[str, str]:
    """What a gateway landing into (moto's) S3 sets: credentials, region, endpoint, buckets."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    env.update({BUCKET_ENV[role]: name for role, name in buckets.items()})
    return env


def moto_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def make_buckets(client: Any, prefix: str = "sl") -> dict[str, str]:
    """Fresh buckets, one per landing role, so tests never share S3 state."""
    run = uuid.uuid4().hex[:8]
    buckets = {role: f"{prefix}-{run}-{role}" for role in LANDING_ROLES}
    for name in buckets.values():
        client.create_bucket(Bucket=name)
    return buckets


def bucket_files(client: Any, buckets: Mapping[str, str]) -> dict[str, bytes]:
    """``<role>/<key>`` -> bytes of every object in the buckets: the local lake's layout."""
    out = {}
    for role, bucket in buckets.items():
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                out[f"{role}/{item['Key']}"] = body
    return dict(sorted(out.items()))


def records_by_target(files: Mapping[str, bytes]) -> dict[str, list[dict[str, Any]]]:
    """Every record of ``<role>/<key>`` -> bytes, by target."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rel, data in sorted(files.items()):
        target = rel.split("/")[1]
        # NDJSON lines end at "\n" only: str.splitlines would also cut at U+2028 or \x85
        # inside a JSON string
        lines = gzip.decompress(data).decode().split("\n")
        out.setdefault(target, []).extend(json.loads(line) for line in lines if line)
    return out


def lake_files(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every landed object under a local lake."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.ndjson.gz"))}


def read_lake(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every record in a local lake, by target."""
    return records_by_target(lake_files(root))
