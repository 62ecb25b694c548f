"""What the new landing zone holds for a gateway: its raw keys, and the rows in them, as
landing itself wrote them (local lake and moto's S3)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sensorlake.landing.config import LandingConfig
from sensorlake.landing.errors import ConfigError
from sensorlake.landing.migrate.zone import LandingZone
from sensorlake.landing.rules import Rules
from sensorlake.landing.s3 import S3Sink

from ..support.flow import land
from .conftest import make_buckets, moto_client, s3_env

pytestmark = pytest.mark.usefixtures("fake_credentials")


def source_rows(db: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        query = "SELECT id, timestamp, sensor_id FROM sensor_readings ORDER BY id"
        return [(i, ts, str(s)) for i, ts, s in conn.execute(query)]


def zone_rows(zone: LandingZone, gateway: str) -> list[tuple[int, str, str]]:
    return sorted(row for key in zone.keys(gateway) for row in zone.identities(key))


def test_the_local_zone_holds_every_landed_row_once(
    sensor_db: Path, make_config: Callable[..., LandingConfig], rules: Rules
) -> None:
    config = make_config(sensor_db)
    land(config, rules)
    zone = LandingZone(config)
    keys = zone.keys("gw-test")
    assert keys == sorted(keys) and {k.target for k in keys} == {"raw"}
    assert len({k.date for k in keys}) == 2  # the database spans midnight UTC
    assert zone_rows(zone, "gw-test") == source_rows(sensor_db)
    assert zone.keys("gw-other") == []
    stray = (
        config.lake_dir
        / config.bucket_for("raw")
        / keys[0].format().replace(".ndjson.gz", ".txt.ndjson.gz")
    )
    stray.write_bytes(b"")  # not a key of the layout: not ours
    assert zone.keys("gw-test") == keys


def test_the_s3_zone_reads_what_landing_put(
    sensor_db: Path, rules: Rules, moto_endpoint: str, tmp_path: Path
) -> None:
    from sensorlake.landing.config import load_config

    client = moto_client(moto_endpoint)
    buckets = make_buckets(client)
    config = load_config(
        env=s3_env(moto_endpoint, buckets),
        db_path=sensor_db,
        state_dir=tmp_path / "state",
        gateway_id="gw-s3",
    )
    land(config, rules, S3Sink(client))
    zone = LandingZone(config, client=client)
    assert zone.where == f"s3://{buckets['raw']}/"
    assert zone_rows(zone, "gw-s3") == source_rows(sensor_db)


def test_without_the_raw_pipeline_migrate_cannot_recognise_rows(
    sensor_db: Path, make_config: Callable[..., Any]
) -> None:
    config = make_config(sensor_db, env={"SENSORLAKE_PIPELINES": "filtered"})
    with pytest.raises(ConfigError, match="needs the raw pipeline") as err:
        LandingZone(config)
    assert err.value.exit_code == 2
