"""The shape of every landed record, and the contract version, in one place.

Landing builds its records from these field lists (``landing.row_checks`` and ``landing.route``
import them), streams turn the shapes into Spark schema hints, dashboards show them. A
change to a shape is a change of :data:`CONTRACT_VERSION`, which every schematized,
filtered and emergency record carries: the contract changes by version, not by accident.

Types are JSON's, with two refinements consumers need: ``long`` and ``double`` (JSON's
integer and number), and ``timestamp`` (an ISO 8601 UTC string).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from .pipelines import TARGETS

__all__ = [
    "CONTRACT_VERSION",
    "DEPLOYMENT_FIELDS",
    "DEVICE_FIELDS",
    "INGEST_COLUMNS",
    "INVALID_UTF8_FIELD",
    "LINEAGE",
    "LOCATION_FIELDS",
    "OPEN_SHAPES",
    "READING_FIELDS",
    "RESCUED_COLUMN",
    "SOURCE_COLUMNS",
    "SOURCE_TABLE",
    "STATUS_FIELDS",
    "UNIT_FIELDS",
    "Field",
    "json_schema",
    "shape",
    "table_columns",
]

CONTRACT_VERSION: Final = "1.0.0"
SOURCE_TABLE: Final = "sensor_readings"

# The sensor's table as it writes it: (column, SQLite type), in table order.
SOURCE_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("id", "INTEGER"),
    ("timestamp", "TEXT"),
    ("sensor_id", "TEXT"),
    ("temperature", "REAL"),
    ("humidity", "REAL"),
    ("pressure", "REAL"),
    ("vibration", "REAL"),
    ("voltage", "REAL"),
    ("status_code", "INTEGER"),
    ("anomaly_flag", "INTEGER"),
    ("anomaly_type", "TEXT"),
    ("firmware_version", "TEXT"),
    ("model", "TEXT"),
    ("manufacturer", "TEXT"),
    ("location", "TEXT"),
    ("latitude", "REAL"),
    ("longitude", "REAL"),
    ("original_timezone", "TEXT"),
    ("synced", "INTEGER"),
    ("serial_number", "TEXT"),
    ("manufacture_date", "TEXT"),
    ("deployment_type", "TEXT"),
    ("installation_date", "TEXT"),
    ("height_meters", "REAL"),
    ("orientation_degrees", "REAL"),
    ("instance_id", "TEXT"),
    ("sensor_type", "TEXT"),
)

# The nested groups of a schematized record, and the source columns each is made of.
READING_FIELDS: Final = ("temperature", "humidity", "pressure", "vibration", "voltage")
STATUS_FIELDS: Final = ("status_code", "anomaly_flag", "anomaly_type")
DEVICE_FIELDS: Final = (
    "manufacturer",
    "model",
    "firmware_version",
    "serial_number",
    "manufacture_date",
    "sensor_type",
)
LOCATION_FIELDS: Final = (
    "location",
    "latitude",
    "longitude",
    "height_meters",
    "orientation_degrees",
    "original_timezone",
)
DEPLOYMENT_FIELDS: Final = ("deployment_type", "installation_date", "instance_id")
UNIT_FIELDS: Final = ("temperature", "humidity", "pressure", "voltage", "pressure_reported")


@dataclass(frozen=True)
class Field:
    """One field of a record: a scalar (``string``, ``long``, ``double``, ``boolean``,
    ``timestamp``), an ``array`` of a scalar, or a ``struct`` of fields."""

    name: str
    type: str
    fields: tuple[Field, ...] = ()
    items: str | None = None
    nullable: bool = True
    doc: str = ""


_SQLITE_TYPES = {"INTEGER": "long", "REAL": "double", "TEXT": "string"}


def _struct(name: str, fields: tuple[Field, ...], doc: str = "", nullable: bool = True) -> Field:
    return Field(name, "struct", fields=fields, nullable=nullable, doc=doc)


def _scalars(names: tuple[str, ...], types: dict[str, str]) -> tuple[Field, ...]:
    return tuple(Field(n, types[n]) for n in names)


_COLUMN_TYPES = {name: _SQLITE_TYPES[sql] for name, sql in SOURCE_COLUMNS}

LINEAGE: Final = _struct(
    "_lineage",
    (
        Field("gateway_id", "string", nullable=False),
        Field("epoch", "long", nullable=False),
        Field("row_id", "long", nullable=False),
        Field("rules_version", "string", nullable=False),
        Field("source_table", "string", nullable=False),
    ),
    doc="where the record comes from: (gateway_id, epoch, row_id) identifies its source row",
    nullable=False,
)
# The sensor's NOT NULL columns; a raw record may lack any other (an older sensor's table).
_SOURCE_REQUIRED = frozenset({"id", "timestamp", "sensor_id"})
_SOURCE = tuple(Field(n, t, nullable=n not in _SOURCE_REQUIRED) for n, t in _COLUMN_TYPES.items())
_REASONS = Field("_rejected_reasons", "array", items="string", nullable=False)
_LOCATION = _scalars(LOCATION_FIELDS, _COLUMN_TYPES)
_SCHEMATIZED = (
    Field("contract_version", "string", nullable=False),
    Field("reading_id", "long", nullable=False),
    Field("sensor_id", "string", nullable=False),
    Field("timestamp", "timestamp", nullable=False),
    _struct("readings", _scalars(READING_FIELDS, _COLUMN_TYPES), "pressure in bar"),
    _struct("units", tuple(Field(n, "string") for n in UNIT_FIELDS)),
    _struct(
        "status",
        (
            Field("status_code", "long"),
            Field("anomaly_flag", "boolean"),
            Field("anomaly_type", "string"),
        ),
    ),
    _struct("device_info", _scalars(DEVICE_FIELDS, _COLUMN_TYPES)),
    _struct("location_info", _LOCATION),
    _struct("deployment_info", _scalars(DEPLOYMENT_FIELDS, _COLUMN_TYPES)),
    LINEAGE,
)


def _with(fields: tuple[Field, ...], name: str, replacement: Field) -> tuple[Field, ...]:
    return tuple(replacement if f.name == name else f for f in fields)


_SHAPES: Final[dict[str, tuple[Field, ...]]] = {
    # Every column exactly as read (a sensor may add columns: raw keeps them too).
    "raw": (*_SOURCE, LINEAGE),
    "schematized": _SCHEMATIZED,
    # Rows that failed validation, as read, with why.
    "rejected": (*_SOURCE, LINEAGE, _REASONS),
    # Schematized rows that pass the filters, with the location coarsened.
    "filtered": _with(
        _SCHEMATIZED,
        "location_info",
        _struct("location_info", (*_LOCATION, Field("precision_decimals", "long"))),
    ),
    # Rows that trip an emergency rule, valid or not: an alarm is never lost to a bad field.
    "emergency": (
        *_SCHEMATIZED,
        _struct(
            "emergency",
            (
                Field("reasons", "array", items="string", nullable=False),
                Field("valid", "boolean", nullable=False),
                Field("validation_errors", "array", items="string", nullable=False),
            ),
            nullable=False,
        ),
    ),
}
# Whether a record may carry fields beyond its shape.
OPEN_SHAPES: Final = frozenset({"raw", "rejected"})
# A source TEXT value that is not UTF-8 lands (in raw and rejected) as its text decoded with
# U+FFFD for the bad bytes, and this field of the record keeps the original bytes:
# ``{"<column>": "<standard base64>"}``. Only records with such a value have it (it is
# not part of the shapes above: raw and rejected are open).
INVALID_UTF8_FIELD: Final = "_invalid_utf8"


# What the streams add to every table row, beside the record and its partition columns
# (``date``, ``gateway`` from the key): when it was ingested, from which file, and anything
# that did not fit the shape (kept as JSON text, never dropped).
INGEST_COLUMNS: Final[tuple[Field, ...]] = (
    Field("_ingested_at", "timestamp", nullable=False, doc="when the stream wrote the row"),
    Field("_source_file", "string", nullable=False, doc="the landed file's full path or URL"),
    Field("_source_modified_at", "timestamp", doc="the landed file's modification time"),
)
RESCUED_COLUMN: Final = "_rescued_data"


def shape(target: str) -> tuple[Field, ...]:
    """The top-level fields of a target's records."""
    if target not in _SHAPES:
        raise ValueError(f"unknown target {target!r}: choose from {', '.join(TARGETS)}")
    return _SHAPES[target]


