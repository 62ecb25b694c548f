"""The Databricks job: one target's Auto Loader stream into its Unity Catalog table.

Run by the jobs stack as a ``python_wheel_task`` (package ``sensorlake_streams``, entry
point ``sensorlake-databricks-stream``)::

    sensorlake-databricks-stream --target raw --catalog C --schema S \\
        --checkpoints /Volumes/C/S/autoloader_checkpoints --schemas /Volumes/C/S/autoloader_schemas \\
        --source s3://sensor-data-raw-us-east-1/raw/ [--no-file-events] [--max-files N] [--max-bytes 10g]

``readStream.format("cloudFiles")`` → the shared :func:`ingest_columns` → ``writeStream``
``toTable`` with ``availableNow``: it ingests every file not yet in the checkpoint and
ends, which is what scheduled and file-arrival jobs need (and what serverless allows).
When raw meets a new column, Auto Loader records it and stops the stream with an error;
the job's retry restarts it with the column (``addNewColumns``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sensorlake.contract.pipelines import TARGETS

from .spec import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FILES,
    StreamSpec,
    autoloader_options,
    parse_size,
    parse_volume,
)
from .transform import ingest_columns

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import DataStreamWriter, StreamingQuery
    from pyspark.sql.types import StructType

__all__ = ["DatabricksJob", "main", "parse_args", "start"]


@dataclass(frozen=True)
class DatabricksJob:
    """Everything one job run needs, checked before Spark is touched."""

    spec: StreamSpec
    source: str
    checkpoints: str
    schemas: str
    file_events: bool = True
    max_files: int = DEFAULT_MAX_FILES
    max_bytes: str = DEFAULT_MAX_BYTES

    @property
    def checkpoint_location(self) -> str:
        return self.spec.state_path(self.checkpoints)

    def source_options(self) -> dict[str, str]:
        return autoloader_options(
            self.spec,
            schemas_volume=self.schemas,
            file_events=self.file_events,
            max_files=self.max_files,
            max_bytes=self.max_bytes,
        )

    def sink_options(self) -> dict[str, str]:
        options = {"checkpointLocation": self.checkpoint_location}
        if self.spec.evolution == "addNewColumns":
            options["mergeSchema"] = "true"  # the table takes the columns Auto Loader adds
        return options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sensorlake-databricks-stream",
        description="Ingest one sensorlake target's landed files into its Unity Catalog table.",
    )
    parser.add_argument("--target", required=True, choices=TARGETS)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--checkpoints", required=True, help="/Volumes/<catalog>/<schema>/<volume>")
    parser.add_argument("--schemas", required=True, help="/Volumes/<catalog>/<schema>/<volume>")
    parser.add_argument("--source", required=True, help="s3://bucket/prefix/ of the target")
    parser.add_argument(
        "--file-events",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="use the external location's managed file events (else directory listing)",
    )
    parser.add_argument("--max-files", type=int, default=DEFAULT_MAX_FILES)
    parser.add_argument("--max-bytes", default=DEFAULT_MAX_BYTES)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> DatabricksJob:
    """The job's arguments as a :class:`DatabricksJob`; exits 2 with one line when wrong."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        spec = StreamSpec(args.target, args.catalog, args.schema)
        if not args.source.startswith("s3://") or len(args.source) <= len("s3://"):
            raise ValueError(f"--source {args.source!r} must be an s3:// URL of the landing prefix")
        if args.max_files <= 0:
            raise ValueError("--max-files must be positive")
        return DatabricksJob(
            spec=spec,
            source=args.source if args.source.endswith("/") else args.source + "/",
            checkpoints=parse_volume(args.checkpoints, args.catalog, args.schema),
            schemas=parse_volume(args.schemas, args.catalog, args.schema),
            file_events=args.file_events,
            max_files=args.max_files,
            max_bytes=parse_size(args.max_bytes),
        )
    except ValueError as exc:
        parser.error(str(exc))


def start(
    spark: SparkSession,
    job: DatabricksJob,
    *,
    source_format: str = "cloudFiles",
    schema: StructType | None = None,
    sink: Callable[[DataStreamWriter], StreamingQuery] | None = None,
) -> StreamingQuery:
    """Start the stream; only the source format and the sink differ from the local runner.

    ``source_format``, ``schema`` and ``sink`` are for the offline test, which runs this on
    a local Spark Connect server (serverless jobs run Python over Spark Connect) with
    Spark's ``json`` source and the schema the hints name, and a file sink for ``toTable``.
    """
    reader = spark.readStream.format(source_format)
    if schema is not None:
        reader = reader.schema(schema)
    frame = reader.options(**job.source_options()).load(job.source)
    writer: Any = (
        ingest_columns(frame, job.spec)
        .writeStream.queryName(job.spec.full_table_name)
        .options(**job.sink_options())
        .partitionBy(*job.spec.partition_columns)
        .trigger(availableNow=True)
    )
    if sink is not None:
        return sink(writer)
    return writer.toTable(job.spec.full_table_name)


def main(argv: Sequence[str] | None = None) -> None:
    job = parse_args(argv)
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()  # the job's own session on Databricks
    query = start(spark, job)
    query.awaitTermination()
    print(f"{job.spec.full_table_name}: ingested up to {job.source} ({query.lastProgress})")


if __name__ == "__main__":
    main(sys.argv[1:])
