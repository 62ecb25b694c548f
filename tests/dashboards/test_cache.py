"""The incremental refresh and its cache, over a small fleet landed by the real lander.

S3 (moto in-process) and the local lake: a new file, a new gateway, a new day, a restart
with the cache (no full listing again: the requests are counted), a stale cache (objects
deleted) and a corrupt cache file. Files come from ``sensorlake.landing.fleet``, i.e. the
real lander, one database, state and gateway id per gateway.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sensorlake.contract.pipelines import BUCKET_ENV, LANDING_ROLES, TARGETS
from sensorlake.dashboards.cache import MonitorCache
from sensorlake.dashboards.readers.base import LandingListing
from sensorlake.dashboards.readers.lake import LocalLakeReader
from sensorlake.dashboards.readers.s3 import LIST_BATCH, S3LandingReader
from sensorlake.dashboards.settings import S3Settings
from sensorlake.landing.fleet import fleet_gateways, land_gateway, simulate_fleet
from sensorlake.landing.simulate import simulate_bulk

pytestmark = pytest.mark.dashboards

GATEWAYS = 12
ROWS = 120  # per gateway and round: one file per target and gateway


def totals(listing: LandingListing) -> dict[str, tuple[int, int]]:
    """target -> (objects, records)."""
    return {t: (len(v), sum(o.records for o in v)) for t, v in listing.objects.items()}


def gateways_in(listing: LandingListing) -> set[str]:
    return {o.key.gateway for v in listing.objects.values() for o in v}


def landed_records(fleet_dir: Path) -> int:
    """Records the landers say they landed into raw (their own state: every row once)."""
    import sqlite3

    total = 0
    for db in fleet_dir.glob("*/sensor_data.db"):
        with sqlite3.connect(db) as conn:
            total += conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0]
    return total


def land_old_day(fleet_dir: Path, gateway: str, env: dict[str, str], lake: Path | None) -> str:
    """Readings from a past day for one gateway, landed: a new day folder appears."""
    g = next(x for x in fleet_gateways(fleet_dir, GATEWAYS + 1) if x.gateway_id == gateway)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    simulate_bulk(g.db_path, 30, sensors=2, seed=99, start=start)
    *_rest, error = land_gateway(g, 0, seed=0, lake_dir=lake, env=env)
    assert not error
    return start.date().isoformat()


# -- S3 ------------------------------------------------------------------------------------


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run = uuid.uuid4().hex[:6]
    buckets = {BUCKET_ENV[role]: f"sl-cache-{run}-{role}" for role in LANDING_ROLES}
    return {**env, **buckets}


class Requests:
    """Every S3 request a reader sends, with its parameters."""

    def __init__(self, reader: S3LandingReader) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        events = reader.client.meta.events
        events.register("provide-client-params.s3.ListObjectsV2", self._list)
        events.register("provide-client-params.s3.HeadObject", self._head)

    def _list(self, params: dict[str, Any], **_kw: Any) -> None:
        self.calls.append(("LIST", dict(params)))

    def _head(self, params: dict[str, Any], **_kw: Any) -> None:
        self.calls.append(("HEAD", dict(params)))

    def count(self, kind: str) -> int:
        return sum(1 for k, _p in self.calls if k == kind)

    def full_listings(self) -> int:
        """Listings of a whole target prefix (``raw/``), as only the first scan does."""
        return sum(
            1
            for k, p in self.calls
            if k == "LIST" and p["Prefix"].count("/") == 1 and "Delimiter" not in p
        )

    def clear(self) -> None:
        self.calls.clear()


def s3_reader(env: dict[str, str], cache: Path, **options: Any) -> S3LandingReader:
    buckets = {role: env[BUCKET_ENV[role]] for role in LANDING_ROLES}
    settings = S3Settings(buckets=buckets, region="us-east-1", timeout_seconds=60)
    namespace = "s3 test " + " ".join(sorted(buckets.values()))
    # A whole cycle per refresh unless a test says otherwise (the machine may be slow; the
    # budget has its own test below).
    options.setdefault("work_seconds", 300)
    return S3LandingReader(
        settings, cache=MonitorCache(cache, namespace), count_budget_seconds=60, **options
    )


def complete(reader: S3LandingReader | LocalLakeReader) -> LandingListing:
    listing = reader.list_landed()
    for _ in range(20):
        if listing.complete:
            return listing
        listing = reader.list_landed()
    raise AssertionError(f"counts still missing: {listing.uncounted}")


@mock_aws
def test_s3_refresh_costs_what_is_new_and_survives_a_restart(
    s3_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    for role in LANDING_ROLES:
        s3.create_bucket(Bucket=s3_env[BUCKET_ENV[role]])
    fleet = tmp_path / "fleet"
    landed = simulate_fleet(fleet, GATEWAYS, rows=ROWS, env=s3_env, seed=1)
    assert not landed.failed and landed.files_landed >= GATEWAYS * 3
    cache = tmp_path / "state" / "monitor" / "cache.sqlite"

    reader = s3_reader(s3_env, cache)
    calls = Requests(reader)
    first = complete(reader)
    assert sum(n for n, _r in totals(first).values()) == landed.files_landed
    assert totals(first)["raw"][1] == landed_records(fleet) == GATEWAYS * ROWS
    assert calls.full_listings() == len(TARGETS)  # the first scan: one listing per target
    assert calls.count("HEAD") == landed.files_landed

    # Nothing new: no HEAD, no full listing; per prefix one LIST (the open day).
    calls.clear()
    assert totals(complete(reader)) == totals(first)
    assert calls.count("HEAD") == 0 and calls.full_listings() == 0
    per_refresh = calls.count("LIST")
    prefixes = sum(len({o.key.gateway for o in v}) for v in first.objects.values())
    assert per_refresh <= prefixes + 2 * len(TARGETS)

    # A new file: one gateway lands again; only its new objects are asked about.
    calls.clear()
    g = fleet_gateways(fleet, GATEWAYS)[3]
    *_r, files, _records, error = land_gateway(g, ROWS, seed=5, lake_dir=None, env=s3_env)
    assert not error and files
    after = complete(reader)
    assert sum(n for n, _r in totals(after).values()) == landed.files_landed + files
    assert calls.count("HEAD") == files and calls.full_listings() == 0
    assert totals(after)["raw"][1] == landed_records(fleet)

    # A new gateway and a new (past) day.
    calls.clear()
    newcomer = fleet_gateways(fleet, GATEWAYS + 1)[-1]
    *_r, _files2, _records, error = land_gateway(newcomer, ROWS, seed=6, lake_dir=None, env=s3_env)
    assert not error
    day = land_old_day(fleet, newcomer.gateway_id, s3_env, None)
    grown = complete(reader)
    assert newcomer.gateway_id in gateways_in(grown)
    assert any(o.key.date == day for o in grown.objects["raw"])
    assert calls.full_listings() == 0
    assert totals(grown)["raw"][1] == landed_records(fleet)
    reader.close()

    # A restart with the cache: no full listing, no HEAD, the same figures.
    again = s3_reader(s3_env, cache)
    calls = Requests(again)
    restarted = again.list_landed()
    assert restarted.complete
    assert totals(restarted) == totals(grown)
    assert calls.full_listings() == 0 and calls.count("HEAD") == 0
    assert calls.count("LIST") <= per_refresh + 4 * len(TARGETS)

    # A stale cache: objects deleted behind the monitor's back (a gateway's newest file,
    # and a whole day) are noticed and dropped, with one line each time.
    raw_bucket = s3_env["S3_BUCKET_RAW"]
    newest = max(
        (o for o in grown.objects["raw"] if o.key.gateway == g.gateway_id), key=lambda o: o.key
    )
    s3.delete_object(Bucket=raw_bucket, Key=newest.name)
    for o in grown.objects["raw"]:
        if o.key.date == day:
            s3.delete_object(Bucket=raw_bucket, Key=o.name)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        fixed = again.list_landed()
    names = {o.name for o in fixed.objects["raw"]}
    truth = {
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=raw_bucket, Prefix="raw/")
        for item in page.get("Contents", ())
    }
    assert names == truth and newest.name not in names
    stale = [r for r in caplog.records if "stale" in r.getMessage()]
    assert len(stale) == 1 and "raw" in stale[0].getMessage()
    again.close()

    # A corrupt cache file: one line, rebuilt from the bucket, never a crash.
    cache.write_bytes(b"this is not a database" * 100)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        rebuilt = s3_reader(s3_env, cache)
        calls = Requests(rebuilt)
        listing = complete(rebuilt)
    assert {o.name for o in listing.objects["raw"]} == truth
    assert calls.full_listings() == len(TARGETS)
    assert len([r for r in caplog.records if "rebuilding" in r.getMessage()]) == 1
    rebuilt.close()

    # A refresh lists for its budget at most: with none, one listing job (or one batch of
    # prefix listings) per target and refresh, an incremental cycle spans refreshes (said
    # as pending) and ends with the same figures.
    bounded = s3_reader(s3_env, tmp_path / "other-cache.sqlite", work_seconds=0)
    complete(bounded)  # the first scan: one page per target here
    calls = Requests(bounded)
    refreshes = 0
    seen_pending = 0
    while True:
        step = bounded.list_landed()
        refreshes += 1
        assert calls.count("LIST") <= len(TARGETS) * LIST_BATCH * refreshes
        seen_pending = max(seen_pending, sum(step.pending.values()))
        if step.complete or refreshes > 500:
            break
    assert step.complete and seen_pending > 0 and refreshes > 2
    assert totals(step) == totals(listing)
    bounded.close()


# -- the local lake ------------------------------------------------------------------------


def test_lake_refresh_lists_only_changed_directories_and_survives_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sensorlake.dashboards.readers.lake.RACY_SECONDS", 0.0)
    lake = tmp_path / "lake"
    fleet = tmp_path / "fleet"
    landed = simulate_fleet(fleet, GATEWAYS, rows=ROWS, lake_dir=lake, env={}, seed=2)
    assert not landed.failed
    cache = tmp_path / "state" / "monitor" / "cache.sqlite"
    namespace = f"lake {lake}"

    reader = LocalLakeReader(lake, cache=MonitorCache(cache, namespace))
    first = reader.list_landed()
    assert sum(n for n, _r in totals(first).values()) == landed.files_landed
    assert totals(first)["raw"][1] == landed_records(fleet)
    listed = reader.listed_dirs

    # Nothing new: every directory is stat'ed, none listed again.
    assert totals(reader.list_landed()) == totals(first)
    assert reader.listed_dirs == listed

    # A new file: only its gateway's directories are listed again.
    g = fleet_gateways(fleet, GATEWAYS)[5]
    *_r, files, _records, error = land_gateway(g, ROWS, seed=7, lake_dir=lake, env={})
    assert not error and files
    before = reader.listed_dirs
    after = reader.list_landed()
    assert sum(n for n, _r in totals(after).values()) == landed.files_landed + files
    assert reader.listed_dirs - before <= files
    assert totals(after)["raw"][1] == landed_records(fleet)

    # A new gateway and a new day.
    newcomer = fleet_gateways(fleet, GATEWAYS + 1)[-1]
    land_gateway(newcomer, ROWS, seed=8, lake_dir=lake, env={})
    day = land_old_day(fleet, newcomer.gateway_id, {}, lake)
    grown = reader.list_landed()
    assert newcomer.gateway_id in gateways_in(grown)
    assert any(o.key.date == day for o in grown.objects["raw"])
    assert totals(grown)["raw"][1] == landed_records(fleet)
    reader.close()

    # A restart with the cache: no directory listed, no sidecar read.
    reads: list[str] = []
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self) or real(self))
    again = LocalLakeReader(lake, cache=MonitorCache(cache, namespace))
    assert totals(again.list_landed()) == totals(grown)
    assert again.listed_dirs == 0 and reads == []
    monkeypatch.setattr(Path, "read_text", real)

    # A stale cache: files deleted while the monitor was down are gone from the figures.
    victim = next(o for o in grown.objects["raw"] if o.key.date == day)
    path = again.path_of(victim.name)
    os.unlink(path)
    os.unlink(f"{path}.metadata.json")
    again.close()
    third = LocalLakeReader(lake, cache=MonitorCache(cache, namespace))
    names = {o.name for o in third.list_landed().objects["raw"]}
    assert victim.name not in names and len(names) == totals(grown)["raw"][0] - 1
    third.close()

    # A corrupt cache file, and one of another lake: one line each, rebuilt.
    cache.write_bytes(os.urandom(4096))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        fourth = LocalLakeReader(lake, cache=MonitorCache(cache, namespace))
        assert {o.name for o in fourth.list_landed().objects["raw"]} == names
    assert len([r for r in caplog.records if "rebuilding" in r.getMessage()]) == 1
    fourth.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        other = LocalLakeReader(lake, cache=MonitorCache(cache, "lake /elsewhere"))
    assert [r.getMessage() for r in caplog.records if "another landing zone" in r.getMessage()]
    assert {o.name for o in other.list_landed().objects["raw"]} == names
    other.close()


def test_a_cache_that_cannot_be_made_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = MonitorCache(blocker / "monitor" / "cache.sqlite", "lake x")
    assert not cache.enabled
    assert cache.objects() == [] and cache.write(dirs=[("a", 1)])
    reader = LocalLakeReader(tmp_path, cache=cache)
    assert reader.list_landed().objects["raw"] == ()
