"""The one transformation every stream applies, on Databricks and locally.

It adds what the table knows beyond the record: the partition columns taken from the
landed key (``.../date=<d>/gateway=<g>/...``), when the row was ingested, and which file it
came from and when that file was written (Spark's ``_metadata`` column, which both the
``cloudFiles`` and the ``json`` source provide). A line that was not JSON at all is kept in
the rescued-data column. Column order is the contract's :func:`table_columns` order, with
any column raw has grown after the record's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensorlake.contract.keys import PARTITION_FIELDS
from sensorlake.contract.records import INGEST_COLUMNS, RESCUED_COLUMN

from .spec import CORRUPT_COLUMN, StreamSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["TAIL_COLUMNS", "ingest_columns"]

# The columns the transformation puts after the record's own, in table order.
TAIL_COLUMNS: tuple[str, ...] = (
    *PARTITION_FIELDS,
    *(f.name for f in INGEST_COLUMNS),
    RESCUED_COLUMN,
)


def ingest_columns(df: DataFrame, spec: StreamSpec) -> DataFrame:
    """The table's rows from a file stream's rows (same code for every engine)."""
    from pyspark.sql import functions as F

    path = F.col("_metadata.file_path")
    rescued = F.col(RESCUED_COLUMN) if RESCUED_COLUMN in df.columns else F.lit(None)
    if CORRUPT_COLUMN in df.columns:
        rescued = F.coalesce(rescued.cast("string"), F.col(CORRUPT_COLUMN))
    added = {
        **{name: F.regexp_extract(path, f"/{name}=([^/]+)/", 1) for name in PARTITION_FIELDS},
        "_ingested_at": F.current_timestamp(),
        "_source_file": path,
        "_source_modified_at": F.col("_metadata.file_modification_time"),
        RESCUED_COLUMN: rescued.cast("string"),
    }
    if list(added) != list(TAIL_COLUMNS):  # the contract grew a column: add it here
        raise AssertionError(f"ingest columns {list(added)} differ from {TAIL_COLUMNS}")
    record = [c for c in df.columns if c not in TAIL_COLUMNS and c != CORRUPT_COLUMN]
    return df.select(*record, *(expr.alias(name) for name, expr in added.items()))
