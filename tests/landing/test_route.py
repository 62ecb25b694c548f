"""Routing rows into records: raw keeps everything exactly as read, plus lineage."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest

from sensorlake.landing.route import Lineage, Router
from sensorlake.landing.row_checks import Validator
from sensorlake.landing.rules import Rules

from .test_row_checks import good_row

ALL = ("raw", "schematized", "filtered", "emergency", "rejected")


def route(rules: Rules, rows: list[dict[str, Any]], targets: tuple[str, ...] = ALL) -> dict:
    """Routed records as the JSON they encode to (records may be dicts or structs)."""
    columns = tuple(rows[0])
    router = Router(Validator(rules), columns, Lineage("gw-1", 3, rules.version), targets)
    routed = router.route([tuple(r.values()) for r in rows])
    return {group: [(i, as_json(r)) for i, r in items] for group, items in routed.items()}


def as_json(record: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(record))


@pytest.mark.raw
def test_raw_is_every_row_as_read_with_lineage(rules: Rules) -> None:
    rows = [good_row(id=1), good_row(id=2, temperature=999.0), good_row(id=3, timestamp="garbage")]
    out = route(rules, rows)
    raw = out[("raw", "2026-03-01")] + out[("raw", "unknown")]
    assert [row_id for row_id, _ in raw] == [1, 2, 3]
    for (_, record), source in zip(raw, rows, strict=True):
        lineage = record.pop("_lineage")
        assert record == source
        assert lineage == {
            "gateway_id": "gw-1",
            "epoch": 3,
            "row_id": source["id"],
            "rules_version": rules.version,
            "source_table": "sensor_readings",
        }


@pytest.mark.raw
def test_raw_keeps_unexpected_columns_and_odd_values(rules: Rules) -> None:
    row = good_row(
        extra_probe="x", temperature=math.inf, humidity=-math.inf, serial_number=b"\x00\x01"
    )
    record = route(rules, [row], ("raw",))[("raw", "2026-03-01")][0][1]
    assert record["extra_probe"] == "x"
    assert record["temperature"] == "Infinity"  # JSON has no infinity; null would lie
    assert record["humidity"] == "-Infinity"
    assert record["serial_number"] == "AAE="  # bytes are landed as base64


@pytest.mark.partitioning
def test_dates_are_utc_and_unparseable_go_to_unknown(rules: Rules) -> None:
    rows = [
        good_row(id=1, timestamp="2026-03-01T23:59:59.999+00:00"),
        good_row(id=2, timestamp="2026-03-01T20:30:00.000-04:00"),  # 00:30 UTC next day
        good_row(id=3, timestamp="31/12/2025"),
    ]
    out = route(rules, rows, ("raw",))
    assert sorted(out) == [("raw", "2026-03-01"), ("raw", "2026-03-02"), ("raw", "unknown")]
    assert [i for i, _ in out[("raw", "2026-03-02")]] == [2]


@pytest.mark.schematized
def test_invalid_rows_go_to_rejected_with_reasons_and_are_counted(rules: Rules) -> None:
    rows = [good_row(id=1), good_row(id=2, temperature=500.0), good_row(id=3, timestamp="nope")]
    columns = tuple(rows[0])
    router = Router(Validator(rules), columns, Lineage("g", 1, rules.version), ALL)
    out = router.route([tuple(r.values()) for r in rows])
    assert [i for i, _ in out[("schematized", "2026-03-01")]] == [1]
    rejected = out[("rejected", "2026-03-01")] + out[("rejected", "unknown")]
    assert sorted(i for i, _ in rejected) == [2, 3]
    reasons = {record["id"]: record["_rejected_reasons"] for _, record in rejected}
    assert reasons[2] == ["temperature.out_of_range"]
    assert reasons[3] == ["timestamp.unparseable"]
    assert router.take_rejected_reasons() == {
        "temperature.out_of_range": 1,
        "timestamp.unparseable": 1,
    }
    assert router.take_rejected_reasons() == {}


@pytest.mark.filtered
def test_filtered_is_schematized_minus_filters_with_coarse_location(rules: Rules) -> None:
    rows = [good_row(id=1), good_row(id=2, anomaly_flag=1, status_code=1, anomaly_type="spike")]
    out = route(rules, rows)
    assert [i for i, _ in out[("schematized", "2026-03-01")]] == [1, 2]
    filtered = out[("filtered", "2026-03-01")]
    assert [i for i, _ in filtered] == [1]
    assert filtered[0][1]["location_info"]["latitude"] == 41.878
    # the schematized record keeps full precision
    assert out[("schematized", "2026-03-01")][0][1]["location_info"]["latitude"] == 41.878113


@pytest.mark.emergency
def test_emergency_records_carry_their_reasons(rules: Rules) -> None:
    rows = [good_row(id=1), good_row(id=2, voltage=13.0), good_row(id=3, temperature=300.0)]
    out = route(rules, rows)
    emergency = dict(out[("emergency", "2026-03-01")])
    assert sorted(emergency) == [2, 3]
    assert emergency[2]["emergency"] == {
        "reasons": ["voltage.above"],
        "valid": True,
        "validation_errors": [],
    }
    assert emergency[3]["emergency"]["valid"] is False
    assert emergency[3]["emergency"]["validation_errors"] == ["temperature.out_of_range"]
    assert emergency[2]["_lineage"]["row_id"] == 2
