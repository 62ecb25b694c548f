"""The local runner: the streams' queries on a local Spark session, into local Delta tables.

Per target, built by the shared builder (:mod:`.build`, as the Databricks job is): Spark's
``json`` file source with the contract's schema over the local lake → the shared
transformation → ``foreachBatch`` → :func:`write_batch` (idempotent Delta append, merging
schemas by the spec's one rule). ``--once`` is ``availableNow``; ``--continuous`` repeats it every interval until a
stop is requested (SIGTERM/SIGINT): a running batch finishes and commits, the next one
does not start, and the run ends cleanly.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sensorlake.contract.keys import SUFFIX, source_glob
from sensorlake.contract.lake import lake_key, lake_path
from sensorlake.contract.records import RESCUED_COLUMN, Field, shape

from . import build, evolution, lake_files, ownership
from .config import LocalRunConfig
from .delta_sink import committed_version, table_rows, write_batch
from .errors import StateProblem
from .spec import StreamSpec, local_source_options, spark_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

__all__ = [
    "MAX_SCHEMA_RESTARTS",
    "RunResult",
    "StopRequested",
    "TableResult",
    "TableStream",
    "failure_line",
    "run",
]

# How often a query may restart in one cycle because raw grew columns.
MAX_SCHEMA_RESTARTS = 5


class StopRequested(Exception):
    """Raised by a batch that would start after a stop was requested (it commits nothing)."""


@dataclass
class TableResult:
    target: str
    table: str
    batches: int = 0
    replayed_batches: int = 0
    rows: int = 0
    files: int = 0
    rescued_rows: int = 0
    corrupt_files: list[dict[str, str]] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    new_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    table_rows: int = 0
    landed_rows: int | None = None
    error: str | None = None


@dataclass
class RunResult:
    tables: dict[str, TableResult]
    cycles: int = 0
    stopped: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed(self) -> list[TableResult]:
        return [t for t in self.tables.values() if t.error]

    @property
    def corrupt(self) -> list[dict[str, str]]:
        return [c for t in self.tables.values() for c in t.corrupt_files]

    @property
    def skipped(self) -> list[str]:
        return [p for t in self.tables.values() for p in t.skipped_files]

    @property
    def mismatched(self) -> list[TableResult]:
        return [
            t
            for t in self.tables.values()
            if t.landed_rows is not None and t.landed_rows != t.table_rows
        ]


def _query_id(checkpoint: Path) -> str:
    """The streaming query's id, which Spark keeps in the checkpoint across restarts."""
    try:
        return str(json.loads((checkpoint / "metadata").read_text())["id"])
    except (OSError, ValueError, KeyError) as exc:
        raise StateProblem(
            f"checkpoint {checkpoint} has no query id ({exc}): delete it to start over"
        ) from exc


