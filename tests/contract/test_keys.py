"""The key layout: Hive-style date partitions, names that say which rows they hold."""

from __future__ import annotations

import pytest

from sensorlake.contract.keys import PARTITION_FIELDS, LandingKey


@pytest.mark.partitioning
def test_key_layout() -> None:
    key = LandingKey("raw", "2026-03-01", "gw-1", 2, 1, 5000)
    assert key.format() == (
        "raw/date=2026-03-01/gateway=gw-1/00000002-0000000000000000001-0000000000000005000.ndjson.gz"
    )
    assert LandingKey.parse(key.format()) == key


@pytest.mark.partitioning
def test_unknown_date_partition_and_rejected_target() -> None:
    key = LandingKey("rejected", "unknown", "gw", 1, 10, 12)
    assert key.format().startswith("rejected/date=unknown/gateway=gw/")
    assert LandingKey.parse(key.format()) == key


@pytest.mark.partitioning
@pytest.mark.parametrize(
    "bad",
    [
        "raw/2026-03-01/x.json",
        "raw/date=2026-3-1/gateway=g/00000001-0000000000000000001-0000000000000000002.ndjson.gz",
        "",
        "bronze/date=2026-03-01/gateway=g/00000001-0000000000000000001-0000000000000000002.ndjson.gz",
    ],
)
def test_parse_rejects_foreign_keys(bad: str) -> None:
    with pytest.raises(ValueError):
        LandingKey.parse(bad)


@pytest.mark.partitioning
def test_keys_sort_as_strings_in_the_same_order_as_the_values() -> None:
    keys = [
        LandingKey("raw", "2026-03-01", "gw", epoch, first, first + 9)
        for epoch in (1, 2, 10)
        for first in (1, 10, 100, 10**12)
    ]
    assert sorted(keys, key=LandingKey.format) == sorted(keys)


@pytest.mark.partitioning
def test_partition_fields_are_the_hive_folders() -> None:
    key = LandingKey("raw", "2026-03-01", "gw-1", 2, 1, 5)
    folders = key.format().split("/")[1:-1]
    assert [f.split("=")[0] for f in folders] == list(PARTITION_FIELDS)
    assert key.partitions == {"date": "2026-03-01", "gateway": "gw-1"}
