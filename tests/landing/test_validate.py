"""Validation, normalisation, emergency rules and filters (pure)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sensorlake.contract.records import CONTRACT_VERSION
from sensorlake.landing.rules import Rules
from sensorlake.landing.validate import Validator, utc_timestamp


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
