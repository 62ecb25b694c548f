"""The local warehouse: the streams' Delta tables at ``table_dir(...)``, read with deltalake.

Figures are computed with pyarrow from the few columns that carry them (lineage, source
file, ingest time, rescued data) and cached per table version, so a refresh of an unchanged
table costs one log read. Which landed files a stream has processed comes from its
checkpoint (Spark's file-source log at ``contract.lake.checkpoint_path``), when there is
one.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sensorlake.contract.lake import checkpoint_path, table_dir
from sensorlake.contract.pipelines import table_name
from sensorlake.contract.records import INGEST_COLUMNS, LINEAGE, RESCUED_COLUMN

from ..errors import BackendUnavailable
from .base import (
    EMERGENCIES_READ,
    EmergencyReading,
    HistoryEntry,
    TableStats,
    emergency_reading,
    key_in,
)

__all__ = [
    "HISTORY_SHOWN",
    "INGESTED_AT",
    "SOURCE_FILE",
    "LocalWarehouseReader",
    "read_file_source_log",
]

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError

log = logging.getLogger(__name__)

INGESTED_AT, SOURCE_FILE = INGEST_COLUMNS[0].name, INGEST_COLUMNS[1].name
_LINEAGE_ID = ("gateway_id", "epoch", "row_id")
assert all(f in {c.name for c in LINEAGE.fields} for f in _LINEAGE_ID)
HISTORY_SHOWN = 20


def _load() -> None:
    """Import deltalake and pyarrow (about a second) on the first read, on the tables
    backend's thread: the monitor's start and first answer do not wait for them."""
    global pa, pc, DeltaTable, DeltaError
    if "DeltaError" in globals():  # the last one bound
        return
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError


def read_file_source_log(checkpoint: Path) -> frozenset[str] | None:
    """Landing keys a Spark file stream has processed (None when there is no checkpoint).

    The stream writes it (``contract.lake.checkpoint_path``); its file-source log is
    ``sources/0/<batch>[.compact]``: a ``v1`` line, then one JSON object per file with its
    ``path`` and ``batchId``. Spark logs a file when it plans the batch, before the batch is
    written: only batches with an entry in ``commits/`` count as processed.
    """
    source = checkpoint / "sources" / "0"
    if not source.is_dir():
        return None
    commits = checkpoint / "commits"
    committed = (
        [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.is_dir() else []
    )
    last = max(committed, default=-1)
    keys: set[str] = set()
    for entry in source.iterdir():
        if not entry.name.split(".")[0].isdigit():
            continue
        for line in entry.read_text(errors="replace").splitlines()[1:]:
            try:
                item = json.loads(line)
                path, batch = str(item.get("path", "")), int(item.get("batchId", -1))
            except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                continue
            if batch > last:
                continue  # planned, not committed: still on its way
            key = key_in(path)
            if key is not None:
                keys.add(key)
    return frozenset(keys)


def _ms(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) / 1000.0


class LocalWarehouseReader:
    kind = "local warehouse"

    def __init__(self, warehouse_dir: Path, checkpoint_dir: Path, catalog: str, schema: str):
        self.warehouse_dir = Path(warehouse_dir)
        self.checkpoint_dir = Path(checkpoint_dir)
        self.catalog = catalog
        self.schema = schema
        self._cache: dict[str, TableStats] = {}
        self._emergencies: tuple[int, int, tuple[EmergencyReading, ...]] | None = None
        self._lock = threading.Lock()

    def path(self, target: str) -> Path:
        return table_dir(self.warehouse_dir, self.catalog, self.schema, table_name(target))

    def table_stats(self, target: str) -> TableStats | None:
        _load()
        if not self.warehouse_dir.is_dir():
            raise BackendUnavailable(
                f"local warehouse {self.warehouse_dir} does not exist: run "
                "`sensorlake streams run` or set --warehouse-dir"
            )
        path = self.path(target)
        try:
            exists = DeltaTable.is_deltatable(str(path))
        except (DeltaError, OSError) as exc:
            raise BackendUnavailable(
                f"cannot read table {table_name(target)} at {path} ({type(exc).__name__})"
            ) from None
        if not exists:
            if path.is_dir() and any(path.iterdir()):
                raise BackendUnavailable(
                    f"table {table_name(target)} at {path} has files but no readable "
                    "_delta_log commit: restore its _delta_log, or move the folder away and "
                    "run the streams again"
                )
            return None  # not created yet (no stream has run)
        checkpoint = checkpoint_path(
            self.checkpoint_dir, self.catalog, self.schema, table_name(target)
        )
        processed = read_file_source_log(checkpoint)
        try:
            table = DeltaTable(str(path))
            version = table.version()
            with self._lock:
                cached = self._cache.get(target)
            if cached is None or cached.version != version:
                cached = self._compute(target, table, version)
                with self._lock:
                    self._cache[target] = cached
        except (DeltaError, OSError, pa.ArrowException) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise BackendUnavailable(
                f"cannot read table {table_name(target)} at {path} ({type(exc).__name__}: "
                f"{first}): check its _delta_log, or move the table away and run the streams "
                "again"
            ) from None
        return _with_processed(cached, processed)

    def latest_emergencies(self, limit: int = EMERGENCIES_READ) -> tuple[EmergencyReading, ...]:
        """The newest rows of the emergency table by reading time (cached per version)."""
        _load()
        if not self.warehouse_dir.is_dir():
            raise BackendUnavailable(
                f"local warehouse {self.warehouse_dir} does not exist: run "
                "`sensorlake streams run` or set --warehouse-dir"
            )
        path = self.path("emergency")
        try:
            if not DeltaTable.is_deltatable(str(path)):
                return ()  # no stream has written it yet
            table = DeltaTable(str(path))
            version = table.version()
            with self._lock:
                cached = self._emergencies
            if cached is not None and cached[:2] == (version, limit):
                return cached[2]
            readings = _newest_emergencies(table, limit)
        except (DeltaError, OSError, pa.ArrowException) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise BackendUnavailable(
                f"cannot read table {table_name('emergency')} at {path} "
                f"({type(exc).__name__}: {first})"
            ) from None
        with self._lock:
            self._emergencies = (version, limit, readings)
        return readings

    def _compute(self, target: str, table: DeltaTable, version: int) -> TableStats:
        columns = tuple(f.name for f in table.schema().fields)
        history = [
            HistoryEntry(
                version=int(h.get("version", 0)),
                timestamp=_ms(h.get("timestamp")) or 0.0,
                operation=str(h.get("operation", "")),
                rows_written=_rows_written(h.get("operationMetrics") or {}),
            )
            for h in table.history(HISTORY_SHOWN)
        ]
        initial = columns
        created_at = None
        try:
            first = DeltaTable(str(self.path(target)), version=0)
            initial = tuple(f.name for f in first.schema().fields)
            created_at = _ms(first.metadata().created_time)
        except DeltaError:
            log.info("version 0 of %s is gone; columns added are counted from now", target)
        data = self._columns(table, columns)
        return TableStats(
            table=f"{self.catalog}.{self.schema}.{table_name(target)}",
            version=version,
            rows=data.num_rows,
            created_at=created_at,
            initial_columns=initial,
            columns=columns,
            **_figures(data),
            history=tuple(history),
        )

    @staticmethod
    def _columns(table: DeltaTable, columns: tuple[str, ...]) -> pa.Table:
        wanted: dict[str, Any] = {}
        if LINEAGE.name in columns:
            for name in _LINEAGE_ID:
                wanted[name] = pc.field(LINEAGE.name, name)
        for name in (INGESTED_AT, SOURCE_FILE, RESCUED_COLUMN):
            if name in columns:
                wanted[name] = pc.field(name)
        dataset = table.to_pyarrow_dataset()
        if not wanted:
            return pa.table({"_": pa.nulls(dataset.count_rows())})
        return dataset.to_table(columns=wanted)


def _newest_emergencies(table: DeltaTable, limit: int) -> tuple[EmergencyReading, ...]:
    """The ``limit`` newest rows by reading time, reading only the columns shown."""
    names = {f.name for f in table.schema().fields}
    wanted = [
        c
        for c in ("sensor_id", "timestamp", "reading_id", "readings", "emergency", INGESTED_AT)
        if c in names
    ]
    if "timestamp" not in wanted or "emergency" not in wanted:
        return ()
    columns: dict[str, Any] = {c: pc.field(c) for c in wanted}
    if LINEAGE.name in names:
        columns["lineage_gateway"] = pc.field(LINEAGE.name, "gateway_id")  # see emergency_reading
    if "gateway" in names:
        columns["gateway"] = pc.field("gateway")
    data = table.to_pyarrow_dataset().to_table(columns=columns)
    if not data.num_rows:
        return ()
    order = [("timestamp", "descending")]
    if INGESTED_AT in wanted:
        order.append((INGESTED_AT, "descending"))
    newest = data.take(pc.select_k_unstable(data, k=min(limit, data.num_rows), sort_keys=order))
    newest = newest.sort_by(order)
    return tuple(emergency_reading(row) for row in newest.to_pylist())


def _rows_written(metrics: dict[str, Any]) -> int | None:
    for name in ("num_added_rows", "numOutputRows"):
        if name in metrics:
            try:
                return int(metrics[name])
            except (TypeError, ValueError):
                return None
    return None


def _figures(data: pa.Table) -> dict[str, Any]:
    """Per-gateway rows and distinct lineage ids, ingest times, files and rescued rows."""
    names = set(data.column_names)
    full = data
    gateway_rows: dict[str, int] = {}
    distinct: dict[str, int] = {}
    unattributed = 0
    if {"gateway_id", "epoch", "row_id"} <= names and data.num_rows:
        # A landed line that was not JSON is a row with a null _lineage: counted, not a gateway.
        unattributed = data["gateway_id"].null_count
        data = data.filter(pc.is_valid(data["gateway_id"]))
        per_gateway = data.group_by("gateway_id").aggregate([("gateway_id", "count")])
        gateway_rows = dict(
            zip(
                per_gateway["gateway_id"].to_pylist(),
                per_gateway["gateway_id_count"].to_pylist(),
                strict=True,
            )
        )
        ids = data.group_by(["gateway_id", "epoch", "row_id"]).aggregate([])
        per_id = ids.group_by("gateway_id").aggregate([("gateway_id", "count")])
        distinct = dict(
            zip(
                per_id["gateway_id"].to_pylist(),
                per_id["gateway_id_count"].to_pylist(),
                strict=True,
            )
        )
    data = full
    per_minute: dict[int, int] = {}
    last_ingested = None
    if INGESTED_AT in names and data.num_rows:
        stamps = data[INGESTED_AT]
        if pa.types.is_timestamp(stamps.type):
            seconds = pc.cast(pc.cast(stamps, pa.timestamp("s", tz="UTC"), safe=False), pa.int64())
            minutes = pc.multiply(pc.divide(seconds, 60), 60)
            counts = pc.value_counts(minutes)
            per_minute = {
                int(v["values"]): int(v["counts"]) for v in counts.to_pylist() if v["values"]
            }
            latest = pc.max(seconds).as_py()
            last_ingested = float(latest) if latest is not None else None
    files: frozenset[str] = frozenset()
    if SOURCE_FILE in names:
        files = frozenset(
            k for k in (key_in(str(p)) for p in pc.unique(data[SOURCE_FILE]).to_pylist() if p) if k
        )
    rescued = 0
    if RESCUED_COLUMN in names:
        rescued = data.num_rows - data[RESCUED_COLUMN].null_count
    return {
        "last_ingested_at": last_ingested,
        "rescued_rows": rescued,
        "files": files,
        "gateway_rows": gateway_rows,
        "gateway_distinct": distinct,
        "ingested_per_minute": per_minute,
        "unattributed_rows": unattributed,
    }


def _with_processed(stats: TableStats, processed: frozenset[str] | None) -> TableStats:
    if stats.processed_files == processed:
        return stats
    from dataclasses import replace

    return replace(stats, processed_files=processed)
