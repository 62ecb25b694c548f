"""Configuration: options over environment over defaults, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorlake.contract.pipelines import PIPELINES
from sensorlake.landing.config import load_config
from sensorlake.landing.errors import ConfigError

BUCKETS = {
    "S3_BUCKET_RAW": "sensor-data-raw-us-east-1",
    "S3_BUCKET_SCHEMATIZED": "sensor-data-schematized-us-east-1",
    "S3_BUCKET_FILTERED": "sensor-data-filtered-us-east-1",
    "S3_BUCKET_EMERGENCY": "sensor-data-emergency-us-east-1",
}


def test_defaults_are_the_local_lake() -> None:
    config = load_config(env={"SENSORLAKE_GATEWAY_ID": "gw-1"})
    assert config.destination == "local"
    assert config.db_path == Path("var/sensor_data.db")
    assert config.state_dir == Path("var/state")
    assert config.lake_dir == Path("var/lake")
    assert config.pipelines == PIPELINES
    assert config.targets == (*PIPELINES, "rejected")
    assert config.bucket_for("raw") == "raw"
    assert config.bucket_for("rejected") == "schematized"


def test_environment_and_options() -> None:
    env = {
        **BUCKETS,
        "SENSOR_DB_PATH": "/data/s.db",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    }
    config = load_config(env=env, gateway_id="gw-2")
    assert config.destination == "s3"
    assert config.db_path == Path("/data/s.db")
    assert config.s3 is not None and config.s3.region == "eu-west-1"
    assert config.s3.endpoint_url == "http://127.0.0.1:5000"
    assert config.bucket_for("rejected") == BUCKETS["S3_BUCKET_SCHEMATIZED"]
    assert load_config(env=env, gateway_id="g", db_path=Path("x.db")).db_path == Path("x.db")
    # an explicit lake dir wins over configured buckets
    assert load_config(env=env, gateway_id="g", lake_dir=Path("lake")).destination == "local"


def test_pipeline_subsets() -> None:
    config = load_config(env={}, gateway_id="g", pipelines="emergency, raw")
    assert config.pipelines == ("raw", "emergency")
    assert config.targets == ("raw", "emergency")
    only = {"S3_BUCKET_RAW": BUCKETS["S3_BUCKET_RAW"]}
    assert load_config(env=only, gateway_id="g", pipelines="raw").destination == "s3"


@pytest.mark.parametrize(
    ("env", "options", "message"),
    [
        ({}, {"pipelines": "raw,bronze"}, "unknown pipeline"),
        ({}, {"gateway_id": "gw/1"}, "cannot be used in object keys"),
        ({"S3_BUCKET_RAW": "a-bucket"}, {}, "S3_BUCKET_SCHEMATIZED"),
        ({**BUCKETS, "S3_BUCKET_RAW": "s3://Bad_Bucket"}, {}, "not a valid S3 bucket name"),
        ({"SENSORLAKE_BATCH_ROWS": "lots"}, {}, "not a whole number"),
        ({"SENSORLAKE_SPOOL_MAX_MB": "-5"}, {}, "must be positive"),
    ],
)
def test_bad_configuration(env: dict[str, str], options: dict[str, str], message: str) -> None:
    options = {"gateway_id": "g", **options}
    with pytest.raises(ConfigError, match=message) as info:
        load_config(env=env, **options)  # type: ignore[arg-type]
    assert info.value.exit_code == 2
    assert info.value.hint


def test_gateway_id_falls_back_to_node_id_then_hostname() -> None:
    assert load_config(env={"NODE_ID": "node-7"}).gateway_id == "node-7"
    assert load_config(env={}).gateway_id  # hostname, cleaned
