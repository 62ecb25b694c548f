"""The S3 backend against moto: in-process with many objects, and as a real HTTP server
(``AWS_ENDPOINT_URL``) fed by the real lander; unreachable and missing buckets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from sensorlake.contract.errors import ExitCode
from sensorlake.contract.keys import LandingKey
from sensorlake.contract.metadata import ObjectMetadata
from sensorlake.contract.pipelines import BUCKET_ENV, LANDING_ROLES, bucket_role
from sensorlake.dashboards.app import create_app
from sensorlake.dashboards.monitor import Monitor, make_readers
from sensorlake.dashboards.settings import load_settings

pytestmark = pytest.mark.dashboards

# target -> (dates, gateways, files per partition)
LAYOUT = {
    "raw": (("2026-11-24", "2026-11-25", "2026-11-26"), ("gw-a", "gw-b"), 100),
    "schematized": (("2026-11-25", "2026-11-26"), ("gw-a", "gw-b"), 100),
    "rejected": (("2026-11-26",), ("gw-a",), 50),
    "filtered": (("2026-11-26",), ("gw-a", "gw-b", "gw-c"), 100),
    "emergency": (("2026-11-26",), ("gw-a",), 150),
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def bucket_env(run: str) -> dict[str, str]:
    return {BUCKET_ENV[role]: f"sl-dash-{run}-{role}" for role in LANDING_ROLES}


def fill(client, env: dict[str, str]) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    """Put the LAYOUT's objects (with our metadata); returns expected figures per target."""
    expected: dict[str, dict[str, int]] = {}
    for role in LANDING_ROLES:
        client.create_bucket(Bucket=env[BUCKET_ENV[role]])
    for target, (dates, gateways, per) in LAYOUT.items():
        bucket = env[BUCKET_ENV[bucket_role(target)]]
        figures = expected.setdefault(target, {"objects": 0, "records": 0, "bytes": 0})
        row = 1
        for date in dates:
            for gw in gateways:
                for i in range(per):
                    n = 1 + (i % 7)
                    key = LandingKey(target, date, gw, 1, row, row + n - 1)
                    row += n
                    body = b"x" * (10 + i % 5)
                    meta = ObjectMetadata(
                        n, key.first_row, key.last_row, 1, "r1", gw, target, "0" * 64
                    )
                    client.put_object(
                        Bucket=bucket, Key=key.format(), Body=body, Metadata=meta.to_s3()
                    )
                    figures["objects"] += 1
                    figures["records"] += n
                    figures["bytes"] += len(body)
    # Not ours: ignored, and counted as unknown.
    client.put_object(Bucket=env[BUCKET_ENV["raw"]], Key="raw/README.txt", Body=b"hi")
    return expected


@pytest.fixture
def monitors() -> Iterator[list[Monitor]]:
    """Monitors made by a test, stopped after it (their HEAD pools must not outlive moto)."""
    made: list[Monitor] = []
    yield made
    for monitor in made:
        monitor.stop()


def s3_monitor(env: dict[str, str], tmp_path: Path, monitors: list[Monitor]) -> Monitor:
    # In-process moto on a busy 2-core machine lists slowly: these tests are about counting,
    # not about the time bound (test_backends.py is).
    bounds = {
        "SENSORLAKE_BACKEND_TIMEOUT_SECONDS": "300",
        "SENSORLAKE_STATUS_TIMEOUT_SECONDS": "900",
    }
    settings = load_settings(
        env={**bounds, **env, "SENSORLAKE_STATE_DIR": str(tmp_path / "no-state")}
    )
    monitor = Monitor(settings, make_readers(settings))
    monitors.append(monitor)
    return monitor


