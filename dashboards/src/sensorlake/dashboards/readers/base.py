"""What the readers hand over, and the interfaces they implement.

Readers are the package's only side effects: the landing zone (local lake or S3), the tables
(local Delta tables or Databricks) and the gateway state. Everything they return is plain
data; :mod:`..snapshot` turns it into the figures the API, the page and ``status`` show.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.summary import RunRecord

__all__ = [
    "EMERGENCIES_READ",
    "OUTSIDE_SHOWN",
    "EmergencyReader",
    "EmergencyReading",
    "GatewayState",
    "GatewayStateReader",
    "HistoryEntry",
    "Inputs",
    "JobRun",
    "LandedObject",
    "LandingListing",
    "LandingReader",
    "TableReader",
    "TableStats",
    "emergency_reading",
    "key_in",
]


# How many files outside the key layout a listing names (all are counted).
OUTSIDE_SHOWN = 20


@dataclass(frozen=True, slots=True)
class LandedObject:
    """One landed file: its key's fields, its size and time, and its record count (from the
    object's metadata, or counted once when a local file has none)."""

    key: LandingKey
    size: int
    modified: float  # seconds since the epoch, UTC
    records: int

    @property
    def name(self) -> str:
        return self.key.format()


@dataclass(frozen=True)
class LandingListing:
    """Every landed file per target, and what could not be listed (target -> reason)."""

    objects: Mapping[str, tuple[LandedObject, ...]]
    location: Mapping[str, str]  # target -> bucket or directory, for people
    errors: Mapping[str, str] = field(default_factory=dict)
    unknown_keys: int = 0  # files under a target prefix outside the key layout
    # target -> objects whose record count is still being read (counted as 0 meanwhile)
    uncounted: Mapping[str, int] = field(default_factory=dict)
    # landing key -> why its metadata was refused (the file was counted another way)
    bad_metadata: Mapping[str, str] = field(default_factory=dict)
    # the first of the files outside the key layout (``contract.keys.LandingKey.parse``
    # refuses them; the streams skip them), as paths or URLs for people
    outside_layout: tuple[str, ...] = ()
    # target -> listings still to make before every new object is known (an S3 listing
    # cycle spans refreshes when it is longer than a refresh's budget; 0: up to date)
    pending: Mapping[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not any(self.uncounted.values()) and not any(self.pending.values())


class LandingReader(Protocol):
    kind: str  # "local lake" or "s3"

    def list_landed(self) -> LandingListing: ...


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    timestamp: float
    operation: str
    rows_written: int | None = None


@dataclass(frozen=True)
class TableStats:
    """One table's figures; ``files`` are the landing keys its rows came from."""

    table: str
    version: int
    rows: int
    created_at: float | None
    last_ingested_at: float | None
    columns: tuple[str, ...]
    initial_columns: tuple[str, ...]
    rescued_rows: int
    files: frozenset[str]
    # gateway -> rows, and -> distinct lineage ids (epoch, row id) among them: plain counts,
    # the duplicate rule is reconcile's; rows without a lineage gateway (a landed line that
    # was not JSON) are in ``unattributed_rows`` only
    gateway_rows: Mapping[str, int]
    gateway_distinct: Mapping[str, int]
    # minute (seconds since the epoch, floored) -> rows ingested then
    ingested_per_minute: Mapping[int, int]
    history: tuple[HistoryEntry, ...] = ()
    # landing keys the stream has recorded as processed (None: no checkpoint to read)
    processed_files: frozenset[str] | None = None
    unattributed_rows: int = 0


@dataclass(frozen=True)
class JobRun:
    """One run of a project's stream job (Databricks only), from its ``RunStatus``."""

    run_id: int
    job_id: int
    name: str
    life_cycle: str  # status.state: QUEUED, PENDING, RUNNING, TERMINATING, TERMINATED...
    result: str  # status.termination_details.code: SUCCESS, RUN_EXECUTION_ERROR... ("" if running)
    message: str
    started_at: float | None
    ended_at: float | None
    target: str = ""  # the target whose job this is ("": unknown)

    @property
    def failed(self) -> bool:
        """Terminated for any reason but success (a skipped run did not fail)."""
        return self.result not in ("", "SUCCESS", "SKIPPED")


class TableReader(Protocol):
    kind: str  # "local warehouse" or "databricks"

    def table_stats(self, target: str) -> TableStats | None:
        """The table's figures, or None when the table does not exist yet."""
        ...


# How many of the newest emergency readings a refresh reads (the page and the API show these).
EMERGENCIES_READ = 50


@dataclass(frozen=True)
class EmergencyReading:
    """One row of the emergency table: which sensor raised which alarm, and its values.

    The shape is the contract's (``contract.records``: the schematized record plus
    ``emergency.reasons``, ``valid`` and ``validation_errors``); ``values`` are its
    ``readings`` (temperature, humidity, pressure in bar, vibration, voltage)."""

    sensor_id: str
    gateway: str
    timestamp: float | None  # the reading's time, seconds since the epoch, UTC
    reasons: tuple[str, ...]
    values: Mapping[str, float | None]
    valid: bool
    validation_errors: tuple[str, ...] = ()
    reading_id: int | None = None
    ingested_at: float | None = None


def emergency_reading(row: Mapping[str, Any]) -> EmergencyReading:
    """A row of the emergency table as a reader gets it: from pyarrow (lists, dicts) or the
    Databricks SQL connector (structs as dicts, arrays as numpy arrays, or either as JSON
    text). Columns: ``sensor_id``, ``timestamp``, ``reading_id``, ``readings``,
    ``emergency``, ``_ingested_at``, and the gateway as ``lineage_gateway`` (from
    ``_lineage.gateway_id``) or ``gateway`` (the key's partition column)."""
    alarm = _struct(row.get("emergency"))
    values = _struct(row.get("readings"))
    reading_id = row.get("reading_id")
    return EmergencyReading(
        sensor_id=str(row.get("sensor_id") or ""),
        gateway=str(row.get("lineage_gateway") or row.get("gateway") or ""),
        timestamp=_seconds(row.get("timestamp")),
        reasons=_strings(alarm.get("reasons")),
        values={str(k): _number(v) for k, v in values.items()},
        valid=bool(alarm.get("valid")),
        validation_errors=_strings(alarm.get("validation_errors")),
        reading_id=None if reading_id is None else int(reading_id),
        ingested_at=_seconds(row.get("_ingested_at")),
    )


def _struct(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> tuple[str, ...]:
    if value is None or isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return () if value is None else (str(value),)
    return tuple(str(v) for v in value)


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _seconds(value: Any) -> float | None:
    """A timestamp cell (datetime, or ISO text) as seconds since the epoch, UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class EmergencyReader(Protocol):
    def latest_emergencies(self, limit: int = EMERGENCIES_READ) -> tuple[EmergencyReading, ...]:
        """The newest emergency readings by reading time, newest first (() without a table)."""
        ...


@dataclass(frozen=True)
class GatewayState:
    """What the gateway state on this machine says (runs newest first)."""

    runs: tuple[RunRecord, ...]
    spool_files: int
    spool_bytes: int


class GatewayStateReader(Protocol):
    def gateway_state(self) -> GatewayState | None:
        """None when there is no gateway state on this machine."""
        ...


def key_in(path: str) -> str | None:
    """The landing key inside a path or URL (``s3://b/raw/date=...``, ``file:///.../raw/...``).

    Tables record where a row came from as a full path, perhaps percent-encoded
    (``date%3D...``); matching it against landed keys needs the key alone.
    """
    path = unquote(path)
    marker = "/date="
    at = path.find(marker)
    while at != -1:
        start = path.rfind("/", 0, at) + 1
        try:
            return LandingKey.parse(path[start:]).format()
        except ValueError:
            at = path.find(marker, at + 1)
    return None


@dataclass(frozen=True)
class Inputs:
    """What the readers found in one refresh, with each backend's kind and any failure."""

    landing_kind: str
    landing: LandingListing | None
    landing_error: str | None
    tables_kind: str
    tables: Mapping[str, TableStats | None]  # target -> stats (None: no table yet)
    table_errors: Mapping[str, str]
    tables_not_configured: str | None  # why the tables cannot be read, when not set up
    gateway: GatewayState | None
    gateway_error: str | None
    read_at: float
    job_runs: tuple[JobRun, ...] = ()
    jobs_error: str | None = None
    emergencies: tuple[EmergencyReading, ...] = ()  # newest first
    emergencies_error: str | None = None
