"""Validation, normalisation, emergency rules and filters (pure)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from sensorlake.contract.records import CONTRACT_VERSION
from sensorlake.landing.row_checks import Validator, future_limit, utc_timestamp
from sensorlake.landing.rules import Rules


def good_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 7,
        "timestamp": "2026-03-01T12:00:00.123+00:00",
        "sensor_id": "CHIC_A1B2C3",
        "temperature": 61.0,
        "humidity": 3.0,
        "pressure": 12.0,
        "vibration": 2.5,
        "voltage": 12.0,
        "status_code": 0,
        "anomaly_flag": 0,
        "anomaly_type": None,
        "firmware_version": "1.4.2",
        "model": "EnvMonitor-3000",
        "manufacturer": "SensorTech",
        "location": "Chicago",
        "latitude": 41.878113,
        "longitude": -87.629799,
        "original_timezone": "-06:00",
        "synced": 0,
        "serial_number": "SensorTech-123456",
        "manufacture_date": "2025-01-01",
        "deployment_type": "street_pole",
        "installation_date": "2025-02-01",
        "height_meters": 4.5,
        "orientation_degrees": 90.0,
        "instance_id": "i-0123456789abcdef0",
        "sensor_type": "environmental_monitoring",
    }
    row.update(overrides)
    return row


@pytest.fixture
def validator(rules: Rules) -> Validator:
    return Validator(rules)


@pytest.mark.schematized
def test_a_good_row_is_valid_and_nested(validator: Validator) -> None:
    checked = validator.check(good_row())
    assert checked.valid, checked.reasons
    record = checked.record
    assert record["timestamp"] == "2026-03-01T12:00:00.123Z"
    assert record["reading_id"] == 7
    assert record["readings"]["pressure"] == 12.0
    assert record["units"]["pressure_reported"] == "bar"
    assert record["status"] == {"status_code": 0, "anomaly_flag": False, "anomaly_type": None}
    assert record["device_info"]["model"] == "EnvMonitor-3000"
    assert record["location_info"]["latitude"] == 41.878113
    assert record["deployment_info"]["instance_id"] == "i-0123456789abcdef0"
    assert record["contract_version"] == CONTRACT_VERSION
    assert checked.emergency == ()


@pytest.mark.schematized
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"temperature": 151.0}, "temperature.out_of_range"),
        ({"humidity": -0.1}, "humidity.out_of_range"),
        ({"voltage": 24.5}, "voltage.out_of_range"),
        ({"vibration": -1.0}, "vibration.out_of_range"),
        ({"vibration": math.inf}, "vibration.out_of_range"),
        ({"temperature": "hot"}, "temperature.not_a_number"),
        ({"temperature": None}, "temperature.missing"),
        ({"latitude": 91.0}, "latitude.out_of_range"),
        ({"timestamp": "yesterday"}, "timestamp.unparseable"),
        ({"timestamp": "1999-12-31T23:59:59.000+00:00"}, "timestamp.out_of_bounds"),
        ({"sensor_id": "chicago-1"}, "sensor_id.format"),
        ({"manufacturer": "Acme"}, "manufacturer.unknown"),
        ({"model": "ProTemp-500"}, "model.unknown_for_manufacturer"),
        ({"firmware_version": "v1"}, "firmware_version.format"),
        ({"location": "Unknown"}, "location.placeholder"),
        ({"status_code": 1}, "status_code.mismatch"),
        ({"anomaly_flag": 1, "status_code": 1}, "anomaly_type.missing"),
        ({"anomaly_type": "spike"}, "anomaly_type.unexpected"),
        ({"anomaly_flag": 2, "status_code": 2}, "anomaly_flag.not_boolean"),
    ],
)
def test_invalid_rows_say_why(validator: Validator, overrides: dict[str, Any], reason: str) -> None:
    checked = validator.check(good_row(**overrides))
    assert reason in checked.reasons
    assert not checked.valid


@pytest.mark.schematized
@pytest.mark.parametrize("sensor_id", ["CHIC_A1B2C3", "SEA_123456", "PORT_ZFBLWL"])
def test_sensor_ids_as_the_real_sensor_writes_them(validator: Validator, sensor_id: str) -> None:
    assert validator.check(good_row(sensor_id=sensor_id)).valid


@pytest.mark.schematized
@pytest.mark.parametrize("firmware", ["1.4", "1.4.2", "3.2-rc1", "2.1.3-beta"])
def test_pre_release_firmware_is_valid(validator: Validator, firmware: str) -> None:
    assert validator.check(good_row(firmware_version=firmware)).valid


@pytest.mark.schematized
def test_pressure_in_pascals_is_converted_not_rejected(validator: Validator) -> None:
    checked = validator.check(good_row(pressure=101_325.0))
    assert checked.valid, checked.reasons
    assert checked.record["readings"]["pressure"] == pytest.approx(1.01325)
    assert checked.record["units"]["pressure_reported"] == "Pa"
    assert not any(r.startswith("pressure") for r in checked.emergency)


@pytest.mark.schematized
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T12:00:00.123+00:00", "2026-03-01T12:00:00.123Z"),
        ("2026-03-01T08:00:00.5-04:00", "2026-03-01T12:00:00.500Z"),
        ("2026-03-01T12:00:00", "2026-03-01T12:00:00.000Z"),
        ("2026-03-01T23:30:00+00:00", "2026-03-01T23:30:00.000Z"),
        ("2026-03-02T01:30:00.000+02:00", "2026-03-01T23:30:00.000Z"),
        ("not a time", None),
        (1700000000, None),
        (None, None),
    ],
)
def test_utc_timestamp(value: Any, expected: str | None) -> None:
    assert utc_timestamp(value) == expected


@pytest.mark.emergency
@pytest.mark.parametrize(
    ("overrides", "hit"),
    [
        ({"anomaly_flag": 1, "status_code": 1, "anomaly_type": "spike"}, "anomaly.spike"),
        ({"temperature": 75.5}, "temperature.above"),
        ({"temperature": 51.9}, "temperature.below"),
        ({"pressure": 14.6}, "pressure_bar.above"),
        ({"pressure": 10.4}, "pressure_bar.below"),
        ({"voltage": 12.41}, "voltage.above"),
        ({"voltage": 11.59}, "voltage.below"),
        ({"humidity": 96.0}, "humidity.above"),
        ({"humidity": 0.5}, "humidity.below"),
        ({"pressure": 94_000.0}, "pressure_pa.below"),
    ],
)
def test_emergency_rules(validator: Validator, overrides: dict[str, Any], hit: str) -> None:
    assert hit in validator.check(good_row(**overrides)).emergency


@pytest.mark.emergency
def test_normal_readings_are_no_emergency(validator: Validator) -> None:
    assert (
        validator.check(
            good_row(temperature=60.0, pressure=12.0, voltage=12.0, humidity=3.0)
        ).emergency
        == ()
    )


@pytest.mark.emergency
def test_an_invalid_row_can_still_be_an_emergency(validator: Validator) -> None:
    checked = validator.check(good_row(temperature=200.0, location="TBD"))
    assert not checked.valid
    assert "temperature.above" in checked.emergency


@pytest.mark.filtered
def test_filters_exclude_anomalies_and_coarsen_location(validator: Validator) -> None:
    normal = validator.check(good_row())
    assert not normal.filtered_out
    assert normal.coarse_location["latitude"] == 41.878
    assert normal.coarse_location["longitude"] == -87.63
    assert normal.coarse_location["precision_decimals"] == 3
    flagged = validator.check(good_row(anomaly_flag=1, status_code=1, anomaly_type="noise"))
    assert flagged.filtered_out


@pytest.mark.filtered
def test_filter_allow_lists(rules: Rules) -> None:
    import msgspec

    strict = msgspec.structs.replace(
        rules, filtered=msgspec.structs.replace(rules.filtered, deployment_types=["rooftop"])
    )
    validator = Validator(strict)
    assert validator.check(good_row(deployment_type="street_pole")).filtered_out
    assert not validator.check(good_row(deployment_type="rooftop")).filtered_out


@pytest.mark.schematized
def test_missing_columns_are_reasons_not_crashes(validator: Validator) -> None:
    row = good_row()
    del row["humidity"], row["manufacturer"]
    checked = validator.for_columns(tuple(row)).check(tuple(row.values()))
    assert "humidity.missing" in checked.reasons
    assert "manufacturer.missing" in checked.reasons


# -- every threshold, on both sides of its boundary -------------------------------------------
#
# The original's emergency rules are strict (above / below, never equal); ranges and the
# timestamp bounds are inclusive. A reading on a boundary and the next float past it pin each
# comparison, so `>` turned into `>=` (or the reverse) fails here.

_EMERGENCY_BOUNDARIES = [
    # (field, threshold, direction, reason)
    ("temperature", 75.0, "above", "temperature.above"),
    ("temperature", 52.0, "below", "temperature.below"),
    ("humidity", 95.0, "above", "humidity.above"),
    ("humidity", 1.0, "below", "humidity.below"),
    ("voltage", 12.4, "above", "voltage.above"),
    ("voltage", 11.6, "below", "voltage.below"),
    ("pressure", 14.5, "above", "pressure_bar.above"),
    ("pressure", 10.5, "below", "pressure_bar.below"),
    ("pressure", 107_000.0, "above", "pressure_pa.above"),
    ("pressure", 95_000.0, "below", "pressure_pa.below"),
]


@pytest.mark.emergency
@pytest.mark.parametrize(("name", "threshold", "direction", "reason"), _EMERGENCY_BOUNDARIES)
def test_emergency_thresholds_are_strict(
    validator: Validator, name: str, threshold: float, direction: str, reason: str
) -> None:
    beyond = math.nextafter(threshold, math.inf if direction == "above" else -math.inf)
    inside = math.nextafter(threshold, -math.inf if direction == "above" else math.inf)
    assert reason not in validator.check(good_row(**{name: threshold})).emergency
    assert reason not in validator.check(good_row(**{name: inside})).emergency
    assert reason in validator.check(good_row(**{name: beyond})).emergency


def test_every_emergency_threshold_of_the_rules_is_pinned(rules: Rules) -> None:
    pinned = {(r.split(".")[0], d) for _, _, d, r in _EMERGENCY_BOUNDARIES}
    configured = {
        (name, side)
        for name, t in rules.emergency.thresholds.items()
        for side in ("above", "below")
        if getattr(t, side) is not None
    }
    assert configured == pinned
    for _, threshold, direction, reason in _EMERGENCY_BOUNDARIES:
        assert getattr(rules.emergency.thresholds[reason.split(".")[0]], direction) == threshold


_RANGE_FIELDS = [
    "temperature",
    "humidity",
    "pressure",
    "voltage",
    "latitude",
    "longitude",
    "height_meters",
    "orientation_degrees",
]


@pytest.mark.schematized
@pytest.mark.parametrize("name", _RANGE_FIELDS)
def test_ranges_are_inclusive(validator: Validator, rules: Rules, name: str) -> None:
    low, high = rules.ranges[name]
    reason = f"{name}.out_of_range"
    for edge, outward in ((low, -math.inf), (high, math.inf)):
        assert reason not in validator.check(good_row(**{name: edge})).reasons
        assert reason in validator.check(good_row(**{name: math.nextafter(edge, outward)})).reasons


@pytest.mark.schematized
def test_ranges_of_the_rules_are_all_pinned(rules: Rules) -> None:
    assert set(rules.ranges) == {*_RANGE_FIELDS, "vibration"}  # vibration: [0, inf], below


@pytest.mark.schematized
def test_vibration_range_starts_at_zero(validator: Validator) -> None:
    assert validator.check(good_row(vibration=0.0)).valid
    assert "vibration.out_of_range" in validator.check(good_row(vibration=-5e-324)).reasons


@pytest.mark.schematized
def test_pascal_conversion_starts_strictly_above_its_threshold(validator: Validator) -> None:
    at = validator.check(good_row(pressure=1000.0))
    past = validator.check(good_row(pressure=math.nextafter(1000.0, math.inf)))
    assert at.record["units"]["pressure_reported"] == "bar"
    assert past.record["units"]["pressure_reported"] == "Pa"


@pytest.mark.schematized
@pytest.mark.parametrize(
    ("timestamp", "valid"),
    [
        ("2000-01-01T00:00:00.000+00:00", True),
        ("1999-12-31T23:59:59.999+00:00", False),
        ("2100-01-01T00:00:00.000+00:00", True),
        ("2100-01-01T00:00:00.001+00:00", False),
    ],
)
def test_timestamp_bounds_are_inclusive(validator: Validator, timestamp: str, valid: bool) -> None:
    reasons = validator.check(good_row(timestamp=timestamp)).reasons
    assert ("timestamp.out_of_bounds" not in reasons) is valid


# -- readings from the future ---------------------------------------------------------------


@pytest.mark.schematized
def test_future_limit_is_the_run_start_plus_the_tolerance() -> None:
    landed_at = datetime(2026, 3, 1, 12, 0, 0, 123_456, tzinfo=UTC)
    assert future_limit(landed_at, 86_400) == "2026-03-02T12:00:00.123Z"
    assert future_limit(landed_at, 0) == "2026-03-01T12:00:00.123Z"


@pytest.mark.schematized
def test_readings_past_the_future_limit_are_rejected(rules: Rules) -> None:
    validator = Validator(rules, future_limit="2026-03-02T12:00:00.000Z")
    at = validator.check(good_row(timestamp="2026-03-02T12:00:00.000+00:00"))
    past = validator.check(good_row(timestamp="2026-03-02T12:00:00.001+00:00"))
    far = validator.check(good_row(timestamp="2099-01-01T00:00:00.000+00:00"))
    assert at.valid
    assert past.reasons == ("timestamp.in_future",) and far.reasons == ("timestamp.in_future",)
    # the far-future reading is still an emergency if it trips a rule: alarms are kept
    hot = validator.check(good_row(timestamp="2099-01-01T00:00:00.000+00:00", temperature=80.0))
    assert "temperature.above" in hot.emergency


def test_default_rules_tolerate_one_day(rules: Rules) -> None:
    assert rules.timestamp.future_tolerance_seconds == 86_400
