"""sensorlake migrate backfill: the old uploader's objects (written by its re-enactment over
a simulated sensor database, into moto's S3) land through landing's own pipeline, once."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sensorlake.contract.errors import ExitCode
from sensorlake.landing.config import LandingConfig
from sensorlake.landing.migrate.backfill import BACKFILL_EPOCH_BASE, Backfill, BackfillSummary
from sensorlake.landing.migrate.oldstore import OldBucket
from sensorlake.landing.migrate.uploader import OldUploader
from sensorlake.landing.rules import Rules
from sensorlake.landing.simulate import simulate_bulk
from sensorlake.landing.sink import LocalLakeSink

from ..support.flow import land
from .conftest import (
    FIXED_START,
    SENSORLAKE,
    child_env,
    lake_files,
    moto_client,
    read_lake,
    s3_env,
    source_ids,
)

pytestmark = pytest.mark.usefixtures("fake_credentials")


@pytest.fixture
def old(moto_endpoint: str) -> tuple[Any, str]:
    """A fresh old-uploader bucket in moto and a client for it."""
    client = moto_client(moto_endpoint)
    name = f"old-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    return client, name


def uploader(db: Path, tmp_path: Path, old: tuple[Any, str], node: str = "gw-test") -> OldUploader:
    client, bucket = old
    return OldUploader(db, tmp_path / "old-state", client, bucket, node_id=node)


def backfill(
    config: LandingConfig, rules: Rules, old: tuple[Any, str], **options: Any
) -> BackfillSummary:
    client, bucket = old
    bucket_reader = OldBucket(bucket, connect=lambda: client)
    sink = lambda: LocalLakeSink(config.lake_dir)  # noqa: E731
    return Backfill(config, rules, bucket_reader, sink=sink, **options).run()


def raw_rows(lake: Path) -> list[tuple[int, str]]:
    return sorted((r["id"], r["timestamp"]) for r in read_lake(lake).get("raw", []))


def without_epoch(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        r = dict(r)
        r["_lineage"] = {k: v for k, v in r["_lineage"].items() if k != "epoch"}
        out.append(r)
    return sorted(out, key=lambda r: r["_lineage"]["row_id"])


def test_rows_land_as_landing_would_have_landed_them(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    up = uploader(sensor_db, tmp_path, old)
    assert up.run_until_caught_up() == 3_000
    assert len(up.keys) == 6  # 500 rows per object

    config = make_config(sensor_db, lake_dir=tmp_path / "backfilled", state_dir=tmp_path / "bf")
    summary = backfill(config, rules, old)
    assert summary.exit_code == 0, summary.errors
    assert (summary.objects_read, summary.rows, summary.rows_landed) == (6, 3_000, 3_000)
    assert summary.formats == {"uploader-json": 6}
    assert [g.epoch_from for g in summary.generations] == ["derived"]
    epoch = summary.generations[0].epoch
    assert epoch >= BACKFILL_EPOCH_BASE

    # the same database landed directly: the same records in every target (but the epoch)
    direct = make_config(sensor_db, lake_dir=tmp_path / "direct", state_dir=tmp_path / "live")
    land(direct, rules)
    ours, theirs = read_lake(config.lake_dir), read_lake(direct.lake_dir)
    assert set(ours) == set(theirs)
    for target in theirs:
        assert without_epoch(ours[target]) == without_epoch(theirs[target]), target
    assert {r["_lineage"]["epoch"] for rs in ours.values() for r in rs} == {epoch}
    # and the key layout: the same names, with the backfill epoch in place of epoch 1
    direct_keys = {k.replace("/00000001-", f"/{epoch:08d}-") for k in lake_files(direct.lake_dir)}
    assert set(lake_files(config.lake_dir)) == direct_keys
    assert summary.files_written["raw"] == sum(1 for k in direct_keys if k.startswith("raw/raw/"))


def test_rerun_lands_nothing_and_a_duplicated_batch_lands_once(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    up = uploader(sensor_db, tmp_path, old)
    up.cycle()
    up.retry_duplicate()  # the old uploader's crash-after-put: the batch twice
    up.run_until_caught_up()
    config = make_config(sensor_db)
    first = backfill(config, rules, old)
    assert (first.rows, first.duplicates_dropped, first.rows_landed) == (3_500, 500, 3_000)
    assert raw_rows(config.lake_dir) == sorted(set(raw_rows(config.lake_dir)))
    assert [i for i, _ in raw_rows(config.lake_dir)] == source_ids(sensor_db)
    before = lake_files(config.lake_dir)

    again = backfill(config, rules, old)
    assert (again.rows_landed, again.already_landed, again.files_written) == (0, 3_000, {})
    assert [g.epoch for g in again.generations] == [g.epoch for g in first.generations]
    assert lake_files(config.lake_dir) == before


def test_rows_the_live_lander_landed_are_not_landed_again(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    """The parallel period: both read the same database; the live lander has it all."""
    uploader(sensor_db, tmp_path, old).run_until_caught_up()
    config = make_config(sensor_db)
    land(config, rules)
    before = lake_files(config.lake_dir)
    summary = backfill(config, rules, old)
    assert (summary.rows_landed, summary.already_landed) == (0, 3_000)
    assert [(g.epoch, g.epoch_from) for g in summary.generations] == [(1, "landed")]
    assert lake_files(config.lake_dir) == before


def test_a_database_reset_in_the_history_is_a_generation_of_its_own(
    tmp_path: Path, old: tuple[Any, str], rules: Rules, make_config: Callable[..., LandingConfig]
) -> None:
    """The sensor recreated its database: ids start again at 1, both generations land."""
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 700, seed=1, start=datetime.fromisoformat(FIXED_START))
    up = uploader(db, tmp_path, old)
    up.run_until_caught_up()
    simulate_bulk(
        db, 400, seed=2, reset=True, start=datetime.fromisoformat("2026-03-05T10:00:00+00:00")
    )
    up.run_until_caught_up()
    config = make_config(db)
    summary = backfill(config, rules, old)
    assert summary.rows_landed == 1_100
    epochs = [g.epoch for g in summary.generations]
    assert len(epochs) == 2 and epochs[0] < epochs[1]
    landed = read_lake(config.lake_dir)["raw"]
    by_epoch = {e: sorted(r["id"] for r in landed if r["_lineage"]["epoch"] == e) for e in epochs}
    assert by_epoch == {epochs[0]: list(range(1, 701)), epochs[1]: list(range(1, 401))}
    assert backfill(config, rules, old).rows_landed == 0


def test_bad_objects_are_reported_by_key_and_the_rest_lands(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    client, bucket = old
    up = uploader(sensor_db, tmp_path, old)
    up.cycle()
    whole = client.get_object(Bucket=bucket, Key=up.keys[0])
    body, meta = whole["Body"].read(), whole["Metadata"]
    bad = {
        "20260301_000001_aaaaaaaa.json": (body[: len(body) // 2], meta),  # truncated
        "20260301_000002_bbbbbbbb.json": (b'{"rows": []}', meta),  # wrong shape
        "20260301_000003_cccccccc.json": (b'"hello"', meta),  # not an array
        "20260301_000004_dddddddd.json": (body, {}),  # no node-id
        "20260301_000005_eeeeeeee.json": (body, {**meta, "record-count": "499"}),  # short
        "notes/readme.txt": (b"not data", {}),
    }
    for key, (data, metadata) in bad.items():
        client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata)
    wrapped = up.put_wrapped(up.read_batch(up.state()["last_timestamp"]))  # older, 500 rows
    config = make_config(sensor_db)
    summary = backfill(config, rules, old)
    reasons = {b["key"]: b["reason"] for b in summary.bad_objects}
    assert set(reasons) == set(bad) | {wrapped}
    assert "not valid JSON" in reasons["20260301_000001_aaaaaaaa.json"]
    assert "wrong shape" in reasons["20260301_000002_bbbbbbbb.json"]
    assert "wrong shape" in reasons["20260301_000003_cccccccc.json"]
    assert "node-id" in reasons["20260301_000004_dddddddd.json"]
    assert "says 499 rows" in reasons["20260301_000005_eeeeeeee.json"]
    assert "pass --gateway-id" in reasons[wrapped]  # 46c2f087's objects name no node
    assert summary.formats == {"uploader-json": 1}
    assert summary.rows_landed == 500
    assert summary.exit_code == ExitCode.MISMATCH

    named = backfill(config, rules, old, gateway_id="gw-test")  # names the no-node-id one too
    assert named.formats == {"uploader-json": 2, "uploader-wrapped": 1}
    assert named.rows_landed == 500 and named.already_landed == 500

    only_json = backfill(config, rules, old, fmt="uploader-json")
    assert "ingestion/" in " ".join(b["key"] for b in only_json.bad_objects)


def test_dry_run_writes_nothing(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    uploader(sensor_db, tmp_path, old).run_until_caught_up()
    config = make_config(sensor_db)
    summary = backfill(config, rules, old, dry_run=True)
    assert summary.rows_landed == 3_000 and summary.would_land
    assert not config.lake_dir.exists() or not lake_files(config.lake_dir)
    assert not (config.state_dir / "migrate" / "backfill").exists()


def test_cli_backfill_into_s3_with_json(
    moto_endpoint: str, sensor_db: Path, tmp_path: Path, old: tuple[Any, str]
) -> None:
    from .conftest import bucket_files, make_buckets, records_by_target

    client, bucket = old
    uploader(sensor_db, tmp_path, old, node="gw-017").run_until_caught_up()
    client.put_object(Bucket=bucket, Key="20260301_000009_ffffffff.json", Body=b"[{")
    buckets = make_buckets(client)
    env = child_env(**s3_env(moto_endpoint, buckets), SENSORLAKE_STATE_DIR=str(tmp_path / "st"))
    run = lambda *extra: subprocess.run(  # noqa: E731
        [SENSORLAKE, "migrate", "backfill", "--from", f"s3://{bucket}", "--json", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    done = run()
    assert done.returncode == ExitCode.MISMATCH, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows_landed"] == 3_000
    assert summary["bad_objects"][0]["key"] == "20260301_000009_ffffffff.json"
    assert "Traceback" not in done.stderr
    landed = records_by_target(bucket_files(client, buckets))
    assert sorted(r["id"] for r in landed["raw"]) == source_ids(sensor_db)
    assert {r["_lineage"]["gateway_id"] for r in landed["raw"]} == {"gw-017"}
    again = json.loads(run().stdout)
    assert (again["rows_landed"], again["already_landed"]) == (0, 3_000)
    missing = run("--from", "s3://no-such-bucket-here")
    assert missing.returncode == 4 and missing.stderr.count("\n") == 1, missing.stderr


def test_rows_after_the_live_landers_first_are_left_to_it(
    tmp_path: Path, old: tuple[Any, str], rules: Rules, make_config: Callable[..., LandingConfig]
) -> None:
    """The parallel period, mid-way: the live lander has landed the first rows and has the
    newest still to read (or in open files); backfill must not land those under its epoch."""
    db = tmp_path / "sensor.db"
    simulate_bulk(db, 2_000, seed=5, start=datetime.fromisoformat(FIXED_START))
    config = make_config(db)
    land(config, rules)
    simulate_bulk(db, 1_000, seed=6, start=datetime.fromisoformat("2026-03-02T01:00:00+00:00"))
    uploader(db, tmp_path, old).run_until_caught_up()  # the old uploader has all 3,000
    summary = backfill(config, rules, old)
    assert (summary.already_landed, summary.left_to_live_lander, summary.rows_landed) == (
        2_000,
        1_000,
        0,
    )
    land(config, rules)
    assert [i for i, _ in raw_rows(config.lake_dir)] == source_ids(db)


class CountingClient:
    """The S3 client, counting the GETs the backfill makes."""

    def __init__(self, client: Any) -> None:
        self.client, self.gets = client, 0

    def get_object(self, **kwargs: Any) -> Any:
        self.gets += 1
        return self.client.get_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_rerun_reads_only_new_objects_and_they_join_their_generation(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    """The parallel period: backfill now and again while the old uploader goes on."""
    client, bucket = old
    up = uploader(sensor_db, tmp_path, old)
    up.run_until_caught_up()
    config = make_config(sensor_db)
    first = backfill(config, rules, old)
    assert first.rows_landed == 3_000 and first.objects_skipped == 0

    counting = CountingClient(client)
    again = backfill(config, rules, (counting, bucket))
    assert counting.gets == 0  # listed, nothing read again
    assert (again.objects_skipped, again.objects_read) == (first.objects_read, 0)
    assert (again.rows_landed, again.already_landed, again.gateways_unchanged) == (0, 3_000, 1)

    # the sensor goes on (same database: the same generation), the old uploader with it
    simulate_bulk(sensor_db, 1_200, seed=7, start=datetime.fromisoformat("2026-03-02T06:00:00Z"))
    assert up.run_until_caught_up() == 1_200
    new_keys = len(up.keys) - first.objects_read
    counting = CountingClient(client)
    more = backfill(config, rules, (counting, bucket))
    assert counting.gets == more.objects_read == new_keys > 0
    assert (more.rows_landed, more.already_landed) == (1_200, 3_000)
    assert [g.epoch for g in more.generations] == [g.epoch for g in first.generations]
    assert [i for i, _ in raw_rows(config.lake_dir)] == source_ids(sensor_db)


def test_a_backfill_that_died_leaves_a_catalogue_the_next_one_starts_afresh(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    uploader(sensor_db, tmp_path, old).run_until_caught_up()
    config = make_config(sensor_db)
    first = backfill(config, rules, old)
    (marks,) = (config.state_dir / "migrate" / "catalogue").glob("*.clean")
    marks.unlink()  # as if the run had been killed before it finished
    again = backfill(config, rules, old)
    assert (again.objects_skipped, again.objects_read) == (0, first.objects_read)
    assert (again.rows_landed, again.already_landed) == (0, 3_000)


def test_two_backfills_of_one_source_do_not_run_at_once(
    sensor_db: Path, old: tuple[Any, str], rules: Rules, make_config: Callable[..., LandingConfig]
) -> None:
    import fcntl

    from sensorlake.landing.errors import LocalStorageError

    client, bucket = old
    config = make_config(sensor_db)
    job = Backfill(config, rules, OldBucket(bucket, connect=lambda: client), sink=lambda: None)  # type: ignore[arg-type,return-value]
    lock = job._catalogue().with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(LocalStorageError, match="another backfill of this source"):
            job.run()


def test_rows_of_other_columns_and_nested_values_are_staged_as_before(tmp_path: Path) -> None:
    """Staging takes the common rows as they are; a row with other columns is put in the
    sensor's order, and a value SQLite cannot bind (nested, never the sensor's) as JSON."""
    import sqlite3

    from sensorlake.landing.migrate.backfill import _stage, staged_columns
    from sensorlake.landing.migrate.history import History

    ts = "2026-03-01T00:00:0{}.000000+00:00"
    history = History(tmp_path / "history.db")
    history.add(
        "gw-1", "a.json", [{"id": 1, "timestamp": ts.format(1), "sensor_id": "S", "t": 1.5}]
    )
    history.add(
        "gw-1", "b.json", [{"t": {"x": [1]}, "id": 2, "sensor_id": "S", "timestamp": ts.format(2)}]
    )
    (gen,) = history.generations("gw-1")
    names = staged_columns(history.columns("gw-1"))
    assert names == ["id", "timestamp", "sensor_id", "t"]
    _stage(tmp_path / "rows.db", names, lambda: history.to_land(gen, names))
    history.close()
    conn = sqlite3.connect(tmp_path / "rows.db")
    rows = conn.execute("SELECT id, timestamp, sensor_id, t FROM sensor_readings ORDER BY id")
    assert rows.fetchall() == [(1, ts.format(1), "S", 1.5), (2, ts.format(2), "S", '{"x":[1]}')]


class Unreachable(CountingClient):
    def get_paginator(self, name: str) -> Any:
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


def test_an_unreachable_old_bucket_keeps_the_catalogue(
    sensor_db: Path,
    tmp_path: Path,
    old: tuple[Any, str],
    rules: Rules,
    make_config: Callable[..., LandingConfig],
) -> None:
    from sensorlake.landing.errors import LandingError

    client, bucket = old
    uploader(sensor_db, tmp_path, old).run_until_caught_up()
    config = make_config(sensor_db)
    first = backfill(config, rules, old)
    with pytest.raises(LandingError):
        backfill(config, rules, (Unreachable(client), bucket))
    again = backfill(config, rules, old)
    assert (again.objects_skipped, again.objects_read) == (first.objects_read, 0)
    assert again.rows_landed == 0 and again.already_landed == 3_000
