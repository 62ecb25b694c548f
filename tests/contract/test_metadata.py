"""Object metadata: one shape for S3 user metadata and the local lake's sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sensorlake.contract.metadata import ObjectMetadata, local_metadata_path

pytestmark = pytest.mark.contract

META = ObjectMetadata(12, 1, 20, 2, "2026.11.1", "gw-1", "schematized", "ab" * 32)


def test_round_trips_through_s3_metadata_and_json() -> None:
    assert ObjectMetadata.from_s3(META.to_s3()) == META
    assert ObjectMetadata.from_json(META.to_json()) == META
    assert all(k == k.lower() and isinstance(v, str) for k, v in META.to_s3().items())


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {**META.to_s3(), "record-count": "many"},
        {**META.to_s3(), "record-count": "-5"},
        {**META.to_s3(), "first-row-id": "-1"},
        {**META.to_s3(), "last-row-id": "0"},  # before first-row-id
        {**META.to_s3(), "record-count": [1]},
        {**META.to_s3(), "record-count": True},
        {**META.to_s3(), "gateway-id": ""},
        {**META.to_s3(), "sha256": None},
        [],
        "12",
    ],
)
def test_foreign_or_impossible_metadata_is_a_value_error(broken: object) -> None:
    with pytest.raises(ValueError, match="not sensorlake object metadata"):
        ObjectMetadata.from_s3(broken)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not sensorlake object metadata"):
        ObjectMetadata.from_json(json.dumps(broken))


def test_a_sidecar_with_numbers_as_json_numbers_is_read() -> None:
    as_numbers = {**META.to_s3(), "record-count": 12, "epoch": 2}
    assert ObjectMetadata.from_json(json.dumps(as_numbers)) == META


def test_a_sidecar_that_is_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        ObjectMetadata.from_json("{not json")


def test_local_sidecar_sits_beside_the_file_and_outside_the_files_glob() -> None:
    path = Path("lake/raw/raw/date=2026-03-01/gateway=g/x.ndjson.gz")
    side = local_metadata_path(path)
    assert side.parent == path.parent and not side.name.endswith(".ndjson.gz")


def test_content_checksum_is_optional_and_round_trips() -> None:
    with_content = ObjectMetadata(1, 1, 1, 1, "v", "gw", "raw", "aa" * 32, "cc" * 32)
    assert with_content.to_s3()["content-sha256"] == "cc" * 32
    assert ObjectMetadata.from_json(with_content.to_json()) == with_content
    assert "content-sha256" not in META.to_s3()  # an older object's metadata stays as it was
    assert ObjectMetadata.from_s3(META.to_s3()).content_sha256 == ""
