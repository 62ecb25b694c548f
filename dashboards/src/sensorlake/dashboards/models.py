"""The API's response models: every endpoint answers one of these, documented in /docs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "NO_LINEAGE",
    "AutoloaderTables",
    "BucketDetails",
    "ComponentHealth",
    "ComponentState",
    "Emergencies",
    "EmergencyReadingInfo",
    "ErrorResponse",
    "FleetGateway",
    "FleetPage",
    "FleetPipeline",
    "FleetTotals",
    "GatewayFleetState",
    "GatewayRun",
    "GatewayStatus",
    "Health",
    "JobRunInfo",
    "LandedObjectInfo",
    "Overview",
    "Partition",
    "PipelineMetrics",
    "PipelineSeries",
    "PipelineState",
    "PipelineStatus",
    "PipelinesStatus",
    "Reconciliation",
    "ReconciliationRow",
    "RowVerdict",
    "S3Metrics",
    "TableInfo",
    "Verdict",
]

# The reconciliation's row for table rows without a lineage (no gateway to count them under).
NO_LINEAGE = "(no lineage)"

ComponentState = Literal["healthy", "degraded", "unavailable", "not configured"]
PipelineState = Literal["healthy", "lagging", "stalled", "unknown"]
RowVerdict = Literal["ok", "pending", "missing", "duplicates", "extra", "no lineage", "not checked"]
Verdict = Literal["exactly once", "in flight", "mismatch", "not checked"]


class ErrorResponse(BaseModel):
    """What every error answers: one line saying what is wrong (never a stack trace)."""

    detail: str


class ComponentHealth(BaseModel):
    name: Literal["landing", "tables", "gateway"] = Field(
        description="landing zone, tables, or this machine's gateway spool"
    )
    backend: str = Field(description="local lake, s3, local warehouse or databricks")
    status: ComponentState
    reason: str | None = Field(None, description="why it is not healthy")


class Health(BaseModel):
    status: Literal["healthy", "degraded", "unavailable"] = Field(
        description="the worst component, ignoring a gateway spool that is not on this machine"
    )
    reason: str | None = None
    components: list[ComponentHealth]
    as_of: datetime | None = Field(description="when the figures were read")
    age_seconds: float = Field(description="how old the figures are (refreshed in background)")


class PipelineMetrics(BaseModel):
    pipeline: str = Field(description="a pipeline, or `rejected` (kept beside schematized)")
    location: str = Field(description="bucket/prefix or local directory")
    objects: int
    bytes: int
    records: int = Field(description="from object metadata, not by reading files")
    oldest_object: datetime | None
    newest_object: datetime | None
    objects_last_hour: int
    records_last_hour: int
    objects_last_day: int
    records_last_day: int
    uncounted_objects: int = Field(
        0, description="objects whose record count is still being read (first scan)"
    )
    error: str | None = Field(None, description="why this prefix could not be listed")


class S3Metrics(BaseModel):
    backend: str
    as_of: datetime | None
    pipelines: list[PipelineMetrics]
    rejected_records: int = Field(description="records that failed validation (`rejected/`)")
    rejected_reasons: dict[str, int] = Field(
        description="rejected rows by reason, from this machine's gateway runs"
    )
    unknown_objects: int = Field(
        description="files under a pipeline prefix outside the key layout (the streams skip "
        "them; their records are in no figure)"
    )
    outside_layout: list[str] = Field(
        default_factory=list, description="the first of those files, by path or URL"
    )
    bad_metadata_objects: int = Field(
        0,
        description="landed files whose metadata cannot be true (not an object, a negative "
        "count...): counted by reading their lines locally, as 0 in S3",
    )
    bad_metadata: dict[str, str] = Field(
        default_factory=dict, description="the first of those files: key -> why"
    )


class TableInfo(BaseModel):
    pipeline: str
    table: str = Field(description="catalog.schema.table")
    exists: bool
    rows: int | None
    last_ingestion_time: datetime | None
    latest_version: int | None = Field(description="latest Delta version")
    files_ingested: int | None
    backlog_files: int | None = Field(description="files landed but not yet in the table")
    backlog_records: int | None
    columns: int | None
    columns_added: list[str] = Field(description="columns added since the table was created")
    rescued_data_rows: int | None = Field(description="rows with a non-null _rescued_data")
    error: str | None = None


class AutoloaderTables(BaseModel):
    backend: str
    status: ComponentState
    reason: str | None = None
    as_of: datetime | None
    tables: list[TableInfo]


class Partition(BaseModel):
    date: str
    gateway: str
    objects: int
    bytes: int
    records: int
    newest_object: datetime


class LandedObjectInfo(BaseModel):
    key: str
    size: int
    records: int
    modified: datetime
    ingested: bool | None = Field(description="whether the table has its rows (None: unknown)")


class BucketDetails(BaseModel):
    pipeline: str
    location: str
    backend: str
    as_of: datetime | None
    objects: int
    bytes: int
    records: int
    total_partitions: int
    offset: int
    limit: int
    partitions: list[Partition] = Field(description="newest date first, one page")
    newest_objects: list[LandedObjectInfo]


class PipelineStatus(BaseModel):
    pipeline: str
    table: str
    state: PipelineState
    reason: str
    landed_records: int
    ingested_records: int | None
    backlog_files: int | None
    backlog_records: int | None
    lag_seconds: float | None = Field(description="age of the oldest file not yet ingested")
    last_landed: datetime | None
    last_ingested: datetime | None


class GatewayRun(BaseModel):
    gateway: str
    finished_at: str
    rows_read: int
    exit_code: int
    error: str | None
    rows_without_id: int = Field(0, description="source rows that cannot land (no usable id)")
    duplicate_ids: int = Field(0, description="source rows skipped: their id repeats a row's")
    stranded_files: int = Field(0, description="spooled files that cannot ship (not a key)")


class GatewayStatus(BaseModel):
    available: bool = Field(description="whether this machine has gateway state")
    last_run: GatewayRun | None = None
    spool_files: int = 0
    spool_bytes: int = 0


class JobRunInfo(BaseModel):
    run_id: int
    job_id: int
    name: str
    state: str = Field(description="result (SUCCESS, FAILED...) or life-cycle state if running")
    message: str
    started_at: datetime | None
    ended_at: datetime | None


class PipelinesStatus(BaseModel):
    as_of: datetime | None
    lag_threshold_seconds: float
    stall_threshold_seconds: float
    pipelines: list[PipelineStatus]
    gateway: GatewayStatus
    jobs: list[JobRunInfo] = Field(description="newest stream job runs (Databricks only)")
    jobs_error: str | None = None


class ReconciliationRow(BaseModel):
    pipeline: str
    gateway: str = Field(
        description=f"a gateway id, or `{NO_LINEAGE}`: rows whose _lineage is null (a landed "
        "line that was not JSON, kept whole in _rescued_data), which no gateway can claim"
    )
    landed_records: int = Field(description="records landed, from object metadata")
    table_rows: int | None
    distinct_records: int | None = Field(description="rows with distinct _lineage ids")
    pending_records: int | None = Field(description="landed, not yet due in the table")
    missing_records: int | None = Field(description="landed, due, and not in the table")
    duplicate_rows: int | None = Field(description="rows beyond the first per _lineage id")
    extra_records: int | None = Field(description="rows in the table beyond what landed")
    verdict: RowVerdict


class Reconciliation(BaseModel):
    as_of: datetime | None
    verdict: Verdict
    summary: str
    rows: list[ReconciliationRow]


class PipelineSeries(BaseModel):
    pipeline: str
    landed: list[int] = Field(description="records landed up to the end of each bucket")
    ingested: list[int] = Field(description="rows ingested up to the end of each bucket")


class Overview(BaseModel):
    """Everything the page shows, in one request."""

    health: Health
    status: PipelinesStatus
    metrics: S3Metrics
    tables: AutoloaderTables
    reconciliation: Reconciliation
    bucket_seconds: int
    buckets: list[datetime] = Field(description="start of each chart bucket")
    series: list[PipelineSeries]


GatewayFleetState = Literal["silent", "behind", "landing"]


class FleetPipeline(BaseModel):
    pipeline: str
    last_landed: datetime = Field(description="modification time of its newest file")
    last_key: str = Field(description="its newest file's landing key")
    files_last_hour: int
    records_last_hour: int
    files_last_day: int
    records_last_day: int


class FleetGateway(BaseModel):
    gateway: str
    state: GatewayFleetState = Field(
        description="silent: no file for more than SENSORLAKE_SILENT_SECONDS; behind: files "
        "due and not in a table, or waiting SENSORLAKE_LAG_SECONDS or longer; else landing"
    )
    reason: str
    last_landed: datetime = Field(description="its newest file, any pipeline")
    age_seconds: float = Field(description="how old that file was when the figures were read")
    files_last_hour: int = Field(description="files, every pipeline")
    files_last_day: int
    records_last_hour: int = Field(description="readings landed (raw: each reading once)")
    records_last_day: int
    backlog_files: int | None = Field(description="files not yet in a table (None: unknown)")
    backlog_records: int | None
    pipelines: list[FleetPipeline] = Field(description="the pipelines it has landed in")


class FleetTotals(BaseModel):
    gateways: int
    healthy: int = Field(description="gateways landing, with nothing behind")
    silent: int
    behind: int


class FleetPage(BaseModel):
    as_of: datetime | None
    silent_seconds: float
    behind_seconds: float
    totals: FleetTotals = Field(description="the whole fleet, whatever the search")
    matching: int = Field(description="gateways matching the search and state")
    page: int
    per_page: int
    pages: int
    gateways: list[FleetGateway] = Field(description="worst first: silent, behind, landing")
    error: str | None = Field(None, description="why the landing zone could not be read")


class EmergencyReadingInfo(BaseModel):
    sensor_id: str
    gateway: str
    timestamp: datetime | None = Field(description="when the sensor took the reading")
    reasons: list[str] = Field(description="the emergency rules it tripped")
    values: dict[str, float | None] = Field(description="its readings (pressure in bar)")
    valid: bool = Field(description="whether the reading also passed validation")
    validation_errors: list[str]
    reading_id: int | None
    ingested_at: datetime | None


class Emergencies(BaseModel):
    as_of: datetime | None
    table: str
    readings: list[EmergencyReadingInfo] = Field(description="newest reading time first")
    error: str | None = Field(None, description="why the emergency table could not be read")
