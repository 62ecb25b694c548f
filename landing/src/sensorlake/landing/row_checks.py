"""Validation, normalisation, emergency detection and operational filters: pure functions.

Given a source row and the :class:`Rules`, the checker answers, with no I/O and no clock:
what is the reading's UTC time, is the row valid (and if not, why), what does it look like
in the nested contract, and does it trip an emergency rule. Reasons are short stable codes
(``temperature.out_of_range``) so they can be counted and queried.

A sensor's identity (device, location, deployment) repeats on every one of its rows, so
the checks and sub-records for those fields are computed once per distinct identity and
reused: that is what keeps four pipelines fast on a small gateway.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from sensorlake.contract.records import (
    CONTRACT_VERSION,
    DEPLOYMENT_FIELDS,
    DEVICE_FIELDS,
    LOCATION_FIELDS,
    READING_FIELDS,
    STATUS_FIELDS,
)

from .rules import Rules

__all__ = ["Checked", "RowChecker", "Validator", "future_limit", "utc_timestamp"]

_NUMBER = (int, float)
_INFINITE = (math.inf, -math.inf)
_READINGS = READING_FIELDS
_STATUS = STATUS_FIELDS
# Per-sensor fields: the same on every reading of one sensor, checked once per identity.
_DEVICE = DEVICE_FIELDS
_LOCATION = LOCATION_FIELDS
_DEPLOYMENT = DEPLOYMENT_FIELDS
_IDENTITY = ("sensor_id", *_DEVICE, *_LOCATION, *_DEPLOYMENT)
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
_CACHE_LIMIT = 10_000


def utc_timestamp(value: Any) -> str | None:
    """The reading's time as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC, or None if unparseable.

    Naive timestamps are taken as UTC, which is what the sensor writes.
    """
    if value.__class__ is not str:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if len(value) == 29 and value.endswith("+00:00") and value[19] == ".":
            return value[:23] + "Z"  # the sensor's own format: already UTC with milliseconds
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC)  # overflows at the ends of the datetime range
    except (ValueError, OverflowError):
        return None
    return (
        f"{parsed.year:04d}-{parsed.month:02d}-{parsed.day:02d}T{parsed.hour:02d}:"
        f"{parsed.minute:02d}:{parsed.second:02d}.{parsed.microsecond // 1000:03d}Z"
    )


def future_limit(landed_at: datetime, tolerance_seconds: float) -> str:
    """The latest reading time a run accepts: its start plus the rules' tolerance (UTC)."""
    limit = landed_at.astimezone(UTC) + timedelta(seconds=tolerance_seconds)
    return limit.strftime("%Y-%m-%dT%H:%M:%S.") + f"{limit.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Checked:
    """What the rules say about one row."""

    timestamp: str | None
    reasons: tuple[str, ...]
    emergency: tuple[str, ...]
    record: dict[str, Any]
    filtered_out: bool
    coarse_location: dict[str, Any]

    @property
    def valid(self) -> bool:
        return not self.reasons


@dataclass(frozen=True, slots=True)
class _Identity:
    reasons: tuple[str, ...]
    device: dict[str, Any]
    location: dict[str, Any]
    coarse_location: dict[str, Any]
    deployment: dict[str, Any]
    passes_filters: bool


class Validator:
    """Rules compiled once; :meth:`for_columns` gives the fast per-row checker."""

    def __init__(self, rules: Rules, *, future_limit: str | None = None) -> None:
        self.rules = rules
        # Readings after this UTC time (``YYYY-MM-DDTHH:MM:SS.mmmZ``) are in the future: the
        # landing run fixes it once (see :func:`future_limit`), so checking stays pure.
        self.future_limit = future_limit
        self.sensor_re = re.compile(rules.sensor_id.pattern)
        self.firmware_re = re.compile(rules.firmware.pattern)
        self.models = {m: frozenset(models) for m, models in rules.devices.models.items()}
        self.placeholders = frozenset(p.strip().lower() for p in rules.location.placeholders)
        self.required = frozenset(rules.required)

    def for_columns(self, columns: Sequence[str]) -> RowChecker:
        return RowChecker(self, tuple(columns))

    def check(self, row: Mapping[str, Any]) -> Checked:
        """Convenience for one row given as a mapping (tests, tools); same rules."""
        return self.for_columns(tuple(row)).check(tuple(row.values()))


