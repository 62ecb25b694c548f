"""What each stream is, as data: one place for options, schema, paths and table names.

Both the Databricks job and the local runner build their query from a :class:`StreamSpec`
with :mod:`.build`; only the source format (``cloudFiles`` or ``json``) and the sink differ.
Where a stream keeps its state is the contract's (``contract.layouts.StreamLocations``). Every fact comes
from the contract: targets, table names, partition fields, record shapes. Pure: no Spark
import, so it is tested (and imported by the CLI) without a JVM.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from sensorlake.contract.keys import PARTITION_FIELDS, SUFFIX, source_prefix
from sensorlake.contract.names import check_uc_name
from sensorlake.contract.pipelines import DEFAULT_CATALOG, DEFAULT_SCHEMA, TARGETS, table_name
from sensorlake.contract.records import RESCUED_COLUMN, Field, shape

__all__ = [
    "CORRUPT_COLUMN",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FILES",
    "EVOLUTION",
    "LOCAL_MAX_BYTES",
    "Evolution",
    "StreamSpec",
    "autoloader_options",
    "ddl_type",
    "local_source_options",
    "parse_size",
    "reader_fields",
    "schema_hints",
    "size_bytes",
    "spark_schema",
    "spark_type",
]

Evolution = Literal["addNewColumns", "rescue"]

# Raw keeps whatever the sensor writes, so a new sensor column becomes a table column; the
# others follow the contract, which changes by version: anything outside it is rescued.
EVOLUTION: Final[Mapping[str, Evolution]] = {
    target: ("addNewColumns" if target == "raw" else "rescue") for target in TARGETS
}
# A line that is not JSON at all is kept whole in this column by Spark's JSON reader, then
# folded into the rescued-data column by the shared transformation (never a table column).
CORRUPT_COLUMN: Final = "_corrupt_record"
# Auto Loader's own default file count per micro-batch, and a byte cap that keeps a backlog
# catch-up from building one huge batch.
DEFAULT_MAX_FILES: Final = 1000
DEFAULT_MAX_BYTES: Final = "10g"
# Locally a micro-batch is collected into the driver as Arrow: bound it by landed bytes.
LOCAL_MAX_BYTES: Final = "32m"

_SCALARS: Final = {
    "string": ("string", "STRING"),
    "long": ("long", "BIGINT"),
    "double": ("double", "DOUBLE"),
    "boolean": ("boolean", "BOOLEAN"),
    "timestamp": ("timestamp", "TIMESTAMP"),
}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgt]?)b?\s*$", re.IGNORECASE)


def spark_type(f: Field) -> Any:
    """A contract field's type in Spark's JSON schema form (``StructType.fromJson``)."""
    if f.type == "struct":
        return {"type": "struct", "fields": [_spark_field(c) for c in f.fields]}
    if f.type == "array":
        return {
            "type": "array",
            "elementType": _SCALARS[f.items or "string"][0],
            "containsNull": True,
        }
    return _SCALARS[f.type][0]


def _spark_field(f: Field) -> dict[str, Any]:
    # Every column is nullable when read: a malformed line must still become a row.
    return {"name": f.name, "type": spark_type(f), "nullable": True, "metadata": {}}


def reader_fields(target: str, extra: Iterable[Field] = ()) -> tuple[Field, ...]:
    """The fields both engines read a target's files with: the record shape, any columns
    raw has grown (``extra``), and the corrupt-record column.

    Spark's JSON reader (``mode`` PERMISSIVE) keeps a line that is not JSON only in the
    ``columnNameOfCorruptRecord`` column, and only when a string field of that name is in
    the schema; otherwise the line becomes a row of nulls (Spark's JSON data source
    options, https://spark.apache.org/docs/latest/sql-data-sources-json.html). Auto Loader's rescued-data column does not take such lines: it
    holds data "missing from the given schema, or because there was a type mismatch, or
    because the casing ... didn't match" (https://docs.databricks.com/external-data/json.html,
    "Rescued data column"). So the column is named in the schema hints as well
    (``cloudFiles.schemaHints``, https://docs.databricks.com/ingestion/cloud-object-storage/auto-loader/options.html).
    """
    return (*shape(target), *extra, Field(CORRUPT_COLUMN, "string"))


def spark_schema(target: str, extra: Iterable[Field] = ()) -> dict[str, Any]:
    """The explicit schema the local stream reads a target's files with (JSON form)."""
    return {"type": "struct", "fields": [_spark_field(f) for f in reader_fields(target, extra)]}


def ddl_type(f: Field) -> str:
    """A contract field's type in Spark SQL DDL (what ``cloudFiles.schemaHints`` takes)."""
    if f.type == "struct":
        return "STRUCT<" + ", ".join(f"`{c.name}`: {ddl_type(c)}" for c in f.fields) + ">"
    if f.type == "array":
        return f"ARRAY<{_SCALARS[f.items or 'string'][1]}>"
    return _SCALARS[f.type][1]


def schema_hints(target: str) -> str:
    """Auto Loader schema hints for every field the local stream reads (the shape and the
    corrupt-record column), so no type is ever inferred and a line that is not JSON is kept."""
    return ", ".join(f"`{f.name}` {ddl_type(f)}" for f in reader_fields(target))


def parse_size(value: str) -> str:
    """Check a byte size such as ``10g`` or ``512m`` (Auto Loader's form) and normalize it."""
    match = _SIZE_RE.match(str(value))
    if match is None or int(match[1]) <= 0:
        raise ValueError(f"not a byte size: {value!r} (use e.g. 512m, 10g)")
    return f"{int(match[1])}{match[2].lower()}"


def size_bytes(value: str) -> int:
    """A byte size (``32m``) as a number of bytes (what Spark's own file source takes)."""
    size = parse_size(value)
    unit = size[-1] if size[-1].isalpha() else ""
    return int(size.rstrip("kmgt")) * 1024 ** " kmgt".index(unit or " ")


@dataclass(frozen=True)
class StreamSpec:
    """One target's stream: its table and where its state lives, engine-neutral."""

    target: str
    catalog: str = DEFAULT_CATALOG
    schema: str = DEFAULT_SCHEMA

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}: choose from {', '.join(TARGETS)}")
        for label, name in (("catalog", self.catalog), ("schema", self.schema)):
            check_uc_name(label, name)

    @property
    def table(self) -> str:
        return table_name(self.target)

    @property
    def full_table_name(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"

    @property
    def evolution(self) -> Evolution:
        return EVOLUTION[self.target]

    @property
    def partition_columns(self) -> tuple[str, ...]:
        return PARTITION_FIELDS

    @property
    def source_prefix(self) -> str:
        """The target's key prefix in its bucket (``raw/``): the stream's source folder."""
        return source_prefix(self.target)

    @property
    def merges_schema(self) -> bool:
        """The one schema-merge rule, on both engines: raw's table takes the columns its
        files grow (Auto Loader's ``addNewColumns``; locally :mod:`.evolution`), so its
        writes merge schemas. Every other table is read with the contract's fixed schema
        (anything else is rescued), so its writes never merge: a batch of another shape is
        a bug, and the write refuses it instead of changing the table."""
        return self.evolution == "addNewColumns"

    def read_options(self) -> dict[str, str]:
        """JSON reader options both engines use."""
        return {
            # Only landed data files: the local lake keeps metadata sidecars beside them.
            "pathGlobFilter": f"*{SUFFIX}",
            "mode": "PERMISSIVE",
            "columnNameOfCorruptRecord": CORRUPT_COLUMN,
        }


def autoloader_options(
    spec: StreamSpec,
    *,
    schema_location: str,
    file_events: bool,
    max_files: int = DEFAULT_MAX_FILES,
    max_bytes: str = DEFAULT_MAX_BYTES,
) -> dict[str, str]:
    """The ``cloudFiles`` options of a target's Databricks stream.

    ``schema_location`` is the table's (``StreamLocations.schema_location``); types come
    from the contract's hints; discovery uses the external location's managed file events when it has them,
    directory listing otherwise; overwrites are never allowed (landed files are immutable).
    """
    if max_files <= 0:
        raise ValueError("max files per trigger must be positive")
    return {
        "cloudFiles.format": "json",
        "cloudFiles.schemaLocation": schema_location,
        "cloudFiles.schemaHints": schema_hints(spec.target),
        "cloudFiles.inferColumnTypes": "true",
        "cloudFiles.schemaEvolutionMode": spec.evolution,
        "rescuedDataColumn": RESCUED_COLUMN,
        # Named, so Auto Loader never guesses them (and types them as strings); the shared
        # transformation sets the same values from the key itself on both engines.
        "cloudFiles.partitionColumns": ",".join(PARTITION_FIELDS),
        "cloudFiles.useManagedFileEvents": "true" if file_events else "false",
        "cloudFiles.useNotifications": "false",
        "cloudFiles.maxFilesPerTrigger": str(max_files),
        "cloudFiles.maxBytesPerTrigger": parse_size(max_bytes),
        "cloudFiles.allowOverwrites": "false",
        **spec.read_options(),
    }


def local_source_options(
    spec: StreamSpec, *, max_files: int | None = None, max_bytes: str = LOCAL_MAX_BYTES
) -> dict[str, str]:
    """The local ``json`` stream's options: the same reader options, a batch bound (Spark
    takes files or bytes, not both; bytes by default, which bounds the driver's memory),
    and corrupt files skipped (the runner reports them by path)."""
    if max_files is not None and max_files <= 0:
        raise ValueError("max files per trigger must be positive")
    limit = (
        {"maxFilesPerTrigger": str(max_files)}
        if max_files is not None
        else {"maxBytesPerTrigger": str(size_bytes(max_bytes))}
    )
    return {**spec.read_options(), **limit, "ignoreCorruptFiles": "true"}
