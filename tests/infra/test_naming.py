"""Naming: bucket-name rules and the names the other packages rely on."""

from __future__ import annotations

import pytest

from sensorlake.infra import naming


@pytest.mark.parametrize("name", ["sensor-data-raw-us-east-1", "abc", "a1-b2"])
def test_valid_bucket_names(name: str) -> None:
    assert naming.bucket_name_problems(name) == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("my.bucket", "dots"),
        ("ab", "3 to 63"),
        ("x" * 64, "3 to 63"),
        ("Upper-case", "lowercase"),
        ("-leading", "start and end"),
        ("192.168.1.1", "IP address"),
        ("name-s3alias", "reserved suffix"),
    ],
)
def test_invalid_bucket_names(name: str, why: str) -> None:
    assert any(why in p for p in naming.bucket_name_problems(name))


def test_names_used_by_other_packages() -> None:
    assert naming.LANDING_PREFIXES["schematized"] == ("schematized", "rejected")
    assert naming.PROBE_PREFIX == "_sensorlake/probe"
    assert naming.location_url("b") == "s3://b/"
    assert naming.volume_path("c", "s", "v") == "/Volumes/c/s/v"
    assert naming.external_location_name("checkpoints") == "autoloader_checkpoints_location"