def _getter(columns: Sequence[str], names: Sequence[str]) -> Any:
    """A function giving the named fields of a row tuple (None for absent columns)."""
    index = {c: i for i, c in enumerate(columns)}
    present = [index.get(n) for n in names]
    if all(i is not None for i in present):
        if len(present) == 1:
            i0 = present[0]
            return lambda values: (values[i0],)
        return itemgetter(*present)
    return lambda values: tuple(None if i is None else values[i] for i in present)


class RowChecker:
    def __init__(self, validator: Validator, columns: tuple[str, ...]) -> None:
        rules = validator.rules
        self.v = validator
        self.rules = rules
        self.columns = columns
        self._identity_of = _getter(columns, _IDENTITY)
        self._readings_of = _getter(columns, _READINGS)
        self._status_of = _getter(columns, _STATUS)
        self._ts_of = _getter(columns, ("timestamp", "id"))
        self._identities: dict[tuple[Any, ...], _Identity] = {}
        ranges = rules.ranges
        self._reading_ranges = tuple((n, ranges.get(n)) for n in _READINGS)
        self._required_readings = tuple(n in validator.required for n in _READINGS)
        self._required_status = tuple(n in validator.required for n in _STATUS)
        self._ts_required = "timestamp" in validator.required
        self._not_before = rules.timestamp.not_before
        self._not_after = rules.timestamp.not_after
        self._future = validator.future_limit or self._not_after
        self._pascal_above = rules.pressure.pascal_above
        thresholds = rules.emergency.thresholds
        self._thresholds = tuple(
            (i, name, thresholds[name].below, thresholds[name].above)
            for i, name in enumerate(_READINGS)
            if name in thresholds
        )
        self._pressure_thresholds = {
            unit: (thresholds[key].below, thresholds[key].above)
            for unit, key in (("bar", "pressure_bar"), ("Pa", "pressure_pa"))
            if key in thresholds
        }
        self._on_flag = rules.emergency.on_anomaly_flag
        self._exclude_anomalies = rules.filtered.exclude_anomalies
        self._exclude_emergencies = rules.filtered.exclude_emergencies

    # -- per sensor identity -----------------------------------------------------------

    def _identity(self, key: tuple[Any, ...]) -> _Identity:
        found = self._identities.get(key)
        if found is None:
            if len(self._identities) >= _CACHE_LIMIT:
                self._identities.clear()
            found = self._identities[key] = self._check_identity(
                dict(zip(_IDENTITY, key, strict=True))
            )
        return found

    def _check_identity(self, f: dict[str, Any]) -> _Identity:
        v, rules = self.v, self.rules
        reasons: list[str] = [f"{n}.missing" for n in _IDENTITY if n in v.required and f[n] is None]
        sensor_id = f["sensor_id"]
        if sensor_id is not None and (
            sensor_id.__class__ is not str or not v.sensor_re.fullmatch(sensor_id)
        ):
            reasons.append("sensor_id.format")
        manufacturer, model = f["manufacturer"], f["model"]
        if manufacturer is not None:
            models = v.models.get(manufacturer)
            if models is None:
                reasons.append("manufacturer.unknown")
            elif model is not None and model not in models:
                reasons.append("model.unknown_for_manufacturer")
        firmware = f["firmware_version"]
        if firmware is not None and (
            firmware.__class__ is not str or not v.firmware_re.fullmatch(firmware)
        ):
            reasons.append("firmware_version.format")
        location = f["location"]
        if location is not None and (
            location.__class__ is not str or location.strip().lower() in v.placeholders
        ):
            reasons.append("location.placeholder")
        for name in ("latitude", "longitude", "height_meters", "orientation_degrees"):
            reasons.extend(_range_reason(name, f[name], rules.ranges.get(name)))
        place = {n: f[n] for n in _LOCATION}
        decimals = rules.filtered.location_decimals
        coarse = dict(place)
        for axis in ("latitude", "longitude"):
            if coarse[axis].__class__ in _NUMBER and math.isfinite(coarse[axis]):
                coarse[axis] = round(coarse[axis], decimals)
        coarse["precision_decimals"] = decimals
        filters = rules.filtered
        passes = not (
            (filters.sensor_types and f["sensor_type"] not in filters.sensor_types)
            or (filters.deployment_types and f["deployment_type"] not in filters.deployment_types)
        )
        return _Identity(
            reasons=tuple(reasons),
            device={n: f[n] for n in _DEVICE},
            location=place,
            coarse_location=coarse,
            deployment={n: f[n] for n in _DEPLOYMENT},
            passes_filters=passes,
        )

    # -- per row -------------------------------------------------------------------------

    def check(self, values: Sequence[Any]) -> Checked:
        key = self._identity_of(values)
        identity = self._identity(key)
        raw_ts, row_id = self._ts_of(values)
        reasons: list[str] = list(identity.reasons)
        add = reasons.append

        ts = utc_timestamp(raw_ts)
        if ts is None:
            add(
                "timestamp.missing"
                if raw_ts is None and self._ts_required
                else "timestamp.unparseable"
            )
        elif not self._not_before <= ts <= self._not_after:
            add("timestamp.out_of_bounds")
        elif ts > self._future:
            add("timestamp.in_future")

        readings = list(self._readings_of(values))
        pressure = readings[2]
        unit = "bar"
        if pressure.__class__ in _NUMBER and pressure > self._pascal_above:
            unit = "Pa"
            readings[2] = pressure / 100_000.0
        for (name, bounds), value, required in zip(
            self._reading_ranges, readings, self._required_readings, strict=True
        ):
            if value is None:
                if required:
                    add(f"{name}.missing")
            elif value.__class__ not in _NUMBER:
                add(f"{name}.not_a_number")
            elif bounds is not None and (not bounds[0] <= value <= bounds[1] or value in _INFINITE):
                add(f"{name}.out_of_range")  # NaN fails the comparison too

        status_code, flag, anomaly_type = self._status_of(values)
        for name, value, required in zip(
            _STATUS, (status_code, flag, anomaly_type), self._required_status, strict=True
        ):
            if required and value is None:
                add(f"{name}.missing")
        if flag is not None and flag not in (0, 1):
            add("anomaly_flag.not_boolean")
        if flag is not None and status_code is not None and status_code != flag:
            add("status_code.mismatch")
        if flag == 1 and not anomaly_type:
            add("anomaly_type.missing")
        elif flag == 0 and anomaly_type:
            add("anomaly_type.unexpected")

        emergency = self._emergency(readings, pressure, unit, flag, anomaly_type)
        is_flagged = flag in (0, 1) and bool(flag)
        record = {
            "contract_version": CONTRACT_VERSION,
            "reading_id": row_id,
            "sensor_id": key[0],
            "timestamp": ts,
            "readings": dict(zip(_READINGS, readings, strict=True)),
            "units": _UNITS[unit],
            "status": {
                "status_code": status_code,
                "anomaly_flag": is_flagged if flag in (0, 1) else None,
                "anomaly_type": anomaly_type,
            },
            "device_info": identity.device,
            "location_info": identity.location,
            "deployment_info": identity.deployment,
        }
        filtered_out = (
            not identity.passes_filters
            or (self._exclude_anomalies and is_flagged)
            or (self._exclude_emergencies and bool(emergency))
        )
        return Checked(
            ts, tuple(reasons), emergency, record, filtered_out, identity.coarse_location
        )

    def _emergency(
        self, readings: list[Any], pressure: Any, unit: str, flag: Any, anomaly_type: Any
    ) -> tuple[str, ...]:
        hits: list[str] = []
        if self._on_flag and flag == 1:
            hits.append(f"anomaly.{anomaly_type or 'unspecified'}")
        for i, name, below, above in self._thresholds:
            value = readings[i]
            if value.__class__ not in _NUMBER or value != value:
                continue
            if below is not None and value < below:
                hits.append(f"{name}.below")
            elif above is not None and value > above:
                hits.append(f"{name}.above")
        bounds = self._pressure_thresholds.get(unit)
        if bounds is not None and pressure.__class__ in _NUMBER and pressure == pressure:
            below, above = bounds
            key = "pressure_bar" if unit == "bar" else "pressure_pa"
            if below is not None and pressure < below:
                hits.append(f"{key}.below")
            elif above is not None and pressure > above:
                hits.append(f"{key}.above")
        return tuple(hits)


def _range_reason(name: str, value: Any, bounds: tuple[float, float] | None) -> list[str]:
    if value is None or bounds is None:
        return []
    if value.__class__ not in _NUMBER:
        return [f"{name}.not_a_number"]
    if not bounds[0] <= value <= bounds[1] or value in _INFINITE:
        return [f"{name}.out_of_range"]
    return []
