"""The one stream builder: a source in, the shared transformation, a sink out.

The Databricks job and the local runner both build their query here (dqx's
``read_input_data``/``save_dataframe_as_table`` shape); they differ only in what they pass:

- the :class:`Source`: ``cloudFiles`` over ``s3://`` on Databricks, ``json`` with the
  contract's explicit schema over the local lake;
- the :class:`Sink`: ``toTable`` into Unity Catalog, or ``foreachBatch`` into the local
  idempotent Delta writer (or, in the offline tests, any writer call).

Everything else is the same on both: the query's name, its checkpoint option, the
``availableNow`` trigger, and the one schema-merge rule (:attr:`StreamSpec.merges_schema`:
raw's table takes the columns its files grow; every other table keeps the contract's fixed
schema and a batch of another shape is refused, never merged in).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .spec import StreamSpec
from .transform import ingest_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import DataStreamWriter, StreamingQuery
    from pyspark.sql.types import StructType

__all__ = ["Sink", "Source", "read_input", "sink_options", "start_stream", "write_output"]


@dataclass(frozen=True)
class Source:
    """Where a stream reads: a Spark source format, its options, its path, and (when the
    format does not take hints) the explicit schema."""

    format: str
    path: str
    options: Mapping[str, str] = field(default_factory=dict)
    schema: StructType | None = None


@dataclass(frozen=True)
class Sink:
    """Where a stream writes: its checkpoint, and how the writer is ended.

    ``finish`` gets the configured writer (name, options, partitioning, trigger) and starts
    it; ``partition_by`` is set on the writer for table sinks (a ``foreachBatch`` sink
    partitions in its own writer); ``foreach_batch`` hands each micro-batch to a function.
    """

    checkpoint: str
    finish: Callable[[DataStreamWriter], StreamingQuery]
    partition_by: tuple[str, ...] = ()
    foreach_batch: Callable[[DataFrame, int], None] | None = None

    @classmethod
    def table(cls, spec: StreamSpec, checkpoint: str) -> Sink:
        """The Unity Catalog table of ``spec``, partitioned by the contract's fields."""
        return cls(
            checkpoint,
            finish=lambda writer: writer.toTable(spec.full_table_name),
            partition_by=spec.partition_columns,
        )

    @classmethod
    def batches(cls, function: Callable[[DataFrame, int], None], checkpoint: str) -> Sink:
        """Each micro-batch to ``function`` (the local runner's idempotent Delta append)."""
        return cls(checkpoint, finish=lambda writer: writer.start(), foreach_batch=function)


def sink_options(spec: StreamSpec, checkpoint: str) -> dict[str, str]:
    """The writer's options: its checkpoint, and ``mergeSchema`` where the one rule allows."""
    options = {"checkpointLocation": checkpoint}
    if spec.merges_schema:
        options["mergeSchema"] = "true"  # the table takes the columns the source adds
    return options


def read_input(spark: SparkSession, spec: StreamSpec, source: Source) -> DataFrame:
    """The table's rows from ``source``: the stream read, then the shared transformation."""
    reader = spark.readStream.format(source.format)
    if source.schema is not None:
        reader = reader.schema(source.schema)
    return ingest_columns(reader.options(**source.options).load(source.path), spec)


def write_output(frame: DataFrame, spec: StreamSpec, sink: Sink) -> StreamingQuery:
    """Start writing ``frame`` into ``sink``: every file not yet in the checkpoint, then end."""
    writer: Any = frame.writeStream.queryName(spec.full_table_name).options(
        **sink_options(spec, sink.checkpoint)
    )
    if sink.partition_by:
        writer = writer.partitionBy(*sink.partition_by)
    if sink.foreach_batch is not None:
        writer = writer.foreachBatch(sink.foreach_batch)
    return sink.finish(writer.trigger(availableNow=True))


def start_stream(
    spark: SparkSession, spec: StreamSpec, source: Source, sink: Sink
) -> StreamingQuery:
    """One target's query, from ``source`` to ``sink``."""
    return write_output(read_input(spark, spec, source), spec, sink)
