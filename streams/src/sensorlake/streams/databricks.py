"""The Databricks job: one target's Auto Loader stream into its Unity Catalog table.

Run by the jobs stack as a ``python_wheel_task`` (package ``sensorlake_streams``, entry
point ``sensorlake-databricks-stream``)::

    sensorlake-databricks-stream --target raw --catalog C --schema S \\
        --checkpoints /Volumes/C/S/autoloader_checkpoints --schemas /Volumes/C/S/autoloader_schemas \\
        --source s3://sensor-data-raw-us-east-1/raw/ [--no-file-events] [--max-files N] [--max-bytes 10g]

The arguments are the contract's ``JobArgs`` (infra builds them with the same code).
``readStream.format("cloudFiles")`` → the shared builder (:mod:`.build`: the shared
transformation, the one schema-merge rule) → ``writeStream`` ``toTable`` with
``availableNow``: it ingests every file not yet in the checkpoint and ends, which is what scheduled and file-arrival jobs need (and what serverless allows).
When raw meets a new column, Auto Loader records it and stops the stream with an error;
the job's retry restarts it with the column (``addNewColumns``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sensorlake.contract.layouts import JobArgs, StreamLocations

from . import build
from .spec import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FILES,
    StreamSpec,
    autoloader_options,
    parse_size,
)

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
    locations: StreamLocations
    file_events: bool = True
    max_files: int = DEFAULT_MAX_FILES
    max_bytes: str = DEFAULT_MAX_BYTES

    @classmethod
    def from_args(cls, args: JobArgs) -> DatabricksJob:
        """The run of the parameters infra deployed (ValueError, one line, when wrong)."""
        return cls(
            spec=StreamSpec(args.target, args.catalog, args.schema),
            source=args.source,
            locations=args.locations,
            file_events=args.file_events,
            max_files=DEFAULT_MAX_FILES if args.max_files is None else args.max_files,
            max_bytes=parse_size(args.max_bytes or DEFAULT_MAX_BYTES),
        )

    @property
    def checkpoint_location(self) -> str:
        return self.locations.checkpoint(self.spec.table)

    def source_options(self) -> dict[str, str]:
        return autoloader_options(
            self.spec,
            schema_location=self.locations.schema_location(self.spec.table),
            file_events=self.file_events,
            max_files=self.max_files,
            max_bytes=self.max_bytes,
        )

    def sink_options(self) -> dict[str, str]:
        return build.sink_options(self.spec, self.checkpoint_location)


def parse_args(argv: Sequence[str] | None = None) -> DatabricksJob:
    """The job's arguments (the contract's :class:`JobArgs`, which infra built) as a
    :class:`DatabricksJob`; exits 2 with one line when wrong."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = JobArgs.parser()
    parser.parse_args(argv)  # --help, and a usage line for a missing or unknown argument
    try:
        return DatabricksJob.from_args(JobArgs.parse(argv))
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
    """Start the stream with the shared builder (:mod:`.build`): Auto Loader into the table.

    ``source_format``, ``schema`` and ``sink`` are for the offline test, which runs this on
    a local Spark Connect server (serverless jobs run Python over Spark Connect) with
    Spark's ``json`` source and the schema the hints name, and a file sink for ``toTable``.
    """
    source = build.Source(source_format, job.source, job.source_options(), schema)
    table = build.Sink.table(job.spec, job.checkpoint_location)
    if sink is not None:
        table = replace(table, finish=sink)
    return build.start_stream(spark, job.spec, source, table)


def main(argv: Sequence[str] | None = None) -> None:
    job = parse_args(argv)
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()  # the job's own session on Databricks
    query = start(spark, job)
    query.awaitTermination()
    print(f"{job.spec.full_table_name}: ingested up to {job.source} ({query.lastProgress})")


if __name__ == "__main__":
    main(sys.argv[1:])
