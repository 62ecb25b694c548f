"""What the readers hand over: keys found inside paths, landed objects named by their key,
job runs that failed, and emergency rows as either driver returns them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sensorlake.contract.keys import LandingKey
from sensorlake.dashboards.readers.base import (
    JobRun,
    LandedObject,
    LandingListing,
    emergency_reading,
    key_in,
)

pytestmark = pytest.mark.dashboards

KEY = "raw/date=2026-11-26/gateway=gw-1/00000001-0000000000000000001-0000000000000000400.ndjson.gz"


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (f"s3://sensor-data-raw-us-east-1/{KEY}", KEY),
        (f"file:///var/lake/raw/{KEY}", KEY),
        (
            f"file:/var/lake/raw/{KEY}".replace("date=", "date%3D").replace(
                "gateway=", "gateway%3D"
            ),
            KEY,
        ),
        (f"dbfs:/Volumes/x/date=2026/raw/{KEY}", KEY),
        ("s3://b/raw/date=2026-11-26/notes.txt", None),
        ("", None),
    ],
)
def test_the_landing_key_inside_a_path(path: str, key: str | None) -> None:
    assert key_in(path) == key


def test_a_landed_object_is_named_by_its_key() -> None:
    landed = LandedObject(LandingKey.parse(KEY), size=10, modified=0.0, records=400)
    assert landed.name == KEY
    assert key_in(f"s3://bucket/{landed.name}") == landed.name


def test_a_listing_is_complete_only_with_nothing_left_to_count_or_list() -> None:
    assert LandingListing({}, {}).complete
    assert LandingListing({}, {}, uncounted={"raw": 0}, pending={"raw": 0}).complete
    assert not LandingListing({}, {}, uncounted={"raw": 2}).complete
    assert not LandingListing({}, {}, pending={"raw": 1}).complete


@pytest.mark.parametrize(
    ("result", "failed"),
    [("", False), ("SUCCESS", False), ("SKIPPED", False), ("RUN_EXECUTION_ERROR", True)],
)
def test_a_job_run_failed_when_it_ended_any_way_but_success(result: str, failed: bool) -> None:
    run = JobRun(1, 2, "raw stream", "TERMINATED", result, "", None, None)
    assert run.failed is failed


def test_an_emergency_row_reads_the_same_from_arrow_or_as_json_text() -> None:
    alarm = {"reasons": ["temperature_high"], "valid": True, "validation_errors": []}
    readings = {"temperature": 91.5, "humidity": None, "pressure": "1.2"}
    when = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    arrow = {
        "sensor_id": "s-1",
        "lineage_gateway": "gw-1",
        "timestamp": when,
        "reading_id": 7,
        "readings": readings,
        "emergency": alarm,
        "_ingested_at": when.replace(tzinfo=None),  # a naive timestamp is UTC
    }
    text = arrow | {
        "readings": json.dumps(readings),
        "emergency": json.dumps(alarm),
        "timestamp": "2026-11-26T12:00:00Z",
    }
    for row in (arrow, text):
        reading = emergency_reading(row)
        assert reading.sensor_id == "s-1" and reading.gateway == "gw-1"
        assert reading.timestamp == reading.ingested_at == when.timestamp()
        assert reading.reasons == ("temperature_high",) and reading.valid
        assert reading.values == {"temperature": 91.5, "humidity": None, "pressure": 1.2}
        assert reading.reading_id == 7


def test_an_unreadable_emergency_row_degrades_to_empty_fields() -> None:
    reading = emergency_reading(
        {"gateway": "gw-2", "emergency": "not json", "timestamp": "yesterday", "readings": 3}
    )
    assert reading.gateway == "gw-2" and reading.sensor_id == ""
    assert reading.timestamp is None and reading.reasons == () and not reading.valid
    assert reading.values == {} and reading.reading_id is None