class TableStream:
    """One target's query and what it did."""

    def __init__(
        self,
        spark: SparkSession,
        spec: StreamSpec,
        config: LocalRunConfig,
        result: TableResult,
        stop: threading.Event,
        progress: Callable[[str], None],
    ) -> None:
        self.spark, self.spec, self.config = spark, spec, config
        self.result, self.stop, self.progress = result, stop, progress
        self.source = lake_path(config.lake_dir, spec.source_prefix)
        self.table_path = config.table_path(spec)
        self.checkpoint = config.checkpoint_path(spec)
        self.schema_dir = config.schema_path(spec)
        self.extra = evolution.load_extra(self.schema_dir)
        self.evolved = False

    def scan(self) -> None:
        """Report every data file below the source that does not follow the key layout
        (the query never reads it; it stays in the lake, reported on every run)."""
        lake = Path(self.config.lake_dir)
        known = set(self.result.skipped_files)
        for path in sorted(self.source.rglob(f"*{SUFFIX}")):
            if lake_key(lake, path) is None and str(path) not in known:
                self.result.skipped_files.append(str(path))
                self.progress(
                    f"warning: {self.spec.table}: skipped {path}: not in the key layout "
                    f"{source_glob(self.spec.target)} with a landing key's name; move it "
                    "there under its own key (or out of the lake)"
                )

    def start(self) -> StreamingQuery:
        from pyspark.sql.types import StructType

        self.source.mkdir(parents=True, exist_ok=True)  # an empty lake is not an error
        self.scan()
        self.extra = evolution.load_extra(self.schema_dir)
        self.evolved = False
        options = local_source_options(
            self.spec, max_files=self.config.max_files, max_bytes=self.config.max_bytes
        )
        # Only files in the key layout's folders (no partition-column clash, no file read
        # outside them); a file there whose key is still wrong is dropped per batch.
        source = build.Source(
            "json",
            str(lake_path(self.config.lake_dir, source_glob(self.spec.target))),
            {**options, "basePath": str(self.source)},
            StructType.fromJson(spark_schema(self.spec.target, self.extra)),
        )
        sink = build.Sink.batches(self._batch, str(self.checkpoint))
        return build.start_stream(self.spark, self.spec, source, sink)

    def _batch(self, frame: DataFrame, batch_id: int) -> None:
        if self.stop.is_set():
            raise StopRequested(f"{self.spec.table}: stop requested before batch {batch_id}")
        started = time.monotonic()
        app_id = _query_id(self.checkpoint)
        r = self.result
        done = committed_version(self.table_path, app_id)
        if done is not None and done >= batch_id:  # replayed after a crash: read nothing
            r.replayed_batches += 1
            self.progress(f"{self.spec.table}: batch {batch_id} already committed, skipped")
            return
        lake = Path(self.config.lake_dir)
        files, outside = [], set()
        for url in lake_files.batch_files(self.checkpoint, batch_id):
            if lake_key(lake, lake_files.local_file(url)) is None:
                outside.add(lake_files.local_file(url))
            else:
                files.append(url)
        if self.spec.evolution == "addNewColumns":
            self._evolve(files)
        data = frame.toArrow()
        data, corrupt = self._without_corrupt(data, files, outside)
        rescued = data.num_rows - data.column(RESCUED_COLUMN).null_count
        written = write_batch(
            self.table_path,
            data,
            app_id=app_id,
            batch_id=batch_id,
            partition_by=self.spec.partition_columns,
            merge_schema=self.spec.merges_schema,
        )
        seconds = time.monotonic() - started
        r.seconds += seconds
        r.corrupt_files.extend(corrupt)
        if not written:  # cannot happen with one writer per table; counted all the same
            r.replayed_batches += 1
            return
        r.batches += 1
        r.rows += data.num_rows
        r.files += len(files) - len(corrupt)
        r.rescued_rows += rescued
        rate = data.num_rows / seconds if seconds > 0 else 0.0
        self.progress(
            f"{self.spec.table}: batch {batch_id}: {data.num_rows:,} rows from "
            f"{len(files) - len(corrupt)} file(s) in {seconds:.1f} s ({rate:,.0f} rows/s)"
            + (f", {rescued:,} rescued" if rescued else "")
            + (f", {len(corrupt)} corrupt file(s) skipped" if corrupt else "")
        )

    def _evolve(self, files: list[str]) -> None:
        known = [f.name for f in (*shape(self.spec.target), *self.extra)]
        found: dict[str, Field] = {}
        for url in files:
            for column in evolution.new_columns(
                lake_files.first_record_fields(lake_files.local_file(url)), known
            ):
                found.setdefault(column.name, column)
        if found:
            evolution.save_extra(self.schema_dir, (*self.extra, *found.values()))
            self.evolved = True
            self.result.new_columns.extend(found)
            self.progress(
                f"{self.spec.table}: new column(s) {', '.join(found)}: restarting with them"
            )
            raise evolution.SchemaEvolved(", ".join(found))

    def _without_corrupt(
        self, data: Any, files: list[str], outside: set[Path]
    ) -> tuple[Any, list[dict[str, str]]]:
        """``data`` without the rows of corrupt files and of files ``outside`` the key
        layout (in its folders, but not named as a landing key: reported by :meth:`scan`)."""
        import pyarrow.compute as pc

        corrupt: dict[Path, str] = {}
        for url in files:
            reason = lake_files.corruption(lake_files.local_file(url))
            if reason:
                corrupt[lake_files.local_file(url)] = reason
        if not corrupt and not outside:
            return data, []
        reported = [{"path": str(p), "error": why} for p, why in corrupt.items()]
        for item in reported:
            self.progress(
                f"error: {self.spec.table}: skipped corrupt file {item['path']}: {item['error']}; "
                "land it again under a new name to ingest it"
            )
        dropped = {*corrupt, *outside}
        column = data.column("_source_file")
        bad = [
            u for u in pc.unique(column).to_pylist() if u and lake_files.local_file(u) in dropped
        ]
        if bad:
            data = data.filter(pc.invert(pc.is_in(column, value_set=pc.cast(bad, column.type))))
        return data, reported


def failure_line(message: str) -> str:
    """The line of a failed query's message that says what went wrong: the raised
    exception's own line when the failure came from our batch function (a Python traceback
    inside Spark's report), else Spark's first line."""
    head = message.split("=== Streaming Query ===", 1)[0].strip()
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    if not lines:
        return "the query stopped without a message"
    return (lines[-1] if "Traceback (most recent call last)" in head else lines[0])[:500]


def _await(streams: dict[str, TableStream], queries: dict[str, StreamingQuery]) -> None:
    """Wait for every query; restart raw when it grew columns; record failures."""
    restarts = dict.fromkeys(queries, 0)
    while queries:
        for target in list(queries):
            query = queries[target]
            try:
                if query.isActive and not query.awaitTermination(0.2):
                    continue
            except Exception:  # the query failed: query.exception() below says how
                pass
            stream = streams[target]
            failure = query.exception()
            del queries[target]
            if failure is None:
                continue
            if stream.evolved and restarts[target] < MAX_SCHEMA_RESTARTS:
                restarts[target] += 1
                queries[target] = stream.start()
            elif stream.stop.is_set():
                continue  # the batch that would have started after the stop: nothing lost
            else:
                stream.result.error = failure_line(str(getattr(failure, "desc", failure)))


def run(
    config: LocalRunConfig,
    *,
    spark: SparkSession,
    stop: threading.Event | None = None,
    progress: Callable[[str], None] = print,
    reconcile: bool = False,
) -> RunResult:
    """Run the streams once (or every interval until ``stop``); the per-table results."""
    stop = stop or threading.Event()
    started = time.monotonic()
    specs = [config.spec(t) for t in config.targets]
    result = RunResult({s.target: TableResult(s.target, s.table) for s in specs})
    streams = {
        s.target: TableStream(spark, s, config, result.tables[s.target], stop, progress)
        for s in specs
    }
    ownership.check(config)  # before any query starts: nothing written while state disagrees
    while True:
        result.cycles += 1
        _await(streams, {t: s.start() for t, s in streams.items()})
        if result.failed or not config.continuous or stop.wait(config.interval):
            break
    result.stopped = stop.is_set()
    for target, stream in streams.items():
        result.tables[target].table_rows = table_rows(stream.table_path)
    if reconcile:
        for target, count in lake_files.landed_records(config.lake_dir, config.targets).items():
            result.tables[target].landed_rows = count
    result.seconds = time.monotonic() - started
    return result