@mock_aws
def test_many_objects_counted_from_metadata_and_cached(
    aws: None, tmp_path: Path, monitors: list[Monitor]
) -> None:
    env = bucket_env(uuid.uuid4().hex[:6])
    expected = fill(boto3.client("s3", region_name="us-east-1"), env)
    monitor = s3_monitor(env, tmp_path, monitors)
    heads: list[str] = []
    monitor.readers.landing.client.meta.events.register(  # type: ignore[attr-defined]
        "provide-client-params.s3.HeadObject", lambda **kw: heads.append(kw["params"]["Key"])
    )
    first = monitor.refresh_complete()
    assert first.complete
    assert len(heads) == sum(e["objects"] for e in expected.values())
    client = TestClient(create_app(monitor, start_monitor=False))

    metrics = client.get("/api/s3-metrics").json()
    assert metrics["backend"] == "s3" and metrics["unknown_objects"] == 1
    for p in metrics["pipelines"]:
        want = expected[p["pipeline"]]
        assert (p["objects"], p["records"], p["bytes"]) == (
            want["objects"],
            want["records"],
            want["bytes"],
        )
        assert p["location"].startswith("s3://sl-dash-")
    assert metrics["rejected_records"] == expected["rejected"]["records"]

    details = client.get("/api/bucket-details/raw?limit=4").json()
    assert details["total_partitions"] == 6 and len(details["partitions"]) == 4
    assert details["partitions"][0]["date"] == "2026-11-26"
    assert {p["objects"] for p in details["partitions"]} == {100}
    assert len(details["newest_objects"]) == 20

    # Tables: S3 without Databricks settings says so, it does not fail.
    tables = client.get("/api/autoloader-tables").json()
    assert tables["status"] == "not configured" and "DATABRICKS_HOST" in tables["reason"]

    # A refresh lists again but asks only about new objects.
    heads.clear()
    s3 = boto3.client("s3", region_name="us-east-1")
    key = LandingKey("emergency", "2026-11-26", "gw-z", 2, 1, 5)
    meta = ObjectMetadata(5, 1, 5, 2, "r1", "gw-z", "emergency", "0" * 64)
    s3.put_object(
        Bucket=env[BUCKET_ENV["emergency"]], Key=key.format(), Body=b"e", Metadata=meta.to_s3()
    )
    monitor.refresh()
    assert heads == [key.format()]
    emergency = next(
        p for p in client.get("/api/s3-metrics").json()["pipelines"] if p["pipeline"] == "emergency"
    )
    assert emergency["records"] == expected["emergency"]["records"] + 5


@mock_aws
def test_a_missing_bucket_is_named(aws: None, tmp_path: Path, monitors: list[Monitor]) -> None:
    env = bucket_env(uuid.uuid4().hex[:6])
    s3 = boto3.client("s3", region_name="us-east-1")
    for role in ("raw", "schematized", "filtered"):
        s3.create_bucket(Bucket=env[BUCKET_ENV[role]])
    monitor = s3_monitor(env, tmp_path, monitors)
    monitor.refresh()
    client = TestClient(create_app(monitor, start_monitor=False))
    health = client.get("/api/health").json()
    landing = next(c for c in health["components"] if c["name"] == "landing")
    assert landing["status"] == "degraded"
    assert f"bucket {env['S3_BUCKET_EMERGENCY']} does not exist" in landing["reason"]
    metrics = {p["pipeline"]: p for p in client.get("/api/s3-metrics").json()["pipelines"]}
    assert metrics["emergency"]["error"] and metrics["raw"]["error"] is None


