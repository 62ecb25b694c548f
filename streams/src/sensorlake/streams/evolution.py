"""Raw's schema evolution on one machine: Auto Loader's ``addNewColumns``, reproduced.

Auto Loader keeps the evolved schema in its schema location and, on meeting a new column,
stops the stream, records the column and lets the restarted stream read it. The local
runner does the same: the columns raw has grown beyond the contract's shape are kept in a
small JSON file in the table's schema folder, and a micro-batch whose files show a new
top-level field records it and stops before committing anything, so the restarted query
reads that batch again with the new column.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from sensorlake.contract.records import Field

__all__ = ["EXTRA_COLUMNS_FILE", "SchemaEvolved", "load_extra", "new_columns", "save_extra"]

EXTRA_COLUMNS_FILE = "extra_columns.json"


class SchemaEvolved(Exception):
    """A batch met new columns; they are recorded and the query must restart."""


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    return "string"  # strings, and nested values kept as their JSON text


def new_columns(seen: Mapping[str, object], known: Iterable[str]) -> list[Field]:
    """Fields of a record that are not yet columns, typed from their JSON values."""
    known_names = set(known)
    return [Field(name, _json_type(v)) for name, v in seen.items() if name not in known_names]


def load_extra(schema_dir: Path) -> tuple[Field, ...]:
    path = Path(schema_dir) / EXTRA_COLUMNS_FILE
    if not path.exists():
        return ()
    return tuple(Field(c["name"], c["type"]) for c in json.loads(path.read_text()))


def save_extra(schema_dir: Path, columns: Iterable[Field]) -> None:
    """Write the grown columns atomically (a crash leaves the old or the new list)."""
    schema_dir = Path(schema_dir)
    schema_dir.mkdir(parents=True, exist_ok=True)
    tmp = schema_dir / f".{EXTRA_COLUMNS_FILE}.tmp"
    tmp.write_text(json.dumps([{"name": c.name, "type": c.type} for c in columns], indent=1))
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, schema_dir / EXTRA_COLUMNS_FILE)
