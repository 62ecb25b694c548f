"""What the readers hand over, and the interfaces they implement.

Readers are the package's only side effects: the landing zone (local lake or S3), the tables
(local Delta tables or Databricks) and the gateway state. Everything they return is plain
data; :mod:`..snapshot` turns it into the figures the API, the page and ``status`` show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote

from sensorlake.contract.keys import LandingKey
from sensorlake.contract.summary import RunRecord

__all__ = [
    "OUTSIDE_SHOWN",
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
    # gateway -> rows, and rows beyond the first per (gateway, epoch, row id); rows without
    # a lineage gateway (a landed line that was not JSON) are in ``unattributed_rows`` only
    gateway_rows: Mapping[str, int]
    gateway_duplicates: Mapping[str, int]
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