def test_unreachable_s3_is_a_clear_reason_not_a_stack_trace(
    aws: None, tmp_path: Path, monitors: list[Monitor]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {**bucket_env("gone"), "AWS_ENDPOINT_URL": closed}
    monitor = s3_monitor(env, tmp_path, monitors)
    monitor.refresh()
    client = TestClient(create_app(monitor, start_monitor=False))
    health = client.get("/api/health")
    assert health.status_code == 200
    landing = next(c for c in health.json()["components"] if c["name"] == "landing")
    assert landing["status"] == "unavailable"
    assert landing["reason"].startswith("unreachable since ")
    assert ": cannot reach S3 for bucket sl-dash-gone-" in landing["reason"]
    assert "Traceback" not in health.text and "testing" not in health.text
    status = client.get("/api/pipelines/status").json()
    assert {p["state"] for p in status["pipelines"]} == {"unknown"}


def test_status_over_a_real_lander_and_moto_server(
    aws: None, moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real lander (its command) ships to a moto server; ``sensorlake status --json`` (a
    subprocess, configured only by the environment) counts what landed from object metadata."""
    from sensorlake.landing.simulate import simulate_bulk

    env = {
        **bucket_env(uuid.uuid4().hex[:6]),
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": "us-east-1",
    }
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    for role in LANDING_ROLES:
        s3.create_bucket(Bucket=env[BUCKET_ENV[role]])
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 1_200, seed=4, start=datetime.now(UTC))
    sensorlake = str(Path(sys.executable).parent / "sensorlake")
    landed = subprocess.run(
        [
            sensorlake,
            "land",
            "--db-path",
            str(db),
            "--state-dir",
            str(tmp_path / "state"),
            "--gateway-id",
            "gw-s3",
            "--json",
        ],
        env={**os.environ, **env, "SENSORLAKE_WORKERS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert landed.returncode == 0, landed.stderr
    summary = json.loads(landed.stdout)

    run_env = {**os.environ, **env, "SENSORLAKE_STATE_DIR": str(tmp_path / "state")}
    run_env.pop("DATABRICKS_HOST", None)
    out = subprocess.run(
        [sensorlake, "status", "--json"],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(out.stdout)
    assert out.returncode == ExitCode.USAGE, out.stderr  # tables: Databricks is not configured
    assert report["status"] == "could not check"
    assert any("Databricks not configured" in r for r in report["reasons"])
    landing = {row["item"]: row for row in report["landing"]}
    for target in ("raw", "schematized", "filtered", "emergency"):
        records = summary["targets"][target]["records"]
        assert records > 0 and f"{records:,} records" in landing[target]["detail"]
    assert landing["gateway gw-s3"]["state"] == "ok"
    assert "testing" not in out.stdout + out.stderr


@mock_aws
def test_a_first_scan_publishes_before_every_count_is_read(
    aws: None, tmp_path: Path, monitors: list[Monitor]
) -> None:
    """A big bucket's first scan answers early, says what it is still counting, and
    completes in the background; the reconciliation waits for complete counts."""
    env = bucket_env(uuid.uuid4().hex[:6])
    s3 = boto3.client("s3", region_name="us-east-1")
    for role in LANDING_ROLES:
        s3.create_bucket(Bucket=env[BUCKET_ENV[role]])
    for i in range(60):
        key = LandingKey("raw", "2026-11-26", "gw-a", 1, 10 * i + 1, 10 * i + 10)
        meta = ObjectMetadata(10, key.first_row, key.last_row, 1, "r", "gw-a", "raw", "0" * 64)
        s3.put_object(
            Bucket=env["S3_BUCKET_RAW"], Key=key.format(), Body=b"x", Metadata=meta.to_s3()
        )
    from sensorlake.dashboards.monitor import Readers
    from sensorlake.dashboards.readers.gateway import LocalGatewayReader
    from sensorlake.dashboards.readers.warehouse import LocalWarehouseReader

    s3_only = s3_monitor(env, tmp_path, monitors)
    (tmp_path / "w").mkdir()
    tables = LocalWarehouseReader(
        tmp_path / "w", tmp_path / "c", "cat", "sch"
    )  # empty: no tables yet
    monitor = Monitor(
        s3_only.settings,
        Readers(
            s3_only.readers.landing, tables, LocalGatewayReader(tmp_path), tables_kind=tables.kind
        ),
    )
    reader = monitor.readers.landing
    reader.count_budget_seconds = 0.01  # type: ignore[attr-defined]
    reader.client.meta.events.register(  # type: ignore[attr-defined]
        "before-call.s3.HeadObject", lambda **_: time.sleep(0.05)
    )
    early = monitor.refresh()
    raw = next(p for p in early.metrics.pipelines if p.pipeline == "raw")
    assert raw.objects == 60 and raw.uncounted_objects > 0 and not early.complete
    assert raw.records == 10 * (60 - raw.uncounted_objects)
    assert early.reconciliation.summary.startswith("still reading the record counts of")
    done = monitor.refresh_complete(timeout=60)
    raw = next(p for p in done.metrics.pipelines if p.pipeline == "raw")
    assert done.complete and raw.records == 600 and raw.uncounted_objects == 0
    assert done.reconciliation.verdict == "in flight"  # landed, no table yet