def table_columns(target: str) -> tuple[Field, ...]:
    """Every column of a target's table: the record, the partitions, the ingest columns."""
    from .keys import PARTITION_FIELDS

    partitions = tuple(Field(name, "string", nullable=False) for name in PARTITION_FIELDS)
    rescued = Field(RESCUED_COLUMN, "string", doc="JSON of fields outside the shape")
    return (*shape(target), *partitions, *INGEST_COLUMNS, rescued)


_JSON_TYPES = {
    "string": {"type": "string"},
    "long": {"type": "integer"},
    "double": {"type": "number"},
    "boolean": {"type": "boolean"},
    "timestamp": {"type": "string", "format": "date-time"},
}


def _json_type(f: Field, *, open_: bool) -> dict[str, Any]:
    if f.type == "struct":
        out: dict[str, Any] = {
            "type": "object",
            "properties": {c.name: _json_type(c, open_=False) for c in f.fields},
            "required": [c.name for c in f.fields if not (open_ and c.nullable)],
            "additionalProperties": open_,
        }
    elif f.type == "array":
        out = {"type": "array", "items": dict(_JSON_TYPES[f.items or "string"])}
    else:
        out = dict(_JSON_TYPES[f.type])
    if f.doc:
        out["description"] = f.doc
    if f.nullable:
        alternatives = [out, {"type": "null"}]
        if f.type == "double":
            # JSON has no infinity: an infinite number read from the sensor lands as a string.
            alternatives.append({"enum": ["Infinity", "-Infinity"]})
        out = {"anyOf": alternatives}
    return out


def json_schema(target: str) -> dict[str, Any]:
    """A target's record shape as a JSON Schema (draft 2020-12) document."""
    root = _struct(target, shape(target), nullable=False)
    document = _json_type(root, open_=target in OPEN_SHAPES)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:sensorlake:contract:{CONTRACT_VERSION}:{target}",
        "title": f"sensorlake {target} record (contract {CONTRACT_VERSION})",
        **document,
    }


if __name__ == "__main__":  # python -m sensorlake.contract.records [target ...]
    import json
    import sys

    chosen = sys.argv[1:] or list(TARGETS)
    print(json.dumps({t: json_schema(t) for t in chosen}, indent=2))
