"""Pipelines, bucket roles and names: the facts every package takes from the contract."""

from __future__ import annotations

import pytest

from sensorlake.contract import pipelines as p

pytestmark = pytest.mark.contract


def test_every_target_lands_in_a_landing_bucket_under_its_own_prefix() -> None:
    assert (*p.PIPELINES, "rejected") == p.TARGETS
    for target in p.TARGETS:
        role = p.bucket_role(target)
        assert role in p.LANDING_ROLES
        assert target in p.LANDING_PREFIXES[role]
    assert p.bucket_role("rejected") == "schematized"
    assert set(p.LANDING_PREFIXES) == set(p.LANDING_ROLES)
    assert "checkpoints" in p.BUCKET_ROLES and "checkpoints" not in p.LANDING_ROLES


def test_bucket_variables_are_the_migration_guides() -> None:
    assert p.BUCKET_ENV == {
        "raw": "S3_BUCKET_RAW",
        "schematized": "S3_BUCKET_SCHEMATIZED",
        "filtered": "S3_BUCKET_FILTERED",
        "emergency": "S3_BUCKET_EMERGENCY",
        "checkpoints": "S3_BUCKET_CHECKPOINTS",
    }


def test_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown target"):
        p.bucket_role("bronze")
    with pytest.raises(ValueError, match="unknown target"):
        p.table_name("../etc")


def test_table_names() -> None:
    assert [p.table_name(t) for t in p.TARGETS] == [
        "sensor_readings_raw",
        "sensor_readings_schematized",
        "sensor_readings_filtered",
        "sensor_readings_emergency",
        "sensor_readings_rejected",
    ]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("my.bucket.name", "dots"),
        ("ab", "3 to 63"),
        ("Upper-Case", "lowercase"),
        ("-leading", "lowercase"),
        ("xn--bucket", "xn--"),
        ("bucket-s3alias", "reserved suffix"),
        ("192.168.1.1", "IP address"),
    ],
)
def test_bucket_name_rule_explains_each_problem(name: str, problem: str) -> None:
    assert any(problem in text for text in p.bucket_name_problems(name))


def test_default_bucket_names_pass_the_rule() -> None:
    for role in p.BUCKET_ROLES:
        name = p.default_bucket_name(role, "us-east-1")
        assert role in name
        assert p.bucket_name_problems(name) == []


def test_default_bucket_names_are_account_unique_with_an_account() -> None:
    name = p.default_bucket_name("schematized", "ap-southeast-1", "123456789012")
    assert name == "sensor-data-schematized-123456789012-ap-southeast-1"
    assert p.bucket_name_problems(name) == []
    assert p.default_bucket_name("raw", "us-east-1") == "sensor-data-raw-us-east-1"


def test_volume_paths_are_unity_catalogs() -> None:
    assert p.volume_path("c", "s", "v") == "/Volumes/c/s/v"
    assert (
        p.volume_path("c", "s", "v", "sensor_readings_raw") == "/Volumes/c/s/v/sensor_readings_raw"
    )
