"""The versioned rules file: validation ranges, enums, emergency thresholds, filters.

Rules are data. They are read once, checked strictly (unknown keys are errors, so a typo
cannot silently disable a rule) and handed to :mod:`row_checks` as a frozen object.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import msgspec

from .errors import ConfigError

__all__ = [
    "DEFAULT_RULES",
    "DeviceRules",
    "EmergencyRules",
    "FilterRules",
    "LocationRules",
    "PatternRule",
    "PressureRules",
    "Rules",
    "Threshold",
    "TimestampRules",
    "load_rules",
]

DEFAULT_RULES = "default.toml"


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


class TimestampRules(_Strict):
    not_before: str = "2000-01-01T00:00:00.000Z"
    not_after: str = "2100-01-01T00:00:00.000Z"
    # How far ahead of the landing run's start a reading may be dated (clock drift).
    future_tolerance_seconds: float = 86_400.0


class PatternRule(_Strict):
    pattern: str


class PressureRules(_Strict):
    pascal_above: float = 1000.0


class DeviceRules(_Strict):
    models: dict[str, list[str]] = {}


class LocationRules(_Strict):
    placeholders: list[str] = []


class Threshold(_Strict):
    below: float | None = None
    above: float | None = None


class EmergencyRules(_Strict):
    on_anomaly_flag: bool = True
    thresholds: dict[str, Threshold] = {}


class FilterRules(_Strict):
    exclude_anomalies: bool = True
    exclude_emergencies: bool = False
    sensor_types: list[str] = []
    deployment_types: list[str] = []
    location_decimals: int = 3


class Rules(_Strict):
    version: str
    required: list[str]
    timestamp: TimestampRules
    sensor_id: PatternRule
    firmware: PatternRule
    pressure: PressureRules
    ranges: dict[str, tuple[float, float]]
    devices: DeviceRules
    location: LocationRules
    emergency: EmergencyRules
    filtered: FilterRules

    def __post_init__(self) -> None:
        for name, rule in (("sensor_id", self.sensor_id), ("firmware", self.firmware)):
            try:
                re.compile(rule.pattern)
            except re.error as exc:
                raise ValueError(f"[{name}] pattern is not a valid regex: {exc}") from None
        for field, (low, high) in self.ranges.items():
            if low > high:
                raise ValueError(f"[ranges] {field}: lower bound {low} is above upper {high}")
        if self.timestamp.future_tolerance_seconds < 0:
            raise ValueError("[timestamp] future_tolerance_seconds must not be negative")
        if not 0 <= self.filtered.location_decimals <= 10:
            raise ValueError("[filtered] location_decimals must be between 0 and 10")


def load_rules(path: Path | None = None) -> Rules:
    """Load and check a rules file; ``None`` means the packaged defaults."""
    where = str(path) if path else f"packaged rules/{DEFAULT_RULES}"
    try:
        if path is None:
            text = resources.files(__package__).joinpath("rules", DEFAULT_RULES).read_text()
        else:
            text = Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text)
        if "contract_version" in data:
            raise ConfigError(
                f"rules file {where} sets contract_version, which the software owns "
                "(the record shapes are versioned with the code)",
                hint="remove the contract_version line",
            )
        return msgspec.convert(data, Rules)
    except FileNotFoundError:
        raise ConfigError(
            f"rules file {where} does not exist", hint="fix --rules / SENSORLAKE_RULES"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"rules file {where} is not valid TOML ({exc})", hint="fix the file"
        ) from None
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"rules file {where} is invalid: {exc}", hint="fix the file") from None
