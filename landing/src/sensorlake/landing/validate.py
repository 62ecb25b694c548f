"""Validation, normalisation, emergency detection and operational filters: pure functions.

Given a source row (a dict of column values) and the :class:`Rules`, :class:`Validator`
answers four questions with no I/O and no clock: what is the reading's UTC time, is the row
valid (and if not, why), what does it look like in the nested contract, and does it trip an
emergency rule. Reasons are short stable codes (``temperature.out_of_range``) so they can be
counted and queried.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .rules import Rules

__all__ = ["Checked", "Validator", "utc_timestamp"]

_NUMBER = (int, float)
_INFINITE = (math.inf, -math.inf)
# Units are the same for every record but the reported pressure unit: share the dicts.
_UNITS = {
    unit: {
        "temperature": "C",
        "humidity": "%",
        "pressure": "bar",
        "voltage": "V",
        "pressure_reported": unit,
    }
    for unit in ("bar", "Pa")
}
# Fields that the range rules check (in contract units) and the nested group each belongs to.
_READINGS = ("temperature", "humidity", "pressure", "vibration", "voltage")


def utc_timestamp(value: Any) -> str | None:
    """The reading's time as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC, or None if unparseable.

    Naive timestamps are taken as UTC, which is what the sensor writes.
    """
    if value.__class__ is not str:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if len(value) == 29 and value.endswith("+00:00") and value[19] == ".":
        return value[:23] + "Z"  # the sensor's own format: already UTC with milliseconds
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return (
        f"{parsed.year:04d}-{parsed.month:02d}-{parsed.day:02d}T{parsed.hour:02d}:"
        f"{parsed.minute:02d}:{parsed.second:02d}.{parsed.microsecond // 1000:03d}Z"
    )


@dataclass(frozen=True, slots=True)
class Checked:
    """What the rules say about one row."""

    timestamp: str | None
    reasons: tuple[str, ...]
    emergency: tuple[str, ...]
    record: dict[str, Any]

    @property
    def valid(self) -> bool:
        return not self.reasons


class Validator:
    """Rules compiled for fast per-row use."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._sensor_re = re.compile(rules.sensor_id.pattern)
        self._firmware_re = re.compile(rules.firmware.pattern)
        self._not_before = rules.timestamp.not_before
        self._not_after = rules.timestamp.not_after
        self._required = tuple(rules.required)
        self._ranges = tuple(rules.ranges.items())
        self._pascal_above = rules.pressure.pascal_above
        self._models = {m: frozenset(models) for m, models in rules.devices.models.items()}
        self._placeholders = frozenset(p.strip().lower() for p in rules.location.placeholders)
        self._on_flag = rules.emergency.on_anomaly_flag
        self._thresholds = tuple(
            (name, t.below, t.above) for name, t in rules.emergency.thresholds.items()
        )
        f = rules.filtered
        self._sensor_types = frozenset(f.sensor_types)
        self._deployment_types = frozenset(f.deployment_types)
        self._decimals = f.location_decimals

    def check(self, row: Mapping[str, Any]) -> Checked:
        reasons: list[str] = []
        add = reasons.append
        get = row.get

        ts = utc_timestamp(get("timestamp"))
        if ts is None:
            add("timestamp.unparseable")
        elif not self._not_before <= ts <= self._not_after:
            add("timestamp.out_of_bounds")

        for name in self._required:
            if get(name) is None:
                add(f"{name}.missing")

        sensor_id = get("sensor_id")
        if sensor_id is not None and (
            sensor_id.__class__ is not str or not self._sensor_re.match(sensor_id)
        ):
            add("sensor_id.format")

        pressure = get("pressure")
        unit = "bar"
        if pressure.__class__ in _NUMBER and pressure > self._pascal_above:
            unit = "Pa"
        values = row
        if unit == "Pa":
            values = {**row, "pressure": pressure / 100_000.0}
        for name, (low, high) in self._ranges:
            value = values.get(name)
            if value is None:
                continue
            if value.__class__ not in _NUMBER:
                add(f"{name}.not_a_number")
            elif not low <= value <= high or value in _INFINITE:
                add(f"{name}.out_of_range")  # NaN fails the comparison too

        flag = get("anomaly_flag")
        status = get("status_code")
        anomaly_type = get("anomaly_type")
        if flag is not None and flag not in (0, 1):
            add("anomaly_flag.not_boolean")
        if flag is not None and status is not None and status != flag:
            add("status_code.mismatch")
        if flag == 1 and not anomaly_type:
            add("anomaly_type.missing")
        elif flag == 0 and anomaly_type:
            add("anomaly_type.unexpected")

        manufacturer = get("manufacturer")
        if manufacturer is not None:
            models = self._models.get(manufacturer)
            if models is None:
                add("manufacturer.unknown")
            elif get("model") is not None and get("model") not in models:
                add("model.unknown_for_manufacturer")
        firmware = get("firmware_version")
        if firmware is not None and (
            firmware.__class__ is not str or not self._firmware_re.match(firmware)
        ):
            add("firmware_version.format")
        location = get("location")
        if location is not None and (
            location.__class__ is not str or location.strip().lower() in self._placeholders
        ):
            add("location.placeholder")

        emergency = self._emergency(values, unit, pressure, flag, anomaly_type)
        record = self._nested(values, ts, unit)
        return Checked(ts, tuple(reasons), emergency, record)

    def _emergency(
        self, values: Mapping[str, Any], unit: str, pressure: Any, flag: Any, anomaly_type: Any
    ) -> tuple[str, ...]:
        hits: list[str] = []
        if self._on_flag and flag == 1:
            hits.append(f"anomaly.{anomaly_type or 'unspecified'}")
        for name, below, above in self._thresholds:
            if name == "pressure_bar":
                value = pressure if unit == "bar" else None
            elif name == "pressure_pa":
                value = pressure if unit == "Pa" else None
            else:
                value = values.get(name)
            if value.__class__ not in _NUMBER or value != value:
                continue
            if below is not None and value < below:
                hits.append(f"{name}.below")
            elif above is not None and value > above:
                hits.append(f"{name}.above")
        return tuple(hits)

    def _nested(self, v: Mapping[str, Any], ts: str | None, unit: str) -> dict[str, Any]:
        """The contract's nested shape; pressure in bar whatever unit the sensor used."""
        get = v.get
        flag = get("anomaly_flag")
        return {
            "contract_version": self.rules.contract_version,
            "reading_id": get("id"),
            "sensor_id": get("sensor_id"),
            "timestamp": ts,
            "readings": {name: get(name) for name in _READINGS},
            "units": _UNITS[unit],
            "status": {
                "status_code": get("status_code"),
                "anomaly_flag": bool(flag) if flag in (0, 1) else None,
                "anomaly_type": get("anomaly_type"),
            },
            "device_info": {
                "manufacturer": get("manufacturer"),
                "model": get("model"),
                "firmware_version": get("firmware_version"),
                "serial_number": get("serial_number"),
                "manufacture_date": get("manufacture_date"),
                "sensor_type": get("sensor_type"),
            },
            "location_info": {
                "location": get("location"),
                "latitude": get("latitude"),
                "longitude": get("longitude"),
                "height_meters": get("height_meters"),
                "orientation_degrees": get("orientation_degrees"),
                "original_timezone": get("original_timezone"),
            },
            "deployment_info": {
                "deployment_type": get("deployment_type"),
                "installation_date": get("installation_date"),
                "instance_id": get("instance_id"),
            },
        }

    def passes_filters(self, checked: Checked) -> bool:
        record = checked.record
        if self.rules.filtered.exclude_anomalies and record["status"]["anomaly_flag"]:
            return False
        if self.rules.filtered.exclude_emergencies and checked.emergency:
            return False
        if self._sensor_types and record["device_info"]["sensor_type"] not in self._sensor_types:
            return False
        deployment = record["deployment_info"]["deployment_type"]
        return not (self._deployment_types and deployment not in self._deployment_types)

    def coarsen(self, record: dict[str, Any]) -> dict[str, Any]:
        """A copy with latitude/longitude rounded: the filtered pipeline's privacy step."""
        location = dict(record["location_info"])
        for axis in ("latitude", "longitude"):
            value = location[axis]
            if value.__class__ in _NUMBER:
                location[axis] = round(value, self._decimals)
        location["precision_decimals"] = self._decimals
        return {**record, "location_info": location}
